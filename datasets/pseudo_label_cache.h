#pragma once
// The teacher's outputs on the unlabeled set, cached in one HDF5 file so students (and reruns
// with other thresholds, temperatures or balancing) never run the teacher again.
//
// Layout: /ids (variable-length strings [N]); per level /level_<l>/{probabilities float32
// [N, K_l], labels int32 [N] (argmax), confidence float32 [N] (max probability)}, all chunked
// along rows and shuffle+gzip compressed; the level group has attributes name and classes.
// Root attributes: format, format_version, semiflow_version, rows_expected, rows_committed,
// complete (0/1) and the fingerprints of teacher weights, unlabeled manifest and preprocessing.
//
// Crash safety: a writer fills `<path>.partial`, bumps rows_committed and flushes after each
// appended chunk, and only finish() sets complete = 1 and renames the file to `<path>`. A file
// at `<path>` that is not complete, or any `.partial`, is never read as a cache; a new writer
// resumes a `.partial` whose header matches (rows past rows_committed are cut) or rebuilds it.
#include "datasets/pseudo_labels.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace semiflow {

// xxhash64 as 16 hex digits.
std::string fingerprint_bytes(const std::string& bytes);
// Streams the file; throws naming it when it cannot be read.
std::string fingerprint_file(const std::string& path);

// What the cached probabilities were computed from; any difference invalidates the cache.
struct CacheFingerprints {
  std::string teacher;        // teacher weights (fingerprint_file of the checkpoint)
  std::string manifest;       // unlabeled manifest
  std::string preprocessing;  // resize/crop/normalisation settings, as text
};

struct CacheHeader {
  std::vector<std::string> level_names;
  std::vector<int> classes_per_level;
  CacheFingerprints fingerprints;
  long rows_expected = 0;
  std::string semiflow_version;

  // Level names and class counts from a hierarchy, stamped with this build's semiflow version.
  static CacheHeader for_hierarchy(const Hierarchy& hierarchy);
};

// What a cache file holds, read from its attributes and dataset shapes (works on `.partial`).
struct CacheInfo {
  CacheHeader header;
  long rows_committed = 0;  // rows a writer has flushed
  bool complete = false;
  std::vector<long> dataset_rows;  // extent of every row dataset (ids first), for shape checks
  std::uintmax_t file_bytes = 0;
};
// Throws naming the file when it is not a readable pseudo-label cache.
CacheInfo read_cache_info(const std::string& path);

enum class CacheState { hit, missing, incomplete, fingerprint_mismatch, corrupt };
const char* to_string(CacheState state);

struct CacheStatus {
  CacheState state = CacheState::missing;
  std::vector<std::string> mismatched;  // fingerprint names that differ: teacher, manifest, preprocessing
  std::string message;                  // one line for the user, naming the file and what to do
};
// Can `path` be used as the cache for `expected`? Never throws for a bad file (corrupt).
CacheStatus check_cache(const std::string& path, const CacheFingerprints& expected);

struct CacheWriterOptions {
  long chunk_rows = 1024;  // HDF5 chunk length along rows
  int gzip_level = 4;
};

class PseudoLabelCacheWriter {
 public:
  // Opens `<path>.partial`, resuming it when its header equals `header`, else starting anew.
  PseudoLabelCacheWriter(std::string path, CacheHeader header, CacheWriterOptions options = {});
  // Without finish() the `.partial` file stays, flushed and marked incomplete, for a resume.
  ~PseudoLabelCacheWriter();
  PseudoLabelCacheWriter(const PseudoLabelCacheWriter&) = delete;
  PseudoLabelCacheWriter& operator=(const PseudoLabelCacheWriter&) = delete;

  // Rows already in the file: the caller continues with unlabeled row rows_written().
  long rows_written() const { return rows_; }
  bool resumed() const { return resumed_from_ > 0; }
  long resumed_rows() const { return resumed_from_; }
  // Why an existing `.partial` was not resumed (empty when there was none or it was resumed).
  const std::string& rebuild_reason() const { return rebuild_reason_; }

  // Appends rows: one id each and one [n x K_l] matrix per level; labels and confidence are
  // derived here (argmax, max) so they cannot disagree with the probabilities. Flushes.
  void append(const std::vector<std::string>& ids, const std::vector<ProbabilityMatrix>& probabilities);
  // Requires rows_expected rows; marks the file complete and renames it to `path`.
  void finish();

 private:
  struct File;
  void create();
  void open_existing();
  std::string path_, partial_path_;
  CacheHeader header_;
  CacheWriterOptions options_;
  std::unique_ptr<File> file_;
  long rows_ = 0;
  long resumed_from_ = 0;
  std::string rebuild_reason_;
};

// Rows read back from a cache, in the order asked for.
struct CacheRows {
  std::vector<std::string> ids;
  std::vector<ProbabilityMatrix> probabilities;  // per level
  std::vector<std::vector<int>> labels;          // per level, argmax
  std::vector<std::vector<float>> confidence;    // per level, max probability
};

// Reads a complete cache row by row: each read selects only the requested rows (hyperslabs),
// so memory is bounded by the request, never the file. Safe to share between threads (the
// Debian HDF5 build serialises calls).
class PseudoLabelCacheReader {
 public:
  // Throws naming the file unless it is complete and its shapes agree.
  explicit PseudoLabelCacheReader(const std::string& path);
  ~PseudoLabelCacheReader();
  PseudoLabelCacheReader(const PseudoLabelCacheReader&) = delete;
  PseudoLabelCacheReader& operator=(const PseudoLabelCacheReader&) = delete;

  const CacheHeader& header() const { return info_.header; }
  long rows() const { return info_.rows_committed; }
  int num_levels() const { return static_cast<int>(info_.header.classes_per_level.size()); }

  // Any order, repeats allowed; throws naming the file for a row out of range.
  CacheRows read_rows(const std::vector<long>& rows) const;
  CacheRows read_range(long begin, long end) const;

 private:
  struct File;
  std::string path_;
  CacheInfo info_;
  std::unique_ptr<File> file_;
};

// Writes the complete cache `path` of header.rows_expected (N) rows from S shard caches, as the
// ranks of a distributed teacher pass wrote them: row i is row i / S of shard i % S, each shard
// holding ceil(N / S) rows (the last ones repeat the first rows, as the ranks' padded shards do).
// A shard that is missing, incomplete, short, or made from other teachers, manifest or
// preprocessing is an error naming it; nothing is filled in.
void merge_interleaved_shards(const std::vector<std::string>& shards, const std::string& path, const CacheHeader& header,
                              CacheWriterOptions options = {});

// `semiflow cache inspect`: shape, header and per-level label/confidence summaries, streamed.
struct CacheLevelSummary {
  std::string name;
  std::vector<long> class_counts;  // hard labels per class
  ConfidenceSummary confidence;
};
struct CacheSummary {
  CacheInfo info;
  std::vector<CacheLevelSummary> levels;
};
CacheSummary summarize_cache(const std::string& path, int bins = 20);

// Throws naming the cache unless its levels (names and class counts) are `hierarchy`'s.
void check_cache_levels(const CacheHeader& header, const Hierarchy& hierarchy, const std::string& cache_path);

// `semiflow cache verify`: every problem found, one line each, naming the file (empty = ok).
// Streams the whole file (all chunks decompress) and checks completeness, shapes, label
// ranges, confidence in [0, 1] and that labels/confidence match the probabilities.
std::vector<std::string> verify_cache(const std::string& path);

}  // namespace semiflow
