#pragma once
// The process-wide table of node types, filled by SEMIFLOW_REGISTER_NODE in built-in layers and
// in plugins.
#include "graph/node.h"

#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace semiflow::graph {

inline constexpr int kAbiVersion = SEMIFLOW_GRAPH_ABI_VERSION;

struct NodeType {
  NodeSchema schema;
  NodeFactory factory;
  std::string origin;  // "built-in" or the plugin's path
};

class Registry {
 public:
  static Registry& instance();

  // Throws, listing the known types, when there is no such type.
  const NodeType& get(const std::string& type_name) const;
  const NodeType* find(const std::string& type_name) const;
  std::vector<const NodeType*> all() const;  // sorted by name
  std::vector<std::string> names() const;

  // Registration problems (a schema that contradicts itself, a duplicate type name, a wrong ABI)
  // are collected, because they happen in static initialisers where nothing can be thrown.
  std::vector<std::string> take_errors();
  // Throws with every collected problem, if any.
  void throw_if_errors();

  // Registrations made while set are attributed to this plugin path (in `semiflow nodes`).
  void set_loading_origin(std::string origin);

  bool add(int abi_version, SchemaFunction schema, NodeFactory factory);

 private:
  Registry() = default;
  mutable std::mutex mutex_;
  std::deque<NodeType> types_;  // deque: references handed out stay valid as plugins add types
  std::vector<std::string> errors_;
  std::string loading_origin_ = "built-in";
};

}  // namespace semiflow::graph
