#pragma once
// Running a multi-phase config (graph/phases.h) and summarising it by round: per phase its wall
// time, whether it was skipped (up to date) and every node's report; per round the model it
// trained (per-level accuracy, AI Rush score) beside the previous round's model, its teacher,
// and whether pseudo-labels came from the cache. Written to `<out_dir>/summary.json` after every
// phase, so a stopped run keeps what it finished; each phase also appends one line to
// `<out_dir>/phases.jsonl`. A rerun keeps what the earlier invocations measured: a phase found up
// to date keeps the record of the invocation that ran it (marked skipped), a resumed phase adds
// the wall time of the invocation it continues.
#include "graph/phases.h"
#include "graph/runtime.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

namespace semiflow {

struct PlanOptions {
  graph::RunOptions run;
  // Called before each phase runs and after it ends (with its result), e.g. to print progress.
  std::function<void(const graph::Phase&)> before_phase;
  std::function<void(const graph::Phase&, const graph::RunResult&)> after_phase;
};

// Runs every phase in order and returns the summary (also written when the plan has an out_dir).
// Stops after a phase that was cancelled (RunResult::cancelled); node failures propagate.
nlohmann::json run_plan(const graph::RunPlan& plan, const PlanOptions& options = {});

// The per-round table: one line per round with the trained model's per-level accuracy, AI Rush
// score and the phases' wall times (cache hit or miss).
std::string summary_table(const nlohmann::json& summary);

}  // namespace semiflow
