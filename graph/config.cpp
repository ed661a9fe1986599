#include "graph/config.h"

#include "graph/plugin.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

namespace semiflow::graph {
namespace {

constexpr const char* kNodeKeys[] = {"name", "type", "input", "inputs"};

class Checker {
 public:
  explicit Checker(std::filesystem::path path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const YAML::Node& where, const std::string& what) const {
    const int line = where.Mark().line;
    throw ConfigError(line >= 0 ? fmt::format("{}:{}: {}", path_.string(), line + 1, what)
                                : fmt::format("{}: {}", path_.string(), what));
  }
  [[noreturn]] void fail_node(const YAML::Node& where, const std::string& node, const std::string& what) const {
    fail(where, fmt::format("node '{}': {}", node, what));
  }

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

bool is_number(const YAML::Node& value) {
  double unused;
  return YAML::convert<double>::decode(value, unused);
}

std::optional<ParamValue> convert_param(const YAML::Node& value, ParamType type) {
  try {
    switch (type) {
      case ParamType::Int: {
        std::int64_t v;
        if (value.IsScalar() && YAML::convert<std::int64_t>::decode(value, v)) return v;
        return std::nullopt;
      }
      case ParamType::Float:
        if (value.IsScalar() && is_number(value)) return value.as<double>();
        return std::nullopt;
      case ParamType::Bool: {
        bool v;
        if (value.IsScalar() && YAML::convert<bool>::decode(value, v)) return v;
        return std::nullopt;
      }
      case ParamType::String:
        if (value.IsScalar()) return value.as<std::string>();
        return std::nullopt;
      case ParamType::NumberList: {
        if (!value.IsSequence()) return std::nullopt;
        std::vector<double> list;
        for (const auto& element : value) {
          if (!element.IsScalar() || !is_number(element)) return std::nullopt;
          list.push_back(element.as<double>());
        }
        return list;
      }
      case ParamType::StringList: {
        if (!value.IsSequence()) return std::nullopt;
        std::vector<std::string> list;
        for (const auto& element : value) {
          if (!element.IsScalar()) return std::nullopt;
          list.push_back(element.as<std::string>());
        }
        return list;
      }
    }
  } catch (const YAML::Exception&) {
  }
  return std::nullopt;
}

Params parse_params(const Checker& checker, const YAML::Node& entry, const std::string& name, const NodeSchema& schema) {
  std::map<std::string, ParamValue> values;
  for (const auto& kv : entry) {
    const auto key = kv.first.as<std::string>();
    if (std::find(std::begin(kNodeKeys), std::end(kNodeKeys), key) != std::end(kNodeKeys)) continue;
    const ParamSpec* spec = schema.find_param(key);
    if (!spec) {
      std::vector<std::string> valid;
      for (const auto& p : schema.params()) valid.push_back(p.name);
      checker.fail_node(kv.first, name,
                        fmt::format("type '{}' has no parameter '{}'; valid parameters: {}", schema.type_name(), key,
                                    valid.empty() ? "(none)" : fmt::format("{}", fmt::join(valid, ", "))));
    }
    auto value = convert_param(kv.second, spec->type);
    if (!value) {
      checker.fail_node(kv.second, name,
                        fmt::format("parameter '{}' must be {} ({}), got '{}'", key, param_type_name(spec->type),
                                    spec->doc, YAML::Dump(kv.second)));
    }
    values.emplace(key, std::move(*value));
  }
  for (const auto& spec : schema.params()) {
    if (values.count(spec.name)) continue;
    if (!spec.default_value)
      checker.fail_node(entry, name, fmt::format("required parameter '{}' ({}) is not set", spec.name, spec.doc));
    values.emplace(spec.name, *spec.default_value);
  }
  return Params(name, checker.path().parent_path(), std::move(values));
}

// Upstream node names per input port, from `input: x` or `inputs: {port: x, ...}`.
std::vector<std::pair<std::string, YAML::Node>> parse_inputs(const Checker& checker, const YAML::Node& entry,
                                                             const std::string& name, const NodeSchema& schema) {
  const YAML::Node single = entry["input"];
  const YAML::Node by_port = entry["inputs"];
  const auto& ports = schema.inputs();
  if (single && by_port) checker.fail_node(entry, name, "give either `input:` or `inputs:`, not both");
  if (ports.empty()) {
    if (single || by_port)
      checker.fail_node(entry, name, fmt::format("type '{}' is a source and takes no input", schema.type_name()));
    return {};
  }
  std::vector<std::string> port_names;
  for (const auto& p : ports) port_names.push_back(p.name);
  if (single) {
    if (ports.size() != 1) {
      checker.fail_node(entry, name,
                        fmt::format("type '{}' has several inputs; name them: inputs: {{{}}}", schema.type_name(),
                                    fmt::join(port_names, ": ..., ")));
    }
    if (!single.IsScalar()) checker.fail_node(single, name, "`input:` must be the name of one upstream node");
    return {{single.as<std::string>(), single}};
  }
  if (!by_port) {
    checker.fail_node(entry, name,
                      fmt::format("missing input: type '{}' needs {}", schema.type_name(),
                                  ports.size() == 1 ? "`input: <node>`"
                                                    : fmt::format("inputs: {{{}: ...}}", fmt::join(port_names, ": ..., "))));
  }
  if (!by_port.IsMap()) checker.fail_node(by_port, name, "`inputs:` must map input port names to upstream nodes");
  for (const auto& kv : by_port) {
    const auto port = kv.first.as<std::string>();
    if (std::find(port_names.begin(), port_names.end(), port) == port_names.end())
      checker.fail_node(kv.first, name,
                        fmt::format("type '{}' has no input port '{}'; its ports: {}", schema.type_name(), port,
                                    fmt::join(port_names, ", ")));
  }
  std::vector<std::pair<std::string, YAML::Node>> upstream;
  for (const auto& port : ports) {
    const YAML::Node source = by_port[port.name];
    if (!source) checker.fail_node(by_port, name, fmt::format("missing input: port '{}' is not connected", port.name));
    if (!source.IsScalar()) checker.fail_node(source, name, fmt::format("input '{}' must name one upstream node", port.name));
    upstream.emplace_back(source.as<std::string>(), source);
  }
  return upstream;
}

int parse_positive_int(const Checker& checker, const YAML::Node& value, const std::string& key) {
  std::int64_t v = 0;
  if (!value.IsScalar() || !YAML::convert<std::int64_t>::decode(value, v) || v < 1)
    checker.fail(value, fmt::format("`{}` must be a positive integer", key));
  return static_cast<int>(v);
}

void topological_sort(const Checker& checker, const YAML::Node& nodes_yaml, PipelineConfig& config) {
  const std::size_t n = config.nodes.size();
  std::vector<std::size_t> pending_inputs(n), order;
  for (std::size_t i = 0; i < n; ++i) pending_inputs[i] = config.nodes[i].inputs.size();
  for (std::size_t i = 0; i < n; ++i)
    if (pending_inputs[i] == 0) order.push_back(i);
  for (std::size_t k = 0; k < order.size(); ++k)
    for (std::size_t consumer : config.nodes[order[k]].consumers)
      if (--pending_inputs[consumer] == 0) order.push_back(consumer);
  if (order.size() != n) {
    std::vector<std::string> cyclic;
    for (std::size_t i = 0; i < n; ++i)
      if (pending_inputs[i] > 0) cyclic.push_back(config.nodes[i].name);
    checker.fail(nodes_yaml, fmt::format("the graph has a cycle through nodes: {}", fmt::join(cyclic, ", ")));
  }
  std::vector<std::size_t> new_index(n);
  for (std::size_t k = 0; k < n; ++k) new_index[order[k]] = k;
  std::vector<NodeDef> sorted;
  for (std::size_t old : order) {
    NodeDef def = std::move(config.nodes[old]);
    for (auto& i : def.inputs) i = new_index[i];
    for (auto& c : def.consumers) c = new_index[c];
    sorted.push_back(std::move(def));
  }
  config.nodes = std::move(sorted);
}

}  // namespace

PipelineConfig build_pipeline_config(const YAML::Node& doc, const std::filesystem::path& path) {
  Checker checker(path);
  PipelineConfig config;
  config.path = path;
  config.yaml = doc;
  if (!doc.IsMap()) checker.fail(doc, "a pipeline config must be a map with a `nodes:` list");

  if (const YAML::Node plugins = doc["plugins"]) {
    if (!plugins.IsSequence()) checker.fail(plugins, "`plugins:` must be a list of shared library paths");
    for (const auto& entry : plugins) {
      std::filesystem::path plugin = entry.as<std::string>();
      if (plugin.is_relative()) plugin = path.parent_path() / plugin;
      try {
        load_plugin(plugin);
      } catch (const std::exception& e) {
        checker.fail(entry, e.what());
      }
      config.plugins.push_back(plugin);
    }
  }
  try {
    Registry::instance().throw_if_errors();
  } catch (const std::exception& e) {
    checker.fail(doc, fmt::format("node registration failed: {}", e.what()));
  }

  config.graph_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (const YAML::Node threads = doc["threads"]) {
    if (!threads.IsMap()) checker.fail(threads, "`threads:` must be a map {graph: N, torch: M}");
    for (const auto& kv : threads) {
      const auto key = kv.first.as<std::string>();
      if (key == "graph") config.graph_threads = parse_positive_int(checker, kv.second, "threads.graph");
      else if (key == "torch") config.torch_threads = parse_positive_int(checker, kv.second, "threads.torch");
      else checker.fail(kv.first, fmt::format("unknown key threads.{}; valid keys: graph, torch", key));
    }
  }
  if (const YAML::Node limit = doc["max_in_flight"])
    config.max_in_flight = static_cast<std::size_t>(parse_positive_int(checker, limit, "max_in_flight"));

  const YAML::Node nodes_yaml = doc["nodes"];
  if (!nodes_yaml || !nodes_yaml.IsSequence() || nodes_yaml.size() == 0)
    checker.fail(doc, "`nodes:` must be a non-empty list of {name, type, ...} entries");

  std::map<std::string, std::size_t> index_of;
  std::vector<std::vector<std::pair<std::string, YAML::Node>>> upstream_names;
  for (const auto& entry : nodes_yaml) {
    if (!entry.IsMap()) checker.fail(entry, "each entry of `nodes:` must be a map with at least `name` and `type`");
    if (!entry["name"] || !entry["name"].IsScalar()) checker.fail(entry, "a node has no `name`");
    const auto name = entry["name"].as<std::string>();
    if (!entry["type"] || !entry["type"].IsScalar()) checker.fail_node(entry, name, "no `type`");
    if (!index_of.emplace(name, config.nodes.size()).second)
      checker.fail_node(entry["name"], name, "duplicate node name; every node needs its own name");
    const auto type_name = entry["type"].as<std::string>();
    const NodeType* type = Registry::instance().find(type_name);
    if (!type) {
      checker.fail_node(entry["type"], name,
                        fmt::format("unknown node type '{}'; known types: {}", type_name,
                                    fmt::join(Registry::instance().names(), ", ")));
    }
    NodeDef def;
    def.name = name;
    def.type = type;
    def.params = parse_params(checker, entry, name, type->schema);
    upstream_names.push_back(parse_inputs(checker, entry, name, type->schema));
    config.nodes.push_back(std::move(def));
  }

  std::size_t sources = 0;
  for (std::size_t i = 0; i < config.nodes.size(); ++i) {
    NodeDef& def = config.nodes[i];
    const auto& ports = def.type->schema.inputs();
    sources += ports.empty();
    for (std::size_t p = 0; p < ports.size(); ++p) {
      const auto& [upstream, where] = upstream_names[i][p];
      auto found = index_of.find(upstream);
      if (found == index_of.end())
        checker.fail_node(where, def.name, fmt::format("input '{}' names unknown node '{}'", ports[p].name, upstream));
      NodeDef& producer = config.nodes[found->second];
      const auto& output = producer.type->schema.output();
      if (!output)
        checker.fail_node(where, def.name,
                          fmt::format("input '{}' reads '{}', a sink (type '{}') with no output", ports[p].name,
                                      upstream, producer.type->schema.type_name()));
      if (output->item_type != ports[p].item_type && output->item_type != "any" && ports[p].item_type != "any")
        checker.fail_node(where, def.name,
                          fmt::format("port type mismatch: input '{}' takes '{}' but '{}' ({}) produces '{}'",
                                      ports[p].name, ports[p].item_type, upstream, producer.type->schema.type_name(),
                                      output->item_type));
      def.inputs.push_back(found->second);
      producer.consumers.push_back(i);
    }
  }
  if (sources == 0) checker.fail(nodes_yaml, "the graph has no source node (a node type without inputs)");
  topological_sort(checker, nodes_yaml, config);
  std::vector<std::string> node_fingerprints;
  for (NodeDef& def : config.nodes) {
    std::vector<std::string> upstream;
    for (std::size_t input : def.inputs) upstream.push_back(node_fingerprints[input]);
    def.params.set_input_fingerprint(fmt::format("{}", fmt::join(upstream, ",")));
    node_fingerprints.push_back(
        fingerprint_params(fmt::format("{}({})", def.type->schema.type_name(), def.params.input_fingerprint()), def.params));
  }
  return config;
}

const NodeDef& PipelineConfig::node(const std::string& name) const {
  for (const auto& def : nodes)
    if (def.name == name) return def;
  throw std::out_of_range(fmt::format("{}: no node named '{}'", path.string(), name));
}

PipelineConfig parse_pipeline_config(const std::string& yaml_text, const std::filesystem::path& path) {
  YAML::Node doc;
  try {
    doc = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("{}: invalid YAML: {}", path.string(), e.what()));
  }
  return build_pipeline_config(doc, path);
}

PipelineConfig load_pipeline_config(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) throw ConfigError(fmt::format("{}: cannot open the pipeline config", path.string()));
  std::stringstream text;
  text << file.rdbuf();
  return parse_pipeline_config(text.str(), path);
}

std::string describe_pipeline(const PipelineConfig& config) {
  std::string text = fmt::format("pipeline {}: {} nodes, threads graph={} torch={}, max_in_flight={}\n",
                                 config.path.string(), config.nodes.size(), config.graph_threads,
                                 config.torch_threads, config.max_in_flight);
  for (const auto& plugin : config.plugins) text += fmt::format("  plugin {}\n", plugin.string());
  for (const auto& def : config.nodes) {
    const NodeSchema& schema = def.type->schema;
    std::vector<std::string> inputs, params;
    for (std::size_t p = 0; p < def.inputs.size(); ++p)
      inputs.push_back(fmt::format("{}<-{}", schema.inputs()[p].name, config.nodes[def.inputs[p]].name));
    for (const auto& [key, value] : def.params.values()) params.push_back(fmt::format("{}={}", key, format_param(value)));
    text += fmt::format("  {} ({}, {}{})", def.name, schema.type_name(),
                        schema.concurrency() == Concurrency::Serial ? "serial" : "parallel",
                        schema.is_source() ? ", source" : schema.is_sink() ? ", sink" : "");
    if (!inputs.empty()) text += fmt::format(" inputs: {}", fmt::join(inputs, " "));
    if (schema.output()) text += fmt::format(" -> {}", schema.output()->item_type);
    if (!params.empty()) text += fmt::format(" [{}]", fmt::join(params, " "));
    text += '\n';
  }
  return text;
}

}  // namespace semiflow::graph
