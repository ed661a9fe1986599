#include "graph/plugin.h"

#include "graph/registry.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <mutex>
#include <set>
#include <stdexcept>

namespace semiflow::graph {

void load_plugin(const std::filesystem::path& path) {
  static std::mutex mutex;
  static std::set<std::filesystem::path> loaded;
  std::lock_guard lock(mutex);
  const auto canonical = std::filesystem::weakly_canonical(path);
  if (loaded.count(canonical)) return;
  if (!std::filesystem::exists(canonical))
    throw std::runtime_error(fmt::format("plugin {}: no such file", path.string()));

  Registry& registry = Registry::instance();
  registry.throw_if_errors();  // so the errors reported below are this plugin's own
  registry.set_loading_origin("plugin " + canonical.string());
  // RTLD_NOW: an unresolved symbol fails here, not in the middle of a run. The library's static
  // initialisers run inside dlopen and register its nodes (refusing them on an ABI mismatch).
  void* handle = dlopen(canonical.c_str(), RTLD_NOW | RTLD_LOCAL);
  registry.set_loading_origin("built-in");
  if (!handle) throw std::runtime_error(fmt::format("plugin {}: cannot load: {}", path.string(), dlerror()));

  using AbiFunction = int (*)();
  auto abi = reinterpret_cast<AbiFunction>(dlsym(handle, "semiflow_graph_abi_version"));
  auto errors = registry.take_errors();
  if (!abi) {
    throw std::runtime_error(fmt::format("plugin {}: not a semiflow plugin (it exports no semiflow_graph_abi_version; "
                                         "build it with #include \"graph/node.h\" and SEMIFLOW_REGISTER_NODE)",
                                         path.string()));
  }
  if (abi() != kAbiVersion) {
    throw std::runtime_error(fmt::format("plugin {}: built against semiflow graph ABI {}, but this semiflow has ABI {}; "
                                         "rebuild the plugin against this version's graph/node.h",
                                         path.string(), abi(), kAbiVersion));
  }
  if (!errors.empty())
    throw std::runtime_error(fmt::format("plugin {}: {}", path.string(), fmt::join(errors, "; ")));
  // The library stays loaded for the life of the process: its node types now live in the registry.
  loaded.insert(canonical);
}

}  // namespace semiflow::graph
