#include "models/tensor_memory.h"

#include <malloc.h>

namespace semiflow {

void keep_freed_tensor_memory() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace semiflow
