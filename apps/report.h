#pragma once
// The HTML report of run folders (apps/cmd_report.cpp); `semiflow run` writes one at the end.
#include <filesystem>
#include <vector>

namespace semiflow::cli {

struct ReportOptions {
  // The per-epoch curves against the training wall-clock seconds of metrics.jsonl's elapsed_s
  // instead of the epoch.
  bool wall_clock_x = false;
};

// Reads each run_dir/summary.json and the metrics it names; writes one self-contained HTML page,
// several runs overlaid on the same charts.
void write_report(const std::vector<std::filesystem::path>& run_dirs, const std::filesystem::path& target,
                  const ReportOptions& options);
// One run, per epoch: what `semiflow run` writes.
void write_report(const std::filesystem::path& run_dir, const std::filesystem::path& target);

}  // namespace semiflow::cli
