#include "nodes/training_setup.h"

#include <fmt/format.h>

#include <fstream>
#include <stdexcept>

namespace semiflow {

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
