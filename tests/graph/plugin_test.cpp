// The example plugin (examples/custom_node) loads from a config and runs; a plugin built against
// another ABI is refused.
#include "datasets/sample.h"
#include "graph/config.h"
#include "graph/node.h"
#include "graph/plugin.h"
#include "graph/registry.h"
#include "graph/runtime.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <mutex>
#include <string>
#include <vector>

namespace {

using namespace semiflow::graph;

const std::string kPluginDir = std::string(SEMIFLOW_BINARY_DIR) + "/lib/";

std::mutex kept_mutex;
std::vector<std::string> kept;

// Micro-batches of one uniform grey image each: level 10 * i for i in 0..count-1.
class GreySource : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("plg_grey").doc("Uniform grey images, brighter each time.").output("out", "samples")
        .param("count", 10, "images").serial("a counter");
  }
  explicit GreySource(const Params& p) : count_(p.get_int("count")) {}
  bool generate(Emitter& out) override {
    if (next_ == count_) return false;
    semiflow::Sample sample;
    sample.image = semiflow::Image(4, 3, 3);
    std::fill(sample.image.pixels.begin(), sample.image.pixels.end(), static_cast<std::uint8_t>(10 * next_));
    out.emit(semiflow::Samples{std::move(sample)}, fmt::format("grey-{}", next_++));
    return true;
  }

 private:
  std::int64_t count_, next_ = 0;
};

class KeepOrigins : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("plg_keep").doc("Records origins.").input("in", "samples").serial("records order");
  }
  explicit KeepOrigins(const Params&) {}
  void process(Inputs& in, Emitter&) override {
    std::lock_guard lock(kept_mutex);
    kept.push_back(in[0].origin);
  }
};

}  // namespace

SEMIFLOW_REGISTER_NODE(GreySource);
SEMIFLOW_REGISTER_NODE(KeepOrigins);

TEST_CASE("a plugin listed in a config is loaded, described and run", "[plugin]") {
  const auto config = parse_pipeline_config(fmt::format(R"(
plugins: [{}libsemiflow_example_brightness_filter.so]
threads: {{graph: 2}}
nodes:
  - {{name: grey, type: plg_grey, count: 10}}
  - {{name: bright, type: brightness_filter, input: grey, min_mean: 45}}
  - {{name: keep, type: plg_keep, input: bright}}
)", kPluginDir), "/tmp/p.yaml");
  const NodeType& type = Registry::instance().get("brightness_filter");
  CHECK_THAT(type.origin, Catch::Contains("libsemiflow_example_brightness_filter.so"));
  CHECK_THAT(type.schema.describe(), Catch::Contains("param   min_mean (float) = 40"));
  kept.clear();
  run_pipeline(config);
  CHECK(kept == std::vector<std::string>{"grey-5", "grey-6", "grey-7", "grey-8", "grey-9"});
}

TEST_CASE("a plugin built against another ABI version is refused with both versions named", "[plugin]") {
  const std::string path = kPluginDir + "libsemiflow_example_wrong_abi.so";
  CHECK_THROWS_WITH(load_plugin(path), Catch::Contains("plugin " + path) &&
                                           Catch::Contains(fmt::format("built against semiflow graph ABI 999, but this "
                                                                       "semiflow has ABI {}; rebuild the plugin",
                                                                       SEMIFLOW_GRAPH_ABI_VERSION)));
  CHECK(Registry::instance().take_errors().empty());  // its refused registrations leave nothing behind
}

TEST_CASE("a library that is not a semiflow plugin is refused", "[plugin]") {
  CHECK_THROWS_WITH(load_plugin("/definitely/missing.so"), Catch::Contains("no such file"));
  // libm has no semiflow_graph_abi_version of its own, and dlsym on its handle must not find ours.
  CHECK_THROWS_WITH(load_plugin("/lib/x86_64-linux-gnu/libm.so.6"), Catch::Contains("not a semiflow plugin"));
}
