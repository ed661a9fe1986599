#include "nodes/device.h"

#include "nodes/distributed.h"

#include <ATen/Context.h>
#include <fmt/format.h>
#include <torch/cuda.h>

#include <stdexcept>

namespace semiflow {

namespace {

// `cuda` without an index is this process's GPU: in a distributed run the local rank's (as
// torchrun's users set it), else the first.
c10::Device this_ranks_gpu() {
  const auto count = static_cast<int>(torch::cuda::device_count());
  return {c10::kCUDA, static_cast<c10::DeviceIndex>(count > 0 ? nodes::distributed::launch().local_rank % count : 0)};
}

}  // namespace

c10::Device resolve_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? this_ranks_gpu() : c10::Device(c10::kCPU);
  try {
    c10::Device device(name);
    if (device.is_cuda() && !torch::cuda::is_available())
      throw std::invalid_argument(fmt::format("device '{}': this build or machine has no CUDA; use cpu or auto", name));
    return device.is_cuda() && !device.has_index() ? this_ranks_gpu() : device;
  } catch (const c10::Error&) {
    throw std::invalid_argument(fmt::format("device '{}': write auto, cpu, cuda or cuda:N", name));
  }
}

void prepare_device(c10::Device device) {
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
}

}  // namespace semiflow
