#include "graph/params.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>
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

std::map<std::string, std::string> fingerprinted_values(const Params& params, const std::vector<std::string>& excluded) {
  auto as_written = [&params](const std::string& text) {
    const std::string& run_dir = params.run_dir();
    const bool inside = !run_dir.empty() && text.compare(0, run_dir.size(), run_dir) == 0 &&
                        (text.size() == run_dir.size() || text[run_dir.size()] == '/');
    return inside ? "${out_dir}" + text.substr(run_dir.size()) : text;
  };
  std::map<std::string, std::string> values;
  for (const auto& [name, value] : params.values()) {
    if (params.safe_to_change().count(name) || std::find(excluded.begin(), excluded.end(), name) != excluded.end()) continue;
    if (const auto* text = std::get_if<std::string>(&value)) {
      values[name] = format_param(as_written(*text));
    } else if (const auto* texts = std::get_if<std::vector<std::string>>(&value)) {
      std::vector<std::string> written;
      for (const auto& t : *texts) written.push_back(as_written(t));
      values[name] = format_param(written);
    } else {
      values[name] = format_param(value);
    }
  }
  return values;
}

std::string fingerprint_values(const std::string& seed, const std::map<std::string, std::string>& values) {
  std::uint64_t hash = 14695981039346656037ull;
  auto mix = [&hash](const std::string& text) {
    for (const char c : text) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ull;
    }
  };
  mix(seed);
  for (const auto& [name, value] : values) mix(fmt::format("{}={};", name, value));
  return fmt::format("{:016x}", hash);
}

std::string fingerprint_params(const std::string& seed, const Params& params, const std::vector<std::string>& excluded) {
  return fingerprint_values(seed, fingerprinted_values(params, excluded));
}

std::string describe_changed_values(const std::map<std::string, std::string>& before,
                                    const std::map<std::string, std::string>& now) {
  std::vector<std::string> changes;
  auto value_in = [](const std::map<std::string, std::string>& values, const std::string& name) {
    const auto found = values.find(name);
    return found == values.end() ? std::string("(unset)") : found->second;
  };
  std::set<std::string> names;
  for (const auto& [name, value] : before) names.insert(name);
  for (const auto& [name, value] : now) names.insert(name);
  for (const auto& name : names)
    if (value_in(before, name) != value_in(now, name))
      changes.push_back(fmt::format("{} {} -> {}", name, value_in(before, name), value_in(now, name)));
  return fmt::format("{}", fmt::join(changes, ", "));
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
