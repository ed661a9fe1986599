#pragma once
// How the process keeps the memory of freed tensors. Called first thing in main by every program
// that trains or runs models (the CLI, the benchmarks), so they all measure the same process.

namespace semiflow {

// glibc returns large blocks (batch tensors, convolution workspaces) to the kernel on every free
// and page-faults them back in on the next allocation: 2-3.5x slower convolutions on these
// machines. This keeps blocks up to 32 MiB in the heap (as GLIBC_TUNABLES mmap_threshold and
// trim_threshold would).
void keep_freed_tensor_memory();

}  // namespace semiflow
