#pragma once
// EfficientNetV2 described as data: one row per stage, as timm's builder strings describe them
// ('er_r4_k3_s2_e4_c48', 'ir_r15_k3_s2_e6_c256_se0.25'). Variants differ only in the table and
// in width/depth multipliers, never in code. Plain C++ (no libtorch) so the CLI can list and
// describe architectures without compiling torch headers.
#include <optional>
#include <string>
#include <vector>

namespace semiflow {

enum class BlockType {
  fused_mbconv,  // k x k expansion conv, then 1x1 projection (a single k x k conv when expansion is 1)
  mbconv,        // 1x1 expansion, k x k depthwise, squeeze-excitation, 1x1 projection
};

struct StageSpec {
  BlockType block = BlockType::mbconv;
  int expansion = 1;
  int kernel = 3;
  int stride = 1;  // of the stage's first block; the others have stride 1
  int channels = 0;
  int repeats = 1;
  double se_ratio = 0.0;  // squeeze width as a fraction of the block's input channels; 0 = no SE
};

struct ArchSpec {
  std::string name;
  int stem_channels = 0;
  std::vector<StageSpec> stages;
  int head_channels = 1280;  // the 1x1 conv before pooling
  double dropout = 0.2;      // before the classifier heads, per the paper's training recipe
  // Width scaling may round a stage down to at most this fraction of its scaled width before
  // bumping it up a step. torchvision and timm's S/M/L use 0.9; timm's B0-B3 use 0 (round to
  // nearest only), which is what makes tf_efficientnetv2_b3's first stage 16 rather than 24.
  double round_limit = 0.9;
};

// Known names: b0, b1, b2, b3 (timm tf_efficientnetv2_b*), s, m, l (torchvision
// efficientnet_v2_*), tiny (S at width 0.25 / depth 0.25) and nano (S at width 0.125 / depth
// 0.1, for tests). Throws std::invalid_argument listing the known names otherwise.
// `width_multiplier`/`depth_multiplier` replace the variant's own multipliers; they apply to the
// variant's unscaled table (so `tiny` at width 0.5 is the S table at width 0.5).
ArchSpec efficientnet_v2_arch(const std::string& name, std::optional<double> width_multiplier = std::nullopt,
                              std::optional<double> depth_multiplier = std::nullopt);
std::vector<std::string> efficientnet_v2_arch_names();

// Unscaled stage tables with their native stem/head; `efficientnet_v2_arch` scales these.
ArchSpec efficientnet_v2_base_table(const std::string& table);  // "base" (B0..B3), "s", "m" or "l"

// Channel rounding shared by timm and torchvision: nearest multiple of `divisor`, at least
// `divisor`, and not below `round_limit * channels * multiplier`.
int round_channels(double channels, double multiplier, double round_limit = 0.9, int divisor = 8);

// Depth scaling: ceil(repeats * multiplier) (timm's default 'ceil' truncation).
int round_repeats(int repeats, double multiplier);

// Scales stem, stage and head widths and stage depths. Dropout is kept.
ArchSpec scale_arch(const ArchSpec& base, double width_multiplier, double depth_multiplier);

}  // namespace semiflow
