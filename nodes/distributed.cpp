#include "nodes/distributed.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>
#include <torch/version.h>
// NCCL where the torch build has it and nccl.h is on the include path (a pip torch's comes from
// its nvidia-nccl package: scripts/device/run_kit.sh adds it).
#if defined(USE_C10D_NCCL) && __has_include(<nccl.h>)
#define SEMIFLOW_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace semiflow::nodes::distributed {
namespace {

// The c10d class that Gloo and NCCL groups derive from: ProcessGroup in libtorch 1.x, Backend
// (the per-device part of a ProcessGroup) in 2.x. Both have the collectives used here.
#if TORCH_VERSION_MAJOR >= 2
using Backend = c10d::Backend;
#else
using Backend = c10d::ProcessGroup;
#endif

constexpr std::chrono::milliseconds kDefaultTimeout{60'000};

struct World {
  Launch launch;
  c10::intrusive_ptr<c10d::Store> store;
  std::chrono::milliseconds timeout = kDefaultTimeout;
  bool joined = false;
  std::mutex mutex;
  std::map<std::string, int> generations;  // groups connected so far, by name
};

World& world() {
  static World instance;
  return instance;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

int int_variable(const char* name, int lowest, int highest) {
  const char* text = std::getenv(name);
  if (!text) throw std::invalid_argument(fmt::format("environment variable {} is not set; torchrun sets it", name));
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < lowest || value > highest)
    throw std::invalid_argument(fmt::format("environment variable {}={} is not a whole number in {}..{}", name, text, lowest, highest));
  return static_cast<int>(value);
}

// A world of one: nothing to exchange.
class Solo : public Communicator {
 public:
  Solo() : Communicator(0, 1) {}
  void broadcast_from_root(const std::vector<torch::Tensor>&) override {}
  void sum(torch::Tensor&) override {}
  std::int64_t start_sum(torch::Tensor&) override { return 0; }
  void finish(std::int64_t) override {}
  void barrier() override {}
};

class Group : public Communicator {
 public:
  Group(std::string what, c10::intrusive_ptr<c10d::Store> store, int rank, int size, c10::Device device,
        std::chrono::milliseconds timeout)
      : Communicator(rank, size), what_(std::move(what)), store_(std::move(store)), timeout_(timeout) {
    try {
      backend_ = make_backend(device);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("{}: rank {} of {} could not connect to the other ranks within {} s: {}", what_,
                                           rank, size, timeout_.count() / 1000.0, first_line(e.what())));
    }
  }

  void broadcast_from_root(const std::vector<torch::Tensor>& tensors) override {
    // One flat buffer per dtype: Gloo wants dense tensors, and a model's buffers mix float and int64.
    std::map<c10::ScalarType, std::vector<torch::Tensor>> by_type;
    for (const auto& t : tensors) by_type[t.scalar_type()].push_back(t);
    for (auto& [type, group] : by_type) {
      std::vector<torch::Tensor> flat_parts;
      for (const auto& t : group) flat_parts.push_back(t.detach().reshape({-1}));
      std::vector<torch::Tensor> flat{torch::cat(flat_parts)};
      run("broadcast", [&] { return backend_->broadcast(flat); });
      torch::NoGradGuard no_grad;
      std::int64_t offset = 0;
      for (const auto& t : group) {
        t.copy_(flat[0].narrow(0, offset, t.numel()).view(t.sizes()));
        offset += t.numel();
      }
    }
  }

  void sum(torch::Tensor& tensor) override { finish(start_sum(tensor)); }

  std::int64_t start_sum(torch::Tensor& tensor) override {
    TORCH_CHECK(tensor.is_contiguous(), "sum needs a contiguous tensor");
    std::vector<torch::Tensor> tensors{tensor};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    auto work = guarded("sum", [&] { return backend_->allreduce(tensors, options); });
    in_flight_.emplace(next_handle_, std::move(work));
    return next_handle_++;
  }

  void finish(std::int64_t handle) override {
    const auto it = in_flight_.find(handle);
    if (it == in_flight_.end()) return;
    auto work = it->second;
    in_flight_.erase(it);
    guarded("sum", [&] {
      work->wait();
      return work;
    });
  }

  void barrier() override {
    run("barrier", [&] { return backend_->barrier(); });
  }

 private:
  c10::intrusive_ptr<Backend> make_backend(c10::Device device) {
#ifdef SEMIFLOW_NCCL
    if (device.is_cuda()) {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout_;
      return c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, rank(), size(), options);
    }
#endif
    (void)device;  // without NCCL, Gloo also sums CUDA tensors (through host memory)
    auto options = c10d::ProcessGroupGloo::Options::create(timeout_);
    if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"))
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    else
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    options->threads = 2;
    return c10::make_intrusive<c10d::ProcessGroupGloo>(store_, rank(), size(), options);
  }

  template <typename Start>
  void run(const char* op, Start start) {
    auto work = guarded(op, start);
    guarded(op, [&] {
      work->wait();
      return work;
    });
  }

  // Runs a c10d call; a failure (a rank gone, a timeout) becomes one line naming the group, the
  // operation and the ranks that did not answer.
  template <typename Call>
  auto guarded(const char* op, Call call) -> decltype(call()) {
    try {
      return call();
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("{}: {} failed on rank {} of {}: {}; {}", what_, op, rank(), size(),
                                           first_line(e.what()), lost_ranks()));
    }
  }

  // Which ranks are gone: every rank that meets a failure checks in on the store; a rank that
  // has not within a few seconds stopped (or hangs). With the store's host gone, that is rank 0.
  std::string lost_ranks() {
    try {
      store_->set(fmt::format("failed/{}", rank()), std::vector<std::uint8_t>{1});
      const auto deadline = std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(timeout_, std::chrono::seconds(5));
      std::vector<int> missing;
      for (;;) {
        missing.clear();
        for (int r = 0; r < size(); ++r)
          if (r != rank() && !store_->check({fmt::format("failed/{}", r)})) missing.push_back(r);
        if (missing.empty() || std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (missing.empty()) return "every rank is still running: a collective timed out";
      return fmt::format("rank{} {} stopped or did not answer within {} s", missing.size() > 1 ? "s" : "",
                         fmt::join(missing, ", "), timeout_.count() / 1000.0);
    } catch (const std::exception&) {
      return "rank 0 (which holds the rendezvous store) stopped";
    }
  }

  std::string what_;
  c10::intrusive_ptr<c10d::Store> store_;
  std::chrono::milliseconds timeout_;
  c10::intrusive_ptr<Backend> backend_;
  std::map<std::int64_t, c10::intrusive_ptr<c10d::Work>> in_flight_;
  std::int64_t next_handle_ = 0;
};

}  // namespace

Launch Launch::from_environment() {
  Launch launch;
  if (!std::getenv("RANK") && !std::getenv("WORLD_SIZE")) return launch;
  launch.world_size = int_variable("WORLD_SIZE", 1, 1 << 20);
  launch.rank = int_variable("RANK", 0, launch.world_size - 1);
  launch.local_rank = std::getenv("LOCAL_RANK") ? int_variable("LOCAL_RANK", 0, launch.world_size - 1) : 0;
  if (launch.world_size > 1) {
    const char* addr = std::getenv("MASTER_ADDR");
    if (!addr || !*addr) throw std::invalid_argument("environment variable MASTER_ADDR is not set; torchrun sets it");
    launch.master_addr = addr;
    launch.master_port = int_variable("MASTER_PORT", 1, 65535);
  }
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  launch.agent_store = agent && std::string(agent) == "True";
  if (std::getenv("TORCHELASTIC_RESTART_COUNT")) launch.restart_count = int_variable("TORCHELASTIC_RESTART_COUNT", 0, 1 << 20);
  return launch;
}

const Launch& launch() { return world().launch; }

std::chrono::milliseconds collective_timeout() { return world().timeout; }

void join_world(const Launch& launch, std::chrono::milliseconds timeout) {
  World& w = world();
  if (w.joined) throw std::logic_error("join_world: this process joined its world already");
  w.launch = launch;
  w.timeout = timeout;
  w.joined = true;
  if (launch.world_size == 1) return;
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(launch.master_port);
  options.isServer = !launch.agent_store && launch.rank == 0;
  options.numWorkers = launch.world_size;
  options.waitWorkers = !launch.agent_store;
  options.timeout = timeout;
  try {
    auto store = c10::make_intrusive<c10d::TCPStore>(launch.master_addr, options);
    // torchrun's agent store serves every restart: keys are per attempt, as torch's own are.
    w.store = c10::make_intrusive<c10d::PrefixStore>(fmt::format("/worker/attempt_{}/semiflow", launch.restart_count), store);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("rank {} of {} could not meet the others at {}:{} within {} s: {}", launch.rank,
                                         launch.world_size, launch.master_addr, launch.master_port,
                                         timeout.count() / 1000.0, first_line(e.what())));
  }
  spdlog::info("rank {} of {} (local rank {}) joined at {}:{}", launch.rank, launch.world_size, launch.local_rank,
               launch.master_addr, launch.master_port);
}

std::shared_ptr<Communicator> connect(const std::string& name, c10::Device device) {
  World& w = world();
  if (w.launch.world_size == 1) return std::make_shared<Solo>();
  // A group's rendezvous keys stay in the store: the next group of the same name (a node of the
  // next phase) gets fresh ones. Every rank builds the same phases, so the counts agree.
  int generation = 0;
  {
    std::lock_guard<std::mutex> lock(w.mutex);
    generation = w.generations[name]++;
  }
  return connect_group(name, c10::make_intrusive<c10d::PrefixStore>(fmt::format("{}#{}", name, generation), w.store),
                       w.launch.rank, w.launch.world_size, device, w.timeout);
}

std::shared_ptr<Communicator> connect_group(const std::string& what, const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                            int size, c10::Device device, std::chrono::milliseconds timeout) {
  if (size == 1) return std::make_shared<Solo>();
  return std::make_shared<Group>(what, store, rank, size, device, timeout);
}

void Communicator::sum_values(std::vector<double>& values) {
  if (size() == 1 || values.empty()) return;
  auto tensor = torch::tensor(values, torch::kFloat64);
  sum(tensor);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = tensor[static_cast<std::int64_t>(i)].item<double>();
}

std::vector<torch::Tensor> module_state(const torch::nn::Module& module) {
  std::vector<torch::Tensor> state = module.parameters();
  for (const auto& buffer : module.buffers()) state.push_back(buffer);
  return state;
}

void seed_epoch(std::uint64_t seed, std::int64_t epoch, int rank) {
  // splitmix64 of the three, so nearby seeds, epochs and ranks give unrelated streams.
  std::uint64_t x = seed ^ (static_cast<std::uint64_t>(epoch) << 20) ^ (static_cast<std::uint64_t>(rank) << 48);
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  torch::manual_seed(x ^ (x >> 31));
}

// ----------------------------------------------------------------------------------------------

GradientAverager::GradientAverager(std::shared_ptr<Communicator> group, const std::vector<torch::Tensor>& parameters,
                                   std::int64_t bucket_bytes)
    : group_(std::move(group)) {
  if (group_->size() == 1) return;
  for (const auto& p : parameters)
    if (p.requires_grad()) parameters_.push_back(p);
  offsets_.resize(parameters_.size());
  bucket_of_.resize(parameters_.size());
  arrived_.assign(parameters_.size(), false);
  std::int64_t bytes = 0;
  for (std::size_t k = parameters_.size(); k-- > 0;) {
    const auto& p = parameters_[k];
    const std::int64_t size = p.numel() * static_cast<std::int64_t>(p.element_size());
    if (buckets_.empty() || bytes + size > bucket_bytes) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& bucket = buckets_.back();
    offsets_[k] = bucket.members.empty() ? 0 : offsets_[bucket.members.back()] + parameters_[bucket.members.back()].numel();
    bucket.members.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    bytes += size;
  }
  for (auto& bucket : buckets_) {
    const auto last = bucket.members.back();
    bucket.flat = torch::zeros({offsets_[last] + parameters_[last].numel()}, parameters_[last].options().requires_grad(false));
  }
  for (std::size_t k = 0; k < parameters_.size(); ++k)
    hooks_.push_back(parameters_[k].register_hook([this, k](const torch::Tensor& grad) { on_gradient(k, grad); }));
}

GradientAverager::~GradientAverager() {
  for (std::size_t k = 0; k < hooks_.size(); ++k) parameters_[k].remove_hook(hooks_[k]);
}

void GradientAverager::on_gradient(std::size_t index, const torch::Tensor& grad) {
  Bucket& bucket = buckets_[bucket_of_[index]];
  auto slice = bucket.flat.narrow(0, offsets_[index], parameters_[index].numel()).view(parameters_[index].sizes());
  if (arrived_[index]) {
    slice.add_(grad);
    return;
  }
  slice.copy_(grad);
  arrived_[index] = true;
  if (++bucket.arrived == bucket.members.size()) launch_ready_buckets(false);
}

void GradientAverager::launch_ready_buckets(bool all) {
  // In bucket order on every rank: c10d pairs the collectives of the ranks by their order.
  while (next_launch_ < buckets_.size()) {
    Bucket& bucket = buckets_[next_launch_];
    if (!all && bucket.arrived < bucket.members.size()) return;
    for (const auto k : bucket.members)
      if (!arrived_[k]) bucket.flat.narrow(0, offsets_[k], parameters_[k].numel()).zero_();
    bucket.handle = group_->start_sum(bucket.flat);
    ++next_launch_;
  }
}

void GradientAverager::synchronize() {
  if (group_->size() == 1) return;
  const auto started = std::chrono::steady_clock::now();
  launch_ready_buckets(true);
  torch::NoGradGuard no_grad;
  const double scale = 1.0 / group_->size();
  for (auto& bucket : buckets_) {
    group_->finish(bucket.handle);
    bucket.flat.mul_(scale);
    for (const auto k : bucket.members) {
      auto& p = parameters_[k];
      const auto average = bucket.flat.narrow(0, offsets_[k], p.numel()).view(p.sizes());
      auto& grad = p.mutable_grad();
      if (grad.defined()) grad.copy_(average);
      else grad = torch::empty_like(p).copy_(average);
      arrived_[k] = false;
    }
    bucket.arrived = 0;
    bucket.handle = -1;
  }
  next_launch_ = 0;
  wait_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

double GradientAverager::take_wait_s() {
  const double seconds = wait_s_;
  wait_s_ = 0;
  return seconds;
}

}  // namespace semiflow::nodes::distributed
