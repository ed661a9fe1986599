#include "nodes/training_setup.h"

#include "models/efficientnet_v2_arch.h"
#include "nodes/stream_facts.h"

#include <fmt/format.h>

#include <fstream>
#include <stdexcept>

namespace semiflow {

namespace {

// What every training node's parameters must satisfy together, before anything is built.
void check_training_params(const graph::Params& params, const std::vector<graph::StreamFacts>&, graph::Diagnostics& out) {
  facts::check_device(params, out);
  facts::check_precision(params, out);
  facts::require_file(params, "hierarchy", out, "fix the path (relative to the config)");
  facts::require_file(params, "eval_manifest", out, "make it with `semiflow data` or fix the path (relative to the config)");
  facts::check_ops(params, "eval_ops", out);
  if (!params.get_numbers("level_weights").empty()) {
    try {
      const auto levels = Hierarchy::load(params.get_path("hierarchy").string()).num_levels();
      if (static_cast<int>(params.get_numbers("level_weights").size()) != levels)
        out.error("level_weights", fmt::format("level_weights has {} values but the hierarchy has {} levels; give one per level",
                                               params.get_numbers("level_weights").size(), levels));
    } catch (const std::exception&) {
    }
  }
  if (params.get_numbers("mean").size() != params.get_numbers("std").size())
    out.error("std", fmt::format("mean has {} values but std has {}", params.get_numbers("mean").size(), params.get_numbers("std").size()));
}

}  // namespace

graph::NodeSchema& declare_model_params(graph::NodeSchema& schema) {
  return schema.param("arch", "tiny", "EfficientNetV2 architecture (see `semiflow model info`)").one_of(efficientnet_v2_arch_names())
      .param("head_taps", "all_at_end", "where the level heads read").one_of({"all_at_end", "coarse_early", "fine_early"})
      .param("dropout", -1.0, "dropout before the heads; negative: the architecture's").less_than(1)
      .param("drop_path", 0.2, "stochastic depth rate of the last block (linear by block index)").at_least(0).less_than(1)
      .param("channels", 3, "image channels").at_least(1).at_most(3).from_stream(facts::kChannels)
      .param("device", "auto", "auto, cpu, cuda or cuda:N").safe_to_change()
      .param("precision", "fp32", "fp32, or autocast of the forward passes in bf16 (CPU, CUDA) or fp16 (CUDA, with loss scaling); weights stay fp32")
      .one_of({"fp32", "bf16", "fp16"}).safe_to_change()
      .check(check_training_params);
}

graph::NodeSchema& declare_training_loop_params(graph::NodeSchema& schema) {
  return schema.param("epochs", 1, "epochs of the run; sets the schedule's length").at_least(1).from_stream(facts::kEpochs).safe_to_change()
      .param("steps_per_epoch", 0, "optimizer steps per epoch").at_least(0).from_stream(facts::kStepsPerEpoch)
      .param("resume", true, "continue from out_dir/last.pt when it has the same fingerprint (else refuse); false: start over").safe_to_change()
      .check([](const graph::Params& p, const std::vector<graph::StreamFacts>&, graph::Diagnostics& out) {
        if (p.get_int("steps_per_epoch") == 0)
          out.error("steps_per_epoch", "the input stream does not say how many batches an epoch has (its size is known only "
                                       "at run time); write steps_per_epoch");
      });
}

graph::NodeSchema& declare_eval_preprocessing_params(graph::NodeSchema& schema) {
  return schema.param("eval_ops", std::vector<std::string>{}, "deterministic augment ops for evaluation images, e.g. [resize size=32]")
      .param("image_size", 0, "side of the training images (recorded in checkpoints for inference)").at_least(0).from_stream(facts::kImageSize)
      .param("mean", std::vector<double>{0.485, 0.456, 0.406}, "normalization mean (as the batch node's)").from_stream(facts::kMean)
      .param("std", std::vector<double>{0.229, 0.224, 0.225}, "normalization std (as the batch node's)").greater_than(0).from_stream(facts::kStd);
}

HeadTapLayout parse_head_taps(const std::string& name) {
  if (name == "all_at_end") return HeadTapLayout::all_at_end;
  if (name == "coarse_early") return HeadTapLayout::coarse_early;
  if (name == "fine_early") return HeadTapLayout::fine_early;
  throw std::invalid_argument(fmt::format("head_taps '{}': known layouts are all_at_end, coarse_early, fine_early", name));
}

EfficientNetV2Options model_options_from(const graph::Params& params, const Hierarchy& hierarchy) {
  std::vector<std::int64_t> classes;
  for (int c : hierarchy.classes_per_level()) classes.push_back(c);
  auto options = EfficientNetV2Options(params.get_string("arch"), classes)
                     .drop_path_rate(params.get_float("drop_path"))
                     .head_taps(head_taps_for(parse_head_taps(params.get_string("head_taps")), classes.size()))
                     .in_channels(params.get_int("channels"));
  if (params.get_float("dropout") >= 0) options.dropout(params.get_float("dropout"));
  return options;
}

EvalPreprocessing eval_preprocessing_from(const graph::Params& params) {
  EvalPreprocessing preprocessing;
  preprocessing.ops = params.get_strings("eval_ops");
  preprocessing.channels = static_cast<int>(params.get_int("channels"));
  preprocessing.mean = params.get_numbers("mean");
  preprocessing.std = params.get_numbers("std");
  preprocessing.image_size = static_cast<int>(params.get_int("image_size"));
  return preprocessing;
}

graph::NodeSchema& declare_optimizer_params(graph::NodeSchema& schema, double default_weight_decay) {
  return schema.param("optimizer", "sgd", "sgd (Nesterov), rmsprop (EfficientNet's) or adamw").one_of(optimizer_kind_names())
      .param("momentum", 0.9, "sgd and rmsprop momentum").at_least(0).less_than(1)
      .param("nesterov", true, "sgd: Nesterov momentum")
      .param("weight_decay", default_weight_decay, "weight decay of conv and linear weights (never of BatchNorm or biases)").at_least(0);
}

OptimizerConfig optimizer_config_from(const graph::Params& params, double lr) {
  OptimizerConfig optimizer;
  optimizer.kind = parse_optimizer_kind(params.get_string("optimizer"));
  optimizer.lr = lr;
  optimizer.momentum = params.get_float("momentum");
  optimizer.nesterov = params.get_bool("nesterov");
  optimizer.weight_decay = params.get_float("weight_decay");
  return optimizer;
}

void append_json_line(const std::filesystem::path& path, const nlohmann::json& record) {
  std::ofstream out(path, std::ios::app);
  out << record.dump() << "\n";
  if (!out) throw std::runtime_error(fmt::format("{}: cannot append a record", path.string()));
}

}  // namespace semiflow
