#pragma once
// How often a pseudo-label cache's hard labels (argmax per level) agree with known labels, e.g.
// the held-out truth of the unlabeled images (`semiflow data fashion-mnist` writes
// unlabeled_truth.csv): overall, by label class (precision) and by confidence, which shows
// what a threshold or a class-balanced selection keeps. `semiflow cache inspect --truth`.
#include "datasets/manifest.h"

#include <string>
#include <vector>

namespace semiflow {

struct CorrectCount {
  long scored = 0;
  long correct = 0;
  double accuracy() const { return scored ? static_cast<double>(correct) / static_cast<double>(scored) : 0.0; }
};

struct LevelAccuracy {
  std::string name;
  CorrectCount all;                      // rows whose true label at this level is known
  std::vector<CorrectCount> per_class;   // by the pseudo-label's class
  std::vector<CorrectCount> per_bin;     // by confidence, equal bins over [0, 1]
};

struct CacheAccuracy {
  long rows = 0;     // rows in the cache
  long matched = 0;  // rows whose image is in the truth manifest
  std::vector<LevelAccuracy> levels;
};

// Rows are matched by image path (the truth manifest's paths as the manifest the cache was made
// from resolves them; symlinks resolved). The truth's hierarchy must have the cache's levels.
// Throws naming the files when the levels differ or no row matches.
CacheAccuracy score_cache(const std::string& cache_path, const Manifest& truth, const Hierarchy& hierarchy, int bins = 10);

}  // namespace semiflow
