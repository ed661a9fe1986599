#include "datasets/sample.h"
#include "graph/runtime.h"
#include "tests/nodes/pipeline_harness.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>

using namespace semiflow;
using Catch::Matchers::Contains;
using semiflow::testing::collected;
using semiflow::testing::run_yaml;

namespace {
std::string decode_yaml(const std::string& on_bad, int micro_batch = 2) {
  return "nodes:\n  - {name: src, type: source, manifest: unlabeled.csv, shuffle: false, micro_batch: " +
         std::to_string(micro_batch) + "}\n"
         "  - {name: dec, type: decode, input: src, on_bad: " + on_bad + "}\n  - {name: sink, type: collect, input: dec}\n";
}
}  // namespace

TEST_CASE("decode fills each sample's pixels", "[decode]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 5, 6);
  run_yaml(decode_yaml("fail"), dir.path().string());
  std::size_t count = 0;
  for (auto& item : collected("sink"))
    for (const auto& s : item.get<Samples>()) {
      CHECK(s.image.width == 6);
      CHECK(s.image.channels == 3);
      CHECK(std::abs(int{s.image.pixels[0]} - 8 * static_cast<int>(s.index)) <= 1);
      ++count;
    }
  CHECK(count == 5);
}

TEST_CASE("decode skips and counts bad files, or fails naming the file", "[decode]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 5, 6);
  dir.write("img001.jpg", "this is not a JPEG");
  dir.write("img002.jpg", "");
  run_yaml(decode_yaml("skip"), dir.path().string());
  std::vector<std::uint64_t> rows;
  for (auto& item : collected("sink"))
    for (const auto& s : item.get<Samples>()) rows.push_back(s.index);
  CHECK(rows == std::vector<std::uint64_t>{0, 3, 4});

  // Both bad files in one micro-batch, so the first one stops the run whatever the thread timing.
  try {
    run_yaml(decode_yaml("fail", 5), dir.path().string());
    FAIL("expected the run to stop");
  } catch (const graph::NodeFailure& failure) {
    CHECK(failure.node() == "dec");
    CHECK_THAT(failure.message(), Contains("img001.jpg: not a JPEG or PNG image"));
  }
  CHECK_THROWS_WITH(run_yaml(decode_yaml("ignore"), dir.path().string()), Contains("use 'fail' or 'skip'"));
}
