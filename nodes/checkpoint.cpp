#include "nodes/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <torch/serialize.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>

namespace semiflow {
namespace {

constexpr int kFormatVersion = 1;

template <class T>
nlohmann::json optional_to_json(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

template <class T>
std::optional<T> optional_from_json(const nlohmann::json& value) {
  if (value.is_null()) return std::nullopt;
  return value.get<T>();
}

[[noreturn]] void throw_errno(const std::string& what, const std::string& path) {
  throw std::runtime_error(fmt::format("{}: {} failed: {}", path, what, std::strerror(errno)));
}

// Syncs a file or folder so a rename that follows (or has happened) survives a power cut.
void sync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) throw_errno("open", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw_errno("fsync", path);
}

void write_archive(torch::serialize::OutputArchive& archive, const std::string& path) {
  write_file_atomically(path, [&](const std::string& temp_path) {
    archive.save_to(temp_path);
    sync_path(temp_path, O_RDONLY);
  });
}

void load_archive(torch::serialize::InputArchive& archive, const std::string& path) {
  if (!std::filesystem::exists(path)) throw std::runtime_error(fmt::format("{}: no such checkpoint", path));
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw std::runtime_error(fmt::format("{}: not a readable checkpoint ({})", path, e.what_without_backtrace()));
  }
}

CheckpointMeta meta_from_archive(torch::serialize::InputArchive& archive, const std::string& path) {
  c10::IValue text;
  if (!archive.try_read("meta", text) || !text.isString())
    throw std::runtime_error(fmt::format("{}: not a semiflow checkpoint (no 'meta' entry)", path));
  try {
    const auto json = nlohmann::json::parse(text.toStringRef());
    if (json.at("format").get<int>() > kFormatVersion)
      throw std::runtime_error(fmt::format("format {} is newer than this build reads ({}); update semiflow",
                                           json.at("format").get<int>(), kFormatVersion));
    CheckpointMeta meta;
    meta.options = options_from_json(json.at("options"));
    meta.hierarchy_yaml = json.at("hierarchy").get<std::string>();
    meta.preprocessing = EvalPreprocessing::from_json(json.at("preprocessing"));
    meta.fingerprint = json.at("fingerprint").get<std::string>();
    if (json.contains("fingerprinted")) meta.fingerprinted = json.at("fingerprinted").get<std::map<std::string, std::string>>();
    meta.step = json.at("step").get<std::int64_t>();
    meta.epoch = json.at("epoch").get<std::int64_t>();
    meta.metrics = json.at("metrics");
    if (json.contains("state")) meta.state = json.at("state");
    return meta;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{}: bad checkpoint metadata: {}", path, e.what()));
  }
}

template <class Module>
void read_module(torch::serialize::InputArchive& archive, const std::string& key, Module module,
                 const std::string& path) {
  torch::serialize::InputArchive nested;
  if (!archive.try_read(key, nested)) throw std::runtime_error(fmt::format("{}: the checkpoint has no '{}'", path, key));
  try {
    module->load(nested);
  } catch (const c10::Error& e) {
    throw std::runtime_error(fmt::format("{}: '{}' does not fit the model built from the config ({}); "
                                         "use a fresh out_dir or the checkpoint's config",
                                         path, key, e.what_without_backtrace()));
  }
}

// The EMA weights when the archive has them, else the trained ones; returns whether EMA.
bool read_inference_weights(torch::serialize::InputArchive& archive, EfficientNetV2& model, const std::string& path) {
  torch::serialize::InputArchive probe;
  const bool ema = archive.try_read("ema", probe);
  read_module(archive, ema ? "ema" : "model", model, path);
  return ema;
}

}  // namespace

nlohmann::json EvalPreprocessing::to_json() const {
  return {{"ops", ops}, {"channels", channels}, {"mean", mean}, {"std", std}, {"image_size", image_size}};
}

EvalPreprocessing EvalPreprocessing::from_json(const nlohmann::json& json) {
  EvalPreprocessing p;
  p.ops = json.at("ops").get<std::vector<std::string>>();
  p.channels = json.at("channels").get<int>();
  p.mean = json.at("mean").get<std::vector<double>>();
  p.std = json.at("std").get<std::vector<double>>();
  p.image_size = json.at("image_size").get<int>();
  return p;
}

nlohmann::json options_to_json(const EfficientNetV2Options& o) {
  return {{"arch", o.arch()},
          {"classes_per_level", o.classes_per_level()},
          {"width_multiplier", optional_to_json(o.width_multiplier())},
          {"depth_multiplier", optional_to_json(o.depth_multiplier())},
          {"head_channels", optional_to_json(o.head_channels())},
          {"dropout", optional_to_json(o.dropout())},
          {"drop_path_rate", o.drop_path_rate()},
          {"head_taps", o.head_taps()},
          {"in_channels", o.in_channels()}};
}

EfficientNetV2Options options_from_json(const nlohmann::json& json) {
  EfficientNetV2Options o(json.at("arch").get<std::string>(), json.at("classes_per_level").get<std::vector<std::int64_t>>());
  o.width_multiplier(optional_from_json<double>(json.at("width_multiplier")))
      .depth_multiplier(optional_from_json<double>(json.at("depth_multiplier")))
      .head_channels(optional_from_json<std::int64_t>(json.at("head_channels")))
      .dropout(optional_from_json<double>(json.at("dropout")))
      .drop_path_rate(json.at("drop_path_rate").get<double>())
      .head_taps(json.at("head_taps").get<std::vector<std::int64_t>>())
      .in_channels(json.at("in_channels").get<std::int64_t>());
  return o;
}

void write_file_atomically(const std::string& path, const std::function<void(const std::string& temp_path)>& write) {
  const std::filesystem::path target(path);
  const std::string temp = (target.parent_path() / ("." + target.filename().string() + ".tmp")).string();
  try {
    write(temp);
    std::filesystem::rename(temp, target);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw;
  }
  const auto folder = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
  sync_path(folder.string(), O_RDONLY | O_DIRECTORY);
}

void store_loss_scaler(const LossScaler& scaler, const std::string& key, nlohmann::json& state) {
  if (!scaler.enabled()) return;
  const LossScaler::State s = scaler.state();
  state[key] = {{"scale", s.scale}, {"good_steps", s.good_steps}};
}

void restore_loss_scaler(const nlohmann::json& state, const std::string& key, LossScaler& scaler) {
  if (!scaler.enabled() || !state.contains(key)) return;
  const auto& s = state.at(key);
  scaler.restore({s.at("scale").get<double>(), s.at("good_steps").get<std::int64_t>()});
}

void save_checkpoint(const std::string& path, const CheckpointMeta& meta, const TrainingState& state) {
  if (!state.model || !state.optimizer) throw std::invalid_argument(fmt::format("{}: nothing to save (no model or optimizer)", path));
  nlohmann::json json = {{"format", kFormatVersion},
                         {"options", options_to_json(meta.options)},
                         {"hierarchy", meta.hierarchy_yaml},
                         {"preprocessing", meta.preprocessing.to_json()},
                         {"fingerprint", meta.fingerprint},
                         {"fingerprinted", meta.fingerprinted},
                         {"step", meta.step},
                         {"epoch", meta.epoch},
                         {"metrics", meta.metrics}};
  if (!meta.state.empty()) json["state"] = meta.state;
  torch::serialize::OutputArchive archive;
  archive.write("meta", c10::IValue(json.dump()));
  torch::serialize::OutputArchive model, optimizer;
  state.model->save(model);
  archive.write("model", model);
  if (state.ema) {
    torch::serialize::OutputArchive ema;
    state.ema->save(ema);
    archive.write("ema", ema);
  }
  state.optimizer->save(optimizer);
  archive.write("optimizer", optimizer);
  // Dropout and stochastic depth draw from the default CPU generator: resuming it makes a resumed
  // run draw the same masks as an uninterrupted one.
  auto generator = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    archive.write("cpu_rng_state", generator.get_state());
  }
  write_archive(archive, path);
}

CheckpointMeta read_checkpoint_meta(const std::string& path) {
  torch::serialize::InputArchive archive;
  load_archive(archive, path);
  return meta_from_archive(archive, path);
}

CheckpointMeta restore_checkpoint(const std::string& path, const TrainingState& state) {
  torch::serialize::InputArchive archive;
  load_archive(archive, path);
  CheckpointMeta meta = meta_from_archive(archive, path);
  read_module(archive, "model", state.model, path);
  if (state.ema) read_module(archive, "ema", state.ema, path);
  torch::serialize::InputArchive optimizer;
  if (!archive.try_read("optimizer", optimizer))
    throw std::runtime_error(fmt::format("{}: the checkpoint has no optimizer state", path));
  state.optimizer->load(optimizer);
  torch::Tensor rng_state;
  if (archive.try_read("cpu_rng_state", rng_state)) {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(rng_state);
  }
  return meta;
}

LoadedModel load_checkpoint_for_inference(const std::string& path, torch::Device device) {
  torch::serialize::InputArchive archive;
  load_archive(archive, path);
  CheckpointMeta meta = meta_from_archive(archive, path);
  LoadedModel loaded;
  loaded.options = meta.options;
  loaded.hierarchy = Hierarchy::parse(meta.hierarchy_yaml, path);
  loaded.preprocessing = meta.preprocessing;
  loaded.epoch = meta.epoch;
  loaded.step = meta.step;
  loaded.model = EfficientNetV2(meta.options);
  loaded.ema_weights = read_inference_weights(archive, loaded.model, path);
  loaded.model->to(device);
  loaded.model->eval();
  return loaded;
}

void load_weights(const std::string& path, EfficientNetV2& model) {
  torch::serialize::InputArchive archive;
  load_archive(archive, path);
  meta_from_archive(archive, path);  // refuses files that are not semiflow checkpoints
  read_inference_weights(archive, model, path);
}

}  // namespace semiflow
