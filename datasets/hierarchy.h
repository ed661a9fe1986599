#pragma once
// A class hierarchy: ordered levels from coarse to fine; every class below the top level has
// one parent in the level above. Labels are class indices per level; -1 means "unknown".
#include <string>
#include <string_view>
#include <vector>

namespace semiflow {

inline constexpr int kUnknownLabel = -1;

struct HierarchyLevel {
  std::string name;
  std::vector<std::string> classes;
  std::vector<int> parents;  // index into the previous level's classes; empty for the top level
};

class Hierarchy {
 public:
  Hierarchy() = default;
  explicit Hierarchy(std::vector<HierarchyLevel> levels, std::string source = "<hierarchy>");

  // Reads and validates a hierarchy YAML file; errors name the file, line and entry.
  static Hierarchy load(const std::string& path);
  static Hierarchy parse(const std::string& yaml_text, const std::string& source);
  // A single level named "class" with classes "0".."n-1", for flat classification.
  static Hierarchy flat(int num_classes);

  std::string to_yaml() const;
  void save(const std::string& path) const;

  int num_levels() const { return static_cast<int>(levels_.size()); }
  const HierarchyLevel& level(int index) const { return levels_.at(index); }
  const std::vector<HierarchyLevel>& levels() const { return levels_; }
  std::vector<int> classes_per_level() const;
  const std::string& source() const { return source_; }

  // Index of `name` at `level`, or -1 when the level has no such class.
  int class_index(int level, std::string_view name) const;
  // Parent class index of `cls` (at `level`) in level-1; -1 for the top level.
  int parent(int level, int cls) const;
  // The full label path of a class: its ancestors filled in, finer levels -1.
  std::vector<int> path_to(int level, int cls) const;
  // True when every labeled level is the parent of the next labeled level below it.
  bool is_consistent(const std::vector<int>& labels) const;

 private:
  std::vector<HierarchyLevel> levels_;
  std::string source_;
};

}  // namespace semiflow
