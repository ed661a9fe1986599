#include "datasets/pseudo_label_accuracy.h"

#include "datasets/pseudo_label_cache.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>

using namespace semiflow;
using Catch::Matchers::Contains;

namespace {

Hierarchy two_levels() { return Hierarchy({{"coarse", {"a", "b"}, {}}, {"fine", {"x", "y", "z"}, {0, 0, 1}}}); }

// Four cached images, img/0..3.jpg in `dir`, with these (coarse, fine) probabilities:
//   0: a 0.9, x 0.7   1: b 0.7, z 0.8   2: a 0.6, y 0.5   3: a 0.8, x 0.6
std::string write_cache(const semiflow::testing::TempDir& dir) {
  CacheHeader header;
  header.level_names = {"coarse", "fine"};
  header.classes_per_level = {2, 3};
  header.rows_expected = 4;
  header.fingerprints = {fingerprint_bytes("t"), fingerprint_bytes("m"), fingerprint_bytes("p")};
  header.semiflow_version = "test";
  const auto path = dir.file("c.h5");
  PseudoLabelCacheWriter writer(path, header);
  ProbabilityMatrix coarse(4, 2), fine(4, 3);
  coarse.values = {0.9f, 0.1f, 0.3f, 0.7f, 0.6f, 0.4f, 0.8f, 0.2f};
  fine.values = {0.7f, 0.2f, 0.1f, 0.1f, 0.1f, 0.8f, 0.2f, 0.5f, 0.3f, 0.6f, 0.3f, 0.1f};
  std::vector<std::string> ids;
  for (int r = 0; r < 4; ++r) ids.push_back(dir.file("img/" + std::to_string(r) + ".jpg"));
  writer.append(ids, {coarse, fine});
  writer.finish();
  return path;
}

}  // namespace

TEST_CASE("cache accuracy counts right hard labels per level, label class and confidence bin", "[pseudo_label_accuracy]") {
  semiflow::testing::TempDir dir;
  const auto cache = write_cache(dir);
  const auto hierarchy = two_levels();
  // Image 1's fine label is unknown, image 2's coarse label comes from its fine one, image 3 is
  // not in the truth.
  const auto truth = load_manifest(dir.write("truth.csv", "path,coarse,fine\nimg/0.jpg,a,x\nimg/1.jpg,a,\nimg/2.jpg,,y\n"),
                                   &hierarchy);
  const auto result = score_cache(cache, truth, hierarchy, 10);
  CHECK(result.rows == 4);
  CHECK(result.matched == 3);
  REQUIRE(result.levels.size() == 2);

  const auto& coarse = result.levels[0];
  CHECK(coarse.name == "coarse");
  CHECK(coarse.all.scored == 3);
  CHECK(coarse.all.correct == 2);
  CHECK(coarse.all.accuracy() == Approx(2.0 / 3.0));
  CHECK(coarse.per_class[0].scored == 2);  // images 0 and 2, labeled a: both right
  CHECK(coarse.per_class[0].correct == 2);
  CHECK(coarse.per_class[1].scored == 1);  // image 1, labeled b: wrong
  CHECK(coarse.per_class[1].correct == 0);
  REQUIRE(coarse.per_bin.size() == 10);
  CHECK(coarse.per_bin[9].correct == 1);  // 0.9
  CHECK(coarse.per_bin[7].scored == 1);   // 0.7
  CHECK(coarse.per_bin[7].correct == 0);
  CHECK(coarse.per_bin[6].correct == 1);  // 0.6
  CHECK(coarse.per_bin[8].scored == 0);   // image 3 is not scored

  const auto& fine = result.levels[1];
  CHECK(fine.all.scored == 2);
  CHECK(fine.all.correct == 2);
  CHECK(fine.per_class[2].scored == 0);  // z: only image 1, whose fine label is unknown
}

TEST_CASE("cache accuracy refuses other levels, unlabeled truth and truth about other images", "[pseudo_label_accuracy]") {
  semiflow::testing::TempDir dir;
  const auto cache = write_cache(dir);
  const auto hierarchy = two_levels();
  const Hierarchy flat = Hierarchy::flat(3);
  const auto flat_truth = load_manifest(dir.write("flat.csv", "path,class\nimg/0.jpg,0\n"), &flat);
  CHECK_THROWS_WITH(score_cache(cache, flat_truth, flat), Contains("c.h5") && Contains("levels"));
  const auto unlabeled = load_manifest(dir.write("unlabeled.csv", "path\nimg/0.jpg\n"), nullptr);
  CHECK_THROWS_WITH(score_cache(cache, unlabeled, hierarchy), Contains("unlabeled.csv"));
  const auto elsewhere = load_manifest(dir.write("other.csv", "path,coarse,fine\nother/0.jpg,a,x\n"), &hierarchy);
  CHECK_THROWS_WITH(score_cache(cache, elsewhere, hierarchy), Contains("none of its 4 images") && Contains("other.csv"));
}
