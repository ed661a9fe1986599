#include "nodes/checkpoint.h"

#include "nodes/optimization.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <limits>

using namespace semiflow;

namespace {

const char* kHierarchyYaml = "levels:\n  - {name: coarse, classes: [a, b]}\n  - {name: fine, classes: [{a1: a}, {b1: b}, {b2: b}]}\n";

EfficientNetV2Options nano_options() { return EfficientNetV2Options("nano", {2, 3}).dropout(0.1); }

CheckpointMeta example_meta() {
  CheckpointMeta meta;
  meta.options = nano_options();
  meta.hierarchy_yaml = Hierarchy::parse(kHierarchyYaml, "test").to_yaml();
  meta.preprocessing.ops = {"resize size=16"};
  meta.preprocessing.mean = {0.5, 0.5, 0.5};
  meta.preprocessing.std = {0.25, 0.25, 0.25};
  meta.preprocessing.image_size = 16;
  meta.fingerprint = "0123abcd";
  meta.step = 7;
  meta.epoch = 2;
  meta.metrics = {{"epoch", 2}, {"train_loss", 1.5}};
  return meta;
}

// One SGD step with momentum on random images, so the optimizer has state to save.
void train_one_step(EfficientNetV2& model, torch::optim::Optimizer& optimizer) {
  const auto logits = model->forward(torch::randn({4, 3, 16, 16}));
  const auto loss = logits[0].logsumexp(1).mean() + logits[1].logsumexp(1).mean();
  optimizer.zero_grad();
  loss.backward();
  optimizer.step();
}

bool same_parameters(const torch::nn::Module& a, const torch::nn::Module& b) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  for (const auto& entry : pa)
    if (!torch::equal(entry.value(), pb[entry.key()])) return false;
  return true;
}

}  // namespace

TEST_CASE("checkpoint round trip: weights, EMA, optimizer state, step, RNG and metadata", "[checkpoint]") {
  semiflow::testing::TempDir dir;
  torch::manual_seed(1);
  EfficientNetV2 model(nano_options());
  auto optimizer = make_optimizer(OptimizerConfig{}, *model);
  ExponentialMovingAverage ema(*model, 0.5, false);
  train_one_step(model, *optimizer);
  ema.update(*model);
  TrainingState state{model, EfficientNetV2(std::dynamic_pointer_cast<EfficientNetV2Impl>(ema.average())), optimizer.get()};
  save_checkpoint(dir.file("last.pt"), example_meta(), state);
  const auto next_draw = torch::rand({3});

  torch::manual_seed(2);
  EfficientNetV2 restored(nano_options());
  auto restored_optimizer = make_optimizer(OptimizerConfig{}, *restored);
  ExponentialMovingAverage restored_ema(*restored, 0.5, false);
  REQUIRE_FALSE(same_parameters(*model, *restored));
  TrainingState into{restored, EfficientNetV2(std::dynamic_pointer_cast<EfficientNetV2Impl>(restored_ema.average())),
                     restored_optimizer.get()};
  const CheckpointMeta meta = restore_checkpoint(dir.file("last.pt"), into);

  CHECK(same_parameters(*model, *restored));
  CHECK(same_parameters(*ema.average(), *restored_ema.average()));
  CHECK(torch::equal(torch::rand({3}), next_draw));  // the CPU generator continues where it was saved
  CHECK(meta.step == 7);
  CHECK(meta.epoch == 2);
  CHECK(meta.fingerprint == "0123abcd");
  CHECK(meta.metrics["train_loss"].get<double>() == 1.5);
  CHECK(meta.options.classes_per_level() == std::vector<std::int64_t>{2, 3});
  CHECK(meta.options.dropout() == std::optional<double>(0.1));
  CHECK(meta.preprocessing.ops == std::vector<std::string>{"resize size=16"});
  CHECK(Hierarchy::parse(meta.hierarchy_yaml, "x").classes_per_level() == std::vector<int>{2, 3});

  // Identical momentum buffers: the same next step from both gives the same weights.
  torch::manual_seed(3);
  train_one_step(model, *optimizer);
  torch::manual_seed(3);
  train_one_step(restored, *restored_optimizer);
  CHECK(same_parameters(*model, *restored));
}

TEST_CASE("checkpoint: the fp16 loss scaler resumes at its saved scale and count; other precisions store nothing", "[checkpoint]") {
  semiflow::testing::TempDir dir;
  EfficientNetV2 model(nano_options());
  auto optimizer = make_optimizer(OptimizerConfig{}, *model);
  LossScaler scaler(Precision::fp16, 1024.0, 3);
  auto w = torch::ones({2}, torch::requires_grad());
  w.mutable_grad() = torch::tensor({1.0, std::numeric_limits<double>::infinity()});
  REQUIRE_FALSE(scaler.unscale_and_check({w}));  // 1024 -> 512
  w.mutable_grad() = torch::ones({2});
  REQUIRE(scaler.unscale_and_check({w}));  // one good step of three
  CheckpointMeta meta = example_meta();
  store_loss_scaler(scaler, "loss_scaler", meta.state);
  save_checkpoint(dir.file("last.pt"), meta, {model, EfficientNetV2(nullptr), optimizer.get()});

  LossScaler resumed(Precision::fp16, 1024.0, 3);
  restore_loss_scaler(read_checkpoint_meta(dir.file("last.pt")).state, "loss_scaler", resumed);
  CHECK(resumed.current_scale() == 512.0);
  REQUIRE(resumed.unscale_and_check({w}));
  REQUIRE(resumed.unscale_and_check({w}));
  CHECK(resumed.current_scale() == 1024.0);  // grew after the third good step, counting the saved one

  LossScaler fresh(Precision::fp16, 1024.0, 3);
  restore_loss_scaler(example_meta().state, "loss_scaler", fresh);  // saved in bf16: nothing stored
  CHECK(fresh.current_scale() == 1024.0);
  nlohmann::json bf16_state = nlohmann::json::object();
  store_loss_scaler(LossScaler(Precision::bf16), "loss_scaler", bf16_state);
  CHECK(bf16_state.empty());
}

TEST_CASE("load_checkpoint_for_inference returns the EMA weights in eval mode", "[checkpoint]") {
  semiflow::testing::TempDir dir;
  EfficientNetV2 model(nano_options());
  auto optimizer = make_optimizer(OptimizerConfig{}, *model);
  ExponentialMovingAverage ema(*model, 0.5, false);
  train_one_step(model, *optimizer);
  ema.update(*model);
  auto ema_model = EfficientNetV2(std::dynamic_pointer_cast<EfficientNetV2Impl>(ema.average()));
  save_checkpoint(dir.file("with_ema.pt"), example_meta(), {model, ema_model, optimizer.get()});
  save_checkpoint(dir.file("plain.pt"), example_meta(), {model, nullptr, optimizer.get()});

  const LoadedModel with_ema = load_checkpoint_for_inference(dir.file("with_ema.pt"), torch::kCPU);
  CHECK(with_ema.ema_weights);
  CHECK(same_parameters(*with_ema.model, *ema_model));
  CHECK_FALSE(with_ema.model->is_training());
  CHECK(with_ema.hierarchy.level(1).classes == std::vector<std::string>{"a1", "b1", "b2"});
  CHECK(with_ema.preprocessing.image_size == 16);
  CHECK(with_ema.preprocessing.mean == std::vector<double>{0.5, 0.5, 0.5});
  CHECK(with_ema.options.arch() == "nano");
  CHECK(with_ema.epoch == 2);

  const LoadedModel plain = load_checkpoint_for_inference(dir.file("plain.pt"), torch::kCPU);
  CHECK_FALSE(plain.ema_weights);
  CHECK(same_parameters(*plain.model, *model));
}

TEST_CASE("checkpoint errors name the file", "[checkpoint]") {
  semiflow::testing::TempDir dir;
  CHECK_THROWS_WITH(read_checkpoint_meta(dir.file("missing.pt")), Catch::Contains("missing.pt: no such checkpoint"));
  const auto junk = dir.write("junk.pt", "not a zip archive");
  CHECK_THROWS_WITH(read_checkpoint_meta(junk), Catch::Contains("junk.pt: not a readable checkpoint"));
}

TEST_CASE("atomic writes: a failed write leaves the old file and no temporary", "[checkpoint]") {
  semiflow::testing::TempDir dir;
  const auto path = dir.write("last.pt", "old");
  CHECK_THROWS_WITH(write_file_atomically(path,
                                          [](const std::string& temp) {
                                            std::ofstream(temp) << "half-writ";
                                            throw std::runtime_error("killed mid-write");
                                          }),
                    "killed mid-write");
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(content == "old");
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()) == 1);

  write_file_atomically(path, [](const std::string& temp) { std::ofstream(temp) << "new"; });
  std::ifstream again(path);
  std::string replaced((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>());
  CHECK(replaced == "new");
}
