#include "datasets/pseudo_labels.h"

#include <catch2/catch.hpp>

#include <map>
#include <numeric>
#include <set>

using namespace semiflow;
using Catch::Matchers::Contains;

namespace {

// coarse: animal, thing; fine: cat, dog (animal), cup (thing).
Hierarchy two_levels() {
  return Hierarchy({{"coarse", {"animal", "thing"}, {}}, {"fine", {"cat", "dog", "cup"}, {0, 0, 1}}}, "test");
}

ProbabilityMatrix matrix(int classes, std::vector<float> values) {
  ProbabilityMatrix m(static_cast<long>(values.size()) / classes, classes);
  m.values = std::move(values);
  return m;
}

float row_sum(const ProbabilityMatrix& m, long r) { return std::accumulate(m.row(r), m.row(r) + m.classes, 0.0f); }

}  // namespace

TEST_CASE("temperature 1 leaves probabilities unchanged", "[pseudo_labels]") {
  auto p = matrix(3, {0.2f, 0.5f, 0.3f, 0.0f, 0.9f, 0.1f});
  const auto before = p.values;
  apply_temperature(p, 1.0f);
  CHECK(p.values == before);
}

TEST_CASE("temperature below 1 sharpens, above 1 flattens, rows still sum to 1", "[pseudo_labels]") {
  const auto original = matrix(3, {0.2f, 0.5f, 0.3f});
  auto sharp = original;
  apply_temperature(sharp, 0.5f);
  // p^2 renormalised: 0.04, 0.25, 0.09 over 0.38.
  CHECK(sharp.values[1] == Approx(0.25 / 0.38));
  CHECK(sharp.values[1] > original.values[1]);
  CHECK(row_sum(sharp, 0) == Approx(1.0f));
  auto flat = original;
  apply_temperature(flat, 100.0f);
  for (float v : flat.values) CHECK(v == Approx(1.0f / 3).epsilon(0.01));
  CHECK(row_sum(flat, 0) == Approx(1.0f));
  auto tiny = original;
  apply_temperature(tiny, 0.01f);  // p^100 would underflow without the log domain
  CHECK(tiny.values[1] == Approx(1.0f));
  CHECK_THROWS_WITH(apply_temperature(flat, 0.0f), Contains("temperature"));
}

TEST_CASE("tempered probabilities equal softmax of logits over T", "[pseudo_labels]") {
  const auto logits = matrix(4, {1.0f, -2.0f, 0.5f, 3.0f});
  auto probs = logits;
  softmax_rows(probs);
  apply_temperature(probs, 0.7f);
  auto direct = logits;
  softmax_rows(direct, 0.7f);
  for (int c = 0; c < 4; ++c) CHECK(probs.values[c] == Approx(direct.values[c]));
}

TEST_CASE("hard labels are the argmax with its probability as confidence", "[pseudo_labels]") {
  const auto h = two_levels();
  PseudoLabelOptions options;
  options.kind = PseudoLabelKind::hard;
  const auto labels = make_pseudo_labels({matrix(2, {0.9f, 0.1f, 0.2f, 0.8f}), matrix(3, {0.1f, 0.7f, 0.2f, 0.3f, 0.1f, 0.6f})},
                                         h, options);
  CHECK(labels[0].labels == std::vector<int>{0, 1});
  CHECK(labels[1].labels == std::vector<int>{1, 2});
  CHECK(labels[1].confidence == std::vector<float>{0.7f, 0.6f});
  CHECK(labels[1].targets.values.empty());
}

TEST_CASE("soft labels carry the tempered probabilities", "[pseudo_labels]") {
  const auto h = two_levels();
  PseudoLabelOptions options;
  options.temperature = 0.5f;
  const auto labels = make_pseudo_labels({matrix(2, {0.6f, 0.4f}), matrix(3, {0.2f, 0.5f, 0.3f})}, h, options);
  CHECK(labels[1].targets.values[1] == Approx(0.25 / 0.38));
  CHECK(labels[1].confidence[0] == 0.5f);  // thresholds see the teacher's own probability
}

TEST_CASE("a level whose confidence is below its threshold becomes -1", "[pseudo_labels]") {
  const auto h = two_levels();
  PseudoLabelOptions options;
  options.thresholds = {0.5f, 0.3f};
  const auto labels = make_pseudo_labels(
      {matrix(2, {0.9f, 0.1f, 0.45f, 0.55f, 0.5f, 0.5f}), matrix(3, {0.29f, 0.3f, 0.41f, 0.8f, 0.1f, 0.1f, 0.4f, 0.3f, 0.3f})},
      h, options);
  CHECK(labels[0].labels == std::vector<int>{0, 1, 0});  // 0.5 is kept: the threshold is inclusive
  CHECK(labels[1].labels == std::vector<int>{2, 0, 0});
  options.thresholds = {0.95f};  // one value for every level
  const auto strict = make_pseudo_labels({matrix(2, {0.9f, 0.1f}), matrix(3, {0.96f, 0.02f, 0.02f})}, h, options);
  CHECK(strict[0].labels == std::vector<int>{-1});
  CHECK(strict[1].labels == std::vector<int>{0});
  options.thresholds = {0.1f, 0.2f, 0.3f};
  CHECK_THROWS_WITH(make_pseudo_labels({matrix(2, {0.9f, 0.1f}), matrix(3, {0.96f, 0.02f, 0.02f})}, h, options),
                    Contains("3 thresholds for 2 levels"));
}

TEST_CASE("mismatched matrices are named", "[pseudo_labels]") {
  const auto h = two_levels();
  CHECK_THROWS_WITH(make_pseudo_labels({matrix(2, {0.9f, 0.1f}), matrix(2, {0.5f, 0.5f})}, h, {}),
                    Contains("level 'fine' has 3 classes"));
  CHECK_THROWS_WITH(make_pseudo_labels({matrix(2, {0.9f, 0.1f})}, h, {}), Contains("1 probability matrices for the 2 levels"));
}

TEST_CASE("hierarchy modes: independent argmax, drop inconsistent, best path", "[pseudo_labels]") {
  const auto h = two_levels();
  // Coarse says thing (0.55); fine argmax is cat (0.4) but animal's children hold 0.7 together.
  // Path products: animal/cat .45*.4=.18, animal/dog .45*.3=.135, thing/cup .55*.3=.165.
  const std::vector<ProbabilityMatrix> p = {matrix(2, {0.45f, 0.55f}), matrix(3, {0.4f, 0.3f, 0.3f})};
  PseudoLabelOptions options;
  auto independent = make_pseudo_labels(p, h, options);
  CHECK(independent[0].labels[0] == 1);
  CHECK(independent[1].labels[0] == 0);
  options.hierarchy_mode = HierarchyMode::drop_inconsistent;
  auto dropped = make_pseudo_labels(p, h, options);
  CHECK(dropped[0].labels[0] == 1);
  CHECK(dropped[1].labels[0] == -1);
  options.hierarchy_mode = HierarchyMode::best_path;
  auto best = make_pseudo_labels(p, h, options);
  CHECK(best[0].labels[0] == 0);
  CHECK(best[1].labels[0] == 0);
  CHECK(best[0].confidence[0] == 0.45f);
  CHECK(h.is_consistent({best[0].labels[0], best[1].labels[0]}));
}

TEST_CASE("drop_inconsistent drops every level below the first inconsistent one", "[pseudo_labels]") {
  const Hierarchy h({{"a", {"x", "y"}, {}}, {"b", {"x1", "y1"}, {0, 1}}, {"c", {"x11", "y11"}, {0, 1}}}, "test");
  PseudoLabelOptions options;
  options.hierarchy_mode = HierarchyMode::drop_inconsistent;
  // b's argmax (y1) is not a child of x; c's argmax y11 is a child of y1 but still dropped.
  const auto labels = make_pseudo_labels({matrix(2, {0.9f, 0.1f}), matrix(2, {0.2f, 0.8f}), matrix(2, {0.1f, 0.9f})}, h, options);
  CHECK(labels[0].labels[0] == 0);
  CHECK(labels[1].labels[0] == -1);
  CHECK(labels[2].labels[0] == -1);
}

namespace {
// Fine-level labels/confidences only; the coarse level is left empty (balance looks at one level).
PseudoLabels fine_labels(std::vector<int> labels, std::vector<float> confidence) {
  PseudoLabels out(2);
  out[1].labels = std::move(labels);
  out[1].confidence = std::move(confidence);
  return out;
}
}  // namespace

TEST_CASE("balancing keeps the K most confident rows of a common class", "[pseudo_labels]") {
  const auto h = two_levels();
  const auto labels = fine_labels({0, 0, 0, 0, -1, 2, 2}, {0.5f, 0.9f, 0.7f, 0.9f, 0.99f, 0.6f, 0.8f});
  BalanceOptions options;
  options.per_class = 2;
  const auto rows = balance_classes(labels, h, options);
  // cat: rows 1 and 3 (0.9, tie kept in row order); cup: both rows; dog: none; row 4 unlabeled.
  REQUIRE(rows.size() == 4);
  CHECK(rows[0].row == 1);
  CHECK(rows[1].row == 3);
  CHECK(rows[2].row == 5);
  CHECK(rows[3].row == 6);
  for (const auto& r : rows) CHECK(r.copies == 1);
  CHECK(expand_rows(rows) == std::vector<long>{1, 3, 5, 6});
}

TEST_CASE("balancing duplicates a rare class to exactly K with seeded rounding", "[pseudo_labels]") {
  const auto h = two_levels();
  // cat has 3 rows, K = 8: each gets 2 copies and two of them a third.
  const auto labels = fine_labels({0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, std::vector<float>(13, 0.9f));
  BalanceOptions options;
  options.per_class = 8;
  options.seed = 7;
  const auto rows = balance_classes(labels, h, options);
  std::map<int, long> totals;
  int threes = 0;
  for (const auto& r : rows) {
    totals[labels[1].labels[r.row]] += r.copies;
    if (labels[1].labels[r.row] == 0) {
      CHECK((r.copies == 2 || r.copies == 3));
      threes += r.copies == 3;
    }
  }
  CHECK(totals[0] == 8);
  CHECK(totals[1] == 8);
  CHECK(threes == 2);
  CHECK(expand_rows(rows).size() == 16);
  const auto again = balance_classes(labels, h, options);
  CHECK(expand_rows(again) == expand_rows(rows));
  // Across seeds the extra copies go to different rows.
  std::set<std::vector<long>> seen;
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    options.seed = seed;
    seen.insert(expand_rows(balance_classes(labels, h, options)));
  }
  CHECK(seen.size() > 1);
  options.per_class = 0;
  CHECK_THROWS_WITH(balance_classes(labels, h, options), Contains("per class"));
}

TEST_CASE("statistics count kept rows per level and class and histogram confidence", "[pseudo_labels]") {
  const auto h = two_levels();
  PseudoLabelOptions options;
  options.thresholds = {0.0f, 0.5f};
  const auto labels = make_pseudo_labels({matrix(2, {0.9f, 0.1f, 0.2f, 0.8f, 0.6f, 0.4f, 0.3f, 0.7f}),
                                          matrix(3, {0.1f, 0.7f, 0.2f, 0.3f, 0.1f, 0.6f, 0.42f, 0.3f, 0.28f, 0.05f, 0.05f, 0.9f})},
                                         h, options);
  const auto stats = pseudo_label_stats(labels, h, 10);
  REQUIRE(stats.size() == 2);
  CHECK(stats[0].kept == 4);
  CHECK(stats[0].class_counts == std::vector<long>{2, 2});
  CHECK(stats[1].rows == 4);
  CHECK(stats[1].kept == 3);
  CHECK(stats[1].kept_fraction == Approx(0.75));
  CHECK(stats[1].class_counts == std::vector<long>{0, 1, 2});
  // Fine confidences 0.7, 0.6, 0.42, 0.9: one each in bins 4, 6, 7, 9.
  CHECK(stats[1].confidence.histogram == std::vector<long>{0, 0, 0, 0, 1, 0, 1, 1, 0, 1});
  CHECK(stats[1].confidence.mean == Approx((0.7 + 0.6 + 0.42 + 0.9) / 4));
  CHECK(stats[1].confidence.quantiles[2] == Approx(0.6));  // median, nearest rank
}

TEST_CASE("confidence summary puts 1.0 in the last bin and handles no rows", "[pseudo_labels]") {
  const auto s = summarize_confidence({1.0f, 0.0f, 0.25f, 0.5f}, 4, {0.0, 0.5, 1.0});
  CHECK(s.histogram == std::vector<long>{1, 1, 1, 1});
  CHECK(s.quantiles == std::vector<double>{0.0, 0.25, 1.0});
  const auto empty = summarize_confidence({}, 4);
  CHECK(empty.count == 0);
  CHECK(empty.histogram == std::vector<long>(4, 0));
}
