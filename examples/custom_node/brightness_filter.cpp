// A complete semiflow plugin: a node that drops images darker than a threshold.
//
// Build it as a shared library linked against semiflow_graph (see CMakeLists.txt here), then
// list it in a pipeline config:
//
//   plugins: [../build/lib/libsemiflow_example_brightness_filter.so]  # relative to the config
//   nodes:
//     - {name: images, type: decode, input: files}
//     - {name: bright, type: brightness_filter, input: images, min_mean: 40}
//
// `semiflow nodes` then lists brightness_filter with its ports and parameters.
#include "datasets/image.h"
#include "graph/node.h"

#include <cstdint>
#include <numeric>

namespace {

using semiflow::Image;
using namespace semiflow::graph;

class BrightnessFilter : public Node {
 public:
  // The schema is the node's whole contract: config validation, `semiflow nodes` and the
  // scheduler all read it.
  static NodeSchema schema() {
    return NodeSchema("brightness_filter")
        .doc("Drops images whose mean pixel value (all channels) is below min_mean.")
        .input("in", "image")
        .output("out", "image")
        .param("min_mean", 40.0, "darkest mean pixel value (0-255) that is kept")
        .parallel("each image is judged on its own and the node keeps no state");
  }

  explicit BrightnessFilter(const Params& params) : min_mean_(params.get_float("min_mean")) {}

  // Called from several threads at once (the schema says parallel): only reads member state.
  void process(Inputs& in, Emitter& out) override {
    const Image& image = in[0].get<Image>();
    if (image.empty()) return;
    const std::uint64_t sum = std::accumulate(image.pixels.begin(), image.pixels.end(), std::uint64_t{0});
    const double mean = static_cast<double>(sum) / static_cast<double>(image.pixels.size());
    if (mean >= min_mean_) out.emit(std::move(in[0]));  // emitting nothing drops the image
  }

 private:
  double min_mean_;
};

}  // namespace

SEMIFLOW_REGISTER_NODE(BrightnessFilter);
