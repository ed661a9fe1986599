#include "graph/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace semiflow::graph {

Registry& Registry::instance() {
  static Registry registry;
  return registry;
}

const NodeType* Registry::find(const std::string& type_name) const {
  std::lock_guard lock(mutex_);
  for (const auto& type : types_)
    if (type.schema.type_name() == type_name) return &type;
  return nullptr;
}

const NodeType& Registry::get(const std::string& type_name) const {
  if (const NodeType* type = find(type_name)) return *type;
  throw std::invalid_argument(fmt::format("unknown node type '{}'; known types: {}", type_name, fmt::join(names(), ", ")));
}

std::vector<const NodeType*> Registry::all() const {
  std::lock_guard lock(mutex_);
  std::vector<const NodeType*> sorted;
  for (const auto& type : types_) sorted.push_back(&type);
  std::sort(sorted.begin(), sorted.end(),
            [](const NodeType* a, const NodeType* b) { return a->schema.type_name() < b->schema.type_name(); });
  return sorted;
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> result;
  for (const NodeType* type : all()) result.push_back(type->schema.type_name());
  return result;
}

std::vector<std::string> Registry::take_errors() {
  std::lock_guard lock(mutex_);
  return std::exchange(errors_, {});
}

void Registry::throw_if_errors() {
  auto errors = take_errors();
  if (!errors.empty()) throw std::runtime_error(fmt::format("{}", fmt::join(errors, "\n")));
}

void Registry::set_loading_origin(std::string origin) {
  std::lock_guard lock(mutex_);
  loading_origin_ = std::move(origin);
}

bool Registry::add(int abi_version, SchemaFunction schema_function, NodeFactory factory) {
  std::lock_guard lock(mutex_);
  if (abi_version != kAbiVersion) {
    errors_.push_back(fmt::format("{}: built against semiflow graph ABI {}, this semiflow has ABI {}; rebuild it "
                                  "against this version's graph/node.h",
                                  loading_origin_, abi_version, kAbiVersion));
    return false;
  }
  try {
    NodeSchema schema = schema_function();
    schema.check();
    for (const auto& type : types_) {
      if (type.schema.type_name() == schema.type_name()) {
        errors_.push_back(fmt::format("{}: node type '{}' is already registered by {}; rename one of them",
                                      loading_origin_, schema.type_name(), type.origin));
        return false;
      }
    }
    types_.push_back({std::move(schema), factory, loading_origin_});
    return true;
  } catch (const std::exception& e) {
    errors_.push_back(fmt::format("{}: {}", loading_origin_, e.what()));
    return false;
  }
}

}  // namespace semiflow::graph
