#pragma once
// A node type's schema: the single source for its ports, parameters (types, defaults, docs) and
// concurrency. Config validation and `semiflow nodes` both read it (DALI OpSchema style).
#include "graph/param_spec.h"
#include "graph/params.h"
#include "graph/stream.h"

#include <optional>
#include <string>
#include <vector>

namespace semiflow::graph {

struct PortSpec {
  std::string name;
  std::string item_type;  // "image", "sample", "batch", ... or "any" (matches every type)
};

enum class Concurrency { Serial, Parallel };

class NodeSchema : public ParamDeclarations<NodeSchema> {
 public:
  explicit NodeSchema(std::string type_name);

  NodeSchema& doc(std::string one_line);
  NodeSchema& input(std::string port, std::string item_type);
  // At most one output port; several consumers may read it (each gets its own copy).
  NodeSchema& output(std::string port, std::string item_type);


  // Serial nodes see their inputs one at a time in a deterministic order; parallel nodes are
  // called from several threads at once (process() must be thread-safe) in no particular order.
  NodeSchema& serial(std::string why);
  NodeSchema& parallel(std::string why);
  // The node keeps inputs to emit later (a batcher). Its items count against the in-flight
  // limit until it emits them, so max_in_flight must exceed what it holds. Serial nodes only.
  NodeSchema& accumulates();
  // Config-time checks of the node's parameters and input stream facts (several may be added).
  NodeSchema& check(StaticCheck check);
  // What the node states about its output stream (graph/stream.h).
  NodeSchema& stream(StreamFunction facts);

  const std::string& type_name() const { return type_name_; }
  const std::string& doc() const { return doc_; }
  const std::vector<PortSpec>& inputs() const { return inputs_; }
  const std::optional<PortSpec>& output() const { return output_; }
  const std::vector<StaticCheck>& checks() const { return checks_; }
  const StreamFunction& stream_function() const { return stream_; }
  Concurrency concurrency() const { return concurrency_; }
  const std::string& concurrency_reason() const { return concurrency_reason_; }
  bool is_accumulating() const { return accumulates_; }
  bool is_source() const { return inputs_.empty(); }
  bool is_sink() const { return !output_.has_value(); }

  // Throws if the schema contradicts itself (duplicate names, no concurrency stated, ...).
  void check() const;
  // Reference text for `semiflow nodes`.
  std::string describe() const;
  // The same as a Markdown section (docs/nodes.md is generated from it).
  std::string describe_markdown() const;

 private:

  std::string type_name_;
  std::string doc_;
  std::vector<PortSpec> inputs_;
  std::optional<PortSpec> output_;
  std::vector<StaticCheck> checks_;
  StreamFunction stream_;
  std::optional<Concurrency> declared_concurrency_;
  Concurrency concurrency_ = Concurrency::Serial;
  std::string concurrency_reason_;
  bool accumulates_ = false;
  int output_count_ = 0;
};

}  // namespace semiflow::graph
