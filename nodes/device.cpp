#include "nodes/device.h"

#include <fmt/format.h>
#include <torch/cuda.h>

#include <stdexcept>

namespace semiflow {

c10::Device resolve_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? c10::Device(c10::kCUDA) : c10::Device(c10::kCPU);
  try {
    c10::Device device(name);
    if (device.is_cuda() && !torch::cuda::is_available())
      throw std::invalid_argument(fmt::format("device '{}': this build or machine has no CUDA; use cpu or auto", name));
    return device;
  } catch (const c10::Error&) {
    throw std::invalid_argument(fmt::format("device '{}': write auto, cpu, cuda or cuda:N", name));
  }
}

}  // namespace semiflow
