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

// two_view_source -> decode -> augment (weak / strong) -> batch of one step -> mpl_train on the
// 8x8 colour set; 4 labeled + 8 unlabeled images (in two views) per step. `keep_batches` > 0:
// the stream ends after that many batches, as a killed run's did.
std::string pipeline(int epochs, const std::string& mpl_params, const std::string& out_dir = "run", int keep_batches = 0) {
  return fmt::format(
      "threads: {{graph: 2, torch: 1}}\n"
      "nodes:\n"
      "  - {{name: src, type: two_view_source, labeled_manifest: labeled.csv, unlabeled_manifest: unlabeled.csv,\n"
      "     hierarchy: hierarchy.yaml, batch_size: 4, unlabeled_ratio: 2.0, epochs: {0}, seed: 1}}\n"
      "  - {{name: dec, type: decode, input: src}}\n"
      "  - {{name: aug, type: augment, input: dec, seed: 2, ops: [hflip p=0.5],\n"
      "     strong_ops: [hflip p=0.5, rand_augment n=2 m=5]}}\n"
      "  - {{name: bat, type: batch, input: aug, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}\n"
      "{2}"
      "  - {{name: mpl, type: mpl_train, input: {3}, hierarchy: hierarchy.yaml, out_dir: {4}, arch: nano, image_size: 8,\n"
      "     optimizer: adamw, teacher_lr: 0.003, student_lr: 0.003,\n"
      "     weight_decay: 0.0, seed: 3, device: cpu, {1}}}\n",
      epochs, mpl_params,
      keep_batches > 0 ? fmt::format("  - {{name: cut, type: truncate, input: bat, keep: {}}}\n", keep_batches) : "",
      keep_batches > 0 ? "cut" : "bat", out_dir);
}

std::vector<nlohmann::json> read_records(const fs::path& file, const std::string& type) {
  std::vector<nlohmann::json> records;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    auto record = nlohmann::json::parse(line);
    if (record["type"] == type) records.push_back(record);
  }
  return records;
}

bool same_weights(const fs::path& a, const fs::path& b) {
  const auto ma = load_checkpoint_for_inference(a.string(), torch::kCPU), mb = load_checkpoint_for_inference(b.string(), torch::kCPU);
  const auto pb = mb.model->named_parameters();
  for (const auto& entry : ma.model->named_parameters())
    if (!torch::equal(entry.value(), pb[entry.key()])) return false;
  return true;
}

}  // namespace

TEST_CASE("mpl_train: both models' parameters change in one step", "[mpl_train]") {
  semiflow::testing::TempDir dir;
  write_colour_dataset(dir.path().string(), 8, 8);  // 8 unlabeled images: one step
  run_yaml(pipeline(1, "log_every: 1"), dir.path().string());
  const auto teacher = load_checkpoint_for_inference((dir.path() / "run/teacher.pt").string(), torch::kCPU);
  const auto student = load_checkpoint_for_inference((dir.path() / "run/last.pt").string(), torch::kCPU);
  CHECK(teacher.step == 1);
  CHECK_FALSE(student.ema_weights);
  // The node seeds, then builds the teacher, then the student.
  torch::manual_seed(3);
  EfficientNetV2 teacher_before(teacher.options), student_before(student.options);
  const auto changed = [](const EfficientNetV2& before, const EfficientNetV2& after) {
    const auto trained = after->named_parameters();
    std::size_t count = 0;
    for (const auto& entry : before->named_parameters())
      if (!torch::equal(entry.value(), trained[entry.key()])) ++count;
    return std::make_pair(count, before->named_parameters().size());
  };
  const auto [teacher_changed, teacher_total] = changed(teacher_before, teacher.model);
  const auto [student_changed, student_total] = changed(student_before, student.model);
  CHECK(teacher_changed == teacher_total);
  CHECK(student_changed == student_total);

  const auto steps = read_records(dir.path() / "run/metrics.jsonl", "step");
  REQUIRE(steps.size() == 1);
  CHECK(steps[0]["mpl_term"].contains("fine"));  // the feedback reached the teacher in this very step
  CHECK(steps[0]["student_loss"]["fine"].get<double>() > 0);
}

TEST_CASE("mpl_train: a tiny MPL pipeline from YAML logs every term and writes an evaluable student", "[mpl_train]") {
  semiflow::testing::TempDir dir;
  write_colour_dataset(dir.path().string(), 32, 8);  // 4 steps per epoch
  const std::string yaml = pipeline(2, "eval_manifest: test.csv, uda_ramp_steps: 4, student_wait_steps: 2, log_every: 2, "
                                       "ema_decay: 0.9, clip_grad_norm: 5.0");
  run_yaml(yaml, dir.path().string());

  const auto steps = read_records(dir.path() / "run/metrics.jsonl", "step");
  REQUIRE(steps.size() == 4);
  CHECK(steps[0]["step"] == 2);
  CHECK_FALSE(steps[0].contains("student_loss"));  // the student waits two steps
  CHECK(steps[0]["student_steps"] == 0);
  for (const char* term : {"teacher_loss", "teacher_labeled_loss", "uda_consistency", "uda_weight", "mask_ratio", "teacher_lr"})
    CHECK(steps[0].contains(term));
  CHECK(steps[0]["uda_weight"].get<double>() == Approx((2.0 + 4.0) / 2));  // 8 * 1/4, 8 * 2/4
  for (const auto& record : steps) {
    CHECK(std::isfinite(record["teacher_loss"].get<double>()));
    CHECK(record["mask_ratio"]["coarse"].get<double>() >= 0);
  }
  for (const char* term : {"student_loss", "student_labeled_before", "student_labeled_after", "loss_change", "mpl_baseline",
                           "mpl_h", "mpl_term", "student_lr"})
    CHECK(steps[1].contains(term));
  CHECK(steps[1]["student_steps"] == 2);
  CHECK(steps[3]["uda_weight"].get<double>() == Approx(8.0));

  const auto epochs = read_records(dir.path() / "run/metrics.jsonl", "epoch");
  REQUIRE(epochs.size() == 2);
  CHECK(epochs[1]["step"] == 8);
  CHECK(epochs[1]["eval"]["levels"].contains("fine"));
  CHECK(epochs[1]["teacher_eval"]["levels"].contains("fine"));

  const auto student = load_checkpoint_for_inference((dir.path() / "run/last.pt").string(), torch::kCPU);
  CHECK(student.ema_weights);
  CHECK(student.epoch == 2);
  CHECK(student.preprocessing.image_size == 8);

  // Finished: a rerun of the same config is skipped, and reports the run as the summary expects.
  const auto rerun = run_yaml(yaml, dir.path().string());
  CHECK(rerun.skipped);
  CHECK(read_records(dir.path() / "run/metrics.jsonl", "epoch").size() == 2);
}

TEST_CASE("mpl_train: teacher_checkpoint and student_checkpoint start the models from saved weights", "[mpl_train]") {
  semiflow::testing::TempDir dir;
  write_colour_dataset(dir.path().string(), 8, 8);
  run_yaml(pipeline(1, "log_every: 1"), dir.path().string());
  const auto saved_teacher = load_checkpoint_for_inference((dir.path() / "run/teacher.pt").string(), torch::kCPU);
  const auto saved_student = load_checkpoint_for_inference((dir.path() / "run/last.pt").string(), torch::kCPU);

  // With both learning rates at zero a step leaves the loaded weights as they were, so any
  // difference would come from the models starting elsewhere. The student reads the teacher's
  // file and the teacher the student's, so neither can pass by starting from its own run.
  std::string yaml = pipeline(1, "log_every: 1, teacher_checkpoint: run/last.pt, student_checkpoint: run/teacher.pt");
  yaml.replace(yaml.find("out_dir: run"), 12, "out_dir: swapped");
  yaml.replace(yaml.find("teacher_lr: 0.003, student_lr: 0.003"), 36, "teacher_lr: 0.0, student_lr: 0.0");
  run_yaml(yaml, dir.path().string());
  const auto teacher = load_checkpoint_for_inference((dir.path() / "swapped/teacher.pt").string(), torch::kCPU);
  const auto student = load_checkpoint_for_inference((dir.path() / "swapped/last.pt").string(), torch::kCPU);
  const auto same = [](const EfficientNetV2& a, const EfficientNetV2& b) {
    const auto other = b->named_parameters();
    for (const auto& entry : a->named_parameters())
      if (!torch::equal(entry.value(), other[entry.key()])) return false;
    return true;
  };
  CHECK(same(teacher.model, saved_student.model));
  CHECK(same(student.model, saved_teacher.model));
  CHECK_FALSE(same(student.model, saved_student.model));
}

TEST_CASE("mpl_train: a batch size that splits steps is refused before the run", "[mpl_train]") {
  semiflow::testing::TempDir dir;
  write_colour_dataset(dir.path().string(), 8, 8);
  std::string yaml = pipeline(1, "");
  yaml.replace(yaml.find("input: aug,"), 11, "input: aug, batch_size: 7,");
  CHECK_THROWS_WITH(run_yaml(yaml, dir.path().string()),
                    Catch::Contains("node 'bat': parameter 'batch_size' is 7 but the input stream has step_size 20 "
                                    "(set by node 'src' (batch_size))"));
}

TEST_CASE("mpl_train: a run stopped after epoch 1 and resumed matches an uninterrupted run exactly", "[mpl_train]") {
  semiflow::testing::TempDir dir;
  write_colour_dataset(dir.path().string(), 16, 8);  // 2 steps per epoch
  // The student waits one step and the UDA weight ramps over the epochs, so the schedules, the
  // EMA's warmup and the feedback baseline all carry state across the resume; dropout and
  // stochastic depth draw from the restored RNG.
  const std::string params = "eval_manifest: test.csv, uda_ramp_steps: 5, student_wait_steps: 1, log_every: 1, "
                             "ema_decay: 0.9, clip_grad_norm: 5.0, dropout: 0.3, drop_path: 0.3";
  run_yaml(pipeline(3, params, "straight"), dir.path().string());
  // The first run's stream ends after epoch 1's two batches: on disk this is what a kill during
  // epoch 2 leaves (last.pt and teacher.pt of epoch 1, perhaps a stale temporary).
  run_yaml(pipeline(3, params, "resumed", 2), dir.path().string());
  CHECK(read_checkpoint_meta((dir.path() / "resumed/last.pt").string()).epoch == 1);
  std::ofstream(dir.path() / "resumed/.last.pt.tmp") << "partial write of a killed run";
  run_yaml(pipeline(3, params, "resumed"), dir.path().string());

  CHECK(same_weights(dir.path() / "straight/last.pt", dir.path() / "resumed/last.pt"));  // the student's EMA
  CHECK(same_weights(dir.path() / "straight/teacher.pt", dir.path() / "resumed/teacher.pt"));
  const auto straight_meta = read_checkpoint_meta((dir.path() / "straight/last.pt").string());
  const auto resumed_meta = read_checkpoint_meta((dir.path() / "resumed/last.pt").string());
  CHECK(resumed_meta.step == 6);
  CHECK(resumed_meta.state == straight_meta.state);  // feedback baseline, EMA updates
  const auto straight_epochs = read_records(dir.path() / "straight/metrics.jsonl", "epoch");
  const auto resumed_epochs = read_records(dir.path() / "resumed/metrics.jsonl", "epoch");
  REQUIRE(resumed_epochs.size() == 3);
  for (std::size_t e = 0; e < 3; ++e) {
    INFO("epoch " << e + 1);
    CHECK(resumed_epochs[e]["step"] == straight_epochs[e]["step"]);
    CHECK(resumed_epochs[e]["eval"] == straight_epochs[e]["eval"]);
    CHECK(resumed_epochs[e]["teacher_eval"] == straight_epochs[e]["teacher_eval"]);
  }
  // Step records hold every term of every step, and no timing: equal as a whole.
  const auto straight_steps = read_records(dir.path() / "straight/metrics.jsonl", "step");
  const auto resumed_steps = read_records(dir.path() / "resumed/metrics.jsonl", "step");
  REQUIRE(resumed_steps.size() == 6);
  for (std::size_t s = 0; s < 6; ++s) {
    INFO("step " << s + 1);
    CHECK(resumed_steps[s] == straight_steps[s]);
  }

  // Other training parameters in the same out_dir: refused naming the file, not silently restarted.
  CHECK_THROWS_WITH(run_yaml(pipeline(3, "uda_ramp_steps: 7", "resumed"), dir.path().string()),
                    Catch::Contains("resumed/last.pt") && Catch::Contains("uda_ramp_steps") && Catch::Contains("-> 7"));
}
