#include "datasets/rand_augment.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace semiflow {

namespace {

using Lut = std::array<std::uint8_t, 256>;

// torchvision's clamp(0, 255) then conversion to uint8 (truncation). Truncating first and
// clamping the integer gives the same byte for every value in int range (all of ours), and
// compiles to conditional moves: the float version became branches that mispredict on
// textured images, several times slower.
std::uint8_t clamp_to_byte(float value) {
  return static_cast<std::uint8_t>(std::min(std::max(static_cast<int>(value), 0), 255));
}

void require_image(const Image& image, const char* what) {
  if (image.empty() || (image.channels != 1 && image.channels != 3)) {
    throw std::invalid_argument(fmt::format("{}: needs a non-empty image with 1 or 3 channels, got {}x{}x{}", what,
                                            image.width, image.height, image.channels));
  }
}

// torch.linspace's float32 arithmetic (ATen fills the first half from the start and the second
// half from the end), so magnitude tables hold the same values as torchvision's.
float linspace_at(float start, float end, int steps, int index) {
  if (steps == 1) return start;
  const float step = (end - start) / static_cast<float>(steps - 1);
  return index < steps / 2 ? start + step * static_cast<float>(index)
                           : end - step * static_cast<float>(steps - index - 1);
}

// torchvision's _blend on uint8: ratio * a + (1 - ratio) * b in float32, clamped, truncated.
struct Blend {
  float ratio;
  float rest;
  explicit Blend(double factor) : ratio(static_cast<float>(factor)), rest(static_cast<float>(1.0 - factor)) {}
  std::uint8_t operator()(float a, float b) const { return clamp_to_byte(ratio * a + rest * b); }
};

// The same blend of two uint8 values per pixel, with both products looked up: they are the
// very float32 products above, so results are identical, at an add per pixel.
class BlendTable {
 public:
  explicit BlendTable(const Blend& blend) {
    for (int v = 0; v < 256; ++v) {
      first_[static_cast<std::size_t>(v)] = blend.ratio * static_cast<float>(v);
      second_[static_cast<std::size_t>(v)] = blend.rest * static_cast<float>(v);
    }
  }
  std::uint8_t operator()(std::uint8_t a, std::uint8_t b) const { return clamp_to_byte(first_[a] + second_[b]); }

 private:
  std::array<float, 256> first_;
  std::array<float, 256> second_;
};

void apply_lut(Image& image, const Lut& lut) {
  for (std::uint8_t& v : image.pixels) v = lut[v];
}

// One table per channel. Pointers are read into locals throughout this file: the uint8_t
// stores may alias anything, so the compiler would otherwise reload them after every store.
void apply_channel_luts(Image& image, const std::array<Lut, 3>& luts) {
  if (image.channels == 1) return apply_lut(image, luts[0]);
  std::uint8_t* pixel = image.pixels.data();
  std::uint8_t* const end = pixel + image.pixels.size();
  for (; pixel < end; pixel += 3) {
    pixel[0] = luts[0][pixel[0]];
    pixel[1] = luts[1][pixel[1]];
    pixel[2] = luts[2][pixel[2]];
  }
}

// torchvision's rgb_to_grayscale on uint8: 0.2989 r + 0.587 g + 0.114 b in float32, truncated,
// with the products tabulated.
struct GrayWeights {
  std::array<float, 256> red, green, blue;
  GrayWeights() {
    for (int v = 0; v < 256; ++v) {
      red[static_cast<std::size_t>(v)] = 0.2989f * static_cast<float>(v);
      green[static_cast<std::size_t>(v)] = 0.587f * static_cast<float>(v);
      blue[static_cast<std::size_t>(v)] = 0.114f * static_cast<float>(v);
    }
  }
};

const GrayWeights kGrayWeights;

std::uint8_t gray_level(const std::uint8_t* rgb) {
  return static_cast<std::uint8_t>(kGrayWeights.red[rgb[0]] + kGrayWeights.green[rgb[1]] + kGrayWeights.blue[rgb[2]]);
}

// Nearest-neighbour inverse warp: the output pixel centre (x + 0.5, y + 0.5) samples the source
// at (a x' + b y' + c, d x' + e y' + f) with x', y' the centre's coordinates. Coordinates step
// along a row in 16.16 fixed point; integer maps (translations, the identity) stay exact.
struct AffineMap {
  double a, b, c, d, e, f;
};

template <int C>
void warp_nearest_kernel(const Image& in, Image& out, const AffineMap& map, std::uint8_t fill) {
  constexpr double kOne = 65536.0;
  const auto step_x = static_cast<std::int64_t>(std::llround(map.a * kOne));
  const auto step_y = static_cast<std::int64_t>(std::llround(map.d * kOne));
  const auto width = static_cast<std::uint64_t>(in.width);
  const auto height = static_cast<std::uint64_t>(in.height);
  const int out_width = out.width;
  const int out_height = out.height;
  const std::uint8_t* const source = in.pixels.data();
  std::uint8_t* dst = out.pixels.data();
  for (int y = 0; y < out_height; ++y) {
    const double centre_y = y + 0.5;
    auto source_x = static_cast<std::int64_t>(std::llround((map.a * 0.5 + map.b * centre_y + map.c) * kOne));
    auto source_y = static_cast<std::int64_t>(std::llround((map.d * 0.5 + map.e * centre_y + map.f) * kOne));
    for (int x = 0; x < out_width; ++x, dst += C, source_x += step_x, source_y += step_y) {
      // Arithmetic shift floors negative coordinates; they then fail the unsigned bounds test.
      const auto sx = static_cast<std::uint64_t>(source_x >> 16);
      const auto sy = static_cast<std::uint64_t>(source_y >> 16);
      if (sx < width && sy < height) {
        const std::uint8_t* src = source + (sy * width + sx) * C;
        for (int k = 0; k < C; ++k) dst[k] = src[k];
      } else {
        for (int k = 0; k < C; ++k) dst[k] = fill;
      }
    }
  }
}

void warp_nearest(const Image& in, Image& out, const AffineMap& map, std::uint8_t fill, const char* what) {
  require_image(in, what);
  if (&in == &out) throw std::invalid_argument(fmt::format("{}: input and output must be different images", what));
  reshape_image(out, in.width, in.height, in.channels);
  if (in.channels == 1) {
    warp_nearest_kernel<1>(in, out, map, fill);
  } else {
    warp_nearest_kernel<3>(in, out, map, fill);
  }
}

// torchvision's _blurred_degenerate_image: kernel [1 1 1; 1 5 1; 1 1 1] / 13, rounded, border
// pixels kept; then blended with the input. 13 is odd, so the rounding never meets a tie.
template <int C>
void sharpness_kernel(const Image& in, Image& out, const BlendTable& blend) {
  const std::size_t row_bytes = static_cast<std::size_t>(in.width) * C;
  const int height = in.height;
  const std::uint8_t* const source = in.pixels.data();
  std::uint8_t* const target = out.pixels.data();
  auto keep = [&](std::size_t i) { target[i] = blend(source[i], source[i]); };
  for (std::size_t i = 0; i < row_bytes; ++i) {
    keep(i);
    keep((height - 1) * row_bytes + i);
  }
  for (int y = 1; y < height - 1; ++y) {
    const std::size_t row_start = y * row_bytes;
    for (int c = 0; c < C; ++c) {
      keep(row_start + c);
      keep(row_start + row_bytes - C + c);
    }
    const std::uint8_t* const above = source + row_start - row_bytes;
    const std::uint8_t* const src = source + row_start;
    const std::uint8_t* const below = source + row_start + row_bytes;
    std::uint8_t* const dst = target + row_start;
    for (std::size_t i = C; i < row_bytes - C; ++i) {
      const int sum = above[i - C] + above[i] + above[i + C] + src[i - C] + 5 * src[i] + src[i + C] + below[i - C] +
                      below[i] + below[i + C];
      dst[i] = blend(src[i], static_cast<std::uint8_t>((sum + 6) / 13));
    }
  }
}

}  // namespace

const char* augment_op_name(AugmentOp op) {
  static constexpr std::array<const char*, kAugmentOpCount> kNames = {
      "Identity", "ShearX",   "ShearY",    "TranslateX", "TranslateY", "Rotate",       "Brightness",
      "Color",    "Contrast", "Sharpness", "Posterize",  "Solarize",   "AutoContrast", "Equalize"};
  return kNames[static_cast<std::size_t>(op)];
}

void validate_rand_augment_params(const RandAugmentParams& params) {
  if (params.num_ops < 0 || params.num_bins < 2 || params.magnitude < 0 || params.magnitude >= params.num_bins) {
    throw std::invalid_argument(
        fmt::format("rand_augment: need n >= 0, bins >= 2 and 0 <= m < bins, got n={} m={} bins={}", params.num_ops,
                    params.magnitude, params.num_bins));
  }
}

bool augment_op_is_signed(AugmentOp op) {
  switch (op) {
    case AugmentOp::shear_x:
    case AugmentOp::shear_y:
    case AugmentOp::translate_x:
    case AugmentOp::translate_y:
    case AugmentOp::rotate:
    case AugmentOp::brightness:
    case AugmentOp::color:
    case AugmentOp::contrast:
    case AugmentOp::sharpness:
      return true;
    default:
      return false;
  }
}

double augment_magnitude(AugmentOp op, int magnitude, int num_bins, int width, int height) {
  auto bin = [&](double end) {
    return static_cast<double>(linspace_at(0.0f, static_cast<float>(end), num_bins, magnitude));
  };
  switch (op) {
    case AugmentOp::shear_x:
    case AugmentOp::shear_y:
      return bin(0.3);
    case AugmentOp::translate_x:
      return bin(150.0 / 331.0 * width);
    case AugmentOp::translate_y:
      return bin(150.0 / 331.0 * height);
    case AugmentOp::rotate:
      return bin(30.0);
    case AugmentOp::brightness:
    case AugmentOp::color:
    case AugmentOp::contrast:
    case AugmentOp::sharpness:
      return bin(0.9);
    case AugmentOp::posterize: {
      const float quarter = static_cast<float>((num_bins - 1) / 4.0);
      return 8 - static_cast<int>(std::nearbyint(static_cast<float>(magnitude) / quarter));
    }
    case AugmentOp::solarize:
      return linspace_at(255.0f, 0.0f, num_bins, magnitude);
    case AugmentOp::identity:
    case AugmentOp::autocontrast:
    case AugmentOp::equalize:
      return 0.0;
  }
  throw std::invalid_argument("augment_magnitude: unknown op");
}

void shear_x(const Image& in, Image& out, double factor, std::uint8_t fill) {
  warp_nearest(in, out, {1, factor, 0, 0, 1, 0}, fill, "shear_x");
}

void shear_y(const Image& in, Image& out, double factor, std::uint8_t fill) {
  warp_nearest(in, out, {1, 0, 0, factor, 1, 0}, fill, "shear_y");
}

void translate(const Image& in, Image& out, int dx, int dy, std::uint8_t fill) {
  warp_nearest(in, out, {1, 0, static_cast<double>(-dx), 0, 1, static_cast<double>(-dy)}, fill, "translate");
}

void rotate(const Image& in, Image& out, double degrees, std::uint8_t fill) {
  const double radians = degrees * (3.14159265358979323846 / 180.0);
  const double cos_t = std::cos(radians);
  const double sin_t = std::sin(radians);
  const double cx = in.width * 0.5;
  const double cy = in.height * 0.5;
  // source = R(angle) (p - centre) + centre, which turns the content counter-clockwise on screen.
  warp_nearest(in, out, {cos_t, -sin_t, cx - cos_t * cx + sin_t * cy, sin_t, cos_t, cy - sin_t * cx - cos_t * cy}, fill,
               "rotate");
}

void adjust_brightness(Image& image, double factor) {
  require_image(image, "brightness");
  const Blend blend(factor);
  Lut lut;
  for (int v = 0; v < 256; ++v) lut[static_cast<std::size_t>(v)] = blend(static_cast<float>(v), 0.0f);
  apply_lut(image, lut);
}

void adjust_saturation(Image& image, double factor) {
  require_image(image, "color");
  if (image.channels == 1) return;  // as torchvision (and PIL): gray has no saturation
  const BlendTable blend{Blend(factor)};
  std::uint8_t* rgb = image.pixels.data();
  std::uint8_t* const end = rgb + image.pixels.size();
  for (; rgb < end; rgb += 3) {
    const std::uint8_t gray = gray_level(rgb);
    for (int k = 0; k < 3; ++k) rgb[k] = blend(rgb[k], gray);
  }
}

void adjust_contrast(Image& image, double factor) {
  require_image(image, "contrast");
  std::uint64_t sum = 0;
  if (image.channels == 1) {
    for (const std::uint8_t v : image.pixels) sum += v;
  } else {
    const std::uint8_t* const end = image.pixels.data() + image.pixels.size();
    for (const std::uint8_t* rgb = image.pixels.data(); rgb < end; rgb += 3) sum += gray_level(rgb);
  }
  const auto mean = static_cast<float>(static_cast<double>(sum) / (static_cast<double>(image.width) * image.height));
  const Blend blend(factor);
  Lut lut;
  for (int v = 0; v < 256; ++v) lut[static_cast<std::size_t>(v)] = blend(static_cast<float>(v), mean);
  apply_lut(image, lut);
}

void adjust_sharpness(const Image& in, Image& out, double factor) {
  require_image(in, "sharpness");
  if (&in == &out) throw std::invalid_argument("sharpness: input and output must be different images");
  reshape_image(out, in.width, in.height, in.channels);
  if (in.width <= 2 || in.height <= 2) {  // no interior to smooth, as torchvision
    out.pixels = in.pixels;
    return;
  }
  const BlendTable blend{Blend(factor)};
  if (in.channels == 1) {
    sharpness_kernel<1>(in, out, blend);
  } else {
    sharpness_kernel<3>(in, out, blend);
  }
}

void posterize(Image& image, int bits) {
  require_image(image, "posterize");
  if (bits < 0 || bits > 8) throw std::invalid_argument(fmt::format("posterize: bits must be in [0, 8], got {}", bits));
  const auto mask = static_cast<std::uint8_t>(0xFF00 >> bits);
  for (std::uint8_t& v : image.pixels) v &= mask;
}

void solarize(Image& image, double threshold) {
  require_image(image, "solarize");
  Lut lut;
  for (int v = 0; v < 256; ++v)
    lut[static_cast<std::size_t>(v)] = static_cast<std::uint8_t>(v >= threshold ? 255 - v : v);
  apply_lut(image, lut);
}

void autocontrast(Image& image) {
  require_image(image, "autocontrast");
  const int c = image.channels;
  std::array<Lut, 3> luts;
  for (int k = 0; k < c; ++k) {
    std::uint8_t low = 255;
    std::uint8_t high = 0;
    for (std::size_t i = static_cast<std::size_t>(k); i < image.pixels.size(); i += static_cast<std::size_t>(c)) {
      low = std::min(low, image.pixels[i]);
      high = std::max(high, image.pixels[i]);
    }
    // torchvision: a flat channel keeps its values (minimum 0, scale 1).
    const float minimum = low == high ? 0.0f : static_cast<float>(low);
    const float scale = low == high ? 1.0f : 255.0f / static_cast<float>(high - low);
    Lut& lut = luts[static_cast<std::size_t>(k)];
    for (int v = 0; v < 256; ++v) {
      lut[static_cast<std::size_t>(v)] = clamp_to_byte((static_cast<float>(v) - minimum) * scale);
    }
  }
  apply_channel_luts(image, luts);
}

void equalize(Image& image) {
  require_image(image, "equalize");
  const int c = image.channels;
  const std::uint64_t pixel_count = static_cast<std::uint64_t>(image.width) * image.height;
  if (pixel_count > UINT32_MAX) throw std::invalid_argument("equalize: images are limited to 2^32 - 1 pixels");
  std::array<Lut, 3> luts;
  for (int k = 0; k < c; ++k) {
    std::array<std::uint32_t, 256> histogram{};
    const std::uint8_t* const end = image.pixels.data() + image.pixels.size();
    for (const std::uint8_t* v = image.pixels.data() + k; v < end; v += c) ++histogram[*v];
    // torchvision's _scale_channel: the step ignores the last occupied bin; a step of 0 (too few
    // distinct values) leaves the channel alone.
    std::uint32_t last_count = 0;
    for (const std::uint32_t count : histogram) last_count = count != 0 ? count : last_count;
    const auto step = static_cast<std::uint32_t>((pixel_count - last_count) / 255);
    Lut& lut = luts[static_cast<std::size_t>(k)];
    std::uint32_t cumulative = 0;
    for (int v = 0; v < 256; ++v) {
      const std::uint32_t count = histogram[static_cast<std::size_t>(v)];
      // Values absent from the channel are never looked up: skip their division.
      if (step == 0) {
        lut[static_cast<std::size_t>(v)] = static_cast<std::uint8_t>(v);
      } else if (count != 0) {
        lut[static_cast<std::size_t>(v)] =
            static_cast<std::uint8_t>(std::min<std::uint32_t>(255, (cumulative + step / 2) / step));
      }
      cumulative += count;
    }
  }
  apply_channel_luts(image, luts);
}

void apply_augment_op(AugmentOp op, double magnitude, Image& image, Image& scratch, std::uint8_t fill) {
  // Signed ops at magnitude 0 are the identity; skipping them also saves a copy.
  if (magnitude == 0.0 && augment_op_is_signed(op)) return;
  switch (op) {
    case AugmentOp::identity:
      return;
    case AugmentOp::shear_x:
      shear_x(image, scratch, magnitude, fill);
      break;
    case AugmentOp::shear_y:
      shear_y(image, scratch, magnitude, fill);
      break;
    case AugmentOp::translate_x:
      translate(image, scratch, static_cast<int>(magnitude), 0, fill);
      break;
    case AugmentOp::translate_y:
      translate(image, scratch, 0, static_cast<int>(magnitude), fill);
      break;
    case AugmentOp::rotate:
      rotate(image, scratch, magnitude, fill);
      break;
    case AugmentOp::brightness:
      return adjust_brightness(image, 1.0 + magnitude);
    case AugmentOp::color:
      return adjust_saturation(image, 1.0 + magnitude);
    case AugmentOp::contrast:
      return adjust_contrast(image, 1.0 + magnitude);
    case AugmentOp::sharpness:
      adjust_sharpness(image, scratch, 1.0 + magnitude);
      break;
    case AugmentOp::posterize:
      return posterize(image, static_cast<int>(magnitude));
    case AugmentOp::solarize:
      return solarize(image, magnitude);
    case AugmentOp::autocontrast:
      return autocontrast(image);
    case AugmentOp::equalize:
      return equalize(image);
  }
  std::swap(image, scratch);
}

void rand_augment(Image& image, Image& scratch, const RandAugmentParams& params, Rng& rng) {
  validate_rand_augment_params(params);
  for (int i = 0; i < params.num_ops; ++i) {
    const auto op = static_cast<AugmentOp>(rng.below(kAugmentOpCount));
    double magnitude = augment_magnitude(op, params.magnitude, params.num_bins, image.width, image.height);
    if (augment_op_is_signed(op) && rng.below(2) == 1) magnitude = -magnitude;
    apply_augment_op(op, magnitude, image, scratch, params.fill);
  }
}

}  // namespace semiflow
