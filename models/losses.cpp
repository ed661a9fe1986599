#include "models/losses.h"

#include <torch/nn/functional/activation.h>

#include <stdexcept>
#include <string>

namespace semiflow {
namespace {

std::vector<double> resolve_level_weights(const std::vector<double>& weights, std::size_t levels) {
  if (weights.empty()) return std::vector<double>(levels, 1.0);
  if (weights.size() != levels) {
    throw std::invalid_argument("loss: " + std::to_string(weights.size()) + " level weights for " +
                                std::to_string(levels) + " levels; give one per level or none");
  }
  return weights;
}

// numerator / denominator, or 0 where the denominator is 0. The clamp keeps the unused branch
// finite so that its gradient, multiplied by 0, stays 0 instead of NaN.
torch::Tensor divide_or_zero(const torch::Tensor& numerator, const torch::Tensor& denominator) {
  const auto safe = numerator / denominator.clamp_min(1e-12);
  return torch::where(denominator > 0, safe, torch::zeros_like(safe));
}

LevelLosses weighted_total(std::vector<torch::Tensor> per_level, const std::vector<double>& level_weights) {
  LevelLosses result;
  result.total = per_level[0] * level_weights[0];
  for (std::size_t l = 1; l < per_level.size(); ++l) result.total = result.total + per_level[l] * level_weights[l];
  result.per_level = std::move(per_level);
  return result;
}

void check_logits(const torch::Tensor& logits, std::size_t level, std::int64_t rows) {
  if (logits.dim() != 2 || logits.size(0) != rows) {
    throw std::invalid_argument("loss: logits of level " + std::to_string(level) + " must be [" + std::to_string(rows) +
                                ", classes]");
  }
}

}  // namespace

LevelLosses hierarchical_cross_entropy(const std::vector<torch::Tensor>& logits, const torch::Tensor& labels,
                                       const HierarchicalCrossEntropyOptions& options) {
  const auto levels = logits.size();
  if (levels == 0) throw std::invalid_argument("hierarchical_cross_entropy: no logits given");
  if (labels.dim() != 2 || labels.size(1) != static_cast<std::int64_t>(levels) ||
      labels.scalar_type() != torch::kLong) {
    throw std::invalid_argument("hierarchical_cross_entropy: labels must be int64 [N, " + std::to_string(levels) +
                                "] (one column per level, -1 for absent)");
  }
  if (!options.class_weights().empty() && options.class_weights().size() != levels) {
    throw std::invalid_argument("hierarchical_cross_entropy: class weights for " +
                                std::to_string(options.class_weights().size()) + " levels, logits for " +
                                std::to_string(levels) + "; give one (possibly undefined) tensor per level");
  }
  const double eps = options.label_smoothing();
  if (!(eps >= 0.0 && eps < 1.0)) {
    throw std::invalid_argument("hierarchical_cross_entropy: label_smoothing " + std::to_string(eps) +
                                " is outside [0, 1)");
  }
  const auto level_weights = resolve_level_weights(options.level_weights(), levels);

  std::vector<torch::Tensor> per_level;
  for (std::size_t l = 0; l < levels; ++l) {
    check_logits(logits[l], l, labels.size(0));
    const std::int64_t classes = logits[l].size(1);
    const auto level_labels = labels.select(1, static_cast<std::int64_t>(l));
    if (labels.is_cpu() && level_labels.numel() > 0 &&
        (level_labels.min().item<std::int64_t>() < kAbsentLabel || level_labels.max().item<std::int64_t>() >= classes)) {
      throw std::invalid_argument("hierarchical_cross_entropy: level " + std::to_string(l) +
                                  " has labels outside -1.." + std::to_string(classes - 1));
    }
    const auto present = (level_labels != kAbsentLabel).to(logits[l].scalar_type());
    const auto index = level_labels.clamp_min(0);
    const auto log_probs = torch::log_softmax(logits[l], 1);
    const auto nll = -log_probs.gather(1, index.unsqueeze(1)).squeeze(1);

    torch::Tensor class_weights;
    if (!options.class_weights().empty()) class_weights = options.class_weights()[l];
    torch::Tensor row_weight = present;  // weight of each row's label; 0 for absent rows
    torch::Tensor smooth;                // -sum_c w_c log p_c per row
    if (class_weights.defined()) {
      if (class_weights.dim() != 1 || class_weights.size(0) != classes) {
        throw std::invalid_argument("hierarchical_cross_entropy: class weights of level " + std::to_string(l) +
                                    " must be [" + std::to_string(classes) + "]");
      }
      const auto w = class_weights.to(log_probs.options());
      row_weight = present * w.index_select(0, index);
      smooth = -(log_probs * w.unsqueeze(0)).sum(1);
    } else {
      smooth = -log_probs.sum(1);
    }
    const auto row_loss = (1.0 - eps) * row_weight * nll + (eps / static_cast<double>(classes)) * present * smooth;
    per_level.push_back(divide_or_zero(row_loss.sum(), row_weight.sum()));
  }
  return weighted_total(std::move(per_level), level_weights);
}

torch::Tensor balanced_class_weights(const std::vector<std::int64_t>& class_counts) {
  if (class_counts.empty()) throw std::invalid_argument("balanced_class_weights: no classes given");
  std::int64_t total = 0;
  for (auto count : class_counts) {
    if (count < 0) throw std::invalid_argument("balanced_class_weights: a class count is negative");
    total += count;
  }
  const auto k = static_cast<double>(class_counts.size());
  auto weights = torch::zeros({static_cast<std::int64_t>(class_counts.size())}, torch::kFloat);
  auto accessor = weights.accessor<float, 1>();
  for (std::size_t c = 0; c < class_counts.size(); ++c) {
    if (class_counts[c] > 0) accessor[c] = static_cast<float>(total / (k * static_cast<double>(class_counts[c])));
  }
  return weights;
}

LevelLosses hierarchical_soft_cross_entropy(const std::vector<torch::Tensor>& logits,
                                            const std::vector<torch::Tensor>& targets,
                                            const std::vector<torch::Tensor>& masks,
                                            const SoftCrossEntropyOptions& options) {
  const auto levels = logits.size();
  if (levels == 0) throw std::invalid_argument("hierarchical_soft_cross_entropy: no logits given");
  if (targets.size() != levels || (!masks.empty() && masks.size() != levels)) {
    throw std::invalid_argument("hierarchical_soft_cross_entropy: " + std::to_string(levels) + " levels of logits, " +
                                std::to_string(targets.size()) + " of targets and " + std::to_string(masks.size()) +
                                " of masks; give targets for every level and masks for every level or none");
  }
  const auto level_weights = resolve_level_weights(options.level_weights(), levels);

  const auto rows = logits[0].size(0);
  std::vector<torch::Tensor> per_level;
  for (std::size_t l = 0; l < levels; ++l) {
    check_logits(logits[l], l, rows);
    if (targets[l].sizes() != logits[l].sizes()) {
      throw std::invalid_argument("hierarchical_soft_cross_entropy: targets of level " + std::to_string(l) +
                                  " must have the logits' shape [N, classes]");
    }
    const auto row_loss = -(targets[l].to(logits[l].scalar_type()) * torch::log_softmax(logits[l], 1)).sum(1);
    torch::Tensor mask =
        masks.empty() || !masks[l].defined() ? torch::ones_like(row_loss) : masks[l].to(row_loss.scalar_type());
    if (mask.dim() != 1 || mask.size(0) != rows) {
      throw std::invalid_argument("hierarchical_soft_cross_entropy: mask of level " + std::to_string(l) + " must be [" +
                                  std::to_string(rows) + "]");
    }
    const auto denominator =
        options.mean_over_mask() ? mask.sum() : torch::full({}, static_cast<double>(rows), row_loss.options());
    per_level.push_back(divide_or_zero((row_loss * mask).sum(), denominator));
  }
  return weighted_total(std::move(per_level), level_weights);
}

}  // namespace semiflow
