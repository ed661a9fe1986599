// `augment`: applies a list of image transforms to every sample, each with its own seeded
// random stream so a run is reproducible whatever the thread scheduling.
#include "datasets/sample.h"
#include "datasets/transforms.h"
#include "graph/node.h"

#include <fmt/format.h>

#include <sstream>

namespace semiflow::nodes {
namespace {

using namespace semiflow::graph;

// "rand_augment n=2 m=9" -> {op: rand_augment, params: {n: 2, m: 9}}
TransformSpec parse_op(const std::string& text) {
  std::istringstream words(text);
  TransformSpec spec;
  words >> spec.op;
  std::string word;
  while (words >> word) {
    const auto eq = word.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == word.size())
      throw std::invalid_argument(fmt::format("op '{}': write parameters as key=value (got '{}')", text, word));
    spec.params[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return spec;
}

std::vector<TransformSpec> parse_ops(const std::vector<std::string>& ops) {
  std::vector<TransformSpec> specs;
  for (const auto& op : ops) specs.push_back(parse_op(op));
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
        .parallel("each image is transformed independently with its own random stream");
  }

  explicit Augment(const Params& params)
      : pipeline_(parse_ops(params.get_strings("ops"))), seed_(static_cast<std::uint64_t>(params.get_int("seed"))) {}

  void process(Inputs& in, Emitter& out) override {
    thread_local Image scratch;
    for (auto& sample : in[0].get<Samples>()) {
      Rng rng = Rng::for_item(seed_, static_cast<std::uint64_t>(sample.epoch), sample.index);
      pipeline_.apply(sample.image, scratch, rng);
    }
    out.emit(std::move(in[0]));
  }

 private:
  TransformPipeline pipeline_;
  std::uint64_t seed_;
};

SEMIFLOW_REGISTER_NODE(Augment);

}  // namespace
}  // namespace semiflow::nodes
