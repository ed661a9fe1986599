#include "nodes/optimization.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <type_traits>

namespace semiflow {
namespace {

template <class Options>
std::vector<torch::optim::OptimizerParamGroup> decay_groups(const WeightDecayGroups& split, const Options& options) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(split.decay, std::make_unique<Options>(options));
  auto no_decay = options;
  no_decay.weight_decay(0.0);
  groups.emplace_back(split.no_decay, std::make_unique<Options>(no_decay));
  return groups;
}

// torch.optim.SGD's update (weight decay, momentum with dampening, Nesterov) with one
// multi-tensor (_foreach) operation per parameter group and phase, as PyTorch-Python does on
// CUDA (foreach=None), instead of libtorch's five kernels per parameter: a few thousand launches
// a step for EfficientNetV2-S. On the CPU, where _foreach ops loop over the tensors anyway,
// libtorch's loop is faster (bench/model_speed.cpp times both; docs/performance.md), so it
// steps there unless `foreach` says otherwise. The arithmetic is libtorch's, in the same order,
// and the momentum buffers live in the same state, so checkpoints are SGD's.
class MultiTensorSGD : public torch::optim::SGD {
 public:
  MultiTensorSGD(std::vector<torch::optim::OptimizerParamGroup> groups, torch::optim::SGDOptions defaults,
                 std::optional<bool> foreach)
      : torch::optim::SGD(std::move(groups), std::move(defaults)), foreach_(foreach) {}

  torch::Tensor step(LossClosure closure = nullptr) override {
    if (!foreach_.value_or(on_cuda())) return torch::optim::SGD::step(std::move(closure));
    torch::NoGradGuard no_grad;
    torch::Tensor loss;
    if (closure) {
      at::AutoGradMode enable_grad(true);
      loss = closure();
    }
    for (auto& group : param_groups_) {
      const auto& options = static_cast<const torch::optim::SGDOptions&>(group.options());
      // .data(): updated without bumping the parameters' version counters, as libtorch's SGD.
      std::vector<torch::Tensor> parameters, gradients, buffers;
      std::vector<void*> keys;
      for (auto& p : group.params())
        if (p.grad().defined()) {
          parameters.push_back(p.data());
          gradients.push_back(p.grad().data());
          keys.push_back(p.unsafeGetTensorImpl());
        }
      if (parameters.empty()) continue;
      std::vector<torch::Tensor> steps =
          options.weight_decay() != 0 ? at::_foreach_add(gradients, parameters, options.weight_decay()) : gradients;
      if (options.momentum() != 0) {
        std::vector<torch::Tensor> existing, existing_steps;
        for (std::size_t i = 0; i < parameters.size(); ++i) {
          auto& state = state_[state_key(keys[i])];
          if (!state) {
            auto fresh = std::make_unique<torch::optim::SGDParamState>();
            fresh->momentum_buffer(torch::clone(steps[i]).detach());
            state = std::move(fresh);
          } else {
            existing.push_back(static_cast<torch::optim::SGDParamState&>(*state).momentum_buffer());
            existing_steps.push_back(steps[i]);
          }
          buffers.push_back(static_cast<torch::optim::SGDParamState&>(*state).momentum_buffer());
        }
        if (!existing.empty()) {
          at::_foreach_mul_(existing, options.momentum());
          at::_foreach_add_(existing, existing_steps, 1 - options.dampening());
        }
        steps = options.nesterov() ? at::_foreach_add(steps, buffers, options.momentum()) : buffers;
      }
      at::_foreach_add_(parameters, steps, -options.lr());
    }
    return loss;
  }

 private:
  bool on_cuda() const {
    for (const auto& group : param_groups_)
      if (!group.params().empty()) return group.params().front().is_cuda();
    return false;
  }

  // The state map's key for a parameter's TensorImpl: its address as text in libtorch 1.x, the
  // pointer in 2.x.
  template <typename Key = decltype(state_)::key_type>
  static Key state_key(void* impl) {
    if constexpr (std::is_same_v<Key, std::string>) {
      std::ostringstream text;
      text << impl;
      return text.str();
    } else {
      return impl;
    }
  }

  std::optional<bool> foreach_;
};

}  // namespace

WeightDecayGroups split_weight_decay_groups(const torch::nn::Module& module) {
  WeightDecayGroups groups;
  for (const auto& parameter : module.parameters(/*recurse=*/true)) {
    if (!parameter.requires_grad()) continue;
    (parameter.dim() <= 1 ? groups.no_decay : groups.decay).push_back(parameter);
  }
  return groups;
}

std::vector<std::string> optimizer_kind_names() { return {"sgd", "rmsprop", "adamw"}; }
std::vector<std::string> schedule_kind_names() { return {"constant", "cosine", "step", "exponential"}; }

OptimizerKind parse_optimizer_kind(const std::string& name) {
  if (name == "sgd") return OptimizerKind::sgd;
  if (name == "rmsprop") return OptimizerKind::rmsprop;
  if (name == "adamw") return OptimizerKind::adamw;
  throw std::invalid_argument(fmt::format("unknown optimizer '{}'; known: {}", name, fmt::join(optimizer_kind_names(), ", ")));
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerConfig& config, const torch::nn::Module& module) {
  const WeightDecayGroups split = split_weight_decay_groups(module);
  switch (config.kind) {
    case OptimizerKind::sgd: {
      auto options = torch::optim::SGDOptions(config.lr)
                         .momentum(config.momentum)
                         .nesterov(config.nesterov && config.momentum > 0)
                         .weight_decay(config.weight_decay);
      return std::make_unique<MultiTensorSGD>(decay_groups(split, options), options, config.foreach);
    }
    case OptimizerKind::rmsprop: {
      auto options = torch::optim::RMSpropOptions(config.lr)
                         .alpha(config.rmsprop_alpha)
                         .eps(config.rmsprop_eps)
                         .momentum(config.momentum)
                         .weight_decay(config.weight_decay);
      return std::make_unique<torch::optim::RMSprop>(decay_groups(split, options), options);
    }
    case OptimizerKind::adamw: {
      auto options = torch::optim::AdamWOptions(config.lr)
                         .betas({config.adam_beta1, config.adam_beta2})
                         .eps(config.adam_eps)
                         .weight_decay(config.weight_decay);
      return std::make_unique<torch::optim::AdamW>(decay_groups(split, options), options);
    }
  }
  throw std::logic_error("unhandled optimizer kind");
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

void clip_gradient_norm(const std::vector<torch::Tensor>& parameters, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> gradients, norms;
  for (const auto& parameter : parameters)
    if (parameter.grad().defined()) {
      gradients.push_back(parameter.grad());
      norms.push_back(gradients.back().norm(2));
    }
  if (gradients.empty()) return;
  const auto total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2);
  const auto factor = torch::clamp_max(max_norm / (total + 1e-6), 1.0);
  for (auto& gradient : gradients) gradient.mul_(factor);
}

ScheduleKind parse_schedule_kind(const std::string& name) {
  if (name == "constant") return ScheduleKind::constant;
  if (name == "cosine") return ScheduleKind::cosine;
  if (name == "step") return ScheduleKind::step;
  if (name == "exponential") return ScheduleKind::exponential;
  throw std::invalid_argument(fmt::format("unknown schedule '{}'; known: {}", name, fmt::join(schedule_kind_names(), ", ")));
}

double learning_rate_at(const ScheduleConfig& config, std::int64_t step) {
  if (step < config.warmup_steps)
    return config.base_lr * static_cast<double>(step + 1) / static_cast<double>(config.warmup_steps);
  const double t = static_cast<double>(step - config.warmup_steps);
  switch (config.kind) {
    case ScheduleKind::constant:
      return config.base_lr;
    case ScheduleKind::cosine: {
      const double length = static_cast<double>(std::max<std::int64_t>(1, config.total_steps - config.warmup_steps));
      const double progress = std::min(1.0, t / length);
      return config.min_lr + 0.5 * (config.base_lr - config.min_lr) * (1.0 + std::cos(M_PI * progress));
    }
    case ScheduleKind::step:
      return config.base_lr * std::pow(config.gamma, std::floor(t / config.decay_steps));
    case ScheduleKind::exponential:
      return config.base_lr * std::pow(config.gamma, t / config.decay_steps);
  }
  throw std::logic_error("unhandled schedule kind");
}

ExponentialMovingAverage::ExponentialMovingAverage(const torch::nn::Module& module, double decay, bool warmup)
    : average_(module.clone()), decay_(decay), warmup_(warmup) {
  if (!(decay >= 0.0 && decay < 1.0)) throw std::invalid_argument(fmt::format("EMA decay {} is not in [0, 1)", decay));
  for (auto& parameter : average_->parameters()) parameter.set_requires_grad(false);
}

double ExponentialMovingAverage::decay_for_update(std::int64_t updates) const {
  if (!warmup_) return decay_;
  return std::min(decay_, (1.0 + static_cast<double>(updates)) / (10.0 + static_cast<double>(updates)));
}

void ExponentialMovingAverage::update(const torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  const double d = decay_for_update(updates_);
  const auto current = module.named_parameters();
  for (auto& entry : average_->named_parameters()) entry.value().mul_(d).add_(current[entry.key()], 1.0 - d);
  const auto current_buffers = module.named_buffers();
  for (auto& entry : average_->named_buffers()) {
    const auto& source = current_buffers[entry.key()];
    if (entry.value().is_floating_point())
      entry.value().mul_(d).add_(source, 1.0 - d);
    else
      entry.value().copy_(source);
  }
  ++updates_;
}

}  // namespace semiflow
