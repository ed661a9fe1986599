#include "datasets/pseudo_label_cache.h"
#include "datasets/sample.h"
#include "graph/runtime.h"
#include "tests/nodes/pipeline_harness.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <map>

using namespace semiflow;
using semiflow::testing::collected;
using semiflow::testing::run_yaml;

namespace {

// Fine-level probabilities of the 8 unlabeled images: row r is confident (0.9) in class r % 4
// for even r, unsure (0.4) for odd r. Coarse level: 0.8 on the fine class's parent.
void write_cache(const semiflow::testing::TempDir& dir) {
  semiflow::testing::write_tiny_dataset(dir.path().string(), 8, 8);
  const Hierarchy hierarchy = Hierarchy::load(dir.file("hierarchy.yaml"));
  CacheHeader header = CacheHeader::for_hierarchy(hierarchy);
  header.rows_expected = 8;
  header.fingerprints = {"teacher", fingerprint_file(dir.file("unlabeled.csv")), "prep"};
  ProbabilityMatrix coarse(8, 2), fine(8, 4);
  std::vector<std::string> ids;
  for (long r = 0; r < 8; ++r) {
    const int cls = static_cast<int>(r % 4);
    const float top = r % 2 == 0 ? 0.9f : 0.4f;
    for (int c = 0; c < 4; ++c) fine.row(r)[c] = c == cls ? top : (1.0f - top) / 3.0f;
    coarse.row(r)[cls / 2] = 0.8f;
    coarse.row(r)[1 - cls / 2] = 0.2f;
    ids.push_back(fmt::format("img{:03d}.jpg", r));
  }
  PseudoLabelCacheWriter writer(dir.file("pl.h5"), header);
  writer.append(ids, {coarse, fine});
  writer.finish();
}

Samples run(const semiflow::testing::TempDir& dir, const std::string& params) {
  run_yaml(fmt::format(R"(
nodes:
  - {{name: pl, type: pseudo_label, cache: pl.h5, manifest: unlabeled.csv, hierarchy: hierarchy.yaml, micro_batch: 3, {}}}
  - {{name: out, type: collect, input: pl}}
)", params), dir.path().string());
  Samples all;
  for (auto& item : collected("out"))
    for (auto& s : item.get<Samples>()) all.push_back(s);
  return all;
}

int argmax(const std::vector<float>& row) {
  return static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
}

}  // namespace

TEST_CASE("pseudo_label: soft targets per level, thresholds drop unsure levels", "[pseudo_label]") {
  semiflow::testing::TempDir dir;
  write_cache(dir);
  const Samples samples = run(dir, "thresholds: [0.5, 0.6], shuffle: false");
  REQUIRE(samples.size() == 8);  // every row keeps its coarse label, so none is dropped
  for (std::size_t k = 0; k < samples.size(); ++k) {
    const Sample& s = samples[k];
    CHECK(s.labels == std::vector<int>{-1, -1});  // targets only: pseudo-labels are not ground truth
    REQUIRE(s.soft_targets.size() == 2);
    CHECK(s.soft_targets[0].size() == 2);
    CHECK(s.soft_targets[0][0] + s.soft_targets[0][1] == Approx(1.0));
    if (k % 2 == 0) {
      REQUIRE(s.soft_targets[1].size() == 4);
      CHECK(s.soft_targets[1][k % 4] == Approx(0.9));
    } else {
      CHECK(s.soft_targets[1].empty());  // 0.4 < 0.6: no fine target
    }
    CHECK(s.index == k);  // position in the epoch's stream
  }
}

TEST_CASE("pseudo_label: hard targets, temperature and class balancing", "[pseudo_label]") {
  semiflow::testing::TempDir dir;
  write_cache(dir);
  const Samples hard = run(dir, "kind: hard, shuffle: false");
  REQUIRE(hard.size() == 8);
  CHECK(hard[1].soft_targets[1] == std::vector<float>{0, 1, 0, 0});

  const Samples sharp = run(dir, "temperature: 0.5, shuffle: false");
  CHECK(sharp[0].soft_targets[1][0] > 0.99f);  // 0.9 sharpened: 0.81 / (0.81 + 3 * 0.0011)

  // K = 3 per fine class: each class has 2 rows, so 3 copies per class (one row twice).
  const Samples balanced = run(dir, "balance_per_class: 3, epochs: 2, seed: 4");
  REQUIRE(balanced.size() == 24);
  for (std::int64_t epoch = 0; epoch < 2; ++epoch) {
    std::map<int, int> per_class;
    for (const auto& s : balanced)
      if (s.epoch == epoch) ++per_class[argmax(s.soft_targets[1])];
    CHECK(per_class == std::map<int, int>{{0, 3}, {1, 3}, {2, 3}, {3, 3}});
  }
}

TEST_CASE("pseudo_label: labeled images are mixed in at the unlabeled ratio with one-hot targets", "[pseudo_label]") {
  semiflow::testing::TempDir dir;
  write_cache(dir);
  const Samples samples = run(dir, "labeled_manifest: labeled.csv, unlabeled_ratio: 2.0, epochs: 3");
  std::map<std::int64_t, int> labeled_per_epoch;
  for (const auto& s : samples) {
    if (s.labels[1] < 0) continue;
    ++labeled_per_epoch[s.epoch];
    CHECK(argmax(s.soft_targets[1]) == s.labels[1]);
    CHECK(s.soft_targets[1][static_cast<std::size_t>(s.labels[1])] == 1.0f);
  }
  CHECK(samples.size() == 3 * (8 + 4));
  CHECK(labeled_per_epoch == std::map<std::int64_t, int>{{0, 4}, {1, 4}, {2, 4}});
}

TEST_CASE("pseudo_label: a cache of another manifest or hierarchy is refused", "[pseudo_label]") {
  semiflow::testing::TempDir dir;
  write_cache(dir);
  dir.write("other.csv", "path\nimg000.jpg\n");
  CHECK_THROWS_WITH(run_yaml(R"(
nodes:
  - {name: pl, type: pseudo_label, cache: pl.h5, manifest: other.csv, hierarchy: hierarchy.yaml}
  - {name: out, type: collect, input: pl}
)", dir.path().string()), Catch::Contains("pl.h5") && Catch::Contains("another manifest"));
  dir.write("flat.yaml", "levels:\n  - {name: fine, classes: [a1, a2, b1, b2]}\n");
  CHECK_THROWS_WITH(run_yaml(R"(
nodes:
  - {name: pl, type: pseudo_label, cache: pl.h5, manifest: unlabeled.csv, hierarchy: flat.yaml}
  - {name: out, type: collect, input: pl}
)", dir.path().string()), Catch::Contains("differ from hierarchy"));
}
