#include "nodes/mpl.h"

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>

using namespace semiflow;

namespace {

double softmax0(double a, double b) { return std::exp(a) / (std::exp(a) + std::exp(b)); }

}  // namespace

TEST_CASE("mpl: the feedback is after - before (paper) or before - after (reversed), minus a moving-average baseline",
          "[mpl]") {
  MplFeedback paper(FeedbackSign::paper, 0.9, 1);
  // The student's labeled loss fell from 1.0 to 0.8: change -0.2, baseline 0.1 * -0.2.
  auto h = paper.update({1.0}, {0.8});
  CHECK(paper.last_change()[0] == Approx(-0.2));
  CHECK(paper.baseline()[0] == Approx(-0.02));
  CHECK(h[0] == Approx(-0.18));
  // Then rose from 1.0 to 1.1: change 0.1, baseline 0.9 * -0.02 + 0.1 * 0.1 = -0.008.
  h = paper.update({1.0}, {1.1});
  CHECK(paper.baseline()[0] == Approx(-0.008));
  CHECK(h[0] == Approx(0.108));

  MplFeedback reversed(FeedbackSign::reversed, 0.9, 1);
  h = reversed.update({1.0}, {0.8});
  CHECK(reversed.last_change()[0] == Approx(0.2));
  CHECK(h[0] == Approx(0.18));

  SECTION("a constant change is absorbed by the baseline") {
    MplFeedback steady(FeedbackSign::paper, 0.5, 2);
    for (int i = 0; i < 40; ++i) h = steady.update({1.0, 2.0}, {1.5, 2.0});
    CHECK(h[0] == Approx(0.0).margin(1e-9));
    CHECK(steady.baseline()[0] == Approx(0.5));
    CHECK(h[1] == 0.0);
  }
  CHECK_THROWS_AS(MplFeedback(FeedbackSign::paper, 1.0, 1), std::invalid_argument);
  CHECK_THROWS_AS(paper.update({1.0, 2.0}, {1.0, 2.0}), std::invalid_argument);
  CHECK(parse_feedback_sign("reversed") == FeedbackSign::reversed);
  CHECK_THROWS_AS(parse_feedback_sign("plus"), std::invalid_argument);
}

TEST_CASE("mpl: the MPL term is h x CE of the teacher's strong logits against their own argmax", "[mpl]") {
  auto logits = torch::tensor({{2.0f, 0.0f}, {0.0f, 1.0f}}).requires_grad_(true);
  const double ce = (-std::log(softmax0(2, 0)) - std::log(softmax0(1, 0))) / 2;
  SECTION("positive h: minimising makes the teacher surer of its own labels") {
    const LevelLosses term = mpl_term({logits}, {0.5}, {});
    CHECK(term.total.item<double>() == Approx(0.5 * ce));
    term.total.backward();
    CHECK(logits.grad()[0][0].item<double>() < 0);  // gradient descent raises the argmax logit
    CHECK(logits.grad()[1][1].item<double>() < 0);
  }
  SECTION("negative h: it pushes the teacher away from them") {
    mpl_term({logits}, {-0.5}, {}).total.backward();
    CHECK(logits.grad()[0][0].item<double>() > 0);
  }
  SECTION("per level, weighted in the total") {
    auto coarse = torch::tensor({{0.0f, 3.0f}, {0.0f, 3.0f}});
    const LevelLosses term = mpl_term({coarse, logits}, {0.0, 2.0}, {1.0, 0.5});
    CHECK(term.per_level[0].item<double>() == 0.0);
    CHECK(term.per_level[1].item<double>() == Approx(2.0 * ce));
    CHECK(term.total.item<double>() == Approx(ce));
  }
}

TEST_CASE("mpl: UDA consistency keeps rows whose tempered weak-view confidence reaches the threshold", "[mpl]") {
  // Row 0's weak view: p = softmax([1, 0] / T), 0.731 at T = 1 and 0.881 at T = 0.5; row 1 is uniform.
  auto weak = torch::tensor({{1.0f, 0.0f}, {0.0f, 0.0f}}).requires_grad_(true);
  auto strong = torch::tensor({{1.0f, 0.0f}, {0.0f, 2.0f}}).requires_grad_(true);
  UdaConsistencyOptions options;
  options.threshold = 0.8;

  options.temperature = 1.0;
  const UdaConsistency cold = uda_consistency({weak}, {strong}, options);
  CHECK(cold.mask_ratio[0] == 0.0);
  CHECK(cold.loss.total.item<double>() == 0.0);

  options.temperature = 0.5;
  const UdaConsistency sharp = uda_consistency({weak}, {strong}, options);
  CHECK(sharp.mask_ratio[0] == Approx(0.5));
  const double p = softmax0(2, 0), q = softmax0(1, 0);
  const double row0 = -(p * std::log(q) + (1 - p) * std::log(1 - q));
  CHECK(sharp.loss.total.item<double>() == Approx(row0 / 2));  // averaged over all rows, masked ones as 0
  sharp.loss.total.backward();
  CHECK_FALSE(weak.grad().defined());  // the weak view is a target, not trained
  CHECK(strong.grad()[1].abs().sum().item<double>() == 0.0);

  options.threshold = 0.0;
  CHECK(uda_consistency({weak}, {strong}, options).mask_ratio[0] == 1.0);
}

TEST_CASE("mpl: the consistency weight ramps in linearly", "[mpl]") {
  CHECK(uda_weight_at(8.0, 0, 4) == Approx(2.0));
  CHECK(uda_weight_at(8.0, 1, 4) == Approx(4.0));
  CHECK(uda_weight_at(8.0, 3, 4) == Approx(8.0));
  CHECK(uda_weight_at(8.0, 100, 4) == Approx(8.0));
  CHECK(uda_weight_at(8.0, 0, 0) == Approx(8.0));
}

TEST_CASE("mpl: the student's targets are the teacher's weak-view argmax or tempered distribution", "[mpl]") {
  const auto logits = torch::tensor({{0.0f, 2.0f, 1.0f}});
  const auto hard = student_targets({logits}, PseudoLabelTargets::hard, 1.0);
  CHECK(torch::equal(hard[0], torch::tensor({{0.0f, 1.0f, 0.0f}})));
  const auto soft = student_targets({logits}, PseudoLabelTargets::soft, 2.0);
  CHECK(torch::allclose(soft[0], torch::softmax(logits / 2.0, 1)));
  CHECK(parse_pseudo_label_targets("soft") == PseudoLabelTargets::soft);
  CHECK_THROWS_AS(parse_pseudo_label_targets("fuzzy"), std::invalid_argument);
}
