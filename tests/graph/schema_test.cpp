// Schemas describe themselves and refuse contradictions; the registry refuses bad registrations.
#include "graph/node.h"
#include "graph/registry.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

namespace {

using namespace semiflow::graph;

class Unstated : public Node {
 public:
  static NodeSchema schema() { return NodeSchema("sch_unstated").input("in", "x").output("out", "x"); }
  explicit Unstated(const Params&) {}
};

class Twice : public Node {
 public:
  static NodeSchema schema() { return NodeSchema("sch_twice").output("out", "x").serial("counter"); }
  explicit Twice(const Params&) {}
};

class TwiceAgain : public Node {
 public:
  static NodeSchema schema() { return NodeSchema("sch_twice").output("out", "y").serial("counter"); }
  explicit TwiceAgain(const Params&) {}
};

}  // namespace

TEST_CASE("schema describes ports, concurrency and parameters with defaults", "[schema]") {
  const auto schema = NodeSchema("decode")
                          .doc("Decodes JPEG bytes.")
                          .input("in", "bytes")
                          .output("out", "image")
                          .param("channels", 3, "1 or 3")
                          .param("mean", std::vector<double>{0.5, 0.25}, "per channel")
                          .required_param("root", ParamType::String, "image folder")
                          .parallel("each file is independent");
  REQUIRE_NOTHROW(schema.check());
  CHECK(schema.describe() ==
        "decode\n  Decodes JPEG bytes.\n  input   in: bytes\n  output  out: image\n"
        "  parallel: each file is independent\n  param   channels (int) = 3  1 or 3\n"
        "  param   mean (list of numbers) = [0.5, 0.25]  per channel\n"
        "  param   root (string) (required)  image folder\n");
}

TEST_CASE("contradictory schemas are refused with the type named", "[schema]") {
  using Catch::Contains;
  CHECK_THROWS_WITH(NodeSchema("a").output("o", "x").check(), Contains("node type 'a': the schema states no concurrency"));
  CHECK_THROWS_WITH(NodeSchema("b").output("o", "x").output("p", "x").serial("").check(), Contains("more than one output"));
  CHECK_THROWS_WITH(NodeSchema("c").input("i", "x").parallel("").accumulates().check(), Contains("accumulates() needs .serial()"));
  CHECK_THROWS_WITH(NodeSchema("d").output("o", "x").parallel("").check(), Contains("a source (no inputs) must be serial"));
  CHECK_THROWS_WITH(NodeSchema("e").input("i", "x").input("i", "y").serial("").check(), Contains("input port 'i' is declared twice"));
  CHECK_THROWS_WITH(NodeSchema("f").input("i", "x").param("input", 1, "").serial("").check(), Contains("reserved key"));
}

TEST_CASE("the registry collects registration problems instead of throwing in static initialisers", "[schema]") {
  Registry& registry = Registry::instance();
  registry.take_errors();
  CHECK_FALSE(detail::register_node(SEMIFLOW_GRAPH_ABI_VERSION, &Unstated::schema, &detail::make_node<Unstated>));
  CHECK(detail::register_node(SEMIFLOW_GRAPH_ABI_VERSION, &Twice::schema, &detail::make_node<Twice>));
  CHECK_FALSE(detail::register_node(SEMIFLOW_GRAPH_ABI_VERSION, &TwiceAgain::schema, &detail::make_node<TwiceAgain>));
  CHECK_FALSE(detail::register_node(SEMIFLOW_GRAPH_ABI_VERSION + 1, &Twice::schema, &detail::make_node<Twice>));
  const auto errors = registry.take_errors();
  REQUIRE(errors.size() == 3);
  CHECK_THAT(errors[0], Catch::Contains("'sch_unstated': the schema states no concurrency"));
  CHECK_THAT(errors[1], Catch::Contains("node type 'sch_twice' is already registered by built-in"));
  CHECK_THAT(errors[2], Catch::Contains(fmt::format("built against semiflow graph ABI {}, this semiflow has ABI {}",
                                                  SEMIFLOW_GRAPH_ABI_VERSION + 1, SEMIFLOW_GRAPH_ABI_VERSION)));
  CHECK(registry.get("sch_twice").schema.output()->item_type == "x");
  CHECK_THROWS_WITH(registry.get("sch_nope"), Catch::Contains("unknown node type 'sch_nope'; known types:") &&
                                                  Catch::Contains("sch_twice"));
}
