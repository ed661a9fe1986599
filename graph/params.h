#pragma once
// Node parameters: the typed values a pipeline config gives a node, checked against its schema.
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
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

  // Parameters whose change keeps saved work valid (ParamSpec::safe_to_change): not fingerprinted.
  const std::set<std::string>& safe_to_change() const { return safe_to_change_; }
  void set_safe_to_change(std::set<std::string> names) { safe_to_change_ = std::move(names); }
  // The run folder as its paths were written here (`${out_dir}` expanded to this); fingerprints
  // write it back as `${out_dir}`, so a moved or copied run folder keeps them.
  const std::string& run_dir() const { return run_dir_; }
  void set_run_dir(std::string written) { run_dir_ = std::move(written); }

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
  std::set<std::string> safe_to_change_;
  std::string run_dir_;
};

// What saved work (a checkpoint, a cache) depends on: every parameter except those safe to change
// and `excluded`, formatted as the config states it, the run folder written `${out_dir}`.
std::map<std::string, std::string> fingerprinted_values(const Params& params, const std::vector<std::string>& excluded = {});
// FNV-1a over `seed` and "name=value;" of fingerprinted_values, as 16 hex digits: stable across
// builds and standard libraries (files written with it outlive both).
std::string fingerprint_params(const std::string& seed, const Params& params, const std::vector<std::string>& excluded = {});
std::string fingerprint_values(const std::string& seed, const std::map<std::string, std::string>& values);
// The parameters that differ, "lr 0.1 -> 0.2, arch tiny -> b0" ("(unset)" for one side missing).
std::string describe_changed_values(const std::map<std::string, std::string>& before,
                                    const std::map<std::string, std::string>& now);

}  // namespace semiflow::graph
