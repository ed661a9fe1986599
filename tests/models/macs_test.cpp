#include "models/macs.h"

#include "models/efficientnet_v2.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

using namespace semiflow;

TEST_CASE("conv2d MACs are in/groups * k * k per output element", "[macs]") {
  SECTION("strided 3x3 conv: 32x32x3 -> 16x16x8") {
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 8, 3).stride(2).padding(1).bias(false));
    FeatureShape shape{3, 32, 32};
    CHECK(conv2d_macs(*conv, shape) == 3 * 9 * 8 * 16 * 16);
    CHECK(shape.channels == 8);
    CHECK(shape.height == 16);
    CHECK(shape.width == 16);
  }
  SECTION("depthwise 3x3 on 8x6, unpadded") {
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(16, 16, 3).groups(16));
    FeatureShape shape{16, 8, 6};
    CHECK(conv2d_macs(*conv, shape) == 9 * 16 * 6 * 4);
    CHECK(shape.height == 6);
    CHECK(shape.width == 4);
  }
  SECTION("mismatched input channels are reported") {
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(4, 4, 1));
    FeatureShape shape{3, 8, 8};
    CHECK_THROWS_WITH(conv2d_macs(*conv, shape), Catch::Contains("expects 4 input channels"));
  }
}

TEST_CASE("linear MACs are in * out", "[macs]") {
  torch::nn::Linear linear(10, 5);
  FeatureShape shape{10, 1, 1};
  CHECK(linear_macs(*linear, shape) == 50);
  CHECK(shape.channels == 5);
}

TEST_CASE("module_macs walks a Sequential, carrying shapes, and refuses unknown modules", "[macs]") {
  torch::nn::Sequential seq(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3).stride(2).padding(1)),
                            torch::nn::BatchNorm2d(4), torch::nn::SiLU(),
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 6, 1)),
                            torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions({1, 1})));
  FeatureShape shape{3, 8, 8};
  CHECK(module_macs(*seq, shape) == 3 * 9 * 4 * 16 + 4 * 6 * 16);
  CHECK(shape.channels == 6);
  CHECK(shape.height == 1);

  torch::nn::Sequential unknown(torch::nn::LSTM(4, 4));
  FeatureShape any{4, 1, 1};
  CHECK_THROWS_WITH(module_macs(*unknown, any), Catch::Contains("no MAC rule"));
}

TEST_CASE("squeeze-excitation and MBConv blocks count their convs", "[macs]") {
  SECTION("SE: two 1x1 convs on the pooled vector") {
    SqueezeExcitation se(64, 4);
    FeatureShape shape{64, 8, 8};
    CHECK(se->count_macs(shape) == 64 * 4 + 4 * 64);
    CHECK(shape.height == 8);  // SE keeps the feature map's shape
  }
  SECTION("MBConv 16->16, expansion 4, SE 0.25, at 8x8") {
    MBConvBlock block(BlockConfig{BlockType::mbconv, 16, 16, 4, 3, 1, 0.25}, 0.0);
    FeatureShape shape{16, 8, 8};
    const std::int64_t expand = 16 * 64 * 64, depthwise = 9 * 64 * 64, se = 64 * 4 * 2, project = 64 * 16 * 64;
    CHECK(block->count_macs(shape) == expand + depthwise + se + project);
  }
  SECTION("Fused-MBConv 8->16, expansion 4, stride 2, at 8x8") {
    MBConvBlock block(BlockConfig{BlockType::fused_mbconv, 8, 16, 4, 3, 2, 0.0}, 0.0);
    FeatureShape shape{8, 8, 8};
    CHECK(block->count_macs(shape) == 8 * 9 * 32 * 16 + 32 * 16 * 16);
    CHECK(shape.height == 4);
  }
}

TEST_CASE("model MACs: parts sum to the total and heads are counted", "[macs]") {
  EfficientNetV2 model(EfficientNetV2Options("nano", {2, 6, 10}));
  const auto macs = model->macs(32, 32);
  std::int64_t sum = 0;
  for (const auto& part : macs.parts) sum += part.second;
  CHECK(sum == macs.total);
  const auto head_width = model->feature_info().back().channels;
  CHECK(macs.parts.back() == std::make_pair(std::string("classifier.3"), head_width * 10));
  // The stem is a 3x3 stride-2 conv from 3 channels: 16 * 16 outputs of each stem channel.
  CHECK(macs.parts.front().second == 3 * 9 * model->arch().stem_channels * 16 * 16);
}

TEST_CASE("EfficientNetV2-S at 384x384 keeps its exact MAC count", "[macs]") {
  // 8.37 G in torchvision's docs (checked to 2 decimals, with M and L, in efficientnet_v2_test).
  EfficientNetV2 model(EfficientNetV2Options("s", {1000}));
  CHECK(model->macs(384, 384).total == 8365617152);
}
