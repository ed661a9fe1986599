#pragma once
// Losses for hierarchical classification: one term per level, each level's logits against
// that level's labels. A label of -1 means "absent at this level" (images labelled only at the
// coarse levels, or pseudo-labels filtered out); absent rows are ignored, and a level with no
// present row in the batch contributes exactly zero (not NaN) with a zero gradient.
#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace semiflow {

inline constexpr std::int64_t kAbsentLabel = -1;

struct LevelLosses {
  torch::Tensor total;                   // sum over levels of level_weight * level loss
  std::vector<torch::Tensor> per_level;  // unweighted, for logging
};

struct HierarchicalCrossEntropyOptions {
  /// Weight of each level's loss in the total; empty means 1 for every level.
  TORCH_ARG(std::vector<double>, level_weights) = {};
  /// Per level, a [classes] float tensor of class weights (see balanced_class_weights), or an
  /// undefined tensor for none; empty means no class weights at any level.
  TORCH_ARG(std::vector<torch::Tensor>, class_weights) = {};
  /// Label smoothing epsilon in [0, 1), as in torch.nn.functional.cross_entropy.
  TORCH_ARG(double, label_smoothing) = 0.0;
};

// Per level, PyTorch's cross_entropy(logits, labels, weight, ignore_index=-1, label_smoothing,
// reduction='mean'): the weighted mean over present rows, normalised by the summed weights of
// their labels. `logits[l]` is [N, C_l]; `labels` is int64 [N, L]. Labels outside -1..C_l-1 are
// refused when they are on the CPU; on a GPU that check would wait for the device every step, so
// there they are the caller's to check (the source node checks them against the hierarchy).
LevelLosses hierarchical_cross_entropy(const std::vector<torch::Tensor>& logits, const torch::Tensor& labels,
                                       const HierarchicalCrossEntropyOptions& options = {});

// sklearn's compute_class_weight("balanced"): n / (k * count_c) for n labelled samples and k
// classes. A class with no samples gets weight 0 (it never appears as a target; sklearn refuses
// it instead, which would stop small labelled splits). Returns a float [k] tensor.
torch::Tensor balanced_class_weights(const std::vector<std::int64_t>& class_counts);

struct SoftCrossEntropyOptions {
  /// Weight of each level's loss in the total; empty means 1 for every level.
  TORCH_ARG(std::vector<double>, level_weights) = {};
  /// true: average over masked-in rows (sum of mask); false: average over the whole batch, as
  /// the Meta Pseudo Labels / UDA code does for confidence-masked pseudo-labels.
  TORCH_ARG(bool, mean_over_mask) = true;
};

// Per level, -sum_c target_c * log_softmax(logits)_c per row, averaged with a per-row mask.
// `targets[l]` is [N, C_l] (probabilities: soft pseudo-labels, CutMix/MixUp mixtures);
// `masks[l]` is [N] (bool or float weights; 0 = target absent) or undefined for all rows;
// `masks` may be empty for no masks at all.
LevelLosses hierarchical_soft_cross_entropy(const std::vector<torch::Tensor>& logits,
                                            const std::vector<torch::Tensor>& targets,
                                            const std::vector<torch::Tensor>& masks = {},
                                            const SoftCrossEntropyOptions& options = {});

}  // namespace semiflow
