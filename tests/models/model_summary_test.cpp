#include "models/model_summary.h"

#include "models/efficientnet_v2.h"

#include <catch2/catch.hpp>

using namespace semiflow;

TEST_CASE("a model summary reports the built model's size, cost and layout", "[model_summary]") {
  const auto options = EfficientNetV2Options("nano", {2, 6, 10}).head_taps(head_taps_for(HeadTapLayout::fine_early, 3));
  const auto summary = summarize_model(options, 32);
  const EfficientNetV2 model(options);

  CHECK(summary.arch == "nano");
  CHECK(summary.image_size == 32);
  CHECK(summary.params == model->num_parameters());
  CHECK(summary.macs == model->macs(32, 32).total);
  REQUIRE(summary.features.size() == 8);  // stem, 6 stages, head conv
  CHECK(summary.features.front().blocks == 0);
  CHECK(summary.features[6].blocks == 2);
  CHECK(summary.features.back().module == "features.7");
  CHECK(summary.head_taps == std::vector<std::int64_t>{7, 6, 5});
  REQUIRE(summary.macs_by_module.size() == summary.features.size() + 3);
  CHECK(summary.macs_by_module.back().first == "classifier.3");
}
