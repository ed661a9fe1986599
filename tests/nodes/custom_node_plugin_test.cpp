// The example plugin (examples/custom_node) in a real input pipeline, loaded from a config.
#include "datasets/image_codec.h"
#include "datasets/sample.h"
#include "tests/nodes/pipeline_harness.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

using namespace semiflow;
using semiflow::testing::collected;
using semiflow::testing::run_yaml;

TEST_CASE("the example brightness_filter plugin drops dark images in a decode pipeline", "[plugin]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 12, 4);  // image i has value 8 * i
  run_yaml(fmt::format("plugins: ['{}/lib/libsemiflow_example_brightness_filter.so']\n"
                       "nodes:\n  - {{name: src, type: source, manifest: unlabeled.csv, micro_batch: 5}}\n"
                       "  - {{name: dec, type: decode, input: src}}\n"
                       "  - {{name: bright, type: brightness_filter, input: dec, min_mean: 60}}\n"
                       "  - {{name: sink, type: collect, input: bright}}\n",
                       SEMIFLOW_BINARY_DIR),
           dir.path().string());
  std::vector<std::uint64_t> kept;
  for (auto& item : collected("sink"))
    for (const auto& s : item.get<Samples>()) kept.push_back(s.index);
  std::sort(kept.begin(), kept.end());
  CHECK(kept == std::vector<std::uint64_t>{8, 9, 10, 11});  // values 64..88 pass, 0..56 are dropped
}
