#include "nodes/batch.h"

#include "tests/nodes/pipeline_harness.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <map>
#include <torch/torch.h>

using namespace semiflow;
using semiflow::testing::collected;
using semiflow::testing::run_yaml;

namespace {

const Batch& mixed_batch(const std::string& dir, const std::string& mix_params) {
  run_yaml(fmt::format("nodes:\n  - {{name: src, type: source, manifest: labeled.csv, hierarchy: hierarchy.yaml, shuffle: false}}\n"
                       "  - {{name: dec, type: decode, input: src}}\n"
                       "  - {{name: bat, type: batch, input: dec, batch_size: 4, mean: [0, 0, 0], std: [1, 1, 1]}}\n"
                       "  - {{name: mix, type: mix, input: bat, hierarchy: hierarchy.yaml, {}}}\n"
                       "  - {{name: sink, type: collect, input: mix}}\n",
                       mix_params),
           dir);
  return collected("sink").at(0).get<Batch>();
}

}  // namespace

TEST_CASE("MixUp mixes pixels and every level's targets with one weight; -1 on either side gives no target", "[mix]") {
  semiflow::testing::TempDir dir;
  // Rows 0..3 have fine labels a1, a2, (unknown), b2 and pixel values 0, 8, 16, 24.
  semiflow::testing::write_tiny_dataset(dir.path().string(), 4, 4, {2});
  const Batch batch = mixed_batch(dir.path().string(), "mixup_alpha: 0.4, seed: 3");
  REQUIRE(batch.soft_targets.size() == 2);
  // Image 0 is paired with image 3: pixel = lam * 0 + (1 - lam) * 24 / 255.
  const double lam = 1.0 - batch.images[0][0][0][0].item<float>() / (24.0 / 255);
  REQUIRE(lam > 0.0);
  REQUIRE(lam < 1.0);
  const auto fine = batch.soft_targets[1];
  CHECK(fine[0][0].item<float>() == Approx(lam).margin(0.02));        // a1 from image 0
  CHECK(fine[0][3].item<float>() == Approx(1 - lam).margin(0.02));    // b2 from image 3
  CHECK(fine[0].sum().item<float>() == Approx(1.0));
  CHECK(fine[1].sum().item<float>() == 0.0f);  // image 1 is paired with image 2, whose fine label is unknown
  CHECK(fine[2].sum().item<float>() == 0.0f);
  const auto coarse = batch.soft_targets[0];
  CHECK(coarse[1].sum().item<float>() == 0.0f);  // image 2's coarse label is unknown too (no fine to fill it from)
  CHECK(coarse[0][0].item<float>() == Approx(lam).margin(0.02));
  CHECK(coarse[0][1].item<float>() == Approx(1 - lam).margin(0.02));
}

TEST_CASE("CutMix pastes a box and weights targets by its area", "[mix]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 4, 16);
  const Batch batch = mixed_batch(dir.path().string(), "cutmix_alpha: 1.0, seed: 1");
  // Image 0 (value 0) received a box of image 3 (value 24/255): the pasted share is the area.
  const auto pasted = batch.images[0][0].gt(12.0 / 255).to(torch::kFloat32).mean().item<float>();
  const auto fine = batch.soft_targets[1];
  CHECK(fine[0][3].item<float>() == Approx(pasted).margin(1e-4));
  CHECK(fine[0][0].item<float>() == Approx(1 - pasted).margin(1e-4));
}

TEST_CASE("mix leaves batches alone before start_epoch", "[mix]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 4, 4);
  const Batch batch = mixed_batch(dir.path().string(), "mixup_alpha: 0.4, start_epoch: 1");
  CHECK(batch.soft_targets.empty());
  CHECK(batch.images[3][0][0][0].item<float>() == Approx(24.0 / 255).margin(1.5 / 255));
}

TEST_CASE("mix alphas follow progressive-learning stages", "[mix]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 4, 4);
  run_yaml("nodes:\n  - {name: src, type: source, manifest: labeled.csv, hierarchy: hierarchy.yaml, shuffle: false, epochs: 3}\n"
           "  - {name: dec, type: decode, input: src}\n"
           "  - {name: bat, type: batch, input: dec, batch_size: 4, mean: [0, 0, 0], std: [1, 1, 1]}\n"
           "  - {name: mix, type: mix, input: bat, hierarchy: hierarchy.yaml, stage_epochs: [1, 2],\n"
           "     mixup_alpha_stages: [0, 0, 0.4], cutmix_alpha_stages: [0, 1.0, 0]}\n"
           "  - {name: sink, type: collect, input: mix}\n",
           dir.path().string());
  std::map<std::int64_t, const Batch*> by_epoch;
  for (auto& item : collected("sink")) by_epoch[item.get<Batch>().epoch] = &item.get<Batch>();
  REQUIRE(by_epoch.size() == 3);
  CHECK(by_epoch[0]->soft_targets.empty());  // stage 0: both alphas 0
  REQUIRE(by_epoch[1]->soft_targets.size() == 2);
  // Stage 1 is CutMix: image 3 keeps only its own value or image 0's, never a blend.
  const auto image3 = by_epoch[1]->images[3];
  CHECK(image3.lt(4.0 / 255).logical_or(image3.gt(20.0 / 255)).all().item<bool>());
  REQUIRE(by_epoch[2]->soft_targets.size() == 2);  // stage 2: MixUp blends every pixel alike
  const auto blended = by_epoch[2]->images[3];
  const double lam = blended.mean().item<double>() / (24.0 / 255);
  CHECK((blended - blended.mean()).abs().max().item<double>() < 3.0 / 255);
  CHECK(by_epoch[2]->soft_targets[1][3][3].item<float>() == Approx(lam).margin(0.02));  // b2, image 3's own
  CHECK_THROWS_WITH(run_yaml("nodes:\n  - {name: src, type: source, manifest: labeled.csv, hierarchy: hierarchy.yaml}\n"
                             "  - {name: dec, type: decode, input: src}\n  - {name: bat, type: batch, input: dec, batch_size: 4}\n"
                             "  - {name: mix, type: mix, input: bat, hierarchy: hierarchy.yaml, stage_epochs: [1], mixup_alpha_stages: [0.2]}\n"
                             "  - {name: sink, type: collect, input: mix}\n",
                             dir.path().string()),
                    Catch::Contains("mixup_alpha_stages has 1 values but stage_epochs makes 2 stages"));
}
