#pragma once
// Evaluating a model on a fixed image set: the set is decoded and preprocessed once and kept
// as 8-bit images (10k Fashion-MNIST images at 28x28 gray are under 8 MB), then normalized
// batch by batch on the fly, so per-epoch validation costs only the forward passes.
#include "datasets/hierarchy.h"
#include "datasets/image.h"
#include "datasets/transforms.h"
#include "models/efficientnet_v2.h"
#include "models/precision.h"
#include "nodes/batch.h"
#include "nodes/checkpoint.h"
#include "nodes/distributed.h"
#include "nodes/metrics.h"

#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace semiflow {

class EvalSet {
 public:
  // Reads the manifest (labeled or not) and decodes and transforms every image in parallel.
  // `preprocessing` (from the checkpoint, nodes/checkpoint.h) must use deterministic ops only
  // (resize, center_crop); ops that draw random numbers are refused. Without ops the images
  // are used as decoded. Errors name the manifest or the image file; all images must end up
  // the same size.
  static EvalSet load(const std::string& manifest_path, const Hierarchy& hierarchy,
                      const EvalPreprocessing& preprocessing);

  std::int64_t size() const { return static_cast<std::int64_t>(images_.size()); }
  bool labeled() const { return !labels_.empty(); }
  const Hierarchy& hierarchy() const { return hierarchy_; }
  const std::vector<std::string>& paths() const { return paths_; }
  // Images [begin, end) as a normalized batch with per-level labels (none when unlabeled).
  Batch batch(std::int64_t begin, std::int64_t end) const;
  // The per-level labels of images [begin, end): [n] int64 each, -1 for unknown.
  std::vector<torch::Tensor> labels(std::int64_t begin, std::int64_t end) const;
  // Bytes held by the preprocessed images.
  std::size_t image_bytes() const;

 private:
  EvalSet(Hierarchy hierarchy, const EvalPreprocessing& preprocessing);

  Hierarchy hierarchy_;
  Normalizer normalize_;
  std::vector<Image> images_;
  std::vector<std::string> paths_;
  std::vector<std::vector<int>> labels_;  // per image, per level; empty when unlabeled
};

// Runs `model` over the set in eval mode without gradients, `batch_size` images at a time (the
// forward pass autocast in `precision`), and hands each batch with its logits (per level, fp32,
// on the CPU) to `consume`. The model's training mode is restored afterwards, so training code
// can call this between epochs.
void run_model(EfficientNetV2& model, const EvalSet& set, int batch_size, torch::Device device,
               const std::function<void(const Batch& batch, const std::vector<torch::Tensor>& logits)>& consume,
               Precision precision = Precision::fp32);

// Metrics of `model` on a labeled set (throws for an unlabeled one).
EvaluationResult evaluate_model(EfficientNetV2& model, const EvalSet& set, int batch_size, torch::Device device,
                                Precision precision = Precision::fp32);
// The same over the ranks of `group`: each runs the model on its contiguous part of the set, the
// logits are gathered (summed into zeros), and every rank scores the whole set.
EvaluationResult evaluate_model(EfficientNetV2& model, const EvalSet& set, int batch_size, torch::Device device,
                                nodes::distributed::Communicator& group, Precision precision = Precision::fp32);

}  // namespace semiflow
