#pragma once
// A manifest lists images (paths relative to the manifest's folder) and, for labeled sets, one
// label per hierarchy level, by class name or index; -1 or empty means "unknown at this level".
// CSV with a header: `path` then level names (any subset, any order). Unlabeled: `path` only.
#include "datasets/hierarchy.h"

#include <iosfwd>
#include <string>
#include <vector>

namespace semiflow {

struct ManifestRow {
  std::string path;         // as written in the file (relative to the manifest's folder)
  std::vector<int> labels;  // one per hierarchy level; empty for unlabeled manifests
  int line = 0;             // 1-based line in the file, for error messages
};

struct Manifest {
  std::string source;     // the manifest file
  std::string base_dir;   // folder the image paths are relative to
  std::vector<ManifestRow> rows;
  bool labeled = false;

  std::string image_path(const ManifestRow& row) const;
  // Images labeled per class at `level`, skipping -1.
  std::vector<long> class_counts(int level, int num_classes) const;
};

struct ManifestOptions {
  // Fill unknown coarse levels from the finest known label's ancestors.
  bool fill_coarse_from_fine = true;
};

// Reads a manifest; `hierarchy` may be null for an unlabeled manifest (then a label column is
// an error). All bad rows are reported together (file:line: reason), never silently dropped.
Manifest load_manifest(const std::string& path, const Hierarchy* hierarchy, const ManifestOptions& options = {});

// Writes a manifest with labels by class name (or paths only when `hierarchy` is null).
void save_manifest(const std::string& path, const std::vector<ManifestRow>& rows, const Hierarchy* hierarchy);
// The same to a stream (stdout); the caller checks the stream afterwards.
void write_manifest(std::ostream& out, const std::vector<ManifestRow>& rows, const Hierarchy* hierarchy);

// Splits one CSV line honouring double quotes ("a,b" and "" escapes).
std::vector<std::string> split_csv_line(const std::string& line);
std::string quote_csv_field(const std::string& field);

}  // namespace semiflow
