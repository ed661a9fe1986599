#include "graph/plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace semiflow::graph {

ExecutionPlan lower(const PipelineConfig& config) {
  ExecutionPlan plan;
  plan.graph_threads = config.graph_threads;
  plan.max_in_flight = config.max_in_flight;
  int sources = 0;
  for (const NodeDef& def : config.nodes) {
    const NodeSchema& schema = def.type->schema;
    NodePlan node;
    node.name = def.name;
    node.type = schema.type_name();
    node.inputs = def.inputs;
    node.serial = schema.concurrency() == Concurrency::Serial;
    node.accumulates = schema.is_accumulating();
    if (schema.is_source()) {
      if (static_cast<std::size_t>(sources) == kMaxSources)
        throw ConfigError(fmt::format("{}: more than {} source nodes", config.path.string(), kMaxSources));
      node.source = sources++;
      node.limit = config.max_in_flight;
    } else {
      node.ordered = node.serial || node.inputs.size() > 1;
      node.zip = node.inputs.size() > 1;
    }
    plan.nodes.push_back(std::move(node));
  }
  // Consumers in the order of their ports' appearance, as the runtime makes the routes.
  for (std::size_t i = 0; i < plan.nodes.size(); ++i)
    for (std::size_t producer : plan.nodes[i].inputs) plan.nodes[producer].consumers.push_back(i);
  for (auto& node : plan.nodes)
    if (node.source >= 0) node.router = node.consumers.size() != 1;
  return plan;
}

std::string ExecutionPlan::describe() const {
  std::string text = fmt::format("plan: {} nodes, {} graph threads, max_in_flight {}\n", nodes.size(), graph_threads, max_in_flight);
  auto names = [&](const std::vector<std::size_t>& indices) {
    std::vector<std::string> out;
    for (std::size_t i : indices) out.push_back(nodes[i].name);
    return fmt::format("{}", fmt::join(out, ", "));
  };
  for (const auto& node : nodes) {
    std::vector<std::string> parts;
    if (node.source >= 0) {
      parts.push_back(fmt::format("source {} -> limiter {}", node.source, node.limit));
      if (node.router) parts.push_back("router (unlimited)");
    } else {
      if (node.ordered) parts.push_back(fmt::format("{} sequencer{}", node.inputs.size(), node.inputs.size() > 1 ? "s" : ""));
      if (node.zip) parts.push_back("zip (serial)");
      parts.push_back(fmt::format("{} stage{}", node.serial ? "serial" : "unlimited", node.accumulates ? ", accumulates" : ""));
    }
    text += fmt::format("  {} ({}): {}", node.name, node.type, fmt::join(parts, ", "));
    if (!node.inputs.empty()) text += fmt::format(" <- {}", names(node.inputs));
    if (!node.consumers.empty()) text += fmt::format(" -> {}", names(node.consumers));
    text += '\n';
  }
  return text;
}

}  // namespace semiflow::graph
