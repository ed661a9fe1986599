#pragma once
// Stream facts: what a node knows of the stream it emits (items per epoch, epochs, batch size,
// image size, normalisation, ...), derived from its parameters and its inputs' facts and
// propagated through the graph in topological order before anything runs. A parameter declared
// `.from_stream(fact)` takes its value from them, so a fact is written once, by the node that
// knows it (timm's resolve_data_config, DALI's graph-level checks). The fact names are the
// nodes' business (nodes/stream_facts.h); the engine only carries them.
#include "graph/params.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace semiflow::graph {

struct StreamFact {
  ParamValue value;
  std::string stated_by;  // "node 'labeled' (epochs)": where a user changes it
};

using StreamFacts = std::map<std::string, StreamFact>;

// Problems a node type's static check finds, each about one of its parameters (reported at that
// parameter's line in the config, or at the node when `param` is empty).
class Diagnostics {
 public:
  struct Problem {
    std::string param;
    std::string message;
  };
  void error(std::string param, std::string message) { problems_.push_back({std::move(param), std::move(message)}); }
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  std::vector<Problem> problems_;
};

// Checks a node's parameters together with what its inputs are known to carry (one StreamFacts
// per input port, in port order). Runs at config time, before any node is constructed.
using StaticCheck = std::function<void(const Params& params, const std::vector<StreamFacts>& inputs, Diagnostics& out)>;
// The facts of the node's output stream. Without one, a single-input node passes its input's on.
using StreamFunction =
    std::function<StreamFacts(const Params& params, const std::vector<StreamFacts>& inputs, Diagnostics& out)>;

}  // namespace semiflow::graph
