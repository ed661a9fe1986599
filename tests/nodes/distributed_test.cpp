#include "nodes/distributed.h"

#include <catch2/catch.hpp>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/torch.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>

using namespace semiflow::nodes::distributed;

namespace {

// Sets environment variables for its lifetime (unset ones stay unset afterwards).
class Environment {
 public:
  explicit Environment(const std::map<std::string, std::string>& values) {
    for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                             "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT"}) {
      const char* old = std::getenv(name);
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
      unsetenv(name);
    }
    for (const auto& [name, value] : values) setenv(name.c_str(), value.c_str(), 1);
  }
  ~Environment() {
    for (const auto& [name, value] : saved_) {
      if (value) setenv(name.c_str(), value->c_str(), 1);
      else unsetenv(name.c_str());
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

// Runs `body(rank, group)` on one thread per rank, the ranks joined over one in-memory store.
void run_ranks(int size, const std::function<void(int, Communicator&)>& body,
               std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  std::vector<std::thread> threads;
  std::vector<std::string> errors(size);
  for (int rank = 0; rank < size; ++rank)
    threads.emplace_back([&, rank] {
      try {
        auto group = connect_group("test", c10::make_intrusive<c10d::PrefixStore>("test", store), rank, size, torch::kCPU, timeout);
        body(rank, *group);
      } catch (const std::exception& e) {
        errors[rank] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int rank = 0; rank < size; ++rank) {
    INFO("rank " << rank << ": " << errors[rank]);
    CHECK(errors[rank].empty());
  }
}

torch::nn::Sequential small_net() {
  // No batch norm: with it, two half batches would not add up to the whole batch's gradient.
  return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)), torch::nn::ReLU(),
                               torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 8, 3).padding(1).groups(8)),
                               torch::nn::Functional([](const torch::Tensor& x) { return x.mean({2, 3}); }),
                               torch::nn::Linear(8, 5));
}

}  // namespace

TEST_CASE("a launch without torchrun's variables is a world of one", "[distributed]") {
  Environment env({});
  const Launch launch = Launch::from_environment();
  CHECK(launch.rank == 0);
  CHECK(launch.world_size == 1);
  CHECK(launch.is_root());
}

TEST_CASE("a launch reads torchrun's variables", "[distributed]") {
  Environment env({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "127.0.0.1"},
                   {"MASTER_PORT", "29511"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}, {"TORCHELASTIC_RESTART_COUNT", "3"}});
  const Launch launch = Launch::from_environment();
  CHECK(launch.rank == 1);
  CHECK(launch.world_size == 2);
  CHECK(launch.local_rank == 1);
  CHECK(launch.master_addr == "127.0.0.1");
  CHECK(launch.master_port == 29511);
  CHECK(launch.agent_store);
  CHECK(launch.restart_count == 3);
}

TEST_CASE("a bad or missing launch variable is named", "[distributed]") {
  {
    Environment env({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "localhost"}, {"MASTER_PORT", "29500"}});
    CHECK_THROWS_WITH(Launch::from_environment(), Catch::Matchers::Contains("RANK=2 is not a whole number in 0..1"));
  }
  {
    Environment env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29500"}});
    CHECK_THROWS_WITH(Launch::from_environment(), Catch::Matchers::Contains("MASTER_ADDR is not set"));
  }
}

TEST_CASE("a group sums and broadcasts across ranks", "[distributed]") {
  torch::manual_seed(0);
  const auto root_weight = torch::randn({4, 3, 2, 2});
  run_ranks(2, [&](int rank, Communicator& group) {
    CHECK(group.size() == 2);
    CHECK(group.rank() == rank);
    auto t = torch::full({3}, rank + 1.0);
    group.sum(t);
    CHECK(torch::equal(t, torch::full({3}, 3.0)));

    // In flight at once; they finish in order.
    auto a = torch::full({2}, static_cast<double>(rank)), b = torch::full({4}, 10.0 * rank);
    const auto ha = group.start_sum(a), hb = group.start_sum(b);
    group.finish(ha);
    group.finish(hb);
    CHECK(torch::equal(a, torch::full({2}, 1.0)));
    CHECK(torch::equal(b, torch::full({4}, 10.0)));

    // Any strides and dtypes: a channels-last weight and an int64 counter.
    auto weight = (root_weight + rank).contiguous(torch::MemoryFormat::ChannelsLast);
    auto counter = torch::full({}, rank + 5, torch::kInt64);
    group.broadcast_from_root({weight, counter});
    CHECK(torch::equal(weight, root_weight));
    CHECK(weight.is_contiguous(torch::MemoryFormat::ChannelsLast));
    CHECK(counter.item<std::int64_t>() == 5);
    group.barrier();
  });
}

TEST_CASE("two ranks with half batches train the same weights as one rank with the whole batch", "[distributed]") {
  torch::manual_seed(0);
  const auto images = torch::randn({8, 3, 6, 6});
  const auto labels = torch::randint(5, {8}, torch::kLong);
  auto train = [&](torch::nn::Sequential net, Communicator& group, const torch::Tensor& x, const torch::Tensor& y) {
    // A small bucket size: several buckets, each summed as soon as backward filled it.
    GradientAverager averager(std::shared_ptr<Communicator>(&group, [](Communicator*) {}), net->parameters(), 200);
    torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(0.5).momentum(0.9).nesterov(true));
    for (int step = 0; step < 4; ++step) {
      optimizer.zero_grad();
      torch::nn::functional::cross_entropy(net->forward(x), y).backward();
      averager.synchronize();
      optimizer.step();
    }
    return net;
  };
  torch::manual_seed(1);
  auto whole = small_net();
  std::vector<torch::Tensor> initial;
  for (const auto& p : whole->parameters()) initial.push_back(p.detach().clone());
  auto solo = connect_group("solo", c10::make_intrusive<c10d::HashStore>(), 0, 1, torch::kCPU, std::chrono::seconds(5));
  train(whole, *solo, images, labels);

  std::vector<torch::nn::Sequential> halves(2);
  run_ranks(2, [&](int rank, Communicator& group) {
    auto net = small_net();  // initial weights differ by rank: the broadcast makes them rank 0's
    {
      torch::NoGradGuard no_grad;
      for (std::size_t i = 0; i < initial.size(); ++i) net->parameters()[i].copy_(initial[i] + rank);
    }
    group.broadcast_from_root(net->parameters());
    halves[rank] = train(net, group, images.narrow(0, 4 * rank, 4), labels.narrow(0, 4 * rank, 4));
  });
  for (int rank = 0; rank < 2; ++rank) {
    const auto expected = whole->parameters();
    const auto got = halves[rank]->parameters();
    for (std::size_t i = 0; i < expected.size(); ++i) {
      INFO("rank " << rank << " parameter " << i);
      CHECK(torch::allclose(got[i], expected[i], 1e-5, 1e-6));
    }
  }
}

TEST_CASE("a parameter without a gradient on one rank counts as zero there", "[distributed]") {
  run_ranks(2, [](int rank, Communicator& group) {
    auto used = torch::ones({3}, torch::requires_grad());
    auto unused_on_rank1 = torch::ones({2}, torch::requires_grad());
    GradientAverager averager(std::shared_ptr<Communicator>(&group, [](Communicator*) {}), {used, unused_on_rank1});
    auto loss = (used * (rank + 1.0)).sum();
    if (rank == 0) loss = loss + (unused_on_rank1 * 4.0).sum();
    loss.backward();
    averager.synchronize();
    CHECK(torch::allclose(used.grad(), torch::full({3}, 1.5)));
    CHECK(torch::allclose(unused_on_rank1.grad(), torch::full({2}, 2.0)));
  });
}

TEST_CASE("a collective with a rank gone fails naming that rank", "[distributed]") {
  auto store = c10::make_intrusive<c10d::HashStore>();
  std::string error;
  std::thread survivor([&] {
    try {
      auto group = connect_group("train", store, 0, 2, torch::kCPU, std::chrono::seconds(2));
      group->barrier();  // both are up
      group->barrier();  // rank 1 is gone
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  std::thread leaver([&] {
    auto group = connect_group("train", store, 1, 2, torch::kCPU, std::chrono::seconds(2));
    group->barrier();
  });  // its group closes its connections as it goes
  leaver.join();
  survivor.join();
  CHECK_THAT(error, Catch::Matchers::Contains("train: barrier failed on rank 0 of 2"));
  CHECK_THAT(error, Catch::Matchers::Contains("rank 1 stopped or did not answer within 2 s"));
}
