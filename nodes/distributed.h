#pragma once
// Data parallelism on torch.distributed's own layer, c10d: one process per rank, started by
// torchrun (or anything that sets the variables torchrun sets), Gloo between CPU processes and
// NCCL between GPUs (when this build has it). A process started without those variables is a
// world of one, and every collective below returns at once.
//
// The app joins the world once, before the graph is built (join_world); nodes then ask for
// the launch (rank and world size, e.g. to shard a manifest) and for a group of their own
// (connect). Each node gets its own c10d group, so the collectives of two nodes running at the
// same time never interleave differently on different ranks.
#include <c10/core/Device.h>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace semiflow::nodes::distributed {

// Where this process stands, from the environment torchrun defines: RANK, WORLD_SIZE,
// LOCAL_RANK, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_USE_AGENT_STORE, TORCHELASTIC_RESTART_COUNT.
struct Launch {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr;
  int master_port = 0;
  bool agent_store = false;  // torchrun's agent hosts the store; every rank is a client
  int restart_count = 0;

  // A world of one without RANK and WORLD_SIZE; a variable missing or out of range is an error
  // naming it.
  static Launch from_environment();
  bool is_root() const { return rank == 0; }
};

// The launch this process joined (a world of one until join_world).
const Launch& launch();

// Joins the world: opens the rendezvous store (rank 0's, or torchrun's agent's) and waits for
// every rank, at most `timeout`, which also bounds every later collective. Once per process.
void join_world(const Launch& launch, std::chrono::milliseconds timeout);

// The collective timeout join_world was given (60 s when it was not called).
std::chrono::milliseconds collective_timeout();

class Communicator;

// A group of every rank for one user (a node's name): Gloo, or NCCL for a CUDA device when
// this build has it. In a world of one, a group that does nothing.
std::shared_ptr<Communicator> connect(const std::string& name, c10::Device device);

class Communicator {
 public:
  virtual ~Communicator() = default;
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }

  // Overwrites `tensors` (any strides) with rank 0's values.
  virtual void broadcast_from_root(const std::vector<torch::Tensor>& tensors) = 0;
  // Sums a contiguous tensor over the ranks, in place; blocks.
  virtual void sum(torch::Tensor& tensor) = 0;
  // Starts summing a contiguous tensor in place; finish() waits for it. Several may be in
  // flight; they complete in the order they were started.
  virtual std::int64_t start_sum(torch::Tensor& tensor) = 0;
  virtual void finish(std::int64_t handle) = 0;
  virtual void barrier() = 0;
  // Sums each value over the ranks (in double precision), in place; blocks.
  void sum_values(std::vector<double>& values);

 protected:
  Communicator(int rank, int size) : rank_(rank), size_(size) {}

 private:
  int rank_;
  int size_;
};

// For a group of two or more: a c10d group over `store` (tests join threads of one process
// this way). `what` names the group in errors.
std::shared_ptr<Communicator> connect_group(const std::string& what, const c10::intrusive_ptr<c10d::Store>& store,
                                            int rank, int size, c10::Device device, std::chrono::milliseconds timeout);

// A module's parameters and buffers: what broadcast_from_root makes equal on every rank.
std::vector<torch::Tensor> module_state(const torch::nn::Module& module);

// Seeds the default generator (dropout, stochastic depth) for `epoch` on `rank` of a run of
// several ranks: the ranks draw different masks, and a run resumed at an epoch draws what the
// uninterrupted run drew.
void seed_epoch(std::uint64_t seed, std::int64_t epoch, int rank);

// Averages the gradients of `parameters` over the group, as torch's DistributedDataParallel
// does: the gradients are copied into flat buckets of about `bucket_bytes` as backward produces
// them (parameters in reverse order, as backward reaches them), and each full bucket's sum
// starts while backward goes on; synchronize() waits for the rest and writes the averages into
// the parameters' gradients. A parameter without a gradient on this rank counts as zero.
// Buckets of 1 MB (torch DDP's first bucket; its later ones are 25 MB): a CPU allreduce costs
// little per call, and the small models trained here (tiny: 1.5 MB of weights) would otherwise
// fill one bucket, whose sum could start only when backward ended.
class GradientAverager {
 public:
  GradientAverager(std::shared_ptr<Communicator> group, const std::vector<torch::Tensor>& parameters,
                   std::int64_t bucket_bytes = 1 << 20);
  ~GradientAverager();
  GradientAverager(const GradientAverager&) = delete;
  GradientAverager& operator=(const GradientAverager&) = delete;
  // After each backward, before the optimizer step.
  void synchronize();
  // Seconds spent in synchronize() since the last call: communication backward did not hide.
  double take_wait_s();

 private:
  struct Bucket {
    std::vector<std::size_t> members;  // indices into parameters_
    torch::Tensor flat;
    std::size_t arrived = 0;
    std::int64_t handle = -1;  // of the sum in flight
  };
  void on_gradient(std::size_t index, const torch::Tensor& grad);
  void launch_ready_buckets(bool all);

  std::shared_ptr<Communicator> group_;
  std::vector<torch::Tensor> parameters_;
  std::vector<unsigned> hooks_;              // of each parameter
  std::vector<std::int64_t> offsets_;        // of each parameter in its bucket
  std::vector<std::size_t> bucket_of_;       // bucket index of each parameter
  std::vector<bool> arrived_;                // this step
  std::vector<Bucket> buckets_;
  std::size_t next_launch_ = 0;
  double wait_s_ = 0;
};

}  // namespace semiflow::nodes::distributed
