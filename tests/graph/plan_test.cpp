// Lowering is a pure function of the validated config: per node, the oneTBB pieces to build.
#include "graph/config.h"
#include "graph/node.h"
#include "graph/plan.h"

#include <catch2/catch.hpp>

namespace {

using namespace semiflow::graph;

struct PlanSource : Node {
  static NodeSchema schema() { return NodeSchema("pl_source").output("out", "x").serial("one order"); }
  explicit PlanSource(const Params&) {}
};
struct PlanMap : Node {
  static NodeSchema schema() { return NodeSchema("pl_map").input("in", "x").output("out", "x").parallel("stateless"); }
  explicit PlanMap(const Params&) {}
};
struct PlanBatch : Node {
  static NodeSchema schema() {
    return NodeSchema("pl_batch").input("in", "x").output("out", "x").serial("in order").accumulates();
  }
  explicit PlanBatch(const Params&) {}
};
struct PlanPair : Node {
  static NodeSchema schema() {
    return NodeSchema("pl_pair").input("a", "x").input("b", "x").output("out", "x").parallel("pairs are independent");
  }
  explicit PlanPair(const Params&) {}
};
struct PlanSink : Node {
  static NodeSchema schema() { return NodeSchema("pl_sink").input("in", "x").serial("one writer"); }
  explicit PlanSink(const Params&) {}
};
SEMIFLOW_REGISTER_NODE(PlanSource);
SEMIFLOW_REGISTER_NODE(PlanMap);
SEMIFLOW_REGISTER_NODE(PlanBatch);
SEMIFLOW_REGISTER_NODE(PlanPair);
SEMIFLOW_REGISTER_NODE(PlanSink);

}  // namespace

TEST_CASE("lowering gives each node its stage, sequencers, zip, limiter and router", "[plan]") {
  const auto config = parse_pipeline_config(R"(
threads: {graph: 3}
max_in_flight: 16
nodes:
  - {name: src, type: pl_source}
  - {name: other, type: pl_source}
  - {name: map, type: pl_map, input: src}
  - {name: copy, type: pl_map, input: src}
  - {name: batch, type: pl_batch, input: map}
  - {name: pair, type: pl_pair, inputs: {a: batch, b: other}}
  - {name: sink, type: pl_sink, input: pair}
  - {name: sink2, type: pl_sink, input: copy}
)", "plan.yaml");
  const ExecutionPlan plan = lower(config);
  REQUIRE(plan.nodes.size() == 8);
  CHECK(plan.graph_threads == 3);
  auto node = [&](const std::string& name) -> const NodePlan& {
    for (const auto& n : plan.nodes)
      if (n.name == name) return n;
    FAIL("no node " << name);
    throw;
  };
  // Two consumers: the source's limiter feeds a router; one consumer: the limiter feeds it.
  CHECK(node("src").source == 0);
  CHECK(node("src").limit == 16);
  CHECK(node("src").router);
  CHECK(node("src").consumers.size() == 2);
  CHECK_FALSE(node("other").router);
  CHECK(node("other").source == 1);
  // A parallel single-input node runs unordered; a serial one gets a sequencer.
  CHECK_FALSE(node("map").serial);
  CHECK_FALSE(node("map").ordered);
  CHECK(node("batch").serial);
  CHECK(node("batch").ordered);
  CHECK(node("batch").accumulates);
  // Several ports: sequencers and a zip, whatever the node's own concurrency.
  CHECK(node("pair").ordered);
  CHECK(node("pair").zip);
  CHECK_FALSE(node("pair").serial);
  CHECK(node("sink").consumers.empty());
  CHECK(plan.describe().find("  pair (pl_pair): 2 sequencers, zip (serial), unlimited stage <- batch, other -> sink\n") !=
        std::string::npos);
  CHECK(plan.describe().find("  src (pl_source): source 0 -> limiter 16, router (unlimited) -> map, copy\n") !=
        std::string::npos);
}
