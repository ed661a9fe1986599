#include "datasets/image_codec.h"

#include "tests/temp_dir.h"

#include <catch2/catch.hpp>

#include <cstdlib>

using namespace semiflow;
using Catch::Matchers::Contains;

namespace {

// A smooth gradient: JPEG keeps it within a few grey levels.
Image gradient(int width, int height, int channels) {
  Image image(width, height, channels);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) image.at(y, x, c) = static_cast<std::uint8_t>(x * 200 / width + y * 40 / height + c * 10);
  return image;
}

int max_abs_diff(const Image& a, const Image& b) {
  REQUIRE(a.pixels.size() == b.pixels.size());
  int worst = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) worst = std::max(worst, std::abs(int{a.pixels[i]} - int{b.pixels[i]}));
  return worst;
}

Image decode(const std::vector<std::uint8_t>& bytes, DecodeOptions options = {}) {
  return decode_image(bytes.data(), bytes.size(), "test.jpg", options);
}

}  // namespace

TEST_CASE("RGB JPEG decodes to RGB close to the source", "[codec]") {
  const auto source = gradient(40, 24, 3);
  const auto image = decode(encode_jpeg(source, 98));
  CHECK(image.width == 40);
  CHECK(image.height == 24);
  CHECK(image.channels == 3);
  CHECK(max_abs_diff(image, source) <= 20);
}

TEST_CASE("grayscale JPEG decodes to gray or expands to RGB", "[codec]") {
  const auto source = gradient(28, 28, 1);
  const auto bytes = encode_jpeg(source, 98);
  DecodeOptions gray;
  gray.channels = 1;
  CHECK(max_abs_diff(decode(bytes, gray), source) <= 4);
  const auto rgb = decode(bytes);
  REQUIRE(rgb.channels == 3);
  for (int x = 0; x < 28; ++x) {
    CHECK(rgb.at(5, x, 0) == rgb.at(5, x, 1));
    CHECK(rgb.at(5, x, 1) == rgb.at(5, x, 2));
  }
}

TEST_CASE("progressive JPEG decodes like baseline", "[codec]") {
  const auto source = gradient(32, 32, 3);
  const auto progressive = encode_jpeg(source, 95, true);
  const auto baseline = encode_jpeg(source, 95, false);  // after a progressive encode: must stay baseline
  CHECK(progressive != baseline);
  CHECK(max_abs_diff(decode(progressive), decode(baseline)) <= 2);
}

TEST_CASE("CMYK JPEG is converted to RGB", "[codec]") {
  // Inverted CMYK: R = C*K/255. C=255,M=128,Y=0,K=200 -> R=200, G~100, B=0.
  std::vector<std::uint8_t> cmyk(16 * 16 * 4);
  for (std::size_t i = 0; i < cmyk.size(); i += 4) {
    cmyk[i] = 255;
    cmyk[i + 1] = 128;
    cmyk[i + 2] = 0;
    cmyk[i + 3] = 200;
  }
  const auto image = decode(encode_cmyk_jpeg(cmyk.data(), 16, 16, 100));
  REQUIRE(image.channels == 3);
  CHECK(std::abs(image.at(8, 8, 0) - 200) <= 3);
  CHECK(std::abs(image.at(8, 8, 1) - 100) <= 3);
  CHECK(image.at(8, 8, 2) <= 3);
}

TEST_CASE("PNG decodes exactly, gray and RGB", "[codec]") {
  const auto rgb = gradient(17, 9, 3);
  CHECK(max_abs_diff(decode(encode_png(rgb)), rgb) == 0);
  const auto gray = gradient(17, 9, 1);
  DecodeOptions one;
  one.channels = 1;
  CHECK(max_abs_diff(decode(encode_png(gray), one), gray) == 0);
}

TEST_CASE("DCT scaling decodes large JPEGs at a reduced size", "[codec]") {
  const auto bytes = encode_jpeg(gradient(400, 300, 3));
  DecodeOptions options;
  options.min_side = 64;
  const auto image = decode(bytes, options);
  CHECK(image.width == 100);  // 1/4: the smallest of 1/2, 1/4, 1/8 keeping both sides >= 64
  CHECK(image.height == 75);
  options.min_side = 120;  // 3/8 would keep 150x112, but only 1/2, 1/4 and 1/8 are faster than 1/1
  CHECK(decode(bytes, options).width == 200);
  options.min_side = 151;
  CHECK(decode(bytes, options).width == 400);
  options.min_side = 1000;  // larger than the image: full size
  CHECK(decode(bytes, options).width == 400);
}

TEST_CASE("bad input is a DecodeError naming the file", "[codec]") {
  semiflow::testing::TempDir dir;
  Image noise(64, 64, 3);
  for (std::size_t i = 0; i < noise.pixels.size(); ++i) noise.pixels[i] = static_cast<std::uint8_t>(i * 7919 % 251);
  const auto jpeg = encode_jpeg(noise);
  SECTION("empty file") {
    CHECK_THROWS_WITH(decode_image_file(dir.write("empty.jpg", "")), Contains("empty.jpg: empty file"));
  }
  SECTION("missing file") {
    CHECK_THROWS_AS(decode_image_file(dir.file("missing.jpg")), DecodeError);
    CHECK_THROWS_WITH(decode_image_file(dir.file("missing.jpg")), Contains("missing.jpg: cannot open file"));
  }
  SECTION("truncated JPEG") {
    const auto path = dir.write("cut.jpg", std::string(jpeg.begin(), jpeg.begin() + jpeg.size() / 2));
    CHECK_THROWS_WITH(decode_image_file(path), Contains("cut.jpg") && Contains("JPEG data"));
    const auto header_only = dir.write("header.jpg", std::string(jpeg.begin(), jpeg.begin() + 100));
    CHECK_THROWS_WITH(decode_image_file(header_only), Contains("header.jpg: corrupt JPEG header"));
    CHECK(decode(jpeg).width == 64);  // a failure leaves the decoder usable
  }
  SECTION("truncated PNG") {
    const auto png = encode_png(gradient(64, 64, 3));
    const auto path = dir.write("cut.png", std::string(png.begin(), png.begin() + png.size() / 2));
    CHECK_THROWS_WITH(decode_image_file(path), Contains("cut.png: corrupt PNG"));
  }
  SECTION("not an image") {
    CHECK_THROWS_WITH(decode_image_file(dir.write("notes.jpg", "hello, world")), Contains("notes.jpg: not a JPEG or PNG image"));
  }
  SECTION("wrong extension: the content decides") {
    const auto path = dir.write("photo.png", std::string(jpeg.begin(), jpeg.end()));
    CHECK(decode_image_file(path).width == 64);
  }
  SECTION("absurd dimensions are refused before decoding") {
    DecodeOptions small;
    small.max_pixels = 64 * 63;
    CHECK_THROWS_WITH(decode(jpeg, small), Contains("64x64 = 4096 pixels, over the limit of 4032"));
    const auto png = encode_png(gradient(64, 64, 1));
    CHECK_THROWS_WITH(decode_image(png.data(), png.size(), "big.png", small), Contains("big.png: image is 64x64"));
  }
}

TEST_CASE("bad image policy parses", "[codec]") {
  CHECK(parse_bad_image_policy("skip") == BadImagePolicy::skip);
  CHECK(parse_bad_image_policy("fail") == BadImagePolicy::fail);
  CHECK_THROWS_WITH(parse_bad_image_policy("ignore"), Contains("use 'fail' or 'skip'"));
}

namespace {
// Textured enough that every 8x8 block and the chroma planes carry detail.
Image texture(int width, int height, int channels) {
  Image image(width, height, channels);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c)
        image.at(y, x, c) = static_cast<std::uint8_t>((x * (c + 1) * 3 + y * 5 + (x * y) % 37 + c * 40) & 255);
  return image;
}

Image crop(const Image& image, const CropBox& box) {
  Image window(box.width, box.height, image.channels);
  for (int y = 0; y < box.height; ++y)
    for (int x = 0; x < box.width; ++x)
      for (int c = 0; c < image.channels; ++c) window.at(y, x, c) = image.at(box.y + y, box.x + x, c);
  return window;
}

Image decode_window(const std::vector<std::uint8_t>& bytes, const CropBox& box, DecodeOptions options = {}) {
  return decode_image_window(bytes.data(), bytes.size(), "test.jpg", [&](int, int) { return box; }, options);
}
}  // namespace

TEST_CASE("a decoded window equals the same window of a full decode", "[codec]") {
  const Image source = texture(203, 157, 3);  // not a multiple of the 16x16 MCU
  // Windows at MCU boundaries and off them, at the image's edges and inside, one pixel wide.
  const std::vector<CropBox> boxes = {{0, 0, 203, 157}, {32, 16, 64, 48}, {33, 17, 65, 49}, {0, 0, 1, 1},
                                      {202, 156, 1, 1}, {150, 100, 53, 57}, {7, 90, 180, 3}};
  for (const bool progressive : {false, true}) {
    const auto bytes = encode_jpeg(source, 90, progressive);
    for (const int channels : {3, 1}) {
      DecodeOptions options;
      options.channels = channels;
      const Image whole = decode(bytes, options);
      for (const auto& box : boxes) {
        INFO("progressive " << progressive << ", channels " << channels << ", window " << box.width << "x" << box.height
                            << " at " << box.x << "," << box.y);
        const Image window = decode_window(bytes, box, options);
        REQUIRE(window.width == box.width);
        REQUIRE(window.height == box.height);
        CHECK(window.channels == channels);
        CHECK(max_abs_diff(window, crop(whole, box)) == 0);
      }
    }
  }
}

TEST_CASE("window decoding: gray, PNG and CMYK files, DCT scaling, bad windows and bad data", "[codec]") {
  SECTION("a gray JPEG and a PNG") {
    const Image gray = texture(64, 40, 1);
    const auto jpeg = encode_jpeg(gray, 95);
    DecodeOptions one;
    one.channels = 1;
    CHECK(max_abs_diff(decode_window(jpeg, {5, 3, 20, 30}, one), crop(decode(jpeg, one), {5, 3, 20, 30})) == 0);
    const Image rgb = texture(30, 20, 3);
    const auto png = encode_png(rgb);
    CHECK(max_abs_diff(decode_window(png, {4, 2, 10, 15}), crop(rgb, {4, 2, 10, 15})) == 0);
  }
  SECTION("CMYK") {
    std::vector<std::uint8_t> cmyk(32 * 32 * 4);
    for (std::size_t i = 0; i < cmyk.size(); i += 4) {
      cmyk[i] = 255;
      cmyk[i + 1] = 128;
      cmyk[i + 2] = 0;
      cmyk[i + 3] = static_cast<std::uint8_t>(i / 4 % 32 * 8);
    }
    const auto bytes = encode_cmyk_jpeg(cmyk.data(), 32, 32, 100);
    CHECK(max_abs_diff(decode_window(bytes, {9, 4, 12, 20}), crop(decode(bytes), {9, 4, 12, 20})) == 0);
  }
  SECTION("min_side picks the DCT scale from the window, not the image") {
    const auto bytes = encode_jpeg(texture(400, 300, 3), 90);
    DecodeOptions options;
    options.min_side = 50;
    const Image window = decode_window(bytes, {100, 60, 200, 120}, options);  // 1/2 keeps 100x60 >= 50
    CHECK(window.width == 100);
    CHECK(window.height == 60);
    CHECK(decode(bytes, options).width == 100);  // the whole image goes to 1/4
  }
  SECTION("the chooser sees the full size; a window outside the image is refused") {
    const auto bytes = encode_jpeg(texture(48, 32, 3), 90);
    int seen_width = 0, seen_height = 0;
    decode_image_window(bytes.data(), bytes.size(), "test.jpg", [&](int w, int h) {
      seen_width = w;
      seen_height = h;
      return CropBox{0, 0, w, h};
    });
    CHECK(seen_width == 48);
    CHECK(seen_height == 32);
    CHECK_THROWS_WITH(decode_window(bytes, {40, 0, 9, 10}), Contains("window 9x10 at (40, 0) is not inside the 48x32 image"));
    CHECK_THROWS_WITH(decode_window(bytes, {0, 0, 0, 10}), Contains("is not inside"));
  }
  SECTION("bad data is a DecodeError naming the file") {
    const auto whole = [](int w, int h) { return CropBox{0, 0, w, h}; };
    const auto bytes = encode_jpeg(texture(64, 64, 3), 90);
    const std::vector<std::uint8_t> header_only(bytes.begin(), bytes.begin() + 100);
    CHECK_THROWS_WITH(decode_image_window(header_only.data(), header_only.size(), "cut.jpg", whole),
                      Contains("cut.jpg: corrupt JPEG header"));
    const std::vector<std::uint8_t> half(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() / 2));
    CHECK_THROWS_WITH(decode_image_window(half.data(), half.size(), "cut.jpg", whole),
                      Contains("cut.jpg: damaged JPEG data"));
    CHECK_NOTHROW(decode_window(half, {0, 0, 64, 8}));  // the damage lies below this window: never read
    DecodeOptions lenient;
    lenient.strict = false;
    CHECK(decode_image_window(half.data(), half.size(), "cut.jpg", whole, lenient).height == 64);
    DecodeOptions small;
    small.max_pixels = 100;
    CHECK_THROWS_WITH(decode_window(bytes, {0, 0, 8, 8}, small), Contains("64x64 = 4096 pixels, over the limit of 100"));
  }
}
