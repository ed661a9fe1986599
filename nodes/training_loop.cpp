#include "nodes/training_loop.h"

#include "nodes/device.h"
#include "nodes/training_setup.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <stdexcept>

namespace semiflow::nodes {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

TrainingLoop::TrainingLoop(const graph::Params& params, std::string type, std::int64_t eval_every)
    : name_(params.node_name()),
      type_(std::move(type)),
      hierarchy_(Hierarchy::load(params.get_path("hierarchy").string())),
      out_dir_(params.get_path("out_dir")),
      device_(resolve_device(params.get_string("device"))),
      precision_(parse_precision(params.get_string("precision"))),
      seed_(static_cast<std::uint64_t>(params.get_int("seed"))),
      epochs_(params.get_int("epochs")),
      steps_per_epoch_(params.get_int("steps_per_epoch")),
      eval_every_(eval_every),
      eval_batch_size_(static_cast<int>(params.get_int("eval_batch_size"))),
      fingerprinted_(graph::fingerprinted_values(params)),
      fingerprint_(graph::fingerprint_values(type_, fingerprinted_)),
      preprocessing_(eval_preprocessing_from(params)),
      options_(model_options_from(params, hierarchy_)) {
  if (epochs_ < 1) throw std::invalid_argument("epochs must be at least 1");
  if (steps_per_epoch_ < 1) throw std::invalid_argument("steps_per_epoch must be at least 1");
  if (eval_every_ < 1) throw std::invalid_argument("eval_every must be at least 1");
  check_precision(precision_, device_.type());
  prepare_device(device_);
  if (!params.get_string("eval_manifest").empty())
    eval_set_.emplace(EvalSet::load(params.get_path("eval_manifest").string(), hierarchy_, preprocessing_));
  group_ = distributed::connect(name_, device_);
}

void TrainingLoop::resume_or_start(bool resume, const std::string& how_to_start_over) {
  fs::create_directories(out_dir_);
  if (!resume || !fs::exists(last_path())) {
    if (group_->is_root() && fs::exists(metrics_path())) fs::remove(metrics_path());
    return;
  }
  const CheckpointMeta meta = read_checkpoint_meta(last_path().string());
  if (meta.fingerprint != fingerprint_) {
    const std::string changed = meta.fingerprinted.empty()
                                    ? fmt::format("fingerprint {}, this run {}", meta.fingerprint, fingerprint_)
                                    : graph::describe_changed_values(meta.fingerprinted, fingerprinted_);
    throw std::runtime_error(fmt::format("{}: written by a run with other training parameters ({}); "
                                         "use another out_dir, or {}",
                                         last_path().string(), changed, how_to_start_over));
  }
  step_ = meta.step;
  steps_done_ = step_;
  start_epoch_ = completed_epochs_ = meta.epoch;
  last_record_ = meta.metrics;
  // A finished run trains no more: its state is not needed (and runs finished before mpl_train
  // resumed saved none).
  if (up_to_date()) return;
  restore(meta);
  if (group_->is_root()) keep_metrics_up_to(meta.epoch);
  spdlog::info("{}: resumed from {} at epoch {} step {}; batches of epochs before {} are skipped", name_,
               last_path().string(), meta.epoch, meta.step, meta.epoch);
}

// A run killed after logging an epoch (or steps of the next one) but before checkpointing it
// replays that epoch: drop those lines so the log has each record once.
void TrainingLoop::keep_metrics_up_to(std::int64_t epoch) const {
  if (!fs::exists(metrics_path())) return;
  std::ifstream in(metrics_path());
  std::string kept, line;
  while (std::getline(in, line))
    if (!line.empty() && nlohmann::json::parse(line).at("epoch").get<std::int64_t>() <= epoch) kept += line + "\n";
  write_file_atomically(metrics_path().string(), [&](const std::string& temp) { std::ofstream(temp) << kept; });
}

void TrainingLoop::process(graph::Inputs& in, graph::Emitter&) {
  const Batch& batch = in[0].get<Batch>();
  if (batch.epoch < start_epoch_) {
    ++skipped_batches_;
    return;
  }
  if (batch.epoch >= epochs_)
    throw std::runtime_error(fmt::format("batch of epoch {} but {} has epochs: {}; give the source and {} the same epochs",
                                         batch.epoch, type_, epochs_, type_));
  if (!epoch_ || batch.epoch != epoch_->index) {
    if (epoch_) end_epoch();
    start_epoch(batch.epoch);
  }
  step(batch);
  ++step_;
  steps_done_ = step_;
  ++epoch_->steps;
  epoch_->images += batch.size();
}

void TrainingLoop::flush(graph::Emitter&) {
  if (epoch_) end_epoch();
  if (completed_epochs_ < epochs_)
    spdlog::warn("{}: the stream ended after {} of {} epochs; give the source the same epochs as {}", name_,
                 completed_epochs_, epochs_, type_);
}

graph::WorkProgress TrainingLoop::progress() const {
  return {static_cast<std::uint64_t>(steps_done_.load()), static_cast<std::uint64_t>(epochs_ * steps_per_epoch_), "steps"};
}

nlohmann::json TrainingLoop::report() const {
  return {{"out_dir", out_dir_.string()},
          {"checkpoint", last_path().string()},
          {"epochs", completed_epochs_},
          {"steps", step_},
          {"final", last_record_}};
}

EvaluationResult TrainingLoop::evaluate(EfficientNetV2& model) const {
  // Batch-norm statistics are each rank's own while training; validation (like the checkpoint)
  // uses rank 0's, as DDP's broadcast_buffers does, so every rank scores the same model.
  group_->broadcast_from_root(model->buffers());
  return evaluate_model(model, *eval_set_, eval_batch_size_, device_, *group_, precision_);
}

void TrainingLoop::start_epoch(std::int64_t index) {
  if (skipped_batches_ > 0)
    spdlog::info("{}: skipped {} batches of finished epochs (a source start_epoch would avoid decoding them)", name_,
                 skipped_batches_);
  skipped_batches_ = 0;
  epoch_.emplace();
  epoch_->index = index;
  epoch_->started = Clock::now();
  if (group_->size() > 1) distributed::seed_epoch(seed_, index, group_->rank());
  begin_epoch(index);
}

void TrainingLoop::end_epoch() {
  const double train_s = std::chrono::duration<double>(Clock::now() - epoch_->started).count();
  const std::int64_t completed = epoch_->index + 1;
  auto images = torch::tensor({epoch_->images}, torch::kInt64);
  group_->sum(images);  // of every rank
  const auto all_images = images.item<std::int64_t>();
  const double images_per_s = static_cast<double>(all_images) / std::max(train_s, 1e-9);
  nlohmann::json record = {{"epoch", completed},
                           {"step", step_},
                           {"images", all_images},
                           {"images_per_s", images_per_s},
                           {"train_s", train_s}};
  const bool validate = eval_set_ && (completed % eval_every_ == 0 || completed == epochs_);
  const std::string summary = finish_epoch(record, validate);
  // The report's wall-clock axis: training and validation seconds summed over the epochs, of a
  // resumed run's earlier sessions too (time stopped, and checkpoint writes, not counted).
  const double before_s = last_record_.is_object() ? last_record_.value("elapsed_s", 0.0) : 0.0;
  record["elapsed_s"] = before_s + std::chrono::duration<double>(Clock::now() - epoch_->started).count();
  if (group_->is_root()) append_json_line(metrics_path(), record);
  last_record_ = record;
  if (epoch_->steps != steps_per_epoch_ && !warned_steps_) {
    warned_steps_ = true;
    spdlog::warn("{}: epoch {} took {} steps but the learning-rate schedule assumes steps_per_epoch {}; set "
                 "steps_per_epoch: {} (or the batch settings) so the schedule ends with the run",
                 name_, completed, epoch_->steps, steps_per_epoch_, epoch_->steps);
  }

  completed_epochs_ = completed;
  CheckpointMeta meta;
  meta.options = options_;
  meta.hierarchy_yaml = hierarchy_.to_yaml();
  meta.preprocessing = preprocessing_;
  meta.fingerprint = fingerprint_;
  meta.fingerprinted = fingerprinted_;
  meta.step = step_;
  meta.epoch = completed;
  meta.metrics = record;
  if (group_->is_root()) save(std::move(meta));
  spdlog::info("{}: epoch {}/{} step {} {:.0f} img/s{}", name_, completed, epochs_, step_, images_per_s, summary);
  epoch_.reset();
}

}  // namespace semiflow::nodes
