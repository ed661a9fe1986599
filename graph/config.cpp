#include "graph/config.h"

#include "graph/plugin.h"
#include "graph/suggest.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace semiflow::graph {
namespace {

constexpr const char* kNodeKeys[] = {"name", "type", "input", "inputs"};

bool contains(const YAML::Node& tree, const YAML::Node& node) {
  if (tree.is(node)) return true;
  if (tree.IsSequence())
    for (const auto& element : tree)
      if (contains(element, node)) return true;
  if (tree.IsMap())
    for (const auto& kv : tree)
      if (contains(kv.first, node) || contains(kv.second, node)) return true;
  return false;
}

// Collects problems; `fail` is for the ones after which nothing more can be checked.
class Checker {
 public:
  Checker(std::filesystem::path path, const std::vector<YamlSource>& sources)
      : path_(std::move(path)), sources_(sources) {}

  void error(const YAML::Node& where, const std::string& what) {
    errors_.push_back(fmt::format("{}: {}", yaml_location(path_, where, sources_), what));
  }
  void error_node(const YAML::Node& where, const std::string& node, const std::string& what) {
    error(where, fmt::format("node '{}': {}", node, what));
  }
  [[noreturn]] void fail(const YAML::Node& where, const std::string& what) {
    error(where, what);
    throw_if_errors();
    throw std::logic_error("unreachable");
  }
  void throw_if_errors() const {
    if (!errors_.empty()) throw ConfigError(errors_);
  }
  std::size_t error_count() const { return errors_.size(); }

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  const std::vector<YamlSource>& sources_;
  std::vector<std::string> errors_;
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

// A node's parameters as written: converted to the declared types and checked against their
// allowed values. Stream-derived parameters the config does not write are left for later.
struct WrittenParams {
  std::map<std::string, ParamValue> values;
  std::map<std::string, YAML::Node> where;  // the YAML value of each written parameter
  bool ok = true;
};

WrittenParams parse_params(Checker& checker, const YAML::Node& entry, const std::string& name, const NodeSchema& schema) {
  WrittenParams written;
  const std::size_t errors_before = checker.error_count();
  for (const auto& kv : entry) {
    const auto key = kv.first.as<std::string>();
    if (std::find(std::begin(kNodeKeys), std::end(kNodeKeys), key) != std::end(kNodeKeys)) continue;
    const ParamSpec* spec = schema.find_param(key);
    if (!spec) {
      const auto valid = schema.param_names();
      checker.error_node(kv.first, name,
                         fmt::format("type '{}' has no parameter '{}'{}; valid parameters: {}", schema.type_name(), key,
                                     did_you_mean(key, valid), valid.empty() ? "(none)" : fmt::format("{}", fmt::join(valid, ", "))));
      continue;
    }
    auto value = convert_param(kv.second, spec->type);
    if (!value) {
      checker.error_node(kv.second, name,
                         fmt::format("parameter '{}' must be {} ({}), got '{}'", key, param_type_name(spec->type), spec->doc,
                                     YAML::Dump(kv.second)));
      continue;
    }
    if (auto why = check_param_value(*spec, *value); !why.empty()) {
      checker.error_node(kv.second, name, fmt::format("parameter '{}' {}", key, why));
      continue;
    }
    written.values.emplace(key, std::move(*value));
    written.where.emplace(key, kv.second);
  }
  written.ok = checker.error_count() == errors_before;
  return written;
}

// `value` as a parameter of `type` would hold it (an int fact read by a float parameter).
std::optional<ParamValue> as_type(const ParamValue& value, ParamType type) {
  if (param_type_of(value) == type) return value;
  if (type == ParamType::Float)
    if (const auto* v = std::get_if<std::int64_t>(&value)) return static_cast<double>(*v);
  if (type == ParamType::Int)
    if (const auto* v = std::get_if<double>(&value); v && *v == std::floor(*v)) return static_cast<std::int64_t>(*v);
  return std::nullopt;
}

const StreamFact* find_fact(const std::vector<StreamFacts>& inputs, const std::string& fact) {
  for (const auto& facts : inputs)
    if (auto found = facts.find(fact); found != facts.end()) return &found->second;
  return nullptr;
}

// Fills defaults and stream-derived values; a written value must agree with the stream's fact.
Params complete_params(Checker& checker, const YAML::Node& entry, const std::string& name, const NodeSchema& schema,
                       WrittenParams written, const std::vector<StreamFacts>& inputs, const std::filesystem::path& dir) {
  for (const auto& spec : schema.params()) {
    const StreamFact* fact = spec.stream_fact.empty() ? nullptr : find_fact(inputs, spec.stream_fact);
    const auto found = written.values.find(spec.name);
    if (found != written.values.end()) {
      if (fact) {
        const auto derived = as_type(fact->value, spec.type);
        if (!derived || format_param(*derived) != format_param(found->second))
          checker.error_node(written.where.at(spec.name), name,
                             fmt::format("parameter '{}' is {} but the input stream has {} {} (set by {}); remove it here, "
                                         "it is taken from the stream",
                                         spec.name, format_param(found->second), spec.stream_fact,
                                         format_param(fact->value), fact->stated_by));
      }
      continue;
    }
    if (fact) {
      auto derived = as_type(fact->value, spec.type);
      if (!derived) {
        checker.error_node(entry, name,
                           fmt::format("parameter '{}' ({}) cannot take the input stream's {} {} (set by {})", spec.name,
                                       param_type_name(spec.type), spec.stream_fact, format_param(fact->value),
                                       fact->stated_by));
        continue;
      }
      if (auto why = check_param_value(spec, *derived); !why.empty())
        checker.error_node(entry, name, fmt::format("parameter '{}', taken from {}, {}", spec.name, fact->stated_by, why));
      written.values.emplace(spec.name, std::move(*derived));
      continue;
    }
    if (spec.optional) continue;
    if (!spec.default_value) {
      checker.error_node(entry, name, fmt::format("required parameter '{}' ({}) is not set", spec.name, spec.doc));
      continue;
    }
    written.values.emplace(spec.name, *spec.default_value);
  }
  Params params(name, dir, std::move(written.values));
  std::set<std::string> safe;
  for (const auto& spec : schema.params())
    if (spec.safe_to_change) safe.insert(spec.name);
  params.set_safe_to_change(std::move(safe));
  return params;
}

// Upstream node names per input port, from `input: x` or `inputs: {port: x, ...}`; nullopt after
// reporting what is wrong.
std::optional<std::vector<std::pair<std::string, YAML::Node>>> parse_inputs(Checker& checker, const YAML::Node& entry,
                                                                            const std::string& name,
                                                                            const NodeSchema& schema) {
  const YAML::Node single = entry["input"];
  const YAML::Node by_port = entry["inputs"];
  const auto& ports = schema.inputs();
  if (single && by_port) {
    checker.error_node(entry, name, "give either `input:` or `inputs:`, not both");
    return std::nullopt;
  }
  if (ports.empty()) {
    if (single || by_port) {
      checker.error_node(entry, name, fmt::format("type '{}' is a source and takes no input", schema.type_name()));
      return std::nullopt;
    }
    return std::vector<std::pair<std::string, YAML::Node>>{};
  }
  std::vector<std::string> port_names;
  for (const auto& p : ports) port_names.push_back(p.name);
  if (single) {
    if (ports.size() != 1) {
      checker.error_node(entry, name,
                         fmt::format("type '{}' has several inputs; name them: inputs: {{{}}}", schema.type_name(),
                                     fmt::join(port_names, ": ..., ")));
      return std::nullopt;
    }
    if (!single.IsScalar()) {
      checker.error_node(single, name, "`input:` must be the name of one upstream node");
      return std::nullopt;
    }
    return std::vector<std::pair<std::string, YAML::Node>>{{single.as<std::string>(), single}};
  }
  if (!by_port) {
    checker.error_node(entry, name,
                       fmt::format("missing input: type '{}' needs {}", schema.type_name(),
                                   ports.size() == 1 ? "`input: <node>`"
                                                     : fmt::format("inputs: {{{}: ...}}", fmt::join(port_names, ": ..., "))));
    return std::nullopt;
  }
  if (!by_port.IsMap()) {
    checker.error_node(by_port, name, "`inputs:` must map input port names to upstream nodes");
    return std::nullopt;
  }
  bool ok = true;
  for (const auto& kv : by_port) {
    const auto port = kv.first.as<std::string>();
    if (std::find(port_names.begin(), port_names.end(), port) == port_names.end()) {
      checker.error_node(kv.first, name,
                         fmt::format("type '{}' has no input port '{}'{}; its ports: {}", schema.type_name(), port,
                                     did_you_mean(port, port_names), fmt::join(port_names, ", ")));
      ok = false;
    }
  }
  std::vector<std::pair<std::string, YAML::Node>> upstream;
  for (const auto& port : ports) {
    const YAML::Node source = by_port[port.name];
    if (!source) {
      checker.error_node(by_port, name, fmt::format("missing input: port '{}' is not connected", port.name));
      ok = false;
    } else if (!source.IsScalar()) {
      checker.error_node(source, name, fmt::format("input '{}' must name one upstream node", port.name));
      ok = false;
    } else {
      upstream.emplace_back(source.as<std::string>(), source);
    }
  }
  if (!ok) return std::nullopt;
  return upstream;
}

int parse_positive_int(Checker& checker, const YAML::Node& value, const std::string& key) {
  std::int64_t v = 0;
  if (!value.IsScalar() || !YAML::convert<std::int64_t>::decode(value, v) || v < 1) {
    checker.error(value, fmt::format("`{}` must be a positive integer", key));
    return 1;
  }
  return static_cast<int>(v);
}

// Kahn's order of the nodes; `inputs` and `consumers` are node indices. Reports a cycle.
std::optional<std::vector<std::size_t>> topological_order(Checker& checker, const YAML::Node& nodes_yaml,
                                                          const std::vector<std::string>& names,
                                                          const std::vector<std::vector<std::size_t>>& inputs,
                                                          const std::vector<std::vector<std::size_t>>& consumers) {
  const std::size_t n = names.size();
  std::vector<std::size_t> pending_inputs(n), order;
  for (std::size_t i = 0; i < n; ++i) pending_inputs[i] = inputs[i].size();
  for (std::size_t i = 0; i < n; ++i)
    if (pending_inputs[i] == 0) order.push_back(i);
  for (std::size_t k = 0; k < order.size(); ++k)
    for (std::size_t consumer : consumers[order[k]])
      if (--pending_inputs[consumer] == 0) order.push_back(consumer);
  if (order.size() == n) return order;
  std::vector<std::string> cyclic;
  for (std::size_t i = 0; i < n; ++i)
    if (pending_inputs[i] > 0) cyclic.push_back(names[i]);
  checker.error(nodes_yaml, fmt::format("the graph has a cycle through nodes: {}", fmt::join(cyclic, ", ")));
  return std::nullopt;
}

// A node as written, before the graph is sorted and its parameters completed.
struct WrittenNode {
  std::string name;
  YAML::Node entry;
  const NodeType* type = nullptr;
  WrittenParams params;
  std::vector<std::size_t> inputs;
  std::vector<std::size_t> consumers;
  bool ok = true;
};

}  // namespace

ConfigError::ConfigError(std::vector<std::string> errors)
    : std::runtime_error(fmt::format("{}", fmt::join(errors, "\n"))), errors_(std::move(errors)) {}

std::string yaml_location(const std::filesystem::path& path, const YAML::Node& where,
                          const std::vector<YamlSource>& sources) {
  const int line = where.Mark().line;
  for (const auto& source : sources)
    if (contains(source.value, where))
      return source.has_lines && line >= 0 ? fmt::format("{}:{}", source.origin, line + 1) : source.origin;
  return line >= 0 ? fmt::format("{}:{}", path.string(), line + 1) : path.string();
}

PipelineConfig build_pipeline_config(const YAML::Node& doc, const std::filesystem::path& path,
                                     const std::vector<YamlSource>& sources, const std::filesystem::path& base_dir) {
  const std::filesystem::path dir = base_dir.empty() ? path.parent_path() : base_dir;
  Checker checker(path, sources);
  PipelineConfig config;
  config.path = path;
  config.yaml = doc;
  if (!doc.IsMap()) checker.fail(doc, "a pipeline config must be a map with a `nodes:` list");

  if (const YAML::Node plugins = doc["plugins"]) {
    if (!plugins.IsSequence()) checker.fail(plugins, "`plugins:` must be a list of shared library paths");
    for (const auto& entry : plugins) {
      std::filesystem::path plugin = entry.as<std::string>();
      if (plugin.is_relative()) plugin = dir / plugin;
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
    if (!threads.IsMap()) {
      checker.error(threads, "`threads:` must be a map {graph: N, torch: M}");
    } else {
      for (const auto& kv : threads) {
        const auto key = kv.first.as<std::string>();
        if (key == "graph") config.graph_threads = parse_positive_int(checker, kv.second, "threads.graph");
        else if (key == "torch") config.torch_threads = parse_positive_int(checker, kv.second, "threads.torch");
        else checker.error(kv.first, fmt::format("unknown key threads.{}{}; valid keys: graph, torch", key,
                                                 did_you_mean(key, {"graph", "torch"})));
      }
    }
  }
  if (const YAML::Node limit = doc["max_in_flight"])
    config.max_in_flight = static_cast<std::size_t>(parse_positive_int(checker, limit, "max_in_flight"));

  std::string run_dir;
  if (const YAML::Node out_dir = doc["out_dir"]; out_dir && out_dir.IsScalar()) run_dir = out_dir.as<std::string>();

  const YAML::Node nodes_yaml = doc["nodes"];
  if (!nodes_yaml || !nodes_yaml.IsSequence() || nodes_yaml.size() == 0)
    checker.fail(doc, "`nodes:` must be a non-empty list of {name, type, ...} entries");

  std::vector<WrittenNode> written;
  std::map<std::string, std::size_t> index_of;
  std::vector<std::optional<std::vector<std::pair<std::string, YAML::Node>>>> upstream_names;
  for (const auto& entry : nodes_yaml) {
    if (!entry.IsMap()) {
      checker.error(entry, "each entry of `nodes:` must be a map with at least `name` and `type`");
      continue;
    }
    if (!entry["name"] || !entry["name"].IsScalar()) {
      checker.error(entry, "a node has no `name`");
      continue;
    }
    WrittenNode node;
    node.name = entry["name"].as<std::string>();
    node.entry.reset(entry);
    if (!index_of.emplace(node.name, written.size()).second) {
      checker.error_node(entry["name"], node.name, "duplicate node name; every node needs its own name");
      continue;
    }
    if (!entry["type"] || !entry["type"].IsScalar()) {
      checker.error_node(entry, node.name, "no `type`");
      node.ok = false;
    } else {
      const auto type_name = entry["type"].as<std::string>();
      node.type = Registry::instance().find(type_name);
      if (!node.type) {
        checker.error_node(entry["type"], node.name,
                           fmt::format("unknown node type '{}'{}; known types: {}", type_name,
                                       did_you_mean(type_name, Registry::instance().names()),
                                       fmt::join(Registry::instance().names(), ", ")));
        node.ok = false;
      }
    }
    if (node.type) {
      node.params = parse_params(checker, entry, node.name, node.type->schema);
      node.ok = node.params.ok;
      upstream_names.push_back(parse_inputs(checker, entry, node.name, node.type->schema));
    } else {
      upstream_names.emplace_back(std::nullopt);
    }
    written.push_back(std::move(node));
  }

  // A node is wired when each of its ports names a node that can feed it; a broken node (and
  // what it feeds) is left out of the later checks, so the rest of the graph is still checked.
  std::size_t source_nodes = 0;
  std::vector<bool> usable(written.size(), false);
  for (std::size_t i = 0; i < written.size(); ++i) {
    WrittenNode& node = written[i];
    if (!node.type || !upstream_names[i]) continue;
    const auto& ports = node.type->schema.inputs();
    source_nodes += ports.empty();
    bool wired = true;
    for (std::size_t p = 0; p < ports.size(); ++p) {
      const auto& [upstream, where] = (*upstream_names[i])[p];
      auto found = index_of.find(upstream);
      if (found == index_of.end()) {
        std::vector<std::string> names;
        for (const auto& [known, unused] : index_of) names.push_back(known);
        checker.error_node(where, node.name,
                           fmt::format("input '{}' names unknown node '{}'{}", ports[p].name, upstream, did_you_mean(upstream, names)));
        wired = false;
        continue;
      }
      WrittenNode& producer = written[found->second];
      if (!producer.type) {
        wired = false;
        continue;
      }
      const auto& output = producer.type->schema.output();
      if (!output) {
        checker.error_node(where, node.name,
                           fmt::format("input '{}' reads '{}', a sink (type '{}') with no output", ports[p].name, upstream,
                                       producer.type->schema.type_name()));
        wired = false;
        continue;
      }
      if (output->item_type != ports[p].item_type && output->item_type != "any" && ports[p].item_type != "any") {
        checker.error_node(where, node.name,
                           fmt::format("port type mismatch: input '{}' takes '{}' but '{}' ({}) produces '{}'",
                                       ports[p].name, ports[p].item_type, upstream, producer.type->schema.type_name(),
                                       output->item_type));
        wired = false;
        continue;
      }
      node.inputs.push_back(found->second);
    }
    usable[i] = wired;
  }
  for (bool changed = true; changed;) {
    changed = false;
    for (std::size_t i = 0; i < written.size(); ++i)
      for (std::size_t input : written[i].inputs)
        if (usable[i] && !usable[input]) usable[i] = !(changed = true);
  }
  if (source_nodes == 0 && checker.error_count() == 0)
    checker.fail(nodes_yaml, "the graph has no source node (a node type without inputs)");

  std::vector<std::size_t> kept, sub_index(written.size());
  for (std::size_t i = 0; i < written.size(); ++i)
    if (usable[i]) {
      sub_index[i] = kept.size();
      kept.push_back(i);
    }
  for (std::size_t i : kept)
    for (std::size_t input : written[i].inputs) written[input].consumers.push_back(i);
  std::vector<std::string> names;
  std::vector<std::vector<std::size_t>> inputs, consumers;
  for (std::size_t i : kept) {
    names.push_back(written[i].name);
    inputs.emplace_back();
    for (std::size_t input : written[i].inputs) inputs.back().push_back(sub_index[input]);
    consumers.emplace_back();
    for (std::size_t consumer : written[i].consumers) consumers.back().push_back(sub_index[consumer]);
  }
  const auto order = topological_order(checker, nodes_yaml, names, inputs, consumers);
  if (!order) checker.throw_if_errors();
  std::vector<std::size_t> new_index(written.size());
  for (std::size_t k = 0; k < order->size(); ++k) new_index[kept[(*order)[k]]] = k;

  // In topological order: complete each node's parameters from its inputs' stream facts, run its
  // type's static checks, then derive its own output facts. A node downstream of a broken one is
  // not checked further (its problems would only echo the first).
  std::vector<bool> ok;
  std::vector<std::string> node_fingerprints;
  for (std::size_t k = 0; k < order->size(); ++k) {
    WrittenNode& node = written[kept[(*order)[k]]];
    const NodeSchema& schema = node.type->schema;
    NodeDef def;
    def.name = node.name;
    def.type = node.type;
    for (std::size_t input : node.inputs) def.inputs.push_back(new_index[input]);
    for (std::size_t consumer : node.consumers) def.consumers.push_back(new_index[consumer]);
    bool inputs_ok = node.ok;
    std::vector<StreamFacts> input_facts;
    for (std::size_t input : def.inputs) {
      inputs_ok = inputs_ok && ok[input];
      input_facts.push_back(config.facts[input]);
    }
    StreamFacts output_facts;
    if (inputs_ok) {
      const std::size_t errors_before = checker.error_count();
      def.params = complete_params(checker, node.entry, node.name, schema, node.params, input_facts, dir);
      def.params.set_run_dir(run_dir);
      if (checker.error_count() == errors_before) {
        Diagnostics diagnostics;
        try {
          for (const auto& check : schema.checks()) check(def.params, input_facts, diagnostics);
          if (!diagnostics.problems().empty()) {
          } else if (schema.stream_function()) {
            output_facts = schema.stream_function()(def.params, input_facts, diagnostics);
          } else if (input_facts.size() == 1) {
            output_facts = input_facts[0];
          }
        } catch (const std::exception& e) {
          diagnostics.error("", fmt::format("its type's config check failed: {}", e.what()));
        }
        for (const auto& problem : diagnostics.problems()) {
          const auto where = node.params.where.find(problem.param);
          checker.error_node(where != node.params.where.end() ? where->second : node.entry, node.name,
                             problem.param.empty() || where != node.params.where.end()
                                 ? problem.message
                                 : fmt::format("{} (parameter '{}', not written here: its default or the stream's)",
                                               problem.message, problem.param));
        }
      }
      inputs_ok = checker.error_count() == errors_before;
    }
    ok.push_back(inputs_ok);
    std::vector<std::string> upstream;
    for (std::size_t input : def.inputs) upstream.push_back(node_fingerprints[input]);
    def.params.set_input_fingerprint(fmt::format("{}", fmt::join(upstream, ",")));
    node_fingerprints.push_back(
        fingerprint_params(fmt::format("{}({})", schema.type_name(), def.params.input_fingerprint()), def.params));
    config.nodes.push_back(std::move(def));
    config.facts.push_back(std::move(output_facts));
  }
  checker.throw_if_errors();
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
