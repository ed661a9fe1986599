#include "models/macs.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/adaptive.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include <stdexcept>
#include <string>
#include <variant>

namespace semiflow {
namespace {

std::int64_t conv_output_size(std::int64_t input, std::int64_t kernel, std::int64_t stride, std::int64_t padding,
                              std::int64_t dilation) {
  return (input + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
}

template <typename T>
bool is(const torch::nn::Module& module) {
  return dynamic_cast<const T*>(&module) != nullptr;
}

}  // namespace

std::int64_t conv2d_macs(const torch::nn::Conv2dImpl& conv, FeatureShape& shape) {
  const auto& opts = conv.options;
  if (shape.channels != opts.in_channels()) {
    throw std::invalid_argument("conv2d_macs: the conv expects " + std::to_string(opts.in_channels()) +
                                " input channels but the walked shape has " + std::to_string(shape.channels));
  }
  const auto& kernel = opts.kernel_size();
  const auto& stride = opts.stride();
  const auto& dilation = opts.dilation();
  // libtorch 1.x keeps the padding in c10::variant, 2.x in std::variant: an unqualified get_if
  // finds the right one by argument-dependent lookup.
  using std::get_if;
  std::int64_t out_h = shape.height;
  std::int64_t out_w = shape.width;
  if (const auto* padding = get_if<torch::ExpandingArray<2>>(&opts.padding())) {
    out_h = conv_output_size(shape.height, kernel->at(0), stride->at(0), (*padding)->at(0), dilation->at(0));
    out_w = conv_output_size(shape.width, kernel->at(1), stride->at(1), (*padding)->at(1), dilation->at(1));
  } else if (get_if<torch::enumtype::kValid>(&opts.padding())) {
    out_h = conv_output_size(shape.height, kernel->at(0), stride->at(0), 0, dilation->at(0));
    out_w = conv_output_size(shape.width, kernel->at(1), stride->at(1), 0, dilation->at(1));
  }  // else kSame: libtorch allows it only at stride 1, where the size is kept.
  const std::int64_t per_output = opts.in_channels() / opts.groups() * kernel->at(0) * kernel->at(1);
  shape = {opts.out_channels(), out_h, out_w};
  return per_output * shape.channels * out_h * out_w;
}

std::int64_t linear_macs(const torch::nn::LinearImpl& linear, FeatureShape& shape) {
  const auto& opts = linear.options;
  if (shape.channels * shape.height * shape.width != opts.in_features()) {
    throw std::invalid_argument("linear_macs: the layer expects " + std::to_string(opts.in_features()) +
                                " input features but the walked shape has " +
                                std::to_string(shape.channels * shape.height * shape.width));
  }
  shape = {opts.out_features(), 1, 1};
  return opts.in_features() * opts.out_features();
}

std::int64_t module_macs(const torch::nn::Module& module, FeatureShape& shape) {
  if (const auto* conv = dynamic_cast<const torch::nn::Conv2dImpl*>(&module)) return conv2d_macs(*conv, shape);
  if (const auto* linear = dynamic_cast<const torch::nn::LinearImpl*>(&module)) return linear_macs(*linear, shape);
  if (const auto* countable = dynamic_cast<const MacCountable*>(&module)) return countable->count_macs(shape);
  if (is<torch::nn::SequentialImpl>(module)) {
    std::int64_t total = 0;
    for (const auto& child : module.children()) total += module_macs(*child, shape);
    return total;
  }
  if (is<torch::nn::AdaptiveAvgPool2dImpl>(module)) {
    const auto& size = dynamic_cast<const torch::nn::AdaptiveAvgPool2dImpl&>(module).options.output_size();
    if (!size->at(0) || !size->at(1) || *size->at(0) != 1 || *size->at(1) != 1) {
      throw std::invalid_argument("module_macs: only AdaptiveAvgPool2d to 1x1 is supported");
    }
    shape.height = shape.width = 1;
    return 0;
  }
  if (is<torch::nn::BatchNorm2dImpl>(module) || is<torch::nn::SiLUImpl>(module) || is<torch::nn::SigmoidImpl>(module) ||
      is<torch::nn::DropoutImpl>(module) || is<torch::nn::IdentityImpl>(module)) {
    return 0;
  }
  throw std::invalid_argument("module_macs: no MAC rule for module '" + module.name() +
                              "'; implement semiflow::MacCountable for it");
}

}  // namespace semiflow
