// The tiny end-to-end Noisy Student run from YAML: a teacher in round 0, then per round teacher
// inference into the cache, pseudo-labels mixed with labeled images, and a noised student that
// becomes the next teacher; summary.json by round; a rerun reuses everything.
#include "graph/phases.h"
#include "nodes/rounds.h"
#include "tests/nodes/pipeline_harness.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

using namespace semiflow;
namespace fs = std::filesystem;

namespace {

const char* kNoisyStudent = R"(
threads: {graph: 2, torch: 1}
rounds: 2
out_dir: run
phases:
  - name: teacher
    rounds: first
    nodes:
      - {name: labeled, type: source, manifest: labeled.csv, hierarchy: hierarchy.yaml, epochs: 2, micro_batch: 4}
      - {name: decode, type: decode, input: labeled}
      - {name: batch, type: batch, input: decode, batch_size: 8, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}
      - {name: train, type: train, input: batch, hierarchy: hierarchy.yaml, arch: nano, image_size: 8, eval_manifest: test.csv,
         device: cpu, out_dir: run/round0}
  - name: pseudo_label
    rounds: later
    nodes:
      - {name: unlabeled, type: source, manifest: unlabeled.csv, shuffle: false, micro_batch: 8}
      - {name: decode, type: decode, input: unlabeled}
      - {name: batch, type: batch, input: decode, batch_size: 16, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}
      - {name: teacher, type: teacher_inference, input: batch, checkpoints: ["run/round${previous_round}/last.pt"],
         manifest: unlabeled.csv, cache: "run/round${round}/pseudo_labels.h5", device: cpu}
  - name: student
    rounds: later
    nodes:
      - {name: mixed, type: pseudo_label, cache: "run/round${round}/pseudo_labels.h5", manifest: unlabeled.csv,
         hierarchy: hierarchy.yaml, labeled_manifest: labeled.csv, unlabeled_ratio: 1.0,
         balance_per_class: 6, epochs: 2, micro_batch: 8}
      - {name: decode, type: decode, input: mixed}
      - {name: noise, type: augment, input: decode, ops: [hflip p=0.5]}
      - {name: batch, type: batch, input: noise, batch_size: 8, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}
      - {name: train, type: train, input: batch, hierarchy: hierarchy.yaml, arch: nano,
         dropout: 0.3, drop_path: 0.2, image_size: 8,
         eval_manifest: test.csv, device: cpu, out_dir: "run/round${round}"}
)";

}  // namespace

TEST_CASE("rounds: a tiny Noisy Student run trains teacher and students and summarises every round", "[rounds]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_colour_dataset(dir.path().string(), 16, 8);
  const auto config = dir.write("ns.yaml", kNoisyStudent);
  const graph::RunPlan plan = graph::load_run_plan(config);
  REQUIRE(plan.phases.size() == 5);

  const nlohmann::json summary = run_plan(plan);
  CHECK(fs::exists(dir.path() / "run/summary.json"));
  CHECK(nlohmann::json::parse(std::ifstream(dir.path() / "run/summary.json")) == summary);
  REQUIRE(summary["rounds"].size() == 3);
  const auto& round0 = summary["rounds"][0];
  CHECK(round0["student"]["epochs"] == 2);
  CHECK(round0["student"]["accuracy"].contains("fine"));
  CHECK_FALSE(round0.contains("teacher"));
  for (int r = 1; r <= 2; ++r) {
    INFO("round " << r);
    const auto& round = summary["rounds"][r];
    CHECK(round["teacher"] == summary["rounds"][r - 1]["student"]);  // the student becomes the teacher
    CHECK(round["student"]["checkpoint"].get<std::string>().find(fmt::format("round{}", r)) != std::string::npos);
    REQUIRE(round["phases"].size() == 2);
    CHECK(round["phases"][0]["cache"] == "miss");
    CHECK(round["phases"][0]["wall_s"].get<double>() > 0);
    // 6 balanced pseudo-labels per fine class the teacher predicts, and as many labeled images.
    const auto& pseudo = round["phases"][1]["reports"]["mixed"];
    const auto pseudo_per_epoch = pseudo["pseudo_labeled_per_epoch"].get<int>();
    CHECK(pseudo_per_epoch > 0);
    CHECK(pseudo_per_epoch % 6 == 0);
    CHECK(pseudo["labeled_per_epoch"] == pseudo_per_epoch);
    CHECK(pseudo["levels"]["fine"]["rows"] == 16);
  }
  CHECK(fs::exists(dir.path() / "run/round2/pseudo_labels.h5"));
  // One JSON line per phase in the run folder's metrics.jsonl, with the trained models' records.
  std::ifstream metrics(dir.path() / "run/phases.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(metrics, line);) lines.push_back(nlohmann::json::parse(line));
  REQUIRE(lines.size() == 5);
  CHECK(lines[0]["phase"] == "teacher");
  CHECK(lines[0]["final"]["train"]["eval"].contains("airush_score"));
  CHECK(lines[1]["cache"] == "miss");
  CHECK(lines[4]["round"] == 2);
  CHECK(lines[4]["stats"]["nodes"].size() == 5);
  CHECK_THAT(summary_table(summary), Catch::Contains("round") && Catch::Contains("fine") &&
                                         Catch::Contains("student") && Catch::Contains("cache miss"));

  // Everything is up to date: no phase runs again, the caches are hits, the results the same, and
  // the summary keeps the timings and reports of the run that did the work.
  const nlohmann::json again = run_plan(graph::load_run_plan(config));
  for (int r = 0; r <= 2; ++r)
    for (std::size_t p = 0; p < again["rounds"][r]["phases"].size(); ++p) {
      const auto& phase = again["rounds"][r]["phases"][p];
      const auto& first = summary["rounds"][r]["phases"][p];
      CHECK(phase["skipped"] == true);
      CHECK(phase["wall_s"] == first["wall_s"]);
      CHECK(phase["stats"] == first["stats"]);
    }
  CHECK(again["rounds"][2]["student"] == summary["rounds"][2]["student"]);
  std::ifstream rerun_metrics(dir.path() / "run/phases.jsonl");
  lines.clear();
  for (std::string line; std::getline(rerun_metrics, line);) lines.push_back(nlohmann::json::parse(line));
  REQUIRE(lines.size() == 10);  // the rerun's own phase lines follow the first run's
  CHECK(lines[6]["cache"] == "hit");
  CHECK(lines[6]["skipped"] == true);
}
