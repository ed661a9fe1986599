#pragma once
// Mixed precision for a model's forward pass: autocast runs convolutions and matrix products in
// bf16 (CPU or CUDA) or fp16 (CUDA only) and keeps reductions, softmax and norms in fp32, while
// the weights, batch-norm statistics and optimizer state stay fp32 (and so do checkpoints).
// Losses are computed on fp32 logits (forward_logits). fp16 gradients need loss scaling
// (LossScaler); bf16 has fp32's range and needs none.
#include "models/efficientnet_v2.h"

#include <c10/core/DeviceType.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace semiflow {

enum class Precision { fp32, bf16, fp16 };

// fp32, bf16 or fp16; throws naming the value and the choices.
Precision parse_precision(const std::string& name);
const char* to_string(Precision precision);
// fp16 on a device type that cannot run it (the CPU) is refused, naming bf16 instead.
void check_precision(Precision precision, c10::DeviceType device);

// Autocast on `device` in `precision` for its lifetime (fp32: nothing), restoring the previous
// state, as `with torch.autocast(...)` does.
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType device, Precision precision);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType device_;
  bool active_ = false;
  bool was_enabled_ = false;
  c10::ScalarType previous_type_ = c10::ScalarType::Undefined;
};

// `model`'s logits for `images` (on the model's device), its forward pass autocast in
// `precision`, per level as fp32: what the losses and metrics take.
std::vector<torch::Tensor> forward_logits(EfficientNetV2& model, const torch::Tensor& images, Precision precision);

// Dynamic loss scaling for fp16 training (torch.cuda.amp.GradScaler's rule): the loss is
// multiplied by the scale before backward; unscale_and_check() divides the gradients by it and
// says whether they are all finite. A step with an overflow is skipped and halves the scale;
// `growth_interval` finite steps in a row double it. With another precision it does nothing.
class LossScaler {
 public:
  explicit LossScaler(Precision precision, double initial_scale = 65536.0, std::int64_t growth_interval = 2000);
  bool enabled() const { return enabled_; }
  torch::Tensor scale(const torch::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }
  // After backward: unscales `parameters`' gradients; false when one is inf or NaN (skip the step).
  bool unscale_and_check(const std::vector<torch::Tensor>& parameters);
  double current_scale() const { return scale_; }
  // What a checkpoint keeps so that a resumed run scales its steps as the uninterrupted one would.
  struct State {
    double scale;
    std::int64_t good_steps;  // finite steps since the scale last changed
  };
  State state() const { return {scale_, good_steps_}; }
  void restore(const State& state) {
    scale_ = state.scale;
    good_steps_ = state.good_steps;
  }

 private:
  bool enabled_;
  double scale_;
  std::int64_t growth_interval_;
  std::int64_t good_steps_ = 0;
};

}  // namespace semiflow
