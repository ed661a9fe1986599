#pragma once
// Progressive learning's stages by epoch (EfficientNetV2): stage 0 starts at epoch 0 and stage k
// at the k-th entry of `stage_epochs`, the parameter every staged node (augment, mix) shares.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace semiflow::nodes {

class StageSchedule {
 public:
  explicit StageSchedule(const std::vector<double>& stage_epochs) {
    for (std::size_t i = 0; i < stage_epochs.size(); ++i) {
      if (stage_epochs[i] < 1 || (i > 0 && stage_epochs[i] <= stage_epochs[i - 1]))
        throw std::invalid_argument("stage_epochs must be positive and increasing");
      starts_.push_back(static_cast<std::int64_t>(stage_epochs[i]));
    }
  }

  std::size_t stages() const { return starts_.size() + 1; }

  std::size_t stage_of(std::int64_t epoch) const {
    std::size_t stage = 0;
    while (stage < starts_.size() && epoch >= starts_[stage]) ++stage;
    return stage;
  }

  // A per-stage parameter list gives every stage a value.
  void require_per_stage(std::size_t given, const std::string& param) const {
    if (given != stages())
      throw std::invalid_argument(param + " needs one entry per stage: " + std::to_string(starts_.size()) +
                                  " stage_epochs give " + std::to_string(stages()) + " stages, got " +
                                  std::to_string(given));
  }

 private:
  std::vector<std::int64_t> starts_;
};

}  // namespace semiflow::nodes
