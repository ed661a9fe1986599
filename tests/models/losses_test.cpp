#include "models/losses.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

using namespace semiflow;
using Catch::Matchers::WithinAbs;

namespace {

// Three rows, three classes. Expected values below come from the closed forms in each case,
// evaluated in double precision with Python's math module.
torch::Tensor sample_logits() { return torch::tensor({{2.0, 0.0, -1.0}, {0.5, 0.5, 0.0}, {0.0, 1.0, 3.0}}); }

torch::Tensor labels_column(std::vector<std::int64_t> values) {
  return torch::tensor(values, torch::kLong).unsqueeze(1);
}

double value(const torch::Tensor& t) { return t.item<double>(); }

}  // namespace

TEST_CASE("cross entropy ignores rows labelled -1", "[losses]") {
  // (-log p(row0, 0) - log p(row2, 2)) / 2
  const auto loss = hierarchical_cross_entropy({sample_logits()}, labels_column({0, -1, 2}));
  CHECK_THAT(value(loss.total), WithinAbs(0.16984601955628564, 1e-6));
  CHECK_THAT(value(loss.per_level[0]), WithinAbs(0.16984601955628564, 1e-6));
}

TEST_CASE("cross entropy with class weights normalises by the labels' weights", "[losses]") {
  // sum_i w[y_i] * nll_i / sum_i w[y_i] with w = (1, 2, 0.5), y = (0, 1, 2)
  const auto options = HierarchicalCrossEntropyOptions().class_weights({torch::tensor({1.0, 2.0, 0.5})});
  const auto loss = hierarchical_cross_entropy({sample_logits()}, labels_column({0, 1, 2}), options);
  CHECK_THAT(value(loss.total), WithinAbs(0.6202312014938559, 1e-6));
}

TEST_CASE("cross entropy with label smoothing", "[losses]") {
  // mean_i (1 - e) * nll_i + e / C * sum_c -log p_ic, e = 0.1
  const auto options = HierarchicalCrossEntropyOptions().label_smoothing(0.1);
  const auto loss = hierarchical_cross_entropy({sample_logits()}, labels_column({0, 1, 2}), options);
  CHECK_THAT(value(loss.total), WithinAbs(0.549237375686535, 1e-6));
}

TEST_CASE("cross entropy with smoothing, class weights and an absent row follows PyTorch", "[losses]") {
  // sum over present rows of (1 - e) w[y] nll + e / C sum_c -w_c log p_c, over sum of w[y]
  const auto options =
      HierarchicalCrossEntropyOptions().label_smoothing(0.1).class_weights({torch::tensor({1.0, 2.0, 0.5})});
  const auto loss = hierarchical_cross_entropy({sample_logits()}, labels_column({0, -1, 2}), options);
  CHECK_THAT(value(loss.total), WithinAbs(0.4570596873094126, 1e-6));
}

TEST_CASE("a level whose labels are all -1 contributes zero with a zero gradient", "[losses]") {
  auto coarse = sample_logits().clone().requires_grad_(true);
  auto fine = torch::zeros({3, 5}).requires_grad_(true);
  const auto labels = torch::tensor({{0, -1}, {-1, -1}, {2, -1}}, torch::kLong);
  const auto options = HierarchicalCrossEntropyOptions()
                           .label_smoothing(0.1)
                           .class_weights({torch::Tensor(), torch::ones({5})})
                           .level_weights({1.0, 3.0});
  const auto loss = hierarchical_cross_entropy({coarse, fine}, labels, options);
  CHECK(value(loss.per_level[1]) == 0.0);
  loss.total.backward();
  CHECK(torch::isfinite(coarse.grad()).all().item<bool>());
  CHECK(fine.grad().abs().sum().item<double>() == 0.0);
}

TEST_CASE("level weights scale each level's loss in the total", "[losses]") {
  const auto labels = torch::tensor({{0, 1}, {1, -1}, {2, 0}}, torch::kLong);
  const auto logits_fine = torch::tensor({{0.0, 1.0}, {3.0, -2.0}, {1.0, 1.0}});
  const auto loss = hierarchical_cross_entropy({sample_logits(), logits_fine}, labels,
                                               HierarchicalCrossEntropyOptions().level_weights({0.5, 2.0}));
  CHECK_THAT(value(loss.total), WithinAbs(0.5 * value(loss.per_level[0]) + 2.0 * value(loss.per_level[1]), 1e-6));
  // fine level: rows 0 and 2: (log(1 + e^-1) + log 2) / 2
  CHECK_THAT(value(loss.per_level[1]), WithinAbs((std::log1p(std::exp(-1.0)) + std::log(2.0)) / 2, 1e-6));
}

TEST_CASE("cross entropy rejects labels outside -1..C-1 and mismatched shapes", "[losses]") {
  CHECK_THROWS_WITH(hierarchical_cross_entropy({sample_logits()}, labels_column({0, 3, 1})),
                    Catch::Contains("outside -1..2"));
  CHECK_THROWS_WITH(hierarchical_cross_entropy({sample_logits(), sample_logits()}, labels_column({0, 1, 1})),
                    Catch::Contains("[N, 2]"));
  CHECK_THROWS_WITH(hierarchical_cross_entropy({sample_logits()}, labels_column({0, 1, 1}),
                                               HierarchicalCrossEntropyOptions().level_weights({1.0, 1.0})),
                    Catch::Contains("2 level weights for 1 levels"));
}

TEST_CASE("balanced class weights are n / (k * count), 0 for empty classes", "[losses]") {
  const auto weights = balanced_class_weights({6, 2, 0, 4});  // n = 12, k = 4
  REQUIRE(weights.size(0) == 4);
  CHECK(weights[0].item<float>() == Approx(0.5));
  CHECK(weights[1].item<float>() == Approx(1.5));
  CHECK(weights[2].item<float>() == 0.0f);
  CHECK(weights[3].item<float>() == Approx(0.75));
}

TEST_CASE("soft-target cross entropy with a per-row mask", "[losses]") {
  const auto targets = torch::tensor({{0.7, 0.3, 0.0}, {0.0, 0.0, 1.0}, {0.2, 0.2, 0.6}});
  const auto mask = torch::tensor({true, false, true});
  SECTION("averaged over the present rows") {
    const auto loss = hierarchical_soft_cross_entropy({sample_logits()}, {targets}, {mask});
    CHECK_THAT(value(loss.total), WithinAbs(0.9698460195562857, 1e-6));
  }
  SECTION("averaged over the batch, as MPL/UDA do") {
    const auto loss = hierarchical_soft_cross_entropy({sample_logits()}, {targets}, {mask},
                                                      SoftCrossEntropyOptions().mean_over_mask(false));
    CHECK_THAT(value(loss.total), WithinAbs(0.6465640130375238, 1e-6));
  }
  SECTION("float masks weight the rows") {
    const auto loss = hierarchical_soft_cross_entropy({sample_logits()}, {targets}, {torch::tensor({1.0, 0.0, 0.5})});
    CHECK_THAT(value(loss.total), WithinAbs(0.9031793528896189, 1e-6));
  }
  SECTION("no mask uses every row") {
    const auto loss = hierarchical_soft_cross_entropy({sample_logits()}, {targets});
    CHECK_THAT(value(loss.total), WithinAbs(1.1325707090198682, 1e-6));
  }
  SECTION("one-hot targets equal the hard-label loss") {
    const auto one_hot = torch::one_hot(torch::tensor({0, 1, 2}, torch::kLong), 3).to(torch::kFloat);
    const auto soft = hierarchical_soft_cross_entropy({sample_logits()}, {one_hot});
    const auto hard = hierarchical_cross_entropy({sample_logits()}, labels_column({0, 1, 2}));
    CHECK_THAT(value(soft.total), WithinAbs(value(hard.total), 1e-6));
  }
}

TEST_CASE("soft-target cross entropy of a fully masked level is zero, not NaN", "[losses]") {
  auto logits = sample_logits().clone().requires_grad_(true);
  const auto loss = hierarchical_soft_cross_entropy({logits}, {torch::full({3, 3}, 1.0 / 3)}, {torch::zeros({3})});
  CHECK(value(loss.total) == 0.0);
  loss.total.backward();
  CHECK(logits.grad().abs().sum().item<double>() == 0.0);
}
