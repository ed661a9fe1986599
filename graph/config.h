#pragma once
// Pipeline configs: a YAML file naming nodes, their types, parameters and inputs, checked in full
// against the node schemas before anything runs.
//
//   plugins: [build/lib/libmy_node.so]   # optional, relative to this file
//   threads: {graph: 2, torch: 1}        # optional; graph defaults to the core count, torch to 1
//   max_in_flight: 64                    # optional; items (per source) alive in the graph at once
//   nodes:
//     - {name: src, type: source, manifest: data/labeled.csv}
//     - {name: dec, type: decode, input: src}                  # single-input node
//     - {name: mix, type: mix, inputs: {labeled: a, unlabeled: b}}  # by input port name
//
// Other top-level sections (e.g. `rounds:`) are left to whoever reads them, via `yaml`.
#include "graph/params.h"
#include "graph/registry.h"

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace semiflow::graph {

struct NodeDef {
  std::string name;
  const NodeType* type = nullptr;
  Params params;
  std::vector<std::size_t> inputs;  // upstream node index per input port, in the schema's order
  std::vector<std::size_t> consumers;  // downstream node indices
};

struct PipelineConfig {
  std::filesystem::path path;  // the file, or "<string>" for parsed text; named in every error
  YAML::Node yaml;             // the whole document
  std::vector<std::filesystem::path> plugins;  // resolved
  int graph_threads = 1;
  int torch_threads = 1;  // applied by the layer that owns torch (see add_run_setup_hook)
  std::size_t max_in_flight = 64;
  std::vector<NodeDef> nodes;  // topologically sorted: inputs come before their consumers

  const NodeDef& node(const std::string& name) const;
};

// Loads plugins and checks everything: unknown node types, unknown or mistyped parameters,
// missing or unknown inputs, port type mismatches, cycles, duplicate names. Throws ConfigError.
PipelineConfig load_pipeline_config(const std::filesystem::path& path);
// The same from YAML text; `path` names the config in errors and anchors relative paths.
PipelineConfig parse_pipeline_config(const std::string& yaml_text, const std::filesystem::path& path);

// The same from a parsed document (e.g. one phase of a multi-phase config, graph/phases.h).
PipelineConfig build_pipeline_config(const YAML::Node& doc, const std::filesystem::path& path);
// Human-readable summary: settings, then one line per node with its inputs and parameters.
std::string describe_pipeline(const PipelineConfig& config);

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace semiflow::graph
