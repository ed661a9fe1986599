#include "datasets/sample.h"
#include "nodes/batch.h"
#include "tests/nodes/pipeline_harness.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <set>

using namespace semiflow;
using semiflow::testing::collected;
using semiflow::testing::run_yaml;

TEST_CASE("two_view_source: each item is one step of labeled images and unlabeled ones in a weak and a strong view",
          "[two_view_source]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 10, 8);
  run_yaml(R"(
nodes:
  - {name: src, type: two_view_source, labeled_manifest: labeled.csv, unlabeled_manifest: unlabeled.csv,
     hierarchy: hierarchy.yaml, batch_size: 2, unlabeled_ratio: 2.0, epochs: 2, seed: 1}
  - {name: out, type: collect, input: src}
)", dir.path().string());
  const auto items = collected("out");
  // 10 unlabeled rows, 4 per step: 3 steps per epoch, the last with 2.
  REQUIRE(items.size() == 6);
  std::multiset<std::string> unlabeled_seen;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& samples = items[i].get<Samples>();
    const std::size_t unlabeled = i % 3 == 2 ? 2 : 4;
    REQUIRE(samples.size() == 2 + 2 * unlabeled);
    std::set<std::uint64_t> indices;
    for (std::size_t k = 0; k < samples.size(); ++k) {
      const Sample& s = samples[k];
      CHECK(s.epoch == static_cast<std::int64_t>(i / 3));
      indices.insert(s.index);
      if (k < 2) {
        CHECK(s.view == kPlainView);
        CHECK(s.labels.size() == 2);
        CHECK(s.labels[1] >= 0);
        continue;
      }
      CHECK(s.labels == std::vector<int>{-1, -1});
      CHECK(s.view == ((k - 2) % 2 == 0 ? kWeakView : kStrongView));
      if (s.view == kStrongView) CHECK(s.path == samples[k - 1].path);
      else if (i < 3) unlabeled_seen.insert(s.path);
    }
    CHECK(indices.size() == samples.size());  // distinct seeds for the two views
  }
  CHECK(unlabeled_seen.size() == 10);
  CHECK(std::set<std::string>(unlabeled_seen.begin(), unlabeled_seen.end()).size() == 10);  // each row once per epoch
}

TEST_CASE("two_view_source: batches keep each sample's view and augment's strong_ops transform only strong views",
          "[two_view_source]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 4, 8);
  run_yaml(R"(
nodes:
  - {name: src, type: two_view_source, labeled_manifest: labeled.csv, unlabeled_manifest: unlabeled.csv,
     hierarchy: hierarchy.yaml, batch_size: 1, unlabeled_ratio: 4.0}
  - {name: dec, type: decode, input: src}
  - {name: aug, type: augment, input: dec, ops: [resize size=4], strong_ops: [resize size=4, cutout size=8 fill=255]}
  - {name: bat, type: batch, input: aug, batch_size: 9, mean: [0, 0, 0], std: [1, 1, 1]}
  - {name: out, type: collect, input: bat}
)", dir.path().string());
  const auto items = collected("out");
  REQUIRE(items.size() == 1);
  const Batch& batch = items[0].get<Batch>();
  REQUIRE(batch.views == std::vector<int>{kPlainView, kWeakView, kStrongView, kWeakView, kStrongView, kWeakView,
                                          kStrongView, kWeakView, kStrongView});
  for (int k = 1; k < 9; k += 2) {
    // The images are dark; a cutout covering all of a 4x4 image paints only the strong views white.
    CHECK(batch.images[k].max().item<float>() < 0.5f);
    CHECK(batch.images[k + 1].min().item<float>() == 1.0f);
  }
}
