#pragma once
// A child process that answers one JSON line per request line (the PyTorch-Python references run
// with --serve), so that a benchmark can interleave its rounds with the reference's and each pair
// of rounds sees the machine in the same state.
#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace semiflow::cli {

// The median and extremes of a benchmark's rounds (one value per round).
struct Range {
  double median, min, max;
};
Range range_of(std::vector<double> values);

class ServedProcess {
 public:
  // Runs `argv` (argv[0] a path, or a name such as python3 looked up on PATH); its first line is
  // `info`. Nothing when it cannot start or does not answer (a missing interpreter or module: the
  // child's errors go to stderr).
  static std::unique_ptr<ServedProcess> start(const std::vector<std::string>& argv);
  ~ServedProcess();  // closes its stdin and waits for it to end

  // Sends `line`, returns the answer; throws when the child stopped answering.
  nlohmann::json request(const std::string& line);

  nlohmann::json info;

 private:
  ServedProcess(pid_t pid, std::FILE* requests, std::FILE* replies) : pid_(pid), requests_(requests), replies_(replies) {}
  bool read_reply(nlohmann::json& reply);

  pid_t pid_;
  std::FILE* requests_;
  std::FILE* replies_;
};

}  // namespace semiflow::cli
