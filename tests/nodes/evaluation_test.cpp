#include "nodes/evaluation.h"

#include "datasets/image_codec.h"
#include "tests/nodes/pipeline_harness.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fstream>

using namespace semiflow;
using Catch::Matchers::Contains;

namespace {

EvalPreprocessing plain_rgb(std::vector<std::string> ops) {
  EvalPreprocessing preprocessing;
  preprocessing.ops = std::move(ops);
  preprocessing.channels = 3;
  preprocessing.mean = {0, 0, 0};
  preprocessing.std = {1, 1, 1};
  return preprocessing;
}

// 10 images of 8x8 (fine class i % 4, row 2 unknown), resized to 4x4.
struct TinyEvalSet {
  semiflow::testing::TempDir dir;
  Hierarchy hierarchy;
  TinyEvalSet() {
    semiflow::testing::write_tiny_dataset(dir.path().string(), 10, 8, {2});
    hierarchy = Hierarchy::load(dir.file("hierarchy.yaml"));
  }
  EvalSet load(const EvalPreprocessing& preprocessing) const {
    return EvalSet::load(dir.file("labeled.csv"), hierarchy, preprocessing);
  }
};

EfficientNetV2 tiny_model() {
  torch::manual_seed(0);
  return EfficientNetV2(EfficientNetV2Options("nano", {2, 4}));
}

// A checkpoint of the untrained tiny model for `tiny`'s hierarchy.
void save_tiny_checkpoint(const TinyEvalSet& tiny, const std::string& path, const EvalPreprocessing& preprocessing) {
  EfficientNetV2 model = tiny_model();
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.1));
  CheckpointMeta meta;
  meta.options = model->options;
  meta.hierarchy_yaml = tiny.hierarchy.to_yaml();
  meta.preprocessing = preprocessing;
  TrainingState state;
  state.model = model;
  state.optimizer = &optimizer;
  save_checkpoint(path, meta, state);
}

}  // namespace

TEST_CASE("EvalSet decodes and preprocesses once, then serves normalized batches with labels", "[evaluation]") {
  TinyEvalSet tiny;
  const EvalSet set = tiny.load(plain_rgb({"resize size=4"}));
  CHECK(set.size() == 10);
  CHECK(set.labeled());
  CHECK(set.image_bytes() == 10 * 4 * 4 * 3);
  CHECK_THAT(set.paths()[3], Contains("img003.jpg"));

  const Batch batch = set.batch(0, 4);
  CHECK(batch.images.sizes() == torch::IntArrayRef({4, 3, 4, 4}));
  CHECK(batch.images[1][2][3][3].item<float>() == Approx(8.0 / 255).margin(1.5 / 255));
  REQUIRE(batch.labels.size() == 2);
  CHECK(batch.labels[0].equal(torch::tensor({0, 0, -1, 1}, torch::kInt64)));
  CHECK(batch.labels[1].equal(torch::tensor({0, 1, -1, 3}, torch::kInt64)));
  CHECK(batch.indices == std::vector<std::int64_t>{0, 1, 2, 3});
  CHECK(set.batch(8, 10).size() == 2);
  CHECK_THROWS_WITH(set.batch(8, 11), Contains("outside its 10 images"));
}

TEST_CASE("EvalSet keeps gray images as one byte per pixel and replicates them for RGB models", "[evaluation]") {
  TinyEvalSet tiny;
  EvalPreprocessing gray = plain_rgb({"center_crop size=6"});
  gray.channels = 1;
  CHECK(tiny.load(gray).image_bytes() == 10 * 6 * 6);
  CHECK(tiny.load(gray).batch(0, 2).images.sizes() == torch::IntArrayRef({2, 3, 6, 6}));
  gray.mean = {0.5};
  gray.std = {0.5};
  const auto images = tiny.load(gray).batch(0, 2).images;
  CHECK(images.sizes() == torch::IntArrayRef({2, 1, 6, 6}));
  CHECK(images[0][0][0][0].item<float>() == Approx(-1.0).margin(0.02));
}

TEST_CASE("EvalSet refuses random ops and images of different sizes", "[evaluation]") {
  TinyEvalSet tiny;
  CHECK_THROWS_WITH(tiny.load(plain_rgb({"hflip p=0.5"})), Contains("'hflip p=0.5'") && Contains("deterministic"));
  CHECK_THROWS_WITH(tiny.load(plain_rgb({"resize size"})), Contains("key=value"));
  write_file_bytes(tiny.dir.file("img004.jpg"), encode_jpeg(Image(6, 6, 3)));
  CHECK_THROWS_WITH(tiny.load(plain_rgb({})), Contains("img004.jpg: image is 6x6") && Contains("8x8"));
  CHECK(tiny.load(plain_rgb({"resize size=5"})).size() == 10);
}

TEST_CASE("evaluate_model runs a tiny model in eval mode: counts, shapes, determinism", "[evaluation]") {
  TinyEvalSet tiny;
  const EvalSet set = tiny.load(plain_rgb({"resize size=8"}));
  EfficientNetV2 model = tiny_model();
  model->train();

  std::vector<std::int64_t> batch_sizes;
  run_model(model, set, 4, torch::kCPU, [&](const Batch& batch, const std::vector<torch::Tensor>& logits) {
    batch_sizes.push_back(batch.size());
    REQUIRE(logits.size() == 2);
    CHECK(logits[0].sizes() == torch::IntArrayRef({batch.size(), 2}));
    CHECK(logits[1].sizes() == torch::IntArrayRef({batch.size(), 4}));
    CHECK_FALSE(logits[0].requires_grad());
  });
  CHECK(batch_sizes == std::vector<std::int64_t>{4, 4, 2});
  CHECK(model->is_training());  // restored for the training loop

  const auto result = evaluate_model(model, set, 4, torch::kCPU);
  CHECK(result.images == 10);
  CHECK(result.scored_images == 9);  // row 2 is unknown at both levels
  CHECK(result.argmax.levels.at(0).count == 9);
  CHECK(result.argmax.levels.at(1).count == 9);
  CHECK(result.consistent.consistency == Approx(1.0));
  // Eval mode (running BatchNorm statistics, no dropout): the batch size cannot change a result.
  CHECK(evaluate_model(model, set, 3, torch::kCPU).to_json() == result.to_json());
}

TEST_CASE("evaluate_model refuses unlabeled sets and models built for another hierarchy", "[evaluation]") {
  TinyEvalSet tiny;
  const EvalSet unlabeled = EvalSet::load(tiny.dir.file("unlabeled.csv"), tiny.hierarchy, plain_rgb({}));
  EfficientNetV2 model = tiny_model();
  CHECK_FALSE(unlabeled.labeled());
  CHECK_THROWS_WITH(evaluate_model(model, unlabeled, 4, torch::kCPU), Contains("labeled manifest"));
  EfficientNetV2 other(EfficientNetV2Options("nano", {3}));
  CHECK_THROWS_WITH(evaluate_model(other, tiny.load(plain_rgb({})), 4, torch::kCPU),
                    Contains("3 classes per level") && Contains("2/4"));
}

TEST_CASE("the evaluate node scores a checkpoint on a batch stream as evaluate_model does", "[evaluation]") {
  TinyEvalSet tiny;
  const EvalPreprocessing preprocessing = plain_rgb({"resize size=8"});
  save_tiny_checkpoint(tiny, tiny.dir.file("tiny.pt"), preprocessing);
  semiflow::testing::run_yaml(
      "nodes:\n"
      "  - {name: src, type: source, manifest: labeled.csv, hierarchy: hierarchy.yaml, shuffle: false, epochs: 1}\n"
      "  - {name: dec, type: decode, input: src}\n"
      "  - {name: aug, type: augment, input: dec, ops: [resize size=8]}\n"
      "  - {name: bat, type: batch, input: aug, batch_size: 4, mean: [0, 0, 0], std: [1, 1, 1]}\n"
      "  - {name: eval, type: evaluate, input: bat, checkpoint: tiny.pt, hierarchy: hierarchy.yaml, output: m.json}\n",
      tiny.dir.path().string());
  std::ifstream written(tiny.dir.file("m.json"));
  const auto json = nlohmann::json::parse(written);
  CHECK(json["images"] == 10);
  CHECK(json["levels"]["fine"]["count"] == 9);
  CHECK(json["checkpoint"].get<std::string>().find("tiny.pt") != std::string::npos);

  auto loaded = load_checkpoint_for_inference(tiny.dir.file("tiny.pt"), torch::kCPU);
  const auto direct = evaluate_model(loaded.model, tiny.load(loaded.preprocessing), 4, torch::kCPU).to_json();
  for (const char* key : {"airush_score", "exact_path_accuracy", "consistency", "levels", "consistent"})
    CHECK(json[key] == nlohmann::json(direct[key]));
}

TEST_CASE("the evaluate node refuses a hierarchy other than the checkpoint's", "[evaluation]") {
  TinyEvalSet tiny;
  save_tiny_checkpoint(tiny, tiny.dir.file("tiny.pt"), plain_rgb({}));
  tiny.dir.write("other.yaml", "levels:\n  - {name: coarse, classes: [a, b]}\n"
                               "  - {name: fine, classes: [{a1: a}, {a2: a}, {b1: b}, {b3: b}]}\n");
  CHECK_THROWS_WITH(
      semiflow::testing::run_yaml(
          "nodes:\n  - {name: src, type: source, manifest: labeled.csv, hierarchy: hierarchy.yaml}\n"
          "  - {name: dec, type: decode, input: src}\n  - {name: bat, type: batch, input: dec}\n"
          "  - {name: eval, type: evaluate, input: bat, checkpoint: tiny.pt, hierarchy: other.yaml, output: m.json}\n",
          tiny.dir.path().string()),
      Contains("other.yaml differs from the one stored in checkpoint"));
}
