#include "models/efficientnet_v2.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>

#include <cmath>
#include <map>
#include <stdexcept>

namespace semiflow {
namespace {

// Stochastic depth in torchvision's "row" mode: drops the whole residual branch per sample and
// rescales the survivors so the expectation is unchanged.
torch::Tensor drop_path(const torch::Tensor& x, double rate, bool training) {
  if (!training || rate <= 0.0) return x;
  const double survival = 1.0 - rate;
  auto keep = torch::empty({x.size(0), 1, 1, 1}, x.options()).bernoulli_(survival);
  if (survival > 0.0) keep.div_(survival);
  return x * keep;
}

// [N, C, 1, 1] means over H and W. adaptive_avg_pool2d, unlike x.mean({2, 3}), keeps an NHWC
// input's layout in its result (strides C, 1, C, C): with NCHW strides there, the layers after
// the pool compute in NCHW and their gradients reach the block's depthwise convolution in NCHW,
// where its backward took 6x as long (12 ms against 2 ms per call for the 1x1 feature maps of
// `tiny` at 32x32, measured with the autograd profiler).
torch::Tensor global_average_pool(const torch::Tensor& x) { return torch::adaptive_avg_pool2d(x, {1, 1}); }

// Images with NHWC strides. contiguous() leaves a one-channel NCHW batch as it is (its memory is
// NHWC already, its strides say NCHW), and the stem would run in NCHW; a view restrides it.
torch::Tensor as_channels_last(const torch::Tensor& images) {
  if (!images.is_contiguous(torch::MemoryFormat::ChannelsLast)) return images.contiguous(torch::MemoryFormat::ChannelsLast);
  return images.as_strided(images.sizes(), c10::get_channels_last_strides_2d(images.sizes()));
}

std::int64_t resolve_tap(std::int64_t tap, std::int64_t num_features, std::size_t level) {
  const std::int64_t index = tap < 0 ? num_features + tap : tap;
  if (index < 0 || index >= num_features) {
    throw std::invalid_argument("EfficientNetV2: head tap " + std::to_string(tap) + " of level " +
                                std::to_string(level) + " is outside the " + std::to_string(num_features) +
                                " feature modules; use 0.." + std::to_string(num_features - 1) +
                                " or a negative index from the end (-1 = head conv)");
  }
  return index;
}

}  // namespace

std::vector<std::int64_t> head_taps_for(HeadTapLayout layout, std::size_t num_levels) {
  const auto levels = static_cast<std::int64_t>(num_levels);
  std::vector<std::int64_t> taps(num_levels, -1);
  for (std::int64_t level = 0; level < levels; ++level) {
    switch (layout) {
      case HeadTapLayout::all_at_end:
        break;
      case HeadTapLayout::coarse_early:
        taps[level] = -(levels - level);
        break;
      case HeadTapLayout::fine_early:
        taps[level] = -(level + 1);
        break;
    }
  }
  return taps;
}

// ----------------------------------------------------------------------------------------------

ConvNormActImpl::ConvNormActImpl(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel,
                                 std::int64_t stride, std::int64_t groups, bool activation)
    : in_channels_(in_channels),
      out_channels_(out_channels),
      kernel_(kernel),
      stride_(stride),
      groups_(groups),
      activation_(activation) {
  reset();
}

void ConvNormActImpl::reset() {
  conv_ = register_module("0", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels_, out_channels_, kernel_)
                                                     .stride(stride_)
                                                     .padding((kernel_ - 1) / 2)
                                                     .groups(groups_)
                                                     .bias(false)));
  norm_ = register_module(
      "1", torch::nn::BatchNorm2d(
               torch::nn::BatchNorm2dOptions(out_channels_).eps(kBatchNormEps).momentum(kBatchNormMomentum)));
}

torch::Tensor ConvNormActImpl::forward(const torch::Tensor& x) {
  if (!is_training() && !torch::GradMode::is_enabled()) {
    auto y = folded_forward(x);
    return activation_ ? torch::silu_(y) : y;  // in place: nothing keeps y for a backward pass
  }
  auto y = norm_(conv_(x));
  return activation_ ? torch::silu(y) : y;
}

torch::Tensor ConvNormActImpl::folded_forward(const torch::Tensor& x) {
  const auto scale = norm_->weight * torch::rsqrt(norm_->running_var + norm_->options.eps());
  // Written into a tensor of the weight's own strides: an elementwise result of a depthwise or
  // 1x1 weight could come out NCHW-strided (see reset()).
  auto weight = torch::empty_like(conv_->weight);
  torch::mul_out(weight, conv_->weight, scale.view({-1, 1, 1, 1}));
  const auto bias = norm_->bias - norm_->running_mean * scale;
  return torch::conv2d(x, weight, bias, stride_, (kernel_ - 1) / 2, 1, groups_);
}

std::int64_t ConvNormActImpl::count_macs(FeatureShape& shape) const { return conv2d_macs(*conv_, shape); }

// ----------------------------------------------------------------------------------------------

SqueezeExcitationImpl::SqueezeExcitationImpl(std::int64_t channels, std::int64_t squeeze_channels)
    : channels_(channels), squeeze_channels_(squeeze_channels) {
  reset();
}

void SqueezeExcitationImpl::reset() {
  fc1_ = register_module("fc1", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels_, squeeze_channels_, 1)));
  fc2_ = register_module("fc2", torch::nn::Conv2d(torch::nn::Conv2dOptions(squeeze_channels_, channels_, 1)));
}

torch::Tensor SqueezeExcitationImpl::forward(const torch::Tensor& x) {
  auto scale = global_average_pool(x);
  scale = torch::sigmoid(fc2_(torch::silu(fc1_(scale))));
  return x * scale;
}

std::int64_t SqueezeExcitationImpl::count_macs(FeatureShape& shape) const {
  FeatureShape pooled{shape.channels, 1, 1};
  return conv2d_macs(*fc1_, pooled) + conv2d_macs(*fc2_, pooled);
}

// ----------------------------------------------------------------------------------------------

MBConvBlockImpl::MBConvBlockImpl(BlockConfig config, double drop_path_rate)
    : config_(config), drop_path_rate_(drop_path_rate) {
  reset();
}

void MBConvBlockImpl::reset() {
  const auto& c = config_;
  const std::int64_t expanded = round_channels(static_cast<double>(c.in_channels), static_cast<double>(c.expansion));
  torch::nn::Sequential block;
  if (c.type == BlockType::fused_mbconv) {
    if (c.se_ratio > 0.0) {
      throw std::invalid_argument("EfficientNetV2: Fused-MBConv blocks have no squeeze-excitation; set se_ratio 0");
    }
    if (expanded != c.in_channels) {
      block->push_back(ConvNormAct(c.in_channels, expanded, c.kernel, c.stride, 1, true));
      block->push_back(ConvNormAct(expanded, c.out_channels, 1, 1, 1, false));
    } else {
      block->push_back(ConvNormAct(c.in_channels, c.out_channels, c.kernel, c.stride, 1, true));
    }
  } else {
    if (expanded != c.in_channels) block->push_back(ConvNormAct(c.in_channels, expanded, 1, 1, 1, true));
    block->push_back(ConvNormAct(expanded, expanded, c.kernel, c.stride, expanded, true));
    if (c.se_ratio > 0.0) {
      const auto squeeze = std::max<std::int64_t>(1, static_cast<std::int64_t>(c.in_channels * c.se_ratio));
      block->push_back(SqueezeExcitation(expanded, squeeze));
    }
    block->push_back(ConvNormAct(expanded, c.out_channels, 1, 1, 1, false));
  }
  block_ = register_module("block", block);
}

torch::Tensor MBConvBlockImpl::forward(const torch::Tensor& x) {
  auto out = block_->forward(x);
  if (has_residual()) out = drop_path(out, drop_path_rate_, is_training()) + x;
  return out;
}

std::int64_t MBConvBlockImpl::count_macs(FeatureShape& shape) const { return module_macs(*block_, shape); }

// ----------------------------------------------------------------------------------------------

EfficientNetV2Impl::EfficientNetV2Impl(EfficientNetV2Options options_) : options(std::move(options_)) { reset(); }

void EfficientNetV2Impl::reset() {
  const auto& levels = options.classes_per_level();
  if (levels.empty()) {
    throw std::invalid_argument("EfficientNetV2: classes_per_level is empty; give the class count of each level");
  }
  for (std::size_t l = 0; l < levels.size(); ++l) {
    if (levels[l] < 1) {
      throw std::invalid_argument("EfficientNetV2: level " + std::to_string(l) + " has " + std::to_string(levels[l]) +
                                  " classes; every level needs at least one");
    }
  }
  if (!options.head_taps().empty() && options.head_taps().size() != levels.size()) {
    throw std::invalid_argument("EfficientNetV2: " + std::to_string(options.head_taps().size()) + " head taps for " +
                                std::to_string(levels.size()) + " levels; give one tap per level or none");
  }
  const double dropout = options.dropout().value_or(-1.0);
  if (options.dropout() && !(dropout >= 0.0 && dropout < 1.0)) {
    throw std::invalid_argument("EfficientNetV2: dropout " + std::to_string(dropout) + " is outside [0, 1)");
  }
  if (!(options.drop_path_rate() >= 0.0 && options.drop_path_rate() < 1.0)) {
    throw std::invalid_argument("EfficientNetV2: drop_path_rate " + std::to_string(options.drop_path_rate()) +
                                " is outside [0, 1)");
  }

  arch_ = efficientnet_v2_arch(options.arch(), options.width_multiplier(), options.depth_multiplier());
  if (options.head_channels()) arch_.head_channels = static_cast<int>(*options.head_channels());
  if (options.dropout()) arch_.dropout = *options.dropout();

  feature_info_.clear();
  features_ = torch::nn::ModuleList();
  std::int64_t reduction = 2;
  features_->push_back(ConvNormAct(options.in_channels(), arch_.stem_channels, 3, 2, 1, true));
  feature_info_.push_back({"features.0", arch_.stem_channels, reduction});

  std::int64_t total_blocks = 0;
  for (const auto& stage : arch_.stages) total_blocks += stage.repeats;
  std::int64_t in_channels = arch_.stem_channels;
  std::int64_t block_index = 0;
  for (const auto& stage : arch_.stages) {
    torch::nn::Sequential blocks;
    for (int r = 0; r < stage.repeats; ++r) {
      const BlockConfig config{stage.block,     in_channels,  stage.channels,
                               stage.expansion, stage.kernel, r == 0 ? stage.stride : 1,
                               stage.se_ratio};
      const double rate = options.drop_path_rate() * static_cast<double>(block_index++) / total_blocks;
      blocks->push_back(MBConvBlock(config, rate));
      in_channels = stage.channels;
    }
    reduction *= stage.stride;
    feature_info_.push_back({"features." + std::to_string(feature_info_.size()), stage.channels, reduction});
    features_->push_back(blocks);
  }
  features_->push_back(ConvNormAct(in_channels, arch_.head_channels, 1, 1, 1, true));
  feature_info_.push_back({"features." + std::to_string(feature_info_.size()), arch_.head_channels, reduction});
  features_ = register_module("features", features_);

  const auto num_features = static_cast<std::int64_t>(feature_info_.size());
  const auto requested =
      options.head_taps().empty() ? head_taps_for(HeadTapLayout::all_at_end, levels.size()) : options.head_taps();
  head_taps_.clear();
  for (std::size_t l = 0; l < levels.size(); ++l) head_taps_.push_back(resolve_tap(requested[l], num_features, l));

  classifier_ = torch::nn::ModuleList();
  classifier_->push_back(torch::nn::Dropout(torch::nn::DropoutOptions(arch_.dropout)));
  for (std::size_t l = 0; l < levels.size(); ++l) {
    classifier_->push_back(torch::nn::Linear(feature_info_[head_taps_[l]].channels, levels[l]));
  }
  classifier_ = register_module("classifier", classifier_);

  // torchvision's initialisation, so training from scratch matches the reference.
  torch::NoGradGuard no_grad;
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut);
      if (conv->bias.defined()) conv->bias.zero_();
      // A copy with NHWC strides, as Module.to(memory_format=...) makes: contiguous() keeps the
      // NCHW strides of weights it calls NHWC already (one input channel, or 1x1 kernels), and a
      // convolution then runs in NCHW, its backward at a sixth of the speed.
      if (options.channels_last())
        conv->weight.set_data(conv->weight.to(conv->weight.options(), /*non_blocking=*/false, /*copy=*/true,
                                              torch::MemoryFormat::ChannelsLast));
    } else if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
      bn->weight.fill_(1.0);
      bn->bias.zero_();
    } else if (auto* linear = module->as<torch::nn::Linear>()) {
      const double range = 1.0 / std::sqrt(static_cast<double>(linear->options.out_features()));
      linear->weight.uniform_(-range, range);
      linear->bias.zero_();
    }
  }
}

std::vector<torch::Tensor> EfficientNetV2Impl::forward(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == options.in_channels(), "EfficientNetV2 expects images [N, ",
              options.in_channels(), ", H, W], got ", images.sizes());
  std::map<std::int64_t, torch::Tensor> pooled;  // tapped feature index -> dropout(pooled features)
  for (auto tap : head_taps_) pooled.emplace(tap, torch::Tensor());
  auto x = options.channels_last() ? as_channels_last(images) : images;
  auto& dropout = dropout_module();
  for (std::size_t index = 0; index < features_->size(); ++index) {
    const auto& module = features_[index];
    if (auto* stage = module->as<torch::nn::Sequential>()) {
      x = stage->forward(x);
    } else {
      x = module->as<ConvNormAct>()->forward(x);
    }
    const auto it = pooled.find(static_cast<std::int64_t>(index));
    if (it != pooled.end()) it->second = dropout.forward(global_average_pool(x).flatten(1));
  }
  std::vector<torch::Tensor> logits;
  logits.reserve(head_taps_.size());
  for (std::size_t l = 0; l < head_taps_.size(); ++l) {
    logits.push_back(classifier_[1 + l]->as<torch::nn::Linear>()->forward(pooled.at(head_taps_[l])));
  }
  return logits;
}

void EfficientNetV2Impl::set_drop_path_rate(double max_rate) {
  if (!(max_rate >= 0.0 && max_rate < 1.0)) {
    throw std::invalid_argument("EfficientNetV2: drop_path_rate " + std::to_string(max_rate) + " is outside [0, 1)");
  }
  options.drop_path_rate(max_rate);
  const auto all = blocks();
  const auto n = static_cast<double>(all.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i]->set_drop_path_rate(max_rate * static_cast<double>(i) / n);
}

std::vector<double> EfficientNetV2Impl::drop_path_rates() {
  std::vector<double> rates;
  for (const auto* block : blocks()) rates.push_back(block->drop_path_rate());
  return rates;
}

void EfficientNetV2Impl::set_dropout(double rate) {
  if (!(rate >= 0.0 && rate < 1.0)) {
    throw std::invalid_argument("EfficientNetV2: dropout " + std::to_string(rate) + " is outside [0, 1)");
  }
  options.dropout(rate);
  arch_.dropout = rate;
  dropout_module().options.p(rate);
}

double EfficientNetV2Impl::dropout() const { return dropout_module().options.p(); }

torch::nn::DropoutImpl& EfficientNetV2Impl::dropout_module() const {
  return *classifier_->ptr<torch::nn::DropoutImpl>(0);
}

std::vector<MBConvBlockImpl*> EfficientNetV2Impl::blocks() {
  std::vector<MBConvBlockImpl*> found;
  for (const auto& module : features_->modules(/*include_self=*/false)) {
    if (auto* block = module->as<MBConvBlock>()) found.push_back(block);
  }
  return found;
}

MacsBreakdown EfficientNetV2Impl::macs(std::int64_t height, std::int64_t width) const {
  if (height < 1 || width < 1) {
    throw std::invalid_argument("EfficientNetV2::macs: image size " + std::to_string(height) + "x" +
                                std::to_string(width) + " must be positive");
  }
  MacsBreakdown result;
  FeatureShape shape{options.in_channels(), height, width};
  std::size_t index = 0;
  for (const auto& child : features_->children()) {
    result.parts.emplace_back(feature_info_[index++].module, module_macs(*child, shape));
  }
  for (std::size_t l = 0; l < head_taps_.size(); ++l) {
    FeatureShape pooled{feature_info_[head_taps_[l]].channels, 1, 1};
    result.parts.emplace_back("classifier." + std::to_string(1 + l),
                              linear_macs(*classifier_->ptr<torch::nn::LinearImpl>(1 + l), pooled));
  }
  for (const auto& part : result.parts) result.total += part.second;
  return result;
}

std::int64_t EfficientNetV2Impl::num_parameters() const {
  std::int64_t count = 0;
  for (const auto& p : parameters()) count += p.numel();
  return count;
}

}  // namespace semiflow
