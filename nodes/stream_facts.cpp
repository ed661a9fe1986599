#include "nodes/stream_facts.h"

#include "datasets/transforms.h"
#include "models/precision.h"
#include "nodes/device.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

namespace semiflow::facts {

graph::StreamFact stated(const graph::Params& params, const std::string& param, graph::ParamValue value) {
  return {std::move(value), fmt::format("node '{}' ({})", params.node_name(), param)};
}

std::optional<std::int64_t> int_fact(const graph::StreamFacts& facts, const std::string& name) {
  const auto found = facts.find(name);
  if (found == facts.end()) return std::nullopt;
  if (const auto* v = std::get_if<std::int64_t>(&found->second.value)) return *v;
  return std::nullopt;
}

std::optional<std::int64_t> manifest_rows(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  std::int64_t rows = 0;
  while (std::getline(in, line))
    rows += line.find_first_not_of(" \t\r") != std::string::npos;  // as load_manifest, blank lines are no rows
  return rows;
}

void require_file(const graph::Params& params, const std::string& param, graph::Diagnostics& out,
                  const std::string& what_to_do) {
  const std::string& written = params.get_string(param);
  if (written.empty()) return;
  std::error_code error;
  if (!std::filesystem::is_regular_file(params.get_path(param), error))
    out.error(param, fmt::format("{} '{}' does not exist ({}); {}", param, written, params.get_path(param).string(), what_to_do));
}

void check_ops(const graph::Params& params, const std::string& param, graph::Diagnostics& out) {
  const std::string prefix = "augment[";
  for (auto problem : TransformPipeline::check_op_texts(params.get_strings(param))) {
    if (problem.rfind(prefix, 0) == 0) problem.replace(0, prefix.size() - 1, param);
    out.error(param, problem);
  }
}

void check_device(const graph::Params& params, graph::Diagnostics& out) {
  try {
    resolve_device(params.get_string("device"));
  } catch (const std::exception& e) {
    out.error("device", e.what());
  }
}

void check_precision(const graph::Params& params, graph::Diagnostics& out) {
  try {
    check_precision(parse_precision(params.get_string("precision")), resolve_device(params.get_string("device")).type());
  } catch (const std::invalid_argument& e) {
    out.error("precision", e.what());
  } catch (const std::exception&) {
    // a bad device is check_device's to report
  }
}

}  // namespace semiflow::facts
