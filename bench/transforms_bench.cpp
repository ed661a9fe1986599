// Microseconds per image for each transform and for the training chains, single thread:
// 28x28 gray (Fashion-MNIST) -> 32x32 and 500x375 RGB photos -> 224x224.
// Usage: semiflow_bench_transforms [CPU seconds per measurement, default 0.2]
#include "datasets/rand_augment.h"
#include "datasets/transforms.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

using namespace semiflow;

namespace {

Image textured_image(int width, int height, int channels) {
  Image image(width, height, channels);
  Rng rng(2024);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) {
        image.at(y, x, c) = static_cast<std::uint8_t>((x * 3 + y * 5 + c * 60 + static_cast<int>(rng.below(40))) % 256);
      }
    }
  }
  return image;
}

// This thread's CPU time: the shared build machines are often busy, and wall time would charge
// other processes' time slices to the op being measured.
double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// Median over 5 runs of `seconds / 5` CPU seconds each, in microseconds per call. `body` gets
// the item index.
double measure_us(double seconds, const std::function<void(std::uint64_t)>& body) {
  std::uint64_t item = 0;
  for (int i = 0; i < 100; ++i) body(item++);  // warm caches and grow reused buffers
  std::vector<double> runs;
  for (int run = 0; run < 5; ++run) {
    const double start = thread_cpu_seconds();
    std::uint64_t calls = 0;
    double elapsed = 0;
    do {
      for (int i = 0; i < 64; ++i) body(item++);
      calls += 64;
      elapsed = thread_cpu_seconds() - start;
    } while (elapsed < seconds / 5);
    runs.push_back(elapsed * 1e6 / static_cast<double>(calls));
  }
  std::sort(runs.begin(), runs.end());
  return runs[2];
}

void report(const std::string& name, double us) {
  fmt::print("{:<48} {:>9.3f} us/image {:>12.0f} images/s\n", name, us, 1e6 / us);
}

void bench_suite(const std::string& title, const Image& source, int crop_size, double seconds) {
  fmt::print("\n== {} ({}x{}x{} -> {}) ==\n", title, source.width, source.height, source.channels, crop_size);
  Image image = source;
  Image scratch;
  unsigned checksum = 0;
  auto reset = [&] { image = source; };  // same-size copy: no allocation

  report("copy (baseline included in the op rows)", measure_us(seconds, [&](std::uint64_t) { reset(); }));

  // RandAugment ops at magnitude 9 of 31 on the source size, as in the chain below.
  for (int i = 0; i < kAugmentOpCount; ++i) {
    const auto op = static_cast<AugmentOp>(i);
    const double magnitude = augment_magnitude(op, 9, 31, source.width, source.height);
    report(fmt::format("rand_augment op {}", augment_op_name(op)), measure_us(seconds, [&](std::uint64_t) {
             reset();
             apply_augment_op(op, magnitude, image, scratch, 0);
             checksum += image.pixels[0];
           }));
  }
  const RandAugmentParams rand_augment_params{2, 9, 31, 0};
  report("rand_augment(2, 9)", measure_us(seconds, [&](std::uint64_t item) {
           reset();
           Rng rng = Rng::for_item(0, 0, item);
           rand_augment(image, scratch, rand_augment_params, rng);
           checksum += image.pixels[0];
         }));

  const RandomResizedCropParams crop_params;
  Image out;
  report(fmt::format("resize to {}", crop_size),
         measure_us(seconds, [&](std::uint64_t) { resize(source, out, crop_size, crop_size); }));
  report(fmt::format("random_resized_crop {}", crop_size), measure_us(seconds, [&](std::uint64_t item) {
           Rng rng = Rng::for_item(0, 0, item);
           random_resized_crop(source, out, crop_size, crop_size, crop_params, rng);
           checksum += out.pixels[0];
         }));
  report("center_crop to the shorter side", measure_us(seconds, [&](std::uint64_t) {
           const int side = std::min(source.width, source.height);
           center_crop(source, out, side, side);
         }));
  report("pad_random_crop (pad 4, reflect)", measure_us(seconds, [&](std::uint64_t item) {
           Rng rng = Rng::for_item(0, 0, item);
           pad_random_crop(source, out, source.width, source.height, 4, PaddingMode::reflect, 0, rng);
         }));
  report("hflip", measure_us(seconds, [&](std::uint64_t) { hflip(image); }));
  report("cutout (size / 4)", measure_us(seconds, [&](std::uint64_t item) {
           Rng rng = Rng::for_item(0, 0, item);
           cutout(image, crop_size / 4, 127, rng);
         }));

  Image cropped;
  resize(source, cropped, crop_size, crop_size);
  const Normalizer normalize3({0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f});
  std::vector<float> batch(static_cast<std::size_t>(128) * 3 * crop_size * crop_size);
  const std::size_t item_floats = static_cast<std::size_t>(3) * crop_size * crop_size;
  report(fmt::format("normalize {0}x{0} to 3 channels", crop_size), measure_us(seconds, [&](std::uint64_t item) {
           normalize3(cropped, batch.data() + (item % 128) * item_floats);
         }));

  // The training chain of the input pipeline, minus decode: each image lands in a batch slot.
  const TransformPipeline chain({{"rand_augment", {{"n", "2"}, {"m", "9"}}},
                                 {"random_resized_crop", {{"size", std::to_string(crop_size)}}},
                                 {"hflip", {{"p", "0.5"}}}});
  report("chain: rand_augment(2,9) > rrc > hflip > normalize", measure_us(seconds, [&](std::uint64_t item) {
           reset();
           Rng rng = Rng::for_item(0, 0, item);
           chain.apply(image, scratch, rng);
           normalize3(image, batch.data() + (item % 128) * item_floats);
         }));
  const TransformPipeline crop_first({{"random_resized_crop", {{"size", std::to_string(crop_size)}}},
                                      {"hflip", {{"p", "0.5"}}},
                                      {"rand_augment", {{"n", "2"}, {"m", "9"}}}});
  report("chain: rrc > hflip > rand_augment(2,9) > normalize", measure_us(seconds, [&](std::uint64_t item) {
           reset();
           Rng rng = Rng::for_item(0, 0, item);
           crop_first.apply(image, scratch, rng);
           normalize3(image, batch.data() + (item % 128) * item_floats);
         }));
  fmt::print("(checksum {})\n", checksum + static_cast<unsigned>(batch[0] != 0));
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 0.2;
  bench_suite("Fashion-MNIST gray", textured_image(28, 28, 1), 32, seconds);
  bench_suite("photo RGB", textured_image(500, 375, 3), 224, seconds);
  return 0;
}
