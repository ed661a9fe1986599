// Per-item cost of the graph engine itself: nodes here do (almost) nothing, so items/s is the
// ceiling the engine puts on a pipeline. Usage: bench_graph_overhead [items] [graph threads]
#include "graph/config.h"
#include "graph/node.h"
#include "graph/runtime.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace {

using namespace semiflow::graph;

class CountSource : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("bench_count").doc("Emits the integers 0..count-1.").output("out", "int")
        .param("count", 1000000, "how many items").serial("a counter");
  }
  explicit CountSource(const Params& p) : count_(p.get_int("count")) {}
  bool generate(Emitter& out) override {
    if (next_ == count_) return false;
    out.emit(next_++, std::string());
    return true;
  }

 private:
  std::int64_t count_, next_ = 0;
};

class AddOne : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("bench_add_one").doc("Adds 1.").input("in", "int").output("out", "int")
        .parallel("stateless");
  }
  explicit AddOne(const Params&) {}
  void process(Inputs& in, Emitter& out) override {
    ++in[0].get<std::int64_t>();
    out.emit(std::move(in[0]));
  }
};

class Batch : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("bench_batch").doc("Sums groups of `size` integers.").input("in", "int").output("out", "int")
        .param("size", 128, "group size").serial("keeps a running group").accumulates();
  }
  explicit Batch(const Params& p) : size_(p.get_int("size")) {}
  void process(Inputs& in, Emitter& out) override {
    sum_ += in[0].get<std::int64_t>();
    if (++n_ == size_) emit(out);
  }
  void flush(Emitter& out) override {
    if (n_ > 0) emit(out);
  }

 private:
  void emit(Emitter& out) {
    out.emit(sum_, std::string());
    sum_ = n_ = 0;
  }
  std::int64_t size_, sum_ = 0, n_ = 0;
};

class Discard : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("bench_discard").doc("Consumes items in order.").input("in", "int").serial("ordered sink");
  }
  explicit Discard(const Params&) {}
  void process(Inputs&, Emitter&) override {}
};

}  // namespace

SEMIFLOW_REGISTER_NODE(CountSource);
SEMIFLOW_REGISTER_NODE(AddOne);
SEMIFLOW_REGISTER_NODE(Batch);
SEMIFLOW_REGISTER_NODE(Discard);

int main(int argc, char** argv) {
  const long items = argc > 1 ? std::stol(argv[1]) : 1000000;
  const int threads = argc > 2 ? std::stoi(argv[2]) : 2;
  const std::string head = fmt::format("threads: {{graph: {}}}\nmax_in_flight: 256\nnodes:\n"
                                       "  - {{name: src, type: bench_count, count: {}}}\n",
                                       threads, items);
  const std::pair<const char*, std::string> shapes[] = {
      {"source -> serial sink", "  - {name: sink, type: bench_discard, input: src}\n"},
      {"source -> parallel -> serial sink",
       "  - {name: map, type: bench_add_one, input: src}\n  - {name: sink, type: bench_discard, input: map}\n"},
      {"source -> parallel x2 -> batch 128 -> serial sink",
       "  - {name: a, type: bench_add_one, input: src}\n  - {name: b, type: bench_add_one, input: a}\n"
       "  - {name: batch, type: bench_batch, input: b}\n  - {name: sink, type: bench_discard, input: batch}\n"},
  };
  for (const auto& [label, body] : shapes) {
    const PipelineConfig config = parse_pipeline_config(head + body, "bench");
    const auto start = std::chrono::steady_clock::now();
    run_pipeline(config);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("{:<50} {:>10.0f} items/s  {:>7.0f} ns/item  ({} items, {} threads)\n", label, items / seconds,
               seconds * 1e9 / items, items, threads);
  }
}
