// `augment`: applies a list of image transforms to every sample, each with its own seeded
// random stream so a run is reproducible whatever the thread scheduling.
#include "datasets/sample.h"
#include "datasets/transforms.h"
#include "graph/node.h"

#include <fmt/format.h>

#include <map>
#include <optional>
#include <sstream>

namespace semiflow::nodes {
namespace {

using namespace semiflow::graph;

std::vector<TransformSpec> parse_ops(const std::vector<std::string>& ops) {
  std::vector<TransformSpec> specs;
  for (const auto& op : ops) specs.push_back(TransformSpec::parse(op));
  return specs;
}

class Augment : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("augment")
        .doc("Transforms each image: resize, crops, flips, RandAugment, Cutout (see docs for every op).")
        .input("in", "samples")
        .output("out", "samples")
        .param("ops", std::vector<std::string>{},
               "transforms in order, each 'op key=value ...', e.g. [random_resized_crop size=32, hflip p=0.5, rand_augment n=2 m=9]")
        .param("seed", 0, "run seed; each image's randomness depends on (seed, epoch, manifest row) only")
        .param("stage_epochs", std::vector<double>{},
               "progressive learning: first epoch of each stage after the first, e.g. [10, 20, 30]")
        .param("stage_overrides", std::vector<std::string>{},
               "per stage (one more than stage_epochs), 'op.param=value ...', e.g. 'random_resized_crop.size=24 rand_augment.m=7'")
        .param("strong_ops", std::vector<std::string>{},
               "transforms of the strong view of two-view samples (two_view_source) instead of ops; no stages")
        .parallel("each image is transformed independently with its own random stream");
  }

  explicit Augment(const Params& params) : seed_(static_cast<std::uint64_t>(params.get_int("seed"))) {
    if (!params.get_strings("strong_ops").empty()) strong_.emplace(parse_ops(params.get_strings("strong_ops")));
    const TransformPipeline base(parse_ops(params.get_strings("ops")));
    const auto& overrides = params.get_strings("stage_overrides");
    const auto& starts = params.get_numbers("stage_epochs");
    if (overrides.empty() && starts.empty()) {
      stages_.push_back(base);
      return;
    }
    if (overrides.size() != starts.size() + 1)
      throw std::invalid_argument(fmt::format("stage_overrides needs one entry per stage: {} stage_epochs give {} stages, got {}",
                                              starts.size(), starts.size() + 1, overrides.size()));
    for (std::size_t i = 0; i < starts.size(); ++i) {
      if (i > 0 && starts[i] <= starts[i - 1]) throw std::invalid_argument("stage_epochs must increase");
      stage_starts_.push_back(static_cast<std::int64_t>(starts[i]));
    }
    for (const auto& text : overrides) stages_.push_back(base.with_overrides(parse_overrides(text)));
  }

  void process(Inputs& in, Emitter& out) override {
    thread_local Image scratch;
    for (auto& sample : in[0].get<Samples>()) {
      Rng rng = Rng::for_item(seed_, static_cast<std::uint64_t>(sample.epoch), sample.index);
      const TransformPipeline& pipeline = strong_ && sample.view == kStrongView ? *strong_ : stage_of(sample.epoch);
      pipeline.apply(sample.image, scratch, rng);
    }
    out.emit(std::move(in[0]));
  }

 private:
  // "rand_augment.m=7 random_resized_crop.size=24" -> {rand_augment.m: 7, random_resized_crop.size: 24}
  static std::map<std::string, std::string> parse_overrides(const std::string& text) {
    std::map<std::string, std::string> overrides;
    std::istringstream words(text);
    std::string word;
    while (words >> word) {
      const auto eq = word.find('=');
      if (eq == std::string::npos || word.find('.') > eq)
        throw std::invalid_argument(fmt::format("stage override '{}': write op.param=value", word));
      overrides[word.substr(0, eq)] = word.substr(eq + 1);
    }
    return overrides;
  }

  const TransformPipeline& stage_of(std::int64_t epoch) const {
    std::size_t stage = 0;
    while (stage < stage_starts_.size() && epoch >= stage_starts_[stage]) ++stage;
    return stages_[stage];
  }

  std::uint64_t seed_;
  std::vector<std::int64_t> stage_starts_;
  std::vector<TransformPipeline> stages_;
  std::optional<TransformPipeline> strong_;
};

SEMIFLOW_REGISTER_NODE(Augment);

}  // namespace
}  // namespace semiflow::nodes
