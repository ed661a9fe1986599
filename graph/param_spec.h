#pragma once
// Declared parameters: name, type, default, doc and the values allowed (choices, a numeric
// range). Node schemas (graph/schema.h) and augment ops (datasets/transforms.h) declare their
// parameters with the same ParamDeclarations, so one checker, one "did you mean" and one
// reference generator serve both.
#include "graph/params.h"

#include <optional>
#include <string>
#include <vector>

namespace semiflow::graph {

struct ParamSpec {
  std::string name;
  ParamType type;
  std::optional<ParamValue> default_value;  // empty: the config must set it, unless `optional`
  std::string doc;
  std::vector<std::string> choices;  // strings (and list-of-strings elements): the only values allowed
  std::optional<double> min, max;    // numbers (and list elements)
  bool min_exclusive = false;
  bool max_exclusive = false;
  // Not written in the config: the value is this fact of the node's input stream (graph/stream.h);
  // written: it must agree with the fact.
  std::string stream_fact;
  // No default and may be left out: the declarer does without it (a check says which combinations
  // are needed, e.g. an op's `size` or `width` + `height`).
  bool optional = false;
  // Changing it keeps saved work valid (a device, an evaluation cadence, more epochs): it is left
  // out of the fingerprints of checkpoints and caches, and `run --resume --set` may change it.
  bool safe_to_change = false;
};

// What is wrong with `value` for `spec` ("must be one of ...", "must be > 0, got -5"), or "".
std::string check_param_value(const ParamSpec& spec, const ParamValue& value);
// The allowed values in words: "one of: sgd, rmsprop, adamw", "> 0", "in [0, 1)"; "" when any.
std::string describe_allowed(const ParamSpec& spec);
// The reference table (parameter, type, default, allowed, meaning) as Markdown, for generated docs.
std::string params_markdown_table(const std::vector<ParamSpec>& params);
// A value written as text (an augment op's `key=value`; lists as "a,b"), converted to `type`.
std::optional<ParamValue> parse_param_text(const std::string& text, ParamType type);

// The fluent declaration methods, returning the declaring schema for chaining. The modifiers
// (one_of, at_least, ...) apply to the parameter declared just before them.
template <class Self>
class ParamDeclarations {
 public:
  Self& param(std::string name, std::int64_t v, std::string doc) { return add(std::move(name), ParamType::Int, ParamValue(v), std::move(doc)); }
  Self& param(std::string name, int v, std::string doc) { return add(std::move(name), ParamType::Int, ParamValue(std::int64_t{v}), std::move(doc)); }
  Self& param(std::string name, double v, std::string doc) { return add(std::move(name), ParamType::Float, ParamValue(v), std::move(doc)); }
  Self& param(std::string name, bool v, std::string doc) { return add(std::move(name), ParamType::Bool, ParamValue(v), std::move(doc)); }
  Self& param(std::string name, const char* v, std::string doc) { return add(std::move(name), ParamType::String, ParamValue(std::string(v)), std::move(doc)); }
  Self& param(std::string name, std::string v, std::string doc) { return add(std::move(name), ParamType::String, ParamValue(std::move(v)), std::move(doc)); }
  Self& param(std::string name, std::vector<double> v, std::string doc) { return add(std::move(name), ParamType::NumberList, ParamValue(std::move(v)), std::move(doc)); }
  Self& param(std::string name, std::vector<std::string> v, std::string doc) { return add(std::move(name), ParamType::StringList, ParamValue(std::move(v)), std::move(doc)); }
  Self& required_param(std::string name, ParamType type, std::string doc) { return add(std::move(name), type, std::nullopt, std::move(doc)); }
  Self& optional_param(std::string name, ParamType type, std::string doc) {
    add(std::move(name), type, std::nullopt, std::move(doc));
    return modify([](ParamSpec& p) { p.optional = true; });
  }

  Self& one_of(std::vector<std::string> choices) { return modify([&](ParamSpec& p) { p.choices = std::move(choices); }); }
  Self& at_least(double bound) { return modify([&](ParamSpec& p) { p.min = bound; p.min_exclusive = false; }); }
  Self& greater_than(double bound) { return modify([&](ParamSpec& p) { p.min = bound; p.min_exclusive = true; }); }
  Self& at_most(double bound) { return modify([&](ParamSpec& p) { p.max = bound; p.max_exclusive = false; }); }
  Self& less_than(double bound) { return modify([&](ParamSpec& p) { p.max = bound; p.max_exclusive = true; }); }
  Self& from_stream(std::string fact) { return modify([&](ParamSpec& p) { p.stream_fact = std::move(fact); }); }
  Self& safe_to_change() { return modify([](ParamSpec& p) { p.safe_to_change = true; }); }

  const std::vector<ParamSpec>& params() const { return params_; }
  const ParamSpec* find_param(const std::string& name) const {
    for (const auto& p : params_)
      if (p.name == name) return &p;
    return nullptr;
  }
  std::vector<std::string> param_names() const {
    std::vector<std::string> names;
    for (const auto& p : params_) names.push_back(p.name);
    return names;
  }

 protected:
  // Problems of the declarations themselves (a modifier before any parameter, a default outside
  // its own range), for the owner's check().
  std::vector<std::string> declaration_problems() const {
    std::vector<std::string> problems = misplaced_;
    for (const auto& p : params_)
      if (p.default_value)
        if (auto why = check_param_value(p, *p.default_value); !why.empty())
          problems.push_back("the default of parameter '" + p.name + "' " + why);
    return problems;
  }

 private:
  Self& add(std::string name, ParamType type, std::optional<ParamValue> value, std::string doc) {
    params_.push_back({std::move(name), type, std::move(value), std::move(doc), {}, {}, {}, false, false, {}, false, false});
    return static_cast<Self&>(*this);
  }
  template <class F>
  Self& modify(F&& change) {
    if (params_.empty()) misplaced_.push_back("a value constraint comes before any parameter");
    else change(params_.back());
    return static_cast<Self&>(*this);
  }

  std::vector<ParamSpec> params_;
  std::vector<std::string> misplaced_;
};

}  // namespace semiflow::graph
