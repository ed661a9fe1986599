#pragma once
// Checkpoints written by the training nodes (`train`: out_dir/last.pt, best.pt; `mpl_train`:
// out_dir/last.pt, teacher.pt).
//
// One file holds everything needed to continue training bit for bit (model, EMA, optimizer state,
// step, epoch, libtorch's CPU RNG state) and everything needed to use the model without the
// training config (model options, the hierarchy's YAML text, the evaluation preprocessing).
// Files are torch::serialize archives; metadata is one JSON string under "meta" so that new fields
// never break old readers. Writes are atomic: a killed process leaves the previous file intact.
#include "datasets/hierarchy.h"
#include "models/efficientnet_v2.h"
#include "models/efficientnet_v2_options.h"
#include "models/precision.h"

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace semiflow {

// How evaluation images are prepared, as the train node was configured: decode to `channels`,
// apply `ops` (augment-node op strings such as "resize size=32", deterministic ones only), then
// normalize with `mean` / `std` (of values in [0, 1]).
struct EvalPreprocessing {
  std::vector<std::string> ops;
  int channels = 3;
  std::vector<double> mean;
  std::vector<double> std;
  int image_size = 0;  // side of the square images the model was trained and evaluated on

  nlohmann::json to_json() const;
  static EvalPreprocessing from_json(const nlohmann::json& json);
};

nlohmann::json options_to_json(const EfficientNetV2Options& options);
EfficientNetV2Options options_from_json(const nlohmann::json& json);

struct CheckpointMeta {
  EfficientNetV2Options options{"", {}};
  std::string hierarchy_yaml;  // Hierarchy::to_yaml()
  EvalPreprocessing preprocessing;
  // Hash of the parameters that must match for a resume to be exact (nodes/training_loop.h), and
  // those parameters as written (empty in checkpoints from before they were recorded).
  std::string fingerprint;
  std::map<std::string, std::string> fingerprinted;
  std::int64_t step = 0;   // optimizer steps taken
  std::int64_t epoch = 0;  // epochs completed; a resumed run starts at this epoch
  nlohmann::json metrics = nlohmann::json::object();  // the last completed epoch's record
  // What else a node needs to resume exactly (mpl_train: its EMA update count and feedback
  // baseline); written only when not empty, so `train` writes the files it always wrote.
  nlohmann::json state = nlohmann::json::object();
};

// The live training objects a checkpoint is saved from and restored into.
struct TrainingState {
  EfficientNetV2 model{nullptr};
  EfficientNetV2 ema{nullptr};  // null when the run keeps no EMA
  torch::optim::Optimizer* optimizer = nullptr;
};

// Saves `state`, `meta` and the default CPU generator's state to `path`, atomically.
void save_checkpoint(const std::string& path, const CheckpointMeta& meta, const TrainingState& state);

// Reads only the metadata (cheap: no model is built).
CheckpointMeta read_checkpoint_meta(const std::string& path);

// Loads weights, EMA, optimizer state and the CPU RNG state into `state`, whose objects must
// have been built with the checkpoint's options (same parameter shapes). Returns the metadata.
// Throws naming the file when it is unreadable or lacks a part `state` has (e.g. EMA).
CheckpointMeta restore_checkpoint(const std::string& path, const TrainingState& state);

struct LoadedModel {
  EfficientNetV2 model{nullptr};  // in eval mode, on the requested device
  EfficientNetV2Options options{"", {}};
  Hierarchy hierarchy;
  EvalPreprocessing preprocessing;
  bool ema_weights = false;  // true when `model` holds the EMA weights
  std::int64_t epoch = 0;
  std::int64_t step = 0;
};

// The model for evaluation or inference: the EMA weights when the checkpoint has them,
// otherwise the trained weights.
LoadedModel load_checkpoint_for_inference(const std::string& path, torch::Device device);

// Copies a checkpoint's weights (its EMA weights when it has them, as for inference) into
// `model`, which must have the same parameter shapes; throws naming the file otherwise.
void load_weights(const std::string& path, EfficientNetV2& model);

// The fp16 loss scaler's state under `key` of a CheckpointMeta's `state` (nothing when the scaler
// is off, so fp32 and bf16 checkpoints are unchanged), and back. A checkpoint without it (saved in
// another precision, which may change on resume) leaves the scaler at its initial scale.
void store_loss_scaler(const LossScaler& scaler, const std::string& key, nlohmann::json& state);
void restore_loss_scaler(const nlohmann::json& state, const std::string& key, LossScaler& scaler);

// Writes `path` by calling `write` with a temporary file's path in the same folder, syncing it
// and renaming it over `path`; if `write` throws, `path` is untouched and the temporary removed.
void write_file_atomically(const std::string& path, const std::function<void(const std::string& temp_path)>& write);

}  // namespace semiflow
