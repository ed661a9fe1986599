#include "graph/schema.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>
#include <stdexcept>

namespace semiflow::graph {

NodeSchema::NodeSchema(std::string type_name) : type_name_(std::move(type_name)) {}

NodeSchema& NodeSchema::doc(std::string one_line) {
  doc_ = std::move(one_line);
  return *this;
}

NodeSchema& NodeSchema::input(std::string port, std::string item_type) {
  inputs_.push_back({std::move(port), std::move(item_type)});
  return *this;
}

NodeSchema& NodeSchema::output(std::string port, std::string item_type) {
  ++output_count_;
  output_ = PortSpec{std::move(port), std::move(item_type)};
  return *this;
}

NodeSchema& NodeSchema::add_param(std::string name, ParamType type, std::optional<ParamValue> value,
                                  std::string doc) {
  params_.push_back({std::move(name), type, std::move(value), std::move(doc)});
  return *this;
}

NodeSchema& NodeSchema::param(std::string name, std::int64_t v, std::string doc) {
  return add_param(std::move(name), ParamType::Int, ParamValue(v), std::move(doc));
}
NodeSchema& NodeSchema::param(std::string name, int v, std::string doc) {
  return add_param(std::move(name), ParamType::Int, ParamValue(std::int64_t{v}), std::move(doc));
}
NodeSchema& NodeSchema::param(std::string name, double v, std::string doc) {
  return add_param(std::move(name), ParamType::Float, ParamValue(v), std::move(doc));
}
NodeSchema& NodeSchema::param(std::string name, bool v, std::string doc) {
  return add_param(std::move(name), ParamType::Bool, ParamValue(v), std::move(doc));
}
NodeSchema& NodeSchema::param(std::string name, const char* v, std::string doc) {
  return add_param(std::move(name), ParamType::String, ParamValue(std::string(v)), std::move(doc));
}
NodeSchema& NodeSchema::param(std::string name, std::string v, std::string doc) {
  return add_param(std::move(name), ParamType::String, ParamValue(std::move(v)), std::move(doc));
}
NodeSchema& NodeSchema::param(std::string name, std::vector<double> v, std::string doc) {
  return add_param(std::move(name), ParamType::NumberList, ParamValue(std::move(v)), std::move(doc));
}
NodeSchema& NodeSchema::param(std::string name, std::vector<std::string> v, std::string doc) {
  return add_param(std::move(name), ParamType::StringList, ParamValue(std::move(v)), std::move(doc));
}
NodeSchema& NodeSchema::required_param(std::string name, ParamType type, std::string doc) {
  return add_param(std::move(name), type, std::nullopt, std::move(doc));
}

NodeSchema& NodeSchema::serial(std::string why) {
  declared_concurrency_ = concurrency_ = Concurrency::Serial;
  concurrency_reason_ = std::move(why);
  return *this;
}

NodeSchema& NodeSchema::parallel(std::string why) {
  declared_concurrency_ = concurrency_ = Concurrency::Parallel;
  concurrency_reason_ = std::move(why);
  return *this;
}

NodeSchema& NodeSchema::accumulates() {
  accumulates_ = true;
  return *this;
}

const ParamSpec* NodeSchema::find_param(const std::string& name) const {
  for (const auto& p : params_)
    if (p.name == name) return &p;
  return nullptr;
}

void NodeSchema::check() const {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(fmt::format("node type '{}': {}", type_name_, why));
  };
  if (type_name_.empty()) throw std::invalid_argument("a node type has an empty name");
  if (!declared_concurrency_) fail("the schema states no concurrency; add .serial(why) or .parallel(why)");
  if (output_count_ > 1) fail("more than one output port; a node has at most one output (fan it out instead)");
  if (accumulates_ && concurrency_ != Concurrency::Serial) fail("accumulates() needs .serial(): only a serial node can hold items in order");
  if (inputs_.empty() && concurrency_ != Concurrency::Serial) fail("a source (no inputs) must be serial");
  if (inputs_.empty() && !output_) fail("no inputs and no output: it can neither produce nor consume");
  std::set<std::string> names;
  for (const auto& port : inputs_)
    if (!names.insert(port.name).second) fail(fmt::format("input port '{}' is declared twice", port.name));
  // These keys configure the node itself, so a parameter cannot take them.
  std::set<std::string> params{"name", "type", "input", "inputs"};
  for (const auto& p : params_)
    if (!params.insert(p.name).second) fail(fmt::format("parameter '{}' is declared twice or is a reserved key", p.name));
}

std::string NodeSchema::describe() const {
  std::string text = fmt::format("{}\n  {}\n", type_name_, doc_.empty() ? "(no description)" : doc_);
  for (const auto& port : inputs_) text += fmt::format("  input   {}: {}\n", port.name, port.item_type);
  if (output_) text += fmt::format("  output  {}: {}\n", output_->name, output_->item_type);
  text += fmt::format("  {}{}: {}\n", concurrency_ == Concurrency::Serial ? "serial" : "parallel",
                      accumulates_ ? ", accumulates" : "", concurrency_reason_);
  for (const auto& p : params_) {
    std::string value = p.default_value ? "= " + format_param(*p.default_value) : "(required)";
    text += fmt::format("  param   {} ({}) {}  {}\n", p.name, param_type_name(p.type), value, p.doc);
  }
  return text;
}

std::string NodeSchema::describe_markdown() const {
  auto cell = [](std::string text) {
    for (std::size_t at = text.find('|'); at != std::string::npos; at = text.find('|', at + 2)) text.replace(at, 1, "\\|");
    return text;
  };
  std::string text = fmt::format("## `{}`\n\n{}\n\n", type_name_, doc_);
  std::vector<std::string> ports;
  for (const auto& port : inputs_) ports.push_back(fmt::format("input `{}`: {}", port.name, port.item_type));
  if (output_) ports.push_back(fmt::format("output `{}`: {}", output_->name, output_->item_type));
  if (inputs_.empty()) ports.push_back("source (no inputs)");
  if (!output_) ports.push_back("sink (no output)");
  text += fmt::format("{}. {}{}: {}.\n\n", fmt::join(ports, "; "), concurrency_ == Concurrency::Serial ? "Serial" : "Parallel",
                      accumulates_ ? ", accumulates" : "", concurrency_reason_);
  if (params_.empty()) return text;
  text += "| parameter | type | default | meaning |\n|---|---|---|---|\n";
  for (const auto& p : params_)
    text += fmt::format("| `{}` | {} | {} | {} |\n", p.name, param_type_name(p.type),
                        p.default_value ? cell("`" + format_param(*p.default_value) + "`") : "required", cell(p.doc));
  return text + "\n";
}

}  // namespace semiflow::graph
