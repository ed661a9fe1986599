#include "graph/param_spec.h"

#include "graph/suggest.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>

namespace semiflow::graph {
namespace {

std::string range_text(const ParamSpec& spec) {
  if (spec.min && spec.max)
    return fmt::format("in {}{}, {}{}", spec.min_exclusive ? '(' : '[', *spec.min, *spec.max, spec.max_exclusive ? ')' : ']');
  if (spec.min) return fmt::format("{} {}", spec.min_exclusive ? ">" : ">=", *spec.min);
  if (spec.max) return fmt::format("{} {}", spec.max_exclusive ? "<" : "<=", *spec.max);
  return "";
}

bool in_range(const ParamSpec& spec, double v) {
  if (spec.min && (spec.min_exclusive ? !(v > *spec.min) : !(v >= *spec.min))) return false;
  if (spec.max && (spec.max_exclusive ? !(v < *spec.max) : !(v <= *spec.max))) return false;
  return true;
}

std::string check_number(const ParamSpec& spec, double v, const std::string& shown) {
  if (in_range(spec, v)) return "";
  return fmt::format("must be {}, got {}", range_text(spec), shown);
}

std::string check_choice(const ParamSpec& spec, const std::string& v) {
  if (spec.choices.empty() || std::find(spec.choices.begin(), spec.choices.end(), v) != spec.choices.end()) return "";
  return fmt::format("must be one of {}, got '{}'{}", fmt::join(spec.choices, ", "), v, did_you_mean(v, spec.choices));
}

std::string trim(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t");
  const auto end = text.find_last_not_of(" \t");
  return begin == std::string::npos ? std::string() : text.substr(begin, end - begin + 1);
}

std::optional<double> parse_number(const std::string& text) {
  double parsed = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return parsed;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t comma = text.find(','); ; comma = text.find(',', start)) {
    parts.push_back(trim(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return parts;
}

}  // namespace

std::string check_param_value(const ParamSpec& spec, const ParamValue& value) {
  if (const auto* v = std::get_if<std::int64_t>(&value)) return check_number(spec, static_cast<double>(*v), std::to_string(*v));
  if (const auto* v = std::get_if<double>(&value)) return check_number(spec, *v, fmt::format("{}", *v));
  if (const auto* v = std::get_if<std::string>(&value)) return check_choice(spec, *v);
  if (const auto* list = std::get_if<std::vector<double>>(&value)) {
    for (double v : *list)
      if (auto why = check_number(spec, v, fmt::format("{}", v)); !why.empty()) return "has an element that " + why;
  }
  if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
    for (const auto& v : *list)
      if (auto why = check_choice(spec, v); !why.empty()) return "has an element that " + why;
  }
  return "";
}

std::string describe_allowed(const ParamSpec& spec) {
  if (!spec.choices.empty()) return fmt::format("one of: {}", fmt::join(spec.choices, ", "));
  return range_text(spec);
}

std::string params_markdown_table(const std::vector<ParamSpec>& params) {
  auto cell = [](std::string text) {
    for (std::size_t at = text.find('|'); at != std::string::npos; at = text.find('|', at + 2)) text.replace(at, 1, "\\|");
    return text;
  };
  std::string text = "| parameter | type | default | allowed | meaning |\n|---|---|---|---|---|\n";
  for (const auto& p : params) {
    std::string value = p.default_value ? cell("`" + format_param(*p.default_value) + "`") : p.optional ? "none" : "required";
    if (!p.stream_fact.empty()) value = fmt::format("input stream's `{}`, else {}", p.stream_fact, value);
    text += fmt::format("| `{}` | {} | {} | {} | {} |\n", p.name, param_type_name(p.type), value, cell(describe_allowed(p)),
                        cell(p.safe_to_change ? p.doc + " (a resumed run may change it)" : p.doc));
  }
  return text;
}

std::optional<ParamValue> parse_param_text(const std::string& written, ParamType type) {
  const std::string text = trim(written);
  switch (type) {
    case ParamType::Int: {
      std::int64_t v = 0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
      return v;
    }
    case ParamType::Float:
      if (auto v = parse_number(text)) return *v;
      return std::nullopt;
    case ParamType::Bool:
      if (text == "true") return true;
      if (text == "false") return false;
      return std::nullopt;
    case ParamType::String: return text;
    case ParamType::NumberList: {
      std::vector<double> list;
      for (const auto& part : split_commas(text)) {
        auto v = parse_number(part);
        if (!v) return std::nullopt;
        list.push_back(*v);
      }
      return list;
    }
    case ParamType::StringList: return split_commas(text);
  }
  return std::nullopt;
}

}  // namespace semiflow::graph
