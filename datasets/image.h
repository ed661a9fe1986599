#pragma once
// An 8-bit image in interleaved (HWC) layout, the currency of decode and augment.
#include <cstdint>
#include <vector>

namespace semiflow {

struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 (gray) or 3 (RGB)
  std::vector<std::uint8_t> pixels;  // height * width * channels bytes, row-major

  Image() = default;
  Image(int w, int h, int c) : width(w), height(h), channels(c), pixels(static_cast<std::size_t>(w) * h * c) {}

  bool empty() const { return pixels.empty(); }
  std::uint8_t* row(int y) { return pixels.data() + static_cast<std::size_t>(y) * width * channels; }
  const std::uint8_t* row(int y) const { return pixels.data() + static_cast<std::size_t>(y) * width * channels; }
  std::uint8_t& at(int y, int x, int c) { return row(y)[x * channels + c]; }
  std::uint8_t at(int y, int x, int c) const { return row(y)[x * channels + c]; }
};

// A window of an image, in pixels.
struct CropBox {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

}  // namespace semiflow
