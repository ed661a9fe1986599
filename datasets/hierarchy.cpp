#include "datasets/hierarchy.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace semiflow {
namespace {

std::string where(const std::string& source, const YAML::Node& node) {
  const auto mark = node.Mark();
  if (mark.line < 0) return source;
  return fmt::format("{}:{}", source, mark.line + 1);
}

[[noreturn]] void fail(const std::string& location, const std::string& message) {
  throw std::runtime_error(fmt::format("{}: {}", location, message));
}

// Classes are written `- name` at the top level and `- name: parent` below it.
HierarchyLevel parse_level(const YAML::Node& node, int index, const HierarchyLevel* above, const std::string& source) {
  HierarchyLevel level;
  if (!node.IsMap() || !node["name"] || !node["classes"])
    fail(where(source, node), fmt::format("level {} needs `name:` and `classes:`", index + 1));
  level.name = node["name"].as<std::string>();
  const YAML::Node classes = node["classes"];
  if (!classes.IsSequence() || classes.size() == 0)
    fail(where(source, classes), fmt::format("level '{}' is empty: list its classes under `classes:`", level.name));
  for (const auto& entry : classes) {
    std::string name;
    std::string parent_name;
    if (entry.IsScalar()) {
      name = entry.as<std::string>();
    } else if (entry.IsMap() && entry.size() == 1) {
      name = entry.begin()->first.as<std::string>();
      parent_name = entry.begin()->second.as<std::string>();
    } else {
      fail(where(source, entry), fmt::format("level '{}': write each class as `- name` or `- name: parent`", level.name));
    }
    if (name.empty()) fail(where(source, entry), fmt::format("level '{}': a class has an empty name", level.name));
    if (above == nullptr) {
      if (!parent_name.empty())
        fail(where(source, entry), fmt::format("level '{}', class '{}': the top level has no parents (found '{}')",
                                               level.name, name, parent_name));
      level.classes.push_back(name);
      continue;
    }
    if (parent_name.empty())
      fail(where(source, entry), fmt::format("level '{}', class '{}' has no parent: write `- {}: <class of level '{}'>`",
                                             level.name, name, name, above->name));
    int parent = -1;
    for (std::size_t i = 0; i < above->classes.size(); ++i)
      if (above->classes[i] == parent_name) parent = static_cast<int>(i);
    if (parent < 0)
      fail(where(source, entry), fmt::format("level '{}', class '{}': unknown parent '{}' (level '{}' has: {})", level.name,
                                             name, parent_name, above->name, fmt::join(above->classes, ", ")));
    level.classes.push_back(name);
    level.parents.push_back(parent);
  }
  std::set<std::string> seen;
  for (const auto& name : level.classes)
    if (!seen.insert(name).second)
      fail(where(source, classes), fmt::format("level '{}': duplicate class name '{}'", level.name, name));
  return level;
}

}  // namespace

Hierarchy::Hierarchy(std::vector<HierarchyLevel> levels, std::string source)
    : levels_(std::move(levels)), source_(std::move(source)) {
  if (levels_.empty()) throw std::runtime_error(fmt::format("{}: a hierarchy needs at least one level", source_));
  for (int l = 0; l < num_levels(); ++l) {
    const auto& level = levels_[l];
    if (level.classes.empty()) throw std::runtime_error(fmt::format("{}: level '{}' is empty", source_, level.name));
    const std::size_t expected_parents = l == 0 ? 0 : level.classes.size();
    if (level.parents.size() != expected_parents)
      throw std::runtime_error(fmt::format("{}: level '{}' needs one parent per class", source_, level.name));
    for (int p : level.parents)
      if (p < 0 || p >= static_cast<int>(levels_[l - 1].classes.size()))
        throw std::runtime_error(fmt::format("{}: level '{}' has a parent index out of range", source_, level.name));
  }
}

Hierarchy Hierarchy::parse(const std::string& yaml_text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    fail(source, fmt::format("not valid YAML: {}", e.what()));
  }
  if (!root.IsMap() || !root["levels"] || !root["levels"].IsSequence() || root["levels"].size() == 0)
    fail(source, "expected a `levels:` list, ordered from coarse to fine");
  std::vector<HierarchyLevel> levels;
  std::set<std::string> level_names;
  for (const auto& node : root["levels"]) {
    levels.push_back(parse_level(node, static_cast<int>(levels.size()), levels.empty() ? nullptr : &levels.back(), source));
    if (!level_names.insert(levels.back().name).second)
      fail(where(source, node), fmt::format("duplicate level name '{}'", levels.back().name));
  }
  return Hierarchy(std::move(levels), source);
}

Hierarchy Hierarchy::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open hierarchy file (check the path)", path));
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

Hierarchy Hierarchy::flat(int num_classes) {
  if (num_classes < 1) throw std::runtime_error(fmt::format("--classes must be at least 1 (got {})", num_classes));
  HierarchyLevel level{"class", {}, {}};
  for (int i = 0; i < num_classes; ++i) level.classes.push_back(std::to_string(i));
  return Hierarchy({level}, fmt::format("<{} classes>", num_classes));
}

std::string Hierarchy::to_yaml() const {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "levels" << YAML::Value << YAML::BeginSeq;
  for (int l = 0; l < num_levels(); ++l) {
    const auto& level = levels_[l];
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << level.name << YAML::Key << "classes" << YAML::Value
        << YAML::BeginSeq;
    for (std::size_t c = 0; c < level.classes.size(); ++c) {
      if (l == 0) {
        out << level.classes[c];
      } else {
        out << YAML::Flow << YAML::BeginMap << YAML::Key << level.classes[c] << YAML::Value
            << levels_[l - 1].classes[level.parents[c]] << YAML::EndMap;
      }
    }
    out << YAML::EndSeq << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

void Hierarchy::save(const std::string& path) const {
  std::ofstream out(path);
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write hierarchy file", path));
  out << to_yaml();
}

std::vector<int> Hierarchy::classes_per_level() const {
  std::vector<int> counts;
  for (const auto& level : levels_) counts.push_back(static_cast<int>(level.classes.size()));
  return counts;
}

int Hierarchy::class_index(int level, std::string_view name) const {
  const auto& classes = levels_.at(level).classes;
  for (std::size_t i = 0; i < classes.size(); ++i)
    if (classes[i] == name) return static_cast<int>(i);
  return -1;
}

int Hierarchy::parent(int level, int cls) const { return level == 0 ? -1 : levels_.at(level).parents.at(cls); }

std::vector<int> Hierarchy::path_to(int level, int cls) const {
  std::vector<int> labels(levels_.size(), kUnknownLabel);
  for (int l = level; l >= 0; --l) {
    labels[l] = cls;
    cls = parent(l, cls);
  }
  return labels;
}

bool Hierarchy::is_consistent(const std::vector<int>& labels) const {
  for (int l = 1; l < num_levels() && l < static_cast<int>(labels.size()); ++l)
    if (labels[l] != kUnknownLabel && labels[l - 1] != kUnknownLabel && parent(l, labels[l]) != labels[l - 1]) return false;
  return true;
}

}  // namespace semiflow
