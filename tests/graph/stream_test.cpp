// The compile pass: declared choices and ranges, stream facts derived in topological order and
// taken by `.from_stream` parameters, static checks reported at the parameter's line, every
// problem at once, "did you mean", and templates reused with `extends:` / `include:`.
#include "graph/config.h"
#include "graph/node.h"
#include "graph/phases.h"
#include "graph/suggest.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

namespace {

using namespace semiflow::graph;
using Catch::Contains;

// Emits `count` items per epoch for `epochs` epochs: states both.
struct FactSource : Node {
  static NodeSchema schema() {
    return NodeSchema("sf_source")
        .output("out", "x")
        .param("count", 10, "items per epoch").at_least(1)
        .param("epochs", 1, "epochs").at_least(1)
        .stream([](const Params& p, const std::vector<StreamFacts>&, Diagnostics&) {
          return StreamFacts{{"items", {p.get_int("count"), "node '" + p.node_name() + "' (count)"}},
                             {"epochs", {p.get_int("epochs"), "node '" + p.node_name() + "' (epochs)"}}};
        })
        .serial("one order");
  }
  explicit FactSource(const Params&) {}
};

// Passes facts on (the default for one input) and checks its mode.
struct FactMap : Node {
  static NodeSchema schema() {
    return NodeSchema("sf_map")
        .input("in", "x")
        .output("out", "x")
        .param("mode", "fast", "how").one_of({"fast", "exact"})
        .param("rate", 0.5, "a probability").at_least(0).at_most(1)
        .parallel("stateless");
  }
  explicit FactMap(const Params&) {}
};

// Takes epochs and items from its stream; its static check compares them with `steps`.
struct FactSink : Node {
  static NodeSchema schema() {
    return NodeSchema("sf_sink")
        .input("in", "x")
        .param("epochs", 1, "epochs").from_stream("epochs")
        .param("items", 0, "items per epoch").from_stream("items")
        .param("steps", 1, "steps per epoch").greater_than(0)
        .check([](const Params& p, const std::vector<StreamFacts>&, Diagnostics& out) {
          if (p.get_int("steps") > p.get_int("items")) out.error("steps", "more steps than items");
        })
        .serial("one writer");
  }
  explicit FactSink(const Params&) {}
};

SEMIFLOW_REGISTER_NODE(FactSource);
SEMIFLOW_REGISTER_NODE(FactMap);
SEMIFLOW_REGISTER_NODE(FactSink);

PipelineConfig parse(const std::string& nodes) { return parse_pipeline_config("nodes:\n" + nodes, "s.yaml"); }

}  // namespace

TEST_CASE("did you mean names the closest candidate within a few edits", "[stream]") {
  CHECK(did_you_mean("adamm", {"sgd", "rmsprop", "adamw"}) == " (did you mean 'adamw'?)");
  CHECK(did_you_mean("cosin", {"constant", "cosine", "step"}) == " (did you mean 'cosine'?)");
  CHECK(did_you_mean("hlfip", {"hflip", "resize"}) == " (did you mean 'hflip'?)");  // a transposition
  CHECK(did_you_mean("banana", {"sgd", "adamw"}).empty());
}

TEST_CASE("choices and ranges are checked with the value, the allowed ones and a suggestion", "[stream]") {
  CHECK_THROWS_WITH(parse("  - {name: s, type: sf_source}\n  - {name: m, type: sf_map, input: s, mode: exakt}\n"
                          "  - {name: k, type: sf_sink, input: m}\n"),
                    Contains("s.yaml:3: node 'm': parameter 'mode' must be one of fast, exact, got 'exakt' (did you mean 'exact'?)"));
  CHECK_THROWS_WITH(parse("  - {name: s, type: sf_source, count: 0}\n  - {name: k, type: sf_sink, input: s}\n"),
                    Contains("s.yaml:2: node 's': parameter 'count' must be >= 1, got 0"));
  CHECK_THROWS_WITH(parse("  - {name: s, type: sf_source}\n  - {name: m, type: sf_map, input: s, rate: 1.5}\n"
                          "  - {name: k, type: sf_sink, input: m}\n"),
                    Contains("parameter 'rate' must be in [0, 1], got 1.5"));
  CHECK_THROWS_WITH(NodeSchema("bad_default").output("o", "x").param("p", 5, "").at_most(1).serial("").check(),
                    Contains("the default of parameter 'p' must be <= 1, got 5"));
}

TEST_CASE("stream facts flow downstream and fill the parameters that take them", "[stream]") {
  const auto config = parse("  - {name: s, type: sf_source, count: 7, epochs: 3}\n  - {name: m, type: sf_map, input: s}\n"
                            "  - {name: k, type: sf_sink, input: m}\n");
  const auto& sink = config.node("k").params;
  CHECK(sink.get_int("epochs") == 3);
  CHECK(sink.get_int("items") == 7);
  CHECK(config.facts.size() == 3);
  CHECK(config.facts[1].at("epochs").stated_by == "node 's' (epochs)");
  // Written and equal: accepted (an explicit check); written and different: refused at its line.
  CHECK_NOTHROW(parse("  - {name: s, type: sf_source, epochs: 3}\n  - {name: k, type: sf_sink, input: s, epochs: 3}\n"));
  CHECK_THROWS_WITH(parse("  - {name: s, type: sf_source, epochs: 3}\n  - {name: k, type: sf_sink, input: s, epochs: 4}\n"),
                    Contains("s.yaml:3: node 'k': parameter 'epochs' is 4 but the input stream has epochs 3 (set by node 's' "
                             "(epochs)); remove it here, it is taken from the stream"));
}

TEST_CASE("static checks see the completed parameters, and every problem is reported at once", "[stream]") {
  try {
    parse("  - {name: s, type: sf_source, count: 2}\n  - {name: m, type: sf_map, input: s, mode: slow}\n"
          "  - {name: k, type: sf_sink, input: s, steps: 5}\n  - {name: q, type: sf_sinc, input: s}\n");
    FAIL("no error");
  } catch (const ConfigError& e) {
    REQUIRE(e.errors().size() == 3);
    CHECK_THAT(e.errors()[0], Contains("s.yaml:3: node 'm': parameter 'mode' must be one of fast, exact, got 'slow'"));
    CHECK_THAT(e.errors()[1], Contains("s.yaml:5: node 'q': unknown node type 'sf_sinc' (did you mean 'sf_sink'?)"));
    CHECK_THAT(e.errors()[2], Contains("s.yaml:4: node 'k': more steps than items"));
  }
}

TEST_CASE("templates: extends fills what a node does not set; include brings another file's; errors name their file", "[stream]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "semiflow_stream_test";
  fs::create_directories(dir);
  std::ofstream(dir / "recipe.yaml") << "templates:\n  sink: {type: sf_sink, steps: 2}\n  bad: {type: sf_map, mode: slow}\n";
  const std::string config = R"(include: recipe.yaml
templates:
  src: {type: sf_source, count: 4}
  big: {extends: src, count: 9, epochs: 2}
nodes:
  - {name: s, extends: big}
  - {name: k, extends: sink, input: s, steps: 3}
)";
  const auto plan = parse_run_plan(config, dir / "c.yaml");
  const auto& nodes = plan.phases.at(0).config;
  CHECK(nodes.node("s").params.get_int("count") == 9);
  CHECK(nodes.node("s").params.get_int("epochs") == 2);
  CHECK(nodes.node("k").params.get_int("steps") == 3);  // the node's own value wins
  CHECK(nodes.node("k").params.get_int("epochs") == 2);
  // A value from the included file is reported at its line there.
  CHECK_THROWS_WITH(parse_run_plan(config + "  - {name: m, extends: bad, input: s}\n", dir / "c.yaml"),
                    Contains((dir / "recipe.yaml").string() + ":3: node 'm': parameter 'mode' must be one of fast, exact"));
  CHECK_THROWS_WITH(parse_run_plan(config + "  - {name: m, extends: bda, input: s}\n", dir / "c.yaml"),
                    Contains("c.yaml:8: `extends: bda` names no template (did you mean 'bad'?)"));
  // --set on a value shared through a template changes only the node it names, and errors name it.
  const auto overridden = parse_run_plan(config + "  - {name: k2, extends: sink, input: s}\n", dir / "c.yaml", {"k2.steps=1"});
  CHECK(overridden.phases[0].config.node("k2").params.get_int("steps") == 1);
  CHECK_THROWS_WITH(parse_run_plan(config, dir / "c.yaml", {"k.steps=-1"}),
                    Contains("--set k.steps=-1: node 'k': parameter 'steps' must be > 0, got -1"));
  fs::remove_all(dir);
}

TEST_CASE("an override through a YAML anchor changes only the node it names", "[stream]") {
  const std::string config = R"(nodes:
  - {name: s, type: sf_source, count: &n 4}
  - {name: t, type: sf_source, count: *n}
  - {name: k, type: sf_sink, input: s}
  - {name: k2, type: sf_sink, input: t}
)";
  const auto plan = parse_run_plan(config, "a.yaml", {"t.count=6"});
  CHECK(plan.phases[0].config.node("s").params.get_int("count") == 4);
  CHECK(plan.phases[0].config.node("t").params.get_int("count") == 6);
  // A whole entry shared by an anchor is copied before the change.
  const std::string shared = R"(rounds: 1
out_dir: runs/x
phases:
  - name: a
    nodes:
      - &src {name: s, type: sf_source, count: 4}
      - {name: k, type: sf_sink, input: s}
  - name: b
    nodes:
      - *src
      - {name: k, type: sf_sink, input: s}
)";
  const auto phases = parse_run_plan(shared, "b.yaml", {"b.s.count=5"});
  CHECK(phases.phases[0].config.node("s").params.get_int("count") == 4);
  CHECK(phases.phases[1].config.node("s").params.get_int("count") == 5);
}
