#include "models/efficientnet_v2.h"
#include "models/precision.h"

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <limits>

using namespace semiflow;
using Catch::Matchers::Contains;

TEST_CASE("precision names parse, and a wrong one lists the choices", "[precision]") {
  CHECK(parse_precision("fp32") == Precision::fp32);
  CHECK(parse_precision("bf16") == Precision::bf16);
  CHECK(parse_precision("fp16") == Precision::fp16);
  CHECK(std::string(to_string(Precision::bf16)) == "bf16");
  CHECK_THROWS_WITH(parse_precision("half"), Contains("precision 'half': write fp32, bf16 or fp16"));
  CHECK_THROWS_WITH(check_precision(Precision::fp16, c10::DeviceType::CPU), Contains("on the CPU use bf16"));
  CHECK_NOTHROW(check_precision(Precision::bf16, c10::DeviceType::CPU));
}

TEST_CASE("bf16 autocast runs convolutions in bf16 inside the guard only, and nests", "[precision]") {
  const auto x = torch::randn({2, 3, 8, 8});
  const auto w = torch::randn({4, 3, 3, 3});
  CHECK(torch::conv2d(x, w).scalar_type() == torch::kFloat32);
  {
    AutocastGuard outer(c10::DeviceType::CPU, Precision::bf16);
    CHECK(torch::conv2d(x, w).scalar_type() == torch::kBFloat16);
    {
      AutocastGuard inner(c10::DeviceType::CPU, Precision::fp32);  // fp32: changes nothing
      CHECK(torch::conv2d(x, w).scalar_type() == torch::kBFloat16);
    }
    CHECK(torch::conv2d(x, w).scalar_type() == torch::kBFloat16);
  }
  CHECK(torch::conv2d(x, w).scalar_type() == torch::kFloat32);
}

TEST_CASE("a bf16 training step keeps fp32 weights and gives logits close to fp32's", "[precision]") {
  torch::manual_seed(0);
  EfficientNetV2 model(EfficientNetV2Options("nano", {2, 3}).channels_last(true));
  model->eval();
  const auto images = torch::randn({4, 3, 16, 16});
  torch::NoGradGuard no_grad;
  const auto fp32 = model->forward(images);
  std::vector<torch::Tensor> bf16;
  {
    AutocastGuard autocast(c10::DeviceType::CPU, Precision::bf16);
    bf16 = model->forward(images);
  }
  REQUIRE(bf16.size() == 2);
  CHECK(bf16[0].scalar_type() == torch::kBFloat16);  // the heads ran in bf16
  CHECK_FALSE(torch::equal(bf16[0].to(torch::kFloat32), fp32[0]));
  for (std::size_t level = 0; level < 2; ++level) {
    INFO("level " << level << " max difference " << (bf16[level].to(torch::kFloat32) - fp32[level]).abs().max().item<float>());
    CHECK(torch::allclose(torch::softmax(bf16[level].to(torch::kFloat32), 1), torch::softmax(fp32[level], 1), 0.0, 0.05));
  }
  for (const auto& p : model->parameters()) CHECK(p.scalar_type() == torch::kFloat32);
}

TEST_CASE("the fp16 loss scaler skips overflowing steps, halving its scale, and grows after good ones", "[precision]") {
  LossScaler off(Precision::bf16);
  CHECK_FALSE(off.enabled());
  const auto loss = torch::tensor(2.0);
  CHECK(off.scale(loss).item<double>() == 2.0);

  LossScaler scaler(Precision::fp16, 1024.0, 2);
  CHECK(scaler.scale(loss).item<double>() == 2048.0);
  auto w = torch::ones({3}, torch::requires_grad());
  w.mutable_grad() = torch::full({3}, 512.0);
  CHECK(scaler.unscale_and_check({w}));
  CHECK(torch::allclose(w.grad(), torch::full({3}, 0.5)));  // unscaled
  CHECK(scaler.current_scale() == 1024.0);
  w.mutable_grad() = torch::tensor({1.0, std::numeric_limits<double>::infinity(), 0.0});
  CHECK_FALSE(scaler.unscale_and_check({w}));
  CHECK(scaler.current_scale() == 512.0);
  w.mutable_grad() = torch::ones({3});
  CHECK(scaler.unscale_and_check({w}));
  CHECK(scaler.unscale_and_check({w}));
  CHECK(scaler.current_scale() == 1024.0);  // two good steps in a row
}
