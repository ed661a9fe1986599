// Execution contracts of the graph engine, each run at 1 and several oneTBB threads.
#include "graph/config.h"
#include "graph/node.h"
#include "graph/runtime.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using namespace semiflow::graph;

// Counts live values so a test can check how many items exist at once.
std::atomic<int> alive{0};
std::atomic<int> max_alive{0};

struct Tracked {
  std::int64_t value = 0;
  bool live = true;
  explicit Tracked(std::int64_t v) : value(v) { enter(); }
  Tracked(const Tracked& other) : value(other.value) { enter(); }
  Tracked(Tracked&& other) noexcept : value(other.value), live(other.live) { other.live = false; }
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked() {
    if (live) --alive;
  }
  static void enter() {
    const int now = ++alive;
    int seen = max_alive;
    while (now > seen && !max_alive.compare_exchange_weak(seen, now)) {}
  }
};

std::mutex collected_mutex;
std::vector<std::int64_t> collected;       // what rt_collect saw, in the order it saw it
std::vector<std::int64_t> other_collected;  // the second sink of a fan-out

void reset() {
  alive = 0;
  max_alive = 0;
  collected.clear();
  other_collected.clear();
}

void spin_for(std::chrono::microseconds duration) {
  const auto until = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < until) {}
}

class Source : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("rt_source").doc("Emits Tracked 0..count-1 with origin item-<i>.").output("out", "num")
        .param("count", 100, "items").param("fail_at", -1, "throw when reaching this value (-1: never)")
        .serial("a counter");
  }
  explicit Source(const Params& p) : count_(p.get_int("count")), fail_at_(p.get_int("fail_at")) {}
  bool generate(Emitter& out) override {
    if (next_ == fail_at_) throw std::runtime_error("source broke");
    if (next_ == count_) return false;
    out.emit(Tracked(next_), fmt::format("item-{}", next_));
    ++next_;
    return true;
  }

 private:
  std::int64_t count_, fail_at_, next_ = 0;
};

// Parallel, with uneven work so items overtake each other: drops multiples of 7, splits values
// ending in 3 into (v, v + 1000), throws on fail_at.
class Jitter : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("rt_jitter").doc("Drops, splits and delays items unevenly.").input("in", "num")
        .output("out", "num").param("fail_at", -1, "throw on this value (-1: never)")
        .param("drop_and_split", true, "drop multiples of 7, split values ending in 3")
        .parallel("stateless");
  }
  explicit Jitter(const Params& p) : fail_at_(p.get_int("fail_at")), reshape_(p.get_bool("drop_and_split")) {}
  void process(Inputs& in, Emitter& out) override {
    const std::int64_t v = in[0].get<Tracked>().value;
    if (v == fail_at_) throw std::runtime_error(fmt::format("cannot handle {}", v));
    spin_for(std::chrono::microseconds((v * 7919) % 50));
    if (reshape_ && v % 7 == 0) return;
    if (reshape_ && v % 10 == 3) out.emit(Tracked(v + 1000), in[0].origin);
    out.emit(std::move(in[0]));
  }
  void flush(Emitter& out) override {
    if (fail_at_ == -2) out.emit(Tracked(-1), "flush");
  }

 private:
  std::int64_t fail_at_;
  bool reshape_;
};

// Serial and accumulating: sums groups of `size` values, last group at end of stream.
class Batch : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("rt_batch").doc("Emits the sum of each group of `size` inputs.").input("in", "num")
        .output("out", "num").param("size", 4, "group size").serial("keeps a running group").accumulates();
  }
  explicit Batch(const Params& p) : size_(p.get_int("size")) {}
  void process(Inputs& in, Emitter& out) override {
    held_.push_back(std::move(in[0].get<Tracked>()));
    if (static_cast<std::int64_t>(held_.size()) == size_) emit(out);
  }
  void flush(Emitter& out) override {
    if (!held_.empty()) emit(out);
  }

 private:
  void emit(Emitter& out) {
    std::int64_t sum = 0;
    for (const auto& t : held_) sum += t.value;
    held_.clear();
    out.emit(Tracked(sum), "batch");
  }
  std::int64_t size_;
  std::vector<Tracked> held_;
};

class Collect : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("rt_collect").doc("Records values in arrival order.").input("in", "num")
        .param("other", false, "record into the second list").param("delay_us", 0, "time spent per item")
        .param("stop_after", -1, "raise the stop flag after this many items (-1: never)")
        .serial("records the order it sees");
  }
  explicit Collect(const Params& p)
      : list_(p.get_bool("other") ? other_collected : collected),
        delay_(p.get_int("delay_us")),
        stop_after_(p.get_int("stop_after")) {}
  void process(Inputs& in, Emitter&) override {
    spin_for(delay_);
    std::lock_guard lock(collected_mutex);
    list_.push_back(in[0].get<Tracked>().value);
    if (static_cast<std::int64_t>(list_.size()) == stop_after_) stop_flag = true;
  }
  static inline std::atomic<bool> stop_flag{false};

 private:
  std::vector<std::int64_t>& list_;
  std::chrono::microseconds delay_;
  std::int64_t stop_after_;
};

// A sink that may declare itself up to date, and reports how many items it saw.
class Done : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("rt_done").doc("Sink that is up to date when told so.").input("in", "num")
        .param("up_to_date", false, "what up_to_date() answers").serial("counts");
  }
  explicit Done(const Params& p) : up_to_date_(p.get_bool("up_to_date")) {}
  void process(Inputs&, Emitter&) override { ++seen_; }
  bool up_to_date() const override { return up_to_date_; }
  nlohmann::json report() const override { return {{"seen", seen_}}; }

 private:
  bool up_to_date_;
  std::int64_t seen_ = 0;
};

// Pairs its two inputs into left * 100000 + right.
template <bool Parallel>
class Pair : public Node {
 public:
  static NodeSchema schema() {
    auto s = NodeSchema(Parallel ? "rt_pair_parallel" : "rt_pair_serial").doc("Combines one item from each input.")
                 .input("left", "num").input("right", "num").output("out", "num");
    return Parallel ? s.parallel("stateless") : s.serial("for the test");
  }
  explicit Pair(const Params&) {}
  void process(Inputs& in, Emitter& out) override {
    REQUIRE(in.size() == 2);
    out.emit(Tracked(in[0].get<Tracked>().value * 100000 + in[1].get<Tracked>().value), in[0].origin);
  }
};

using SerialPair = Pair<false>;
using ParallelPair = Pair<true>;

}  // namespace

SEMIFLOW_REGISTER_NODE(Source);
SEMIFLOW_REGISTER_NODE(Jitter);
SEMIFLOW_REGISTER_NODE(Batch);
SEMIFLOW_REGISTER_NODE(Collect);
SEMIFLOW_REGISTER_NODE(Done);
SEMIFLOW_REGISTER_NODE(SerialPair);
SEMIFLOW_REGISTER_NODE(ParallelPair);

namespace {

PipelineConfig config(int threads, const std::string& nodes, int max_in_flight = 64) {
  return parse_pipeline_config(
      fmt::format("threads: {{graph: {}}}\nmax_in_flight: {}\nnodes:\n{}", threads, max_in_flight, nodes),
      "test.yaml");
}

std::vector<std::int64_t> expected_after_jitter(std::int64_t count) {
  std::vector<std::int64_t> values;
  for (std::int64_t v = 0; v < count; ++v) {
    if (v % 7 == 0) continue;
    if (v % 10 == 3) values.push_back(v + 1000);
    values.push_back(v);
  }
  return values;
}

}  // namespace

TEST_CASE("items reach an ordered serial sink in source order through a parallel node that drops and splits",
          "[runtime]") {
  for (int threads : {1, 2, 4}) {
    reset();
    run_pipeline(config(threads, R"(
  - {name: src, type: rt_source, count: 2000}
  - {name: jit, type: rt_jitter, input: src}
  - {name: out, type: rt_collect, input: jit}
)"));
    INFO("threads " << threads);
    CHECK(collected == expected_after_jitter(2000));
    CHECK(alive == 0);
  }
}

TEST_CASE("items alive never exceed max_in_flight (+1 waiting at the source)", "[runtime]") {
  for (int threads : {1, 2, 4}) {
    reset();
    const auto result = run_pipeline(config(threads, R"(
  - {name: src, type: rt_source, count: 3000}
  - {name: jit, type: rt_jitter, input: src, drop_and_split: false}
  - {name: out, type: rt_collect, input: jit, delay_us: 20}
)", 8));
    INFO("threads " << threads);
    CHECK(collected.size() == 3000);
    // One thread runs each item depth-first, so only several threads can push against the limit.
    CHECK(max_alive <= 8 + 1);
    CHECK(result.stats.nodes.back().items_in == 3000);
  }
}

TEST_CASE("fan-out gives every consumer every item and copies stay within the bound", "[runtime]") {
  for (int threads : {1, 2}) {
    reset();
    run_pipeline(config(threads, R"(
  - {name: src, type: rt_source, count: 500}
  - {name: fast, type: rt_collect, input: src}
  - {name: slow, type: rt_collect, input: src, other: true, delay_us: 30}
)", 8));
    std::vector<std::int64_t> all(500);
    for (int i = 0; i < 500; ++i) all[i] = i;
    CHECK(collected == all);
    CHECK(other_collected == all);
    CHECK(max_alive <= 2 * (8 + 1));
  }
}

TEST_CASE("end of stream flushes the last partial batch, in order", "[runtime]") {
  for (int threads : {1, 3}) {
    reset();
    run_pipeline(config(threads, R"(
  - {name: src, type: rt_source, count: 10}
  - {name: batch, type: rt_batch, input: src, size: 4}
  - {name: out, type: rt_collect, input: batch}
)"));
    CHECK(collected == std::vector<std::int64_t>{0 + 1 + 2 + 3, 4 + 5 + 6 + 7, 8 + 9});
    CHECK(alive == 0);
  }
}

TEST_CASE("a batcher holding more than max_in_flight is reported as a stall, not a hang", "[runtime]") {
  reset();
  const auto cfg = config(2, R"(
  - {name: src, type: rt_source, count: 100}
  - {name: batch, type: rt_batch, input: src, size: 32}
  - {name: out, type: rt_collect, input: batch}
)", 8);
  CHECK_THROWS_WITH(run_pipeline(cfg), Catch::Contains("stalled") && Catch::Contains("src") &&
                                           Catch::Contains("'batch' keeps about 8 items"));
}

TEST_CASE("multi-input nodes pair the i-th item of each input", "[runtime]") {
  for (const char* pair_type : {"rt_pair_serial", "rt_pair_parallel"}) {
    for (int threads : {1, 2, 4}) {
      reset();
      run_pipeline(config(threads, fmt::format(R"(
  - {{name: a, type: rt_source, count: 300}}
  - {{name: b, type: rt_source, count: 300}}
  - {{name: ja, type: rt_jitter, input: a, drop_and_split: false}}
  - {{name: pair, type: {}, inputs: {{left: ja, right: b}}}}
  - {{name: out, type: rt_collect, input: pair}}
)", pair_type), 16));
      INFO(pair_type << " threads " << threads);
      std::vector<std::int64_t> expected;
      for (std::int64_t i = 0; i < 300; ++i) expected.push_back(i * 100000 + i);
      CHECK(collected == expected);
      CHECK(alive == 0);
    }
  }
}

TEST_CASE("an exception in a node stops the graph and names the node and the item", "[runtime]") {
  for (int threads : {1, 2}) {
    reset();
    // A source of a billion items: only a prompt stop lets this test finish.
    const auto cfg = config(threads, R"(
  - {name: src, type: rt_source, count: 1000000000}
  - {name: boom, type: rt_jitter, input: src, fail_at: 37}
  - {name: out, type: rt_collect, input: boom}
)");
    try {
      run_pipeline(cfg);
      FAIL("no exception");
    } catch (const NodeFailure& e) {
      CHECK(e.node() == "boom");
      CHECK(e.origin() == "item-37");
      CHECK(e.message() == "cannot handle 37");
      CHECK_THAT(e.what(), Catch::Contains("node 'boom' failed on item 'item-37': cannot handle 37"));
    }
  }
}

TEST_CASE("failures in a source and at end of stream are reported too", "[runtime]") {
  reset();
  CHECK_THROWS_WITH(run_pipeline(config(2, R"(
  - {name: src, type: rt_source, count: 100, fail_at: 10}
  - {name: out, type: rt_collect, input: src}
)")), Catch::Contains("node 'src'") && Catch::Contains("source broke"));
  // A parallel node has no place in the order for end-of-stream output, so emitting is refused.
  CHECK_THROWS_WITH(run_pipeline(config(2, R"(
  - {name: src, type: rt_source, count: 10}
  - {name: jit, type: rt_jitter, input: src, fail_at: -2}
  - {name: out, type: rt_collect, input: jit}
)")), Catch::Contains("node 'jit'") && Catch::Contains("parallel node cannot emit in flush"));
}

TEST_CASE("a stop request ends the run promptly and reports it cancelled", "[runtime]") {
  for (int threads : {1, 2}) {
    reset();
    Collect::stop_flag = false;
    RunOptions options;
    options.stop_requested = &Collect::stop_flag;
    const auto result = run_pipeline(config(threads, R"(
  - {name: src, type: rt_source, count: 1000000000}
  - {name: out, type: rt_collect, input: src, stop_after: 100}
)"), options);
    CHECK(result.cancelled);
    CHECK(collected.size() >= 100);
    CHECK(collected.size() < 1000000);
  }
}

TEST_CASE("statistics count items per node and report progress while running", "[runtime]") {
  reset();
  std::atomic<int> reports{0};
  RunOptions options;
  options.progress_period = std::chrono::milliseconds(10);
  options.on_progress = [&](const GraphSnapshot& snap) {
    if (snap.nodes.size() == 3) ++reports;
  };
  const auto result = run_pipeline(config(2, R"(
  - {name: src, type: rt_source, count: 3000}
  - {name: jit, type: rt_jitter, input: src}
  - {name: out, type: rt_collect, input: jit, delay_us: 20}
)"), options);
  CHECK(reports >= 1);
  const auto& nodes = result.stats.nodes;
  REQUIRE(nodes.size() == 3);
  CHECK(nodes[0].name == "src");
  CHECK(nodes[0].items_out == 3000);
  CHECK(nodes[1].items_in == 3000);
  CHECK(nodes[1].items_out == expected_after_jitter(3000).size());
  CHECK(nodes[2].items_in == nodes[1].items_out);
  CHECK(nodes[2].busy_s > 0.02);  // 20 us per item
  CHECK(nodes[2].queued == 0);
  const auto json = result.stats.to_json();
  CHECK(json["nodes"][2]["name"] == "out");
  CHECK(json["nodes"][2]["items_in"] == nodes[2].items_in);
  CHECK_THAT(result.stats.to_table(), Catch::Contains("rt_jitter"));
}

TEST_CASE("setup hooks see the config's torch thread count before the run", "[runtime]") {
  static int seen_torch_threads = 0;
  static const bool added = add_run_setup_hook([](const PipelineConfig& c) { seen_torch_threads = c.torch_threads; });
  REQUIRE(added);
  reset();
  run_pipeline(parse_pipeline_config(R"(
threads: {graph: 1, torch: 3}
nodes:
  - {name: src, type: rt_source, count: 1}
  - {name: out, type: rt_collect, input: src}
)", "test.yaml"));
  CHECK(seen_torch_threads == 3);
}

TEST_CASE("a graph whose sinks are all up to date is skipped; reports come back either way", "[runtime]") {
  reset();
  const auto ran = run_pipeline(config(2, R"(
  - {name: src, type: rt_source, count: 10}
  - {name: a, type: rt_done, input: src, up_to_date: true}
  - {name: b, type: rt_done, input: src, up_to_date: false}
)"));
  CHECK_FALSE(ran.skipped);
  CHECK(ran.reports["a"]["seen"] == 10);
  CHECK(ran.reports["b"]["seen"] == 10);
  CHECK_FALSE(ran.reports.contains("src"));  // no report: left out

  const auto skipped = run_pipeline(config(2, R"(
  - {name: src, type: rt_source, count: 10, fail_at: 0}
  - {name: a, type: rt_done, input: src, up_to_date: true}
)"));
  CHECK(skipped.skipped);  // the source would have failed had it started
  CHECK(skipped.reports["a"]["seen"] == 0);
  for (const auto& node : skipped.stats.nodes) CHECK(node.waiting_s < 1.0);  // nothing ran, nothing waited
}
