#pragma once
// One image on its way through the input pipeline. Nodes pass micro-batches of samples
// (`Samples`) rather than single images so the graph's per-item cost is amortised.
#include "datasets/image.h"

#include <cstdint>
#include <string>
#include <vector>

namespace semiflow {

struct Sample {
  std::string path;                              // resolved image path; named in errors
  std::uint64_t index = 0;                       // manifest row: stable id for seeds and caches
  std::int64_t epoch = 0;
  std::vector<int> labels;                       // per level, -1 unknown; empty when unlabeled
  std::vector<std::vector<float>> soft_targets;  // per level probabilities; empty when none
  Image image;                                   // empty until decoded
  // Which view of an image this is when a stream shows unlabeled images twice (Meta Pseudo
  // Labels, UDA): kPlainView for ordinary samples, else kWeakView or kStrongView.
  int view = 0;
};

inline constexpr int kPlainView = 0;
inline constexpr int kWeakView = 1;    // flip/crop only: the teacher's pseudo-labels come from it
inline constexpr int kStrongView = 2;  // RandAugment on top: what the models must agree on

using Samples = std::vector<Sample>;

}  // namespace semiflow
