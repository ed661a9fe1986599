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

NodeSchema& NodeSchema::check(StaticCheck check) {
  checks_.push_back(std::move(check));
  return *this;
}

NodeSchema& NodeSchema::stream(StreamFunction facts) {
  stream_ = std::move(facts);
  return *this;
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
  std::set<std::string> params{"name", "type", "input", "inputs", "extends"};
  for (const auto& p : this->params())
    if (!params.insert(p.name).second) fail(fmt::format("parameter '{}' is declared twice or is a reserved key", p.name));
  for (const auto& problem : declaration_problems()) fail(problem);
}

std::string NodeSchema::describe() const {
  std::string text = fmt::format("{}\n  {}\n", type_name_, doc_.empty() ? "(no description)" : doc_);
  for (const auto& port : inputs_) text += fmt::format("  input   {}: {}\n", port.name, port.item_type);
  if (output_) text += fmt::format("  output  {}: {}\n", output_->name, output_->item_type);
  text += fmt::format("  {}{}: {}\n", concurrency_ == Concurrency::Serial ? "serial" : "parallel",
                      accumulates_ ? ", accumulates" : "", concurrency_reason_);
  for (const auto& p : params()) {
    const std::string written = p.default_value ? format_param(*p.default_value) : "";
    std::string value = p.default_value ? "= " + written : p.optional ? "(optional)" : "(required)";
    if (!p.stream_fact.empty()) value = fmt::format("= the input stream's {}, else {}", p.stream_fact, written);
    const std::string allowed = describe_allowed(p);
    text += fmt::format("  param   {} ({}{}) {}  {}\n", p.name, param_type_name(p.type), allowed.empty() ? "" : ", " + allowed,
                        value, p.doc);
  }
  return text;
}

std::string NodeSchema::describe_markdown() const {
  std::string text = fmt::format("## `{}`\n\n{}\n\n", type_name_, doc_);
  std::vector<std::string> ports;
  for (const auto& port : inputs_) ports.push_back(fmt::format("input `{}`: {}", port.name, port.item_type));
  if (output_) ports.push_back(fmt::format("output `{}`: {}", output_->name, output_->item_type));
  if (inputs_.empty()) ports.push_back("source (no inputs)");
  if (!output_) ports.push_back("sink (no output)");
  text += fmt::format("{}. {}{}: {}.\n\n", fmt::join(ports, "; "), concurrency_ == Concurrency::Serial ? "Serial" : "Parallel",
                      accumulates_ ? ", accumulates" : "", concurrency_reason_);
  if (params().empty()) return text;
  return text + params_markdown_table(params()) + "\n";
}

}  // namespace semiflow::graph
