#include "graph/phases.h"

#include "graph/overrides.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace semiflow::graph {
namespace {

const std::vector<std::string> kPlanKeys = {"plugins", "threads", "max_in_flight", "rounds", "out_dir", "phases"};
const std::vector<std::string> kPhaseKeys = {"name", "rounds", "nodes"};
const std::vector<std::string> kSharedKeys = {"plugins", "threads", "max_in_flight"};

[[noreturn]] void fail(const std::filesystem::path& path, const YAML::Node& where, const std::string& what) {
  const int line = where.Mark().line;
  throw ConfigError(line >= 0 ? fmt::format("{}:{}: {}", path.string(), line + 1, what)
                              : fmt::format("{}: {}", path.string(), what));
}

void check_keys(const std::filesystem::path& path, const YAML::Node& map, const std::vector<std::string>& valid,
                const std::string& where) {
  for (const auto& kv : map) {
    const auto key = kv.first.as<std::string>();
    if (std::find(valid.begin(), valid.end(), key) == valid.end())
      fail(path, kv.first, fmt::format("unknown key '{}' in {}; valid keys: {}", key, where, fmt::join(valid, ", ")));
  }
}

YAML::Node load_yaml(const std::string& text, const std::filesystem::path& path) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("{}: invalid YAML: {}", path.string(), e.what()));
  }
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

bool runs_in(const std::string& when, int round) {
  if (when == "first") return round == 0;
  if (when == "later") return round > 0;
  return true;
}

}  // namespace

RunPlan parse_run_plan(const std::string& yaml_text, const std::filesystem::path& path,
                       const std::vector<std::string>& overrides) {
  RunPlan plan;
  plan.path = path;
  // Round 0's text gives the settings; `${out_dir}` is then replaced by the (overridden) out_dir.
  auto parse = [&](const std::string& text) {
    YAML::Node doc = load_yaml(text, path);
    for (const auto& assignment : overrides) apply_override(doc, assignment);
    return doc;
  };
  const YAML::Node root = parse(for_round(yaml_text, 0));
  std::string out_dir_text;
  if (root.IsMap() && root["out_dir"]) {
    if (!root["out_dir"].IsScalar()) fail(path, root["out_dir"], "`out_dir:` must be a folder path");
    out_dir_text = root["out_dir"].as<std::string>();
    plan.out_dir = out_dir_text;
    if (plan.out_dir.is_relative()) plan.out_dir = path.parent_path() / plan.out_dir;
  }
  auto text_for = [&](int round) { return replace_all(for_round(yaml_text, round), "${out_dir}", out_dir_text); };
  if (!root.IsMap() || !root["phases"]) {
    plan.phases.push_back({"main", 0, build_pipeline_config(parse(text_for(0)), path)});
    return plan;
  }
  check_keys(path, root, kPlanKeys, "a config with phases");
  if (root["nodes"]) fail(path, root["nodes"], "a config has either `nodes:` (one graph) or `phases:`, not both");
  if (const YAML::Node rounds = root["rounds"]) {
    try {
      plan.rounds = rounds.as<int>();
    } catch (const YAML::Exception&) {
      fail(path, rounds, "`rounds:` must be a whole number >= 0");
    }
    if (plan.rounds < 0) fail(path, rounds, "`rounds:` must be a whole number >= 0");
  }
  if (out_dir_text.empty()) fail(path, root, "a config with phases needs `out_dir:`, the run folder that gets summary.json");

  const YAML::Node phases = root["phases"];
  if (!phases.IsSequence() || phases.size() == 0) fail(path, phases, "`phases:` must be a non-empty list of {name, rounds, nodes}");
  std::set<std::string> names;
  for (const auto& phase : phases) {
    if (!phase.IsMap() || !phase["name"] || !phase["nodes"])
      fail(path, phase, "each phase needs `name:` and `nodes:` (and optionally `rounds: first|later|all`)");
    check_keys(path, phase, kPhaseKeys, fmt::format("phase '{}'", phase["name"].as<std::string>()));
    if (!names.insert(phase["name"].as<std::string>()).second)
      fail(path, phase["name"], fmt::format("duplicate phase name '{}'", phase["name"].as<std::string>()));
    if (phase["rounds"]) {
      const auto when = phase["rounds"].as<std::string>();
      if (when != "first" && when != "later" && when != "all")
        fail(path, phase["rounds"], fmt::format("phase rounds '{}': write first, later or all", when));
    }
  }

  for (int round = 0; round <= plan.rounds; ++round) {
    const YAML::Node doc = parse(text_for(round));
    for (const auto& phase : doc["phases"]) {
      const auto name = phase["name"].as<std::string>();
      if (!runs_in(phase["rounds"] ? phase["rounds"].as<std::string>() : "all", round)) continue;
      YAML::Node graph_doc(YAML::NodeType::Map);
      for (const auto& key : kSharedKeys)
        if (doc[key]) graph_doc[key] = doc[key];
      graph_doc["nodes"] = phase["nodes"];
      try {
        plan.phases.push_back({name, round, build_pipeline_config(graph_doc, path)});
      } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("phase '{}' (round {}): {}", name, round, e.what()));
      }
    }
  }
  if (plan.phases.empty()) fail(path, phases, "no phase runs in any round (rounds: 0 with only `rounds: later` phases?)");
  return plan;
}

RunPlan load_run_plan(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  std::ifstream file(path);
  if (!file) throw ConfigError(fmt::format("{}: cannot open the pipeline config", path.string()));
  std::stringstream text;
  text << file.rdbuf();
  return parse_run_plan(text.str(), path, overrides);
}

}  // namespace semiflow::graph
