#pragma once
// The HTML report of a run folder (apps/cmd_report.cpp); `semiflow run` writes one at the end.
#include <filesystem>

namespace semiflow::cli {

// Reads run_dir/summary.json and the metrics it names; writes a self-contained HTML page.
void write_report(const std::filesystem::path& run_dir, const std::filesystem::path& target);

}  // namespace semiflow::cli
