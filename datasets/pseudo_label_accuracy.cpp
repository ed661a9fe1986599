#include "datasets/pseudo_label_accuracy.h"

#include "datasets/pseudo_label_cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <unordered_map>

namespace semiflow {
namespace {

// The same file reached through a symlinked data folder (data/fmnist -> fmnist_seed0) matches.
// Folders are resolved once each: images share a few folders, and resolving is a syscall per
// path component.
class CanonicalPaths {
 public:
  std::string operator()(const std::string& path) {
    const std::filesystem::path file(path);
    auto [it, inserted] = folders_.try_emplace(file.parent_path().string());
    if (inserted) {
      std::error_code error;
      const auto resolved = std::filesystem::weakly_canonical(file.parent_path(), error);
      it->second = error ? file.parent_path() : resolved;
    }
    return (it->second / file.filename()).string();
  }

 private:
  std::unordered_map<std::string, std::filesystem::path> folders_;
};

}  // namespace

CacheAccuracy score_cache(const std::string& cache_path, const Manifest& truth, const Hierarchy& hierarchy, int bins) {
  if (bins < 1) throw std::invalid_argument(fmt::format("score_cache: bins must be >= 1, got {}", bins));
  if (!truth.labeled)
    throw std::invalid_argument(fmt::format("{}: has no label columns; give the labeled truth of the cached images", truth.source));
  const PseudoLabelCacheReader reader(cache_path);
  check_cache_levels(reader.header(), hierarchy, cache_path);

  CanonicalPaths canonical;
  std::unordered_map<std::string, const ManifestRow*> by_path;
  for (const auto& row : truth.rows) by_path.emplace(canonical(truth.image_path(row)), &row);

  CacheAccuracy result;
  result.rows = reader.rows();
  for (int l = 0; l < hierarchy.num_levels(); ++l) {
    LevelAccuracy level;
    level.name = hierarchy.level(l).name;
    level.per_class.resize(hierarchy.level(l).classes.size());
    level.per_bin.resize(static_cast<std::size_t>(bins));
    result.levels.push_back(std::move(level));
  }
  constexpr long kChunk = 4096;
  for (long begin = 0; begin < reader.rows(); begin += kChunk) {
    const CacheRows chunk = reader.read_range(begin, std::min(reader.rows(), begin + kChunk));
    for (std::size_t r = 0; r < chunk.ids.size(); ++r) {
      const auto found = by_path.find(canonical(chunk.ids[r]));
      if (found == by_path.end()) continue;
      ++result.matched;
      for (std::size_t l = 0; l < result.levels.size(); ++l) {
        const int truth_label = found->second->labels[l];
        if (truth_label == kUnknownLabel) continue;
        const int label = chunk.labels[l][r];
        const bool correct = label == truth_label;
        const int bin = std::clamp(static_cast<int>(chunk.confidence[l][r] * static_cast<float>(bins)), 0, bins - 1);
        auto& level = result.levels[l];
        for (CorrectCount* count : {&level.all, &level.per_class[static_cast<std::size_t>(label)],
                                    &level.per_bin[static_cast<std::size_t>(bin)]}) {
          ++count->scored;
          count->correct += correct;
        }
      }
    }
  }
  if (result.matched == 0)
    throw std::invalid_argument(fmt::format("{}: none of its {} images is in {}; give the labeled manifest of the images "
                                            "the cache was made from",
                                            cache_path, result.rows, truth.source));
  return result;
}

}  // namespace semiflow
