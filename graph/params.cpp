#include "graph/params.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <stdexcept>

namespace semiflow::graph {

const char* param_type_name(ParamType type) {
  switch (type) {
    case ParamType::Int: return "int";
    case ParamType::Float: return "float";
    case ParamType::Bool: return "bool";
    case ParamType::String: return "string";
    case ParamType::NumberList: return "list of numbers";
    case ParamType::StringList: return "list of strings";
  }
  return "?";
}

ParamType param_type_of(const ParamValue& value) {
  // The variant's alternatives are declared in ParamType's order.
  return static_cast<ParamType>(value.index());
}

std::string format_param(const ParamValue& value) {
  struct Formatter {
    std::string operator()(std::int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const { return fmt::format("{}", v); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const std::string& v) const { return v.empty() ? "\"\"" : v; }
    std::string operator()(const std::vector<double>& v) const { return fmt::format("[{}]", fmt::join(v, ", ")); }
    std::string operator()(const std::vector<std::string>& v) const {
      return fmt::format("[{}]", fmt::join(v, ", "));
    }
  };
  return std::visit(Formatter{}, value);
}

std::filesystem::path Params::get_path(const std::string& name) const { return resolve_path(get_string(name)); }

std::filesystem::path Params::resolve_path(const std::string& written) const {
  std::filesystem::path path = written;
  return path.is_absolute() ? path : config_dir_ / path;
}

std::string fingerprint_params(const std::string& seed, const Params& params, const std::vector<std::string>& excluded) {
  std::uint64_t hash = 14695981039346656037ull;
  auto mix = [&hash](const std::string& text) {
    for (const char c : text) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ull;
    }
  };
  mix(seed);
  for (const auto& [name, value] : params.values()) {
    if (std::find(excluded.begin(), excluded.end(), name) != excluded.end()) continue;
    mix(fmt::format("{}={};", name, format_param(value)));
  }
  return fmt::format("{:016x}", hash);
}

const ParamValue& Params::find(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    throw std::logic_error(fmt::format("node '{}' asked for parameter '{}', which its schema does not declare",
                                       node_name_, name));
  }
  return it->second;
}

void Params::throw_wrong_type(const std::string& name, const ParamValue& actual, const ParamValue& asked) const {
  throw std::logic_error(fmt::format("node '{}' read parameter '{}' as {}, but its schema declares it {}", node_name_,
                                     name, param_type_name(param_type_of(asked)),
                                     param_type_name(param_type_of(actual))));
}

}  // namespace semiflow::graph
