#pragma once
// Multi-phase runs. A config with `phases:` instead of `nodes:` describes several graphs run one
// after another, repeated over rounds where asked (Noisy Student: a teacher once, then each round
// pseudo-labelling and a student that becomes the next round's teacher):
//
//   rounds: 2                  # rounds after round 0 (default 0)
//   out_dir: ../runs/ns        # the run folder (relative to this file); default runs/<config name>
//                              # in the current folder
//   threads: {graph: 2, torch: 1}   # plugins, threads and max_in_flight apply to every phase
//   phases:
//     - name: teacher
//       rounds: first          # first: round 0 only; later: rounds 1..N; all (default)
//       nodes: [...]
//     - name: student
//       rounds: later
//       nodes: [...]           # ${round} and ${previous_round} are replaced by the round numbers
//
// `${out_dir}` (quoted, e.g. out_dir: "${out_dir}/round${round}") is replaced by out_dir as
// written (or as overridden: `semiflow run --out`), so one flag moves the whole run.
//
// `vars: {data: ../data/fmnist, seed: 0}` defines `${data}` and `${seed}`, replaced as text
// everywhere (included files and --set values too) before parsing; `--set vars.seed=1` changes
// one. A `${name}` that is neither a variable nor built in is an error naming it, and so is a
// variable that nothing uses.
//
// A config with `nodes:` is a single phase, "main", in round 0. Every phase of every round is
// validated before anything runs.
#include "graph/config.h"

#include <filesystem>
#include <string>
#include <vector>

namespace semiflow::graph {

struct Phase {
  std::string name;
  int round = 0;
  PipelineConfig config;
};

struct RunPlan {
  std::filesystem::path path;
  int rounds = 0;
  std::filesystem::path out_dir;  // resolved: the config's out_dir (or --out), else ./runs/<config name>
  std::vector<Phase> phases;      // in execution order
};

// `overrides` are `--set KEY=VALUE` assignments (graph/overrides.h), applied to every round.
// Relative paths (includes, out_dir, node paths) are read against `base_dir`, by default the
// config's folder (a run folder's copy of its config reads them against the original's).
RunPlan load_run_plan(const std::filesystem::path& path, const std::vector<std::string>& overrides = {},
                      const std::filesystem::path& base_dir = {});
RunPlan parse_run_plan(const std::string& yaml_text, const std::filesystem::path& path,
                       const std::vector<std::string>& overrides = {}, const std::filesystem::path& base_dir = {});

}  // namespace semiflow::graph
