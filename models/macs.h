#pragma once
// Multiply-accumulate counts from built modules and an input shape, counted the way ptflops,
// fvcore and torchvision's published GFLOPS count them: one MAC per weight use per output
// element of convolutions and linear layers. BatchNorm, activations, pooling, residual adds
// and elementwise scaling are not counted.
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>

namespace semiflow {

// Shape of one sample (no batch dimension). Vectors are {features, 1, 1}.
struct FeatureShape {
  std::int64_t channels = 0;
  std::int64_t height = 0;
  std::int64_t width = 0;
};

// Modules other than libtorch's built-ins implement this so `module_macs` can walk them.
class MacCountable {
 public:
  virtual ~MacCountable() = default;
  // MACs for one sample entering with `shape`; updates `shape` to the output's.
  virtual std::int64_t count_macs(FeatureShape& shape) const = 0;
};

// Each updates `shape` to the layer's output and throws std::invalid_argument when the input
// channels do not match the layer.
std::int64_t conv2d_macs(const torch::nn::Conv2dImpl& conv, FeatureShape& shape);
std::int64_t linear_macs(const torch::nn::LinearImpl& linear, FeatureShape& shape);

// Walks Conv2d, Linear, Sequential (children in order) and MacCountable modules; BatchNorm2d,
// SiLU, Sigmoid, Dropout and Identity count zero and keep the shape, AdaptiveAvgPool2d to 1x1
// counts zero. Any other module type throws, so no layer goes uncounted silently.
std::int64_t module_macs(const torch::nn::Module& module, FeatureShape& shape);

}  // namespace semiflow
