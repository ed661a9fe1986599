#pragma once
// EfficientNetV2 built from its stage table (models/efficientnet_v2_arch.h), with one linear
// classifier head per hierarchy level. Module names follow torchvision's efficientnet_v2_*
// state_dict keys (features.N.M.block.K..., classifier.1) so pretrained weights import by name.
#include "models/efficientnet_v2_arch.h"
#include "models/efficientnet_v2_options.h"
#include "models/macs.h"

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace semiflow {

// torchvision's BatchNorm settings for EfficientNetV2 (eps 1e-3, PyTorch momentum 0.1).
inline constexpr double kBatchNormEps = 1e-3;
inline constexpr double kBatchNormMomentum = 0.1;

// One entry per `features` child: the stem, each stage, and the head conv.
struct FeatureInfo {
  std::string module;  // state_dict prefix, e.g. "features.3"
  std::int64_t channels = 0;
  std::int64_t reduction = 0;  // input size / feature map size
};

struct MacsBreakdown {
  std::int64_t total = 0;
  std::vector<std::pair<std::string, std::int64_t>> parts;  // by module prefix, in forward order
};

// Conv (no bias) + BatchNorm (+ SiLU): torchvision's Conv2dNormActivation. The children are
// named "0" and "1" as in torchvision's Sequential, so the state_dict keys agree.
class ConvNormActImpl : public torch::nn::Cloneable<ConvNormActImpl>, public MacCountable {
 public:
  ConvNormActImpl(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, std::int64_t stride,
                  std::int64_t groups, bool activation);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  std::int64_t count_macs(FeatureShape& shape) const override;

 private:
  // Inference (eval mode, no gradients): the convolution with the batch norm folded into its
  // weights and bias, one pass over the activations fewer.
  torch::Tensor folded_forward(const torch::Tensor& x);

  std::int64_t in_channels_, out_channels_, kernel_, stride_, groups_;
  bool activation_;
  torch::nn::Conv2d conv_{nullptr};
  torch::nn::BatchNorm2d norm_{nullptr};
};
TORCH_MODULE(ConvNormAct);

// Squeeze-and-excitation as in torchvision (fc1/fc2 are 1x1 convs with bias).
class SqueezeExcitationImpl : public torch::nn::Cloneable<SqueezeExcitationImpl>, public MacCountable {
 public:
  SqueezeExcitationImpl(std::int64_t channels, std::int64_t squeeze_channels);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  std::int64_t count_macs(FeatureShape& shape) const override;

 private:
  std::int64_t channels_;
  std::int64_t squeeze_channels_;
  torch::nn::Conv2d fc1_{nullptr};
  torch::nn::Conv2d fc2_{nullptr};
};
TORCH_MODULE(SqueezeExcitation);

struct BlockConfig {
  BlockType type = BlockType::mbconv;
  std::int64_t in_channels = 0;
  std::int64_t out_channels = 0;
  std::int64_t expansion = 1;
  std::int64_t kernel = 3;
  std::int64_t stride = 1;
  double se_ratio = 0.0;
};

// MBConv or Fused-MBConv with a residual (and stochastic depth) when shape is preserved.
class MBConvBlockImpl : public torch::nn::Cloneable<MBConvBlockImpl>, public MacCountable {
 public:
  MBConvBlockImpl(BlockConfig config, double drop_path_rate);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  std::int64_t count_macs(FeatureShape& shape) const override;

  bool has_residual() const { return config_.stride == 1 && config_.in_channels == config_.out_channels; }
  double drop_path_rate() const { return drop_path_rate_; }
  void set_drop_path_rate(double rate) { drop_path_rate_ = rate; }

 private:
  BlockConfig config_;
  double drop_path_rate_;
  torch::nn::Sequential block_{nullptr};
};
TORCH_MODULE(MBConvBlock);

class EfficientNetV2Impl : public torch::nn::Cloneable<EfficientNetV2Impl> {
 public:
  explicit EfficientNetV2Impl(EfficientNetV2Options options);
  void reset() override;

  // One logits tensor [N, classes_per_level[l]] per level, in level order.
  std::vector<torch::Tensor> forward(const torch::Tensor& images);

  const ArchSpec& arch() const { return arch_; }
  const std::vector<FeatureInfo>& feature_info() const { return feature_info_; }
  // Resolved (non-negative) feature index each level's head reads.
  const std::vector<std::int64_t>& head_taps() const { return head_taps_; }

  // Progressive learning changes regularisation between training stages.
  void set_drop_path_rate(double max_rate);
  std::vector<double> drop_path_rates();  // per block, in forward order
  void set_dropout(double rate);
  double dropout() const;

  // Analytical MACs for one image of the given size (heads included).
  MacsBreakdown macs(std::int64_t height, std::int64_t width) const;

  std::int64_t num_parameters() const;

  EfficientNetV2Options options;

 private:
  ArchSpec arch_;
  std::vector<FeatureInfo> feature_info_;
  std::vector<std::int64_t> head_taps_;
  // Submodules are reached through these containers only (never through cached holders),
  // because Cloneable::clone replaces container contents with fresh copies.
  // features: stem (ConvNormAct), one Sequential of MBConvBlocks per stage, head conv (ConvNormAct).
  torch::nn::ModuleList features_{nullptr};
  // torchvision's `classifier` is Sequential(Dropout, Linear): keeping Dropout at index 0 and
  // level l's head at index 1 + l makes a single-level model's keys identical to torchvision's.
  torch::nn::ModuleList classifier_{nullptr};

  std::vector<MBConvBlockImpl*> blocks();  // in forward order
  torch::nn::DropoutImpl& dropout_module() const;
};
TORCH_MODULE(EfficientNetV2);

}  // namespace semiflow
