#include "models/efficientnet_v2_arch.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace semiflow {
namespace {

constexpr auto fused = BlockType::fused_mbconv;
constexpr auto mb = BlockType::mbconv;

// The tables stay one row per stage.
// clang-format off
// Rows: block, expansion, kernel, stride, channels, repeats, SE ratio (EfficientNetV2 paper
// tables 4 and 7 / torchvision _efficientnet_conf / timm _gen_efficientnetv2_*).
ArchSpec table_s() {
  return {"s", 24,
          {{fused, 1, 3, 1, 24, 2, 0.0},
           {fused, 4, 3, 2, 48, 4, 0.0},
           {fused, 4, 3, 2, 64, 4, 0.0},
           {mb, 4, 3, 2, 128, 6, 0.25},
           {mb, 6, 3, 1, 160, 9, 0.25},
           {mb, 6, 3, 2, 256, 15, 0.25}},
          1280, 0.2};
}

ArchSpec table_m() {
  return {"m", 24,
          {{fused, 1, 3, 1, 24, 3, 0.0},
           {fused, 4, 3, 2, 48, 5, 0.0},
           {fused, 4, 3, 2, 80, 5, 0.0},
           {mb, 4, 3, 2, 160, 7, 0.25},
           {mb, 6, 3, 1, 176, 14, 0.25},
           {mb, 6, 3, 2, 304, 18, 0.25},
           {mb, 6, 3, 1, 512, 5, 0.25}},
          1280, 0.3};
}

ArchSpec table_l() {
  return {"l", 32,
          {{fused, 1, 3, 1, 32, 4, 0.0},
           {fused, 4, 3, 2, 64, 7, 0.0},
           {fused, 4, 3, 2, 96, 7, 0.0},
           {mb, 4, 3, 2, 192, 10, 0.25},
           {mb, 6, 3, 1, 224, 19, 0.25},
           {mb, 6, 3, 2, 384, 25, 0.25},
           {mb, 6, 3, 1, 640, 7, 0.25}},
          1280, 0.4};
}

// B0..B3 base: the stem (32) is wider than the first stage (16), so stage 1's first block
// narrows the width.
ArchSpec table_base() {
  return {"base", 32,
          {{fused, 1, 3, 1, 16, 1, 0.0},
           {fused, 4, 3, 2, 32, 2, 0.0},
           {fused, 4, 3, 2, 48, 2, 0.0},
           {mb, 4, 3, 2, 96, 3, 0.25},
           {mb, 6, 3, 1, 112, 5, 0.25},
           {mb, 6, 3, 2, 192, 8, 0.25}},
          1280, 0.2, /*round_limit=*/0.0};
}

struct Variant {
  const char* name;
  const char* table;
  double width;
  double depth;
  double dropout;
};

constexpr Variant kVariants[] = {
    // name  table   width  depth  dropout
    {"b0",   "base", 1.0,   1.0,   0.2},
    {"b1",   "base", 1.0,   1.1,   0.2},
    {"b2",   "base", 1.1,   1.2,   0.3},
    {"b3",   "base", 1.2,   1.4,   0.3},
    {"s",    "s",    1.0,   1.0,   0.2},
    {"m",    "m",    1.0,   1.0,   0.3},
    {"l",    "l",    1.0,   1.0,   0.4},
    {"tiny", "s",    0.25,  0.25,  0.2},
    {"nano", "s",    0.125, 0.1,   0.2},
};

// clang-format on

}  // namespace

ArchSpec efficientnet_v2_base_table(const std::string& table) {
  if (table == "base") return table_base();
  if (table == "s") return table_s();
  if (table == "m") return table_m();
  if (table == "l") return table_l();
  throw std::invalid_argument("unknown EfficientNetV2 stage table '" + table + "'; known: base, s, m, l");
}

std::vector<std::string> efficientnet_v2_arch_names() {
  std::vector<std::string> names;
  for (const auto& v : kVariants) names.emplace_back(v.name);
  return names;
}

ArchSpec efficientnet_v2_arch(const std::string& name, std::optional<double> width_multiplier,
                              std::optional<double> depth_multiplier) {
  for (const auto& v : kVariants) {
    if (name != v.name) continue;
    ArchSpec arch = scale_arch(efficientnet_v2_base_table(v.table), width_multiplier.value_or(v.width),
                               depth_multiplier.value_or(v.depth));
    arch.name = v.name;
    arch.dropout = v.dropout;
    return arch;
  }
  std::string known;
  for (const auto& v : kVariants) known += std::string(known.empty() ? "" : ", ") + v.name;
  throw std::invalid_argument("unknown EfficientNetV2 architecture '" + name + "'; known: " + known);
}

int round_channels(double channels, double multiplier, double round_limit, int divisor) {
  const double scaled = channels * multiplier;
  int rounded = std::max(divisor, static_cast<int>(scaled + divisor / 2.0) / divisor * divisor);
  if (rounded < round_limit * scaled) rounded += divisor;
  return rounded;
}

int round_repeats(int repeats, double multiplier) { return static_cast<int>(std::ceil(repeats * multiplier)); }

ArchSpec scale_arch(const ArchSpec& base, double width_multiplier, double depth_multiplier) {
  if (!(width_multiplier > 0.0) || !(depth_multiplier > 0.0)) {
    throw std::invalid_argument("EfficientNetV2 width and depth multipliers must be positive (got width " +
                                std::to_string(width_multiplier) + ", depth " + std::to_string(depth_multiplier) + ")");
  }
  ArchSpec scaled = base;
  scaled.stem_channels = round_channels(base.stem_channels, width_multiplier, base.round_limit);
  scaled.head_channels = round_channels(base.head_channels, width_multiplier, base.round_limit);
  for (auto& stage : scaled.stages) {
    stage.channels = round_channels(stage.channels, width_multiplier, base.round_limit);
    stage.repeats = round_repeats(stage.repeats, depth_multiplier);
  }
  return scaled;
}

}  // namespace semiflow
