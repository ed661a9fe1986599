#include "nodes/rounds.h"

#include "nodes/checkpoint.h"
#include "nodes/distributed.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <fstream>

namespace semiflow {
namespace {

// The model a phase trained: the report of a train node whose last epoch was validated.
nlohmann::json trained_model(const nlohmann::json& reports) {
  nlohmann::json found;
  for (const auto& [node, report] : reports.items()) {
    if (!report.contains("final") || !report["final"].is_object() || !report["final"].contains("eval")) continue;
    const auto& eval = report["final"]["eval"];
    nlohmann::json model = {{"node", node},
                            {"checkpoint", report.value("checkpoint", "")},
                            {"epochs", report.value("epochs", 0)},
                            {"airush_score", eval["airush_score"]},
                            {"exact_path_accuracy", eval["exact_path_accuracy"]},
                            {"consistent_airush_score", eval["consistent"]["airush_score"]}};
    for (const auto& [level, metrics] : eval["levels"].items()) model["accuracy"][level] = metrics["accuracy"];
    found = std::move(model);
  }
  return found;
}

// "hit" or "miss" for phases that ran teacher inference into a cache.
std::string cache_state(const nlohmann::json& reports) {
  for (const auto& [node, report] : reports.items())
    if (report.contains("cache_state")) return report["cache_state"].get<std::string>();
  return "";
}

// Paths inside `then` (the run folder's earlier location) moved to `now`, everywhere in `value`.
void relocate(nlohmann::json& value, const std::string& then, const std::string& now) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (text.size() > then.size() && text.compare(0, then.size(), then) == 0 && text[then.size()] == '/')
      value = now + text.substr(then.size());
  } else if (value.is_structured()) {
    for (auto& element : value) relocate(element, then, now);
  }
}

// The phase records of the summary a previous invocation left in out_dir, by round and phase,
// with their paths where the folder is now.
std::map<std::pair<int, std::string>, nlohmann::json> previous_records(const std::filesystem::path& out_dir) {
  std::map<std::pair<int, std::string>, nlohmann::json> records;
  std::ifstream in(out_dir / "summary.json");
  if (out_dir.empty() || !in) return records;
  auto summary = nlohmann::json::parse(in, nullptr, false);
  if (summary.is_discarded() || !summary.contains("rounds")) return records;
  if (summary.contains("out_dir")) relocate(summary["rounds"], summary["out_dir"].get<std::string>(), out_dir.string());
  for (const auto& round : summary["rounds"])
    for (const auto& phase : round.value("phases", nlohmann::json::array()))
      records[{round.value("round", -1), phase.value("name", "")}] = phase;
  return records;
}

void write_summary(const std::filesystem::path& out_dir, const nlohmann::json& summary) {
  std::filesystem::create_directories(out_dir);
  const auto path = (out_dir / "summary.json").string();
  write_file_atomically(path, [&](const std::string& temp) {
    std::ofstream out(temp);
    out << summary.dump(2) << '\n';
    if (!out) throw std::runtime_error(fmt::format("{}: cannot write the run summary", path));
  });
}

// One line per finished phase in the run folder's phases.jsonl (training nodes log their
// epochs in their own out_dir).
void append_phase_record(const std::filesystem::path& out_dir, const graph::Phase& phase, const nlohmann::json& record) {
  nlohmann::json line = {{"round", phase.round}, {"phase", phase.name}};
  for (const char* key : {"wall_s", "skipped", "cancelled", "cache", "stats"})
    if (record.contains(key)) line[key] = record[key];
  for (const auto& [node, report] : record["reports"].items())
    if (report.contains("final")) line["final"][node] = report["final"];
  std::ofstream out(out_dir / "phases.jsonl", std::ios::app);
  out << line.dump() << '\n';
  if (!out) throw std::runtime_error(fmt::format("{}: cannot append the phase record", (out_dir / "phases.jsonl").string()));
}

}  // namespace

nlohmann::json run_plan(const graph::RunPlan& plan, const PlanOptions& options) {
  // out_dir as this run saw it: paths in the reports below start with it (a moved folder's
  // readers put its own location in its place).
  nlohmann::json summary = {{"config", plan.path.string()}, {"out_dir", plan.out_dir.string()}, {"rounds", nlohmann::json::array()}};
  for (int round = 0; round <= plan.rounds; ++round)
    summary["rounds"].push_back({{"round", round}, {"phases", nlohmann::json::array()}});
  const auto previous = previous_records(plan.out_dir);
  nlohmann::json previous_model;
  int previous_round = -1;
  // In a distributed run, a phase starts once every rank finished the one before (and rank 0
  // wrote its checkpoints and caches, which the next phase reads); only rank 0 writes the run's records.
  const auto ranks = nodes::distributed::connect("phases", c10::Device(c10::kCPU));
  for (const graph::Phase& phase : plan.phases) {
    if (options.before_phase) options.before_phase(phase);
    const auto started = std::chrono::steady_clock::now();
    const graph::RunResult result = graph::run_pipeline(phase.config, options.run);
    ranks->barrier();
    const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (options.after_phase) options.after_phase(phase, result);

    if (phase.round != previous_round) {
      previous_round = phase.round;
      if (!previous_model.is_null()) summary["rounds"][phase.round]["teacher"] = previous_model;
    }
    auto& round = summary["rounds"][phase.round];
    nlohmann::json record = {{"name", phase.name}, {"wall_s", wall_s}, {"skipped", result.skipped},
                             {"cancelled", result.cancelled}, {"reports", result.reports},
                             {"stats", result.stats.to_json()}};
    if (const auto cache = cache_state(result.reports); !cache.empty()) record["cache"] = cache;
    // The summary keeps the timings and reports of the invocations that did the work.
    nlohmann::json kept = record;
    if (const auto found = previous.find({phase.round, phase.name}); found != previous.end()) {
      if (result.skipped) {
        kept = found->second;
        kept["skipped"] = true;
      } else if (found->second.value("cancelled", false)) {
        kept["wall_s"] = wall_s + found->second.value("wall_s", 0.0);
      }
    }
    round["phases"].push_back(kept);
    if (auto model = trained_model(kept["reports"]); !model.is_null()) {
      round["student"] = model;
      previous_model = model;
    }
    if (!plan.out_dir.empty() && ranks->is_root()) {
      write_summary(plan.out_dir, summary);
      append_phase_record(plan.out_dir, phase, record);
    }
    if (result.cancelled) break;
  }
  return summary;
}

std::string summary_table(const nlohmann::json& summary) {
  std::vector<std::string> levels;
  for (const auto& round : summary["rounds"])
    if (round.contains("student")) {
      for (const auto& [level, accuracy] : round["student"]["accuracy"].items()) levels.push_back(level);
      break;
    }
  std::string text = fmt::format("{:<6} {:<9}", "round", "model");
  for (const auto& level : levels) text += fmt::format(" {:>9}", level);
  text += fmt::format(" {:>8}  phases\n", "airush");
  for (const auto& round : summary["rounds"]) {
    const bool trained = round.contains("student");
    text += fmt::format("{:<6} {:<9}", round["round"].get<int>(), trained ? (round["round"] == 0 ? "teacher" : "student") : "-");
    for (const auto& level : levels)
      text += trained ? fmt::format(" {:>9.4f}", round["student"]["accuracy"][level].get<double>()) : fmt::format(" {:>9}", "-");
    text += trained ? fmt::format(" {:>8.4f} ", round["student"]["airush_score"].get<double>()) : fmt::format(" {:>8} ", "-");
    for (const auto& phase : round["phases"]) {
      text += fmt::format(" {} {:.1f} s", phase["name"].get<std::string>(), phase["wall_s"].get<double>());
      if (phase["skipped"].get<bool>()) text += " (up to date)";
      else if (phase.contains("cache")) text += fmt::format(" (cache {})", phase["cache"].get<std::string>());
      text += ";";
    }
    if (!text.empty() && text.back() == ';') text.pop_back();
    text += '\n';
  }
  return text;
}

}  // namespace semiflow
