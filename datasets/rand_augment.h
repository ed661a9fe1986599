#pragma once
// RandAugment (Cubuk et al. 2020) as torchvision's transforms.RandAugment: the same 14 ops,
// magnitude tables (num_magnitude_bins, linspace in float32), random sign for signed ops and
// the same pixel arithmetic for the colour ops (float32 blend, truncation to uint8), so results
// match torchvision's tensor path up to float rounding. Geometric ops sample the nearest pixel
// (torchvision's default) at pixel centres, as PIL does; each op's magnitude 0 is the identity.
#include "datasets/transforms.h"

#include <cstdint>

namespace semiflow {

enum class AugmentOp {
  identity,
  shear_x,
  shear_y,
  translate_x,
  translate_y,
  rotate,
  brightness,
  color,
  contrast,
  sharpness,
  posterize,
  solarize,
  autocontrast,
  equalize,
};
inline constexpr int kAugmentOpCount = 14;
const char* augment_op_name(AugmentOp op);

struct RandAugmentParams {
  int num_ops = 2;
  int magnitude = 9;  // bin index, 0 .. num_bins - 1
  int num_bins = 31;
  std::uint8_t fill = 0;  // for pixels that geometric ops bring in from outside
};
void validate_rand_augment_params(const RandAugmentParams& params);  // throws std::invalid_argument

// torchvision's _augmentation_space value for `op` at bin `magnitude` before the random sign
// (pixels for translations, degrees for rotate, bits for posterize, threshold for solarize).
double augment_magnitude(AugmentOp op, int magnitude, int num_bins, int width, int height);
bool augment_op_is_signed(AugmentOp op);

// torchvision's _apply_op: `image` is transformed in place, `scratch` is working storage.
void apply_augment_op(AugmentOp op, double magnitude, Image& image, Image& scratch, std::uint8_t fill);
// num_ops ops drawn uniformly (with repetition), each at the configured magnitude.
void rand_augment(Image& image, Image& scratch, const RandAugmentParams& params, Rng& rng);

// The ops themselves. Shears map the output pixel (x, y) to the source (x + factor * y, y)
// (resp. (x, y + factor * x)) about the top-left corner; rotate turns counter-clockwise about
// the centre; translations move the content by whole pixels.
void shear_x(const Image& in, Image& out, double factor, std::uint8_t fill);
void shear_y(const Image& in, Image& out, double factor, std::uint8_t fill);
void translate(const Image& in, Image& out, int dx, int dy, std::uint8_t fill);
void rotate(const Image& in, Image& out, double degrees, std::uint8_t fill);
void adjust_brightness(Image& image, double factor);                // blend with black
void adjust_saturation(Image& image, double factor);                // blend with gray; no-op on gray images
void adjust_contrast(Image& image, double factor);                  // blend with the mean gray level
void adjust_sharpness(const Image& in, Image& out, double factor);  // blend with a 3x3 smoothing
void posterize(Image& image, int bits);                             // keeps the top `bits` bits
void solarize(Image& image, double threshold);                      // inverts values >= threshold
void autocontrast(Image& image);                                    // stretches each channel's [min, max] to [0, 255]
void equalize(Image& image);                                        // histogram equalization per channel

}  // namespace semiflow
