#include "nodes/device_feed.h"

#include <torch/cuda.h>

#ifdef SEMIFLOW_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <vector>

namespace semiflow {

struct DeviceFeed::CopyStream {
#ifdef SEMIFLOW_WITH_CUDA
  explicit CopyStream(c10::Device device) : stream(c10::cuda::getStreamFromPool(false, device.index())) {}
  c10::cuda::CUDAStream stream;
#endif
};

DeviceFeed::DeviceFeed(c10::Device device) : device_(device) {
#ifdef SEMIFLOW_WITH_CUDA
  if (device_.is_cuda()) copy_stream_ = std::make_unique<CopyStream>(device_);
#endif
}

DeviceFeed::~DeviceFeed() = default;

const Batch& DeviceFeed::to_device(const Batch& batch) {
  if (device_.is_cpu()) return batch;
  on_device_ = batch;
  Batch& moved = on_device_;
  std::vector<torch::Tensor*> tensors{&moved.images};
  for (auto& labels : moved.labels) tensors.push_back(&labels);
  for (auto& targets : moved.soft_targets) tensors.push_back(&targets);
#ifdef SEMIFLOW_WITH_CUDA
  if (copy_stream_) {
    const c10::cuda::CUDAStream compute = c10::cuda::getCurrentCUDAStream(device_.index());
    {
      const c10::cuda::CUDAStreamGuard on_copy_stream(copy_stream_->stream);
      for (auto* tensor : tensors) *tensor = tensor->to(device_, tensor->scalar_type(), /*non_blocking=*/true);
    }
    at::cuda::CUDAEvent copied;
    copied.record(copy_stream_->stream);
    copied.block(compute);
    for (auto* tensor : tensors) tensor->record_stream(compute);
    return moved;
  }
#endif
  for (auto* tensor : tensors) *tensor = tensor->to(device_);
  return moved;
}

bool pinned_memory_available() { return torch::cuda::is_available(); }

}  // namespace semiflow
