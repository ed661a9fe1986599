#pragma once
// What a run folder records about how it was run, so that `semiflow run --resume DIR` continues
// it from the folder alone (also after the folder was moved or copied):
//
//   config.yaml  the config file as it was run (its relative paths are read against config_dir)
//   run.json     {config, config_dir, overrides: the --set in effect, invocations: [one record
//                per `semiflow run`: command, start time, the --set it added, each phase ran /
//                up to date / stopped with its wall time, outcome, exit status, wall time]}
#include "graph/phases.h"
#include "graph/runtime.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace semiflow::cli {

// Where a run's config comes from.
struct RunSource {
  std::filesystem::path config;        // the file read: the user's, or a run folder's config.yaml
  std::filesystem::path base_dir;      // its relative paths are read against this folder
  std::vector<std::string> overrides;  // --set assignments in effect, without out_dir
};

// The plan of `source` with `run_dir` as out_dir (when not empty).
graph::RunPlan load_plan(const RunSource& source, const std::filesystem::path& run_dir = {});

// `run --resume DIR --set ...`: the folder's config.yaml with its recorded overrides and then
// `changes`. A change to a parameter that the saved work depends on (one not declared
// safe_to_change) is refused: a ConfigError with one line per such --set naming the parameter.
RunSource resume_source(const std::filesystem::path& run_dir, const std::vector<std::string>& changes);

// run.json of a run folder, updated as the invocation goes (a killed run keeps its record).
// The folder adopts the invocation's config (config.yaml, config, overrides) at once when new,
// otherwise when a phase has finished with it: a run that its checkpoints refuse (other
// training parameters) leaves the folder resumable as it was.
class RunRecord {
 public:
  RunRecord(const graph::RunPlan& plan, const RunSource& source, std::string command,
            std::vector<std::string> added_overrides);
  void phase_finished(const graph::Phase& phase, const graph::RunResult& result, double wall_s);
  // `outcome`: "finished", "stopped by SIGINT", "failed: <message>".
  void finish(const std::string& outcome, int exit_status, bool failed = false);

 private:
  void adopt_config();
  void write() const;
  nlohmann::json& invocation() { return doc_["invocations"].back(); }
  std::filesystem::path saved_config() const { return path_.parent_path() / "config.yaml"; }

  std::filesystem::path path_;
  std::filesystem::path config_, config_dir_;  // to adopt; empty: the folder's own copy
  std::vector<std::string> overrides_;
  nlohmann::json doc_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace semiflow::cli
