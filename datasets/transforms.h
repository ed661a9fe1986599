#pragma once
// Image transforms for training-time augmentation and evaluation preprocessing, on 8-bit HWC
// images. They follow torchvision's semantics (noted per function) and are written for the
// input pipeline's hot path: outputs are passed in and their storage reused, so a steady-state
// run allocates nothing; every random choice comes from a caller-owned Rng seeded per item, so
// a run is reproducible whatever the thread scheduling.
//
// The augment node builds a TransformPipeline from op specs (YAML `augment:` lists); the batch
// node turns the result into floats with a Normalizer, straight into the batch tensor's memory.
#include "datasets/image.h"
#include "graph/param_spec.h"
#include "graph/params.h"

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace YAML {
class Node;
}

namespace semiflow {

// splitmix64 (Steele, Lea, Flood 2014): a fast 64-bit generator that passes BigCrush. Bounded
// draws are implemented here rather than with std::*_distribution, whose algorithms differ
// between standard libraries, so the same seed gives the same images on every platform.
class Rng {
 public:
  using result_type = std::uint64_t;

  explicit Rng(std::uint64_t seed) : state_(seed) {}
  // Independent stream for one item of one epoch of a run: the item's augmentation depends on
  // these three numbers only, not on which thread processes it or in which order.
  static Rng for_item(std::uint64_t run_seed, std::uint64_t epoch, std::uint64_t item_index);

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }
  result_type operator()();

  std::uint64_t below(std::uint64_t bound);  // uniform in [0, bound), bound > 0, unbiased
  int uniform_int(int low, int high);        // uniform in [low, high], inclusive
  double uniform01();                        // uniform in [0, 1), 53 random bits
  double uniform(double low, double high);   // uniform in [low, high)
  bool bernoulli(double p);                  // true with probability p

 private:
  std::uint64_t state_;
};

// Fisher-Yates with Rng, so an order depends on the seed only (std::shuffle's is unspecified).
template <class T>
void shuffle_in_place(std::vector<T>& items, Rng& rng) {
  for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng.below(i)]);
}

// 0 .. count-1 in a seeded random order.
inline std::vector<std::size_t> shuffled_indices(std::size_t count, Rng& rng) {
  std::vector<std::size_t> order(count);
  for (std::size_t i = 0; i < count; ++i) order[i] = i;
  shuffle_in_place(order, rng);
  return order;
}

// Sets the image's shape, reusing its pixel storage: no allocation once it has grown to size.
void reshape_image(Image& image, int width, int height, int channels);

// Bilinear resize without antialiasing, as torchvision's tensor resize with antialias=False
// (align_corners=False, source coordinates clamped at 0, result rounded). Weights are 11-bit
// fixed point, so a value can differ by 1 from torchvision's float result; a constant image
// stays exactly constant. Downscaling by more than 2x aliases: resize photos in steps or decode
// them at a reduced DCT scale first.
void resize(const Image& in, Image& out, int out_width, int out_height);
// Same, reading only `box` of `in` (crop then resize in one pass).
void resize_region(const Image& in, const CropBox& box, Image& out, int out_width, int out_height);
// Output size for torchvision's Resize(int): the shorter side becomes `size`, the longer side
// keeps the aspect ratio (truncated).
std::pair<int, int> shorter_side_size(int width, int height, int size);

// torchvision CenterCrop: the crop's offset is round((in - out) / 2) (half to even); a crop
// larger than the image is padded with zeros around it.
void center_crop(const Image& in, Image& out, int out_width, int out_height);

struct RandomResizedCropParams {
  double scale_min = 0.08;  // fraction of the image's area
  double scale_max = 1.0;
  double ratio_min = 3.0 / 4.0;  // width / height
  double ratio_max = 4.0 / 3.0;
};
// torchvision RandomResizedCrop.get_params: 10 attempts at a random area and log-uniform aspect
// ratio, then a centre crop clamped to the ratio range. The box always lies inside the image.
CropBox random_resized_crop_box(int width, int height, const RandomResizedCropParams& params, Rng& rng);
void random_resized_crop(const Image& in, Image& out, int out_width, int out_height,
                         const RandomResizedCropParams& params, Rng& rng);

enum class PaddingMode { constant, reflect };
// torchvision RandomCrop(size, padding): pads every side by `padding` (with `fill`, or by
// reflection without repeating the edge, which needs padding < the image's sides), then crops
// a uniformly placed out_width x out_height window. Done in one pass, no padded copy.
void pad_random_crop(const Image& in, Image& out, int out_width, int out_height, int padding, PaddingMode mode,
                     std::uint8_t fill, Rng& rng);

void hflip(Image& image);  // mirrors left-right, in place

// Cutout (DeVries & Taylor 2017): a size x size square centred on a uniformly drawn pixel,
// clipped at the borders (so it may cover less), set to `fill`.
void cutout(Image& image, int size, std::uint8_t fill, Rng& rng);

// Image -> float CHW, (v / 255 - mean[c]) / std[c] per channel as torchvision's ToTensor +
// Normalize (float32), through a 256-entry table per channel. With three channels configured,
// a gray image is replicated to all three; an RGB image cannot be written as one channel.
class Normalizer {
 public:
  Normalizer(const std::vector<float>& mean, const std::vector<float>& stddev);
  int channels() const { return static_cast<int>(tables_.size()); }
  // Writes channels() * height * width floats to `out`, channel planes one after the other.
  void operator()(const Image& image, float* out) const;

 private:
  std::vector<std::array<float, 256>> tables_;
};

// One op of a pipeline as written in a config: `{op: cutout, size: 8}`. Parameters stay text
// (as YAML scalars are); a pair is written "low,high". Parsing and validation happen when the
// pipeline is built.
struct TransformSpec {
  std::string op;
  std::map<std::string, std::string> params;

  // The one-line form configs use: "rand_augment n=2 m=9" -> {op: rand_augment, params: {n: 2, m: 9}}.
  static TransformSpec parse(const std::string& text);
};

// An augment op's declaration: its parameters (declared as node schemas declare theirs, so the
// checker, "did you mean" and reference generator are shared), a one-line doc and the rules that
// tie parameters together.
class OpSchema : public graph::ParamDeclarations<OpSchema> {
 public:
  // A rule across parameters, given the op's typed values (defaults filled in; optional
  // parameters only when written): what is wrong, or "".
  using Check = std::function<std::string(const graph::Params&)>;

  explicit OpSchema(std::string name) : name_(std::move(name)) {}

  OpSchema& doc(std::string one_line);
  // `rule` states the check in the reference, e.g. "`m` < `bins`".
  OpSchema& check(std::string rule, Check rule_check);

  const std::string& name() const { return name_; }
  const std::string& doc() const { return doc_; }
  using graph::ParamDeclarations<OpSchema>::declaration_problems;

  // The parameters as written (text), typed and with defaults filled in. Each problem
  // ("parameter 'p' must be in [0, 1], got 1.5") is appended to `problems`; the cross-parameter
  // checks run only when every parameter is fine on its own.
  graph::Params read(const std::map<std::string, std::string>& written, std::vector<std::string>& problems) const;
  // "## `name`", the doc, the parameter table and the rules.
  std::string markdown() const;

 private:
  std::string name_;
  std::string doc_;
  std::vector<std::pair<std::string, Check>> checks_;
};

class TransformStep;

// An ordered list of ops, validated when built: errors name the op, its position and the bad
// parameter; an unknown op lists the known ones. Immutable and safe to share between threads;
// building one is cheap, so progressive learning rebuilds it per stage (with_overrides).
// The ops, their parameters and defaults: op_schemas(), rendered in docs/ops.md.
class TransformPipeline {
 public:
  explicit TransformPipeline(std::vector<TransformSpec> specs);
  // A YAML sequence of maps, each with an `op` key; sequences become "a,b" parameters.
  static TransformPipeline from_yaml(const YAML::Node& node);

  // A copy with parameters replaced, keys "op.param" (e.g. {"rand_augment.m", "15"},
  // {"random_resized_crop.size", "128"}); each applies to every op of that name.
  TransformPipeline with_overrides(const std::map<std::string, std::string>& overrides) const;

  // Leaves the result in `image`, whose storage may be exchanged with `scratch`'s; `scratch`
  // is working storage the caller keeps per thread, so steady-state calls do not allocate.
  void apply(Image& image, Image& scratch, Rng& rng) const;

  const std::vector<TransformSpec>& specs() const { return specs_; }
  static std::vector<std::string> op_names();
  static const std::vector<OpSchema>& op_schemas();
  // Every problem with ops written in one line each ("random_crop size=32 padding=4"), one
  // message per problem naming the op as "augment[i]" (0-based, as the constructor's errors).
  static std::vector<std::string> check_op_texts(const std::vector<std::string>& op_texts);
  // The "Augment op reference" page (docs/ops.md).
  static std::string ops_markdown();

 private:
  std::vector<TransformSpec> specs_;
  std::vector<std::shared_ptr<const TransformStep>> steps_;
};

}  // namespace semiflow
