#include "graph/overrides.h"

#include "graph/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <vector>

namespace semiflow::graph {
namespace {

std::vector<std::string> split_path(const std::string& key) {
  std::vector<std::string> segments;
  std::size_t start = 0;
  for (std::size_t dot = key.find('.'); ; dot = key.find('.', start)) {
    segments.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return segments;
}

bool is_index(const std::string& segment) {
  return !segment.empty() && std::all_of(segment.begin(), segment.end(), [](unsigned char c) { return std::isdigit(c); });
}

// The list entry named `name` (or at index `name`), or an invalid node.
YAML::Node find_in_list(const YAML::Node& list, const std::string& name) {
  if (is_index(name)) {
    const auto index = std::stoul(name);
    return index < list.size() ? list[index] : YAML::Node(YAML::NodeType::Undefined);
  }
  for (const auto& entry : list)
    if (entry.IsMap() && entry["name"] && entry["name"].as<std::string>() == name) return entry;
  return YAML::Node(YAML::NodeType::Undefined);
}

std::vector<std::string> choices(const YAML::Node& node) {
  std::vector<std::string> names;
  if (node.IsMap()) {
    for (const auto& kv : node) names.push_back(kv.first.as<std::string>());
    for (const char* list : {"nodes", "phases"})
      if (node[list] && node[list].IsSequence())
        for (const auto& entry : node[list])
          if (entry.IsMap() && entry["name"]) names.push_back(entry["name"].as<std::string>());
  } else if (node.IsSequence()) {
    for (const auto& entry : node)
      if (entry.IsMap() && entry["name"]) names.push_back(entry["name"].as<std::string>());
  }
  return names;
}

YAML::Node step(const YAML::Node& node, const std::string& segment) {
  if (node.IsMap()) {
    if (node[segment]) return node[segment];
    for (const char* list : {"nodes", "phases"})
      if (node[list] && node[list].IsSequence())
        if (YAML::Node found = find_in_list(node[list], segment); found.IsDefined()) return found;
    return YAML::Node(YAML::NodeType::Undefined);
  }
  if (node.IsSequence()) return find_in_list(node, segment);
  return YAML::Node(YAML::NodeType::Undefined);
}

}  // namespace

void apply_override(YAML::Node doc, const std::string& assignment) {
  const auto equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0)
    throw ConfigError(fmt::format("--set {}: write KEY=VALUE, e.g. train.epochs=3", assignment));
  const std::string key = assignment.substr(0, equals);
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(equals + 1));
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("--set {}: the value is not valid YAML: {}", assignment, e.what()));
  }
  const auto segments = split_path(key);
  YAML::Node node = doc;
  std::string walked;
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    YAML::Node next = step(node, segments[i]);
    if (!next.IsDefined())
      throw ConfigError(fmt::format("--set {}: nothing named '{}' in {}; there are: {}", assignment, segments[i],
                                    walked.empty() ? "the config" : walked, fmt::join(choices(node), ", ")));
    walked += (walked.empty() ? "" : ".") + segments[i];
    node.reset(next);  // rebind: assigning would overwrite the current node with `next`
  }
  const std::string& last = segments.back();
  if (node.IsSequence() && is_index(last) && std::stoul(last) < node.size()) {
    node[std::stoul(last)] = value;
  } else if (node.IsMap()) {
    node[last] = value;  // a new key is allowed here: validation reports it if it is not a parameter
  } else {
    throw ConfigError(fmt::format("--set {}: {} is not a map of settings", assignment, walked.empty() ? "the config" : walked));
  }
}

}  // namespace semiflow::graph
