#pragma once
// Reading the parameters that every training node (`train`, `mpl_train`) declares alike into
// the objects they configure, so the nodes agree on names, defaults and errors.
#include "datasets/hierarchy.h"
#include "graph/params.h"
#include "graph/schema.h"
#include "models/efficientnet_v2_options.h"
#include "nodes/checkpoint.h"
#include "nodes/optimization.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace semiflow {

// Declare the parameters that model_options_from (arch, head_taps, dropout, drop_path, channels)
// and eval_preprocessing_from (eval_ops, image_size, mean, std; channels above) read, with
// `device` and the config-time checks every training node shares (device, hierarchy,
// eval_manifest, eval_ops, level_weights). channels, image_size, mean and std are taken from
// the input stream when the config does not write them.
graph::NodeSchema& declare_model_params(graph::NodeSchema& schema);
graph::NodeSchema& declare_eval_preprocessing_params(graph::NodeSchema& schema);
// What the shared loop (nodes/training_loop.h) reads: epochs and steps_per_epoch, the schedule's
// length, from the input stream (steps_per_epoch must be written where the stream cannot tell,
// e.g. an unbalanced pseudo-label set), and resume.
graph::NodeSchema& declare_training_loop_params(graph::NodeSchema& schema);

// all_at_end, coarse_early or fine_early; throws listing them.
HeadTapLayout parse_head_taps(const std::string& name);

// From arch, head_taps, drop_path, dropout (negative: the architecture's) and channels, with one
// head per level of `hierarchy`.
EfficientNetV2Options model_options_from(const graph::Params& params, const Hierarchy& hierarchy);

// From eval_ops, channels, mean, std and image_size.
EvalPreprocessing eval_preprocessing_from(const graph::Params& params);

// Declare the parameters optimizer_config_from reads (of every model the node trains).
graph::NodeSchema& declare_optimizer_params(graph::NodeSchema& schema, double default_weight_decay);
// From optimizer, momentum, nesterov and weight_decay; `lr` is the peak learning rate.
OptimizerConfig optimizer_config_from(const graph::Params& params, double lr);

// Appends `record` as one line of a JSON-lines file (metrics.jsonl).
void append_json_line(const std::filesystem::path& path, const nlohmann::json& record);

}  // namespace semiflow
