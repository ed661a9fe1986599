#include "datasets/pseudo_label_cache.h"

#include "tests/temp_dir.h"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <random>

using namespace semiflow;
using Catch::Matchers::Contains;

namespace {

CacheHeader test_header(long rows) {
  CacheHeader header;
  header.level_names = {"coarse", "fine"};
  header.classes_per_level = {2, 3};
  header.rows_expected = rows;
  header.fingerprints = {fingerprint_bytes("weights"), fingerprint_bytes("manifest"), fingerprint_bytes("resize 32")};
  header.semiflow_version = "test";
  return header;
}

// Rows [begin, end) of a deterministic data set: every value depends on the row, so any
// misplaced row shows up. Rows sum to 1 per level.
struct Chunk {
  std::vector<std::string> ids;
  std::vector<ProbabilityMatrix> probabilities;
};
Chunk make_rows(long begin, long end, const std::vector<int>& classes = {2, 3}) {
  Chunk chunk;
  for (long r = begin; r < end; ++r) chunk.ids.push_back("img/" + std::to_string(r) + ".jpg");
  for (int k : classes) {
    ProbabilityMatrix p(end - begin, k);
    for (long r = begin; r < end; ++r) {
      float sum = 0.0f;
      for (int c = 0; c < k; ++c) sum += p.row(r - begin)[c] = 1.0f + static_cast<float>((r * 7 + c * 13) % 17);
      for (int c = 0; c < k; ++c) p.row(r - begin)[c] /= sum;
    }
    chunk.probabilities.push_back(std::move(p));
  }
  return chunk;
}

void append_rows(PseudoLabelCacheWriter& writer, long begin, long end) {
  const auto chunk = make_rows(begin, end);
  writer.append(chunk.ids, chunk.probabilities);
}

// Every row of `reader` equals the generated one, with argmax labels and max confidence.
void check_rows(const PseudoLabelCacheReader& reader, const std::vector<long>& rows) {
  const auto got = reader.read_rows(rows);
  REQUIRE(got.ids.size() == rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto expected = make_rows(rows[i], rows[i] + 1);
    CHECK(got.ids[i] == expected.ids[0]);
    for (int l = 0; l < 2; ++l) {
      const auto& e = expected.probabilities[l];
      const float* row = got.probabilities[l].row(static_cast<long>(i));
      CHECK(std::vector<float>(row, row + e.classes) == e.values);
      const auto top = std::max_element(e.values.begin(), e.values.end());
      CHECK(got.labels[l][i] == top - e.values.begin());
      CHECK(got.confidence[l][i] == *top);
    }
  }
}

CacheWriterOptions small_chunks() {
  CacheWriterOptions options;
  options.chunk_rows = 4;
  return options;
}

}  // namespace

TEST_CASE("fingerprints are xxhash64 in hex, of strings and of file bytes", "[pseudo_label_cache]") {
  semiflow::testing::TempDir dir;
  CHECK(fingerprint_bytes("") == "ef46db3751d8e999");  // XXH64 of nothing, seed 0
  CHECK(fingerprint_bytes("a") != fingerprint_bytes("b"));
  CHECK(fingerprint_file(dir.write("w.bin", "teacher weights")) == fingerprint_bytes("teacher weights"));
  CHECK_THROWS_WITH(fingerprint_file(dir.file("none.bin")), Contains("none.bin"));
}

TEST_CASE("a cache written in several chunks reads any rows back exactly", "[pseudo_label_cache]") {
  semiflow::testing::TempDir dir;
  const auto path = dir.file("teacher.h5");
  PseudoLabelCacheWriter writer(path, test_header(15), small_chunks());
  CHECK_FALSE(writer.resumed());
  append_rows(writer, 0, 5);
  append_rows(writer, 5, 12);
  append_rows(writer, 12, 15);
  CHECK_FALSE(std::filesystem::exists(path));
  writer.finish();
  CHECK(std::filesystem::exists(path));
  CHECK_FALSE(std::filesystem::exists(path + ".partial"));

  PseudoLabelCacheReader reader(path);
  CHECK(reader.rows() == 15);
  CHECK(reader.header().level_names == std::vector<std::string>{"coarse", "fine"});
  CHECK(reader.header().fingerprints.teacher == fingerprint_bytes("weights"));
  check_rows(reader, {14, 0, 7, 7, 3, 4, 5, 11});
  check_rows(reader, {});
  const auto range = reader.read_range(3, 9);
  CHECK(range.ids.front() == "img/3.jpg");
  CHECK(range.ids.back() == "img/8.jpg");
  CHECK_THROWS_WITH(reader.read_rows({15}), Contains("row 15 out of range"));
}

TEST_CASE("appends that do not fit the header are refused", "[pseudo_label_cache]") {
  semiflow::testing::TempDir dir;
  PseudoLabelCacheWriter writer(dir.file("c.h5"), test_header(4), small_chunks());
  auto chunk = make_rows(0, 3);
  chunk.ids.pop_back();
  CHECK_THROWS_WITH(writer.append(chunk.ids, chunk.probabilities), Contains("level 'coarse' got a 3x2 matrix for 2 ids"));
  const auto too_many = make_rows(0, 5);
  CHECK_THROWS_WITH(writer.append(too_many.ids, too_many.probabilities), Contains("exceed the 4 expected"));
  append_rows(writer, 0, 3);
  CHECK_THROWS_WITH(writer.finish(), Contains("3 rows written but 4 expected"));
}

TEST_CASE("check_cache says hit, missing, or which fingerprint differs", "[pseudo_label_cache]") {
  semiflow::testing::TempDir dir;
  const auto path = dir.file("c.h5");
  const auto header = test_header(6);
  CHECK(check_cache(path, header.fingerprints).state == CacheState::missing);
  PseudoLabelCacheWriter writer(path, header);
  append_rows(writer, 0, 6);
  writer.finish();
  CHECK(check_cache(path, header.fingerprints).state == CacheState::hit);
  auto other = header.fingerprints;
  other.teacher = fingerprint_bytes("student weights");
  other.preprocessing = fingerprint_bytes("resize 64");
  const auto status = check_cache(path, other);
  CHECK(status.state == CacheState::fingerprint_mismatch);
  CHECK(status.mismatched == std::vector<std::string>{"teacher", "preprocessing"});
  CHECK_THAT(status.message, Contains("teacher, preprocessing"));
  dir.write("junk.h5", "not hdf5");
  CHECK(check_cache(dir.file("junk.h5"), header.fingerprints).state == CacheState::corrupt);
}

TEST_CASE("a writer dropped without finish leaves an incomplete cache that a rerun resumes", "[pseudo_label_cache]") {
  semiflow::testing::TempDir dir;
  const auto path = dir.file("c.h5");
  const auto header = test_header(20);
  {
    PseudoLabelCacheWriter writer(path, header, small_chunks());
    append_rows(writer, 0, 6);
    append_rows(writer, 6, 11);
  }
  const auto status = check_cache(path, header.fingerprints);
  CHECK(status.state == CacheState::incomplete);
  CHECK_THAT(status.message, Contains(".partial"));
  CHECK_THROWS_WITH(PseudoLabelCacheReader(path + ".partial"), Contains("not marked complete (11 of 20 rows"));
  CHECK_FALSE(verify_cache(path + ".partial").empty());

  PseudoLabelCacheWriter writer(path, header, small_chunks());
  CHECK(writer.resumed());
  CHECK(writer.rows_written() == 11);
  append_rows(writer, 11, 20);
  writer.finish();
  PseudoLabelCacheReader reader(path);
  CHECK(reader.rows() == 20);
  check_rows(reader, {0, 5, 6, 10, 11, 19});
  CHECK(verify_cache(path).empty());
}

TEST_CASE("a partial cache from another teacher or layout is rebuilt, not resumed", "[pseudo_label_cache]") {
  semiflow::testing::TempDir dir;
  const auto path = dir.file("c.h5");
  {
    PseudoLabelCacheWriter writer(path, test_header(8));
    append_rows(writer, 0, 4);
  }
  auto header = test_header(8);
  header.fingerprints.teacher = fingerprint_bytes("new weights");
  {
    PseudoLabelCacheWriter writer(path, header);
    CHECK_FALSE(writer.resumed());
    CHECK(writer.rows_written() == 0);
    CHECK_THAT(writer.rebuild_reason(), Contains("teacher"));
  }
  header.rows_expected = 9;
  PseudoLabelCacheWriter writer(path, header);
  CHECK(writer.rows_written() == 0);
  CHECK_THAT(writer.rebuild_reason(), Contains("row count"));
}

TEST_CASE("a damaged partial file is rebuilt", "[pseudo_label_cache]") {
  semiflow::testing::TempDir dir;
  const auto path = dir.file("c.h5");
  dir.write("c.h5.partial", "half a superblock");
  PseudoLabelCacheWriter writer(path, test_header(3));
  CHECK(writer.rows_written() == 0);
  CHECK_FALSE(writer.rebuild_reason().empty());
  append_rows(writer, 0, 3);
  writer.finish();
  CHECK(check_cache(path, test_header(3).fingerprints).state == CacheState::hit);
}

TEST_CASE("a process killed mid-write leaves no complete cache and its rows are resumed", "[pseudo_label_cache]") {
  semiflow::testing::TempDir dir;
  const auto path = dir.file("c.h5");
  const auto header = test_header(12);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // SIGKILL: no destructors, no HDF5 close, no signal handler (Catch catches SIGABRT).
    PseudoLabelCacheWriter writer(path, header, small_chunks());
    append_rows(writer, 0, 4);
    append_rows(writer, 4, 7);
    kill(getpid(), SIGKILL);
  }
  int wstatus = 0;
  waitpid(child, &wstatus, 0);
  REQUIRE(WIFSIGNALED(wstatus));
  CHECK(WTERMSIG(wstatus) == SIGKILL);
  CHECK(check_cache(path, header.fingerprints).state == CacheState::incomplete);
  PseudoLabelCacheWriter writer(path, header, small_chunks());
  CHECK(writer.rows_written() == 7);
  append_rows(writer, 7, 12);
  writer.finish();
  PseudoLabelCacheReader reader(path);
  check_rows(reader, {0, 3, 4, 6, 7, 11});
}

TEST_CASE("a file at the final name that is not complete is refused everywhere", "[pseudo_label_cache]") {
  semiflow::testing::TempDir dir;
  const auto path = dir.file("c.h5");
  {
    PseudoLabelCacheWriter writer(path, test_header(8));
    append_rows(writer, 0, 4);
  }
  std::filesystem::rename(path + ".partial", path);  // e.g. copied by hand
  const auto status = check_cache(path, test_header(8).fingerprints);
  CHECK(status.state == CacheState::incomplete);
  CHECK_THAT(status.message, Contains("4 of 8 rows"));
  CHECK_THROWS_WITH(PseudoLabelCacheReader(path), Contains("not marked complete"));
  const auto problems = verify_cache(path);
  REQUIRE(problems.size() == 1);
  CHECK_THAT(problems[0], Contains("not marked complete"));
}

TEST_CASE("summary counts hard labels per class and summarises confidence", "[pseudo_label_cache]") {
  semiflow::testing::TempDir dir;
  const auto path = dir.file("c.h5");
  PseudoLabelCacheWriter writer(path, test_header(10), small_chunks());
  append_rows(writer, 0, 10);
  writer.finish();
  const auto summary = summarize_cache(path, 10);
  CHECK(summary.info.complete);
  CHECK(summary.info.rows_committed == 10);
  REQUIRE(summary.levels.size() == 2);
  CHECK(summary.levels[1].name == "fine");
  const auto all = make_rows(0, 10);
  const auto expected = pseudo_label_stats(
      make_pseudo_labels(all.probabilities, Hierarchy({{"coarse", {"a", "b"}, {}}, {"fine", {"x", "y", "z"}, {0, 0, 1}}}), {}),
      Hierarchy({{"coarse", {"a", "b"}, {}}, {"fine", {"x", "y", "z"}, {0, 0, 1}}}), 10);
  for (int l = 0; l < 2; ++l) {
    CHECK(summary.levels[l].class_counts == expected[l].class_counts);
    CHECK(summary.levels[l].confidence.histogram == expected[l].confidence.histogram);
    CHECK(summary.levels[l].confidence.mean == Approx(expected[l].confidence.mean));
  }
  CHECK(verify_cache(path).empty());
  CHECK_THAT(verify_cache(dir.write("junk.h5", "x"))[0], Contains("junk.h5"));
}

// Not run by default: `tests_datasets "[.cache_throughput]"` prints write and read rates.
TEST_CASE("cache throughput, 60k rows x (2+6+10) classes", "[.cache_throughput]") {
  semiflow::testing::TempDir dir;
  const auto path = dir.file("big.h5");
  const long rows = 60000, chunk = 1000;
  CacheHeader header = test_header(rows);
  header.level_names = {"l0", "l1", "l2"};
  header.classes_per_level = {2, 6, 10};
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  {
    PseudoLabelCacheWriter writer(path, header);
    for (long begin = 0; begin < rows; begin += chunk) {
      const auto data = make_rows(begin, begin + chunk, {2, 6, 10});
      writer.append(data.ids, data.probabilities);
    }
    writer.finish();
  }
  const double write_s = std::chrono::duration<double>(clock::now() - start).count();
  PseudoLabelCacheReader reader(path);
  start = clock::now();
  for (long begin = 0; begin < rows; begin += 4096) reader.read_range(begin, std::min(rows, begin + 4096));
  const double sequential_s = std::chrono::duration<double>(clock::now() - start).count();
  std::mt19937_64 rng(1);
  const int batches = 200, batch = 256;
  start = clock::now();
  for (int b = 0; b < batches; ++b) {
    std::vector<long> picks(batch);
    for (auto& p : picks) p = static_cast<long>(rng() % rows);
    reader.read_rows(picks);
  }
  const double random_s = std::chrono::duration<double>(clock::now() - start).count();
  start = clock::now();
  CHECK(verify_cache(path).empty());
  const double verify_s = std::chrono::duration<double>(clock::now() - start).count();
  WARN("file " << std::filesystem::file_size(path) / 1e6 << " MB; write " << rows / write_s << " rows/s (" << write_s
               << " s, chunks of " << chunk << "); sequential read " << rows / sequential_s << " rows/s; random batches of "
               << batch << ": " << batches * batch / random_s << " rows/s (" << random_s / batches * 1e3
               << " ms/batch); verify " << verify_s << " s");
}

namespace {

// Shard s of `count` for a cache of `rows`: rows s, s + count, ... padded with the first rows.
void write_shard(const std::string& path, long rows, long s, long count, long keep = -1) {
  const long per_shard = (rows + count - 1) / count;
  PseudoLabelCacheWriter writer(path, test_header(keep >= 0 ? keep : per_shard));
  for (long k = 0; k < (keep >= 0 ? keep : per_shard); ++k) append_rows(writer, (s + k * count) % rows, (s + k * count) % rows + 1);
  writer.finish();
}

}  // namespace

TEST_CASE("shards of a distributed teacher pass merge into the single-process cache, row for row", "[pseudo_label_cache]") {
  testing::TempDir dir;
  const long rows = 11;  // 3 ranks: 4 rows each, the last shard's last row repeats row 0
  std::vector<std::string> shards;
  for (long s = 0; s < 3; ++s) {
    shards.push_back(dir.file("c.h5.shard" + std::to_string(s)));
    write_shard(shards.back(), rows, s, 3);
  }
  CacheWriterOptions options;
  options.chunk_rows = 4;  // chunks that cut across the shards' rows
  merge_interleaved_shards(shards, dir.file("c.h5"), test_header(rows), options);
  const PseudoLabelCacheReader merged(dir.file("c.h5"));
  CHECK(merged.rows() == rows);
  std::vector<long> all(rows);
  for (long r = 0; r < rows; ++r) all[static_cast<std::size_t>(r)] = r;
  check_rows(merged, all);
}

TEST_CASE("a missing, short or foreign shard is refused by name", "[pseudo_label_cache]") {
  testing::TempDir dir;
  const std::vector<std::string> shards{dir.file("s0"), dir.file("s1")};
  write_shard(shards[0], 6, 0, 2);
  CHECK_THROWS_WITH(merge_interleaved_shards(shards, dir.file("c.h5"), test_header(6)),
                    Contains("s1: shard 1 of 2 is missing"));
  write_shard(shards[1], 6, 1, 2, 2);
  CHECK_THROWS_WITH(merge_interleaved_shards(shards, dir.file("c.h5"), test_header(6)),
                    Contains("s1: shard 1 of 2 holds 2 rows, not 3"));
  write_shard(shards[1], 6, 1, 2);
  auto other = test_header(6);
  other.fingerprints.teacher = fingerprint_bytes("other weights");
  CHECK_THROWS_WITH(merge_interleaved_shards(shards, dir.file("c.h5"), other), Contains("made from other teachers"));
  CHECK_FALSE(std::filesystem::exists(dir.file("c.h5")));
}
