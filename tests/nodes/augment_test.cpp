#include "datasets/sample.h"
#include "tests/nodes/pipeline_harness.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <tbb/global_control.h>

#include <map>

using namespace semiflow;
using Catch::Matchers::Contains;
using semiflow::testing::collected;
using semiflow::testing::run_yaml;

namespace {

std::map<std::uint64_t, std::vector<std::uint8_t>> augmented_pixels(const std::string& dir, int threads, int seed) {
  run_yaml(fmt::format("threads: {{graph: {}}}\nnodes:\n"
                       "  - {{name: src, type: source, manifest: unlabeled.csv, epochs: 2, micro_batch: 3}}\n"
                       "  - {{name: dec, type: decode, input: src}}\n"
                       "  - {{name: aug, type: augment, input: dec, seed: {},\n"
                       "     ops: [random_resized_crop size=12, hflip p=0.5, rand_augment n=2 m=9, cutout size=4]}}\n"
                       "  - {{name: sink, type: collect, input: aug}}\n",
                       threads, seed),
           dir);
  std::map<std::uint64_t, std::vector<std::uint8_t>> pixels;
  for (auto& item : collected("sink"))
    for (const auto& s : item.get<Samples>()) {
      REQUIRE(s.image.width == 12);
      REQUIRE(s.image.height == 12);
      pixels[s.index * 10 + static_cast<std::uint64_t>(s.epoch)] = s.image.pixels;
    }
  return pixels;
}

}  // namespace

TEST_CASE("augment is reproducible under any thread count and depends on the seed", "[augment]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 12, 20);
  const auto one_thread = augmented_pixels(dir.path().string(), 1, 5);
  REQUIRE(one_thread.size() == 24);
  CHECK(augmented_pixels(dir.path().string(), 2, 5) == one_thread);
  CHECK(augmented_pixels(dir.path().string(), 2, 6) != one_thread);
}

TEST_CASE("augment op errors name the op", "[augment]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 2, 8);
  auto run_ops = [&](const std::string& ops) {
    run_yaml("nodes:\n  - {name: src, type: source, manifest: unlabeled.csv}\n  - {name: dec, type: decode, input: src}\n"
             "  - {name: aug, type: augment, input: dec, ops: [" + ops + "]}\n  - {name: sink, type: collect, input: aug}\n",
             dir.path().string());
  };
  CHECK_THROWS_WITH(run_ops("sparkle"), Contains("sparkle") && Contains("rand_augment"));
  CHECK_THROWS_WITH(run_ops("hflip p"), Contains("key=value"));
}

TEST_CASE("augment switches image size and magnitude per progressive-learning stage", "[augment]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 4, 20);
  run_yaml("nodes:\n  - {name: src, type: source, manifest: unlabeled.csv, epochs: 3}\n  - {name: dec, type: decode, input: src}\n"
           "  - {name: aug, type: augment, input: dec, ops: [random_resized_crop size=16, rand_augment n=1 m=5],\n"
           "     stage_epochs: [1, 2], stage_overrides: ['', random_resized_crop.size=8 rand_augment.m=7, random_resized_crop.size=12]}\n"
           "  - {name: sink, type: collect, input: aug}\n",
           dir.path().string());
  std::map<std::int64_t, int> size_by_epoch;
  for (auto& item : collected("sink"))
    for (const auto& s : item.get<Samples>()) size_by_epoch[s.epoch] = s.image.width;
  CHECK(size_by_epoch == std::map<std::int64_t, int>{{0, 16}, {1, 8}, {2, 12}});
  CHECK_THROWS_WITH(run_yaml("nodes:\n  - {name: src, type: source, manifest: unlabeled.csv}\n  - {name: dec, type: decode, input: src}\n"
                             "  - {name: aug, type: augment, input: dec, ops: [hflip], stage_epochs: [1], stage_overrides: ['']}\n"
                             "  - {name: sink, type: collect, input: aug}\n",
                             dir.path().string()),
                    Contains("give one per stage"));
}
