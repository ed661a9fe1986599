#include "nodes/optimization.h"

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <optional>
#include <sstream>
#include <utility>

using namespace semiflow;

namespace {

// conv (no bias) -> BatchNorm -> linear: decayed {conv.weight, linear.weight}; not decayed
// {bn.weight, bn.bias, linear.bias}.
torch::nn::Sequential small_net() {
  return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 2, 3).bias(false)),
                               torch::nn::BatchNorm2d(2), torch::nn::Flatten(), torch::nn::Linear(2, 3));
}

}  // namespace

TEST_CASE("weight decay groups: BatchNorm and biases are never decayed", "[optimization]") {
  auto net = small_net();
  const auto groups = split_weight_decay_groups(*net);
  REQUIRE(groups.decay.size() == 2);
  REQUIRE(groups.no_decay.size() == 3);
  for (const auto& p : groups.decay) CHECK(p.dim() > 1);

  for (const auto* name : {"sgd", "rmsprop", "adamw"}) {
    OptimizerConfig config;
    config.kind = parse_optimizer_kind(name);
    config.lr = 0.1;
    config.weight_decay = 0.5;
    auto optimizer = make_optimizer(config, *net);
    REQUIRE(optimizer->param_groups().size() == 2);
    // A step with zero gradients moves only what weight decay touches.
    std::vector<torch::Tensor> before;
    for (const auto& p : net->parameters()) {
      p.mutable_grad() = torch::zeros_like(p);
      before.push_back(p.detach().clone());
    }
    optimizer->step();
    for (std::size_t i = 0; i < before.size(); ++i) {
      const auto p = net->parameters()[i];
      INFO(name << " parameter " << i << " dim " << p.dim());
      if (p.dim() > 1)
        CHECK_FALSE(torch::equal(p, before[i]));
      else
        CHECK(torch::equal(p, before[i]));
    }
  }
  CHECK_THROWS_WITH(parse_optimizer_kind("adam"), Catch::Contains("sgd, rmsprop, adamw"));
}

TEST_CASE("sgd, multi-tensor or not, takes libtorch SGD's steps exactly, and its state loads into libtorch's SGD", "[optimization]") {
  for (const auto& [nesterov, foreach] : {std::pair{true, std::optional<bool>(true)}, std::pair{false, std::optional<bool>(true)},
                                          std::pair{true, std::optional<bool>()}}) {
    INFO("nesterov " << nesterov << ", foreach " << (foreach ? "true" : "unset (false on the CPU)"));
    OptimizerConfig config;
    config.foreach = foreach;
    config.lr = 0.1;
    config.weight_decay = 0.01;
    config.momentum = 0.9;
    config.nesterov = nesterov;
    const auto libtorch_sgd = [&](torch::nn::Sequential& net) {
      const auto split = split_weight_decay_groups(*net);
      auto options = torch::optim::SGDOptions(config.lr).momentum(config.momentum).nesterov(nesterov);
      std::vector<torch::optim::OptimizerParamGroup> groups;
      groups.emplace_back(split.decay, std::make_unique<torch::optim::SGDOptions>(options.weight_decay(config.weight_decay)));
      groups.emplace_back(split.no_decay, std::make_unique<torch::optim::SGDOptions>(options.weight_decay(0.0)));
      return std::make_unique<torch::optim::SGD>(std::move(groups), options);
    };
    const auto copy_of = [](torch::nn::Sequential& net) {
      auto copy = small_net();
      for (std::size_t i = 0; i < net->parameters().size(); ++i) copy->parameters()[i].detach().copy_(net->parameters()[i].detach());
      return copy;
    };
    // The same gradients for every net; parameter 0 has none in step 2 (it keeps value and momentum).
    const auto step_all = [](const std::vector<std::pair<torch::nn::Sequential*, torch::optim::Optimizer*>>& runs, int step) {
      for (std::size_t i = 0; i < runs.front().first->get()->parameters().size(); ++i) {
        const auto gradient = torch::randn_like(runs.front().first->get()->parameters()[i]);
        for (const auto& run : runs)
          run.first->get()->parameters()[i].mutable_grad() = step == 2 && i == 0 ? torch::Tensor() : gradient.clone();
      }
      for (const auto& run : runs) run.second->step();
    };
    const auto same = [](torch::nn::Sequential& a, torch::nn::Sequential& b) {
      for (std::size_t i = 0; i < a->parameters().size(); ++i)
        if (!torch::equal(a->parameters()[i], b->parameters()[i])) return false;
      return true;
    };
    torch::manual_seed(0);
    auto ours = small_net(), theirs = copy_of(ours);
    auto optimizer = make_optimizer(config, *ours);
    auto reference = libtorch_sgd(theirs);
    for (int step = 0; step < 5; ++step) {
      step_all({{&ours, optimizer.get()}, {&theirs, reference.get()}}, step);
      CHECK(same(ours, theirs));
    }
    // Our state (a checkpoint's) taken over by libtorch's SGD continues identically.
    torch::serialize::OutputArchive archive;
    optimizer->save(archive);
    std::ostringstream saved;
    archive.save_to(saved);
    std::istringstream text(saved.str());
    torch::serialize::InputArchive loaded;
    loaded.load_from(text);
    auto resumed = copy_of(ours);
    auto resumed_optimizer = libtorch_sgd(resumed);
    resumed_optimizer->load(loaded);
    step_all({{&ours, optimizer.get()}, {&resumed, resumed_optimizer.get()}}, 5);
    CHECK(same(ours, resumed));
  }
}

TEST_CASE("set_learning_rate sets every group", "[optimization]") {
  auto net = small_net();
  auto optimizer = make_optimizer(OptimizerConfig{}, *net);
  set_learning_rate(*optimizer, 0.025);
  for (auto& group : optimizer->param_groups()) CHECK(group.options().get_lr() == 0.025);
}

TEST_CASE("schedules: linear warmup, cosine to min_lr, step and exponential decay", "[optimization]") {
  ScheduleConfig cosine;
  cosine.kind = ScheduleKind::cosine;
  cosine.base_lr = 0.1;
  cosine.min_lr = 0.001;
  cosine.warmup_steps = 10;
  cosine.total_steps = 110;
  CHECK(learning_rate_at(cosine, 0) == Approx(0.01));
  CHECK(learning_rate_at(cosine, 4) == Approx(0.05));
  CHECK(learning_rate_at(cosine, 9) == Approx(0.1));
  CHECK(learning_rate_at(cosine, 10) == Approx(0.1));
  CHECK(learning_rate_at(cosine, 60) == Approx((0.1 + 0.001) / 2));
  CHECK(learning_rate_at(cosine, 110) == Approx(0.001));
  CHECK(learning_rate_at(cosine, 500) == Approx(0.001));

  ScheduleConfig step;
  step.kind = parse_schedule_kind("step");
  step.base_lr = 0.1;
  step.gamma = 0.5;
  step.decay_steps = 10;
  CHECK(learning_rate_at(step, 9) == Approx(0.1));
  CHECK(learning_rate_at(step, 25) == Approx(0.025));

  ScheduleConfig exponential = step;
  exponential.kind = ScheduleKind::exponential;
  CHECK(learning_rate_at(exponential, 10) == Approx(0.05));
  CHECK(learning_rate_at(exponential, 5) == Approx(0.1 * std::sqrt(0.5)));
  CHECK_THROWS_WITH(parse_schedule_kind("poly"), Catch::Contains("cosine"));
}

TEST_CASE("EMA: average = d * average + (1 - d) * current, with TensorFlow's warmup", "[optimization]") {
  torch::NoGradGuard no_grad;
  auto net = torch::nn::Sequential(torch::nn::Linear(torch::nn::LinearOptions(1, 1).bias(false)), torch::nn::BatchNorm1d(1));
  auto weight = net->parameters()[0];
  weight.fill_(0.0);
  ExponentialMovingAverage plain(*net, 0.9, /*warmup=*/false);
  ExponentialMovingAverage warm(*net, 0.9, /*warmup=*/true);
  weight.fill_(1.0);
  net->named_buffers()["1.running_mean"].fill_(2.0);
  net->named_buffers()["1.num_batches_tracked"].fill_(7);
  plain.update(*net);
  warm.update(*net);
  CHECK(plain.average()->parameters()[0].item<float>() == Approx(0.1));
  CHECK(warm.average()->parameters()[0].item<float>() == Approx(0.9));  // d = min(0.9, 1/10)
  CHECK(plain.average()->named_buffers()["1.running_mean"].item<float>() == Approx(0.2));
  CHECK(plain.average()->named_buffers()["1.num_batches_tracked"].item<std::int64_t>() == 7);
  plain.update(*net);
  CHECK(plain.average()->parameters()[0].item<float>() == Approx(0.19));
  CHECK(warm.decay_for_update(1) == Approx(2.0 / 11));
  CHECK(warm.decay_for_update(1000) == Approx(0.9));
  // The average is a copy: training the module does not move it.
  CHECK_FALSE(plain.average()->parameters()[0].requires_grad());
}

TEST_CASE("clip_gradient_norm scales gradients as torch's clip_grad_norm_, and leaves small ones alone", "[optimization]") {
  torch::manual_seed(3);
  auto make = [] {
    std::vector<torch::Tensor> parameters{torch::zeros({4, 3}, torch::requires_grad()), torch::zeros({5}, torch::requires_grad()),
                                          torch::zeros({2}, torch::requires_grad())};
    return parameters;
  };
  const auto g0 = torch::randn({4, 3}) * 3, g1 = torch::randn({5}) * 3;
  for (const double max_norm : {1.0, 100.0}) {
    auto ours = make(), theirs = make();
    for (auto* set : {&ours, &theirs}) {
      (*set)[0].mutable_grad() = g0.clone();
      (*set)[1].mutable_grad() = g1.clone();  // the third has no gradient
    }
    clip_gradient_norm(ours, max_norm);
    torch::nn::utils::clip_grad_norm_(theirs, max_norm);
    for (int i = 0; i < 2; ++i) CHECK(torch::equal(ours[i].grad(), theirs[i].grad()));
    CHECK_FALSE(ours[2].grad().defined());
    const double norm = torch::stack({ours[0].grad().norm(), ours[1].grad().norm()}).norm().item<double>();
    CHECK(norm == Approx(std::min(max_norm, torch::stack({g0.norm(), g1.norm()}).norm().item<double>())).epsilon(1e-5));
  }
}
