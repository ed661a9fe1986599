#include "graph/phases.h"

#include "graph/overrides.h"
#include "graph/suggest.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

namespace semiflow::graph {
namespace {

const std::vector<std::string> kPlanKeys = {"plugins", "threads", "max_in_flight", "rounds", "out_dir", "vars", "include", "templates", "phases"};
const std::vector<std::string> kGraphKeys = {"plugins", "threads", "max_in_flight", "rounds", "out_dir", "vars", "include", "templates", "nodes"};
// Substituted by the plan itself; `vars:` may not redefine them.
const std::vector<std::string> kBuiltinVariables = {"round", "previous_round", "out_dir"};
const std::vector<std::string> kPhaseKeys = {"name", "rounds", "nodes"};
const std::vector<std::string> kSharedKeys = {"plugins", "threads", "max_in_flight"};

// Problems found while reading the plan; thrown together at the end.
class Problems {
 public:
  explicit Problems(const std::filesystem::path& path) : path_(path) {}
  void error(const YAML::Node& where, const std::string& what) {
    add(fmt::format("{}: {}", yaml_location(path_, where, sources_), what));
  }
  // Values errors may be about from now on (every round's document has its own).
  void remember(const std::vector<YamlSource>& sources) { sources_.insert(sources_.end(), sources.begin(), sources.end()); }
  void add(std::string line) {
    if (std::find(lines_.begin(), lines_.end(), line) == lines_.end()) lines_.push_back(std::move(line));
  }
  void throw_if_any() const {
    if (!lines_.empty()) throw ConfigError(lines_);
  }
  bool empty() const { return lines_.empty(); }

 private:
  std::filesystem::path path_;
  std::vector<YamlSource> sources_;
  std::vector<std::string> lines_;
};

void check_keys(Problems& problems, const YAML::Node& map, const std::vector<std::string>& valid, const std::string& where) {
  for (const auto& kv : map) {
    const auto key = kv.first.as<std::string>();
    if (std::find(valid.begin(), valid.end(), key) == valid.end())
      problems.error(kv.first, fmt::format("unknown key '{}' in {}{}; valid keys: {}", key, where, did_you_mean(key, valid),
                                           fmt::join(valid, ", ")));
  }
}

YAML::Node load_yaml(const std::string& text, const std::filesystem::path& path) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("{}:{}: invalid YAML: {}", path.string(), e.mark.line + 1, e.msg));
  }
}

std::optional<std::string> read_text(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) return std::nullopt;
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// `include: [recipe.yaml, ...]`: the `templates:` and `vars:` of those files (relative to the
// config; the paths in them are read relative to the config too) join the config's own, which
// win on a name both define. The included text gets the same ${...} substitutions as the config's.
void include_templates(YAML::Node doc, const std::filesystem::path& dir,
                       const std::function<std::string(const std::string&)>& substitute, Problems& problems,
                       std::vector<YamlSource>& sources) {
  const YAML::Node include = doc["include"];
  if (!include) return;
  std::vector<YAML::Node> entries;
  if (include.IsScalar()) entries.push_back(include);
  else if (include.IsSequence())
    for (std::size_t i = 0; i < include.size(); ++i) entries.push_back(include[i]);
  else problems.error(include, "`include:` must be a file or a list of files (relative to this config)");
  for (const auto& entry : entries) {
    const std::filesystem::path file = dir / entry.as<std::string>();
    const auto text = read_text(file);
    if (!text) {
      problems.error(entry, fmt::format("include '{}': cannot open {}", entry.as<std::string>(), file.string()));
      continue;
    }
    const YAML::Node included = load_yaml(substitute(*text), file);
    sources.push_back({included, file.string(), true});
    problems.remember(sources);
    if (!included.IsMap() || !included["templates"] || !included["templates"].IsMap()) {
      problems.error(included, "an included file holds `templates:`, a map of template names to partial node entries");
      continue;
    }
    check_keys(problems, included, {"templates", "vars"}, "an included file");
    for (const char* section : {"templates", "vars"}) {
      if (!included[section] || !included[section].IsMap()) continue;
      if (!doc[section]) doc[section] = YAML::Node(YAML::NodeType::Map);
      YAML::Node own = doc[section];
      for (const auto& kv : included[section])
        if (!own[kv.first.as<std::string>()]) own[kv.first.as<std::string>()] = kv.second;
    }
  }
  doc.remove("include");
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// Substituted in the text, before parsing, so errors keep their line numbers.
std::string for_round(const std::string& text, int round) {
  return replace_all(replace_all(text, "${round}", std::to_string(round)), "${previous_round}",
                     std::to_string(round - 1));
}

bool is_builtin_variable(const std::string& name) {
  return std::find(kBuiltinVariables.begin(), kBuiltinVariables.end(), name) != kBuiltinVariables.end();
}

const std::regex& variable_pattern() {
  static const std::regex pattern(R"(\$\{([A-Za-z_][A-Za-z0-9_]*)\})");
  return pattern;
}

using Variables = std::map<std::string, std::string>;

// `${name}` of every variable in `known` replaced by its value. Any other `${name}` but the built-in
// ones becomes 0, so that the text still parses (the first reading, which looks for `vars:`, has
// no variables yet), and is added to `unknown` when that is given. The names of the variables
// found are added to `used`.
std::string substitute_variables(const std::string& text, const Variables& known, std::set<std::string>* unknown,
                                 std::set<std::string>& used) {
  std::string result;
  auto last = text.cbegin();
  for (std::sregex_iterator match(text.begin(), text.end(), variable_pattern()), end; match != end; ++match) {
    const std::string name = (*match)[1].str();
    const auto value = known.find(name);
    result.append(last, (*match)[0].first);
    if (value != known.end()) {
      result += value->second;
      used.insert(name);
    } else if (is_builtin_variable(name)) {
      result += (*match)[0].str();
    } else {
      result += "0";
      if (unknown) unknown->insert(name);
    }
    last = (*match)[0].second;
  }
  result.append(last, text.cend());
  return result;
}

bool runs_in(const std::string& when, int round) {
  if (when == "first") return round == 0;
  if (when == "later") return round > 0;
  return true;
}

// `extends: NAME` on a node entry: the keys of `templates: {NAME: {...}}` that the entry does
// not set itself are added to it (a template may extend another). The added values keep their
// own lines, so an error in a template points at the template.
void resolve_templates(const YAML::Node& doc, Problems& problems) {
  const YAML::Node templates = doc["templates"];
  if (templates && !templates.IsMap()) {
    problems.error(templates, "`templates:` must map template names to partial node entries");
    return;
  }
  std::vector<std::string> names;
  if (templates)
    for (const auto& kv : templates) {
      names.push_back(kv.first.as<std::string>());
      if (!kv.second.IsMap()) problems.error(kv.second, fmt::format("template '{}' must be a map of node keys", names.back()));
      else if (kv.second["name"]) problems.error(kv.second["name"], fmt::format("template '{}' cannot set `name`", names.back()));
    }
  auto resolve = [&](YAML::Node entry) {
    std::vector<std::string> chain;
    while (entry["extends"]) {
      const YAML::Node extends = entry["extends"];
      const std::string name = extends.IsScalar() ? extends.as<std::string>() : "";
      entry.remove("extends");
      if (std::find(chain.begin(), chain.end(), name) != chain.end()) {
        problems.error(extends, fmt::format("templates extend each other in a cycle: {} -> {}", fmt::join(chain, " -> "), name));
        return;
      }
      chain.push_back(name);
      const YAML::Node base = templates && !name.empty() ? templates[name] : YAML::Node();
      if (!base || !base.IsMap()) {
        problems.error(extends, fmt::format("`extends: {}` names no template{}; templates: {}", YAML::Dump(extends),
                                            did_you_mean(name, names), names.empty() ? "(none)" : fmt::format("{}", fmt::join(names, ", "))));
        return;
      }
      for (const auto& kv : base) {
        const auto key = kv.first.as<std::string>();
        if (!entry[key]) entry[key] = kv.second;
      }
    }
  };
  auto resolve_list = [&](const YAML::Node& nodes) {
    if (!nodes || !nodes.IsSequence()) return;
    for (std::size_t i = 0; i < nodes.size(); ++i)
      if (nodes[i].IsMap() && nodes[i]["extends"]) resolve(nodes[i]);
  };
  resolve_list(doc["nodes"]);
  if (doc["phases"] && doc["phases"].IsSequence())
    for (const auto& phase : doc["phases"])
      if (phase.IsMap()) resolve_list(phase["nodes"]);
}

}  // namespace

RunPlan parse_run_plan(const std::string& yaml_text, const std::filesystem::path& path,
                       const std::vector<std::string>& overrides, const std::filesystem::path& base_dir) {
  const std::filesystem::path dir = base_dir.empty() ? path.parent_path() : base_dir;
  RunPlan plan;
  plan.path = path;
  // Each round's text is parsed on its own: included templates added, the overrides applied and
  // templates resolved.
  struct Parsed {
    YAML::Node doc;
    std::vector<YamlSource> sources;
  };
  Problems problems(path);
  std::string out_dir_text;
  bool out_dir_known = false;
  Variables variables;
  bool variables_known = false;
  std::set<std::string> unknown_variables, used_variables;
  auto substitute_for = [&](int round) {
    return [&, round](const std::string& text) {
      const std::string expanded = substitute_variables(for_round(text, round), variables,
                                                        variables_known ? &unknown_variables : nullptr, used_variables);
      return out_dir_known ? replace_all(expanded, "${out_dir}", out_dir_text) : expanded;
    };
  };
  auto parse = [&](int round) {
    const auto substitute = substitute_for(round);
    Parsed parsed{load_yaml(substitute(yaml_text), path), {}};
    if (parsed.doc.IsMap()) include_templates(parsed.doc, dir, substitute, problems, parsed.sources);
    // ${...} in a --set value expands as in the file (`--set train.out_dir='${out_dir}/a'`).
    for (const auto& assignment : overrides) parsed.sources.push_back(apply_override(parsed.doc, substitute(assignment)));
    problems.remember(parsed.sources);
    if (parsed.doc.IsMap()) resolve_templates(parsed.doc, problems);
    return parsed;
  };
  // A first reading finds `vars:` (after --set); round 0's text with them then gives the settings,
  // and `${out_dir}` is replaced by the (overridden) out_dir from then on.
  if (const Parsed with_placeholders = parse(0); with_placeholders.doc.IsMap()) {
    if (const YAML::Node vars = with_placeholders.doc["vars"]) {
      if (!vars.IsMap()) problems.error(vars, "`vars:` must be a map of names to values, used as ${name}");
      for (const auto& kv : vars) {
        const auto name = kv.first.as<std::string>();
        if (!std::regex_match("${" + name + "}", variable_pattern()))
          problems.error(kv.first, fmt::format("variable '{}': a name is letters, digits and _, not starting with a digit", name));
        else if (is_builtin_variable(name))
          problems.error(kv.first, fmt::format("variable '{}' is set by the run itself; pick another name", name));
        else if (!kv.second.IsScalar())
          problems.error(kv.second, fmt::format("variable '{}' must be a single value (a number, word or path)", name));
        else
          variables[name] = kv.second.as<std::string>();
      }
    }
  }
  variables_known = true;
  const Parsed first = parse(0);
  std::vector<std::string> defined;
  for (const auto& [name, value] : variables) defined.push_back(name);
  for (const auto& name : unknown_variables)
    problems.add(fmt::format("{}: ${{{}}} is not a variable: define it under `vars:` (or --set vars.{}=VALUE); built in: "
                             "${{round}}, ${{previous_round}}, ${{out_dir}}{}", path.string(), name, name, did_you_mean(name, defined)));
  // A variable nothing uses is a misspelt --set or vars entry: it would change nothing.
  for (const auto& name : defined)
    if (!used_variables.count(name))
      problems.add(fmt::format("{}: variable '{}' is used nowhere (no ${{{}}} in the config or its includes){}", path.string(), name,
                               name, did_you_mean(name, std::vector<std::string>(used_variables.begin(), used_variables.end()))));
  // The unknown ones were parsed as 0: what else that would report is noise.
  problems.throw_if_any();
  const YAML::Node root = first.doc;
  if (root.IsMap() && root["out_dir"]) {
    if (!root["out_dir"].IsScalar()) {
      problems.error(root["out_dir"], "`out_dir:` must be a folder path");
    } else {
      out_dir_text = root["out_dir"].as<std::string>();
      out_dir_known = true;
      plan.out_dir = out_dir_text;
      if (plan.out_dir.is_relative()) plan.out_dir = dir / plan.out_dir;
    }
  } else if (root.IsMap()) {
    // No out_dir written: runs/<config name> in the current folder (absolute, as node paths are
    // resolved against the config's folder).
    plan.out_dir = std::filesystem::absolute(std::filesystem::path("runs") / path.stem());
    out_dir_text = plan.out_dir.string();
    out_dir_known = true;
  }
  auto build = [&](const YAML::Node& graph_doc, const std::vector<YamlSource>& origins, const std::string& prefix) {
    try {
      return std::optional<PipelineConfig>(build_pipeline_config(graph_doc, path, origins, dir));
    } catch (const ConfigError& e) {
      for (const auto& line : e.errors()) problems.add(prefix + line);
      return std::optional<PipelineConfig>();
    }
  };
  if (!root.IsMap() || !root["phases"]) {
    if (root.IsMap()) check_keys(problems, root, kGraphKeys, "a config with nodes");
    const Parsed parsed = parse(0);
    YAML::Node graph_doc(YAML::NodeType::Map);
    for (const auto& kv : parsed.doc)
      if (kv.first.as<std::string>() != "templates" && kv.first.as<std::string>() != "vars") graph_doc[kv.first.as<std::string>()] = kv.second;
    if (parsed.doc.IsMap()) graph_doc["out_dir"] = out_dir_text;
    auto config = build(parsed.doc.IsMap() ? graph_doc : parsed.doc, parsed.sources, "");
    problems.throw_if_any();
    plan.phases.push_back({"main", 0, std::move(*config)});
    return plan;
  }
  check_keys(problems, root, kPlanKeys, "a config with phases");
  if (const YAML::Node rounds = root["rounds"]) {
    int value = -1;
    if (!rounds.IsScalar() || !YAML::convert<int>::decode(rounds, value) || value < 0)
      problems.error(rounds, "`rounds:` must be a whole number >= 0");
    else plan.rounds = value;
  }

  const YAML::Node phases = root["phases"];
  if (!phases.IsSequence() || phases.size() == 0) {
    problems.error(phases, "`phases:` must be a non-empty list of {name, rounds, nodes}");
    problems.throw_if_any();
  }
  std::set<std::string> names;
  bool phases_ok = true;
  for (const auto& phase : phases) {
    if (!phase.IsMap() || !phase["name"] || !phase["nodes"]) {
      problems.error(phase, "each phase needs `name:` and `nodes:` (and optionally `rounds: first|later|all`)");
      phases_ok = false;
      continue;
    }
    check_keys(problems, phase, kPhaseKeys, fmt::format("phase '{}'", phase["name"].as<std::string>()));
    if (!names.insert(phase["name"].as<std::string>()).second)
      problems.error(phase["name"], fmt::format("duplicate phase name '{}'", phase["name"].as<std::string>()));
    if (phase["rounds"]) {
      const auto when = phase["rounds"].as<std::string>();
      if (when != "first" && when != "later" && when != "all") {
        problems.error(phase["rounds"], fmt::format("phase rounds '{}': write first, later or all{}", when,
                                                    did_you_mean(when, {"first", "later", "all"})));
        phases_ok = false;
      }
    }
  }
  if (!phases_ok) problems.throw_if_any();

  // Every phase of every round is built (and so checked) now; an error names the phase and the
  // rounds it occurs in.
  std::map<std::string, std::vector<int>> rounds_of_error;
  std::vector<std::string> error_order;
  for (int round = 0; round <= plan.rounds; ++round) {
    const Parsed parsed = parse(round);
    for (const auto& phase : parsed.doc["phases"]) {
      const auto name = phase["name"].as<std::string>();
      if (!runs_in(phase["rounds"] ? phase["rounds"].as<std::string>() : "all", round)) continue;
      YAML::Node graph_doc(YAML::NodeType::Map);
      for (const auto& key : kSharedKeys)
        if (parsed.doc[key]) graph_doc[key] = parsed.doc[key];
      graph_doc["nodes"] = phase["nodes"];
      graph_doc["out_dir"] = out_dir_text;
      try {
        plan.phases.push_back({name, round, build_pipeline_config(graph_doc, path, parsed.sources, dir)});
      } catch (const ConfigError& e) {
        for (const auto& line : e.errors()) {
          const std::string key = fmt::format("phase '{}'\n{}", name, line);
          if (!rounds_of_error.count(key)) error_order.push_back(key);
          rounds_of_error[key].push_back(round);
        }
      }
    }
  }
  for (const auto& key : error_order) {
    const auto split = key.find('\n');
    const auto& rounds = rounds_of_error[key];
    problems.add(fmt::format("{} (round{} {}): {}", key.substr(0, split), rounds.size() > 1 ? "s" : "", fmt::join(rounds, ", "),
                             key.substr(split + 1)));
  }
  if (plan.phases.empty() && problems.empty())
    problems.error(phases, "no phase runs in any round (rounds: 0 with only `rounds: later` phases?)");
  problems.throw_if_any();
  return plan;
}

RunPlan load_run_plan(const std::filesystem::path& path, const std::vector<std::string>& overrides,
                      const std::filesystem::path& base_dir) {
  const auto text = read_text(path);
  if (!text) throw ConfigError(fmt::format("{}: cannot open the pipeline config", path.string()));
  return parse_run_plan(*text, path, overrides, base_dir);
}

}  // namespace semiflow::graph
