// Multi-phase configs: expansion over rounds, substitution, validation naming the phase, and the
// upstream fingerprints nodes key their caches on.
#include "graph/phases.h"

#include "tests/temp_dir.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace semiflow::graph;

namespace {

// rt_source / rt_collect are registered by runtime_test.cpp (same test binary).
const char* kPlan = R"(
threads: {graph: 1}
rounds: 2
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
      - {name: src, type: rt_source, count: ${round}}
      - {name: out, type: rt_collect, input: src, delay_us: ${previous_round}}
)";

std::string with(std::string text, const std::string& from, const std::string& to) {
  text.replace(text.find(from), from.size(), to);
  return text;
}

}  // namespace

TEST_CASE("a config with nodes is one phase; phases expand over rounds with ${round} substituted", "[phases]") {
  const auto single = parse_run_plan("nodes:\n  - {name: s, type: rt_source}\n  - {name: o, type: rt_collect, input: s}\n",
                                     "dir/single.yaml");
  REQUIRE(single.phases.size() == 1);
  CHECK(single.phases[0].name == "main");
  CHECK(single.out_dir == std::filesystem::absolute("runs/single"));

  const auto plan = parse_run_plan(kPlan, "dir/ns.yaml");
  CHECK(plan.rounds == 2);
  CHECK(plan.out_dir == std::filesystem::path("dir/runs/ns"));
  REQUIRE(plan.phases.size() == 3);
  CHECK(plan.phases[0].name == "teacher");
  CHECK(plan.phases[0].round == 0);
  CHECK(plan.phases[1].name == "student");
  CHECK(plan.phases[1].round == 1);
  CHECK(plan.phases[1].config.node("src").params.get_int("count") == 1);
  CHECK(plan.phases[1].config.node("out").params.get_int("delay_us") == 0);
  CHECK(plan.phases[2].round == 2);
  CHECK(plan.phases[2].config.node("src").params.get_int("count") == 2);
  CHECK(plan.phases[2].config.node("out").params.get_int("delay_us") == 1);
  CHECK(plan.phases[2].config.graph_threads == 1);  // shared settings reach every phase
}

TEST_CASE("bad multi-phase configs are refused naming the file, the key or the phase", "[phases]") {
  CHECK_THROWS_WITH(parse_run_plan(with(kPlan, "rounds: 2", "roundz: 2"), "ns.yaml"),
                    Catch::Contains("ns.yaml") && Catch::Contains("unknown key 'roundz'") && Catch::Contains("valid keys"));
  CHECK_THROWS_WITH(parse_run_plan(with(kPlan, "rounds: first", "rounds: sometimes"), "ns.yaml"),
                    Catch::Contains("ns.yaml:7") && Catch::Contains("first, later or all"));
  CHECK_THROWS_WITH(parse_run_plan(with(kPlan, "rounds: 2", "rounds: -1"), "ns.yaml"), Catch::Contains(">= 0"));
  CHECK_THROWS_WITH(parse_run_plan(with(kPlan, "delay_us:", "delay_uz:"), "ns.yaml"),
                    Catch::Contains("phase 'student' (rounds 1, 2): ns.yaml:15") && Catch::Contains("delay_uz") &&
                        Catch::Contains("did you mean 'delay_us'"));
  CHECK_THROWS_WITH(parse_run_plan(with(kPlan, "name: student", "name: teacher"), "ns.yaml"),
                    Catch::Contains("duplicate phase name 'teacher'"));
}

TEST_CASE("input fingerprints change with any upstream parameter and only with upstream ones", "[phases]") {
  auto fingerprint = [](const std::string& source_params, const std::string& sink_params) {
    const auto config = parse_pipeline_config(
        "nodes:\n  - {name: s, type: rt_source" + source_params + "}\n  - {name: o, type: rt_collect, input: s" +
            sink_params + "}\n",
        "f.yaml");
    CHECK(config.node("s").params.input_fingerprint().empty());  // a source has no inputs
    return config.node("o").params.input_fingerprint();
  };
  const auto base = fingerprint("", "");
  CHECK(base.size() == 16);
  CHECK(fingerprint("", ", delay_us: 5") == base);     // the node's own parameters are not upstream
  CHECK(fingerprint(", count: 99", "") != base);       // an upstream parameter is
  CHECK(fingerprint(", count: 100", "") == base);      // 100 is the default: the same resolved config
}

TEST_CASE("fingerprints write the run folder as ${out_dir} and leave out parameters safe to change", "[phases]") {
  // cfg_reader (config_test.cpp) declares `limit` safe to change.
  auto reader = [](const std::vector<std::string>& overrides) {
    return parse_run_plan("nodes:\n  - {name: r, type: cfg_reader, manifest: m.csv}\n", "configs/one.yaml", overrides)
        .phases[0].config.node("r").params;
  };
  const auto here = reader({"out_dir=/tmp/here", "r.manifest=${out_dir}/m.csv"});
  const auto moved = reader({"out_dir=/elsewhere/run", "r.manifest=${out_dir}/m.csv", "r.limit=3"});
  CHECK(fingerprinted_values(here).at("manifest") == "${out_dir}/m.csv");
  CHECK(fingerprinted_values(here).count("limit") == 0);
  CHECK(fingerprint_params("", moved) == fingerprint_params("", here));
  const auto other = reader({"out_dir=/tmp/here", "r.manifest=${out_dir}/n.csv", "r.scale=1"});
  CHECK(describe_changed_values(fingerprinted_values(here), fingerprinted_values(other)) ==
        "manifest ${out_dir}/m.csv -> ${out_dir}/n.csv, scale 0.5 -> 1");
}

TEST_CASE("without out_dir a run goes to runs/<config name>; ${...} expands in --set values too", "[phases]") {
  const std::string no_out_dir = with(kPlan, "out_dir: runs/ns\n", "");
  const auto plan = parse_run_plan(no_out_dir, "configs/ns.yaml");
  CHECK(plan.out_dir == std::filesystem::absolute("runs/ns"));
  // cfg_reader is registered by config_test.cpp (same test binary).
  const auto moved = parse_run_plan("nodes:\n  - {name: r, type: cfg_reader, manifest: m.csv}\n", "configs/one.yaml",
                                    {"out_dir=/tmp/elsewhere", "r.manifest=${out_dir}/m.csv"});
  CHECK(moved.out_dir == "/tmp/elsewhere");
  CHECK(moved.phases[0].config.node("r").params.get_string("manifest") == "/tmp/elsewhere/m.csv");
}

TEST_CASE("vars: ${name} expands everywhere; an included file's vars are defaults; --set vars.x changes one", "[phases]") {
  semiflow::testing::TempDir dir;
  std::ofstream(dir.file("recipe.yaml")) << "vars: {count: 4, delay: 7}\ntemplates:\n  src: {type: rt_source, count: ${count}}\n";
  const std::string config = "vars: {delay: 2}\ninclude: recipe.yaml\nout_dir: runs/v${delay}\nnodes:\n"
                             "  - {name: src, extends: src}\n  - {name: out, type: rt_collect, input: src, delay_us: ${delay}}\n";
  const auto path = dir.path() / "config.yaml";
  const auto plan = parse_run_plan(config, path);
  CHECK(plan.out_dir == dir.path() / "runs/v2");
  CHECK(plan.phases[0].config.node("src").params.get_int("count") == 4);  // the recipe's value
  CHECK(plan.phases[0].config.node("out").params.get_int("delay_us") == 2);  // the config's wins

  const auto changed = parse_run_plan(config, path, {"vars.count=5", "vars.delay=3"});
  CHECK(changed.phases[0].config.node("src").params.get_int("count") == 5);
  CHECK(changed.phases[0].config.node("out").params.get_int("delay_us") == 3);
  CHECK(changed.out_dir == dir.path() / "runs/v3");

  CHECK_THROWS_WITH(parse_run_plan(with(config, "${delay}}", "${dlay}}"), path),
                    Catch::Contains("${dlay} is not a variable: define it under `vars:` (or --set vars.dlay=VALUE)"));
  CHECK_THROWS_WITH(parse_run_plan(config, path, {"vars.dealy=3"}),
                    Catch::Contains("variable 'dealy' is used nowhere (no ${dealy} in the config or its includes)") &&
                        Catch::Contains("delay"));
  CHECK_THROWS_WITH(parse_run_plan(with(config, "vars: {delay: 2}", "vars: {delay: 2, round: 1}"), path),
                    Catch::Contains("variable 'round' is set by the run itself"));
  CHECK_THROWS_WITH(parse_run_plan(with(config, "vars: {delay: 2}", "vars: {delay: [2]}"), path),
                    Catch::Contains("variable 'delay' must be a single value"));
}
