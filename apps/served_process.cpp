#include "apps/served_process.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <stdexcept>

namespace semiflow::cli {

Range range_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return {values[values.size() / 2], values.front(), values.back()};
}

std::unique_ptr<ServedProcess> ServedProcess::start(const std::vector<std::string>& words) {
  std::vector<char*> argv;
  for (const auto& word : words) argv.push_back(const_cast<char*>(word.c_str()));
  argv.push_back(nullptr);
  // Close-on-exec: a second child must not hold this one's stdin open (it would never end).
  int requests[2], replies[2];
  if (pipe2(requests, O_CLOEXEC) != 0 || pipe2(replies, O_CLOEXEC) != 0) return nullptr;
  // A child that dies makes the next request fail with an error rather than kill us by SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(requests[0], STDIN_FILENO);
    dup2(replies[1], STDOUT_FILENO);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(requests[0]);
  close(replies[1]);
  std::unique_ptr<ServedProcess> process(new ServedProcess(pid, fdopen(requests[1], "w"), fdopen(replies[0], "r")));
  if (pid < 0 || !process->read_reply(process->info)) return nullptr;
  return process;
}

ServedProcess::~ServedProcess() {
  std::fclose(requests_);
  std::fclose(replies_);
  waitpid(pid_, nullptr, 0);
}

nlohmann::json ServedProcess::request(const std::string& line) {
  nlohmann::json reply;
  if (std::fprintf(requests_, "%s\n", line.c_str()) < 0 || std::fflush(requests_) != 0 || !read_reply(reply))
    throw std::runtime_error("the PyTorch-Python reference stopped answering (its errors are above)");
  return reply;
}

bool ServedProcess::read_reply(nlohmann::json& reply) {
  char* line = nullptr;
  std::size_t capacity = 0;
  const bool got = getline(&line, &capacity, replies_) > 0;
  if (got) reply = nlohmann::json::parse(line, nullptr, false);
  std::free(line);
  return got && !reply.is_discarded();
}

}  // namespace semiflow::cli
