#pragma once
// Hierarchical classification metrics, accumulated batch by batch: per-level accuracy, macro-F1
// and confusion matrices, the AI Rush score, exact-path accuracy and the consistency of the
// predicted paths with the class tree. Every metric is reported for two decodings:
//   argmax      each level's own argmax, independent of the others;
//   consistent  the best path of the tree: the leaf path with the largest sum of per-level
//               log-softmax (the product of level probabilities). A class without children
//               ends its path there; its finer levels are predicted "none" (-1) and the path's
//               score sums only the levels it has.
//
// Scoring rules (one image):
//   - A level labeled -1 is skipped: not counted in that level's metrics, not in the image's
//     AI Rush denominator.
//   - AI Rush score: walk the levels top-down, skipping unlabeled ones; count the correct
//     labeled levels until the first labeled miss; divide by the number of labeled levels.
//     So labels (a, -1, c) predicted (a, x, y) score 1/2 and (a, x, c) score 2/2: a level that
//     is unknown neither helps nor stops the walk.
//   - Exact path: every labeled level is right.
//   - Images without any labeled level count in `images` and in `consistency` only.
//   - Consistency: the fraction of all images whose predicted path is a path of the tree
//     (each predicted class's parent is the class predicted one level up). 1 by construction
//     for the consistent decoding.
//   - Macro-F1 per level: the mean over classes of F1 = 2TP / (2TP + FP + FN), over the classes
//     that occur among that level's labels or predictions (scikit-learn's f1_score with
//     average='macro'); 0 when no image is labeled at the level.
#include "datasets/hierarchy.h"

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace semiflow {

struct LevelMetrics {
  std::string level;          // the hierarchy level's name
  std::int64_t count = 0;     // images labeled at this level
  double accuracy = 0.0;      // top-1, over `count` images
  double macro_f1 = 0.0;
  std::vector<std::vector<std::int64_t>> confusion;  // [true class][predicted class], labeled images only
};

// One decoding's results (see the top of this file for the rules).
struct DecodingMetrics {
  std::vector<LevelMetrics> levels;  // in hierarchy order, coarse first
  double airush_score = 0.0;         // mean over images with at least one labeled level
  double exact_path_accuracy = 0.0;  // same images
  double consistency = 0.0;          // over all images
};

struct EvaluationResult {
  DecodingMetrics argmax;      // each level's own argmax
  DecodingMetrics consistent;  // best tree path
  std::int64_t images = 0;         // every image seen
  std::int64_t scored_images = 0;  // images with at least one labeled level

  // {"images", "scored_images", "levels": {name: {"count", "accuracy", "macro_f1", "confusion"}},
  //  "airush_score", "exact_path_accuracy", "consistency", "consistent": {the same for the
  //  consistent decoding}}. The top level holds the argmax decoding.
  nlohmann::ordered_json to_json() const;
  // A human-readable table: one row per level and decoding, then the path metrics.
  std::string to_table() const;
};

// Best tree path per image: [N, levels] int64, -1 below a class without children. `logits` has
// one [N, K_level] tensor per level; log-probabilities work too (pass probabilities as p.log()).
torch::Tensor decode_consistent_paths(const Hierarchy& hierarchy, const std::vector<torch::Tensor>& logits);

// Accumulates predictions and labels over batches; result() can be read at any point.
class HierarchicalMetrics {
 public:
  explicit HierarchicalMetrics(const Hierarchy& hierarchy);

  // `logits`: per level [N, K_level] (any float type, any device; probabilities as p.log()).
  // `labels`: per level [N] int64 with -1 for unknown, as in semiflow::Batch.
  void add(const std::vector<torch::Tensor>& logits, const std::vector<torch::Tensor>& labels);
  // Same, with the predicted paths already decoded: per image and level a class or -1.
  void add_predictions(const std::vector<std::vector<int>>& argmax_paths,
                       const std::vector<std::vector<int>>& consistent_paths,
                       const std::vector<std::vector<int>>& labels);

  EvaluationResult result() const;
  const Hierarchy& hierarchy() const { return hierarchy_; }

 private:
  struct Tally {
    std::vector<std::vector<std::vector<std::int64_t>>> confusion;  // per level [true][predicted]
    // Per level and true class: labeled images predicted "none" (-1, a miss); they appear in no
    // confusion column. Only the consistent decoding of a tree with childless classes does that.
    std::vector<std::vector<std::int64_t>> predicted_none;
    double airush_sum = 0.0;
    std::int64_t exact_paths = 0;
    std::int64_t consistent_paths = 0;
  };
  void tally(Tally& tally, const std::vector<int>& predicted, const std::vector<int>& labels) const;
  DecodingMetrics summarise(const Tally& tally) const;

  Hierarchy hierarchy_;
  std::set<std::vector<int>> tree_paths_;  // every root-to-leaf path, -1 below childless classes
  Tally argmax_;
  Tally consistent_;
  std::int64_t images_ = 0;
  std::int64_t scored_images_ = 0;
};

}  // namespace semiflow
