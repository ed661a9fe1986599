#pragma once
// Command-line overrides of config keys: `--set KEY=VALUE`. KEY is a dotted path into the YAML
// document; a segment that is not a key of the map at hand names an entry of its `nodes:` or
// `phases:` list (or of a list) by `name`, or indexes a list. So `train.epochs=3` sets a node's
// parameter, `student.train.lr=0.05` one in a phase, `threads.graph=1` and `rounds=1` top-level
// settings. VALUE is YAML (`3`, `cpu`, `[resize size=32, hflip]`). The result is validated
// like the file, so an unknown parameter or a wrong type is reported as for the file.
#include "graph/config.h"

#include <yaml-cpp/yaml.h>

#include <string>

namespace semiflow::graph {

// Applies one KEY=VALUE to `doc` in place and returns the new value with the assignment, so
// errors about it name the override. Only the named place changes, even where the file shares
// a value between several places with a YAML anchor. Throws ConfigError naming the override
// and, for a path that leads nowhere, the keys or names that exist there.
YamlSource apply_override(YAML::Node doc, const std::string& assignment);

}  // namespace semiflow::graph
