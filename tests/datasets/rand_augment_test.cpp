#include "datasets/rand_augment.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <stdexcept>

using namespace semiflow;

namespace {

Image make_image(int width, int height, int channels, const std::function<int(int, int, int)>& value) {
  Image image(width, height, channels);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) image.at(y, x, c) = static_cast<std::uint8_t>(value(x, y, c));
    }
  }
  return image;
}

Image gradient_image(int width, int height, int channels) {
  return make_image(width, height, channels, [](int x, int y, int c) { return (x * 37 + y * 11 + c * 90) % 256; });
}

std::vector<AugmentOp> all_ops() {
  std::vector<AugmentOp> ops;
  for (int i = 0; i < kAugmentOpCount; ++i) ops.push_back(static_cast<AugmentOp>(i));
  return ops;
}

}  // namespace

TEST_CASE("magnitude tables match torchvision's RandAugment with 31 bins", "[rand_augment]") {
  CHECK(augment_magnitude(AugmentOp::shear_x, 9, 31, 32, 32) == Approx(0.09));
  CHECK(augment_magnitude(AugmentOp::shear_y, 30, 31, 32, 32) == Approx(0.3));
  CHECK(augment_magnitude(AugmentOp::translate_x, 30, 31, 32, 28) == Approx(150.0 / 331.0 * 32));
  CHECK(augment_magnitude(AugmentOp::translate_y, 30, 31, 32, 28) == Approx(150.0 / 331.0 * 28));
  CHECK(augment_magnitude(AugmentOp::rotate, 9, 31, 32, 32) == Approx(9.0));
  CHECK(augment_magnitude(AugmentOp::brightness, 9, 31, 32, 32) == Approx(0.27));
  CHECK(augment_magnitude(AugmentOp::sharpness, 30, 31, 32, 32) == Approx(0.9));
  CHECK(augment_magnitude(AugmentOp::posterize, 0, 31, 32, 32) == 8);
  CHECK(augment_magnitude(AugmentOp::posterize, 9, 31, 32, 32) == 7);
  CHECK(augment_magnitude(AugmentOp::posterize, 30, 31, 32, 32) == 4);
  CHECK(augment_magnitude(AugmentOp::solarize, 0, 31, 32, 32) == 255.0);
  CHECK(augment_magnitude(AugmentOp::solarize, 9, 31, 32, 32) == 178.5);
  CHECK(augment_magnitude(AugmentOp::solarize, 30, 31, 32, 32) == 0.0);
  CHECK(augment_magnitude(AugmentOp::equalize, 30, 31, 32, 32) == 0.0);
  int signed_ops = 0;
  for (const AugmentOp op : all_ops()) signed_ops += augment_op_is_signed(op) ? 1 : 0;
  CHECK(signed_ops == 9);
  CHECK(std::string(augment_op_name(AugmentOp::autocontrast)) == "AutoContrast");
}

TEST_CASE("every op keeps the shape and magnitude 0 of signed ops is the identity", "[rand_augment]") {
  for (const int channels : {1, 3}) {
    const Image source = gradient_image(11, 7, channels);
    for (const AugmentOp op : all_ops()) {
      for (const double magnitude : {0.0, 0.5, -0.5, 3.0}) {
        Image image = source;
        Image scratch;
        const double value = op == AugmentOp::posterize ? 5 : op == AugmentOp::solarize ? 128 : magnitude;
        apply_augment_op(op, value, image, scratch, 0);
        INFO(augment_op_name(op) << " at " << value << ", " << channels << " channels");
        CHECK(image.width == 11);
        CHECK(image.height == 7);
        CHECK(image.channels == channels);
        if (magnitude == 0.0 && augment_op_is_signed(op)) CHECK(image.pixels == source.pixels);
      }
    }
  }
  SECTION("the kernels themselves are exact at the neutral value") {
    const Image source = gradient_image(9, 6, 3);
    Image out;
    shear_x(source, out, 0.0, 7);
    CHECK(out.pixels == source.pixels);
    shear_y(source, out, 0.0, 7);
    CHECK(out.pixels == source.pixels);
    translate(source, out, 0, 0, 7);
    CHECK(out.pixels == source.pixels);
    rotate(source, out, 0.0, 7);
    CHECK(out.pixels == source.pixels);
    adjust_sharpness(source, out, 1.0);
    CHECK(out.pixels == source.pixels);
    Image image = source;
    adjust_brightness(image, 1.0);
    adjust_saturation(image, 1.0);
    adjust_contrast(image, 1.0);
    posterize(image, 8);
    CHECK(image.pixels == source.pixels);
  }
}

TEST_CASE("geometric ops move pixels and fill what comes from outside", "[rand_augment]") {
  const Image source = make_image(4, 4, 1, [](int x, int y, int) { return 10 * y + x + 1; });
  Image out;
  SECTION("translate") {
    translate(source, out, 1, -2, 99);
    CHECK(out.at(0, 1, 0) == source.at(2, 0, 0));
    CHECK(out.at(1, 3, 0) == source.at(3, 2, 0));
    CHECK(out.at(0, 0, 0) == 99);
    CHECK(out.at(2, 2, 0) == 99);
  }
  SECTION("rotate by 90 degrees turns counter-clockwise about the centre") {
    rotate(source, out, 90.0, 0);
    for (int y = 0; y < 4; ++y) {
      for (int x = 0; x < 4; ++x) CHECK(out.at(y, x, 0) == source.at(x, 3 - y, 0));
    }
  }
  SECTION("shear_x samples (x + factor * y) at pixel centres") {
    shear_x(source, out, 1.0, 0);
    for (int y = 0; y < 4; ++y) {
      for (int x = 0; x < 4; ++x) CHECK(out.at(y, x, 0) == (x + y + 1 < 4 ? source.at(y, x + y + 1, 0) : 0));
    }
  }
  SECTION("shear_y samples (y + factor * x) at pixel centres") {
    shear_y(source, out, -1.0, 0);
    for (int y = 0; y < 4; ++y) {
      for (int x = 0; x < 4; ++x) CHECK(out.at(y, x, 0) == (y - x >= 0 ? source.at(y - x, x, 0) : 0));
    }
  }
}

TEST_CASE("point ops follow torchvision's uint8 arithmetic", "[rand_augment]") {
  SECTION("posterize keeps the top bits") {
    Image image = make_image(3, 1, 1, [](int x, int, int) { return std::array{0xFF, 0xB7, 0x1F}[x]; });
    posterize(image, 4);
    CHECK(image.pixels == std::vector<std::uint8_t>{0xF0, 0xB0, 0x10});
    posterize(image, 1);
    CHECK(image.pixels == std::vector<std::uint8_t>{0x80, 0x80, 0x00});
    CHECK_THROWS_AS(posterize(image, 9), std::invalid_argument);
  }
  SECTION("solarize inverts values at or above the threshold") {
    Image image = make_image(4, 1, 1, [](int x, int, int) { return std::array{127, 128, 200, 255}[x]; });
    solarize(image, 128);
    CHECK(image.pixels == std::vector<std::uint8_t>{127, 127, 55, 0});
    Image white = make_image(2, 1, 1, [](int x, int, int) { return 254 + x; });
    solarize(white, 255);  // torchvision's magnitude 0 still inverts pure white
    CHECK(white.pixels == std::vector<std::uint8_t>{254, 0});
  }
  SECTION("equalize spreads a two-valued image to the extremes") {
    Image image = make_image(32, 32, 1, [](int x, int, int) { return x < 16 ? 50 : 200; });
    equalize(image);
    CHECK(image.at(0, 0, 0) == 0);
    CHECK(image.at(0, 31, 0) == 255);
    Image tiny = make_image(4, 4, 1, [](int x, int, int) { return x < 2 ? 50 : 200; });
    const Image before = tiny;
    equalize(tiny);  // too few pixels for a step: left alone, as torchvision
    CHECK(tiny.pixels == before.pixels);
  }
  SECTION("autocontrast stretches each channel on its own") {
    Image image = make_image(3, 1, 3, [](int x, int, int c) {
      if (c == 2) return 40;  // flat channel stays as it is
      return c == 0 ? std::array{50, 75, 101}[x] : std::array{0, 15, 17}[x];
    });
    autocontrast(image);
    CHECK(image.pixels == std::vector<std::uint8_t>{0, 0, 40, 125, 225, 40, 255, 255, 40});
  }
  SECTION("brightness scales and truncates") {
    Image image = make_image(3, 1, 1, [](int x, int, int) { return std::array{201, 100, 200}[x]; });
    adjust_brightness(image, 0.5);
    CHECK(image.pixels == std::vector<std::uint8_t>{100, 50, 100});
    adjust_brightness(image, 3.0);
    CHECK(image.pixels == std::vector<std::uint8_t>{255, 150, 255});
  }
  SECTION("contrast 0 gives the mean gray level") {
    Image image = make_image(2, 1, 1, [](int x, int, int) { return x == 0 ? 0 : 255; });
    adjust_contrast(image, 0.0);
    CHECK(image.pixels == std::vector<std::uint8_t>{127, 127});
  }
  SECTION("saturation 0 gives torchvision's gray; gray images are left alone") {
    Image red = make_image(1, 1, 3, [](int, int, int c) { return c == 0 ? 255 : 0; });
    adjust_saturation(red, 0.0);
    CHECK(red.pixels == std::vector<std::uint8_t>{76, 76, 76});
    Image gray = gradient_image(5, 5, 1);
    const Image before = gray;
    adjust_saturation(gray, 0.0);
    CHECK(gray.pixels == before.pixels);
  }
  SECTION("sharpness 0 gives the 3x3 smoothing, borders kept") {
    const Image dot = make_image(5, 5, 1, [](int x, int y, int) { return x == 2 && y == 2 ? 130 : 0; });
    Image out;
    adjust_sharpness(dot, out, 0.0);
    CHECK(out.at(2, 2, 0) == 50);  // 5 * 130 / 13
    CHECK(out.at(1, 1, 0) == 10);  // 130 / 13
    CHECK(out.at(3, 2, 0) == 10);
    CHECK(out.at(0, 0, 0) == 0);
    const Image tiny = gradient_image(2, 2, 3);
    adjust_sharpness(tiny, out, 0.0);
    CHECK(out.pixels == tiny.pixels);
  }
}

TEST_CASE("rand_augment is reproducible from the generator", "[rand_augment]") {
  const Image source = gradient_image(28, 28, 1);
  const RandAugmentParams params{2, 9, 31, 0};
  auto run = [&](std::uint64_t seed, const RandAugmentParams& p) {
    Image image = source;
    Image scratch;
    Rng rng(seed);
    rand_augment(image, scratch, p, rng);
    return image;
  };
  CHECK(run(1, params).pixels == run(1, params).pixels);
  int changed = 0;
  for (std::uint64_t seed = 0; seed < 20; ++seed) changed += run(seed, params).pixels != run(seed + 100, params).pixels;
  CHECK(changed >= 15);  // two ops out of 14 can coincide (or both be identities) for a few seeds
  CHECK(run(3, RandAugmentParams{0, 9, 31, 0}).pixels == source.pixels);
  CHECK(run(3, params).width == 28);
  CHECK_THROWS_AS(run(3, RandAugmentParams{2, 31, 31, 0}), std::invalid_argument);
}
