#pragma once
// Loading node types from shared libraries built against graph/node.h.
#include <filesystem>

namespace semiflow::graph {

// dlopens the library (once per path), checks the ABI version it exports and makes its node types
// available. Throws, naming the path, when the file cannot be loaded, is not a semiflow plugin,
// was built against another ABI, or registers a type that clashes with a known one.
void load_plugin(const std::filesystem::path& path);

}  // namespace semiflow::graph
