#pragma once
// The `device` parameter of nodes that run a model: auto | cpu | cuda | cuda:N.
#include <c10/core/Device.h>

#include <string>

namespace semiflow {

// auto picks CUDA when this build and machine have it, else the CPU; a CUDA device on a machine
// without one is refused with what to write instead. `cuda` (and auto's CUDA) is the local
// rank's GPU in a distributed run (nodes/distributed.h), cuda:0 otherwise.
c10::Device resolve_device(const std::string& name);

// Called by the nodes that run a model on `device`: on CUDA, cuDNN times its convolution
// algorithms once per shape and keeps the fastest (the batch shapes here are fixed, as
// torch.backends.cudnn.benchmark assumes). Nothing on the CPU.
void prepare_device(c10::Device device);

}  // namespace semiflow
