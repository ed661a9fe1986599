// `semiflow model ...`: describe models (size and cost) without training them.
#include "apps/command.h"
#include "datasets/hierarchy.h"
#include "models/efficientnet_v2_arch.h"
#include "models/model_summary.h"
#include "models/torchvision_import.h"
#include "nodes/checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <torch/optim/sgd.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace semiflow::cli {
namespace {

struct InfoArgs {
  std::string checkpoint;
  std::string arch;
  std::string hierarchy;
  std::vector<std::int64_t> classes;
  std::int64_t image_size = 224;
  std::optional<double> width;
  std::optional<double> depth;
  std::optional<std::int64_t> head_channels;
  std::vector<std::int64_t> head_taps;
  std::string head_layout = "end";
  bool json = false;
};

std::vector<std::int64_t> classes_per_level(const InfoArgs& args) {
  if (args.hierarchy.empty()) return args.classes;
  const Hierarchy hierarchy = Hierarchy::load(args.hierarchy);
  std::vector<std::int64_t> classes;
  for (int level = 0; level < hierarchy.num_levels(); ++level) {
    classes.push_back(static_cast<std::int64_t>(hierarchy.level(level).classes.size()));
  }
  return classes;
}

HeadTapLayout parse_layout(const std::string& name) {
  if (name == "end") return HeadTapLayout::all_at_end;
  if (name == "coarse-early") return HeadTapLayout::coarse_early;
  if (name == "fine-early") return HeadTapLayout::fine_early;
  throw std::invalid_argument("unknown head layout '" + name + "'; use end, coarse-early or fine-early");
}

// 1234567 -> "1,234,567": parameter counts are compared digit by digit with references.
std::string grouped(std::int64_t value) {
  std::string digits = std::to_string(value);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<std::size_t>(i), ",");
  return digits;
}

void print_text(const ModelSummary& s) {
  std::string classes;
  for (auto c : s.classes_per_level) classes += (classes.empty() ? "" : "/") + std::to_string(c);
  fmt::print("EfficientNetV2-{} with {} classes per level\n", s.arch, classes);
  fmt::print("params  {}\n", grouped(s.params));
  const bool giga = s.macs >= 1000000000;
  fmt::print("MACs    {} ({:.2f} {}) at {}x{}\n", grouped(s.macs), static_cast<double>(s.macs) / (giga ? 1e9 : 1e6),
             giga ? "G" : "M", s.image_size, s.image_size);
  fmt::print("\n{:<12} {:>8} {:>9} {:>7} {:>14}\n", "module", "channels", "reduction", "blocks", "MACs");
  for (std::size_t i = 0; i < s.features.size(); ++i) {
    const auto& f = s.features[i];
    fmt::print("{:<12} {:>8} {:>9} {:>7} {:>14}\n", f.module, f.channels, f.reduction, f.blocks,
               grouped(s.macs_by_module[i].second));
  }
  for (std::size_t level = 0; level < s.head_taps.size(); ++level) {
    const auto& head = s.macs_by_module[s.features.size() + level];
    fmt::print("{:<12} level {} ({} classes) reads {}, {} MACs\n", head.first, level, s.classes_per_level[level],
               s.features[static_cast<std::size_t>(s.head_taps[level])].module, grouped(head.second));
  }
}

void print_json(const ModelSummary& s) {
  nlohmann::ordered_json out;
  out["arch"] = s.arch;
  out["classes_per_level"] = s.classes_per_level;
  out["image_size"] = s.image_size;
  out["params"] = s.params;
  out["macs"] = s.macs;
  auto& parts = out["macs_by_module"] = nlohmann::ordered_json::array();
  for (const auto& [module, macs] : s.macs_by_module) parts.push_back({{"module", module}, {"macs", macs}});
  auto& features = out["features"] = nlohmann::ordered_json::array();
  for (const auto& f : s.features) {
    features.push_back(
        {{"module", f.module}, {"channels", f.channels}, {"reduction", f.reduction}, {"blocks", f.blocks}});
  }
  out["head_taps"] = s.head_taps;
  fmt::print("{}\n", out.dump(2));
}

// What a checkpoint holds besides weights: enough to tell which run wrote it and how to feed it.
nlohmann::ordered_json checkpoint_info(const std::string& path) {
  const CheckpointMeta meta = read_checkpoint_meta(path);
  const Hierarchy hierarchy = Hierarchy::parse(meta.hierarchy_yaml, path);
  nlohmann::ordered_json out;
  out["checkpoint"] = path;
  out["arch"] = meta.options.arch();
  auto& levels = out["hierarchy"] = nlohmann::ordered_json::array();
  for (int level = 0; level < hierarchy.num_levels(); ++level)
    levels.push_back({{"level", hierarchy.level(level).name}, {"classes", hierarchy.level(level).classes.size()}});
  out["epoch"] = meta.epoch;
  out["step"] = meta.step;
  out["preprocessing"] = meta.preprocessing.to_json();
  out["fingerprint"] = meta.fingerprint;
  out["options"] = options_to_json(meta.options);
  const auto summary = summarize_model(meta.options, meta.preprocessing.image_size > 0 ? meta.preprocessing.image_size : 224);
  out["params"] = summary.params;
  out["macs"] = summary.macs;
  out["metrics"] = meta.metrics;
  return out;
}

void print_checkpoint_text(const nlohmann::ordered_json& info) {
  std::vector<std::string> levels;
  for (const auto& level : info["hierarchy"])
    levels.push_back(fmt::format("{} ({})", level["level"].get<std::string>(), level["classes"].get<int>()));
  const auto& pre = info["preprocessing"];
  fmt::print("checkpoint   {}\narch         EfficientNetV2-{}, {} params, {} MACs at {}x{}\n", info["checkpoint"].get<std::string>(),
             info["arch"].get<std::string>(), grouped(info["params"].get<std::int64_t>()), grouped(info["macs"].get<std::int64_t>()),
             pre["image_size"].dump(), pre["image_size"].dump());
  fmt::print("hierarchy    {}\ntrained      epoch {}, step {}\n", fmt::join(levels, " > "), info["epoch"].get<std::int64_t>(),
             info["step"].get<std::int64_t>());
  fmt::print("input        {} channel(s), ops {}, mean {}, std {}\nfingerprint  {}\n", pre["channels"].dump(), pre["ops"].dump(),
             pre["mean"].dump(), pre["std"].dump(), info["fingerprint"].get<std::string>());
  const auto& metrics = info["metrics"];
  if (metrics.contains("eval")) {
    const auto& eval = metrics["eval"];
    std::vector<std::string> accuracy;
    for (const auto& [level, values] : eval["levels"].items())
      accuracy.push_back(fmt::format("{} {:.4f}", level, values["accuracy"].get<double>()));
    fmt::print("validation   AI Rush {:.4f}, accuracy {} (epoch {})\n", eval["airush_score"].get<double>(), fmt::join(accuracy, ", "),
               metrics["epoch"].dump());
  } else if (metrics.contains("train_loss")) {
    fmt::print("train loss   {:.4f} (epoch {}, no validation)\n", metrics["train_loss"].get<double>(), metrics["epoch"].dump());
  }
}

void add_info(CLI::App& model) {
  auto args = std::make_shared<InfoArgs>();
  auto* cmd = model.add_subcommand("info", "Print the parameter count and MACs of a model, or describe a checkpoint");
  auto* checkpoint = cmd->add_option("--checkpoint", args->checkpoint,
                                     "Describe this checkpoint: arch, hierarchy, epoch, step, preprocessing, fingerprint, metrics")
                         ->check(CLI::ExistingFile);
  auto* arch = cmd->add_option("--arch", args->arch, "Architecture")->check(CLI::IsMember(efficientnet_v2_arch_names()));
  arch->excludes(checkpoint);
  auto* hierarchy =
      cmd->add_option("--hierarchy", args->hierarchy, "Hierarchy YAML: one head per level")->check(CLI::ExistingFile);
  auto* classes = cmd->add_option("--classes", args->classes, "Classes per level, coarse first (e.g. 2 6 10)")
                      ->check(CLI::PositiveNumber);
  hierarchy->excludes(classes);
  cmd->add_option("--image-size", args->image_size, "Square input size for the MACs")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--width", args->width, "Width multiplier (replaces the architecture's)")->check(CLI::PositiveNumber);
  cmd->add_option("--depth", args->depth, "Depth multiplier (replaces the architecture's)")->check(CLI::PositiveNumber);
  cmd->add_option("--head-channels", args->head_channels, "Width of the 1x1 head conv")->check(CLI::PositiveNumber);
  auto* taps = cmd->add_option("--head-taps", args->head_taps,
                               "Feature index each level's head reads (negative from the end; -1 = head conv)");
  cmd->add_option("--head-layout", args->head_layout, "end, coarse-early (B-CNN) or fine-early")
      ->check(CLI::IsMember({"end", "coarse-early", "fine-early"}))
      ->excludes(taps)
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "Print a JSON object (params, macs, per-module MACs, features)");
  cmd->callback([args] {
    if (!args->checkpoint.empty()) {
      const auto info = checkpoint_info(args->checkpoint);
      if (args->json) fmt::print("{}\n", info.dump(2));
      else print_checkpoint_text(info);
      return;
    }
    if (args->arch.empty()) throw CLI::ValidationError("model info", "give --arch ARCH (with --hierarchy or --classes) or --checkpoint FILE");
    const auto classes = classes_per_level(*args);
    if (classes.empty()) throw std::invalid_argument("model info: give --classes N... or --hierarchy FILE");
    EfficientNetV2Options options(args->arch, classes);
    options.width_multiplier(args->width).depth_multiplier(args->depth).head_channels(args->head_channels);
    options.head_taps(args->head_taps.empty() ? head_taps_for(parse_layout(args->head_layout), classes.size())
                                              : args->head_taps);
    const auto summary = summarize_model(options, args->image_size);
    if (args->json) {
      print_json(summary);
    } else {
      print_text(summary);
    }
  });
}

// Largest |ours - theirs| / max|theirs| over one logits tensor.
double relative_difference(const torch::Tensor& ours, const torch::Tensor& theirs) {
  return ((ours - theirs).abs().max() / theirs.abs().max().clamp_min(1e-12)).item<double>();
}

void add_import(CLI::App& model) {
  struct Args {
    std::string from = "torchvision";
    std::string file, arch, hierarchy, out, reference;
    std::vector<std::int64_t> classes;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = model.add_subcommand("import", "Load a torchvision EfficientNetV2 state_dict into a semiflow checkpoint with new heads");
  cmd->add_option("--from", args->from, "Where the weights come from")->check(CLI::IsMember({"torchvision"}))->capture_default_str();
  cmd->add_option("file", args->file, "state_dict saved with torch.save(dict(model.state_dict()), FILE)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--arch", args->arch, "Architecture of the file: s, m or l")->required()->check(CLI::IsMember({"s", "m", "l"}));
  auto* hierarchy = cmd->add_option("--hierarchy", args->hierarchy, "Hierarchy YAML: one new head per level")->check(CLI::ExistingFile);
  auto* classes = cmd->add_option("--classes", args->classes, "Classes per level instead (1000 keeps torchvision's head)")
                      ->check(CLI::PositiveNumber);
  hierarchy->excludes(classes);
  cmd->add_option("--out", args->out, "Checkpoint to write (usable as train's init_checkpoint, eval, predict)")->required();
  cmd->add_option("--reference", args->reference,
                  "torch.save'd {'input': x, 'logits': y} from torchvision: check our logits on x match y (1e-4 relative)")
      ->check(CLI::ExistingFile);
  cmd->callback([args] {
    Hierarchy hierarchy;
    std::vector<std::int64_t> classes;
    if (!args->hierarchy.empty()) {
      hierarchy = Hierarchy::load(args->hierarchy);
      for (int c : hierarchy.classes_per_level()) classes.push_back(c);
    } else if (args->classes.size() == 1) {
      hierarchy = Hierarchy::flat(static_cast<int>(args->classes[0]));
      classes = args->classes;
    } else {
      throw std::invalid_argument("model import: give --hierarchy FILE (one head per level) or --classes N (one head)");
    }
    EfficientNetV2 model(EfficientNetV2Options(args->arch, classes));
    const WeightImport imported = import_torchvision_weights(model, args->file);
    model->eval();
    fmt::print("imported {} tensors from {}{}\n", imported.tensors, args->file,
               imported.classifier ? " (with its classifier)" : fmt::format(" (new heads; ignored {})", fmt::join(imported.ignored, ", ")));
    if (!args->reference.empty()) {
      const auto reference = read_tensor_dict(args->reference);
      if (!imported.classifier) throw std::invalid_argument("--reference needs --classes 1000 (torchvision's own head)");
      torch::NoGradGuard no_grad;
      const auto input = reference.find("input"), expected = reference.find("logits");
      if (input == reference.end() || expected == reference.end())
        throw std::invalid_argument(fmt::format("{}: needs the tensors 'input' and 'logits'", args->reference));
      const auto logits = model->forward(input->second)[0];
      const double difference = relative_difference(logits, expected->second);
      fmt::print("logits vs torchvision: max relative difference {:.3g} (limit 1e-4)\n", difference);
      if (!(difference <= 1e-4)) throw std::runtime_error("the imported model's logits differ from torchvision's");
    }
    CheckpointMeta meta;
    meta.options = model->options;
    meta.hierarchy_yaml = hierarchy.to_yaml();
    meta.preprocessing.channels = 3;
    meta.preprocessing.mean = {0.485, 0.456, 0.406};  // torchvision's ImageNet normalization
    meta.preprocessing.std = {0.229, 0.224, 0.225};
    // A checkpoint carries an optimizer state; an imported model has none yet.
    torch::optim::SGD no_steps_yet(model->parameters(), torch::optim::SGDOptions(0.0));
    TrainingState state;
    state.model = model;
    state.optimizer = &no_steps_yet;
    save_checkpoint(args->out, meta, state);
    fmt::print("wrote {}\n", args->out);
  });
}

void install(CLI::App& app) {
  auto* model = app.add_subcommand("model", "Describe and import models");
  model->require_subcommand(1);
  add_info(*model);
  add_import(*model);
}

}  // namespace

SEMIFLOW_COMMAND(install);

}  // namespace semiflow::cli
