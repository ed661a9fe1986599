// A complete semiflow plugin: a node that drops images darker than a threshold.
//
// Build it as a shared library linked against semiflow_graph (see CMakeLists.txt here), then
// list it in a pipeline config:
//
//   plugins: [../build/lib/libsemiflow_example_brightness_filter.so]  # relative to the config
//   nodes:
//     - {name: images, type: decode, input: files}          # emits "samples"
//     - {name: bright, type: brightness_filter, input: images, min_mean: 40}
//
// `semiflow nodes` then lists brightness_filter with its ports and parameters.
#include "datasets/sample.h"
#include "graph/node.h"

#include <algorithm>
#include <cstdint>
#include <numeric>

namespace {

using semiflow::Image;
using semiflow::Samples;
using namespace semiflow::graph;

double mean_pixel(const Image& image) {
  const std::uint64_t sum = std::accumulate(image.pixels.begin(), image.pixels.end(), std::uint64_t{0});
  return static_cast<double>(sum) / static_cast<double>(image.pixels.size());
}

class BrightnessFilter : public Node {
 public:
  // The schema is the node's whole contract: config validation, `semiflow nodes` and the
  // scheduler all read it. "samples" items are micro-batches of decoded images (datasets/sample.h).
  static NodeSchema schema() {
    return NodeSchema("brightness_filter")
        .doc("Drops images whose mean pixel value (all channels) is below min_mean.")
        .input("in", "samples")
        .output("out", "samples")
        .param("min_mean", 40.0, "darkest mean pixel value (0-255) that is kept")
        .parallel("each image is judged on its own and the node keeps no state");
  }

  explicit BrightnessFilter(const Params& params) : min_mean_(params.get_float("min_mean")) {}

  // Called from several threads at once (the schema says parallel): only reads member state.
  void process(Inputs& in, Emitter& out) override {
    auto& samples = in[0].get<Samples>();
    samples.erase(std::remove_if(samples.begin(), samples.end(),
                                 [&](const semiflow::Sample& s) { return s.image.empty() || mean_pixel(s.image) < min_mean_; }),
                  samples.end());
    if (!samples.empty()) out.emit(std::move(in[0]));  // emitting nothing drops the item
  }

 private:
  double min_mean_;
};

}  // namespace

SEMIFLOW_REGISTER_NODE(BrightnessFilter);
