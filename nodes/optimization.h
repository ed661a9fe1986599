#pragma once
// Optimizers, learning-rate schedules and the exponential moving average of weights used by the
// `train` node. Schedules are pure functions of the step, so a checkpoint needs only the step to
// restore them.
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace semiflow {

// Parameters split for weight decay: 1-D tensors (BatchNorm scales and shifts, every bias) are
// not decayed, as in the EfficientNet and timm recipes; conv and linear weights are.
struct WeightDecayGroups {
  std::vector<torch::Tensor> decay;
  std::vector<torch::Tensor> no_decay;
};
WeightDecayGroups split_weight_decay_groups(const torch::nn::Module& module);

enum class OptimizerKind {
  sgd,      // SGD with momentum, Nesterov by default
  rmsprop,  // EfficientNet's: decay (alpha) 0.9, momentum 0.9, eps 1e-3
  adamw,
};
// The names parse_optimizer_kind and parse_schedule_kind accept (for schemas).
std::vector<std::string> optimizer_kind_names();
std::vector<std::string> schedule_kind_names();
OptimizerKind parse_optimizer_kind(const std::string& name);  // throws listing the known names

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::sgd;
  double lr = 0.1;
  double weight_decay = 0.0;  // applied to the decay group only
  double momentum = 0.9;      // sgd, rmsprop
  bool nesterov = true;       // sgd
  // sgd: one multi-tensor (_foreach) update per group (true) or libtorch's per-parameter loop
  // (false); unset: multi-tensor where the parameters are on CUDA, as torch.optim's foreach=None.
  std::optional<bool> foreach;
  double rmsprop_alpha = 0.9;
  double rmsprop_eps = 1e-3;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_eps = 1e-8;
};

// Two parameter groups: group 0 decays with config.weight_decay, group 1 has weight decay 0.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerConfig& config, const torch::nn::Module& module);

// Sets every parameter group's learning rate.
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

// Scales the gradients of `parameters` so that their joint L2 norm is at most max_norm, as
// torch.nn.utils.clip_grad_norm_ does, without reading the norm back to the host (libtorch's C++
// version returns it as a double, a device synchronisation on every step).
void clip_gradient_norm(const std::vector<torch::Tensor>& parameters, double max_norm);

enum class ScheduleKind {
  constant,
  cosine,       // from base_lr down to min_lr at total_steps
  step,         // base_lr * gamma^floor(t / decay_steps)
  exponential,  // base_lr * gamma^(t / decay_steps), EfficientNet's 0.97 every 2.4 epochs
};
ScheduleKind parse_schedule_kind(const std::string& name);  // throws listing the known names

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::cosine;
  double base_lr = 0.1;
  double min_lr = 0.0;               // cosine floor
  std::int64_t warmup_steps = 0;     // linear from base_lr / warmup_steps up to base_lr
  std::int64_t total_steps = 1;      // cosine length, warmup included
  double gamma = 0.97;               // step, exponential
  double decay_steps = 1.0;          // step, exponential
};

// Learning rate for the 0-based optimizer step `step`. During warmup, step s uses
// base_lr * (s + 1) / warmup_steps; afterwards t = step - warmup_steps steps into the decay.
double learning_rate_at(const ScheduleConfig& config, std::int64_t step);

// An exponential moving average of a module's parameters and floating-point buffers (BatchNorm
// running statistics), kept in a deep copy of the module:
//   average = d * average + (1 - d) * current, d = min(decay, (1 + n) / (10 + n)) with warmup
// (n: updates so far, TensorFlow's num_updates), d = decay without. Integer buffers are copied.
class ExponentialMovingAverage {
 public:
  ExponentialMovingAverage(const torch::nn::Module& module, double decay, bool warmup);

  void update(const torch::nn::Module& module);
  double decay_for_update(std::int64_t updates) const;

  // The averaged copy (same type as the module given to the constructor), for evaluation and
  // checkpoints.
  const std::shared_ptr<torch::nn::Module>& average() const { return average_; }
  std::int64_t updates() const { return updates_; }
  void set_updates(std::int64_t updates) { updates_ = updates; }

 private:
  std::shared_ptr<torch::nn::Module> average_;
  double decay_;
  bool warmup_;
  std::int64_t updates_ = 0;
};

}  // namespace semiflow
