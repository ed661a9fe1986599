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
//
// Checking reports every problem at once, each as one line "file:line: node 'x': ... (did you
// mean ...)", or "--set KEY=VALUE: ..." for a value that came from the command line. Parameter
// values are checked against their declared choices and ranges, stream facts are propagated in
// topological order (graph/stream.h) and each node type's static checks run, all before any
// node is constructed.
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

// A part of the document that did not come from the config file itself: a `--set` value
// (graph/overrides.h), or the templates of an included file (graph/phases.h). Errors about it,
// or anything inside it, name the assignment, or that file and its line.
struct YamlSource {
  YAML::Node value;
  std::string origin;  // "--set KEY=VALUE", or the included file's path
  bool has_lines = false;  // parsed from `origin`'s text, so its marks are lines of that file
};

struct PipelineConfig {
  std::filesystem::path path;  // the file, or "<string>" for parsed text; named in every error
  YAML::Node yaml;             // the whole document
  std::vector<std::filesystem::path> plugins;  // resolved
  int graph_threads = 1;
  int torch_threads = 1;  // applied by the layer that owns torch (see add_run_setup_hook)
  std::size_t max_in_flight = 64;
  std::vector<NodeDef> nodes;  // topologically sorted: inputs come before their consumers
  std::vector<StreamFacts> facts;  // per node (same order): what its output stream is known to carry

  const NodeDef& node(const std::string& name) const;
};

// Loads plugins and checks everything: unknown node types, unknown or mistyped parameters,
// missing or unknown inputs, port type mismatches, cycles, duplicate names. Throws ConfigError.
PipelineConfig load_pipeline_config(const std::filesystem::path& path);
// The same from YAML text; `path` names the config in errors and anchors relative paths.
PipelineConfig parse_pipeline_config(const std::string& yaml_text, const std::filesystem::path& path);

// The same from a parsed document (e.g. one phase of a multi-phase config, graph/phases.h).
// Relative paths are read against `base_dir` (default: path's folder). A top-level `out_dir:`
// names the run folder (graph/params.h: Params::set_run_dir).
PipelineConfig build_pipeline_config(const YAML::Node& doc, const std::filesystem::path& path,
                                     const std::vector<YamlSource>& sources = {},
                                     const std::filesystem::path& base_dir = {});
// Human-readable summary: settings, then one line per node with its inputs and parameters.
std::string describe_pipeline(const PipelineConfig& config);

// One or more problems with a config, each a complete one-line message; what() joins them.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& error) : std::runtime_error(error), errors_{error} {}
  explicit ConfigError(std::vector<std::string> errors);
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<std::string> errors_;
};

// Where a YAML node sits: "file:line" (the config's or an included file's), or "--set KEY=VALUE"
// when it came from an override.
std::string yaml_location(const std::filesystem::path& path, const YAML::Node& where,
                          const std::vector<YamlSource>& sources);

}  // namespace semiflow::graph
