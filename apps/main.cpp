#include "apps/command.h"
#include "models/tensor_memory.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <iostream>
#include <string>

namespace semiflow::cli {
std::vector<CommandInstaller>& command_installers() {
  static std::vector<CommandInstaller> installers;
  return installers;
}
}  // namespace semiflow::cli

namespace {

// Each line of a message is one problem (a config check reports all of them at once).
std::string error_lines(const std::string& message) {
  std::string lines;
  std::size_t start = 0;
  for (std::size_t end = message.find('\n'); ; end = message.find('\n', start)) {
    lines += fmt::format("error: {}\n", message.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

void print_error(const std::string& message) { fmt::print(stderr, "{}", error_lines(message)); }

}  // namespace

int main(int argc, char** argv) {
  semiflow::keep_freed_tensor_memory();
  // Logs, warnings and errors go to stderr; stdout is for data (JSON, CSV, tables asked for).
  spdlog::set_default_logger(spdlog::stderr_color_mt("semiflow"));
  CLI::App app{"semiflow: semi-supervised hierarchical image classification (Noisy Student, Meta Pseudo Labels)"};
  app.set_version_flag("--version", SEMIFLOW_VERSION);
  app.require_subcommand(1);
  // Usage errors (a missing file, a bad value) in the same one-line form as every other error.
  app.failure_message([](const CLI::App*, const CLI::Error& e) { return error_lines(fmt::format("{} (see --help)", e.what())); });
  app.add_option_function<std::string>(
         "--log-level", [](const std::string& level) { spdlog::set_level(spdlog::level::from_str(level)); },
         "Least severe log messages shown (stderr and run.log)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->default_str("info");
  // Global options (--log-level) are also accepted after the command: `semiflow run CONFIG --log-level warn`.
  app.fallthrough();
  for (const auto& install : semiflow::cli::command_installers()) install(app);
  if (argc > 1 && argv[1][0] != '-') {
    std::string known;
    bool found = false;
    for (const auto* command : app.get_subcommands([](const CLI::App*) { return true; })) {
      known += (known.empty() ? "" : ", ") + command->get_name();
      found = found || command->get_name() == argv[1];
    }
    if (!found) {
      print_error(fmt::format("unknown command '{}' (commands: {}; see semiflow --help)", argv[1], known));
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const semiflow::cli::ExitStatus& status) {
    return status.code;
  } catch (const c10::Error& e) {
    // A libtorch error no command anticipated: its message without the C++ backtrace.
    print_error(e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
  return 0;
}
