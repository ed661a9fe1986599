#include "nodes/metrics.h"

#include <catch2/catch.hpp>
#include <torch/torch.h>

using namespace semiflow;
using Catch::Matchers::Contains;

namespace {

// a -> {a1 -> {a1x, a1y}, a2 -> {a2x}}, b -> {b1} (b1 has no children: its path ends at level 2).
const char* kThreeLevels =
    "levels:\n  - {name: l1, classes: [a, b]}\n"
    "  - {name: l2, classes: [{a1: a}, {a2: a}, {b1: b}]}\n"
    "  - {name: l3, classes: [{a1x: a1}, {a1y: a1}, {a2x: a2}]}\n";

Hierarchy three_levels() { return Hierarchy::parse(kThreeLevels, "three.yaml"); }

// AI Rush score of one image predicted `predicted` (both decodings alike).
double airush(const std::vector<int>& labels, const std::vector<int>& predicted) {
  HierarchicalMetrics metrics(three_levels());
  metrics.add_predictions({predicted}, {predicted}, {labels});
  return metrics.result().argmax.airush_score;
}

torch::Tensor log_probs(std::vector<float> probabilities) {
  return torch::tensor(probabilities).log().unsqueeze(0);
}

}  // namespace

TEST_CASE("AI Rush score counts levels right from the top, stopping at the first miss", "[metrics]") {
  CHECK(airush({0, 0, 0}, {0, 0, 0}) == Approx(1.0));
  CHECK(airush({0, 0, 0}, {0, 0, 1}) == Approx(2.0 / 3));
  CHECK(airush({0, 0, 0}, {0, 1, 2}) == Approx(1.0 / 3));
  CHECK(airush({0, 0, 0}, {1, 2, 0}) == Approx(0.0));
  CHECK(airush({0, 0, 0}, {0, 1, 0}) == Approx(1.0 / 3));  // a right level after a miss does not count
}

TEST_CASE("AI Rush score leaves -1 levels out of the denominator and the walk", "[metrics]") {
  CHECK(airush({0, 0, -1}, {0, 0, 2}) == Approx(1.0));        // fine unknown: 2 of 2
  CHECK(airush({0, 0, -1}, {0, 1, 2}) == Approx(1.0 / 2));
  CHECK(airush({0, -1, -1}, {0, 2, 2}) == Approx(1.0));       // coarse only
  CHECK(airush({0, -1, 0}, {0, 1, 0}) == Approx(1.0));        // unknown middle level neither helps nor stops
  CHECK(airush({0, -1, 0}, {0, 0, 1}) == Approx(1.0 / 2));
  CHECK(airush({-1, 0, 0}, {1, 0, 1}) == Approx(1.0 / 2));

  HierarchicalMetrics metrics(three_levels());
  const std::vector<std::vector<int>> predicted = {{0, 0, 0}, {0, 0, 1}, {1, 1, 1}, {0, 0, 0}};
  metrics.add_predictions(predicted, predicted, {{0, 0, 0}, {0, 0, 0}, {0, 0, -1}, {-1, -1, -1}});
  const auto result = metrics.result();
  CHECK(result.images == 4);
  CHECK(result.scored_images == 3);  // the unlabeled image is not scored
  CHECK(result.argmax.airush_score == Approx((1.0 + 2.0 / 3 + 0.0) / 3));
  CHECK(result.argmax.exact_path_accuracy == Approx(1.0 / 3));
  CHECK(result.argmax.levels[2].count == 2);
}

TEST_CASE("accuracy, macro-F1 and the confusion matrix skip -1 labels", "[metrics]") {
  // Four classes, class 3 never seen: it is left out of the macro average (scikit-learn's rule).
  HierarchicalMetrics metrics(Hierarchy::flat(4));
  const std::vector<std::vector<int>> predicted = {{0}, {1}, {1}, {1}, {0}, {2}};
  metrics.add_predictions(predicted, predicted, {{0}, {0}, {1}, {1}, {2}, {-1}});
  const auto level = metrics.result().argmax.levels.at(0);
  CHECK(level.level == "class");
  CHECK(level.count == 5);
  CHECK(level.accuracy == Approx(3.0 / 5));
  // F1: class 0 tp 1 fp 1 fn 1 -> 0.5; class 1 tp 2 fp 1 fn 0 -> 0.8; class 2 tp 0 fn 1 -> 0.
  CHECK(level.macro_f1 == Approx((0.5 + 0.8 + 0.0) / 3));
  const std::vector<std::vector<std::int64_t>> confusion = {{1, 1, 0, 0}, {0, 2, 0, 0}, {1, 0, 0, 0}, {0, 0, 0, 0}};
  CHECK(level.confusion == confusion);
}

TEST_CASE("consistent decoding picks the most probable tree path where argmax does not", "[metrics]") {
  const auto hierarchy = Hierarchy::parse("levels:\n  - {name: coarse, classes: [a, b]}\n"
                                          "  - {name: fine, classes: [{a1: a}, {a2: a}, {b1: b}]}\n",
                                          "two.yaml");
  // Argmax says (a, b1): not a path. Paths: (a,a1) 0.6*0.1, (a,a2) 0.6*0.1, (b,b1) 0.4*0.8.
  const std::vector<torch::Tensor> logits = {log_probs({0.6f, 0.4f}), log_probs({0.1f, 0.1f, 0.8f})};
  CHECK(decode_consistent_paths(hierarchy, logits).equal(torch::tensor({{1, 2}}, torch::kInt64)));

  HierarchicalMetrics metrics(hierarchy);
  metrics.add(logits, {torch::tensor({1}, torch::kInt64), torch::tensor({2}, torch::kInt64)});
  const auto result = metrics.result();
  CHECK(result.argmax.airush_score == Approx(0.0));
  CHECK(result.argmax.levels[1].accuracy == Approx(1.0));
  CHECK(result.argmax.consistency == Approx(0.0));
  CHECK(result.consistent.airush_score == Approx(1.0));
  CHECK(result.consistent.exact_path_accuracy == Approx(1.0));
  CHECK(result.consistent.consistency == Approx(1.0));
}

TEST_CASE("consistent decoding ends a path at a class without children", "[metrics]") {
  // b is likely and b1 is b's only child; the level-3 head's preference for a2x cannot pull the
  // path into a's subtree: (b, b1, none) = 0.9 * 0.9 beats (a, a2, a2x) = 0.1 * 0.05 * 0.9.
  const std::vector<torch::Tensor> logits = {log_probs({0.1f, 0.9f}), log_probs({0.05f, 0.05f, 0.9f}),
                                             log_probs({0.05f, 0.05f, 0.9f})};
  CHECK(decode_consistent_paths(three_levels(), logits).equal(torch::tensor({{1, 2, -1}}, torch::kInt64)));

  HierarchicalMetrics metrics(three_levels());
  metrics.add(logits, {torch::tensor({1}, torch::kInt64), torch::tensor({2}, torch::kInt64),
                       torch::tensor({-1}, torch::kInt64)});
  const auto result = metrics.result();
  CHECK(result.consistent.consistency == Approx(1.0));
  CHECK(result.consistent.airush_score == Approx(1.0));
  CHECK(result.argmax.consistency == Approx(0.0));  // (b, b1, a2x): a2x is not b1's child
}

TEST_CASE("consistency is the fraction of predicted paths that exist in the tree", "[metrics]") {
  HierarchicalMetrics metrics(three_levels());
  const std::vector<std::vector<int>> argmax = {{0, 0, 1}, {0, 1, 2}, {1, 2, -1}, {0, 2, 0}};
  const std::vector<std::vector<int>> unlabeled(4, std::vector<int>{-1, -1, -1});
  metrics.add_predictions(argmax, argmax, unlabeled);
  const auto result = metrics.result();
  CHECK(result.argmax.consistency == Approx(3.0 / 4));  // (a, b1, a1x) is not a path
  CHECK(result.scored_images == 0);
  CHECK(result.argmax.airush_score == 0.0);
}

TEST_CASE("metrics accumulate over batches and report JSON and a table", "[metrics]") {
  HierarchicalMetrics metrics(Hierarchy::flat(2));
  metrics.add({torch::tensor({{2.0f, 0.0f}, {0.0f, 1.0f}})}, {torch::tensor({0, 0}, torch::kInt64)});
  metrics.add({torch::tensor({{0.0f, 3.0f}})}, {torch::tensor({1}, torch::kInt64)});
  const auto result = metrics.result();
  CHECK(result.images == 3);
  CHECK(result.argmax.levels[0].accuracy == Approx(2.0 / 3));
  const auto json = result.to_json();
  CHECK(json["levels"]["class"]["count"] == 3);
  CHECK(json["levels"]["class"]["accuracy"].get<double>() == Approx(2.0 / 3));
  CHECK(json["airush_score"].get<double>() == Approx(2.0 / 3));
  CHECK(json.contains("exact_path_accuracy"));
  CHECK(json["consistent"]["consistency"].get<double>() == Approx(1.0));
  CHECK_THAT(result.to_table(), Contains("argmax") && Contains("consistent") && Contains("0.6667"));
}

TEST_CASE("metrics refuse logits and labels that do not match the hierarchy", "[metrics]") {
  HierarchicalMetrics metrics(three_levels());
  const auto labels = std::vector<torch::Tensor>(3, torch::tensor({0}, torch::kInt64));
  CHECK_THROWS_WITH(metrics.add({torch::zeros({1, 2})}, labels), Contains("1 levels") && Contains("three.yaml has 3"));
  CHECK_THROWS_WITH(metrics.add({torch::zeros({1, 2}), torch::zeros({1, 4}), torch::zeros({1, 3})}, labels),
                    Contains("level 'l2'") && Contains("[1, 3]"));
  const auto bad_label = std::vector<torch::Tensor>{torch::tensor({5}, torch::kInt64), labels[1], labels[2]};
  CHECK_THROWS_WITH(metrics.add({torch::zeros({1, 2}), torch::zeros({1, 3}), torch::zeros({1, 3})}, bad_label),
                    Contains("label 5 at level 'l1'"));
}
