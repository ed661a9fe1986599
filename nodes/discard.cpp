// `discard`: consumes items and keeps nothing; ends dry runs and benchmarks of a pipeline.
#include "graph/node.h"

namespace semiflow::nodes {
namespace {

using namespace semiflow::graph;

class Discard : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("discard")
        .doc("Consumes and drops every item (dry runs, input-pipeline benchmarks).")
        .input("in", "any")
        .parallel("it keeps no state");
  }
  explicit Discard(const Params&) {}
  void process(Inputs&, Emitter&) override {}
};

SEMIFLOW_REGISTER_NODE(Discard);

}  // namespace
}  // namespace semiflow::nodes
