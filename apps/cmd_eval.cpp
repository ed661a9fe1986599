// `semiflow eval` and `semiflow predict`: a checkpoint's model on a manifest, prepared with the
// preprocessing stored in the checkpoint (so evaluation matches training without its config).
#include "apps/command.h"
#include "apps/output.h"
#include "datasets/manifest.h"
#include "nodes/checkpoint.h"
#include "nodes/device.h"
#include "nodes/evaluation.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace semiflow::cli {
namespace {

struct ModelArgs {
  std::string checkpoint;
  std::string manifest;
  int batch_size = 256;
  std::string device = "cpu";
  std::string precision = "fp32";
  int threads = 0;
};

void add_model_options(CLI::App& cmd, ModelArgs& args) {
  cmd.add_option("--checkpoint", args.checkpoint, "Checkpoint written by the train node")
      ->required()
      ->check(CLI::ExistingFile);
  cmd.add_option("--manifest", args.manifest, "Manifest CSV of the images")->required()->check(CLI::ExistingFile);
  cmd.add_option("--batch-size", args.batch_size, "Images per forward pass")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  // Refused while parsing, before a checkpoint is loaded: one line instead of libtorch's trace later.
  const CLI::Validator available_device(
      [](const std::string& name) {
        try {
          resolve_device(name);
          return std::string();
        } catch (const std::exception& e) {
          return std::string(e.what());
        }
      },
      "DEVICE");
  cmd.add_option("--device", args.device, "Torch device: auto, cpu, cuda or cuda:N")->check(available_device)->capture_default_str();
  cmd.add_option("--precision", args.precision, "fp32, or the forward pass autocast in bf16 (CPU, CUDA) or fp16 (CUDA)")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}))
      ->capture_default_str();
  cmd.add_option("--threads", args.threads, "Torch intra-op threads (0: all cores)")->capture_default_str();
}

struct Prepared {
  c10::Device device;
  LoadedModel loaded;
  EvalSet set;
  double load_seconds = 0.0;
};

Prepared prepare(const ModelArgs& args) {
  // Debian's libtorch runs on one thread unless told otherwise.
  at::set_num_threads(args.threads > 0 ? args.threads : static_cast<int>(std::thread::hardware_concurrency()));
  const auto start = std::chrono::steady_clock::now();
  const c10::Device device = resolve_device(args.device);
  check_precision(parse_precision(args.precision), device.type());
  LoadedModel loaded = load_checkpoint_for_inference(args.checkpoint, device);
  EvalSet set = EvalSet::load(args.manifest, loaded.hierarchy, loaded.preprocessing);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {device, std::move(loaded), std::move(set), seconds};
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void add_eval(CLI::App& app) {
  auto args = std::make_shared<ModelArgs>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("eval", "Evaluate a checkpoint on a labeled manifest (hierarchical metrics)");
  add_model_options(*cmd, *args);
  cmd->add_flag("--json", *json, "Print the metrics as JSON");
  cmd->callback([args, json] {
    auto prepared = prepare(*args);
    const auto start = std::chrono::steady_clock::now();
    const auto result = evaluate_model(prepared.loaded.model, prepared.set, args->batch_size, prepared.device,
                                       parse_precision(args->precision));
    const double seconds = seconds_since(start);
    if (*json) {
      auto out = result.to_json();
      out["checkpoint"] = args->checkpoint;
      out["manifest"] = args->manifest;
      out["ema_weights"] = prepared.loaded.ema_weights;
      fmt::print("{}\n", out.dump(2));
      return;
    }
    fmt::print("{} ({} weights, epoch {}) on {}\n\n{}", args->checkpoint, prepared.loaded.ema_weights ? "EMA" : "trained",
               prepared.loaded.epoch, args->manifest, result.to_table());
    fmt::print("load + preprocess {:.2f} s; inference {:.2f} s = {:.0f} images/s\n", prepared.load_seconds, seconds,
               static_cast<double>(result.images) / seconds);
  });
}

enum class Decoding { argmax, consistent };

void add_predict(CLI::App& app) {
  auto args = std::make_shared<ModelArgs>();
  auto out_path = std::make_shared<std::string>();
  auto decoding = std::make_shared<Decoding>(Decoding::consistent);
  auto* cmd = app.add_subcommand("predict", "Write each image's predicted class per level to a CSV");
  add_model_options(*cmd, *args);
  cmd->add_option("--out", *out_path,
                  "CSV to write (- for stdout): path, then per level <level>_index, <level>_name, <level>_probability")
      ->required();
  cmd->add_option("--decoding", *decoding,
                  "consistent: the most probable path of the tree; argmax: each level on its own")
      ->transform(CLI::CheckedTransformer(std::map<std::string, Decoding>{{"argmax", Decoding::argmax},
                                                                          {"consistent", Decoding::consistent}}))
      ->capture_default_str();
  cmd->callback([args, out_path, decoding] {
    auto prepared = prepare(*args);
    const Hierarchy& hierarchy = prepared.loaded.hierarchy;
    const auto stream = open_output(*out_path);
    std::ostream& out = *stream;
    out << "path";
    for (const auto& level : hierarchy.levels())
      out << ',' << quote_csv_field(level.name + "_index") << ',' << quote_csv_field(level.name + "_name") << ','
          << quote_csv_field(level.name + "_probability");
    out << '\n';
    run_model(prepared.loaded.model, prepared.set, args->batch_size, prepared.device,
              [&](const Batch& batch, const std::vector<torch::Tensor>& logits) {
                std::vector<torch::Tensor> probabilities;
                for (const auto& level_logits : logits) probabilities.push_back(torch::softmax(level_logits, 1));
                torch::Tensor paths;
                if (*decoding == Decoding::consistent) {
                  paths = decode_consistent_paths(hierarchy, logits);
                } else {
                  std::vector<torch::Tensor> argmax;
                  for (const auto& level_logits : logits) argmax.push_back(level_logits.argmax(1));
                  paths = torch::stack(argmax, 1);
                }
                const auto path_rows = paths.accessor<std::int64_t, 2>();
                for (std::int64_t i = 0; i < batch.size(); ++i) {
                  out << quote_csv_field(batch.paths[static_cast<std::size_t>(i)]);
                  for (int level = 0; level < hierarchy.num_levels(); ++level) {
                    const auto cls = path_rows[i][level];
                    if (cls < 0) {  // below a class without children: no class at this level
                      out << ",-1,,";
                      continue;
                    }
                    out << ',' << cls << ',' << quote_csv_field(hierarchy.level(level).classes[cls]) << ','
                        << fmt::format("{:.6f}", probabilities[level][i][cls].item<float>());
                  }
                  out << '\n';
                }
              },
              parse_precision(args->precision));
    if (!out) throw std::runtime_error(fmt::format("{}: writing the predictions failed", *out_path));
    // A log line, not data: with --out - stdout holds the CSV only.
    spdlog::info("wrote {}: predictions for {} images", *out_path, prepared.set.size());
  });
}

void install(CLI::App& app) {
  add_eval(app);
  add_predict(app);
}

}  // namespace

SEMIFLOW_COMMAND(install);

}  // namespace semiflow::cli
