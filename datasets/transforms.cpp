#include "datasets/transforms.h"

#include "datasets/rand_augment.h"
#include "graph/suggest.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace semiflow {

namespace {

constexpr std::uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ULL;

std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Python's round(): std::nearbyint rounds half to even in the default rounding mode.
int round_half_even(double value) { return static_cast<int>(std::nearbyint(value)); }

void require_supported_channels(const Image& image, const char* what) {
  if (image.channels != 1 && image.channels != 3) {
    throw std::invalid_argument(fmt::format("{}: images must have 1 or 3 channels, got {}", what, image.channels));
  }
}

// Bilinear taps along one axis, 11-bit weights so the two passes' products fit in 32 bits.
constexpr int kWeightBits = 11;
constexpr int kWeightOne = 1 << kWeightBits;

struct LinearTap {
  int index0;  // the two source samples, in units of `stride` elements
  int index1;
  int weight1;  // weight of index1; index0 gets kWeightOne - weight1
};

void compute_linear_taps(int in_size, int in_start, int out_size, int stride, std::vector<LinearTap>& taps) {
  taps.resize(static_cast<std::size_t>(out_size));
  const double scale = static_cast<double>(in_size) / out_size;
  for (int i = 0; i < out_size; ++i) {
    const double source = std::max(0.0, (i + 0.5) * scale - 0.5);
    const int index0 = std::min(static_cast<int>(source), in_size - 1);
    const int index1 = index0 + (index0 < in_size - 1 ? 1 : 0);
    const int weight1 = static_cast<int>(std::lround((source - index0) * kWeightOne));
    taps[static_cast<std::size_t>(i)] = {(in_start + index0) * stride, (in_start + index1) * stride, weight1};
  }
}

// Separable: each source row is interpolated horizontally once into a buffer of weighted
// sums, then pairs of buffers are blended vertically (a loop the compiler vectorizes).
// Every bound and pointer is read into a local first: the uint8_t stores may alias anything,
// so the compiler would otherwise reload them after each store.
template <int C>
void interpolate_row(const std::uint8_t* row, const LinearTap* x_tap, int out_width, std::int32_t* sums) {
  for (int x = 0; x < out_width; ++x, sums += C) {
    const int offset0 = x_tap[x].index0;
    const int offset1 = x_tap[x].index1;
    const int wx1 = x_tap[x].weight1;
    const int wx0 = kWeightOne - wx1;
    for (int c = 0; c < C; ++c) sums[c] = row[offset0 + c] * wx0 + row[offset1 + c] * wx1;
  }
}

template <int C>
void resize_kernel(const Image& in, Image& out, const std::vector<LinearTap>& x_taps,
                   const std::vector<LinearTap>& y_taps) {
  constexpr int kRound = 1 << (2 * kWeightBits - 1);
  const int out_width = out.width;
  const int out_height = out.height;
  const std::size_t row_elements = static_cast<std::size_t>(out_width) * C;
  const std::size_t in_row_bytes = static_cast<std::size_t>(in.width) * C;
  const LinearTap* const x_tap = x_taps.data();
  const LinearTap* const y_tap = y_taps.data();
  const std::uint8_t* const source = in.pixels.data();
  thread_local std::vector<std::int32_t> sums;  // reused: no allocation in steady state
  sums.resize(2 * row_elements);
  std::int32_t* upper = sums.data();
  std::int32_t* lower = upper + row_elements;
  int upper_row = -1;
  int lower_row = -1;
  std::uint8_t* dst = out.pixels.data();
  for (int y = 0; y < out_height; ++y, dst += row_elements) {
    const int row0 = y_tap[y].index0;
    const int row1 = y_tap[y].index1;
    if (upper_row != row0) {
      if (lower_row == row0) {  // moving down: the previous lower row becomes the upper one
        std::swap(upper, lower);
        std::swap(upper_row, lower_row);
      } else {
        interpolate_row<C>(source + row0 * in_row_bytes, x_tap, out_width, upper);
        upper_row = row0;
      }
    }
    if (lower_row != row1) {
      interpolate_row<C>(source + row1 * in_row_bytes, x_tap, out_width, lower);
      lower_row = row1;
    }
    const int wy1 = y_tap[y].weight1;
    const int wy0 = kWeightOne - wy1;
    for (std::size_t i = 0; i < row_elements; ++i) {
      dst[i] = static_cast<std::uint8_t>((upper[i] * wy0 + lower[i] * wy1 + kRound) >> (2 * kWeightBits));
    }
  }
}

int reflect_index(int index, int size) {
  if (index < 0) return -index;
  if (index >= size) return 2 * (size - 1) - index;
  return index;
}

// out(y, x) = in(y + offset_y, x + offset_x); outside `in`, `fill` or the reflection (which
// the callers guarantee stays within one reflection of the image).
void copy_window(const Image& in, Image& out, int offset_x, int offset_y, PaddingMode mode, std::uint8_t fill) {
  const int c = in.channels;
  const int inside_begin = std::clamp(-offset_x, 0, out.width);
  const int inside_end = std::clamp(in.width - offset_x, inside_begin, out.width);
  const std::size_t out_row_bytes = static_cast<std::size_t>(out.width) * c;
  for (int y = 0; y < out.height; ++y) {
    std::uint8_t* dst = out.row(y);
    int source_y = y + offset_y;
    if (source_y < 0 || source_y >= in.height) {
      if (mode == PaddingMode::constant) {
        std::memset(dst, fill, out_row_bytes);
        continue;
      }
      source_y = reflect_index(source_y, in.height);
    }
    const std::uint8_t* src = in.row(source_y);
    std::memcpy(dst + inside_begin * c, src + (inside_begin + offset_x) * c,
                static_cast<std::size_t>(inside_end - inside_begin) * c);
    auto fill_outside = [&](int x_begin, int x_end) {
      if (mode == PaddingMode::constant) {
        std::memset(dst + x_begin * c, fill, static_cast<std::size_t>(x_end - x_begin) * c);
        return;
      }
      for (int x = x_begin; x < x_end; ++x) {
        std::memcpy(dst + x * c, src + reflect_index(x + offset_x, in.width) * c, static_cast<std::size_t>(c));
      }
    };
    fill_outside(0, inside_begin);
    fill_outside(inside_end, out.width);
  }
}

// Mirrors each row from a copy of it: a pure copy loop, where swapping pixel pairs in place
// ran several times slower.
template <int C>
void hflip_kernel(Image& image) {
  const int width = image.width;
  const int height = image.height;
  const std::size_t row_bytes = static_cast<std::size_t>(width) * C;
  thread_local std::vector<std::uint8_t> row_copy;
  row_copy.resize(row_bytes);
  const std::uint8_t* const last_pixel = row_copy.data() + row_bytes - C;
  std::uint8_t* row = image.pixels.data();
  for (int y = 0; y < height; ++y, row += row_bytes) {
    std::memcpy(row_copy.data(), row, row_bytes);
    const std::uint8_t* src = last_pixel;
    for (std::uint8_t* dst = row; dst < row + row_bytes; dst += C, src -= C) {
      for (int c = 0; c < C; ++c) dst[c] = src[c];
    }
  }
}

template <int C>
void normalize_kernel(const Image& image, const std::vector<std::array<float, 256>>& tables, float* out) {
  const std::size_t count = static_cast<std::size_t>(image.width) * image.height;
  const std::uint8_t* src = image.pixels.data();
  for (int c = 0; c < C; ++c) {
    const float* table = tables[static_cast<std::size_t>(c)].data();
    float* plane = out + c * count;
    for (std::size_t i = 0; i < count; ++i) plane[i] = table[src[i * C + c]];
  }
}

}  // namespace

// ---- Rng ----------------------------------------------------------------------------------

Rng Rng::for_item(std::uint64_t run_seed, std::uint64_t epoch, std::uint64_t item_index) {
  // Every step is a bijection of the state, so within a run and epoch distinct items get
  // distinct streams; the mixing decorrelates neighbouring indices.
  return Rng(mix64(mix64(mix64(run_seed + kGoldenGamma) ^ epoch) ^ item_index));
}

Rng::result_type Rng::operator()() {
  state_ += kGoldenGamma;
  return mix64(state_);
}

std::uint64_t Rng::below(std::uint64_t bound) {
  if (bound == 0) throw std::invalid_argument("Rng::below: the bound must be positive");
  // Lemire's multiply-and-reject: unbiased, and a division only on the rare slow path.
  unsigned __int128 product = static_cast<unsigned __int128>((*this)()) * bound;
  auto low = static_cast<std::uint64_t>(product);
  if (low < bound) {
    const std::uint64_t threshold = (0 - bound) % bound;
    while (low < threshold) {
      product = static_cast<unsigned __int128>((*this)()) * bound;
      low = static_cast<std::uint64_t>(product);
    }
  }
  return static_cast<std::uint64_t>(product >> 64);
}

int Rng::uniform_int(int low, int high) {
  if (high < low) throw std::invalid_argument(fmt::format("Rng::uniform_int: empty range [{}, {}]", low, high));
  const auto span = static_cast<std::uint64_t>(static_cast<std::int64_t>(high) - low) + 1;
  return static_cast<int>(low + static_cast<std::int64_t>(below(span)));
}

double Rng::uniform01() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

double Rng::uniform(double low, double high) { return low + (high - low) * uniform01(); }

bool Rng::bernoulli(double p) { return uniform01() < p; }

// ---- shape and geometry -------------------------------------------------------------------

void reshape_image(Image& image, int width, int height, int channels) {
  if (width <= 0 || height <= 0 || (channels != 1 && channels != 3)) {
    throw std::invalid_argument(fmt::format("image shape {}x{}x{} is invalid: sides must be positive, channels 1 or 3",
                                            width, height, channels));
  }
  image.width = width;
  image.height = height;
  image.channels = channels;
  image.pixels.resize(static_cast<std::size_t>(width) * height * channels);
}

void resize_region(const Image& in, const CropBox& box, Image& out, int out_width, int out_height) {
  require_supported_channels(in, "resize");
  if (box.width <= 0 || box.height <= 0 || box.x < 0 || box.y < 0 || box.x + box.width > in.width ||
      box.y + box.height > in.height) {
    throw std::invalid_argument(fmt::format("resize: region {}x{} at ({}, {}) is not inside the {}x{} image", box.width,
                                            box.height, box.x, box.y, in.width, in.height));
  }
  if (&in == &out) throw std::invalid_argument("resize: input and output must be different images");
  reshape_image(out, out_width, out_height, in.channels);
  // Per-thread tables: the hot path reuses them instead of allocating per image.
  thread_local std::vector<LinearTap> x_taps;
  thread_local std::vector<LinearTap> y_taps;
  compute_linear_taps(box.width, box.x, out_width, in.channels, x_taps);
  compute_linear_taps(box.height, box.y, out_height, 1, y_taps);
  if (in.channels == 1) {
    resize_kernel<1>(in, out, x_taps, y_taps);
  } else {
    resize_kernel<3>(in, out, x_taps, y_taps);
  }
}

void resize(const Image& in, Image& out, int out_width, int out_height) {
  resize_region(in, CropBox{0, 0, in.width, in.height}, out, out_width, out_height);
}

std::pair<int, int> shorter_side_size(int width, int height, int size) {
  if (width <= height) return {size, static_cast<int>(static_cast<double>(size) * height / width)};
  return {static_cast<int>(static_cast<double>(size) * width / height), size};
}

void center_crop(const Image& in, Image& out, int out_width, int out_height) {
  require_supported_channels(in, "center_crop");
  if (&in == &out) throw std::invalid_argument("center_crop: input and output must be different images");
  reshape_image(out, out_width, out_height, in.channels);
  auto offset = [](int in_size, int out_size) {
    return out_size > in_size ? -((out_size - in_size) / 2) : round_half_even((in_size - out_size) / 2.0);
  };
  copy_window(in, out, offset(in.width, out_width), offset(in.height, out_height), PaddingMode::constant, 0);
}

CropBox random_resized_crop_box(int width, int height, const RandomResizedCropParams& params, Rng& rng) {
  if (!(params.scale_min > 0 && params.scale_min <= params.scale_max && params.ratio_min > 0 &&
        params.ratio_min <= params.ratio_max)) {
    throw std::invalid_argument(
        fmt::format("random_resized_crop: need 0 < scale_min <= scale_max and 0 < ratio_min <= ratio_max, got scale "
                    "({}, {}) ratio ({}, {})",
                    params.scale_min, params.scale_max, params.ratio_min, params.ratio_max));
  }
  const double area = static_cast<double>(width) * height;
  const double log_ratio_min = std::log(params.ratio_min);
  const double log_ratio_max = std::log(params.ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(params.scale_min, params.scale_max);
    const double aspect = std::exp(rng.uniform(log_ratio_min, log_ratio_max));
    const int w = round_half_even(std::sqrt(target_area * aspect));
    const int h = round_half_even(std::sqrt(target_area / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const int y = rng.uniform_int(0, height - h);
      const int x = rng.uniform_int(0, width - w);
      return {x, y, w, h};
    }
  }
  // Centre crop with the aspect ratio clamped into the allowed range.
  const double in_ratio = static_cast<double>(width) / height;
  int w = width;
  int h = height;
  if (in_ratio < params.ratio_min) {
    h = std::min(height, round_half_even(width / params.ratio_min));
  } else if (in_ratio > params.ratio_max) {
    w = std::min(width, round_half_even(height * params.ratio_max));
  }
  return {(width - w) / 2, (height - h) / 2, w, h};
}

void random_resized_crop(const Image& in, Image& out, int out_width, int out_height,
                         const RandomResizedCropParams& params, Rng& rng) {
  resize_region(in, random_resized_crop_box(in.width, in.height, params, rng), out, out_width, out_height);
}

void pad_random_crop(const Image& in, Image& out, int out_width, int out_height, int padding, PaddingMode mode,
                     std::uint8_t fill, Rng& rng) {
  require_supported_channels(in, "random_crop");
  if (&in == &out) throw std::invalid_argument("random_crop: input and output must be different images");
  const int padded_width = in.width + 2 * padding;
  const int padded_height = in.height + 2 * padding;
  if (padding < 0 || out_width > padded_width || out_height > padded_height) {
    throw std::invalid_argument(fmt::format("random_crop: a {}x{} crop does not fit the {}x{} image padded by {}",
                                            out_width, out_height, in.width, in.height, padding));
  }
  if (mode == PaddingMode::reflect && (padding >= in.width || padding >= in.height)) {
    throw std::invalid_argument(
        fmt::format("random_crop: reflect padding {} needs an image larger than that on both sides, got {}x{}", padding,
                    in.width, in.height));
  }
  reshape_image(out, out_width, out_height, in.channels);
  const int top = rng.uniform_int(0, padded_height - out_height);
  const int left = rng.uniform_int(0, padded_width - out_width);
  copy_window(in, out, left - padding, top - padding, mode, fill);
}

void hflip(Image& image) {
  require_supported_channels(image, "hflip");
  if (image.channels == 1) {
    hflip_kernel<1>(image);
  } else {
    hflip_kernel<3>(image);
  }
}

void cutout(Image& image, int size, std::uint8_t fill, Rng& rng) {
  require_supported_channels(image, "cutout");
  if (size <= 0) throw std::invalid_argument(fmt::format("cutout: size must be positive, got {}", size));
  const int centre_y = rng.uniform_int(0, image.height - 1);
  const int centre_x = rng.uniform_int(0, image.width - 1);
  const int y_begin = std::max(0, centre_y - size / 2);
  const int y_end = std::min(image.height, centre_y - size / 2 + size);
  const int x_begin = std::max(0, centre_x - size / 2);
  const int x_end = std::min(image.width, centre_x - size / 2 + size);
  if (x_begin >= x_end) return;
  for (int y = y_begin; y < y_end; ++y) {
    std::memset(image.row(y) + x_begin * image.channels, fill,
                static_cast<std::size_t>(x_end - x_begin) * image.channels);
  }
}

// ---- Normalizer ---------------------------------------------------------------------------

Normalizer::Normalizer(const std::vector<float>& mean, const std::vector<float>& stddev) {
  if (mean.size() != stddev.size() || (mean.size() != 1 && mean.size() != 3)) {
    throw std::invalid_argument(
        fmt::format("normalize: mean and std need 1 or 3 values each, got {} and {}", mean.size(), stddev.size()));
  }
  tables_.resize(mean.size());
  for (std::size_t c = 0; c < mean.size(); ++c) {
    if (!(stddev[c] > 0) || !std::isfinite(stddev[c]) || !std::isfinite(mean[c])) {
      throw std::invalid_argument(fmt::format(
          "normalize: channel {} needs a finite mean and a positive std, got {} and {}", c, mean[c], stddev[c]));
    }
    for (int v = 0; v < 256; ++v) {
      tables_[c][static_cast<std::size_t>(v)] = (static_cast<float>(v) / 255.0f - mean[c]) / stddev[c];
    }
  }
}

void Normalizer::operator()(const Image& image, float* out) const {
  if (image.channels == channels()) {
    if (image.channels == 1) {
      normalize_kernel<1>(image, tables_, out);
    } else {
      normalize_kernel<3>(image, tables_, out);
    }
  } else if (image.channels == 1 && channels() == 3) {
    const std::size_t count = static_cast<std::size_t>(image.width) * image.height;
    const std::uint8_t* const src = image.pixels.data();
    const float* const table0 = tables_[0].data();
    const float* const table1 = tables_[1].data();
    const float* const table2 = tables_[2].data();
    float* const plane0 = out;
    float* const plane1 = out + count;
    float* const plane2 = out + 2 * count;
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint8_t v = src[i];
      plane0[i] = table0[v];
      plane1[i] = table1[v];
      plane2[i] = table2[v];
    }
  } else {
    throw std::invalid_argument(
        fmt::format("normalize: cannot write a {}-channel image as {} channels", image.channels, channels()));
  }
}

// ---- TransformPipeline --------------------------------------------------------------------

class TransformStep {
 public:
  virtual ~TransformStep() = default;
  // The result is left in `image`; steps that cannot work in place write `scratch` and swap.
  virtual void apply(Image& image, Image& scratch, Rng& rng) const = 0;
};

namespace {

constexpr int kMaxSide = 1 << 15;

bool has(const graph::Params& params, const char* name) { return params.values().count(name) > 0; }

int get_int(const graph::Params& params, const char* name) { return static_cast<int>(params.get_int(name)); }

struct OutputSize {
  int width;
  int height;
};

// `size` (square) or `width` + `height`, as the op's check guarantees.
OutputSize read_output_size(const graph::Params& params) {
  if (has(params, "size")) return {get_int(params, "size"), get_int(params, "size")};
  return {get_int(params, "width"), get_int(params, "height")};
}

std::uint8_t read_fill(const graph::Params& params) { return static_cast<std::uint8_t>(params.get_int("fill")); }

class ResizeStep : public TransformStep {
 public:
  explicit ResizeStep(const graph::Params& params) {
    if (has(params, "size")) {
      shorter_side_ = get_int(params, "size");
    } else {
      size_ = read_output_size(params);
    }
  }
  void apply(Image& image, Image& scratch, Rng&) const override {
    const auto [width, height] = shorter_side_ > 0 ? shorter_side_size(image.width, image.height, shorter_side_)
                                                   : std::pair{size_.width, size_.height};
    resize(image, scratch, width, height);
    std::swap(image, scratch);
  }

 private:
  int shorter_side_ = 0;
  OutputSize size_{0, 0};
};

class CenterCropStep : public TransformStep {
 public:
  explicit CenterCropStep(const graph::Params& params) : size_(read_output_size(params)) {}
  void apply(Image& image, Image& scratch, Rng&) const override {
    center_crop(image, scratch, size_.width, size_.height);
    std::swap(image, scratch);
  }

 private:
  OutputSize size_;
};

class RandomResizedCropStep : public TransformStep {
 public:
  explicit RandomResizedCropStep(const graph::Params& params) : size_(read_output_size(params)) {
    const auto& scale = params.get_numbers("scale");
    const auto& ratio = params.get_numbers("ratio");
    crop_ = {scale[0], scale[1], ratio[0], ratio[1]};
  }
  void apply(Image& image, Image& scratch, Rng& rng) const override {
    random_resized_crop(image, scratch, size_.width, size_.height, crop_, rng);
    std::swap(image, scratch);
  }

 private:
  OutputSize size_;
  RandomResizedCropParams crop_;
};

class RandomCropStep : public TransformStep {
 public:
  explicit RandomCropStep(const graph::Params& params)
      : size_(read_output_size(params)),
        padding_(get_int(params, "padding")),
        mode_(params.get_string("padding_mode") == "reflect" ? PaddingMode::reflect : PaddingMode::constant),
        fill_(read_fill(params)) {}
  void apply(Image& image, Image& scratch, Rng& rng) const override {
    pad_random_crop(image, scratch, size_.width, size_.height, padding_, mode_, fill_, rng);
    std::swap(image, scratch);
  }

 private:
  OutputSize size_;
  int padding_;
  PaddingMode mode_;
  std::uint8_t fill_;
};

class HflipStep : public TransformStep {
 public:
  explicit HflipStep(const graph::Params& params) : probability_(params.get_float("p")) {}
  void apply(Image& image, Image&, Rng& rng) const override {
    if (rng.bernoulli(probability_)) hflip(image);
  }

 private:
  double probability_;
};

class CutoutStep : public TransformStep {
 public:
  explicit CutoutStep(const graph::Params& params) : size_(get_int(params, "size")), fill_(read_fill(params)) {}
  void apply(Image& image, Image&, Rng& rng) const override { cutout(image, size_, fill_, rng); }

 private:
  int size_;
  std::uint8_t fill_;
};

class RandAugmentStep : public TransformStep {
 public:
  explicit RandAugmentStep(const graph::Params& params) {
    params_.num_ops = get_int(params, "n");
    params_.num_bins = get_int(params, "bins");
    params_.magnitude = get_int(params, "m");
    params_.fill = read_fill(params);
  }
  void apply(Image& image, Image& scratch, Rng& rng) const override { rand_augment(image, scratch, params_, rng); }

 private:
  RandAugmentParams params_;
};

struct OpKind {
  OpSchema schema;
  std::shared_ptr<const TransformStep> (*build)(const graph::Params&);
};

template <typename Step>
std::shared_ptr<const TransformStep> build_step(const graph::Params& params) {
  return std::make_shared<Step>(params);
}

// The output-size parameters shared by the resizing and cropping ops.
OpSchema sized_op(std::string name, std::string doc, std::string size_doc) {
  OpSchema op(std::move(name));
  op.doc(std::move(doc))
      .optional_param("size", graph::ParamType::Int, std::move(size_doc))
      .at_least(1)
      .at_most(kMaxSide)
      .optional_param("width", graph::ParamType::Int, "output width, with `height` (instead of `size`)")
      .at_least(1)
      .at_most(kMaxSide)
      .optional_param("height", graph::ParamType::Int, "output height, with `width` (instead of `size`)")
      .at_least(1)
      .at_most(kMaxSide)
      .check("give `size`, or both `width` and `height`", [](const graph::Params& params) -> std::string {
        const bool size = has(params, "size");
        const bool width = has(params, "width");
        const bool height = has(params, "height");
        if (size && (width || height)) return "give either 'size' or 'width' and 'height', not both";
        if (!size && !(width && height)) return "needs 'size' or both 'width' and 'height'";
        return "";
      });
  return op;
}

OpSchema::Check ordered_pair(std::string name) {
  return [name](const graph::Params& params) -> std::string {
    const auto& pair = params.get_numbers(name);
    if (pair.size() != 2)
      return fmt::format("parameter '{}' must be a pair 'low,high', got {} numbers", name, pair.size());
    if (pair[0] > pair[1]) return fmt::format("parameter '{}' must have low <= high, got {}", name, fmt::join(pair, ","));
    return "";
  };
}

const std::vector<OpKind>& op_kinds() {
  static const std::vector<OpKind> kinds = [] {
    const RandomResizedCropParams crop;
    const RandAugmentParams rand;
    const char* const fill_doc = "value of the pixels the op brings in";
    return std::vector<OpKind>{
        {sized_op("resize", "Bilinear resize (torchvision Resize, antialias=False).",
                  "the shorter side; the longer keeps the aspect ratio"),
         build_step<ResizeStep>},
        {sized_op("center_crop", "The middle of the image, padded with zeros where the crop is larger.",
                  "side of the square output"),
         build_step<CenterCropStep>},
        {sized_op("random_resized_crop",
                  "A random area and aspect ratio, resized to the output size (torchvision RandomResizedCrop).",
                  "side of the square output")
             .param("scale", std::vector<double>{crop.scale_min, crop.scale_max}, "range of the crop's fraction of the image's area")
             .at_least(1e-6)
             .at_most(1.0)
             .param("ratio", std::vector<double>{crop.ratio_min, crop.ratio_max}, "range of the crop's width / height")
             .at_least(1e-3)
             .at_most(1e3)
             .check("`scale` and `ratio` are pairs low,high with low <= high",
                    [scale = ordered_pair("scale"), ratio = ordered_pair("ratio")](const graph::Params& params) {
                      std::string why = scale(params);
                      return why.empty() ? ratio(params) : why;
                    }),
         build_step<RandomResizedCropStep>},
        {sized_op("random_crop", "A uniformly placed window of the padded image (torchvision RandomCrop).",
                  "side of the square output")
             .param("padding", 0, "pixels added on every side before cropping")
             .at_least(0)
             .at_most(kMaxSide)
             .param("padding_mode", "constant", "`constant` (with `fill`) or `reflect` (needs padding < the image's sides)")
             .one_of({"constant", "reflect"})
             .param("fill", 0, fill_doc)
             .at_least(0)
             .at_most(255),
         build_step<RandomCropStep>},
        {OpSchema("hflip").doc("Mirrors the image left-right.").param("p", 0.5, "probability of flipping").at_least(0.0).at_most(1.0),
         build_step<HflipStep>},
        {OpSchema("cutout")
             .doc("Sets a square centred on a random pixel, clipped at the borders, to `fill` (DeVries & Taylor 2017).")
             .required_param("size", graph::ParamType::Int, "side of the square")
             .at_least(1)
             .at_most(kMaxSide)
             .param("fill", 0, fill_doc)
             .at_least(0)
             .at_most(255),
         build_step<CutoutStep>},
        {OpSchema("rand_augment")
             .doc("`n` random ops of RandAugment's space at magnitude bin `m` (torchvision RandAugment).")
             .param("n", rand.num_ops, "ops applied per image")
             .at_least(0)
             .at_most(64)
             .param("m", rand.magnitude, "magnitude, as a bin index")
             .at_least(0)
             .param("bins", rand.num_bins, "number of magnitude bins")
             .at_least(2)
             .at_most(1024)
             .param("fill", static_cast<int>(rand.fill), fill_doc)
             .at_least(0)
             .at_most(255)
             .check("`m` < `bins`",
                    [](const graph::Params& params) -> std::string {
                      const auto m = params.get_int("m");
                      const auto bins = params.get_int("bins");
                      if (m < bins) return "";
                      return fmt::format("parameter 'm' must be < bins ({}), got {}", bins, m);
                    }),
         build_step<RandAugmentStep>},
    };
  }();
  return kinds;
}

const OpKind* find_kind(const std::string& op) {
  for (const auto& kind : op_kinds())
    if (kind.schema.name() == op) return &kind;
  return nullptr;
}

// What is wrong with `spec`, the op at `position`; `values` receives its typed parameters.
std::vector<std::string> check_spec(const TransformSpec& spec, std::size_t position, graph::Params& values) {
  const auto ops = TransformPipeline::op_names();
  if (spec.op.empty()) return {fmt::format("augment[{}]: missing op (ops: {})", position, fmt::join(ops, ", "))};
  const OpKind* kind = find_kind(spec.op);
  if (kind == nullptr) {
    return {fmt::format("augment[{}]: unknown op '{}'{}; ops: {}", position, spec.op, graph::did_you_mean(spec.op, ops),
                        fmt::join(ops, ", "))};
  }
  std::vector<std::string> problems;
  values = kind->schema.read(spec.params, problems);
  for (auto& problem : problems) problem = fmt::format("augment[{}] {}: {}", position, spec.op, problem);
  return problems;
}

// The one-line form split into the op and its parameters; words not written key=value are
// returned apart so callers can report them as they need.
std::pair<TransformSpec, std::vector<std::string>> split_op_text(const std::string& text) {
  std::istringstream words(text);
  TransformSpec spec;
  std::vector<std::string> malformed;
  words >> spec.op;
  std::string word;
  while (words >> word) {
    const auto eq = word.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == word.size()) {
      malformed.push_back(word);
    } else {
      spec.params[word.substr(0, eq)] = word.substr(eq + 1);
    }
  }
  return {std::move(spec), std::move(malformed)};
}

std::string yaml_parameter_text(const YAML::Node& value, const std::string& context) {
  if (value.IsScalar()) return value.Scalar();
  if (value.IsSequence()) {
    std::vector<std::string> items;
    for (const auto& item : value) {
      if (!item.IsScalar()) throw std::invalid_argument(context + ": list parameters may hold plain values only");
      items.push_back(item.Scalar());
    }
    return fmt::format("{}", fmt::join(items, ","));
  }
  throw std::invalid_argument(context + ": parameters must be values or lists of values");
}

}  // namespace

OpSchema& OpSchema::doc(std::string one_line) {
  doc_ = std::move(one_line);
  return *this;
}

OpSchema& OpSchema::check(std::string rule, Check rule_check) {
  checks_.emplace_back(std::move(rule), std::move(rule_check));
  return *this;
}

graph::Params OpSchema::read(const std::map<std::string, std::string>& written, std::vector<std::string>& problems) const {
  const std::size_t problems_before = problems.size();
  std::map<std::string, graph::ParamValue> values;
  for (const auto& [key, text] : written) {
    const graph::ParamSpec* spec = find_param(key);
    if (spec == nullptr) {
      const auto names = param_names();
      problems.push_back(fmt::format("no parameter '{}'{}; parameters: {}", key, graph::did_you_mean(key, names),
                                     names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
      continue;
    }
    auto value = graph::parse_param_text(text, spec->type);
    if (!value) {
      const std::string type = graph::param_type_name(spec->type);
      const char* article = std::string_view("aeiou").find(type.front()) == std::string_view::npos ? "a" : "an";
      problems.push_back(fmt::format("parameter '{}' must be {} {}, got '{}'", key, article, type, text));
      continue;
    }
    if (auto why = graph::check_param_value(*spec, *value); !why.empty()) {
      problems.push_back(fmt::format("parameter '{}' {}", key, why));
      continue;
    }
    values.emplace(key, std::move(*value));
  }
  for (const auto& spec : params()) {
    if (written.count(spec.name) > 0) continue;
    if (spec.default_value) {
      values.emplace(spec.name, *spec.default_value);
    } else if (!spec.optional) {
      problems.push_back(fmt::format("missing parameter '{}'", spec.name));
    }
  }
  graph::Params typed(name_, {}, std::move(values));
  if (problems.size() == problems_before) {
    for (const auto& [rule, rule_check] : checks_)
      if (auto why = rule_check(typed); !why.empty()) problems.push_back(std::move(why));
  }
  return typed;
}

std::string OpSchema::markdown() const {
  std::string text = fmt::format("## `{}`\n\n{}\n\n{}", name_, doc_, graph::params_markdown_table(params()));
  if (!checks_.empty()) {
    text += "\nRules:\n";
    for (const auto& [rule, rule_check] : checks_) text += fmt::format("- {}\n", rule);
  }
  return text;
}

std::vector<std::string> TransformPipeline::op_names() {
  std::vector<std::string> names;
  for (const auto& kind : op_kinds()) names.push_back(kind.schema.name());
  return names;
}

const std::vector<OpSchema>& TransformPipeline::op_schemas() {
  static const std::vector<OpSchema> schemas = [] {
    std::vector<OpSchema> all;
    for (const auto& kind : op_kinds()) all.push_back(kind.schema);
    return all;
  }();
  return schemas;
}

std::vector<std::string> TransformPipeline::check_op_texts(const std::vector<std::string>& op_texts) {
  std::vector<std::string> problems;
  for (std::size_t i = 0; i < op_texts.size(); ++i) {
    const auto [spec, malformed] = split_op_text(op_texts[i]);
    for (const auto& word : malformed)
      problems.push_back(fmt::format("augment[{}] {}: write parameters as key=value (got '{}')", i, spec.op, word));
    graph::Params values;
    for (auto& problem : check_spec(spec, i, values)) problems.push_back(std::move(problem));
  }
  return problems;
}

std::string TransformPipeline::ops_markdown() {
  std::string text =
      "# Augment op reference\n\n"
      "Generated from the op schemas in datasets/transforms.cpp by `semiflow ops`; do not edit. Configs list\n"
      "ops under `ops:`, `strong_ops:` and `eval_ops:` one per line (`random_crop size=32 padding=4`) or as\n"
      "maps (`{op: random_crop, size: 32, padding: 4}`); a list of numbers is written `0.08,1` (or `[0.08, 1]`\n"
      "in a map).\n";
  for (const auto& schema : op_schemas()) text += "\n" + schema.markdown();
  return text;
}

TransformPipeline::TransformPipeline(std::vector<TransformSpec> specs) : specs_(std::move(specs)) {
  std::vector<std::string> problems;
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    graph::Params values;
    auto found = check_spec(specs_[i], i, values);
    if (found.empty()) {
      steps_.push_back(find_kind(specs_[i].op)->build(values));
    } else {
      problems.insert(problems.end(), found.begin(), found.end());
    }
  }
  if (!problems.empty()) throw std::invalid_argument(fmt::format("{}", fmt::join(problems, "\n")));
}

TransformPipeline TransformPipeline::from_yaml(const YAML::Node& node) {
  if (!node.IsSequence()) {
    throw std::invalid_argument("augment: expected a list of ops, e.g. [{op: hflip, p: 0.5}]");
  }
  std::vector<TransformSpec> specs;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string context = fmt::format("augment[{}]", i);
    if (!item.IsMap()) throw std::invalid_argument(context + ": expected a map with an 'op' key");
    TransformSpec spec;
    for (const auto& entry : item) {
      const auto key = entry.first.as<std::string>();
      const std::string value = yaml_parameter_text(entry.second, context + " " + key);
      if (key == "op") {
        spec.op = value;
      } else {
        spec.params[key] = value;
      }
    }
    if (spec.op.empty()) {
      throw std::invalid_argument(fmt::format("{}: missing 'op' (valid: {})", context, fmt::join(op_names(), ", ")));
    }
    specs.push_back(std::move(spec));
  }
  return TransformPipeline(std::move(specs));
}

TransformPipeline TransformPipeline::with_overrides(const std::map<std::string, std::string>& overrides) const {
  std::vector<TransformSpec> specs = specs_;
  for (const auto& [key, value] : overrides) {
    const std::size_t dot = key.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == key.size()) {
      throw std::invalid_argument(
          fmt::format("augment override '{}': expected 'op.param', e.g. 'rand_augment.m'", key));
    }
    const std::string op = key.substr(0, dot);
    bool found = false;
    for (TransformSpec& spec : specs) {
      if (spec.op == op) {
        spec.params[key.substr(dot + 1)] = value;
        found = true;
      }
    }
    if (!found) {
      std::vector<std::string> ops;
      for (const auto& spec : specs_) ops.push_back(spec.op);
      throw std::invalid_argument(fmt::format("augment override '{}': the pipeline has no '{}' op (it has: {})", key,
                                              op, ops.empty() ? "none" : fmt::format("{}", fmt::join(ops, ", "))));
    }
  }
  return TransformPipeline(std::move(specs));
}

void TransformPipeline::apply(Image& image, Image& scratch, Rng& rng) const {
  for (const auto& step : steps_) step->apply(image, scratch, rng);
}

TransformSpec TransformSpec::parse(const std::string& text) {
  auto [spec, malformed] = split_op_text(text);
  if (!malformed.empty())
    throw std::invalid_argument(fmt::format("op '{}': write parameters as key=value (got '{}')", text, malformed.front()));
  return std::move(spec);
}

}  // namespace semiflow
