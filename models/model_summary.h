#pragma once
// Size and cost of a model for reports and the CLI; the header needs no tensor headers.
#include "models/efficientnet_v2_options.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace semiflow {

struct ModelSummary {
  std::string arch;
  std::vector<std::int64_t> classes_per_level;
  std::int64_t image_size = 0;
  std::int64_t params = 0;
  std::int64_t macs = 0;  // per image, convolutions and linear layers (see models/macs.h)
  std::vector<std::pair<std::string, std::int64_t>> macs_by_module;  // forward order
  struct Stage {
    std::string module;
    std::int64_t channels = 0;
    std::int64_t reduction = 0;
    int blocks = 0;  // 0 for the stem and the head conv
  };
  std::vector<Stage> features;
  std::vector<std::int64_t> head_taps;  // feature index per level
};

// Builds the model on the CPU (parameters are allocated, nothing runs) and measures it at a
// square `image_size`.
ModelSummary summarize_model(const EfficientNetV2Options& options, std::int64_t image_size);

}  // namespace semiflow
