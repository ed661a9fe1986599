#include "graph/node.h"

#include "graph/registry.h"

#include <cxxabi.h>
#include <fmt/format.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>

namespace semiflow::graph {
namespace {

std::string readable_type_name(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? name.get() : type.name();
}

}  // namespace

void Item::throw_wrong_type(const std::type_info& asked) const {
  throw std::runtime_error(fmt::format("item from '{}' holds {}, not the {} the node expects (check the port types)",
                                       origin, value.has_value() ? readable_type_name(value.type()) : "nothing",
                                       readable_type_name(asked)));
}

bool Node::generate(Emitter&) {
  throw std::logic_error("this node type has no inputs but does not override generate()");
}

void Node::process(Inputs&, Emitter&) {
  throw std::logic_error("this node type has inputs but does not override process()");
}

void Node::flush(Emitter&) {}

bool Node::up_to_date() const { return false; }

nlohmann::json Node::report() const { return nullptr; }

WorkProgress Node::progress() const { return {}; }

namespace detail {
bool register_node(int abi_version, SchemaFunction schema, NodeFactory factory) {
  return Registry::instance().add(abi_version, schema, factory);
}
}  // namespace detail

}  // namespace semiflow::graph
