#pragma once
// Each apps/cmd_*.cpp adds its sub-commands to the CLI with one SEMIFLOW_COMMAND line, so the
// command files stay independent of each other and of main.cpp.
#include <CLI/CLI.hpp>

#include <functional>
#include <vector>

namespace semiflow::cli {

using CommandInstaller = std::function<void(CLI::App& app)>;

// Thrown by a command that ends with a status of its own (a run stopped by SIGINT: 130, by
// SIGTERM: 143) after finishing cleanly; main returns `code`.
struct ExitStatus {
  int code;
};

std::vector<CommandInstaller>& command_installers();

struct CommandRegistration {
  explicit CommandRegistration(CommandInstaller installer) { command_installers().push_back(std::move(installer)); }
};

}  // namespace semiflow::cli

#define SEMIFLOW_CLI_CONCAT_(a, b) a##b
#define SEMIFLOW_CLI_CONCAT(a, b) SEMIFLOW_CLI_CONCAT_(a, b)
#define SEMIFLOW_COMMAND(installer) \
  static const ::semiflow::cli::CommandRegistration SEMIFLOW_CLI_CONCAT(semiflow_command_, __LINE__){installer}
