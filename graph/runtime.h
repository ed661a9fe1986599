#pragma once
// Running a validated pipeline on a oneTBB flow graph.
//
// Sources feed a limiter (max_in_flight items per source alive at once, released when an item
// leaves the graph or is dropped), parallel nodes run concurrently, serial nodes and multi-input
// nodes get their inputs back in source order (sequence ids + sequencer_node; a parallel node that
// drops an item forwards an empty packet so the order never stalls). After the sources end, every
// node's flush() runs in topological order. The first exception stops the whole graph.
#include "graph/config.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace semiflow::graph {

struct NodeStats {
  std::string name;
  std::string type;
  std::uint64_t items_in = 0;    // inputs consumed (for multi-input nodes: calls)
  std::uint64_t items_out = 0;   // items emitted
  double busy_s = 0;             // summed over threads, inside generate/process/flush
  double waiting_s = 0;          // wall time with nothing queued or running
  std::uint64_t queued = 0;      // packets waiting to be processed at the snapshot
  std::uint64_t work_done = 0;   // Node::progress(): work done of work_total (0: unknown)
  std::uint64_t work_total = 0;
  std::string work_unit;
};

struct GraphSnapshot {
  double elapsed_s = 0;
  std::vector<NodeStats> nodes;  // in topological order

  nlohmann::json to_json() const;
  std::string to_table() const;
};

struct RunOptions {
  // Called from a helper thread every progress_period while the graph runs.
  std::function<void(const GraphSnapshot&)> on_progress;
  std::chrono::milliseconds progress_period{1000};
  // Set (e.g. from a SIGINT handler) to stop: sources stop, the graph is cancelled, no flush.
  const std::atomic<bool>* stop_requested = nullptr;
};

struct RunResult {
  GraphSnapshot stats;
  bool cancelled = false;  // stopped by stop_requested before the end of the stream
  bool skipped = false;    // every sink was up to date (Node::up_to_date): nothing ran
  nlohmann::json reports = nlohmann::json::object();  // node name -> Node::report(), non-null ones
};

// A graph whose sinks are all up to date is not run (RunResult::skipped). Throws NodeFailure when a node throws, GraphStalled when the in-flight limit blocks every source
// (e.g. a batcher holding more than max_in_flight items).
RunResult run_pipeline(const PipelineConfig& config, const RunOptions& options = {});

class NodeFailure : public std::runtime_error {
 public:
  NodeFailure(std::string node, std::string origin, std::string message);
  const std::string& node() const { return node_; }
  const std::string& origin() const { return origin_; }
  const std::string& message() const { return message_; }

 private:
  std::string node_, origin_, message_;
};

class GraphStalled : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Called with each config just before it runs; the layer that owns libtorch registers one to
// apply config.torch_threads (graph/ does not include torch). Returns true, for use in a static
// initialiser.
bool add_run_setup_hook(std::function<void(const PipelineConfig&)> hook);

}  // namespace semiflow::graph
