// `semiflow nodes`, `semiflow graph check CONFIG`, `semiflow run CONFIG`: the node reference,
// config validation and running a pipeline on the graph engine.
#include "apps/command.h"
#include "apps/output.h"
#include "apps/report.h"
#include "datasets/transforms.h"
#include "graph/config.h"
#include "graph/phases.h"
#include "graph/plan.h"
#include "graph/plugin.h"
#include "graph/registry.h"
#include "graph/runtime.h"
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

// What `--resume` needs to rerun a run exactly: written into its folder when it starts.
struct RunRecord {
  std::string config;
  std::vector<std::string> overrides;
};

template <class Args>
void record_run(const graph::RunPlan& plan, const Args& args) {
  namespace fs = std::filesystem;
  fs::create_directories(plan.out_dir);
  const nlohmann::json record = {{"config", fs::absolute(args.config).string()}, {"overrides", args.overrides}};
  std::ofstream(plan.out_dir / "run.json") << record.dump(2) << '\n';
  const auto resolved = plan.out_dir / "config.yaml";
  if (fs::absolute(args.config) != fs::absolute(resolved)) fs::copy_file(args.config, resolved, fs::copy_options::overwrite_existing);
  auto log = std::make_shared<spdlog::sinks::basic_file_sink_mt>((plan.out_dir / "run.log").string());
  spdlog::default_logger()->sinks().push_back(log);
  spdlog::info("run {}: config {}{}{}", plan.out_dir.string(), args.config, args.overrides.empty() ? "" : ", --set ",
               fmt::join(args.overrides, " --set "));
}

template <class Args>
void resume_from(Args& args) {
  const auto path = std::filesystem::path(args.resume) / "run.json";
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: no run record; --resume takes a folder a `semiflow run` wrote", path.string()));
  const auto record = nlohmann::json::parse(in);
  args.config = record.at("config").template get<std::string>();
  args.overrides = record.at("overrides").template get<std::vector<std::string>>();
  fmt::print("resuming {}: {}{}\n", args.resume, args.config, args.overrides.empty() ? "" : " with overrides");
}

std::string clock(double seconds) {
  const auto s = static_cast<long>(seconds);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60) : fmt::format("{}:{:02}", s / 60, s % 60);
}

// Progress of the running graph: the furthest-downstream node that knows its amount of work
// (training steps, images to label) gives count, rate and ETA. On a terminal one bar redrawn in
// place; otherwise (CI, files) a plain line per period, with every node's item counts.
class ProgressMeter {
 public:
  void show(const graph::GraphSnapshot& snap) {
    const graph::NodeStats* tracked = nullptr;
    for (const auto& node : snap.nodes)
      if (node.work_total > 0) tracked = &node;
    if (snap.elapsed_s < last_elapsed_) started_.clear();  // a new phase
    last_elapsed_ = snap.elapsed_s;
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
  double last_elapsed_ = 0;
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
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("run", "Validate and run a pipeline config; Ctrl-C stops it cleanly, rerunning resumes");
  auto* config = cmd->add_option("config", args->config, "Pipeline config (YAML)");
  cmd->add_option("--set", args->overrides, "Override a config key: KEY=VALUE, e.g. train.epochs=3 or student.train.lr=0.05")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--out", args->out, "Run folder: replaces the config's out_dir (and ${out_dir} in it)");
  auto* resume = cmd->add_option("--resume", args->resume, "Continue the run in this folder with its config and overrides")
                     ->check(CLI::ExistingDirectory);
  config->excludes(resume);
  cmd->add_option("--progress", args->progress_s, "Seconds between progress lines (0: none)")->capture_default_str();
  cmd->add_option("--stats-json", args->stats_json, "Write the final per-node statistics here as JSON");
  cmd->callback([args] {
    if (!args->resume.empty()) resume_from(*args);
    if (args->config.empty()) throw CLI::ValidationError("run", "give a CONFIG or --resume RUN_DIR");
    if (!args->out.empty()) args->overrides.push_back("out_dir=" + std::filesystem::absolute(args->out).string());
    const auto plan = graph::load_run_plan(args->config, args->overrides);
    if (!plan.out_dir.empty()) record_run(plan, *args);
    PlanOptions options;
    options.run.stop_requested = &interrupted;
    if (args->progress_s > 0) {
      options.run.progress_period = std::chrono::milliseconds(static_cast<long>(args->progress_s * 1000));
      options.run.on_progress = [meter = std::make_shared<ProgressMeter>()](const graph::GraphSnapshot& snap) {
        meter->show(snap);
      };
    }
    const bool phased = plan.phases.size() > 1 || !plan.out_dir.empty();
    nlohmann::json stats = nlohmann::json::array();
    options.before_phase = [phased](const graph::Phase& phase) {
      if (phased) fmt::print("== round {}: phase {} ==\n", phase.round, phase.name);
      fmt::print("{}", graph::describe_pipeline(phase.config));
    };
    options.after_phase = [&stats](const graph::Phase& phase, const graph::RunResult& result) {
      if (isatty(fileno(stderr))) fmt::print(stderr, "\n");
      if (result.skipped) fmt::print("phase {} (round {}) is up to date: skipped\n", phase.name, phase.round);
      else fmt::print("{}{}", result.stats.to_table(), result.cancelled ? "stopped by interrupt\n" : "");
      stats.push_back({{"phase", phase.name}, {"round", phase.round}, {"stats", result.stats.to_json()}});
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
    } catch (...) {
      restore_signals();
      throw;
    }
    restore_signals();
    if (phased) fmt::print("{}summary: {}\n", summary_table(summary), (plan.out_dir / "summary.json").string());
    if (!plan.out_dir.empty()) {
      write_report(plan.out_dir, plan.out_dir / "report.html");
      fmt::print("report: {}\n", (plan.out_dir / "report.html").string());
    }
    if (!args->stats_json.empty()) {
      *open_output(args->stats_json) << (phased ? stats : stats[0]["stats"]).dump(2) << '\n';
    }
    if (interrupted) {
      spdlog::warn("stopped by {}; finished epochs and caches are kept: `semiflow run --resume {}` continues",
                   stop_signal == SIGTERM ? "SIGTERM" : "SIGINT", plan.out_dir.string());
      throw ExitStatus{128 + stop_signal.load()};
    }
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
