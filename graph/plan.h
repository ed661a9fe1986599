#pragma once
// Lowering: a validated pipeline (the definition graph) becomes an execution plan (the executor
// graph), as DALI lowers its OpGraph: per node, the oneTBB pieces the runtime builds and how they
// connect. A pure function of the config; the runtime only executes it, `semiflow graph check
// --plan` prints it, and tests assert on it.
//
//   source:     input_node -> limiter(max_in_flight) -> its consumer, or -> router (unlimited)
//               that copies each packet to every consumer when it has none or several
//   transform:  [sequencer per input port] -> [zip (serial) when several ports] -> stage
//   stage:      serial or unlimited function_node; serial nodes and multi-input nodes get their
//               inputs in source order through the sequencers
#include "graph/config.h"

#include <cstddef>
#include <string>
#include <vector>

namespace semiflow::graph {

struct NodePlan {
  std::string name;
  std::string type;
  std::vector<std::size_t> inputs;     // producing node per input port (plan indices)
  std::vector<std::size_t> consumers;  // in the order their routes are made
  bool serial = false;                 // the stage runs one call at a time, in stream order
  bool accumulates = false;            // holds items (and their in-flight tokens) to emit later
  bool ordered = false;                // a sequencer per input port restores source order
  bool zip = false;                    // several ports: a serial zip pairs their items
  int source = -1;                     // sources: index of its limiter; -1 otherwise
  std::size_t limit = 0;               // sources: items alive in the graph at once
  bool router = false;                 // sources with other than one consumer: a copying router
};

struct ExecutionPlan {
  std::vector<NodePlan> nodes;  // topological order, as the config's
  int graph_threads = 1;
  std::size_t max_in_flight = 0;

  // One line per node: "name (type): serial stage, 2 sequencers, zip <- a, b -> c".
  std::string describe() const;
};

// Throws ConfigError when the graph has more sources than the runtime can track.
ExecutionPlan lower(const PipelineConfig& config);

// Limiters are tracked with a fixed-size token array per item.
inline constexpr std::size_t kMaxSources = 8;

}  // namespace semiflow::graph
