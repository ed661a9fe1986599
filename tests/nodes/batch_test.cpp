#include "nodes/batch.h"

#include "datasets/image_codec.h"

#include "tests/nodes/pipeline_harness.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include <set>

using namespace semiflow;
using semiflow::testing::collected;
using semiflow::testing::run_yaml;

namespace {
std::string batch_yaml(const std::string& batch_params, int epochs = 1) {
  return fmt::format("nodes:\n  - {{name: src, type: source, manifest: labeled.csv, hierarchy: hierarchy.yaml, shuffle: false, epochs: {}, micro_batch: 3}}\n"
                     "  - {{name: dec, type: decode, input: src}}\n"
                     "  - {{name: bat, type: batch, input: dec, {}}}\n  - {{name: sink, type: collect, input: bat}}\n",
                     epochs, batch_params);
}
}  // namespace

TEST_CASE("batch collates NCHW floats with per-level labels, -1 kept", "[batch]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 10, 5, {2});
  run_yaml(batch_yaml("batch_size: 4, mean: [0, 0, 0], std: [1, 1, 1]"), dir.path().string());
  auto& items = collected("sink");
  REQUIRE(items.size() == 3);  // 4 + 4 + 2
  const auto& first = items[0].get<Batch>();
  CHECK(first.images.sizes() == torch::IntArrayRef({4, 3, 5, 5}));
  CHECK(first.images[1][2][0][0].item<float>() == Approx(8.0 / 255).margin(1.5 / 255));
  REQUIRE(first.labels.size() == 2);
  CHECK(first.labels[1].equal(torch::tensor({0, 1, -1, 3}, torch::kInt64)));  // row 2's fine label is unknown
  CHECK(first.labels[0].equal(torch::tensor({0, 0, -1, 1}, torch::kInt64)));
  CHECK(first.indices == std::vector<std::int64_t>{0, 1, 2, 3});
  CHECK(first.soft_targets.empty());
  CHECK(items[2].get<Batch>().size() == 2);
}

TEST_CASE("batch normalizes with mean and std", "[batch]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 2, 4);
  run_yaml(batch_yaml("batch_size: 2, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]"), dir.path().string());
  const auto batch = collected("sink")[0].get<Batch>();
  CHECK(batch.images[0][0][0][0].item<float>() == Approx((0.0 - 0.5) / 0.25).margin(0.03));
}

TEST_CASE("batch never mixes epochs; drop_last drops each epoch's remainder", "[batch]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 5, 4);
  run_yaml(batch_yaml("batch_size: 2", 2), dir.path().string());
  std::vector<std::int64_t> sizes, epochs;
  for (auto& item : collected("sink")) {
    sizes.push_back(item.get<Batch>().size());
    epochs.push_back(item.get<Batch>().epoch);
  }
  CHECK(sizes == std::vector<std::int64_t>{2, 2, 1, 2, 2, 1});
  CHECK(epochs == std::vector<std::int64_t>{0, 0, 0, 1, 1, 1});
  run_yaml(batch_yaml("batch_size: 2, drop_last: true", 2), dir.path().string());
  CHECK(collected("sink").size() == 4);
}

TEST_CASE("batch refuses images of different sizes, naming the file", "[batch]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 3, 4);
  std::vector<std::uint8_t> big = encode_jpeg(Image(6, 6, 3));
  write_file_bytes(dir.file("img001.jpg"), big);
  CHECK_THROWS_WITH(run_yaml(batch_yaml("batch_size: 3"), dir.path().string()),
                    Catch::Matchers::Contains("img001.jpg: image is 6x6 but the batch is 4x4"));
}

TEST_CASE("batches still in use keep their own pixels (image buffers are reused only once freed)", "[batch]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 12, 4);
  run_yaml(batch_yaml("batch_size: 2, mean: [0, 0, 0], std: [1, 1, 1]", 2), dir.path().string());
  auto& items = collected("sink");  // every batch is alive here
  REQUIRE(items.size() == 12);
  std::set<const void*> buffers;
  for (auto& item : items) {
    const auto& batch = item.get<Batch>();
    buffers.insert(batch.images.data_ptr());
    for (std::int64_t i = 0; i < batch.size(); ++i)
      CHECK(batch.images[i][0][0][0].item<float>() == Approx(8.0 * batch.indices[i] / 255).margin(1.5 / 255));
  }
  CHECK(buffers.size() == items.size());
}
