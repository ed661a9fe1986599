#pragma once
// Files of data a command writes (JSON, CSV): the path "-" is stdout, so the data can be piped.
#include <memory>
#include <ostream>
#include <string>

namespace semiflow::cli {

// A stream to `path`, or to stdout for "-"; throws naming the path when it cannot be opened.
std::unique_ptr<std::ostream> open_output(const std::string& path);

}  // namespace semiflow::cli
