// Training and inference throughput of an EfficientNetV2 variant on the CPU, and in the same
// run the same model, batch, size and threads in PyTorch-Python (model_speed_reference.py), with
// the ratios. Timings alternate train and inference rounds and report medians, because on
// shared 2-core machines load from outside shifts speeds between rounds.
#include "models/efficientnet_v2.h"
#include "models/losses.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
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
  bool channels_last = true;
  std::string python = "/usr/bin/python3";
  std::string reference = SEMIFLOW_MODEL_SPEED_REFERENCE;
  bool json = false;
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

// The reference's JSON line, or nothing when Python, torch or torchvision is missing.
std::optional<nlohmann::json> run_reference(const Args& args, bool channels_last) {
  const auto command =
      fmt::format("'{}' '{}' --arch {} --classes {} --image-size {} --batch {} --threads {} --rounds {} --steps {}{} 2>&1",
                  args.python, args.reference, args.arch, args.classes.front(), args.image_size, args.batch,
                  args.threads, args.rounds, args.steps, channels_last ? " --channels-last" : "");
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return std::nullopt;
  std::string output;
  char buffer[4096];
  while (const auto n = std::fread(buffer, 1, sizeof buffer, pipe.get())) output.append(buffer, n);
  const int status = pclose(pipe.release());
  const auto line_start = output.rfind('{');
  if (status != 0 || line_start == std::string::npos) {
    fmt::print(stderr, "PyTorch-Python reference not run ({}):\n{}\n", command, output);
    return std::nullopt;
  }
  return nlohmann::json::parse(output.substr(line_start));
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
  app.add_option("--channels-last", args.channels_last, "semiflow's model in NHWC (its default)")->capture_default_str();
  app.add_option("--python", args.python, "Interpreter with torch and torchvision; empty: no reference")
      ->capture_default_str();
  app.add_option("--reference", args.reference, "The PyTorch-Python reference script")->capture_default_str();
  app.add_flag("--json", args.json, "One JSON object instead of text");
  CLI11_PARSE(app, argc, argv);
  if (args.classes.size() != 1 && !args.python.empty()) {
    fmt::print(stderr, "the PyTorch-Python reference has one level: give one --classes value or --python ''\n");
    return 2;
  }

  at::set_num_threads(args.threads);
  torch::manual_seed(0);
  semiflow::EfficientNetV2 model(
      semiflow::EfficientNetV2Options(args.arch, args.classes).channels_last(args.channels_last));
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
  nlohmann::json out = {{"arch", args.arch},
                        {"params", model->num_parameters()},
                        {"image_size", args.image_size},
                        {"batch", args.batch},
                        {"threads", args.threads},
                        {"channels_last", args.channels_last},
                        {"train_images_per_s", median(train)},
                        {"inference_images_per_s", median(inference)}};
  if (!args.python.empty()) {
    // Python's default memory layout is what a PyTorch user gets; its NHWC run compares like with like.
    for (const bool channels_last : {false, true}) {
      const auto reference = run_reference(args, channels_last);
      if (!reference) break;
      const std::string key = channels_last ? "python_channels_last" : "python";
      out[key] = *reference;
      out[key]["train_ratio"] = median(train) / reference->at("train_images_per_s").get<double>();
      out[key]["inference_ratio"] = median(inference) / reference->at("inference_images_per_s").get<double>();
    }
  }
  if (args.json) {
    fmt::print("{}\n", out.dump());
    return 0;
  }
  fmt::print(
      "semiflow {} ({} params) {}x{} batch {} threads {}{}: train {:.0f} images/s, inference {:.0f} images/s "
      "(medians of {} rounds; train {:.0f}-{:.0f}, inference {:.0f}-{:.0f})\n",
      args.arch, model->num_parameters(), args.image_size, args.image_size, args.batch, args.threads,
      args.channels_last ? " NHWC" : "", median(train), median(inference), args.rounds,
      *std::min_element(train.begin(), train.end()), *std::max_element(train.begin(), train.end()),
      *std::min_element(inference.begin(), inference.end()), *std::max_element(inference.begin(), inference.end()));
  for (const std::string key : {"python", "python_channels_last"}) {
    if (!out.contains(key)) continue;
    const auto& reference = out[key];
    fmt::print("PyTorch-Python {} ({} params, torch {}){}: train {:.0f} images/s, inference {:.0f} images/s; "
               "semiflow/Python: train {:.2f}x, inference {:.2f}x\n",
               args.arch, reference["params"].get<std::int64_t>(), reference["torch"].get<std::string>(),
               key == "python" ? "" : " NHWC", reference["train_images_per_s"].get<double>(),
               reference["inference_images_per_s"].get<double>(), reference["train_ratio"].get<double>(),
               reference["inference_ratio"].get<double>());
  }
  return 0;
}
