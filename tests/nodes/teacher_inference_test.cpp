#include "datasets/image_codec.h"
#include "datasets/pseudo_label_cache.h"
#include "graph/runtime.h"
#include "tests/nodes/pipeline_harness.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

using namespace semiflow;
using semiflow::testing::run_yaml;
namespace fs = std::filesystem;

namespace {

void train_teacher(const std::string& dir, const std::string& out_dir, int seed) {
  run_yaml(fmt::format(R"(
threads: {{graph: 2, torch: 1}}
nodes:
  - {{name: src, type: source, manifest: labeled.csv, hierarchy: hierarchy.yaml, epochs: 1, micro_batch: 4}}
  - {{name: dec, type: decode, input: src}}
  - {{name: bat, type: batch, input: dec, batch_size: 8, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}
  - {{name: train, type: train, input: bat, hierarchy: hierarchy.yaml, arch: nano, best_metric: train_loss, image_size: 8, seed: {}, device: cpu, out_dir: {}}}
)", seed, out_dir), dir);
}

// Unlabeled images -> teacher(s) -> cache; `mean` changes the preprocessing upstream.
std::string inference(const std::string& checkpoints, const std::string& cache, double mean = 0.5,
                      const std::string& shuffle = "false", const std::string& precision = "fp32",
                      const std::string& device = "cpu") {
  return fmt::format(R"(
threads: {{graph: 2, torch: 1}}
nodes:
  - {{name: src, type: source, manifest: unlabeled.csv, shuffle: {}, micro_batch: 5}}
  - {{name: dec, type: decode, input: src}}
  - {{name: bat, type: batch, input: dec, batch_size: 6, mean: [{m}, {m}, {m}], std: [0.25, 0.25, 0.25]}}
  - {{name: teacher, type: teacher_inference, input: bat, checkpoints: [{}], manifest: unlabeled.csv, cache: {},
     flip: true, chunk_rows: 4, device: {}, precision: {}}}
)", shuffle, checkpoints, cache, device, precision, fmt::arg("m", mean));
}

}  // namespace

TEST_CASE("teacher_inference: writes a complete cache, then is up to date until an input changes", "[teacher_inference]") {
  semiflow::testing::TempDir dir;
  const std::string d = dir.path().string();
  semiflow::testing::write_colour_dataset(d, 16, 8);
  train_teacher(d, "teacher", 1);

  const auto first = run_yaml(inference("teacher/last.pt", "pl.h5"), d);
  CHECK_FALSE(first.skipped);
  CHECK(first.reports["teacher"]["cache_state"] == "miss");
  CHECK(first.reports["teacher"]["inferred_rows"] == 16);
  CHECK_FALSE(fs::exists(dir.file("pl.h5.partial")));
  CHECK(verify_cache(dir.file("pl.h5")).empty());
  CHECK_FALSE(read_cache_info(dir.file("pl.h5")).header.semiflow_version.empty());
  const PseudoLabelCacheReader reader(dir.file("pl.h5"));
  REQUIRE(reader.rows() == 16);
  const auto rows = reader.read_range(0, 16);
  CHECK(fs::path(rows.ids[3]).filename() == "img003.jpg");  // manifest order
  REQUIRE(rows.probabilities.size() == 2);
  for (long r = 0; r < 16; ++r) {
    double sum = 0;
    for (int c = 0; c < 4; ++c) sum += rows.probabilities[1].row(r)[c];
    CHECK(sum == Approx(1.0).epsilon(1e-5));
  }

  // Same teachers, manifest and preprocessing: the graph does not run at all.
  const auto again = run_yaml(inference("teacher/last.pt", "pl.h5"), d);
  CHECK(again.skipped);
  CHECK(again.reports["teacher"]["cache_state"] == "hit");
  CHECK(again.stats.nodes[0].items_out == 0);

  // Another normalization upstream: recomputed.
  const auto renormalized = run_yaml(inference("teacher/last.pt", "pl.h5", 0.4), d);
  CHECK_FALSE(renormalized.skipped);
  CHECK(renormalized.reports["teacher"]["cache_status"] == "fingerprint_mismatch");

  // Another teacher: recomputed too.
  train_teacher(d, "teacher2", 2);
  const auto other = run_yaml(inference("teacher2/last.pt", "pl.h5", 0.4), d);
  CHECK_FALSE(other.skipped);
  CHECK(other.reports["teacher"]["cache_state"] == "miss");
}

TEST_CASE("teacher_inference: an ensemble of one teacher twice averages to that teacher", "[teacher_inference]") {
  semiflow::testing::TempDir dir;
  const std::string d = dir.path().string();
  semiflow::testing::write_colour_dataset(d, 12, 8);
  train_teacher(d, "teacher", 1);
  run_yaml(inference("teacher/last.pt", "one.h5"), d);
  run_yaml(inference("teacher/last.pt, teacher/last.pt", "two.h5"), d);
  const auto one = PseudoLabelCacheReader(dir.file("one.h5")).read_range(0, 12);
  const auto two = PseudoLabelCacheReader(dir.file("two.h5")).read_range(0, 12);
  for (std::size_t level = 0; level < 2; ++level)
    for (std::size_t i = 0; i < one.probabilities[level].values.size(); ++i)
      CHECK(two.probabilities[level].values[i] == Approx(one.probabilities[level].values[i]).margin(1e-6));
}

TEST_CASE("teacher_inference: rows out of manifest order are refused with what to change", "[teacher_inference]") {
  semiflow::testing::TempDir dir;
  const std::string d = dir.path().string();
  semiflow::testing::write_colour_dataset(d, 12, 8);
  train_teacher(d, "teacher", 1);
  try {
    run_yaml(inference("teacher/last.pt", "pl.h5", 0.5, "true"), d);
    FAIL("a shuffled stream should be refused");
  } catch (const graph::NodeFailure& failure) {
    CHECK(failure.node() == "teacher");
    CHECK_THAT(failure.message(), Catch::Contains("shuffle: false"));
  }
  CHECK_FALSE(fs::exists(dir.file("pl.h5")));  // never taken as a complete cache
}

TEST_CASE("teacher_inference: a run killed midway keeps a .partial that the next run resumes", "[teacher_inference]") {
  semiflow::testing::TempDir dir;
  const std::string d = dir.path().string();
  semiflow::testing::write_colour_dataset(d, 40, 8);
  train_teacher(d, "teacher", 1);
  run_yaml(inference("teacher/last.pt", "straight.h5"), d);

  // The last image is broken: the run stops there, as a killed one would, after the rows before
  // it reached the cache (two micro-batches in flight keep the stream in order).
  const auto good = semiflow::read_file_bytes(dir.file("img039.jpg"));
  dir.write("img039.jpg", "not a jpeg");
  const std::string in_order = "max_in_flight: 2\n" + inference("teacher/last.pt", "pl.h5");
  CHECK_THROWS_WITH(run_yaml(in_order, d), Catch::Contains("img039.jpg"));
  CHECK_FALSE(fs::exists(dir.file("pl.h5")));
  const long kept = read_cache_info(dir.file("pl.h5.partial")).rows_committed;
  CHECK(kept >= 12);

  semiflow::write_file_bytes(dir.file("img039.jpg"), good);
  const auto resumed = run_yaml(in_order, d);
  CHECK(resumed.reports["teacher"]["inferred_rows"] == 40 - kept);  // only the rows the partial lacked
  const auto a = PseudoLabelCacheReader(dir.file("straight.h5")).read_range(0, 40);
  const auto b = PseudoLabelCacheReader(dir.file("pl.h5")).read_range(0, 40);
  CHECK(a.ids == b.ids);
  for (std::size_t i = 0; i < a.probabilities[1].values.size(); ++i)
    CHECK(b.probabilities[1].values[i] == Approx(a.probabilities[1].values[i]).margin(1e-6));
}

TEST_CASE("teacher_inference: bf16 probabilities are close to fp32's and keyed apart from them", "[teacher_inference]") {
  semiflow::testing::TempDir dir;
  const std::string d = dir.path().string();
  semiflow::testing::write_colour_dataset(d, 16, 8);
  train_teacher(d, "teacher", 1);
  run_yaml(inference("teacher/last.pt", "fp32.h5"), d);
  const auto bf16 = run_yaml(inference("teacher/last.pt", "fp32.h5", 0.5, "false", "bf16"), d);
  CHECK(bf16.reports["teacher"]["cache_state"] == "miss");  // another key: rewritten
  run_yaml(inference("teacher/last.pt", "fp32_again.h5"), d);
  const auto a = PseudoLabelCacheReader(dir.file("fp32_again.h5")).read_range(0, 16);
  const auto b = PseudoLabelCacheReader(dir.file("fp32.h5")).read_range(0, 16);
  double largest = 0;
  for (std::size_t level = 0; level < a.probabilities.size(); ++level)
    for (std::size_t i = 0; i < a.probabilities[level].values.size(); ++i)
      largest = std::max(largest, std::abs(double{a.probabilities[level].values[i]} - b.probabilities[level].values[i]));
  // (This 1-epoch teacher's softmax is nearly saturated: the two may even agree exactly; the
  // models' tests check that bf16 changes the logits.)
  INFO("largest probability difference bf16 - fp32: " << largest);
  CHECK(largest < 0.05);
}

// Hidden ([.cuda]): run on a GPU machine with `tests_nodes "[cuda]"` (scripts/device/run_kit.sh).
TEST_CASE("teacher_inference on CUDA: fp32 probabilities equal the CPU's, bf16 ones are close", "[.cuda]") {
  REQUIRE(torch::cuda::is_available());
  semiflow::testing::TempDir dir;
  const std::string d = dir.path().string();
  semiflow::testing::write_colour_dataset(d, 16, 8);
  train_teacher(d, "teacher", 1);
  run_yaml(inference("teacher/last.pt", "cpu.h5"), d);
  run_yaml(inference("teacher/last.pt", "cuda.h5", 0.5, "false", "fp32", "cuda"), d);
  run_yaml(inference("teacher/last.pt", "cuda_bf16.h5", 0.5, "false", "bf16", "cuda"), d);
  const auto cpu = PseudoLabelCacheReader(dir.file("cpu.h5")).read_range(0, 16);
  for (const auto& [file, tolerance] : {std::pair{"cuda.h5", 1e-4}, std::pair{"cuda_bf16.h5", 0.05}}) {
    const auto cuda = PseudoLabelCacheReader(dir.file(file)).read_range(0, 16);
    CHECK(cuda.ids == cpu.ids);
    double largest = 0;
    for (std::size_t level = 0; level < cpu.probabilities.size(); ++level)
      for (std::size_t i = 0; i < cpu.probabilities[level].values.size(); ++i)
        largest = std::max(largest, std::abs(double{cpu.probabilities[level].values[i]} - cuda.probabilities[level].values[i]));
    INFO(file << ": largest probability difference from the CPU's " << largest);
    CHECK(largest < tolerance);
  }
}
