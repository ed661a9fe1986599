#include "datasets/transforms.h"

#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <stdexcept>
#include <thread>

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

Image constant_image(int width, int height, int channels, int value) {
  return make_image(width, height, channels, [=](int, int, int) { return value; });
}

Image gradient_image(int width, int height, int channels) {
  return make_image(width, height, channels, [](int x, int y, int c) { return (x * 7 + y * 13 + c * 50) % 256; });
}

// The image padded by `padding` on every side, as torch.nn.functional.pad does.
Image padded_reference(const Image& in, int padding, PaddingMode mode, int fill) {
  auto reflect = [](int i, int n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); };
  return make_image(in.width + 2 * padding, in.height + 2 * padding, in.channels, [&](int x, int y, int c) {
    const int sx = x - padding;
    const int sy = y - padding;
    const bool inside = sx >= 0 && sx < in.width && sy >= 0 && sy < in.height;
    if (!inside && mode == PaddingMode::constant) return fill;
    return static_cast<int>(in.at(reflect(sy, in.height), reflect(sx, in.width), c));
  });
}

bool is_window_of(const Image& window, const Image& source, int left, int top) {
  for (int y = 0; y < window.height; ++y) {
    for (int x = 0; x < window.width; ++x) {
      for (int c = 0; c < window.channels; ++c) {
        if (window.at(y, x, c) != source.at(y + top, x + left, c)) return false;
      }
    }
  }
  return true;
}

TransformSpec spec(const std::string& op, std::map<std::string, std::string> params = {}) {
  return TransformSpec{op, std::move(params)};
}

}  // namespace

TEST_CASE("Rng is splitmix64 with unbiased bounded draws", "[transforms][rng]") {
  Rng rng(0);
  CHECK(rng() == 0xe220a8397b1dcdafULL);  // splitmix64's published first output for seed 0

  Rng a = Rng::for_item(7, 1, 42);
  Rng b = Rng::for_item(7, 1, 42);
  for (int i = 0; i < 8; ++i) CHECK(a() == b());
  const auto first = [](Rng r) { return r(); };
  const std::set<std::uint64_t> streams = {first(Rng::for_item(7, 1, 42)), first(Rng::for_item(7, 1, 43)),
                                           first(Rng::for_item(7, 2, 42)), first(Rng::for_item(8, 1, 42))};
  CHECK(streams.size() == 4);

  Rng draws(123);
  std::array<int, 6> counts{};
  for (int i = 0; i < 60000; ++i) ++counts[draws.below(6)];
  for (const int count : counts) CHECK(std::abs(count - 10000) < 500);
  std::set<int> seen;
  for (int i = 0; i < 1000; ++i) {
    const int v = draws.uniform_int(-2, 2);
    REQUIRE(v >= -2);
    REQUIRE(v <= 2);
    seen.insert(v);
    const double u = draws.uniform01();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
  }
  CHECK(seen.size() == 5);
  CHECK(draws.uniform_int(3, 3) == 3);
  CHECK_THROWS_AS(draws.uniform_int(3, 2), std::invalid_argument);
  CHECK_THROWS_AS(draws.below(0), std::invalid_argument);
  for (int i = 0; i < 100; ++i) {
    CHECK_FALSE(draws.bernoulli(0.0));
    CHECK(draws.bernoulli(1.0));
  }
}

TEST_CASE("reshape_image reuses storage and rejects bad shapes", "[transforms]") {
  Image image(32, 32, 3);
  const std::uint8_t* storage = image.pixels.data();
  reshape_image(image, 28, 28, 1);
  CHECK(image.pixels.size() == 28 * 28);
  reshape_image(image, 32, 32, 3);
  CHECK(image.pixels.data() == storage);
  CHECK_THROWS_AS(reshape_image(image, 0, 4, 1), std::invalid_argument);
  CHECK_THROWS_AS(reshape_image(image, 4, 4, 2), std::invalid_argument);
}

TEST_CASE("resize is bilinear without antialiasing, as torchvision", "[transforms][resize]") {
  SECTION("a constant image stays constant") {
    for (const int channels : {1, 3}) {
      for (const auto& [w, h] : {std::pair{32, 32}, std::pair{13, 7}, std::pair{224, 100}}) {
        Image out;
        resize(constant_image(28, 28, channels, 255), out, w, h);
        CHECK(out.width == w);
        CHECK(out.height == h);
        CHECK(out.channels == channels);
        CHECK(std::all_of(out.pixels.begin(), out.pixels.end(), [](std::uint8_t v) { return v == 255; }));
      }
    }
  }
  SECTION("upscaling interpolates between pixel centres, clamping at the borders") {
    const Image in = make_image(2, 1, 1, [](int x, int, int) { return x == 0 ? 0 : 255; });
    Image out;
    resize(in, out, 4, 1);
    CHECK(out.pixels == std::vector<std::uint8_t>{0, 64, 191, 255});
  }
  SECTION("halving averages pixel pairs") {
    const Image in = make_image(4, 2, 1, [](int x, int y, int) { return x * 10 + y * 100; });
    Image out;
    resize(in, out, 2, 1);
    CHECK(out.pixels == std::vector<std::uint8_t>{55, 75});
  }
  SECTION("the same size is a copy") {
    const Image in = gradient_image(9, 5, 3);
    Image out;
    resize(in, out, 9, 5);
    CHECK(out.pixels == in.pixels);
  }
  SECTION("resize_region reads only its box") {
    const Image in = make_image(8, 8, 3, [](int x, int, int) { return x < 4 ? 10 : 200; });
    Image out;
    resize_region(in, CropBox{4, 2, 4, 3}, out, 16, 16);
    CHECK(std::all_of(out.pixels.begin(), out.pixels.end(), [](std::uint8_t v) { return v == 200; }));
    CHECK_THROWS_AS(resize_region(in, CropBox{5, 0, 4, 4}, out, 4, 4), std::invalid_argument);
  }
  CHECK(shorter_side_size(500, 375, 256) == std::pair{341, 256});
  CHECK(shorter_side_size(375, 500, 256) == std::pair{256, 341});
}

TEST_CASE("center_crop picks the centre, rounding half to even, and pads larger crops", "[transforms]") {
  const Image in = make_image(7, 5, 1, [](int x, int y, int) { return y * 10 + x; });
  Image out;
  center_crop(in, out, 3, 3);
  CHECK(out.at(0, 0, 0) == 12);  // offset (2, 1)
  CHECK(out.at(2, 2, 0) == 34);
  center_crop(in, out, 2, 2);  // offsets round(2.5) = 2 and round(1.5) = 2
  CHECK(out.at(0, 0, 0) == 22);

  const Image small = constant_image(2, 2, 3, 9);
  center_crop(small, out, 4, 5);
  CHECK(out.width == 4);
  CHECK(out.height == 5);
  CHECK(out.at(0, 0, 0) == 0);
  CHECK(out.at(1, 1, 2) == 9);  // torchvision pads (4-2)//2 = 1 left, (5-2)//2 = 1 on top
  CHECK(out.at(2, 2, 0) == 9);
  CHECK(out.at(3, 2, 0) == 0);
}

TEST_CASE("random_resized_crop boxes lie inside the image and follow scale and ratio", "[transforms][rrc]") {
  const RandomResizedCropParams params;
  Rng rng(5);
  for (int i = 0; i < 2000; ++i) {
    const int width = 20 + i % 300;
    const int height = 15 + (i * 7) % 200;
    const CropBox box = random_resized_crop_box(width, height, params, rng);
    REQUIRE(box.width > 0);
    REQUIRE(box.height > 0);
    REQUIRE(box.x >= 0);
    REQUIRE(box.y >= 0);
    REQUIRE(box.x + box.width <= width);
    REQUIRE(box.y + box.height <= height);
  }
  SECTION("the attempts respect the area and ratio ranges up to rounding") {
    const RandomResizedCropParams narrow{0.25, 0.5, 0.5, 2.0};
    for (int i = 0; i < 500; ++i) {
      const CropBox box = random_resized_crop_box(400, 400, narrow, rng);
      const double area = box.width * box.height / 160000.0;
      CHECK(area > 0.24);
      CHECK(area < 0.51);
      const double ratio = static_cast<double>(box.width) / box.height;
      CHECK(ratio > 0.49);
      CHECK(ratio < 2.01);
    }
  }
  SECTION("impossible attempts fall back to a centre crop clamped to the ratio") {
    const RandomResizedCropParams wide{1.0, 1.0, 2.0, 3.0};
    const CropBox box = random_resized_crop_box(10, 10, wide, rng);
    CHECK(box.x == 0);
    CHECK(box.width == 10);
    CHECK(box.height == 5);
    CHECK(box.y == 2);
  }
  SECTION("the output has the requested size") {
    Image out;
    random_resized_crop(gradient_image(28, 28, 1), out, 32, 24, params, rng);
    CHECK(out.width == 32);
    CHECK(out.height == 24);
    CHECK(out.channels == 1);
  }
  CHECK_THROWS_AS(random_resized_crop_box(10, 10, RandomResizedCropParams{0.5, 0.2, 0.75, 1.33}, rng),
                  std::invalid_argument);
}

TEST_CASE("pad_random_crop is a window of the padded image at every offset", "[transforms]") {
  const Image in = gradient_image(6, 5, 3);
  for (const PaddingMode mode : {PaddingMode::constant, PaddingMode::reflect}) {
    const Image padded = padded_reference(in, 2, mode, 17);
    std::set<std::pair<int, int>> offsets;
    Image out;
    for (std::uint64_t seed = 0; seed < 600; ++seed) {
      Rng rng(seed);
      pad_random_crop(in, out, 6, 5, 2, mode, 17, rng);
      REQUIRE(out.width == 6);
      REQUIRE(out.height == 5);
      bool matched = false;
      for (int top = 0; top <= 4 && !matched; ++top) {
        for (int left = 0; left <= 4 && !matched; ++left) {
          if (is_window_of(out, padded, left, top)) {
            offsets.insert({left, top});
            matched = true;
          }
        }
      }
      REQUIRE(matched);
    }
    CHECK(offsets.size() == 25);
  }
  Rng rng(0);
  Image out;
  CHECK_THROWS_AS(pad_random_crop(in, out, 6, 5, 5, PaddingMode::reflect, 0, rng), std::invalid_argument);
  CHECK_THROWS_AS(pad_random_crop(in, out, 11, 5, 2, PaddingMode::constant, 0, rng), std::invalid_argument);
}

TEST_CASE("hflip mirrors pixels and keeps channel order", "[transforms]") {
  Image gray = make_image(5, 2, 1, [](int x, int y, int) { return y * 10 + x; });
  hflip(gray);
  CHECK(gray.pixels == std::vector<std::uint8_t>{4, 3, 2, 1, 0, 14, 13, 12, 11, 10});
  Image rgb = make_image(2, 1, 3, [](int x, int, int c) { return x * 100 + c; });
  hflip(rgb);
  CHECK(rgb.pixels == std::vector<std::uint8_t>{100, 101, 102, 0, 1, 2});
}

TEST_CASE("cutout fills a clipped square around a random centre", "[transforms]") {
  int full_squares = 0;
  int clipped_squares = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    Image image = constant_image(12, 10, 3, 255);
    Rng rng(seed);
    cutout(image, 4, 0, rng);
    int min_x = 99, max_x = -1, min_y = 99, max_y = -1, filled = 0;
    for (int y = 0; y < image.height; ++y) {
      for (int x = 0; x < image.width; ++x) {
        if (image.at(y, x, 0) == 0) {
          REQUIRE(image.at(y, x, 2) == 0);
          ++filled;
          min_x = std::min(min_x, x), max_x = std::max(max_x, x);
          min_y = std::min(min_y, y), max_y = std::max(max_y, y);
        }
      }
    }
    REQUIRE(filled > 0);
    REQUIRE(filled == (max_x - min_x + 1) * (max_y - min_y + 1));  // one rectangle
    REQUIRE(max_x - min_x < 4);
    REQUIRE(max_y - min_y < 4);
    (filled == 16 ? full_squares : clipped_squares) += 1;
  }
  CHECK(full_squares > 0);
  CHECK(clipped_squares > 0);
}

TEST_CASE("Normalizer writes (v / 255 - mean) / std as CHW floats", "[transforms][normalize]") {
  SECTION("gray to one channel") {
    const Normalizer normalize({0.5f}, {0.25f});
    const Image image = make_image(2, 1, 1, [](int x, int, int) { return x == 0 ? 0 : 255; });
    std::vector<float> out(2);
    normalize(image, out.data());
    CHECK(out[0] == Approx(-2.0f));
    CHECK(out[1] == Approx(2.0f));
  }
  SECTION("gray replicated to three channels with their own statistics") {
    const Normalizer normalize({0.0f, 0.5f, 1.0f}, {1.0f, 0.5f, 1.0f});
    const Image image = constant_image(2, 2, 1, 255);
    std::vector<float> out(12);
    normalize(image, out.data());
    for (int i = 0; i < 4; ++i) {
      CHECK(out[i] == Approx(1.0f));
      CHECK(out[4 + i] == Approx(1.0f));
      CHECK(out[8 + i] == Approx(0.0f));
    }
  }
  SECTION("RGB is written plane by plane") {
    const Normalizer normalize({0, 0, 0}, {1, 1, 1});
    const Image image = make_image(2, 1, 3, [](int x, int, int c) { return 51 * (c + 3 * x); });
    std::vector<float> out(6);
    normalize(image, out.data());
    CHECK(out == std::vector<float>{0.0f, 0.6f, 0.2f, 0.8f, 0.4f, 1.0f});
    CHECK_THROWS_AS(Normalizer({0.5f}, {0.5f})(image, out.data()), std::invalid_argument);
  }
  CHECK_THROWS_AS(Normalizer({0.5f, 0.5f}, {1.0f, 1.0f}), std::invalid_argument);
  CHECK_THROWS_AS(Normalizer({0.5f}, {0.0f}), std::invalid_argument);
  CHECK_THROWS_AS(Normalizer({0.5f}, {1.0f, 1.0f, 1.0f}), std::invalid_argument);
}

TEST_CASE("TransformPipeline runs a configured chain reproducibly", "[transforms][pipeline]") {
  const TransformPipeline pipeline({spec("rand_augment", {{"n", "2"}, {"m", "9"}}),
                                    spec("random_resized_crop", {{"size", "32"}}), spec("hflip", {{"p", "0.5"}}),
                                    spec("cutout", {{"size", "8"}})});
  const Image source = gradient_image(28, 28, 1);
  auto run = [&](std::uint64_t item) {
    Image image = source;
    Image scratch;
    Rng rng = Rng::for_item(1, 0, item);
    pipeline.apply(image, scratch, rng);
    return image;
  };
  const Image first = run(3);
  CHECK(first.width == 32);
  CHECK(first.height == 32);
  CHECK(first.channels == 1);
  CHECK(run(3).pixels == first.pixels);
  CHECK(run(4).pixels != first.pixels);

  SECTION("resize with `size` sets the shorter side, center_crop takes the middle") {
    const TransformPipeline eval({spec("resize", {{"size", "256"}}), spec("center_crop", {{"size", "224"}})});
    Image image = gradient_image(500, 375, 3);
    Image scratch;
    Rng rng(0);
    eval.apply(image, scratch, rng);
    CHECK(image.width == 224);
    CHECK(image.height == 224);
    CHECK(image.channels == 3);
  }
  SECTION("overrides change parameters between stages") {
    const TransformPipeline stage =
        pipeline.with_overrides({{"random_resized_crop.size", "16"}, {"rand_augment.m", "15"}});
    CHECK(stage.specs()[0].params.at("m") == "15");
    Image image = source;
    Image scratch;
    Rng rng(0);
    stage.apply(image, scratch, rng);
    CHECK(image.width == 16);
    CHECK_THROWS_WITH(pipeline.with_overrides({{"resize.size", "16"}}), Catch::Contains("no 'resize' op"));
    CHECK_THROWS_WITH(pipeline.with_overrides({{"size", "16"}}), Catch::Contains("expected 'op.param'"));
    CHECK_THROWS_WITH(
        pipeline.with_overrides({{"rand_augment.m", "31"}}),
        Catch::Contains("augment[0] rand_augment: parameter 'm' must be < bins (31), got 31"));
  }
}

TEST_CASE("TransformPipeline gives the same bytes from concurrent threads as serially", "[transforms][pipeline]") {
  const TransformPipeline pipeline(
      {spec("rand_augment", {{"n", "3"}, {"m", "12"}}), spec("random_resized_crop", {{"size", "24"}}), spec("hflip")});
  const Image source = gradient_image(28, 28, 3);
  constexpr int kItems = 64;
  auto run_items = [&](int first, int step, std::vector<Image>& results) {
    Image scratch;  // one per thread, reused across items
    for (int item = first; item < kItems; item += step) {
      Image image = source;
      Rng rng = Rng::for_item(11, 2, static_cast<std::uint64_t>(item));
      pipeline.apply(image, scratch, rng);
      results[static_cast<std::size_t>(item)] = std::move(image);
    }
  };
  std::vector<Image> serial(kItems);
  run_items(0, 1, serial);
  std::vector<Image> parallel(kItems);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(run_items, t, 4, std::ref(parallel));
  for (auto& thread : threads) thread.join();
  for (int item = 0; item < kItems; ++item) CHECK(parallel[item].pixels == serial[item].pixels);
}

TEST_CASE("TransformPipeline reads YAML and names what is wrong", "[transforms][pipeline]") {
  const auto pipeline = TransformPipeline::from_yaml(YAML::Load(
      "[{op: random_resized_crop, size: 32, scale: [0.5, 1.0]}, {op: hflip}, {op: random_crop, size: 32, padding: 4, "
      "padding_mode: reflect}]"));
  REQUIRE(pipeline.specs().size() == 3);
  CHECK(pipeline.specs()[0].params.at("scale") == "0.5,1.0");

  auto error_of = [](const std::string& yaml) {
    try {
      TransformPipeline::from_yaml(YAML::Load(yaml));
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of("[{op: blur}]") ==
        "augment[0]: unknown op 'blur'; ops: resize, center_crop, random_resized_crop, random_crop, hflip, cutout, "
        "rand_augment");
  CHECK(error_of("[{op: hflip, q: 1}]") == "augment[0] hflip: no parameter 'q' (did you mean 'p'?); parameters: p");
  CHECK(error_of("[{op: hflip}, {op: hflip, p: 1.5}]") ==
        "augment[1] hflip: parameter 'p' must be in [0, 1], got 1.5");
  CHECK(error_of("[{op: cutout}]") == "augment[0] cutout: missing parameter 'size'");
  CHECK_THAT(error_of("[{op: cutout, size: 8.5}]"), Catch::Contains("parameter 'size' must be an int, got '8.5'"));
  CHECK_THAT(error_of("[{op: center_crop, size: 8, width: 4}]"), Catch::Contains("not both"));
  CHECK_THAT(error_of("[{op: center_crop, width: 4}]"), Catch::Contains("'size' or both 'width' and 'height'"));
  CHECK_THAT(error_of("[{op: random_crop, size: 8, padding_mode: wrap}]"),
             Catch::Contains("'padding_mode' must be one of constant, reflect, got 'wrap'"));
  CHECK_THAT(error_of("[{op: random_resized_crop, size: 8, scale: [1.0, 0.5]}]"), Catch::Contains("low <= high"));
  CHECK_THAT(error_of("[{size: 8}]"), Catch::Contains("augment[0]: missing 'op'"));
  CHECK_THAT(error_of("{op: hflip}"), Catch::Contains("expected a list of ops"));
}

TEST_CASE("check_op_texts reports every problem of one-line ops", "[transforms][pipeline]") {
  using Problems = std::vector<std::string>;
  auto problems = TransformPipeline::check_op_texts;
  CHECK(problems({"random_crop size=32 padding=4", "hflip", "rand_augment n=2 m=9"}).empty());

  const auto unknown_op = problems({"hflip", "hflp"});
  REQUIRE(unknown_op.size() == 1);
  CHECK_THAT(unknown_op[0], Catch::StartsWith("augment[1]: unknown op 'hflp' (did you mean 'hflip'?); ops: resize, "));

  CHECK(problems({"random_crop size=32 pading=4"}) ==
        Problems{"augment[0] random_crop: no parameter 'pading' (did you mean 'padding'?); parameters: size, width, "
                 "height, padding, padding_mode, fill"});
  CHECK(problems({"hflip p=1.5"}) == Problems{"augment[0] hflip: parameter 'p' must be in [0, 1], got 1.5"});
  CHECK(problems({"cutout size=eight"}) == Problems{"augment[0] cutout: parameter 'size' must be an int, got 'eight'"});
  CHECK(problems({"cutout fill=3"}) == Problems{"augment[0] cutout: missing parameter 'size'"});
  CHECK(problems({"center_crop size=8 width=4"}) ==
        Problems{"augment[0] center_crop: give either 'size' or 'width' and 'height', not both"});
  CHECK(problems({"resize width=4"}) == Problems{"augment[0] resize: needs 'size' or both 'width' and 'height'"});
  CHECK(problems({"rand_augment m=31"}) == Problems{"augment[0] rand_augment: parameter 'm' must be < bins (31), got 31"});
  CHECK(problems({"rand_augment m=40 bins=64"}).empty());
  CHECK(problems({"random_resized_crop size=8 scale=1,0.5"}) ==
        Problems{"augment[0] random_resized_crop: parameter 'scale' must have low <= high, got 1,0.5"});
  CHECK(problems({"random_resized_crop size=8 ratio=1"}) ==
        Problems{"augment[0] random_resized_crop: parameter 'ratio' must be a pair 'low,high', got 1 numbers"});
  CHECK(problems({"random_crop size=8 padding_mode=reflct"}) ==
        Problems{"augment[0] random_crop: parameter 'padding_mode' must be one of constant, reflect, got 'reflct' (did "
                 "you mean 'reflect'?)"});
  CHECK(problems({"hflip p"}) == Problems{"augment[0] hflip: write parameters as key=value (got 'p')"});

  const auto several = problems({"random_crop size=0 fill=300 mode=reflect", "blur", "hflip p=2"});
  CHECK(several == Problems{"augment[0] random_crop: parameter 'fill' must be in [0, 255], got 300",
                            "augment[0] random_crop: no parameter 'mode'; parameters: size, width, height, padding, "
                            "padding_mode, fill",
                            "augment[0] random_crop: parameter 'size' must be in [1, 32768], got 0",
                            "augment[1]: unknown op 'blur'; ops: resize, center_crop, random_resized_crop, random_crop, "
                            "hflip, cutout, rand_augment",
                            "augment[2] hflip: parameter 'p' must be in [0, 1], got 2"});
}

TEST_CASE("TransformPipeline reports all its problems at once", "[transforms][pipeline]") {
  try {
    TransformPipeline({TransformSpec::parse("hflip p=2"), TransformSpec::parse("cutout")});
    FAIL("no error");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) ==
          "augment[0] hflip: parameter 'p' must be in [0, 1], got 2\naugment[1] cutout: missing parameter 'size'");
  }
}

// docs/ops.md itself is compared with `semiflow ops` by a CLI test, as docs/nodes.md is.
TEST_CASE("op schemas are consistent and every op and parameter is documented", "[transforms][pipeline]") {
  CHECK(TransformPipeline::op_names().size() == TransformPipeline::op_schemas().size());
  const std::string markdown = TransformPipeline::ops_markdown();
  CHECK_THAT(markdown, Catch::StartsWith("# Augment op reference\n"));
  for (const auto& schema : TransformPipeline::op_schemas()) {
    INFO(schema.name());
    CHECK(schema.declaration_problems().empty());
    CHECK_FALSE(schema.doc().empty());
    CHECK_THAT(markdown, Catch::Contains("## `" + schema.name() + "`\n"));
    for (const auto& param : schema.params()) {
      INFO(param.name);
      CHECK_FALSE(param.doc.empty());
      CHECK_THAT(schema.markdown(), Catch::Contains("| `" + param.name + "` |"));
    }
  }
  CHECK_THAT(markdown, Catch::Contains("| `width` | int | none | in [1, 32768] |"));
  CHECK_THAT(markdown, Catch::Contains("| `size` | int | required | in [1, 32768] |"));  // cutout's
}
