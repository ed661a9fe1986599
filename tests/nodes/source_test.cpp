#include "datasets/sample.h"
#include "tests/nodes/pipeline_harness.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <set>

using namespace semiflow;
using semiflow::testing::collected;
using semiflow::testing::run_yaml;

namespace {

// Manifest row indices per epoch, in emitted order.
std::vector<std::vector<std::uint64_t>> rows_by_epoch(const std::string& node) {
  std::vector<std::vector<std::uint64_t>> epochs;
  for (auto& item : collected(node))
    for (const auto& s : item.get<Samples>()) {
      if (static_cast<std::size_t>(s.epoch) >= epochs.size()) epochs.resize(s.epoch + 1);
      epochs[s.epoch].push_back(s.index);
    }
  return epochs;
}

std::string source_yaml(const std::string& params) {
  return "nodes:\n  - {name: src, type: source, manifest: labeled.csv, hierarchy: hierarchy.yaml, " + params +
         "}\n  - {name: sink, type: collect, input: src}\n";
}

}  // namespace

TEST_CASE("source emits every row once per epoch, reshuffled per epoch, reproducibly", "[source]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 10, 4);
  run_yaml(source_yaml("epochs: 3, micro_batch: 4, seed: 7"), dir.path().string());
  const auto epochs = rows_by_epoch("sink");
  REQUIRE(epochs.size() == 3);
  for (const auto& rows : epochs) CHECK(std::set<std::uint64_t>(rows.begin(), rows.end()).size() == 10);
  CHECK(epochs[0] != epochs[1]);
  CHECK(collected("sink").size() == 9);  // 4 + 4 + 2 per epoch
  CHECK(collected("sink")[0].get<Samples>()[0].labels.size() == 2);

  run_yaml(source_yaml("epochs: 3, micro_batch: 4, seed: 7"), dir.path().string());
  CHECK(rows_by_epoch("sink") == epochs);
  run_yaml(source_yaml("epochs: 1, micro_batch: 4, seed: 8"), dir.path().string());
  CHECK(rows_by_epoch("sink")[0] != epochs[0]);
  run_yaml(source_yaml("epochs: 1, shuffle: false"), dir.path().string());
  CHECK(rows_by_epoch("sink")[0] == std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("source with epochs 0 repeats until stopped", "[source]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 3, 4);
  std::atomic<bool> stop{false};
  graph::RunOptions options;
  options.stop_requested = &stop;
  options.progress_period = std::chrono::milliseconds(20);
  options.on_progress = [&](const graph::GraphSnapshot& snapshot) {
    if (snapshot.nodes.front().items_out >= 10) stop = true;
  };
  const auto config = graph::parse_pipeline_config(
      "nodes:\n  - {name: src, type: source, manifest: unlabeled.csv, epochs: 0, micro_batch: 1}\n"
      "  - {name: sink, type: collect, input: src}\n",
      dir.file("pipeline.yaml"));
  const auto result = graph::run_pipeline(config, options);
  CHECK(result.cancelled);
  CHECK(result.stats.nodes.front().items_out >= 10);  // more than the 3 rows: it went round again
}

TEST_CASE("source parameter errors are clear", "[source]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 3, 4);
  CHECK_THROWS_WITH(run_yaml("nodes:\n  - {name: src, type: source, manifest: missing.csv}\n  - {name: sink, type: collect, input: src}\n",
                             dir.path().string()),
                    Catch::Matchers::Contains("pipeline.yaml:2: node 'src': manifest 'missing.csv' does not exist"));
}
