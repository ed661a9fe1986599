#pragma once
// Options of the EfficientNetV2 model, free of tensor headers so that callers which only
// describe a model (the CLI) compile quickly.
#include <torch/arg.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace semiflow {

struct EfficientNetV2Options {
  EfficientNetV2Options(std::string arch, std::vector<std::int64_t> classes_per_level)
      : arch_(std::move(arch)), classes_per_level_(std::move(classes_per_level)) {}

  /// Architecture name, one of efficientnet_v2_arch_names().
  TORCH_ARG(std::string, arch);
  /// Classes per hierarchy level, coarse first; one linear head per level.
  TORCH_ARG(std::vector<std::int64_t>, classes_per_level);
  /// Replaces the architecture's width multiplier (applied to its unscaled stage table).
  TORCH_ARG(std::optional<double>, width_multiplier) = std::nullopt;
  /// Replaces the architecture's depth multiplier.
  TORCH_ARG(std::optional<double>, depth_multiplier) = std::nullopt;
  /// Replaces the width of the 1x1 head conv (otherwise 1280 scaled by the width multiplier).
  TORCH_ARG(std::optional<std::int64_t>, head_channels) = std::nullopt;
  /// Dropout before the heads; otherwise the architecture's (0.2 to 0.4).
  TORCH_ARG(std::optional<double>, dropout) = std::nullopt;
  /// Stochastic-depth rate; block i (0-based) of n drops its residual branch with probability
  /// rate * i / n (torchvision's schedule).
  TORCH_ARG(double, drop_path_rate) = 0.2;
  /// Per level, the index into `features` (see feature_info()) whose pooled output that level's
  /// head reads; negative indices count from the end, -1 being the 1x1 head conv. Empty: all -1.
  TORCH_ARG(std::vector<std::int64_t>, head_taps) = {};
  /// Image channels.
  TORCH_ARG(std::int64_t, in_channels) = 3;
  /// Keep conv weights and activations in NHWC: oneDNN's convolutions run 1.3-1.5x faster on
  /// them for small models on CPU (bench/model_speed.cpp); the results are the same.
  TORCH_ARG(bool, channels_last) = true;
};

// Where the level heads read their features.
enum class HeadTapLayout {
  all_at_end,    // every level reads the head conv's pooled features
  coarse_early,  // B-CNN: level i of L reads features[-(L - i)], the finest the head conv
  fine_early,    // the reverse: the finest level reads earliest, the coarsest the head conv
};
std::vector<std::int64_t> head_taps_for(HeadTapLayout layout, std::size_t num_levels);

}  // namespace semiflow
