#include "datasets/folder_manifest.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <stdexcept>

namespace fs = std::filesystem;

namespace semiflow {
namespace {

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

}  // namespace

std::vector<ManifestRow> scan_image_folders(const std::string& root, const Hierarchy& hierarchy, const std::string& manifest_dir) {
  if (!fs::is_directory(root)) throw std::runtime_error(fmt::format("{}: not a folder (check --root)", root));
  std::vector<ManifestRow> rows;
  const fs::path base = fs::absolute(manifest_dir);
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    const fs::path relative = fs::relative(it->path(), root);
    const auto parts = std::vector<fs::path>(relative.begin(), relative.end());
    if (it->is_directory()) {
      const int level = static_cast<int>(parts.size()) - 1;
      if (level >= hierarchy.num_levels())
        throw std::runtime_error(fmt::format("{}: folder is nested deeper than the {} levels of {}", it->path().string(),
                                             hierarchy.num_levels(), hierarchy.source()));
      const std::string name = parts.back().string();
      const int cls = hierarchy.class_index(level, name);
      if (cls < 0)
        throw std::runtime_error(fmt::format("{}: '{}' is not a class of level '{}' (valid: {})", it->path().string(), name,
                                             hierarchy.level(level).name, fmt::join(hierarchy.level(level).classes, ", ")));
      if (level > 0) {
        const int parent = hierarchy.class_index(level - 1, parts[parts.size() - 2].string());
        if (hierarchy.parent(level, cls) != parent)
          throw std::runtime_error(fmt::format("{}: class '{}' belongs to '{}', not '{}'", it->path().string(), name,
                                               hierarchy.level(level - 1).classes[hierarchy.parent(level, cls)],
                                               parts[parts.size() - 2].string()));
      }
      continue;
    }
    if (!it->is_regular_file() || !is_image_file(it->path())) continue;
    ManifestRow row;
    row.path = fs::relative(fs::absolute(it->path()), base).generic_string();
    const int depth = static_cast<int>(parts.size()) - 1;  // folders above the file
    row.labels.assign(hierarchy.num_levels(), kUnknownLabel);
    if (depth > 0) {
      const int deepest = depth - 1;
      row.labels = hierarchy.path_to(deepest, hierarchy.class_index(deepest, parts[deepest].string()));
    }
    rows.push_back(std::move(row));
  }
  std::sort(rows.begin(), rows.end(), [](const ManifestRow& a, const ManifestRow& b) { return a.path < b.path; });
  return rows;
}

}  // namespace semiflow
