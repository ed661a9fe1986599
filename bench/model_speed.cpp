// Training and inference throughput of an EfficientNetV2 variant on the CPU.
// Timings alternate train and inference rounds and report medians, because on shared 2-core
// machines load from outside shifts speeds between rounds (see docs in shared/REFERENCES.md).
#include "models/efficientnet_v2.h"
#include "models/losses.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace {

struct Args {
  std::string arch = "tiny";
  std::vector<std::int64_t> classes{10};
  std::int64_t image_size = 32;
  std::int64_t batch = 128;
  int threads = 2;
  int rounds = 5;
  int steps = 10;  // batches per round
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

template <typename Step>
double images_per_second(const Args& args, Step&& step) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < args.steps; ++i) step();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(args.steps * args.batch) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  CLI::App app{"EfficientNetV2 training/inference images per second"};
  app.add_option("--arch", args.arch)->capture_default_str();
  app.add_option("--classes", args.classes, "Classes per level")->capture_default_str();
  app.add_option("--image-size", args.image_size)->capture_default_str();
  app.add_option("--batch", args.batch)->capture_default_str();
  app.add_option("--threads", args.threads, "Intra-op threads (Debian's libtorch defaults to 1)")
      ->capture_default_str();
  app.add_option("--rounds", args.rounds)->capture_default_str();
  app.add_option("--steps", args.steps, "Batches per round")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  at::set_num_threads(args.threads);
  torch::manual_seed(0);
  semiflow::EfficientNetV2 model(semiflow::EfficientNetV2Options(args.arch, args.classes));
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
  const auto images = torch::randn({args.batch, 3, args.image_size, args.image_size});
  std::vector<torch::Tensor> label_columns;
  for (auto classes : args.classes) label_columns.push_back(torch::randint(classes, {args.batch}, torch::kLong));
  const auto labels = torch::stack(label_columns, 1);

  auto train_step = [&] {
    model->train();
    optimizer.zero_grad();
    const auto loss = semiflow::hierarchical_cross_entropy(model->forward(images), labels).total;
    loss.backward();
    optimizer.step();
  };
  auto inference_step = [&] {
    model->eval();
    torch::NoGradGuard no_grad;
    model->forward(images);
  };
  train_step();  // warm-up: oneDNN picks and caches its kernels on first use
  inference_step();

  std::vector<double> train, inference;
  for (int round = 0; round < args.rounds; ++round) {
    train.push_back(images_per_second(args, train_step));
    inference.push_back(images_per_second(args, inference_step));
  }
  fmt::print(
      "{} ({} params) {}x{} batch {} threads {}: train {:.0f} images/s, inference {:.0f} images/s "
      "(medians of {} rounds; train {:.0f}-{:.0f}, inference {:.0f}-{:.0f})\n",
      args.arch, model->num_parameters(), args.image_size, args.image_size, args.batch, args.threads, median(train),
      median(inference), args.rounds, *std::min_element(train.begin(), train.end()),
      *std::max_element(train.begin(), train.end()), *std::min_element(inference.begin(), inference.end()),
      *std::max_element(inference.begin(), inference.end()));
  return 0;
}
