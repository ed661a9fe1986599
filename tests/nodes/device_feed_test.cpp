#include "nodes/device_feed.h"

#include <catch2/catch.hpp>
#include <torch/cuda.h>
#include <torch/torch.h>

using namespace semiflow;

namespace {

// A batch as the `batch` node writes it: images, two levels of labels and one of soft targets,
// in pinned host memory or not.
Batch host_batch(std::int64_t n, bool pinned, std::uint64_t seed) {
  torch::manual_seed(seed);
  const auto options = [&](torch::ScalarType type) { return torch::dtype(type).pinned_memory(pinned); };
  Batch batch;
  batch.images = torch::empty({n, 3, 32, 32}, options(torch::kFloat32)).normal_();
  batch.labels = {torch::empty({n}, options(torch::kInt64)).random_(2), torch::empty({n}, options(torch::kInt64)).random_(10)};
  batch.soft_targets = {torch::empty({n, 10}, options(torch::kFloat32)).uniform_()};
  for (std::int64_t i = 0; i < n; ++i) batch.paths.push_back("img" + std::to_string(seed) + "_" + std::to_string(i) + ".jpg");
  return batch;
}

}  // namespace

TEST_CASE("DeviceFeed on the CPU hands the batch itself through", "[device_feed]") {
  const Batch batch = host_batch(4, false, 0);
  DeviceFeed feed(torch::kCPU);
  CHECK(&feed.to_device(batch) == &batch);
}

// Hidden ([.cuda]): run on a GPU machine with `tests_nodes "[cuda]"` (scripts/device/run_kit.sh).
TEST_CASE("DeviceFeed on CUDA: each batch arrives whole, also while the GPU still reads the previous one", "[.cuda]") {
  REQUIRE(torch::cuda::is_available());
  REQUIRE(pinned_memory_available());
  const torch::Device cuda(torch::kCUDA, 0);
  DeviceFeed feed(cuda);
  // The compute stream is kept busy before it reads each batch, so the next batch's copy (on the
  // copy stream) runs while the previous batch is still unread: without the event and
  // record_stream, the allocator could hand the previous batch's memory to the next copy.
  const auto busy = torch::randn({4096, 4096}, torch::TensorOptions().device(cuda));
  std::vector<Batch> sent;
  std::vector<std::vector<torch::Tensor>> read;
  for (int i = 0; i < 8; ++i) {
    sent.push_back(host_batch(256, /*pinned=*/i % 2 == 0, i));
    const Batch& on_device = feed.to_device(sent.back());
    REQUIRE(on_device.images.device() == cuda);
    CHECK(on_device.paths == sent.back().paths);
    auto delay = busy;
    for (int k = 0; k < 8; ++k) delay = delay.matmul(busy).div_(64.0);
    std::vector<torch::Tensor> copies{on_device.images.clone()};
    for (const auto& labels : on_device.labels) copies.push_back(labels.clone());
    for (const auto& targets : on_device.soft_targets) copies.push_back(targets.clone());
    read.push_back(std::move(copies));
  }
  torch::cuda::synchronize();
  for (std::size_t i = 0; i < sent.size(); ++i) {
    INFO("batch " << i);
    CHECK(torch::equal(read[i][0].cpu(), sent[i].images));
    CHECK(torch::equal(read[i][1].cpu(), sent[i].labels[0]));
    CHECK(torch::equal(read[i][2].cpu(), sent[i].labels[1]));
    CHECK(torch::equal(read[i][3].cpu(), sent[i].soft_targets[0]));
  }
}
