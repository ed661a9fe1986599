#include "apps/run_folder.h"

#include "graph/config.h"
#include "nodes/checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <set>

namespace semiflow::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool sets_out_dir(const std::string& assignment) { return assignment.rfind("out_dir=", 0) == 0; }

std::vector<std::string> without_out_dir(const std::vector<std::string>& overrides) {
  std::vector<std::string> kept;
  for (const auto& assignment : overrides)
    if (!sets_out_dir(assignment)) kept.push_back(assignment);
  return kept;
}

// What `after` changes in `before` that saved work depends on, one entry per node parameter
// ("node 'train' of phase 'teacher': lr 0.1 -> 0.2"); parameters safe to change are allowed.
std::vector<std::string> unsafe_changes(const graph::RunPlan& before, const graph::RunPlan& after) {
  auto shape = [](const graph::RunPlan& plan) {
    std::vector<std::string> names;
    for (const auto& phase : plan.phases) {
      names.push_back(fmt::format("{}@{}", phase.name, phase.round));
      for (const auto& node : phase.config.nodes) names.push_back(node.name + ":" + node.type->schema.type_name());
    }
    return names;
  };
  if (shape(before) != shape(after)) return {"the run's phases or nodes"};
  std::set<std::string> seen;
  std::vector<std::string> changes;
  for (std::size_t p = 0; p < before.phases.size(); ++p)
    for (const auto& node : before.phases[p].config.nodes) {
      const graph::Params& old_params = node.params;
      const graph::Params& new_params = after.phases[p].config.node(node.name).params;
      for (const auto& [name, value] : new_params.values()) {
        const auto old_value = old_params.values().find(name);
        const std::string was = old_value == old_params.values().end() ? "(unset)" : graph::format_param(old_value->second);
        if (was == graph::format_param(value) || new_params.safe_to_change().count(name)) continue;
        auto change = fmt::format("node '{}' of phase '{}': {} {} -> {}", node.name, before.phases[p].name, name, was,
                                  graph::format_param(value));
        if (seen.insert(change).second) changes.push_back(std::move(change));
      }
    }
  return changes;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

}  // namespace

graph::RunPlan load_plan(const RunSource& source, const fs::path& run_dir) {
  auto overrides = source.overrides;
  if (!run_dir.empty()) overrides.push_back("out_dir=" + run_dir.string());
  return graph::load_run_plan(source.config, overrides, source.base_dir);
}

RunSource resume_source(const fs::path& run_dir, const std::vector<std::string>& changes) {
  const auto record_path = run_dir / "run.json";
  std::ifstream in(record_path);
  if (!in)
    throw std::runtime_error(fmt::format("{}: no run record; --resume takes a folder a `semiflow run` wrote", record_path.string()));
  const json record = json::parse(in, nullptr, false);
  if (record.is_discarded() || !record.contains("config") || !record.contains("overrides"))
    throw std::runtime_error(fmt::format("{}: not a run record (no config and overrides); was it edited?", record_path.string()));
  const fs::path original = record["config"].get<std::string>();
  RunSource source;
  // Runs recorded before config_dir was: their config is read where it was.
  source.config = fs::exists(run_dir / "config.yaml") && record.contains("config_dir") ? run_dir / "config.yaml" : original;
  source.base_dir = record.value("config_dir", original.parent_path().string());
  source.overrides = without_out_dir(record["overrides"].get<std::vector<std::string>>());

  const graph::RunPlan before = load_plan(source, run_dir);
  std::vector<std::string> refused;
  for (const auto& change : changes) {
    if (sets_out_dir(change)) {
      refused.push_back(fmt::format("--set {}: a resumed run stays in its folder; move or copy the folder instead", change));
      continue;
    }
    RunSource changed = source;
    changed.overrides.push_back(change);
    const auto differences = unsafe_changes(before, load_plan(changed, run_dir));
    if (!differences.empty())
      refused.push_back(fmt::format("--set {}: changes {}, which the run's saved work depends on; a resumed run may change only "
                                    "parameters safe to change (epochs, device, evaluation cadence: `semiflow nodes` marks "
                                    "them); start a new run with --out NEW_DIR",
                                    change, fmt::join(differences, "; ")));
  }
  if (!refused.empty()) throw graph::ConfigError(refused);
  // A new value of a key replaces its recorded one, so the record stays one assignment per key.
  for (const auto& change : changes) {
    const std::string key = change.substr(0, change.find('=') + 1);
    auto& overrides = source.overrides;
    overrides.erase(std::remove_if(overrides.begin(), overrides.end(),
                                   [&key](const std::string& recorded) { return recorded.rfind(key, 0) == 0; }),
                    overrides.end());
    overrides.push_back(change);
  }
  return source;
}

RunRecord::RunRecord(const graph::RunPlan& plan, const RunSource& source, std::string command,
                     std::vector<std::string> added_overrides)
    : path_(plan.out_dir / "run.json") {
  fs::create_directories(plan.out_dir);
  if (std::ifstream in(path_); in) {
    doc_ = json::parse(in, nullptr, false);
    if (doc_.is_discarded() || !doc_.is_object()) {
      spdlog::warn("{}: unreadable run record, starting a new one", path_.string());
      doc_ = json::object();
    }
  }
  const bool from_own_copy = fs::exists(saved_config()) && fs::equivalent(source.config, saved_config());
  if (!from_own_copy) {
    config_ = fs::absolute(source.config);
    config_dir_ = source.base_dir.empty() ? fs::absolute(source.config).parent_path() : fs::absolute(source.base_dir);
  }
  overrides_ = without_out_dir(source.overrides);
  if (!doc_.contains("invocations")) {
    doc_["invocations"] = json::array();
    adopt_config();
  }
  doc_["invocations"].push_back({{"command", std::move(command)},
                                 {"started", utc_now()},
                                 {"resumed", from_own_copy},
                                 {"set", std::move(added_overrides)},
                                 {"phases", json::array()},
                                 {"outcome", "running"}});
  write();
}

void RunRecord::adopt_config() {
  if (!config_.empty()) {
    doc_["config"] = config_.string();
    doc_["config_dir"] = config_dir_.string();
    fs::copy_file(config_, saved_config(), fs::copy_options::overwrite_existing);
    config_.clear();
  }
  doc_["overrides"] = overrides_;
}

void RunRecord::phase_finished(const graph::Phase& phase, const graph::RunResult& result, double wall_s) {
  adopt_config();
  const char* status = result.skipped ? "up to date" : result.cancelled ? "stopped" : "ran";
  invocation()["phases"].push_back({{"round", phase.round}, {"phase", phase.name}, {"status", status}, {"wall_s", wall_s}});
  write();
}

void RunRecord::finish(const std::string& outcome, int exit_status, bool failed) {
  if (!failed) adopt_config();
  invocation()["outcome"] = outcome;
  invocation()["exit_status"] = exit_status;
  invocation()["wall_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  write();
}

void RunRecord::write() const {
  write_file_atomically(path_.string(), [&](const std::string& temp) {
    std::ofstream out(temp);
    out << doc_.dump(2) << '\n';
    if (!out) throw std::runtime_error(fmt::format("{}: cannot write the run record", path_.string()));
  });
}

}  // namespace semiflow::cli
