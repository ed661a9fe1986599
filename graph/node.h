#pragma once
// The node-author API: everything a built-in node or a plugin needs, and nothing else.
//
// A node type is a class with a static schema(), a constructor taking Params, and one or more
// of generate() (sources), process() (transforms and sinks) and flush() (end of stream). One
// line registers it:
//
//   #include "graph/node.h"
//   #include "datasets/image.h"
//
//   class Threshold : public semiflow::graph::Node {
//    public:
//     static semiflow::graph::NodeSchema schema() {
//       return semiflow::graph::NodeSchema("threshold")
//           .doc("Sets pixels below `level` to 0.")
//           .input("in", "image").output("out", "image")
//           .param("level", 128, "pixels below this become 0")
//           .parallel("each image is handled on its own");
//     }
//     explicit Threshold(const semiflow::graph::Params& p) : level_(p.get_int("level")) {}
//     void process(semiflow::graph::Inputs& in, semiflow::graph::Emitter& out) override {
//       auto& image = in[0].get<semiflow::Image>();
//       for (auto& v : image.pixels) v = v < level_ ? 0 : v;
//       out.emit(std::move(in[0]));  // emit nothing to drop the item, several to split it
//     }
//    private:
//     std::int64_t level_;
//   };
//   SEMIFLOW_REGISTER_NODE(Threshold);
//
// A plugin is the same code built as a shared library and listed under `plugins:` in a config;
// examples/custom_node/ is a complete one.
#include "graph/params.h"
#include "graph/schema.h"

#include <nlohmann/json.hpp>

#include <any>
#include <cstdint>
#include <memory>
#include <string>
#include <typeinfo>

// Bumped whenever this header, schema.h or params.h change in a way that breaks plugins built
// against an older copy. Plugins normally never set it; examples/custom_node builds a
// deliberately mismatched plugin with it to show the loader refusing.
#ifndef SEMIFLOW_GRAPH_ABI_VERSION
#define SEMIFLOW_GRAPH_ABI_VERSION 3
#endif

namespace semiflow::graph {

// What flows along the edges: any copyable value plus where it came from. The origin (an image
// path, "manifest.csv:17", ...) is what error reports name when a node fails on this item.
struct Item {
  std::any value;
  std::string origin;

  Item() = default;
  template <class T>
  Item(T v, std::string from) : value(std::move(v)), origin(std::move(from)) {}

  template <class T>
  T& get() {
    if (T* typed = std::any_cast<T>(&value)) return *typed;
    throw_wrong_type(typeid(T));
  }
  template <class T>
  const T& get() const {
    if (const T* typed = std::any_cast<T>(&value)) return *typed;
    throw_wrong_type(typeid(T));
  }

 private:
  [[noreturn]] void throw_wrong_type(const std::type_info& asked) const;
};

// One process() call's inputs: one item per input port, in the schema's port order.
class Inputs {
 public:
  Inputs(Item* const* items, std::size_t count, std::uint64_t sequence)
      : items_(items), count_(count), sequence_(sequence) {}
  Item& operator[](std::size_t port) const { return *items_[port]; }
  std::size_t size() const { return count_; }
  // Deterministic position of this call in the node's input stream (use it to seed per-item
  // randomness). Unique per call unless an upstream parallel node split one item into several.
  std::uint64_t sequence() const { return sequence_; }

 private:
  Item* const* items_;
  std::size_t count_;
  std::uint64_t sequence_;
};

// Where a node puts its outputs. Emitting is only allowed from nodes with an output port, and
// from flush() only for serial nodes (a parallel node has no place in the order to put it).
class Emitter {
 public:
  virtual void emit(Item item) = 0;
  template <class T>
  void emit(T value, std::string origin) {
    emit(Item(std::move(value), std::move(origin)));
  }

 protected:
  ~Emitter() = default;
};

// How far a node is through the work it knows about (training steps, images to label), for
// progress bars with a rate and an ETA.
struct WorkProgress {
  std::uint64_t done = 0;
  std::uint64_t total = 0;  // 0: unknown
  std::string unit;         // "steps", "images", ...
};

class Node {
 public:
  virtual ~Node() = default;
  // Sources: emit the next item(s); return false once there is nothing left. Called serially.
  virtual bool generate(Emitter& out);
  // Transforms and sinks: map one call's inputs to zero or more outputs.
  virtual void process(Inputs& in, Emitter& out);
  // End of stream: everything upstream is done (a batcher emits its last partial batch here).
  virtual void flush(Emitter& out);
  // Sinks whose result already exists for exactly these inputs (a complete cache with matching
  // fingerprints, a finished training run) say so; when every sink of a graph does, the run is
  // skipped and no source starts. Asked once, after every node is constructed.
  virtual bool up_to_date() const;
  // What the node achieved, for the run's summary (final metrics, cache hit or miss...); null
  // when there is nothing to say. Asked after the run, or instead of it when it was skipped.
  virtual nlohmann::json report() const;
  // Asked from a monitoring thread while the node works: read atomics only. Default: unknown.
  virtual WorkProgress progress() const;
};

using NodeFactory = std::unique_ptr<Node> (*)(const Params& params);
using SchemaFunction = NodeSchema (*)();

namespace detail {
template <class NodeClass>
std::unique_ptr<Node> make_node(const Params& params) {
  return std::make_unique<NodeClass>(params);
}
// Stable entry point for registrations: it checks abi_version before calling anything else, so a
// plugin built against another version is refused without touching its schema or factory.
// Never throws (it runs inside static initialisers); problems are reported by the registry.
bool register_node(int abi_version, SchemaFunction schema, NodeFactory factory);
}  // namespace detail

}  // namespace semiflow::graph

// Every library built with this header exports the ABI version it was built against; the
// plugin loader reads it from the plugin itself. Weak (not inline), so each library keeps its own.
extern "C" __attribute__((weak, visibility("default"))) int semiflow_graph_abi_version() {
  return SEMIFLOW_GRAPH_ABI_VERSION;
}

#define SEMIFLOW_GRAPH_CONCAT_(a, b) a##b
#define SEMIFLOW_GRAPH_CONCAT(a, b) SEMIFLOW_GRAPH_CONCAT_(a, b)
// Registers NodeClass (needs `static NodeSchema schema()` and a `NodeClass(const Params&)`
// constructor) under its schema's type name.
#define SEMIFLOW_REGISTER_NODE(NodeClass)                                                          \
  [[maybe_unused]] static const bool SEMIFLOW_GRAPH_CONCAT(semiflow_node_registered_, __LINE__) = \
      ::semiflow::graph::detail::register_node(SEMIFLOW_GRAPH_ABI_VERSION, &NodeClass::schema,    \
                                               &::semiflow::graph::detail::make_node<NodeClass>)
