#pragma once
// The tensors a model step consumes: what the `batch` node emits and `mix`, training and
// evaluation nodes read.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace semiflow {

struct Batch {
  torch::Tensor images;                      // [N, C, H, W] float32, normalized
  std::vector<torch::Tensor> labels;         // per level [N] int64, -1 unknown; empty when unlabeled
  // Per level [N, K] float32 targets (pseudo-labels, mixed labels). A zero row means "no target
  // for this image at this level". Empty when the batch has hard labels only.
  std::vector<torch::Tensor> soft_targets;
  std::vector<std::string> paths;
  std::vector<std::int64_t> indices;         // manifest rows
  std::vector<int> views;                    // per image, Sample::view (kPlainView unless two-view)
  std::int64_t epoch = 0;

  std::int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

}  // namespace semiflow
