#include "graph/overrides.h"

#include "graph/config.h"
#include "graph/suggest.h"

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

std::size_t count_references(const YAML::Node& tree, const YAML::Node& target) {
  std::size_t count = tree.is(target);
  if (tree.IsSequence())
    for (const auto& element : tree) count += count_references(element, target);
  if (tree.IsMap())
    for (const auto& kv : tree) count += count_references(kv.second, target);
  return count;
}

YAML::Node shallow_copy(const YAML::Node& node) {
  if (node.IsMap()) {
    YAML::Node copy(YAML::NodeType::Map);
    for (const auto& kv : node) copy[kv.first.as<std::string>()] = kv.second;
    return copy;
  }
  YAML::Node copy(YAML::NodeType::Sequence);
  for (const auto& element : node) copy.push_back(element);
  return copy;
}

// Puts `value` at `segment` of `container` as a new slot: assigning through the existing slot
// would rewrite the shared node an anchor points to (and so every alias of it).
void replace_slot(YAML::Node& container, const std::string& segment, const YAML::Node& value) {
  if (container.IsMap()) {
    container.remove(segment);
    container[segment] = value;
    return;
  }
  const auto index = std::stoul(segment);
  YAML::Node rebuilt(YAML::NodeType::Sequence);
  for (std::size_t i = 0; i < container.size(); ++i) rebuilt.push_back(i == index ? value : container[i]);
  container = rebuilt;
}

}  // namespace

YamlSource apply_override(YAML::Node doc, const std::string& assignment) {
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
      throw ConfigError(fmt::format("--set {}: nothing named '{}' in {}{}; there are: {}", assignment, segments[i],
                                    walked.empty() ? "the config" : walked, did_you_mean(segments[i], choices(node)),
                                    fmt::join(choices(node), ", ")));
    walked += (walked.empty() ? "" : ".") + segments[i];
    node.reset(next);  // rebind: assigning would overwrite the current node with `next`
  }
  const std::string& last = segments.back();
  const bool in_list = node.IsSequence() && is_index(last) && std::stoul(last) < node.size();
  if (!in_list && !node.IsMap())
    throw ConfigError(fmt::format("--set {}: {} is not a map of settings", assignment, walked.empty() ? "the config" : walked));
  // Containers on the path that an anchor shares are copied (top down), so the change lands in
  // the named place only.
  YAML::Node parent = doc;
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    YAML::Node next = step(parent, segments[i]);
    if (count_references(doc, next) > 1) {
      const YAML::Node copy = shallow_copy(next);
      // `next` sits in parent directly, or in its `nodes:`/`phases:` list.
      if (parent.IsMap() && parent[segments[i]]) {
        replace_slot(parent, segments[i], copy);
      } else {
        for (const char* list_key : {"nodes", "phases"}) {
          if (!parent.IsMap() || !parent[list_key] || !parent[list_key].IsSequence()) continue;
          YAML::Node list = parent[list_key];
          for (std::size_t k = 0; k < list.size(); ++k)
            if (list[k].is(next)) {
              replace_slot(list, std::to_string(k), copy);
            }
        }
        if (parent.IsSequence())
          for (std::size_t k = 0; k < parent.size(); ++k)
            if (parent[k].is(next)) replace_slot(parent, std::to_string(k), copy);
      }
      next.reset(copy);
    }
    parent.reset(next);
  }
  replace_slot(parent, last, value);  // a new key is allowed: validation reports it if it is not a parameter
  return {value, "--set " + assignment, false};
}

}  // namespace semiflow::graph
