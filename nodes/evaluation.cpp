#include "nodes/evaluation.h"

#include "datasets/image_codec.h"
#include "datasets/manifest.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <tbb/parallel_for.h>
#include <torch/torch.h>

#include <numeric>
#include <set>
#include <stdexcept>

namespace semiflow {
namespace {

// Evaluation must see the same pixels every time: ops that draw random numbers are refused.
const std::set<std::string> kDeterministicOps = {"resize", "center_crop"};

// "center_crop size=32" -> {op: center_crop, params: {size: 32}}, as the augment node writes ops.
TransformSpec parse_eval_op(const std::string& text) {
  TransformSpec spec = TransformSpec::parse(text);
  if (kDeterministicOps.count(spec.op) == 0)
    throw std::invalid_argument(fmt::format("eval op '{}': only deterministic ops ({}) can prepare evaluation images",
                                            text, fmt::join(kDeterministicOps, ", ")));
  return spec;
}

std::vector<float> to_floats(const std::vector<double>& values) { return {values.begin(), values.end()}; }

// Puts the model in eval mode for its lifetime and restores the previous mode, even on errors.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(EfficientNetV2& model) : model_(model), was_training_(model->is_training()) { model_->eval(); }
  ~EvalModeGuard() { model_->train(was_training_); }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  EfficientNetV2& model_;
  bool was_training_;
};

}  // namespace

EvalSet::EvalSet(Hierarchy hierarchy, const EvalPreprocessing& preprocessing)
    : hierarchy_(std::move(hierarchy)), normalize_(to_floats(preprocessing.mean), to_floats(preprocessing.std)) {}

EvalSet EvalSet::load(const std::string& manifest_path, const Hierarchy& hierarchy,
                      const EvalPreprocessing& preprocessing) {
  std::vector<TransformSpec> specs;
  for (const auto& op : preprocessing.ops) specs.push_back(parse_eval_op(op));
  const TransformPipeline pipeline(std::move(specs));
  const Manifest manifest = load_manifest(manifest_path, &hierarchy);
  if (manifest.rows.empty())
    throw std::runtime_error(fmt::format("{}: the manifest lists no images to evaluate", manifest_path));

  EvalSet set(hierarchy, preprocessing);
  const std::size_t n = manifest.rows.size();
  set.images_.resize(n);
  for (const auto& row : manifest.rows) set.paths_.push_back(manifest.image_path(row));
  DecodeOptions decode;
  decode.channels = preprocessing.channels;
  tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) {
    thread_local Image scratch;
    Rng unused(0);  // deterministic ops draw nothing
    set.images_[i] = decode_image_file(set.paths_[i], decode);
    pipeline.apply(set.images_[i], scratch, unused);
  });
  const Image& first = set.images_.front();
  for (std::size_t i = 1; i < n; ++i) {
    const Image& image = set.images_[i];
    if (image.width != first.width || image.height != first.height)
      throw std::runtime_error(fmt::format(
          "{}: image is {}x{} after the eval ops but {} is {}x{}; add resize/center_crop ops so all match",
          set.paths_[i], image.width, image.height, set.paths_.front(), first.width, first.height));
  }
  if (manifest.labeled)
    for (const auto& row : manifest.rows) set.labels_.push_back(row.labels);
  return set;
}

Batch EvalSet::batch(std::int64_t begin, std::int64_t end) const {
  if (begin < 0 || end > size() || begin >= end)
    throw std::out_of_range(fmt::format("eval set: batch [{}, {}) is outside its {} images", begin, end, size()));
  const std::int64_t n = end - begin;
  const Image& first = images_[static_cast<std::size_t>(begin)];
  const int channels = normalize_.channels();
  Batch batch;
  batch.images = torch::empty({n, channels, first.height, first.width}, torch::kFloat32);
  float* pixels = batch.images.data_ptr<float>();
  const std::size_t image_floats = static_cast<std::size_t>(channels) * first.height * first.width;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto index = static_cast<std::size_t>(begin + i);
    normalize_(images_[index], pixels + i * image_floats);
    batch.paths.push_back(paths_[index]);
    batch.indices.push_back(begin + i);
  }
  batch.labels = labels(begin, end);
  return batch;
}

std::vector<torch::Tensor> EvalSet::labels(std::int64_t begin, std::int64_t end) const {
  std::vector<torch::Tensor> per_level;
  if (!labeled()) return per_level;
  for (int level = 0; level < hierarchy_.num_levels(); ++level) {
    auto labels = torch::empty({end - begin}, torch::kInt64);
    auto* data = labels.data_ptr<std::int64_t>();
    for (std::int64_t i = begin; i < end; ++i) data[i - begin] = labels_[static_cast<std::size_t>(i)][level];
    per_level.push_back(labels);
  }
  return per_level;
}

std::size_t EvalSet::image_bytes() const {
  std::size_t bytes = 0;
  for (const auto& image : images_) bytes += image.pixels.size();
  return bytes;
}

namespace {

void run_model_on(EfficientNetV2& model, const EvalSet& set, std::int64_t begin, std::int64_t end, int batch_size,
                  torch::Device device,
                  const std::function<void(const Batch& batch, const std::vector<torch::Tensor>& logits)>& consume,
                  Precision precision) {
  if (batch_size < 1) throw std::invalid_argument(fmt::format("evaluation batch size must be at least 1 (got {})", batch_size));
  const auto expected = set.hierarchy().classes_per_level();
  const auto& heads = model->options.classes_per_level();
  if (!std::equal(heads.begin(), heads.end(), expected.begin(), expected.end()))
    throw std::invalid_argument(fmt::format("the model's heads have {} classes per level but hierarchy {} has {}",
                                            fmt::join(heads, "/"), set.hierarchy().source(), fmt::join(expected, "/")));
  torch::NoGradGuard no_grad;
  EvalModeGuard eval_mode(model);
  for (std::int64_t first = begin; first < end; first += batch_size) {
    const Batch batch = set.batch(first, std::min<std::int64_t>(first + batch_size, end));
    std::vector<torch::Tensor> logits = forward_logits(model, batch.images.to(device), precision);
    for (auto& level_logits : logits) level_logits = level_logits.to(torch::kCPU);
    consume(batch, logits);
  }
}

}  // namespace

void run_model(EfficientNetV2& model, const EvalSet& set, int batch_size, torch::Device device,
               const std::function<void(const Batch& batch, const std::vector<torch::Tensor>& logits)>& consume,
               Precision precision) {
  run_model_on(model, set, 0, set.size(), batch_size, device, consume, precision);
}

EvaluationResult evaluate_model(EfficientNetV2& model, const EvalSet& set, int batch_size, torch::Device device,
                                Precision precision) {
  if (!set.labeled())
    throw std::invalid_argument("evaluation needs a labeled manifest (its header names the hierarchy's levels)");
  HierarchicalMetrics metrics(set.hierarchy());
  run_model(model, set, batch_size, device,
            [&](const Batch& batch, const std::vector<torch::Tensor>& logits) { metrics.add(logits, batch.labels); }, precision);
  return metrics.result();
}

EvaluationResult evaluate_model(EfficientNetV2& model, const EvalSet& set, int batch_size, torch::Device device,
                                nodes::distributed::Communicator& group, Precision precision) {
  if (group.size() == 1) return evaluate_model(model, set, batch_size, device, precision);
  if (!set.labeled())
    throw std::invalid_argument("evaluation needs a labeled manifest (its header names the hierarchy's levels)");
  const auto classes = set.hierarchy().classes_per_level();
  const std::int64_t total_classes = std::accumulate(classes.begin(), classes.end(), std::int64_t{0});
  const std::int64_t begin = set.size() * group.rank() / group.size(), end = set.size() * (group.rank() + 1) / group.size();
  auto all_logits = torch::zeros({set.size(), total_classes}, torch::kFloat32);
  if (begin < end)
    run_model_on(model, set, begin, end, batch_size, device, [&](const Batch& batch, const std::vector<torch::Tensor>& logits) {
      const auto first = batch.indices.front();
      all_logits.narrow(0, first, batch.size()).copy_(torch::cat(logits, 1));
    }, precision);
  group.sum(all_logits);
  HierarchicalMetrics metrics(set.hierarchy());
  metrics.add(all_logits.split_with_sizes(std::vector<std::int64_t>(classes.begin(), classes.end()), 1), set.labels(0, set.size()));
  return metrics.result();
}

}  // namespace semiflow
