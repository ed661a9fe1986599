#include "apps/output.h"

#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <stdexcept>

namespace semiflow::cli {

std::unique_ptr<std::ostream> open_output(const std::string& path) {
  // Shares std::cout's buffer, so it interleaves correctly with everything else printed to stdout.
  if (path == "-") return std::make_unique<std::ostream>(std::cout.rdbuf());
  auto file = std::make_unique<std::ofstream>(path);
  if (!*file) throw std::runtime_error(fmt::format("{}: cannot write it (does its folder exist? or write - for stdout)", path));
  return file;
}

}  // namespace semiflow::cli
