#include "nodes/training_setup.h"

#include <fmt/format.h>

#include <fstream>
#include <stdexcept>

namespace semiflow {

graph::NodeSchema& declare_model_params(graph::NodeSchema& schema) {
  return schema.param("arch", "tiny", "EfficientNetV2 architecture (see `semiflow model info`)")
      .param("head_taps", "all_at_end", "where the level heads read: all_at_end, coarse_early, fine_early")
      .param("dropout", -1.0, "dropout before the heads; negative: the architecture's")
      .param("drop_path", 0.2, "stochastic depth rate of the last block (linear by block index)")
      .param("channels", 3, "image channels");
}

graph::NodeSchema& declare_eval_preprocessing_params(graph::NodeSchema& schema) {
  return schema.param("eval_ops", std::vector<std::string>{}, "deterministic augment ops for evaluation images, e.g. [resize size=32]")
      .param("image_size", 0, "side of the training images (recorded in checkpoints for inference)")
      .param("mean", std::vector<double>{0.485, 0.456, 0.406}, "normalization mean (as the batch node's)")
      .param("std", std::vector<double>{0.229, 0.224, 0.225}, "normalization std (as the batch node's)");
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
