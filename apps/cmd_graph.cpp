// `semiflow nodes`, `semiflow graph check CONFIG`, `semiflow run CONFIG`: the node reference,
// config validation and running a pipeline on the graph engine.
#include "apps/command.h"
#include "apps/output.h"
#include "apps/run_folder.h"
#include "apps/report.h"
#include "datasets/transforms.h"
#include "graph/config.h"
#include "graph/phases.h"
#include "graph/plan.h"
#include "graph/plugin.h"
#include "graph/registry.h"
#include "graph/runtime.h"
#include "nodes/distributed.h"
#include "nodes/rounds.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <map>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace semiflow::cli {
namespace {

// Set by SIGINT or SIGTERM; the graph engine watches it and stops the run cleanly.
std::atomic<bool> interrupted{false};
std::atomic<int> stop_signal{0};

void on_interrupt(int signal) {
  stop_signal = signal;
  interrupted = true;
}

void add_nodes(CLI::App& app) {
  auto plugins = std::make_shared<std::vector<std::string>>();
  auto* cmd = app.add_subcommand("nodes", "List every node type with its ports, parameters, defaults and docs");
  auto markdown = std::make_shared<bool>(false);
  cmd->add_option("--plugin", *plugins, "Also load node types from these plugin libraries")->check(CLI::ExistingFile);
  cmd->add_flag("--markdown", *markdown, "Print the node reference as Markdown (docs/nodes.md)");
  cmd->callback([plugins, markdown] {
    for (const auto& plugin : *plugins) graph::load_plugin(plugin);
    auto& registry = graph::Registry::instance();
    registry.throw_if_errors();
    if (*markdown) {
      fmt::print("# Node reference\n\nGenerated from the node schemas by `semiflow nodes --markdown`; do not edit.\n"
                 "Config keys of a node are its parameters; `input:`/`inputs:` connect its ports.\n\n");
      for (const graph::NodeType* type : registry.all()) fmt::print("{}", type->schema.describe_markdown());
      return;
    }
    for (const graph::NodeType* type : registry.all()) {
      fmt::print("{}", type->schema.describe());
      if (type->origin != "built-in") fmt::print("  from    {}\n", type->origin);
      fmt::print("\n");
    }
  });
}

void add_ops(CLI::App& app) {
  auto* cmd = app.add_subcommand("ops", "List every augment op (augment's ops and strong_ops, eval_ops) with its parameters");
  cmd->callback([] { fmt::print("{}", TransformPipeline::ops_markdown()); });
}

void add_graph_check(CLI::App& app) {
  auto config_path = std::make_shared<std::string>();
  auto* graph_cmd = app.add_subcommand("graph", "Pipeline graph tools");
  graph_cmd->require_subcommand(1);
  auto* check = graph_cmd->add_subcommand("check", "Validate a pipeline config and print its graph; runs nothing");
  auto overrides = std::make_shared<std::vector<std::string>>();
  auto show_plan = std::make_shared<bool>(false);
  check->add_flag("--plan", *show_plan, "Also print each phase's execution plan (the oneTBB nodes the runtime builds)");
  check->add_option("config", *config_path, "Pipeline config (YAML)")->required();
  check->add_option("--set", *overrides, "Override a config key: KEY=VALUE (as for run)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  check->callback([config_path, overrides, show_plan] {
    const auto plan = graph::load_run_plan(*config_path, *overrides);
    for (const auto& phase : plan.phases) {
      if (plan.phases.size() > 1) fmt::print("phase {} (round {}):\n", phase.name, phase.round);
      fmt::print("{}", graph::describe_pipeline(phase.config));
      if (*show_plan) fmt::print("{}", graph::lower(phase.config).describe());
    }
    fmt::print("ok\n");
  });
}

// Run-folder logging: run.log beside the run's other files gets everything logged from now on.
void log_into(const std::filesystem::path& out_dir) {
  auto log = std::make_shared<spdlog::sinks::basic_file_sink_mt>((out_dir / "run.log").string());
  spdlog::default_logger()->sinks().push_back(log);
}

// The first line of an error (c10 errors append a backtrace after it).
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string clock(double seconds) {
  const auto s = static_cast<long>(seconds);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60) : fmt::format("{}:{:02}", s / 60, s % 60);
}

// Progress of the running graph: the furthest-downstream node that knows its amount of work
// (training steps, images to label) gives count, rate and ETA. On a terminal one bar redrawn in
// place; otherwise (CI, files) a plain line per period, with every node's item counts.
class ProgressMeter {
 public:
  // Rates count from the phase's start: a node of the same name in an earlier phase is another.
  void start_phase() { started_.clear(); }

  void show(const graph::GraphSnapshot& snap) {
    const graph::NodeStats* tracked = nullptr;
    for (const auto& node : snap.nodes)
      if (node.work_total > 0) tracked = &node;
    std::string line;
    if (tracked) {
      auto [it, fresh] = started_.try_emplace(tracked->name, snap.elapsed_s, tracked->work_done);
      const double seconds = snap.elapsed_s - it->second.first;
      const double rate = seconds > 0 ? static_cast<double>(tracked->work_done - it->second.second) / seconds : 0;
      const double fraction = static_cast<double>(tracked->work_done) / static_cast<double>(tracked->work_total);
      const std::string eta = rate > 0 ? clock(static_cast<double>(tracked->work_total - tracked->work_done) / rate) : "?";
      if (terminal_) {
        const int filled = static_cast<int>(fraction * 30);
        line = fmt::format("\r{} [{}{}] {:3.0f}% {}/{} {} {:.1f}/s ETA {}  ", tracked->name, std::string(filled, '#'),
                           std::string(30 - filled, '-'), 100 * fraction, tracked->work_done, tracked->work_total,
                           tracked->work_unit, rate, eta);
        fmt::print(stderr, "{}", line);
        std::fflush(stderr);
        return;
      }
      line = fmt::format("{}: {}/{} {} ({:.0f}%), {:.1f}/s, ETA {};", tracked->name, tracked->work_done, tracked->work_total,
                         tracked->work_unit, 100 * fraction, rate, eta);
    } else if (terminal_) {
      return;
    }
    std::string counts;
    for (const auto& node : snap.nodes) counts += fmt::format(" {} {}/{} q{}", node.name, node.items_in, node.items_out, node.queued);
    fmt::print(stderr, "[{:7.1f} s] {}{}\n", snap.elapsed_s, line, counts);
  }

 private:
  bool terminal_ = isatty(fileno(stderr)) != 0;
  std::map<std::string, std::pair<double, std::uint64_t>> started_;  // node -> (elapsed, done) when first seen
};

void add_run(CLI::App& app) {
  struct Args {
    std::string config;
    std::vector<std::string> overrides;
    std::string out;
    std::string resume;
    double progress_s = 2.0;
    std::string stats_json;
    double collective_timeout_s = 60;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("run", "Validate and run a pipeline config; Ctrl-C stops it cleanly, rerunning resumes");
  auto* config = cmd->add_option("config", args->config, "Pipeline config (YAML)");
  cmd->add_option("--set", args->overrides, "Override a config key: KEY=VALUE, e.g. train.epochs=3 or student.train.lr=0.05")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  auto* out = cmd->add_option("--out", args->out, "Run folder: replaces the config's out_dir (and ${out_dir} in it)");
  auto* resume = cmd->add_option("--resume", args->resume,
                                 "Continue the run in this folder from its config.yaml and overrides; --set may then change "
                                 "only parameters safe to change (epochs, device, evaluation cadence)")
                     ->check(CLI::ExistingDirectory);
  config->excludes(resume);
  out->excludes(resume);
  cmd->add_option("--progress", args->progress_s, "Seconds between progress lines (0: none)")->capture_default_str();
  cmd->add_option("--stats-json", args->stats_json, "Write the final per-node statistics here as JSON");
  cmd->add_option("--collective-timeout", args->collective_timeout_s,
                  "Seconds a distributed run (started by torchrun) waits for the other ranks, at the start and in "
                  "every collective, before it fails")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  cmd->callback([args] {
    namespace fs = std::filesystem;
    namespace distributed = nodes::distributed;
    const auto launch = distributed::Launch::from_environment();
    // Rank 0 speaks for the run: it alone writes the run folder's records and prints the tables;
    // the other ranks show warnings and errors only (unless --log-level asked for more).
    const bool root = launch.is_root();
    if (!root && spdlog::get_level() == spdlog::level::info) spdlog::set_level(spdlog::level::warn);
    distributed::join_world(launch, std::chrono::milliseconds(std::llround(args->collective_timeout_s * 1000)));
    RunSource source;
    fs::path run_dir;
    std::string command = "semiflow run";
    if (!args->resume.empty()) {
      run_dir = fs::absolute(args->resume);
      source = resume_source(run_dir, args->overrides);
      command += " --resume " + args->resume;
    } else {
      if (args->config.empty()) throw CLI::ValidationError("run", "give a CONFIG or --resume RUN_DIR");
      source = {args->config, {}, args->overrides};
      if (!args->out.empty()) run_dir = fs::absolute(args->out);
      command += " " + args->config + (args->out.empty() ? "" : " --out " + args->out);
    }
    for (const auto& assignment : args->overrides) command += " --set " + assignment;
    const auto plan = load_plan(source, run_dir);
    // With the statistics on stdout, the human-readable tables go to stderr.
    std::FILE* text = args->stats_json == "-" ? stderr : stdout;
    std::optional<RunRecord> record;
    if (!plan.out_dir.empty() && root) {
      record.emplace(plan, source, command, args->overrides);
      log_into(plan.out_dir);
      spdlog::info("{}: {}", plan.out_dir.string(), command);
    }
    PlanOptions options;
    options.run.stop_requested = &interrupted;
    const auto meter = std::make_shared<ProgressMeter>();
    // Progress lines are info-level output: --log-level warn (or above) hides them too.
    if (args->progress_s > 0 && spdlog::should_log(spdlog::level::info)) {
      options.run.progress_period = std::chrono::milliseconds(static_cast<long>(args->progress_s * 1000));
      options.run.on_progress = [meter](const graph::GraphSnapshot& snap) { meter->show(snap); };
    }
    const bool phased = plan.phases.size() > 1 || !plan.out_dir.empty();
    nlohmann::json stats = nlohmann::json::array();
    auto phase_started = std::chrono::steady_clock::now();
    options.before_phase = [phased, text, root, &phase_started, meter](const graph::Phase& phase) {
      meter->start_phase();
      phase_started = std::chrono::steady_clock::now();
      if (!root) return;
      if (phased) fmt::print(text, "== round {}: phase {} ==\n", phase.round, phase.name);
      fmt::print(text, "{}", graph::describe_pipeline(phase.config));
    };
    options.after_phase = [&stats, &record, text, root, &phase_started](const graph::Phase& phase, const graph::RunResult& result) {
      if (!root) return;
      if (isatty(fileno(stderr))) fmt::print(stderr, "\n");
      if (result.skipped) fmt::print(text, "phase {} (round {}) is up to date: skipped\n", phase.name, phase.round);
      else fmt::print(text, "{}{}", result.stats.to_table(), result.cancelled ? "stopped by interrupt\n" : "");
      stats.push_back({{"phase", phase.name}, {"round", phase.round}, {"stats", result.stats.to_json()}});
      if (record)
        record->phase_finished(phase, result,
                               std::chrono::duration<double>(std::chrono::steady_clock::now() - phase_started).count());
    };
    auto previous_int = std::signal(SIGINT, on_interrupt);
    auto previous_term = std::signal(SIGTERM, on_interrupt);
    auto restore_signals = [&] {
      std::signal(SIGINT, previous_int);
      std::signal(SIGTERM, previous_term);
    };
    nlohmann::json summary;
    try {
      summary = run_plan(plan, options);
    } catch (const std::exception& e) {
      restore_signals();
      if (record) record->finish("failed: " + first_line(e.what()), 1, true);
      throw;
    }
    restore_signals();
    if (phased && root) fmt::print(text, "{}summary: {}\n", summary_table(summary), (plan.out_dir / "summary.json").string());
    if (!plan.out_dir.empty() && root) {
      write_report(plan.out_dir, plan.out_dir / "report.html");
      fmt::print(text, "report: {}\n", (plan.out_dir / "report.html").string());
    }
    if (!args->stats_json.empty() && root) {
      *open_output(args->stats_json) << (phased ? stats : stats[0]["stats"]).dump(2) << '\n';
    }
    if (interrupted) {
      const char* signal_name = stop_signal == SIGTERM ? "SIGTERM" : "SIGINT";
      if (record) record->finish(fmt::format("stopped by {}", signal_name), 128 + stop_signal.load());
      spdlog::warn("stopped by {}; finished epochs and caches are kept: `semiflow run --resume {}` continues", signal_name,
                   plan.out_dir.string());
      throw ExitStatus{128 + stop_signal.load()};
    }
    if (record) record->finish("finished", 0);
  });
}

void install(CLI::App& app) {
  add_nodes(app);
  add_ops(app);
  add_graph_check(app);
  add_run(app);
}

}  // namespace

SEMIFLOW_COMMAND(install);

}  // namespace semiflow::cli
