// `augment`: applies a list of image transforms to every sample, each with its own seeded
// random stream so a run is reproducible whatever the thread scheduling.
#include "datasets/sample.h"
#include "datasets/transforms.h"
#include "graph/node.h"
#include "nodes/stream_facts.h"
#include "nodes/stage_schedule.h"

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
               "progressive learning: first epoch of each stage after the first, e.g. [10, 20, 30] (as mix's)")
        .param("stage_overrides", std::vector<std::string>{},
               "per stage (one more than stage_epochs), 'op.param=value ...', e.g. 'random_resized_crop.size=24 rand_augment.m=7'")
        .param("strong_ops", std::vector<std::string>{},
               "transforms of the strong view of two-view samples (two_view_source) instead of ops; no stages")
        .check([](const Params& p, const std::vector<StreamFacts>&, Diagnostics& out) {
          facts::check_ops(p, "ops", out);
          facts::check_ops(p, "strong_ops", out);
          const auto stages = p.get_numbers("stage_epochs").size() + 1;
          if (!p.get_strings("stage_overrides").empty() && p.get_strings("stage_overrides").size() != stages)
            out.error("stage_overrides", fmt::format("stage_overrides has {} entries but stage_epochs makes {} stages; give one per stage",
                                                     p.get_strings("stage_overrides").size(), stages));
        })
        // The images' side, when the last op that sizes them makes them square (or sets the
        // shorter side) and no progressive stage changes it.
        .stream([](const Params& p, const std::vector<StreamFacts>& in, Diagnostics&) {
          StreamFacts stream = in[0];
          for (const auto& stage : p.get_strings("stage_overrides"))
            if (stage.find(".size=") != std::string::npos || stage.find(".width=") != std::string::npos) return stream;
          std::optional<std::int64_t> side;
          for (const auto& text : p.get_strings("ops")) {
            const TransformSpec spec = TransformSpec::parse(text);
            const auto param = [&](const char* key) -> std::optional<std::int64_t> {
              const auto found = spec.params.find(key);
              if (found == spec.params.end()) return std::nullopt;
              return std::stoll(found->second);
            };
            if (const auto size = param("size")) side = size;
            else if (param("width") || param("height")) side = param("width") == param("height") ? param("width") : std::nullopt;
          }
          if (side) stream[facts::kImageSize] = facts::stated(p, "ops", *side);
          return stream;
        })
        .parallel("each image is transformed independently with its own random stream");
  }

  explicit Augment(const Params& params)
      : seed_(static_cast<std::uint64_t>(params.get_int("seed"))), schedule_(params.get_numbers("stage_epochs")) {
    if (!params.get_strings("strong_ops").empty()) strong_.emplace(parse_ops(params.get_strings("strong_ops")));
    const TransformPipeline base(parse_ops(params.get_strings("ops")));
    const auto& overrides = params.get_strings("stage_overrides");
    if (overrides.empty() && schedule_.stages() == 1) {
      stages_.push_back(base);
      return;
    }
    schedule_.require_per_stage(overrides.size(), "stage_overrides");
    for (const auto& text : overrides) stages_.push_back(base.with_overrides(parse_overrides(text)));
  }

  void process(Inputs& in, Emitter& out) override {
    thread_local Image scratch;
    for (auto& sample : in[0].get<Samples>()) {
      Rng rng = Rng::for_item(seed_, static_cast<std::uint64_t>(sample.epoch), sample.index);
      const TransformPipeline& pipeline = strong_ && sample.view == kStrongView ? *strong_ : stages_[schedule_.stage_of(sample.epoch)];
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

  std::uint64_t seed_;
  StageSchedule schedule_;
  std::vector<TransformPipeline> stages_;
  std::optional<TransformPipeline> strong_;
};

SEMIFLOW_REGISTER_NODE(Augment);

}  // namespace
}  // namespace semiflow::nodes
