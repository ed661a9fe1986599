#pragma once
// Image decoding (JPEG through TurboJPEG, PNG through libpng) and encoding. The format is taken
// from the file's bytes, not its extension. Every failure is a DecodeError naming the file.
#include "datasets/image.h"

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace semiflow {

class DecodeError : public std::runtime_error {
 public:
  DecodeError(const std::string& path, const std::string& message)
      : std::runtime_error(path + ": " + message), path_(path) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct DecodeOptions {
  int channels = 3;  // 3: RGB, 1: gray (whatever the file stores)
  // When > 0, JPEGs are decoded at the smallest DCT scale (1/2, 1/4, 1/8) that keeps both sides
  // >= min_side: much faster for photos that are resized down afterwards anyway.
  int min_side = 0;
  // Images with more pixels are refused before any pixel is decoded (decompression bombs).
  std::int64_t max_pixels = std::int64_t{1} << 26;
  // Corrupt-data warnings (e.g. a truncated file) are errors unless this is false.
  bool strict = true;
};

Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& name, const DecodeOptions& options = {});

// Picks the window to decode from the image's full width and height (read from its header).
using ChooseWindow = std::function<CropBox(int width, int height)>;
// Decodes only the window `choose` picks, as a fused decode + crop (DALI's
// decoders.image_random_crop): a JPEG's rows below the window are never entropy-decoded and
// columns outside it never inverse-transformed, and the pixels equal those of a full decode
// cropped. With min_side, the DCT scale keeps the window's sides >= min_side and the result is
// the scaled window. Damage to a JPEG below the window goes unnoticed (`semiflow data check`
// decodes whole files). PNGs are decoded whole, then cropped.
Image decode_image_window(const std::uint8_t* data, std::size_t size, const std::string& name, const ChooseWindow& choose,
                          const DecodeOptions& options = {});
Image decode_image_file(const std::string& path, const DecodeOptions& options = {});

std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality = 95, bool progressive = false);
// Pixels are inverted CMYK (Adobe's convention, as TurboJPEG reads them); for tests and tools.
std::vector<std::uint8_t> encode_cmyk_jpeg(const std::uint8_t* cmyk, int width, int height, int quality = 95);
std::vector<std::uint8_t> encode_png(const Image& image);

std::vector<std::uint8_t> read_file_bytes(const std::string& path);
// Reads a whole file into `buffer` (grown as needed, never shrunk); returns the file's size.
std::size_t read_file_into(const std::string& path, std::vector<std::uint8_t>& buffer);
void write_file_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes);

// What a reader does with an image it cannot decode.
enum class BadImagePolicy { fail, skip };
BadImagePolicy parse_bad_image_policy(const std::string& text);  // "fail" | "skip"

}  // namespace semiflow
