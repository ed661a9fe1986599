#pragma once
// Node parameters: the typed values a pipeline config gives a node, checked against its schema.
#include <cstdint>
#include <filesystem>
#include <map>
#include <utility>
#include <string>
#include <variant>
#include <vector>

namespace semiflow::graph {

enum class ParamType { Int, Float, Bool, String, NumberList, StringList };

using ParamValue = std::variant<std::int64_t, double, bool, std::string, std::vector<double>, std::vector<std::string>>;

// "int", "float", "bool", "string", "list of numbers", "list of strings".
const char* param_type_name(ParamType type);
ParamType param_type_of(const ParamValue& value);
// A value as a config would write it: 3, 0.5, true, text, [1, 2].
std::string format_param(const ParamValue& value);

// The parameters of one node instance, complete (defaults filled in) and of the declared types.
class Params {
 public:
  Params() = default;
  Params(std::string node_name, std::filesystem::path config_dir, std::map<std::string, ParamValue> values)
      : node_name_(std::move(node_name)), config_dir_(std::move(config_dir)), values_(std::move(values)) {}

  std::int64_t get_int(const std::string& name) const { return get<std::int64_t>(name); }
  double get_float(const std::string& name) const { return get<double>(name); }
  bool get_bool(const std::string& name) const { return get<bool>(name); }
  const std::string& get_string(const std::string& name) const { return get<std::string>(name); }
  const std::vector<double>& get_numbers(const std::string& name) const { return get<std::vector<double>>(name); }
  const std::vector<std::string>& get_strings(const std::string& name) const {
    return get<std::vector<std::string>>(name);
  }
  // A string parameter naming a file, resolved relative to the config file's folder.
  std::filesystem::path get_path(const std::string& name) const;
  // Any path written in the config (e.g. an entry of a list parameter), resolved the same way.
  std::filesystem::path resolve_path(const std::string& written) const;

  const std::string& node_name() const { return node_name_; }
  // Identifies everything upstream of this node: the types and parameters of every node its
  // inputs come from, transitively (not the content of files they read). Nodes that cache
  // results key them on it; empty for a source.
  const std::string& input_fingerprint() const { return input_fingerprint_; }
  void set_input_fingerprint(std::string fingerprint) { input_fingerprint_ = std::move(fingerprint); }
  const std::map<std::string, ParamValue>& values() const { return values_; }

 private:
  template <class T>
  const T& get(const std::string& name) const {
    const ParamValue& value = find(name);
    if (const T* typed = std::get_if<T>(&value)) return *typed;
    throw_wrong_type(name, value, ParamValue(T{}));
  }
  const ParamValue& find(const std::string& name) const;
  [[noreturn]] void throw_wrong_type(const std::string& name, const ParamValue& actual, const ParamValue& asked) const;

  std::string node_name_;
  std::filesystem::path config_dir_;
  std::map<std::string, ParamValue> values_;
  std::string input_fingerprint_;
};

// FNV-1a over "name=value;" for every parameter not in `excluded`, as 16 hex digits: stable
// across builds and standard libraries (files written with it outlive both).
std::string fingerprint_params(const std::string& seed, const Params& params, const std::vector<std::string>& excluded = {});

}  // namespace semiflow::graph
