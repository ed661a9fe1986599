#include "models/efficientnet_v2.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

using namespace semiflow;

namespace {

std::int64_t params_with_head(const std::string& arch, std::int64_t classes) {
  return EfficientNetV2(EfficientNetV2Options(arch, {classes}))->num_parameters();
}

const std::vector<std::int64_t> kThreeLevels{2, 6, 10};

void check_logit_shapes(const std::vector<torch::Tensor>& logits, std::int64_t batch) {
  REQUIRE(logits.size() == kThreeLevels.size());
  for (std::size_t l = 0; l < logits.size(); ++l) {
    CHECK(logits[l].sizes() == torch::IntArrayRef({batch, kThreeLevels[l]}));
  }
}

}  // namespace

TEST_CASE("EfficientNetV2 S/M/L match torchvision's parameter counts and GFLOPS", "[efficientnet_v2][parity]") {
  // torchvision's model docs: params, and GFLOPS (multiply-accumulates) at the eval size.
  struct Reference {
    const char* arch;
    std::int64_t params;
    std::int64_t image_size;
    double gmacs;
  };
  for (const auto& ref : {Reference{"s", 21458488, 384, 8.37}, Reference{"m", 54139356, 480, 24.58},
                          Reference{"l", 118515272, 480, 56.08}}) {
    INFO(ref.arch);
    const EfficientNetV2 model(EfficientNetV2Options(ref.arch, {1000}));
    CHECK(model->num_parameters() == ref.params);
    const double gmacs = static_cast<double>(model->macs(ref.image_size, ref.image_size).total) / 1e9;
    CHECK(gmacs == Approx(ref.gmacs).margin(0.005));
  }
}

TEST_CASE("EfficientNetV2 B0-B3 match timm's tf_efficientnetv2_b* parameter counts", "[efficientnet_v2][parity]") {
  CHECK(params_with_head("b0", 1000) == 7139704);
  CHECK(params_with_head("b1", 1000) == 8141052);
  CHECK(params_with_head("b2", 1000) == 10096086);
  CHECK(params_with_head("b3", 1000) == 14358406);
}

TEST_CASE("the CPU variants keep their sizes", "[efficientnet_v2]") {
  // tiny is PyTorch's S at width 0.25 / depth 0.25, "about 364k" with a 10-class head.
  CHECK(params_with_head("tiny", 10) == 363828);
  CHECK(params_with_head("nano", 10) == 50534);
}

TEST_CASE("stage tables scale by width and depth with timm's rounding", "[efficientnet_v2][arch]") {
  CHECK(round_channels(24, 0.25) == 8);       // never below the divisor
  CHECK(round_channels(48, 0.25) == 16);      // 12 rounds half up
  CHECK(round_channels(16, 1.2) == 24);       // 19.2 -> 16 is more than 10% low, bumped
  CHECK(round_channels(16, 1.2, 0.0) == 16);  // B0-B3 round to nearest only
  CHECK(round_repeats(15, 0.25) == 4);
  CHECK(round_repeats(1, 1.1) == 2);  // ceil, so b1's first stage has two blocks

  const auto tiny = efficientnet_v2_arch("tiny");
  CHECK(tiny.stem_channels == 8);
  CHECK(tiny.head_channels == 320);
  std::vector<int> channels, repeats;
  for (const auto& stage : tiny.stages) {
    channels.push_back(stage.channels);
    repeats.push_back(stage.repeats);
  }
  CHECK(channels == std::vector<int>{8, 16, 16, 32, 40, 64});
  CHECK(repeats == std::vector<int>{1, 1, 1, 2, 3, 4});

  const auto wider = efficientnet_v2_arch("tiny", 0.5, std::nullopt);
  CHECK(wider.stages.back().channels == 128);
  CHECK_THROWS_WITH(efficientnet_v2_arch("xl"), Catch::Contains("known: b0, b1"));
}

TEST_CASE("a hierarchical model returns one logits tensor per level at any input size", "[efficientnet_v2]") {
  EfficientNetV2 model(EfficientNetV2Options("nano", kThreeLevels));
  model->eval();
  torch::NoGradGuard no_grad;
  check_logit_shapes(model->forward(torch::randn({2, 3, 32, 32})), 2);
  check_logit_shapes(model->forward(torch::randn({3, 3, 48, 40})), 3);
}

TEST_CASE("heads can read earlier stages, B-CNN style or reversed", "[efficientnet_v2]") {
  const auto coarse_early = head_taps_for(HeadTapLayout::coarse_early, 3);
  CHECK(coarse_early == std::vector<std::int64_t>{-3, -2, -1});
  CHECK(head_taps_for(HeadTapLayout::fine_early, 3) == std::vector<std::int64_t>{-1, -2, -3});

  EfficientNetV2 model(EfficientNetV2Options("nano", kThreeLevels).head_taps(coarse_early));
  const auto& info = model->feature_info();
  const auto last = static_cast<std::int64_t>(info.size()) - 1;
  REQUIRE(model->head_taps() == std::vector<std::int64_t>{last - 2, last - 1, last});
  // Each head's input width is its tap's channel count (stage 5, stage 6, head conv).
  const auto params = model->named_parameters();
  CHECK(params["classifier.1.weight"].size(1) == info[last - 2].channels);
  CHECK(params["classifier.2.weight"].size(1) == info[last - 1].channels);
  CHECK(params["classifier.3.weight"].size(1) == info[last].channels);

  model->eval();
  torch::NoGradGuard no_grad;
  const auto images = torch::randn({2, 3, 32, 32});
  const auto before = model->forward(images);
  check_logit_shapes(before, 2);
  // Changing the head conv must leave the earlier-tapped levels untouched.
  params[info[last].module + ".0.weight"].mul_(2.0);
  const auto after = model->forward(images);
  CHECK(torch::equal(before[0], after[0]));
  CHECK(torch::equal(before[1], after[1]));
  CHECK_FALSE(torch::equal(before[2], after[2]));
}

TEST_CASE("feature info lists the stem, every stage and the head conv", "[efficientnet_v2]") {
  EfficientNetV2 model(EfficientNetV2Options("s", {10}));
  const auto& info = model->feature_info();
  REQUIRE(info.size() == 8);
  CHECK(info[0].module == "features.0");
  CHECK(info[0].reduction == 2);
  CHECK(info[6].channels == 256);
  CHECK(info[6].reduction == 32);
  CHECK(info[7].channels == 1280);
}

TEST_CASE("state_dict keys follow torchvision's efficientnet_v2_s", "[efficientnet_v2]") {
  EfficientNetV2 model(EfficientNetV2Options("s", {1000}));
  const auto params = model->named_parameters();
  const auto buffers = model->named_buffers();
  for (const char* key :
       {"features.0.0.weight", "features.0.1.weight", "features.1.0.block.0.0.weight", "features.2.0.block.0.0.weight",
        "features.2.0.block.1.1.bias", "features.4.0.block.0.0.weight", "features.4.0.block.1.0.weight",
        "features.4.0.block.2.fc1.weight", "features.4.0.block.2.fc2.bias", "features.4.0.block.3.1.weight",
        "features.6.14.block.3.0.weight", "features.7.0.weight", "classifier.1.weight", "classifier.1.bias"}) {
    CHECK(params.contains(key));
  }
  CHECK(buffers.contains("features.7.1.running_var"));
  CHECK(params["features.4.0.block.1.0.weight"].sizes() == torch::IntArrayRef({256, 1, 3, 3}));  // depthwise
  CHECK(params["features.4.0.block.2.fc1.weight"].size(0) == 16);  // SE: a quarter of the 64 input channels
}

TEST_CASE("BatchNorm uses eps 1e-3 and momentum 0.1", "[efficientnet_v2]") {
  EfficientNetV2 model(EfficientNetV2Options("nano", {10}));
  int checked = 0;
  for (const auto& module : model->modules()) {
    if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
      CHECK(bn->options.eps() == 1e-3);
      CHECK(bn->options.momentum() == 0.1);
      ++checked;
    }
  }
  CHECK(checked > 10);
}

TEST_CASE("stochastic depth rises linearly with block index and can be changed", "[efficientnet_v2]") {
  EfficientNetV2 model(EfficientNetV2Options("tiny", {10}).drop_path_rate(0.2));
  auto rates = model->drop_path_rates();
  REQUIRE(rates.size() == 12);  // 1 + 1 + 1 + 2 + 3 + 4 blocks
  CHECK(rates.front() == 0.0);
  CHECK(rates[6] == Approx(0.2 * 6 / 12));
  CHECK(rates.back() == Approx(0.2 * 11 / 12));

  model->set_drop_path_rate(0.5);
  rates = model->drop_path_rates();
  CHECK(rates.back() == Approx(0.5 * 11 / 12));
  CHECK_THROWS_WITH(model->set_drop_path_rate(1.0), Catch::Contains("outside [0, 1)"));
}

TEST_CASE("dropout before the heads defaults per architecture and can be changed", "[efficientnet_v2]") {
  CHECK(EfficientNetV2(EfficientNetV2Options("l", {10}))->dropout() == 0.4);
  EfficientNetV2 model(EfficientNetV2Options("nano", {10}).dropout(0.1));
  CHECK(model->dropout() == 0.1);
  model->set_dropout(0.5);
  CHECK(model->dropout() == 0.5);
  // In training mode dropout and stochastic depth make two passes differ; eval is deterministic.
  const auto images = torch::randn({4, 3, 32, 32});
  model->eval();
  CHECK(torch::equal(model->forward(images)[0], model->forward(images)[0]));
  model->train();
  CHECK_FALSE(torch::equal(model->forward(images)[0], model->forward(images)[0]));
}

TEST_CASE("clone gives an independent copy with the same function", "[efficientnet_v2]") {
  // nano has 7 blocks: one per stage and two in the last.
  EfficientNetV2 model(EfficientNetV2Options("nano", kThreeLevels).head_taps({-3, -2, -1}));
  model->eval();
  auto copy = std::dynamic_pointer_cast<EfficientNetV2Impl>(model->clone());
  REQUIRE(copy);
  copy->eval();
  torch::NoGradGuard no_grad;
  const auto images = torch::randn({2, 3, 32, 32});
  const auto original = model->forward(images);
  const auto cloned = copy->forward(images);
  for (std::size_t l = 0; l < original.size(); ++l) CHECK(torch::allclose(original[l], cloned[l]));

  copy->set_dropout(0.3);
  copy->set_drop_path_rate(0.4);
  CHECK(model->dropout() == 0.2);
  CHECK(copy->dropout() == 0.3);
  CHECK(model->drop_path_rates().back() == Approx(0.2 * 6 / 7));
  CHECK(copy->drop_path_rates().back() == Approx(0.4 * 6 / 7));
  copy->named_parameters()["classifier.1.weight"].zero_();
  CHECK(model->named_parameters()["classifier.1.weight"].abs().sum().item<double>() > 0.0);
}

TEST_CASE("NHWC (the default) and NCHW layouts compute the same logits and gradients", "[efficientnet_v2]") {
  torch::manual_seed(0);
  EfficientNetV2 nhwc(EfficientNetV2Options("nano", kThreeLevels));
  torch::manual_seed(0);
  EfficientNetV2 nchw(EfficientNetV2Options("nano", kThreeLevels).channels_last(false));
  CHECK(nhwc->named_parameters()["features.0.0.weight"].is_contiguous(torch::MemoryFormat::ChannelsLast));
  CHECK(nchw->named_parameters()["features.0.0.weight"].is_contiguous());
  const auto images = torch::randn({4, 3, 32, 32});
  // Training mode: the same seed gives both the same dropout and stochastic-depth masks.
  torch::manual_seed(1);
  const auto a = nhwc->forward(images);
  torch::manual_seed(1);
  const auto b = nchw->forward(images);
  for (std::size_t l = 0; l < a.size(); ++l) CHECK(torch::allclose(a[l], b[l], 1e-4, 1e-5));
  (a[2].square().sum()).backward();
  (b[2].square().sum()).backward();
  const auto grad_a = nhwc->named_parameters()["features.0.0.weight"].grad();
  const auto grad_b = nchw->named_parameters()["features.0.0.weight"].grad();
  INFO("max gradient difference " << (grad_a - grad_b).abs().max().item<double>() << " of max "
                                   << grad_b.abs().max().item<double>());
  // Summation order differs between the layouts: compare against the gradient's scale.
  CHECK((grad_a - grad_b).abs().max().item<double>() <= 1e-4 * grad_b.abs().max().item<double>());
}

TEST_CASE("bad options are refused with a message saying what to change", "[efficientnet_v2]") {
  CHECK_THROWS_WITH(EfficientNetV2(EfficientNetV2Options("nano", {})), Catch::Contains("classes_per_level is empty"));
  CHECK_THROWS_WITH(EfficientNetV2(EfficientNetV2Options("nano", {2, 0})), Catch::Contains("level 1 has 0 classes"));
  CHECK_THROWS_WITH(EfficientNetV2(EfficientNetV2Options("nano", {2, 3}).head_taps({-1})),
                    Catch::Contains("1 head taps for 2 levels"));
  CHECK_THROWS_WITH(EfficientNetV2(EfficientNetV2Options("nano", {2}).head_taps({9})),
                    Catch::Contains("outside the 8 feature modules"));
  CHECK_THROWS_WITH(EfficientNetV2(EfficientNetV2Options("nano", {2}))->forward(torch::randn({1, 1, 32, 32})),
                    Catch::Contains("expects images [N, 3, H, W]"));
}
