#pragma once
// The `device` parameter of nodes that run a model: auto | cpu | cuda | cuda:N.
#include <c10/core/Device.h>

#include <string>

namespace semiflow {

// auto picks CUDA when this build and machine have it, else the CPU; a CUDA device on a machine
// without one is refused with what to write instead. `cuda` (and auto's CUDA) is the local
// rank's GPU in a distributed run (nodes/distributed.h), cuda:0 otherwise.
c10::Device resolve_device(const std::string& name);

}  // namespace semiflow
