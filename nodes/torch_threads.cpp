// Applies a pipeline's `threads: {torch: N}` before it runs (graph/ cannot include torch).
#include "graph/runtime.h"

#include <ATen/Parallel.h>

namespace semiflow::nodes {
namespace {

[[maybe_unused]] const bool torch_threads_hook = graph::add_run_setup_hook([](const graph::PipelineConfig& config) {
  if (at::get_num_threads() != config.torch_threads) at::set_num_threads(config.torch_threads);
});

}  // namespace
}  // namespace semiflow::nodes
