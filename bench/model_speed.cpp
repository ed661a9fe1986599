// Training and inference throughput of an EfficientNetV2 variant on the CPU or a GPU, in fp32 or
// bf16 autocast, and in the same run the same model, batch, size, threads, device and precision in
// PyTorch-Python eager (model_speed_reference.py), with the ratios. Rounds alternate: semiflow train, each reference's train, semiflow inference, each
// reference's inference; a ratio is the median of the per-round ratios, because on shared
// 2-core machines load from outside shifts speeds between rounds.
#include "models/efficientnet_v2.h"
#include "models/losses.h"
#include "models/precision.h"
#include "models/tensor_memory.h"
#include "nodes/optimization.h"
#include "apps/served_process.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <vector>


namespace {

using semiflow::cli::Range;
using semiflow::cli::range_of;

struct Args {
  std::string arch = "tiny";
  std::vector<std::int64_t> classes{10};
  std::int64_t image_size = 32;
  std::int64_t batch = 128;
  int threads = 2;
  int rounds = 5;
  int steps = 10;  // batches per round
  bool channels_last = true;
  std::string device = "cpu";
  std::string precision = "fp32";
  std::string python = "/usr/bin/python3";
  std::string reference = SEMIFLOW_MODEL_SPEED_REFERENCE;
  bool json = false;
};

template <typename Step>
double images_per_second(const Args& args, Step&& step) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < args.steps; ++i) step();
  if (args.device != "cpu") torch::cuda::synchronize();  // the GPU runs behind the host: wait for the last step
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(args.steps * args.batch) / seconds;
}

// model_speed_reference.py --serve for one layout: one timed round per request.
std::unique_ptr<semiflow::cli::ServedProcess> start_reference(const Args& args, bool channels_last) {
  std::vector<std::string> argv = {args.python, args.reference, "--serve", "--arch", args.arch,
                                   "--classes", std::to_string(args.classes.front()),
                                   "--image-size", std::to_string(args.image_size),
                                   "--batch", std::to_string(args.batch),
                                   "--threads", std::to_string(args.threads),
                                   "--steps", std::to_string(args.steps),
                                   "--device", args.device, "--precision", args.precision};
  if (channels_last) argv.push_back("--channels-last");
  auto reference = semiflow::cli::ServedProcess::start(argv);
  if (!reference) fmt::print(stderr, "PyTorch-Python reference not run: {} {}\n", args.python, args.reference);
  return reference;
}

double round_of(semiflow::cli::ServedProcess& reference, const char* kind) {
  return reference.request(kind).at("images_per_s").get<double>();
}

std::vector<double> ratios(const std::vector<double>& ours, const std::vector<double>& theirs) {
  std::vector<double> out;
  for (std::size_t i = 0; i < ours.size(); ++i) out.push_back(ours[i] / theirs[i]);
  return out;
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
  app.add_option("--device", args.device, "cpu, or cuda (both sides)")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  app.add_option("--precision", args.precision, "fp32, or bf16 autocast (both sides)")->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
  app.add_flag("--json", args.json, "One JSON object instead of text");
  CLI11_PARSE(app, argc, argv);
  if (args.classes.size() != 1 && !args.python.empty()) {
    fmt::print(stderr, "the PyTorch-Python reference has one level: give one --classes value or --python ''\n");
    return 2;
  }

  semiflow::keep_freed_tensor_memory();  // as the CLI does
  at::set_num_threads(args.threads);
  torch::manual_seed(0);
  const torch::Device device(args.device);
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);  // as the training nodes (and torch.backends.cudnn.benchmark)
  const semiflow::Precision precision = semiflow::parse_precision(args.precision);
  semiflow::EfficientNetV2 model(
      semiflow::EfficientNetV2Options(args.arch, args.classes).channels_last(args.channels_last));
  model->to(device);
  // The train node's optimizer (SGD, Nesterov, no decay on 1-D tensors), as the reference's.
  semiflow::OptimizerConfig sgd;
  sgd.lr = 0.05;
  sgd.weight_decay = 5e-4;
  const auto optimizer = semiflow::make_optimizer(sgd, *model);
  // NHWC input for an NHWC model, as the reference's.
  auto images = torch::randn({args.batch, 3, args.image_size, args.image_size}).to(device);
  if (args.channels_last) images = images.contiguous(torch::MemoryFormat::ChannelsLast);
  std::vector<torch::Tensor> label_columns;
  for (auto classes : args.classes) label_columns.push_back(torch::randint(classes, {args.batch}, torch::kLong));
  const auto labels = torch::stack(label_columns, 1).to(device);

  auto loss_of_step = [&] {
    return semiflow::hierarchical_cross_entropy(semiflow::forward_logits(model, images, precision), labels).total;
  };
  auto train_step = [&] {
    model->train();
    optimizer->zero_grad();
    const auto loss = loss_of_step();
    loss.backward();
    optimizer->step();
  };
  auto inference_step = [&] {
    model->eval();
    torch::NoGradGuard no_grad;
    semiflow::forward_logits(model, images, precision);
  };
  // Milliseconds of a training step's parts, the device synchronised between them (medians over
  // the steps): where a gap to the reference lies.
  auto train_phases = [&] {
    const auto synchronize = [&] {
      if (device.is_cuda()) torch::cuda::synchronize();
    };
    const auto now = [] { return std::chrono::steady_clock::now(); };
    const auto ms = [](auto from, auto to) { return std::chrono::duration<double, std::milli>(to - from).count(); };
    std::vector<double> forward, backward, step;
    model->train();
    for (int i = 0; i < args.steps; ++i) {
      synchronize();
      const auto start = now();
      optimizer->zero_grad();
      const auto loss = loss_of_step();
      synchronize();
      const auto forwarded = now();
      loss.backward();
      synchronize();
      const auto backwarded = now();
      optimizer->step();
      synchronize();
      const auto end = now();
      forward.push_back(ms(start, forwarded));
      backward.push_back(ms(forwarded, backwarded));
      step.push_back(ms(backwarded, end));
    }
    return nlohmann::json{{"forward", range_of(forward).median}, {"backward", range_of(backward).median},
                          {"optimizer", range_of(step).median}};
  };
  train_step();  // warm-up: oneDNN picks and caches its kernels on first use
  inference_step();

  // Python's default memory layout is what a PyTorch user gets; its NHWC run compares like with like.
  struct Side {
    std::string key, name;
    std::unique_ptr<semiflow::cli::ServedProcess> reference;
    std::vector<double> train, inference;
  };
  std::vector<Side> references;
  if (!args.python.empty())
    for (const bool channels_last : {false, true})
      if (auto reference = start_reference(args, channels_last))
        references.push_back({channels_last ? "python_channels_last" : "python", channels_last ? " NHWC" : "", std::move(reference), {}, {}});

  std::vector<double> train, inference;
  for (int round = 0; round < args.rounds; ++round) {
    train.push_back(images_per_second(args, train_step));
    for (auto& side : references) side.train.push_back(round_of(*side.reference, "train"));
    inference.push_back(images_per_second(args, inference_step));
    for (auto& side : references) side.inference.push_back(round_of(*side.reference, "inference"));
  }
  const nlohmann::json phases = train_phases();
  for (auto& side : references) side.reference->info["train_phase_ms"] = side.reference->request("phases").at("train_phase_ms");
  // One optimizer step on the last step's gradients, multi-tensor against libtorch's
  // per-parameter loop (the train node picks by device; milliseconds, median of the rounds).
  std::vector<double> multi_tensor_ms, per_parameter_ms;
  for (const bool foreach : {true, false}) {
    auto config = sgd;
    config.foreach = foreach;
    const auto stepper = semiflow::make_optimizer(config, *model);
    stepper->step();  // warm-up: momentum buffers exist
    for (int round = 0; round < args.rounds; ++round)
      (foreach ? multi_tensor_ms : per_parameter_ms).push_back(1e3 * args.batch / images_per_second(args, [&] { stepper->step(); }));
  }
  const Range ours_train = range_of(train), ours_inference = range_of(inference);
  nlohmann::json out = {{"arch", args.arch},
                        {"params", model->num_parameters()},
                        {"image_size", args.image_size},
                        {"batch", args.batch},
                        {"threads", args.threads},
                        {"channels_last", args.channels_last},
                        {"device", args.device},
                        {"precision", args.precision},
                        {"train_images_per_s", ours_train.median},
                        {"inference_images_per_s", ours_inference.median},
                        {"train_phase_ms", phases},
                        {"sgd_step_ms", {{"multi_tensor", range_of(multi_tensor_ms).median}, {"libtorch", range_of(per_parameter_ms).median}}}};
  for (const auto& side : references) {
    const Range train_ratio = range_of(ratios(train, side.train)), inference_ratio = range_of(ratios(inference, side.inference));
    out[side.key] = side.reference->info;
    out[side.key]["train_images_per_s"] = range_of(side.train).median;
    out[side.key]["inference_images_per_s"] = range_of(side.inference).median;
    out[side.key]["train_ratio"] = train_ratio.median;
    out[side.key]["train_ratio_range"] = {train_ratio.min, train_ratio.max};
    out[side.key]["inference_ratio"] = inference_ratio.median;
    out[side.key]["inference_ratio_range"] = {inference_ratio.min, inference_ratio.max};
  }
  if (args.json) {
    fmt::print("{}\n", out.dump());
    return 0;
  }
  fmt::print(
      "semiflow {} ({} params) {}x{} batch {} threads {}{} {} {}: train {:.0f} images/s, inference {:.0f} images/s "
      "(medians of {} rounds; train {:.0f}-{:.0f}, inference {:.0f}-{:.0f})\n",
      args.arch, model->num_parameters(), args.image_size, args.image_size, args.batch, args.threads,
      args.channels_last ? " NHWC" : "", args.device, args.precision, ours_train.median, ours_inference.median, args.rounds, ours_train.min, ours_train.max,
      ours_inference.min, ours_inference.max);
  fmt::print("SGD step: multi-tensor {:.2f} ms, libtorch's per-parameter {:.2f} ms\n", range_of(multi_tensor_ms).median,
             range_of(per_parameter_ms).median);
  const auto print_phases = [](const std::string& who, const nlohmann::json& ms) {
    fmt::print("{} training step, parts timed apart: forward and loss {:.1f} ms, backward {:.1f} ms, optimizer {:.1f} ms\n", who,
               ms.at("forward").get<double>(), ms.at("backward").get<double>(), ms.at("optimizer").get<double>());
  };
  print_phases("semiflow", phases);
  for (const auto& side : references) print_phases("PyTorch-Python" + side.name, out[side.key]["train_phase_ms"]);
  for (const auto& side : references) {
    const auto& reference = out[side.key];
    fmt::print("PyTorch-Python {} ({} params, torch {}){}: train {:.0f} images/s, inference {:.0f} images/s; "
               "semiflow/Python, round by round: train {:.2f}x ({:.2f}-{:.2f}), inference {:.2f}x ({:.2f}-{:.2f})\n",
               args.arch, reference["params"].get<std::int64_t>(), reference["torch"].get<std::string>(), side.name,
               reference["train_images_per_s"].get<double>(), reference["inference_images_per_s"].get<double>(),
               reference["train_ratio"].get<double>(), reference["train_ratio_range"][0].get<double>(),
               reference["train_ratio_range"][1].get<double>(), reference["inference_ratio"].get<double>(),
               reference["inference_ratio_range"][0].get<double>(), reference["inference_ratio_range"][1].get<double>());
  }
  return 0;
}
