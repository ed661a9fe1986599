// `--set KEY=VALUE` overrides: node parameters by node name (and phase name), top-level
// settings, YAML values, and errors that name the override and what exists.
#include "graph/node.h"
#include "graph/overrides.h"
#include "graph/phases.h"

#include <catch2/catch.hpp>

using namespace semiflow::graph;

namespace {

// rt_source / rt_collect are registered by runtime_test.cpp (same test binary).
const char* kSingle = R"(
threads: {graph: 2}
out_dir: runs/x
nodes:
  - {name: src, type: rt_source, count: 3}
  - {name: out, type: rt_collect, input: src}
)";

const char* kPhases = R"(
rounds: 1
out_dir: runs/ns
phases:
  - name: teacher
    rounds: first
    nodes:
      - {name: src, type: rt_source, count: 3}
      - {name: out, type: rt_collect, input: src}
  - name: student
    rounds: later
    nodes:
      - {name: src, type: rt_source, count: 4}
      - {name: out, type: rt_collect, input: src}
)";

class Sink : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("ov_sink").doc("Sink with a path parameter.").input("in", "num")
        .param("path", "", "a file").serial("nothing to share");
  }
  explicit Sink(const Params&) {}
  void process(Inputs&, Emitter&) override {}
};

}  // namespace

SEMIFLOW_REGISTER_NODE(Sink);

TEST_CASE("overrides reach node parameters, phases and top-level settings", "[overrides]") {
  const std::string single = kSingle;
  auto plan = parse_run_plan(single, "c.yaml", {"src.count=7", "threads.graph=1", "out.other=true"});
  CHECK(plan.phases[0].config.node("src").params.get_int("count") == 7);
  CHECK(plan.phases[0].config.node("out").params.get_bool("other"));
  CHECK(plan.phases[0].config.graph_threads == 1);
  CHECK(plan.out_dir == std::filesystem::path("runs/x"));
  CHECK(parse_run_plan(single, "c.yaml", {"nodes.0.count=9"}).phases[0].config.node("src").params.get_int("count") == 9);

  auto phased = parse_run_plan(kPhases, "c.yaml", {"student.src.count=8", "rounds=2", "out_dir=/tmp/elsewhere"});
  REQUIRE(phased.phases.size() == 3);
  CHECK(phased.phases[0].config.node("src").params.get_int("count") == 3);
  CHECK(phased.phases[1].config.node("src").params.get_int("count") == 8);
  CHECK(phased.phases[2].config.node("src").params.get_int("count") == 8);
  CHECK(phased.out_dir == std::filesystem::path("/tmp/elsewhere"));
}

TEST_CASE("bad overrides are refused like bad config keys", "[overrides]") {
  const std::string single = kSingle;
  CHECK_THROWS_WITH(parse_run_plan(single, "c.yaml", {"src.count"}), Catch::Contains("KEY=VALUE"));
  CHECK_THROWS_WITH(parse_run_plan(single, "c.yaml", {"nosuch.count=1"}),
                    Catch::Contains("nothing named 'nosuch'") && Catch::Contains("src") && Catch::Contains("out"));
  // A parameter the node does not have, and a value of the wrong type: as in the file.
  CHECK_THROWS_WITH(parse_run_plan(single, "c.yaml", {"src.cuont=1"}), Catch::Contains("cuont") && Catch::Contains("count"));
  CHECK_THROWS_WITH(parse_run_plan(single, "c.yaml", {"src.count=lots"}), Catch::Contains("count"));
  CHECK_THROWS_WITH(parse_run_plan(kPhases, "c.yaml", {"student.src.count=[1"}), Catch::Contains("not valid YAML"));
}

TEST_CASE("${out_dir} follows out_dir, also when it is overridden", "[overrides]") {
  const std::string text = "out_dir: runs/x\nnodes:\n  - {name: src, type: rt_source}\n"
                           "  - {name: out, type: ov_sink, input: src, path: \"${out_dir}/file\"}\n";
  CHECK(parse_run_plan(text, "c.yaml").phases[0].config.node("out").params.get_string("path") == "runs/x/file");
  const auto moved = parse_run_plan(text, "c.yaml", {"out_dir=/abs/run"});
  CHECK(moved.phases[0].config.node("out").params.get_string("path") == "/abs/run/file");
  CHECK(moved.out_dir == std::filesystem::path("/abs/run"));
}

TEST_CASE("overrides index lists and replace whole values", "[overrides]") {
  YAML::Node doc = YAML::Load("out_dir: a\nlist: [1, 2]\n");
  apply_override(doc, "list.1=5");
  CHECK(doc["list"][1].as<int>() == 5);
  apply_override(doc, "list=[7, 8, 9]");
  CHECK(doc["list"].size() == 3);
  CHECK_THROWS_WITH(apply_override(doc, "out_dir.x=1"), Catch::Contains("not a map"));
}
