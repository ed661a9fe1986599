#include "models/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <stdexcept>

namespace semiflow {
namespace {

// libtorch 2.4 made autocast's state per device type; 1.x and early 2.x have one setter per device.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(c10::DeviceType device) { return at::autocast::is_autocast_enabled(device); }
void set_autocast_enabled(c10::DeviceType device, bool enabled) { at::autocast::set_autocast_enabled(device, enabled); }
c10::ScalarType autocast_type(c10::DeviceType device) { return at::autocast::get_autocast_dtype(device); }
void set_autocast_type(c10::DeviceType device, c10::ScalarType type) { at::autocast::set_autocast_dtype(device, type); }
#else
bool autocast_enabled(c10::DeviceType device) {
  return device == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void set_autocast_enabled(c10::DeviceType device, bool enabled) {
  if (device == c10::DeviceType::CUDA) at::autocast::set_enabled(enabled);
  else at::autocast::set_cpu_enabled(enabled);
}
c10::ScalarType autocast_type(c10::DeviceType device) {
  return device == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void set_autocast_type(c10::DeviceType device, c10::ScalarType type) {
  if (device == c10::DeviceType::CUDA) at::autocast::set_autocast_gpu_dtype(type);
  else at::autocast::set_autocast_cpu_dtype(type);
}
#endif

}  // namespace

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::fp32;
  if (name == "bf16") return Precision::bf16;
  if (name == "fp16") return Precision::fp16;
  throw std::invalid_argument("precision '" + name + "': write fp32, bf16 or fp16");
}

const char* to_string(Precision precision) {
  switch (precision) {
    case Precision::bf16: return "bf16";
    case Precision::fp16: return "fp16";
    case Precision::fp32: break;
  }
  return "fp32";
}

void check_precision(Precision precision, c10::DeviceType device) {
  if (precision == Precision::fp16 && device != c10::DeviceType::CUDA)
    throw std::invalid_argument("precision fp16 runs on CUDA only; on the CPU use bf16 (or fp32)");
}

AutocastGuard::AutocastGuard(c10::DeviceType device, Precision precision) : device_(device) {
  if (precision == Precision::fp32) return;
  check_precision(precision, device);
  active_ = true;
  was_enabled_ = autocast_enabled(device_);
  previous_type_ = autocast_type(device_);
  set_autocast_type(device_, precision == Precision::bf16 ? c10::ScalarType::BFloat16 : c10::ScalarType::Half);
  set_autocast_enabled(device_, true);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // Leaving the outermost region frees the casts of the weights autocast kept for reuse.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_enabled(device_, was_enabled_);
  set_autocast_type(device_, previous_type_);
}

std::vector<torch::Tensor> forward_logits(EfficientNetV2& model, const torch::Tensor& images, Precision precision) {
  std::vector<torch::Tensor> logits;
  {
    AutocastGuard autocast(images.device().type(), precision);
    logits = model->forward(images);
  }
  for (auto& level : logits) level = level.to(torch::kFloat32);
  return logits;
}

LossScaler::LossScaler(Precision precision, double initial_scale, std::int64_t growth_interval)
    : enabled_(precision == Precision::fp16), scale_(initial_scale), growth_interval_(growth_interval) {}

bool LossScaler::unscale_and_check(const std::vector<torch::Tensor>& parameters) {
  if (!enabled_) return true;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> finite;
  for (const auto& p : parameters) {
    if (!p.grad().defined()) continue;
    p.mutable_grad().mul_(1.0 / scale_);
    finite.push_back(torch::isfinite(p.grad()).all());
  }
  const bool ok = finite.empty() || torch::stack(finite).all().item<bool>();
  if (!ok) {
    scale_ /= 2;
    good_steps_ = 0;
  } else if (++good_steps_ == growth_interval_) {
    scale_ *= 2;
    good_steps_ = 0;
  }
  return ok;
}

}  // namespace semiflow
