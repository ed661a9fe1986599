#include "datasets/image.h"
#include "datasets/image_codec.h"
#include "graph/runtime.h"
#include "nodes/checkpoint.h"
#include "tests/nodes/pipeline_harness.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace semiflow;
using semiflow::testing::run_yaml;
using semiflow::testing::write_colour_dataset;
namespace fs = std::filesystem;

namespace {

// source -> decode -> batch -> train, with `train_params` appended to the train node.
// `keep_batches` > 0: the stream ends after that many batches, as a killed run's did.
std::string pipeline(int source_epochs, const std::string& train_params, int keep_batches = 0, const std::string& device = "cpu") {
  return fmt::format(
      "threads: {{graph: 2, torch: 1}}\n"
      "nodes:\n"
      "  - {{name: src, type: source, manifest: labeled.csv, hierarchy: hierarchy.yaml, epochs: {}, seed: 5, micro_batch: 4}}\n"
      "  - {{name: dec, type: decode, input: src}}\n"
      "  - {{name: bat, type: batch, input: dec, batch_size: 8, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}\n"
      "{}"
      "  - {{name: train, type: train, input: {}, hierarchy: hierarchy.yaml, arch: nano, image_size: 8, eval_manifest: test.csv,\n"
      "     seed: 3, device: {}, {}}}\n",
      source_epochs, keep_batches > 0 ? fmt::format("  - {{name: cut, type: truncate, input: bat, keep: {}}}\n", keep_batches) : "",
      keep_batches > 0 ? "cut" : "bat", device, train_params);
}

std::vector<nlohmann::json> read_metrics(const fs::path& file) {
  std::vector<nlohmann::json> records;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) records.push_back(nlohmann::json::parse(line));
  return records;
}

bool same_weights(const std::string& a, const std::string& b) {
  const auto ma = load_checkpoint_for_inference(a, torch::kCPU), mb = load_checkpoint_for_inference(b, torch::kCPU);
  const auto pb = mb.model->named_parameters();
  for (const auto& entry : ma.model->named_parameters())
    if (!torch::equal(entry.value(), pb[entry.key()])) return false;
  return true;
}

}  // namespace

TEST_CASE("train: a tiny supervised pipeline from YAML learns a separable set and logs every epoch", "[train]") {
  semiflow::testing::TempDir dir;
  // BatchNorm's running statistics need a few dozen steps before eval mode agrees with training
  // mode: 64 images of 32x32 in batches of 8 for 8 epochs (about 1.5 s here).
  write_colour_dataset(dir.path(), 64, 32);
  run_yaml(pipeline(8, "epochs: 8, optimizer: adamw, lr: 0.003, weight_decay: 0.0, out_dir: run"), dir.path().string());
  const auto records = read_metrics(dir.path() / "run/metrics.jsonl");
  REQUIRE(records.size() == 8);
  CHECK(records[0]["epoch"] == 1);
  CHECK(records[0]["step"] == 8);  // 64 rows / batch 8
  CHECK(records[0]["train_loss_per_level"].contains("fine"));
  CHECK(records[0]["images_per_s"].get<double>() > 0);
  CHECK(records.back()["lr"].get<double>() < records[1]["lr"].get<double>());  // cosine decays
  CHECK(records.back()["train_loss"].get<double>() < records[0]["train_loss"].get<double>());
  const double first = records[0]["eval"]["levels"]["fine"]["accuracy"].get<double>();
  const double last = records.back()["eval"]["levels"]["fine"]["accuracy"].get<double>();
  INFO("fine accuracy " << first << " -> " << last);
  CHECK(last >= 0.9);
  CHECK(last > first);
  CHECK(fs::exists(dir.path() / "run/last.pt"));
  CHECK(fs::exists(dir.path() / "run/best.pt"));
  const auto loaded = load_checkpoint_for_inference((dir.path() / "run/best.pt").string(), torch::kCPU);
  CHECK(loaded.preprocessing.image_size == 8);
}

TEST_CASE("train: a run stopped after epoch 1 and resumed matches an uninterrupted run exactly", "[train]") {
  semiflow::testing::TempDir dir;
  write_colour_dataset(dir.path(), 24, 8);
  const std::string params = "epochs: 3, lr: 0.05, dropout: 0.3, drop_path: 0.3, ema_decay: 0.9, clip_grad_norm: 5.0";
  run_yaml(pipeline(3, params + ", out_dir: straight"), dir.path().string());
  // The first run's stream ends after epoch 1 (24 images in batches of 8): on disk this is what a
  // kill during epoch 2 leaves (last.pt of epoch 1, perhaps a stale temporary), whatever the
  // moment of the kill.
  run_yaml(pipeline(3, params + ", out_dir: resumed", 3), dir.path().string());
  CHECK(load_checkpoint_for_inference((dir.path() / "resumed/last.pt").string(), torch::kCPU).epoch == 1);
  std::ofstream(dir.path() / "resumed/.last.pt.tmp") << "partial write of a killed run";
  run_yaml(pipeline(3, params + ", out_dir: resumed"), dir.path().string());

  CHECK(same_weights((dir.path() / "straight/last.pt").string(), (dir.path() / "resumed/last.pt").string()));
  const auto straight = read_metrics(dir.path() / "straight/metrics.jsonl");
  const auto resumed = read_metrics(dir.path() / "resumed/metrics.jsonl");
  REQUIRE(resumed.size() == 3);
  for (std::size_t e = 0; e < 3; ++e) {
    INFO("epoch " << e + 1);
    CHECK(resumed[e]["train_loss"] == straight[e]["train_loss"]);
    CHECK(resumed[e]["eval"]["airush_score"] == straight[e]["eval"]["airush_score"]);
    CHECK(resumed[e]["step"] == straight[e]["step"]);
  }

  // Other training parameters in the same out_dir: refused rather than silently mixed.
  CHECK_THROWS_WITH(run_yaml(pipeline(3, "epochs: 3, lr: 0.07, out_dir: resumed"), dir.path().string()),
                    Catch::Contains("other training parameters") && Catch::Contains("-> 0.07"));
}

TEST_CASE("train: a non-finite loss stops with the step and epoch and keeps the last good checkpoint", "[train]") {
  semiflow::testing::TempDir dir;
  write_colour_dataset(dir.path(), 16, 8);
  // Epoch 1 trains normally; from epoch 2 the step schedule multiplies the rate by 1e30.
  const auto yaml = pipeline(2, "epochs: 2, lr: 0.01, schedule: step, lr_decay_epochs: 1, lr_gamma: 1e30, out_dir: run");
  try {
    run_yaml(yaml, dir.path().string());
    FAIL("the run should have stopped");
  } catch (const graph::NodeFailure& failure) {
    CHECK_THAT(failure.message(), Catch::Contains("loss is") && Catch::Contains("(epoch 2 of 2,") &&
                                      Catch::Contains("keeps the last good checkpoint (epoch 1)"));
  }
  const auto meta = read_checkpoint_meta((dir.path() / "run/last.pt").string());
  CHECK(meta.epoch == 1);
  CHECK(meta.step == 2);
}

TEST_CASE("train: precision bf16 trains with fp32 weights and checkpoints; fp16 on the CPU is refused", "[train]") {
  semiflow::testing::TempDir dir;
  write_colour_dataset(dir.path(), 16, 8);
  run_yaml(pipeline(2, "epochs: 2, lr: 0.05, precision: bf16, out_dir: run"), dir.path().string());
  const auto records = read_metrics(dir.path() / "run/metrics.jsonl");
  REQUIRE(records.size() == 2);
  CHECK(std::isfinite(records.back()["train_loss"].get<double>()));
  CHECK(records.back()["eval"]["images"] == 16);
  const auto loaded = load_checkpoint_for_inference((dir.path() / "run/last.pt").string(), torch::kCPU);
  for (const auto& p : loaded.model->parameters()) CHECK(p.scalar_type() == torch::kFloat32);
  CHECK_THROWS_WITH(run_yaml(pipeline(1, "epochs: 1, precision: fp16, out_dir: half"), dir.path().string()),
                    Catch::Matchers::Contains("precision fp16 runs on CUDA only; on the CPU use bf16"));
}

// Hidden ([.cuda]): run on a GPU machine with `tests_nodes "[cuda]"` (scripts/device/run_kit.sh).
TEST_CASE("train on CUDA: fp32, bf16 and fp16 learn with fp32 weights; fp16 keeps its loss scale in the checkpoint", "[.cuda]") {
  REQUIRE(torch::cuda::is_available());
  semiflow::testing::TempDir dir;
  write_colour_dataset(dir.path(), 64, 32);
  for (const std::string precision : {"fp32", "bf16", "fp16"}) {
    INFO("precision " << precision);
    run_yaml(pipeline(6, fmt::format("epochs: 6, lr: 0.05, precision: {}, out_dir: {}", precision, precision), 0, "cuda"),
             dir.path().string());
    const auto records = read_metrics(dir.path() / precision / "metrics.jsonl");
    REQUIRE(records.size() == 6);
    CHECK(records.back()["train_loss"].get<double>() < records.front()["train_loss"].get<double>());
    CHECK(records.back()["eval"]["images"] == 64);
    const auto checkpoint = (dir.path() / precision / "last.pt").string();
    for (const auto& p : load_checkpoint_for_inference(checkpoint, torch::kCPU).model->parameters())
      CHECK(p.scalar_type() == torch::kFloat32);
    const auto state = read_checkpoint_meta(checkpoint).state;
    CHECK(state.contains("loss_scaler") == (precision == "fp16"));
  }
}
