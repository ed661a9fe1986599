// Every config mistake is caught before anything runs, and the message names the file and node.
#include "graph/config.h"
#include "graph/node.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <string>

namespace {

using namespace semiflow::graph;

class Reader : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("cfg_reader").doc("Reads a manifest.").output("out", "image")
        .required_param("manifest", ParamType::String, "CSV of image paths")
        .param("limit", 10, "items").safe_to_change().param("scale", 0.5, "a float").param("shuffle", false, "a flag")
        .param("mean", std::vector<double>{0.5, 0.5}, "numbers").param("tags", std::vector<std::string>{}, "strings")
        .serial("reads in file order");
  }
  explicit Reader(const Params&) {}
};

class Blur : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("cfg_blur").doc("Blurs.").input("in", "image").output("out", "image").parallel("stateless");
  }
  explicit Blur(const Params&) {}
};

class Stack : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("cfg_stack").doc("Stacks images.").input("in", "image").output("out", "batch")
        .serial("keeps a batch").accumulates();
  }
  explicit Stack(const Params&) {}
};

class Mix : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("cfg_mix").doc("Mixes two batches.").input("labeled", "batch").input("unlabeled", "batch")
        .output("out", "batch").serial("pairs in order");
  }
  explicit Mix(const Params&) {}
};

class Train : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("cfg_train").doc("Consumes batches.").input("in", "batch").serial("one optimizer");
  }
  explicit Train(const Params&) {}
};

}  // namespace

SEMIFLOW_REGISTER_NODE(Reader);
SEMIFLOW_REGISTER_NODE(Blur);
SEMIFLOW_REGISTER_NODE(Stack);
SEMIFLOW_REGISTER_NODE(Mix);
SEMIFLOW_REGISTER_NODE(Train);

namespace {

PipelineConfig parse(const std::string& text) { return parse_pipeline_config(text, "/cfg/pipe.yaml"); }

const char* kGood = R"(
threads: {graph: 3, torch: 2}
max_in_flight: 32
rounds: [{epochs: 3}, {epochs: 5}]
nodes:
  - {name: train, type: cfg_train, input: mixed}
  - {name: lab, type: cfg_reader, manifest: data/lab.csv, limit: 7, scale: 2, mean: [1, 2.5], tags: [a, b]}
  - {name: unl, type: cfg_reader, manifest: /abs/unl.csv}
  - {name: blur, type: cfg_blur, input: unl}
  - {name: lab_b, type: cfg_stack, input: lab}
  - {name: unl_b, type: cfg_stack, input: blur}
  - {name: mixed, type: cfg_mix, inputs: {labeled: lab_b, unlabeled: unl_b}}
)";

}  // namespace

TEST_CASE("a valid config is parsed, defaulted, typed and sorted inputs-first", "[config]") {
  const PipelineConfig c = parse(kGood);
  CHECK(c.graph_threads == 3);
  CHECK(c.torch_threads == 2);
  CHECK(c.max_in_flight == 32);
  CHECK(c.yaml["rounds"][1]["epochs"].as<int>() == 5);  // other sections stay readable
  REQUIRE(c.nodes.size() == 7);
  for (std::size_t i = 0; i < c.nodes.size(); ++i)
    for (std::size_t input : c.nodes[i].inputs) CHECK(input < i);
  CHECK(c.nodes.back().name == "train");
  const Params& lab = c.node("lab").params;
  CHECK(lab.get_int("limit") == 7);
  CHECK(lab.get_float("scale") == 2.0);
  CHECK_FALSE(lab.get_bool("shuffle"));
  CHECK(lab.get_numbers("mean") == std::vector<double>{1, 2.5});
  CHECK(lab.get_strings("tags") == std::vector<std::string>{"a", "b"});
  CHECK(lab.get_path("manifest") == "/cfg/data/lab.csv");
  CHECK(c.node("unl").params.get_path("manifest") == "/abs/unl.csv");
  CHECK(c.node("unl").params.get_int("limit") == 10);
  const auto& mixed = c.node("mixed");
  CHECK(c.nodes[mixed.inputs[0]].name == "lab_b");
  CHECK(c.nodes[mixed.inputs[1]].name == "unl_b");
  CHECK_THROWS_WITH(lab.get_int("scale"), Catch::Contains("'lab'") && Catch::Contains("declares it float"));
  const std::string text = describe_pipeline(c);
  CHECK_THAT(text, Catch::Contains("mixed (cfg_mix, serial) inputs: labeled<-lab_b unlabeled<-unl_b -> batch"));
  CHECK_THAT(text, Catch::Contains("threads graph=3 torch=2, max_in_flight=32"));
}

TEST_CASE("config mistakes are reported with the file, the line and the node", "[config]") {
  using Catch::Contains;
  auto fails = [](const std::string& nodes, const std::string& what) {
    INFO(nodes);
    CHECK_THROWS_WITH(parse("nodes:\n" + nodes), Contains("/cfg/pipe.yaml:") && Contains(what));
  };
  fails("  - {name: a, type: cfg_nope}",
        "node 'a': unknown node type 'cfg_nope'; known types: cfg_blur, cfg_mix, cfg_reader, cfg_stack, cfg_train");
  fails("  - {name: a, type: cfg_reader, manifest: x, colour: red}",
        "node 'a': type 'cfg_reader' has no parameter 'colour'; valid parameters: manifest, limit, scale, shuffle, mean, tags");
  fails("  - {name: a, type: cfg_reader, manifest: x, limit: 2.5}", "node 'a': parameter 'limit' must be int");
  fails("  - {name: a, type: cfg_reader, manifest: x, scale: fast}", "node 'a': parameter 'scale' must be float");
  fails("  - {name: a, type: cfg_reader, manifest: x, shuffle: 3}", "node 'a': parameter 'shuffle' must be bool");
  fails("  - {name: a, type: cfg_reader, manifest: x, mean: [1, x]}", "parameter 'mean' must be list of numbers");
  fails("  - {name: a, type: cfg_reader, manifest: [x]}", "parameter 'manifest' must be string");
  fails("  - {name: a, type: cfg_reader}", "node 'a': required parameter 'manifest'");
  fails("  - {name: a, type: cfg_reader, manifest: x}\n  - {name: a, type: cfg_blur, input: a}",
        "pipe.yaml:3: node 'a': duplicate node name");
  fails("  - {name: a, type: cfg_reader, manifest: x}\n  - {name: b, type: cfg_blur}",
        "node 'b': missing input: type 'cfg_blur' needs `input: <node>`");
  fails("  - {name: a, type: cfg_reader, manifest: x}\n  - {name: b, type: cfg_blur, input: ghost}",
        "node 'b': input 'in' names unknown node 'ghost'");
  fails("  - {name: a, type: cfg_reader, manifest: x, input: b}", "node 'a': type 'cfg_reader' is a source");
  fails("  - {name: a, type: cfg_reader, manifest: x}\n  - {name: t, type: cfg_train, input: a}",
        "node 't': port type mismatch: input 'in' takes 'batch' but 'a' (cfg_reader) produces 'image'");
  fails("  - {name: a, type: cfg_reader, manifest: x}\n  - {name: s, type: cfg_stack, input: a}\n"
        "  - {name: m, type: cfg_mix, inputs: {labeled: s}}",
        "node 'm': missing input: port 'unlabeled' is not connected");
  fails("  - {name: a, type: cfg_reader, manifest: x}\n  - {name: s, type: cfg_stack, input: a}\n"
        "  - {name: m, type: cfg_mix, input: s}",
        "node 'm': type 'cfg_mix' has several inputs; name them");
  fails("  - {name: a, type: cfg_reader, manifest: x}\n  - {name: s, type: cfg_stack, input: a}\n"
        "  - {name: m, type: cfg_mix, inputs: {labeled: s, unlabeled: s, extra: s}}",
        "node 'm': type 'cfg_mix' has no input port 'extra'; its ports: labeled, unlabeled");
  fails("  - {name: a, type: cfg_reader, manifest: x}\n  - {name: s, type: cfg_stack, input: a}\n"
        "  - {name: t, type: cfg_train, input: s}\n  - {name: u, type: cfg_train, input: t}",
        "node 'u': input 'in' reads 't', a sink");
  fails("  - {name: a, type: cfg_reader, manifest: x}\n  - {name: s, type: cfg_stack, input: a}\n"
        "  - {name: m, type: cfg_mix, inputs: {labeled: s, unlabeled: m}}\n",
        "the graph has a cycle through nodes: m");
  fails("  - {name: b1, type: cfg_blur, input: b2}\n  - {name: b2, type: cfg_blur, input: b1}",
        "the graph has no source node");
  fails("  - {type: cfg_blur}", "a node has no `name`");
}

TEST_CASE("top-level settings are checked too", "[config]") {
  const std::string nodes = "nodes:\n  - {name: a, type: cfg_reader, manifest: x}\n";
  CHECK_THROWS_WITH(parse("threads: {graph: 0}\n" + nodes), Catch::Contains("`threads.graph` must be a positive integer"));
  CHECK_THROWS_WITH(parse("threads: {gpu: 1}\n" + nodes), Catch::Contains("unknown key threads.gpu"));
  CHECK_THROWS_WITH(parse("max_in_flight: lots\n" + nodes), Catch::Contains("`max_in_flight` must be a positive integer"));
  CHECK_THROWS_WITH(parse("plugins: [nowhere/libx.so]\n" + nodes),
                    Catch::Contains("pipe.yaml:1: plugin /cfg/nowhere/libx.so: no such file"));
  CHECK_THROWS_WITH(parse("rounds: 3\n"), Catch::Contains("`nodes:` must be a non-empty list"));
  CHECK_THROWS_WITH(parse("nodes: [\n"), Catch::Contains("/cfg/pipe.yaml: invalid YAML"));
  CHECK_THROWS_WITH(load_pipeline_config("/nonexistent/p.yaml"), Catch::Contains("/nonexistent/p.yaml: cannot open"));
}
