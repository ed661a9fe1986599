#include "graph/runtime.h"

#include "graph/plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace semiflow::graph {
namespace {

namespace flow = tbb::flow;

// In-flight accounting. Each source packet is worth kUnit tokens of its source; the tokens travel
// with the items made from it (the first output of a call inherits its inputs' tokens) and go back
// to the source's limiter when the item leaves the graph or is dropped. Fan-out splits the tokens
// between the copies, so a packet is released only once its last copy is gone.
constexpr std::uint64_t kUnit = std::uint64_t{1} << 20;
using Tokens = std::array<std::uint64_t, kMaxSources>;

void add_tokens(Tokens& into, const Tokens& from) {
  for (std::size_t s = 0; s < kMaxSources; ++s) into[s] += from[s];
}

struct Slot {
  Item item;
  Tokens tokens{};
};

// What travels on a tbb edge: a numbered group of items. A parallel node answers every packet with
// one packet of the same number, empty if it dropped everything, so order can be restored later;
// serial nodes renumber what they emit.
struct Packet {
  std::uint64_t seq = 0;
  std::vector<Slot> slots;
};
using PacketPtr = std::shared_ptr<Packet>;

struct Msg {
  PacketPtr packet;
  std::size_t port = 0;
};

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

class SlotEmitter final : public Emitter {
 public:
  SlotEmitter(std::vector<Slot>& out, const char* refusal) : out_(out), refusal_(refusal) {}
  void emit(Item item) override {
    if (refusal_) throw std::logic_error(refusal_);
    out_.push_back(Slot{std::move(item), {}});
  }

 private:
  std::vector<Slot>& out_;
  const char* refusal_;  // why this node may not emit here, or null
};

struct Counters {
  std::atomic<std::uint64_t> items_in{0}, items_out{0}, busy_ns{0}, waiting_ns{0};
  std::atomic<std::uint64_t> arrived{0}, started{0};
  std::atomic<std::int64_t> active{0};  // packets queued or being processed
  std::atomic<std::uint64_t> idle_since_ns{0};
};

struct NodeRun;

struct Route {
  flow::receiver<Msg>* target;
  NodeRun* consumer;
  std::size_t port;
};

struct NodeRun {
  const NodeDef* def = nullptr;
  const NodePlan* plan = nullptr;
  std::unique_ptr<Node> impl;
  bool serial = false;
  bool accumulates = false;
  std::size_t n_inputs = 0;
  int source_index = -1;
  std::vector<Route> routes;

  std::unique_ptr<flow::input_node<Msg>> source;
  std::unique_ptr<flow::limiter_node<Msg, long long>> limiter;
  std::vector<std::unique_ptr<flow::sequencer_node<Msg>>> sequencers;  // per input port, when order matters
  std::unique_ptr<flow::function_node<Msg>> zip;    // multi-input nodes: pairs the ports' items
  std::unique_ptr<flow::function_node<Msg>> stage;  // runs the node (sources: routes to several consumers)

  // Touched only by the node's serial stage (or the serial zip, or the serial source body).
  std::uint64_t next_out_seq = 0;
  std::uint64_t calls = 0;
  std::uint64_t next_zip_seq = 0;
  Tokens pool{};  // tokens of inputs an accumulating node keeps
  std::vector<std::deque<Slot>> waiting;  // multi-input: items waiting for a partner, per port
  std::atomic<bool> exhausted{false};

  Counters counters;

  flow::receiver<Msg>& entry(std::size_t port) {
    if (!sequencers.empty()) return *sequencers[port];
    return *stage;
  }
};

std::mutex hooks_mutex;
std::vector<std::function<void(const PipelineConfig&)>>& setup_hooks() {
  static std::vector<std::function<void(const PipelineConfig&)>> hooks;
  return hooks;
}

class Engine {
 public:
  Engine(const PipelineConfig& config, const RunOptions& options) : config_(config), plan_(lower(config)), options_(options) {}
  RunResult run();

 private:
  void build();
  void build_node(NodeRun& node);
  Msg generate(NodeRun& node, tbb::flow_control& control);
  void process_packet(NodeRun& node, const Msg& message);
  void zip_packet(NodeRun& node, const Msg& message);
  void process_joined(NodeRun& node, const Msg& message);
  bool call(NodeRun& node, Slot* const* inputs, std::size_t count, std::uint64_t seq, std::vector<Slot>& out);
  void forward(NodeRun& node, PacketPtr packet);
  void route(NodeRun& from, PacketPtr packet);
  void release(const Tokens& tokens);
  void arrive(NodeRun& node);
  void begin(NodeRun& node);
  void finish(NodeRun& node, std::uint64_t start_ns, std::uint64_t items_in, std::uint64_t items_out);
  void fail(const NodeRun& node, const std::string& origin, const std::string& message);
  bool stopping() const;
  void flush_all();
  void check_stalled();
  void check_balanced();
  GraphSnapshot snapshot() const;
  bool all_sinks_up_to_date() const;
  nlohmann::json reports() const;

  const PipelineConfig& config_;
  const ExecutionPlan plan_;
  const RunOptions& options_;
  std::uint64_t start_ns_ = 0;
  // Declared before the nodes so it is destroyed after them (tbb nodes unregister from it).
  flow::graph graph_;
  std::vector<std::unique_ptr<NodeRun>> nodes_;
  std::vector<NodeRun*> sources_;
  std::array<std::atomic<std::uint64_t>, kMaxSources> released_{};  // tokens back, per source
  std::array<std::uint64_t, kMaxSources> produced_{};                // packets out, per source

  std::atomic<bool> stopping_{false};
  std::atomic<bool> cancelled_{false};
  std::mutex failure_mutex_;
  std::optional<NodeFailure> failure_;
};

bool Engine::stopping() const {
  return stopping_.load(std::memory_order_relaxed) ||
         (options_.stop_requested && options_.stop_requested->load(std::memory_order_relaxed));
}

void Engine::fail(const NodeRun& node, const std::string& origin, const std::string& message) {
  {
    std::lock_guard lock(failure_mutex_);
    if (!failure_) failure_.emplace(node.def->name, origin, message);
  }
  stopping_ = true;
  graph_.cancel();
}

void Engine::build() {
  for (std::size_t i = 0; i < config_.nodes.size(); ++i) {
    const NodeDef& def = config_.nodes[i];
    auto node = std::make_unique<NodeRun>();
    node->def = &def;
    node->plan = &plan_.nodes[i];
    node->serial = node->plan->serial;
    node->accumulates = node->plan->accumulates;
    node->n_inputs = node->plan->inputs.size();
    node->source_index = node->plan->source;
    try {
      node->impl = def.type->factory(def.params);
    } catch (const std::exception& e) {
      throw NodeFailure(def.name, "(construction)", e.what());
    }
    if (node->source_index >= 0) sources_.push_back(node.get());
    nodes_.push_back(std::move(node));
  }
  for (auto& node : nodes_) build_node(*node);
  for (auto& node : nodes_) {
    for (std::size_t port = 0; port < node->n_inputs; ++port) {
      NodeRun& producer = *nodes_[node->plan->inputs[port]];
      producer.routes.push_back({&node->entry(port), node.get(), port});
    }
  }
  for (NodeRun* source : sources_) {
    if (!source->plan->router) {
      // One consumer: the limiter feeds it directly (generate() addresses the port).
      flow::make_edge(*source->limiter, *source->routes[0].target);
      continue;
    }
    // Several consumers (or none): a router copies packets; it needs no order, so it runs unlimited.
    source->stage = std::make_unique<flow::function_node<Msg>>(graph_, flow::unlimited, [this, source](const Msg& m) {
      route(*source, m.packet);
      return flow::continue_msg();
    });
    flow::make_edge(*source->limiter, *source->stage);
  }
}

void Engine::build_node(NodeRun& node) {
  auto on_sequence = [](const Msg& m) { return static_cast<std::size_t>(m.packet->seq); };
  if (node.source_index >= 0) {
    node.source = std::make_unique<flow::input_node<Msg>>(
        graph_, [this, &node](tbb::flow_control& control) { return generate(node, control); });
    node.limiter = std::make_unique<flow::limiter_node<Msg, long long>>(graph_, node.plan->limit);
    flow::make_edge(*node.source, *node.limiter);
    return;
  }
  const bool needs_order = node.plan->ordered;
  if (needs_order) {
    for (std::size_t port = 0; port < node.n_inputs; ++port)
      node.sequencers.push_back(std::make_unique<flow::sequencer_node<Msg>>(graph_, on_sequence));
  }
  if (node.plan->zip) {
    node.waiting.resize(node.n_inputs);
    // Pairing must see each port in order, so the zip is serial whatever the node is.
    node.zip = std::make_unique<flow::function_node<Msg>>(graph_, flow::serial, [this, &node](const Msg& m) {
      zip_packet(node, m);
      return flow::continue_msg();
    });
    for (auto& sequencer : node.sequencers) flow::make_edge(*sequencer, *node.zip);
    if (!node.serial) {
      node.stage = std::make_unique<flow::function_node<Msg>>(graph_, flow::unlimited, [this, &node](const Msg& m) {
        process_joined(node, m);
        return flow::continue_msg();
      });
    }
    return;
  }
  node.stage = std::make_unique<flow::function_node<Msg>>(
      graph_, node.serial ? flow::serial : flow::unlimited, [this, &node](const Msg& m) {
        process_packet(node, m);
        return flow::continue_msg();
      });
  if (needs_order) flow::make_edge(*node.sequencers[0], *node.stage);
}

Msg Engine::generate(NodeRun& node, tbb::flow_control& control) {
  if (node.exhausted || stopping()) {
    control.stop();
    return {};
  }
  auto packet = std::make_shared<Packet>();
  SlotEmitter emitter(packet->slots, nullptr);
  const std::uint64_t start = now_ns();
  try {
    // A call that emits nothing but says "more" is simply asked again: a packet is never empty.
    while (packet->slots.empty()) {
      if (!node.impl->generate(emitter)) {
        node.exhausted = true;
        break;
      }
    }
  } catch (const std::exception& e) {
    fail(node, "(source)", e.what());
    packet->slots.clear();
  }
  node.counters.busy_ns += now_ns() - start;
  if (packet->slots.empty()) {
    control.stop();
    return {};
  }
  packet->seq = node.next_out_seq++;
  packet->slots.front().tokens[node.source_index] = kUnit;
  ++produced_[node.source_index];
  node.counters.items_out += packet->slots.size();
  if (node.routes.size() != 1) return Msg{std::move(packet), 0};
  arrive(*node.routes[0].consumer);
  return Msg{std::move(packet), node.routes[0].port};
}

void Engine::arrive(NodeRun& node) {
  Counters& c = node.counters;
  c.arrived.fetch_add(1, std::memory_order_relaxed);
  if (c.active.fetch_add(1) == 0) c.waiting_ns.fetch_add(now_ns() - c.idle_since_ns.load(std::memory_order_relaxed));
}

void Engine::begin(NodeRun& node) { node.counters.started.fetch_add(1, std::memory_order_relaxed); }

void Engine::finish(NodeRun& node, std::uint64_t start_ns, std::uint64_t items_in, std::uint64_t items_out) {
  const std::uint64_t end = now_ns();
  Counters& c = node.counters;
  c.busy_ns.fetch_add(end - start_ns, std::memory_order_relaxed);
  c.items_in.fetch_add(items_in, std::memory_order_relaxed);
  c.items_out.fetch_add(items_out, std::memory_order_relaxed);
  if (c.active.fetch_sub(1) == 1) c.idle_since_ns.store(end, std::memory_order_relaxed);
}

bool Engine::call(NodeRun& node, Slot* const* inputs, std::size_t count, std::uint64_t seq, std::vector<Slot>& out) {
  Tokens tokens{};
  std::array<Item*, 8> small_items;
  std::vector<Item*> large_items;
  Item** items = small_items.data();
  if (count > small_items.size()) {
    large_items.resize(count);
    items = large_items.data();
  }
  for (std::size_t i = 0; i < count; ++i) {
    add_tokens(tokens, inputs[i]->tokens);
    items[i] = &inputs[i]->item;
  }
  const std::size_t first = out.size();
  SlotEmitter emitter(out, node.def->type->schema.is_sink() ? "this node type is a sink (no output port) and cannot emit"
                                                            : nullptr);
  try {
    Inputs in(items, count, seq);
    node.impl->process(in, emitter);
  } catch (const std::exception& e) {
    fail(node, items[0]->origin.empty() ? "(unknown: the item was moved before the error)" : items[0]->origin, e.what());
    return false;
  }
  // The node is done with its inputs: free them now so that nothing outlives its tokens.
  for (std::size_t i = 0; i < count; ++i) *items[i] = Item{};
  if (out.size() > first) {
    add_tokens(out[first].tokens, tokens);
    if (node.accumulates) add_tokens(out[first].tokens, std::exchange(node.pool, Tokens{}));
  } else if (node.accumulates) {
    add_tokens(node.pool, tokens);
  } else {
    release(tokens);
  }
  return true;
}

void Engine::process_packet(NodeRun& node, const Msg& message) {
  if (stopping()) return;
  begin(node);
  const std::uint64_t start = now_ns();
  Packet& packet = *message.packet;
  std::vector<Slot> out;
  out.reserve(packet.slots.size());
  for (Slot& slot : packet.slots) {
    Slot* input = &slot;
    if (!call(node, &input, 1, node.serial ? node.calls++ : packet.seq, out)) return;
  }
  const std::size_t items_in = packet.slots.size();
  packet.slots.swap(out);
  finish(node, start, items_in, packet.slots.size());
  forward(node, message.packet);
}

void Engine::zip_packet(NodeRun& node, const Msg& message) {
  if (stopping()) return;
  begin(node);
  const std::uint64_t start = now_ns();
  for (Slot& slot : message.packet->slots) node.waiting[message.port].push_back(std::move(slot));
  auto ready = [&node] {
    for (const auto& queue : node.waiting)
      if (queue.empty()) return false;
    return true;
  };
  auto out = std::make_shared<Packet>();
  std::uint64_t calls = 0;
  while (ready()) {
    ++calls;
    if (node.serial) {
      std::vector<Slot*> inputs;
      for (auto& queue : node.waiting) inputs.push_back(&queue.front());
      if (!call(node, inputs.data(), inputs.size(), node.calls++, out->slots)) return;
      for (auto& queue : node.waiting) queue.pop_front();
    } else {
      auto joined = std::make_shared<Packet>();
      joined->seq = node.next_zip_seq++;
      for (auto& queue : node.waiting) {
        joined->slots.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      node.stage->try_put(Msg{std::move(joined), 0});
    }
  }
  finish(node, start, node.serial ? calls : 0, out->slots.size());
  if (node.serial) forward(node, std::move(out));
}

void Engine::process_joined(NodeRun& node, const Msg& message) {
  if (stopping()) return;
  const std::uint64_t start = now_ns();
  Packet& packet = *message.packet;
  std::vector<Slot*> inputs;
  for (Slot& slot : packet.slots) inputs.push_back(&slot);
  std::vector<Slot> out;
  if (!call(node, inputs.data(), inputs.size(), packet.seq, out)) return;
  packet.slots.swap(out);
  node.counters.busy_ns.fetch_add(now_ns() - start, std::memory_order_relaxed);
  node.counters.items_in.fetch_add(1, std::memory_order_relaxed);
  node.counters.items_out.fetch_add(packet.slots.size(), std::memory_order_relaxed);
  forward(node, message.packet);
}

void Engine::forward(NodeRun& node, PacketPtr packet) {
  if (node.serial) {
    // Serial stages run in order, so renumbering here keeps the numbers dense: nothing to skip.
    if (packet->slots.empty()) return;
    packet->seq = node.next_out_seq++;
  }
  route(node, std::move(packet));
}

void Engine::route(NodeRun& from, PacketPtr packet) {
  if (from.routes.empty()) {
    for (const Slot& slot : packet->slots) release(slot.tokens);
    return;
  }
  const std::size_t k = from.routes.size();
  std::vector<PacketPtr> copies;
  for (std::size_t r = 1; r < k; ++r) {
    copies.push_back(std::make_shared<Packet>());
    copies.back()->seq = packet->seq;
  }
  for (Slot& slot : packet->slots) {
    Tokens share{};
    for (std::size_t s = 0; s < kMaxSources; ++s) {
      share[s] = slot.tokens[s] / k;
      slot.tokens[s] -= share[s] * (k - 1);
    }
    for (auto& copy : copies) copy->slots.push_back(Slot{slot.item, share});
  }
  for (std::size_t r = 0; r < k; ++r) {
    const Route& route = from.routes[r];
    arrive(*route.consumer);
    route.target->try_put(Msg{r == 0 ? packet : copies[r - 1], route.port});
  }
}

void Engine::release(const Tokens& tokens) {
  for (NodeRun* source : sources_) {
    const auto s = static_cast<std::size_t>(source->source_index);
    if (tokens[s] == 0) continue;
    const std::uint64_t before = released_[s].fetch_add(tokens[s]);
    const std::uint64_t whole = (before + tokens[s]) / kUnit - before / kUnit;
    if (whole > 0) source->limiter->decrementer().try_put(static_cast<long long>(whole));
  }
}

void Engine::check_stalled() {
  std::vector<std::string> blocked, holders;
  for (NodeRun* source : sources_)
    if (!source->exhausted) blocked.push_back(source->def->name);
  if (blocked.empty()) return;
  for (auto& node : nodes_) {
    std::uint64_t held = 0;
    for (std::uint64_t t : node->pool) held += t;
    if (held > 0) holders.push_back(fmt::format("'{}' keeps about {} items", node->def->name, (held + kUnit - 1) / kUnit));
    std::vector<std::string> queues;
    for (std::size_t p = 0; p < node->waiting.size(); ++p)
      queues.push_back(fmt::format("{}: {}", node->def->type->schema.inputs()[p].name, node->waiting[p].size()));
    if (!queues.empty() && std::any_of(node->waiting.begin(), node->waiting.end(), [](auto& q) { return !q.empty(); }))
      holders.push_back(fmt::format("'{}' has unpaired inputs ({})", node->def->name, fmt::join(queues, ", ")));
  }
  throw GraphStalled(fmt::format(
      "{}: the graph stalled: source(s) {} reached max_in_flight={} and nothing downstream can make progress{}{}. "
      "Raise max_in_flight above what accumulating nodes hold, or give multi-input nodes inputs of equal length.",
      config_.path.string(), fmt::join(blocked, ", "), config_.max_in_flight, holders.empty() ? "" : ": ",
      fmt::join(holders, "; ")));
}

void Engine::flush_all() {
  for (auto& node_ptr : nodes_) {
    NodeRun& node = *node_ptr;
    for (auto& queue : node.waiting) {
      for (const Slot& slot : queue) release(slot.tokens);
      queue.clear();
    }
    const NodeSchema& schema = node.def->type->schema;
    const char* refusal = schema.is_sink() ? "this node type is a sink (no output port) and cannot emit"
                          : !node.serial   ? "a parallel node cannot emit in flush(); make it serial to emit at end of stream"
                                           : nullptr;
    auto packet = std::make_shared<Packet>();
    SlotEmitter emitter(packet->slots, refusal);
    const std::uint64_t start = now_ns();
    try {
      node.impl->flush(emitter);
    } catch (const std::exception& e) {
      fail(node, "(end of stream)", e.what());
      return;
    }
    node.counters.busy_ns += now_ns() - start;
    node.counters.items_out += packet->slots.size();
    if (packet->slots.empty()) {
      release(std::exchange(node.pool, Tokens{}));
      continue;
    }
    add_tokens(packet->slots.front().tokens, std::exchange(node.pool, Tokens{}));
    packet->seq = node.next_out_seq++;
    route(node, std::move(packet));
    graph_.wait_for_all();
    if (stopping()) return;
  }
}

void Engine::check_balanced() {
  for (NodeRun* source : sources_) {
    const auto s = static_cast<std::size_t>(source->source_index);
    if (released_[s] != produced_[s] * kUnit) {
      throw std::logic_error(fmt::format("{}: internal error: of {} packets from source '{}', {:.3f} left the graph",
                                         config_.path.string(), produced_[s], source->def->name,
                                         static_cast<double>(released_[s]) / kUnit));
    }
  }
}

GraphSnapshot Engine::snapshot() const {
  GraphSnapshot snap;
  const std::uint64_t now = now_ns();
  snap.elapsed_s = static_cast<double>(now - start_ns_) * 1e-9;
  for (const auto& node : nodes_) {
    const Counters& c = node->counters;
    NodeStats stats;
    stats.name = node->def->name;
    stats.type = node->def->type->schema.type_name();
    stats.items_in = c.items_in;
    stats.items_out = c.items_out;
    stats.busy_s = static_cast<double>(c.busy_ns) * 1e-9;
    std::uint64_t waiting = c.waiting_ns;
    if (node->source_index < 0 && c.active == 0) waiting += now - std::min(now, c.idle_since_ns.load());
    stats.waiting_s = static_cast<double>(waiting) * 1e-9;
    const std::uint64_t arrived = c.arrived, started = c.started;
    stats.queued = arrived > started ? arrived - started : 0;
    const WorkProgress work = node->impl->progress();
    stats.work_done = work.done;
    stats.work_total = work.total;
    stats.work_unit = work.unit;
    snap.nodes.push_back(std::move(stats));
  }
  return snap;
}

bool Engine::all_sinks_up_to_date() const {
  bool any_sink = false;
  for (const auto& node : nodes_) {
    if (!node->def->type->schema.is_sink()) continue;
    any_sink = true;
    bool done = false;
    try {
      done = node->impl->up_to_date();
    } catch (const std::exception& e) {
      throw NodeFailure(node->def->name, "(up-to-date check)", e.what());
    }
    if (!done) return false;
  }
  return any_sink;
}

nlohmann::json Engine::reports() const {
  nlohmann::json all = nlohmann::json::object();
  for (const auto& node : nodes_) {
    nlohmann::json report;
    try {
      report = node->impl->report();
    } catch (const std::exception& e) {
      throw NodeFailure(node->def->name, "(report)", e.what());
    }
    if (!report.is_null()) all[node->def->name] = std::move(report);
  }
  return all;
}

RunResult Engine::run() {
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                              static_cast<std::size_t>(plan_.graph_threads));
  {
    std::lock_guard lock(hooks_mutex);
    for (const auto& hook : setup_hooks()) hook(config_);
  }
  build();
  start_ns_ = now_ns();
  for (auto& node : nodes_) node->counters.idle_since_ns = start_ns_;
  if (all_sinks_up_to_date()) {
    graph_.wait_for_all();  // building queued forwarding tasks; they must finish before the nodes die
    RunResult result;
    result.skipped = true;
    result.reports = reports();
    result.stats = snapshot();
    return result;
  }

  // The monitor reports progress and turns a stop request into a prompt cancel of the graph.
  std::mutex monitor_mutex;
  std::condition_variable monitor_wake;
  bool done = false;
  std::thread monitor;
  if (options_.on_progress || options_.stop_requested) {
    monitor = std::thread([&] {
      auto next_report = std::chrono::steady_clock::now() + options_.progress_period;
      std::unique_lock lock(monitor_mutex);
      while (!monitor_wake.wait_for(lock, std::chrono::milliseconds(20), [&] { return done; })) {
        if (options_.stop_requested && *options_.stop_requested && !cancelled_.exchange(true)) {
          stopping_ = true;
          graph_.cancel();
        }
        if (options_.on_progress && std::chrono::steady_clock::now() >= next_report) {
          options_.on_progress(snapshot());
          next_report += options_.progress_period;
        }
      }
    });
  }
  struct StopMonitor {
    std::mutex& mutex;
    std::condition_variable& wake;
    bool& done;
    std::thread& thread;
    ~StopMonitor() {
      {
        std::lock_guard lock(mutex);
        done = true;
      }
      wake.notify_all();
      if (thread.joinable()) thread.join();
    }
  } stop_monitor{monitor_mutex, monitor_wake, done, monitor};

  for (NodeRun* source : sources_) source->source->activate();
  graph_.wait_for_all();
  const bool stop_requested = options_.stop_requested && *options_.stop_requested;
  if (!failure_ && !stop_requested) {
    check_stalled();
    flush_all();
  }
  if (failure_) throw *failure_;
  RunResult result;
  result.cancelled = stop_requested || cancelled_;
  if (!result.cancelled) check_balanced();
  result.stats = snapshot();
  result.reports = reports();
  return result;
}

}  // namespace

NodeFailure::NodeFailure(std::string node, std::string origin, std::string message)
    : std::runtime_error(fmt::format("node '{}' failed on item '{}': {}", node, origin, message)),
      node_(std::move(node)),
      origin_(std::move(origin)),
      message_(std::move(message)) {}

bool add_run_setup_hook(std::function<void(const PipelineConfig&)> hook) {
  std::lock_guard lock(hooks_mutex);
  setup_hooks().push_back(std::move(hook));
  return true;
}

RunResult run_pipeline(const PipelineConfig& config, const RunOptions& options) {
  Engine engine(config, options);
  return engine.run();
}

nlohmann::json GraphSnapshot::to_json() const {
  nlohmann::json nodes_json = nlohmann::json::array();
  for (const auto& n : nodes) {
    nodes_json.push_back({{"name", n.name},
                          {"type", n.type},
                          {"items_in", n.items_in},
                          {"items_out", n.items_out},
                          {"busy_s", n.busy_s},
                          {"waiting_s", n.waiting_s},
                          {"queued", n.queued},
                          {"work_done", n.work_done},
                          {"work_total", n.work_total}});
  }
  return {{"elapsed_s", elapsed_s}, {"nodes", nodes_json}};
}

std::string GraphSnapshot::to_table() const {
  std::string text = fmt::format("{:<16} {:<18} {:>11} {:>11} {:>9} {:>9} {:>7}\n", "node", "type", "in", "out",
                                 "busy s", "wait s", "queued");
  for (const auto& n : nodes) {
    text += fmt::format("{:<16} {:<18} {:>11} {:>11} {:>9.2f} {:>9.2f} {:>7}\n", n.name, n.type, n.items_in,
                        n.items_out, n.busy_s, n.waiting_s, n.queued);
  }
  text += fmt::format("elapsed {:.2f} s\n", elapsed_s);
  return text;
}

}  // namespace semiflow::graph
