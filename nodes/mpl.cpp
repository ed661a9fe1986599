#include "nodes/mpl.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>

namespace semiflow {
namespace {

void check_levels(std::size_t a, std::size_t b, const char* what) {
  if (a != b || a == 0) throw std::invalid_argument(fmt::format("{}: {} and {} levels of logits", what, a, b));
}

}  // namespace

UdaConsistency uda_consistency(const std::vector<torch::Tensor>& weak_logits, const std::vector<torch::Tensor>& strong_logits,
                               const UdaConsistencyOptions& options) {
  check_levels(weak_logits.size(), strong_logits.size(), "uda_consistency");
  if (!(options.temperature > 0)) throw std::invalid_argument("uda_consistency: temperature must be > 0");
  std::vector<torch::Tensor> targets, masks;
  UdaConsistency result;
  for (const auto& weak : weak_logits) {
    const auto probabilities = torch::softmax(weak.detach() / options.temperature, 1);
    const auto mask = std::get<0>(probabilities.max(1)).ge(options.threshold).to(probabilities.scalar_type());
    result.mask_ratio.push_back(mask.numel() == 0 ? 0.0 : mask.mean().item<double>());
    targets.push_back(probabilities);
    masks.push_back(mask);
  }
  result.loss = hierarchical_soft_cross_entropy(
      strong_logits, targets, masks, SoftCrossEntropyOptions().level_weights(options.level_weights).mean_over_mask(false));
  return result;
}

double uda_weight_at(double weight, std::int64_t step, std::int64_t ramp_steps) {
  if (ramp_steps <= 0) return weight;
  return weight * std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(ramp_steps));
}

PseudoLabelTargets parse_pseudo_label_targets(const std::string& name) {
  if (name == "hard") return PseudoLabelTargets::hard;
  if (name == "soft") return PseudoLabelTargets::soft;
  throw std::invalid_argument(fmt::format("pseudo_labels '{}': write hard or soft", name));
}

std::vector<torch::Tensor> student_targets(const std::vector<torch::Tensor>& teacher_weak_logits, PseudoLabelTargets kind,
                                           double temperature) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> targets;
  for (const auto& logits : teacher_weak_logits) {
    if (kind == PseudoLabelTargets::hard) {
      targets.push_back(torch::one_hot(logits.argmax(1), logits.size(1)).to(logits.scalar_type()));
    } else {
      if (!(temperature > 0)) throw std::invalid_argument("student_targets: temperature must be > 0");
      targets.push_back(torch::softmax(logits.detach() / temperature, 1));
    }
  }
  return targets;
}

FeedbackSign parse_feedback_sign(const std::string& name) {
  if (name == "paper") return FeedbackSign::paper;
  if (name == "reversed") return FeedbackSign::reversed;
  throw std::invalid_argument(fmt::format("mpl_sign '{}': write paper (after - before) or reversed (before - after)", name));
}

MplFeedback::MplFeedback(FeedbackSign sign, double baseline_decay, std::size_t levels)
    : sign_(sign), decay_(baseline_decay), baseline_(levels, 0.0), change_(levels, 0.0) {
  if (!(baseline_decay >= 0.0 && baseline_decay < 1.0))
    throw std::invalid_argument(fmt::format("mpl baseline decay {} is not in [0, 1)", baseline_decay));
}

std::vector<double> MplFeedback::update(const std::vector<double>& loss_before, const std::vector<double>& loss_after) {
  if (loss_before.size() != baseline_.size() || loss_after.size() != baseline_.size())
    throw std::invalid_argument(fmt::format("MplFeedback: losses for {} and {} levels, expected {}", loss_before.size(),
                                            loss_after.size(), baseline_.size()));
  std::vector<double> h(baseline_.size());
  for (std::size_t level = 0; level < h.size(); ++level) {
    const double after_minus_before = loss_after[level] - loss_before[level];
    change_[level] = sign_ == FeedbackSign::paper ? after_minus_before : -after_minus_before;
    baseline_[level] = decay_ * baseline_[level] + (1.0 - decay_) * change_[level];
    h[level] = change_[level] - baseline_[level];
  }
  return h;
}

void MplFeedback::set_baseline(const std::vector<double>& baseline) {
  if (baseline.size() != baseline_.size())
    throw std::invalid_argument(fmt::format("MplFeedback: a baseline of {} levels, expected {}", baseline.size(), baseline_.size()));
  baseline_ = baseline;
}

LevelLosses mpl_term(const std::vector<torch::Tensor>& teacher_strong_logits, const std::vector<double>& h,
                     const std::vector<double>& level_weights) {
  if (h.size() != teacher_strong_logits.size())
    throw std::invalid_argument(fmt::format("mpl_term: {} feedback values for {} levels", h.size(), teacher_strong_logits.size()));
  if (!level_weights.empty() && level_weights.size() != h.size())
    throw std::invalid_argument(fmt::format("mpl_term: {} level weights for {} levels", level_weights.size(), h.size()));
  LevelLosses result;
  for (std::size_t level = 0; level < h.size(); ++level) {
    const auto& logits = teacher_strong_logits[level];
    const auto own_labels = logits.detach().argmax(1);
    auto term = h[level] * torch::nll_loss(torch::log_softmax(logits, 1), own_labels);
    const double weight = level_weights.empty() ? 1.0 : level_weights[level];
    result.total = level == 0 ? weight * term : result.total + weight * term;
    result.per_level.push_back(term);
  }
  return result;
}

}  // namespace semiflow
