#pragma once
// A node type's schema: the single source for its ports, parameters (types, defaults, docs) and
// concurrency. Config validation and `semiflow nodes` both read it (DALI OpSchema style).
#include "graph/params.h"

#include <optional>
#include <string>
#include <vector>

namespace semiflow::graph {

struct PortSpec {
  std::string name;
  std::string item_type;  // "image", "sample", "batch", ... or "any" (matches every type)
};

struct ParamSpec {
  std::string name;
  ParamType type;
  std::optional<ParamValue> default_value;  // empty: the config must set it
  std::string doc;
};

enum class Concurrency { Serial, Parallel };

class NodeSchema {
 public:
  explicit NodeSchema(std::string type_name);

  NodeSchema& doc(std::string one_line);
  NodeSchema& input(std::string port, std::string item_type);
  // At most one output port; several consumers may read it (each gets its own copy).
  NodeSchema& output(std::string port, std::string item_type);

  NodeSchema& param(std::string name, std::int64_t default_value, std::string doc);
  NodeSchema& param(std::string name, int default_value, std::string doc);
  NodeSchema& param(std::string name, double default_value, std::string doc);
  NodeSchema& param(std::string name, bool default_value, std::string doc);
  NodeSchema& param(std::string name, const char* default_value, std::string doc);
  NodeSchema& param(std::string name, std::string default_value, std::string doc);
  NodeSchema& param(std::string name, std::vector<double> default_value, std::string doc);
  NodeSchema& param(std::string name, std::vector<std::string> default_value, std::string doc);
  NodeSchema& required_param(std::string name, ParamType type, std::string doc);

  // Serial nodes see their inputs one at a time in a deterministic order; parallel nodes are
  // called from several threads at once (process() must be thread-safe) in no particular order.
  NodeSchema& serial(std::string why);
  NodeSchema& parallel(std::string why);
  // The node keeps inputs to emit later (a batcher). Its items count against the in-flight
  // limit until it emits them, so max_in_flight must exceed what it holds. Serial nodes only.
  NodeSchema& accumulates();

  const std::string& type_name() const { return type_name_; }
  const std::string& doc() const { return doc_; }
  const std::vector<PortSpec>& inputs() const { return inputs_; }
  const std::optional<PortSpec>& output() const { return output_; }
  const std::vector<ParamSpec>& params() const { return params_; }
  const ParamSpec* find_param(const std::string& name) const;
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
  NodeSchema& add_param(std::string name, ParamType type, std::optional<ParamValue> value, std::string doc);

  std::string type_name_;
  std::string doc_;
  std::vector<PortSpec> inputs_;
  std::optional<PortSpec> output_;
  std::vector<ParamSpec> params_;
  std::optional<Concurrency> declared_concurrency_;
  Concurrency concurrency_ = Concurrency::Serial;
  std::string concurrency_reason_;
  bool accumulates_ = false;
  int output_count_ = 0;
};

}  // namespace semiflow::graph
