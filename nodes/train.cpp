// `train`: supervised training of the hierarchical EfficientNetV2 on the batches it receives,
// with per-epoch validation, metrics.jsonl, checkpoints and exact resume.
//
// Epochs are delimited by Batch::epoch: when a batch of a new epoch arrives (or the stream ends)
// the previous epoch is finished: validated, logged, checkpointed. Resuming restores the last
// checkpoint and discards the batches of already finished epochs; the source reshuffles each
// epoch from its seed, so the batches that follow are the ones an uninterrupted run would see.
#include "datasets/hierarchy.h"
#include "datasets/manifest.h"
#include "graph/node.h"
#include "nodes/stream_facts.h"
#include "models/efficientnet_v2.h"
#include "models/losses.h"
#include "nodes/batch.h"
#include "nodes/checkpoint.h"
#include "nodes/device.h"
#include "nodes/evaluation.h"
#include "nodes/optimization.h"
#include "nodes/training_setup.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>

namespace semiflow::nodes {
namespace {

using namespace semiflow::graph;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Parameters that change neither the weights nor the order of training: a checkpoint written
// with other values of these is still resumed.
const std::vector<std::string> kNotFingerprinted = {"resume", "out_dir", "device", "eval_batch_size", "eval_manifest",
                                                    "eval_every", "best_metric"};

// Without an init_checkpoint the fingerprint is the one runs had before that parameter existed,
// so their checkpoints stay resumable.
std::vector<std::string> fingerprint_exclusions(const Params& params) {
  std::vector<std::string> excluded = kNotFingerprinted;
  if (params.get_string("init_checkpoint").empty()) excluded.push_back("init_checkpoint");
  return excluded;
}

class Train : public Node {
 public:
  static NodeSchema schema() {
    NodeSchema schema("train");
    schema.doc("Trains the hierarchical EfficientNetV2 on batches; validates per epoch; writes metrics.jsonl, last.pt, best.pt.")
        .input("in", "batch")
        .required_param("hierarchy", ParamType::String, "hierarchy YAML (one head per level)")
        .required_param("out_dir", ParamType::String, "folder for metrics.jsonl, last.pt and best.pt");
    declare_model_params(schema);
    declare_run_length_params(schema)
        .param("labeled_manifest", "", "the training manifest, for balanced class weights").from_stream(facts::kLabeledManifest)
        .param("level_weights", std::vector<double>{}, "weight of each level's loss; empty: 1 each").at_least(0)
        .param("label_smoothing", 0.0, "label smoothing of the hard-label loss").at_least(0).less_than(1)
        .param("class_weights", "none", "none, or balanced: n / (k * count_c) per level from labeled_manifest").one_of({"none", "balanced"})
        .param("optimizer", "sgd", "sgd (Nesterov), rmsprop (EfficientNet's) or adamw").one_of(optimizer_kind_names())
        .param("lr", 0.1, "peak learning rate").at_least(0)
        .param("momentum", 0.9, "sgd and rmsprop momentum").at_least(0).less_than(1)
        .param("nesterov", true, "sgd: Nesterov momentum")
        .param("weight_decay", 5e-5, "weight decay of conv and linear weights (never of BatchNorm or biases)").at_least(0)
        .param("schedule", "cosine", "learning-rate schedule (per step)").one_of(schedule_kind_names())
        .param("warmup_epochs", 0.0, "linear warmup length in epochs").at_least(0)
        .param("min_lr", 0.0, "cosine: the learning rate at the last step").at_least(0)
        .param("lr_decay_epochs", 2.4, "step and exponential: epochs per decay by lr_gamma").greater_than(0)
        .param("lr_gamma", 0.97, "step and exponential: decay factor").greater_than(0)
        .param("clip_grad_norm", 0.0, "clip the global gradient norm to this; 0: no clipping").at_least(0)
        .param("ema_decay", 0.0, "EMA of the weights (e.g. 0.999), used for validation and best.pt; 0: no EMA").at_least(0).less_than(1)
        .param("ema_warmup", true, "EMA decay min(decay, (1 + n) / (10 + n)) over the first updates")
        .param("progressive_stages", 1, "progressive learning: stages over which dropout rises from dropout to dropout_final").at_least(1)
        .param("dropout_final", -1.0, "dropout of the last progressive stage; negative: no change").less_than(1)
        .param("eval_manifest", "", "labeled manifest validated after every epoch; empty: no validation")
        .param("eval_every", 1, "validate every this many epochs (and after the last)").at_least(1);
    declare_eval_preprocessing_params(schema)
        .param("eval_batch_size", 256, "validation batch size").at_least(1)
        .param("best_metric", "airush_score", "validation metric (higher is better) that picks best.pt; train_loss (lower) without validation")
        .param("seed", 0, "seed of weight initialization, dropout and stochastic depth")
        .param("init_checkpoint", "", "start from this checkpoint's weights (its EMA when it has one), e.g. to finetune; empty: random")
        .param("resume", true, "continue from out_dir/last.pt when it has the same fingerprint (else refuse); false: start over")
        .check([](const Params& p, const std::vector<StreamFacts>&, Diagnostics& out) {
          if (p.get_string("class_weights") == "balanced" && p.get_string("labeled_manifest").empty())
            out.error("class_weights", "balanced counts the classes of the labeled manifest, and the input stream is not one; "
                                       "write labeled_manifest or class_weights: none");
          if (p.get_string("eval_manifest").empty() && p.get_string("best_metric") != "train_loss")
            out.error("best_metric", fmt::format("best_metric '{}' needs eval_manifest; or use best_metric: train_loss",
                                                 p.get_string("best_metric")));
        })
        .serial("optimizer steps happen one batch after another in stream order, which makes runs reproducible");
    return schema;
  }

  explicit Train(const Params& params)
      : name_(params.node_name()),
        hierarchy_(Hierarchy::load(params.get_path("hierarchy").string())),
        out_dir_(params.get_path("out_dir")),
        device_(resolve_device(params.get_string("device"))),
        epochs_(params.get_int("epochs")),
        label_smoothing_(params.get_float("label_smoothing")),
        level_weights_(params.get_numbers("level_weights")),
        clip_grad_norm_(params.get_float("clip_grad_norm")),
        progressive_stages_(params.get_int("progressive_stages")),
        dropout_final_(params.get_float("dropout_final")),
        best_metric_(params.get_string("best_metric")),
        eval_batch_size_(static_cast<int>(params.get_int("eval_batch_size"))),
        eval_every_(params.get_int("eval_every")),
        fingerprint_(fingerprint_params("", params, fingerprint_exclusions(params))) {
    if (epochs_ < 1) throw std::invalid_argument("epochs must be at least 1");
    if (eval_every_ < 1) throw std::invalid_argument("eval_every must be at least 1");
    if (progressive_stages_ < 1) throw std::invalid_argument("progressive_stages must be at least 1");
    if (!level_weights_.empty() && static_cast<int>(level_weights_.size()) != hierarchy_.num_levels())
      throw std::invalid_argument(fmt::format("level_weights has {} values but the hierarchy has {} levels",
                                              level_weights_.size(), hierarchy_.num_levels()));
    std::optional<Manifest> labeled;
    if (!params.get_string("labeled_manifest").empty())
      labeled = load_manifest(params.get_path("labeled_manifest").string(), &hierarchy_);
    steps_per_epoch_ = params.get_int("steps_per_epoch");
    if (steps_per_epoch_ < 1) throw std::invalid_argument("steps_per_epoch must be at least 1");
    class_weights_ = resolve_class_weights(params.get_string("class_weights"), labeled ? &*labeled : nullptr);

    preprocessing_ = eval_preprocessing_from(params);
    torch::manual_seed(static_cast<std::uint64_t>(params.get_int("seed")));
    options_ = model_options_from(params, hierarchy_);
    model_ = EfficientNetV2(options_);
    if (!params.get_string("init_checkpoint").empty()) load_weights(params.get_path("init_checkpoint").string(), model_);
    model_->to(device_);
    dropout_initial_ = model_->dropout();
    if (params.get_float("ema_decay") > 0)
      ema_.emplace(*model_, params.get_float("ema_decay"), params.get_bool("ema_warmup"));

    const OptimizerConfig optimizer = optimizer_config_from(params, params.get_float("lr"));
    optimizer_ = make_optimizer(optimizer, *model_);

    schedule_.kind = parse_schedule_kind(params.get_string("schedule"));
    schedule_.base_lr = optimizer.lr;
    schedule_.min_lr = params.get_float("min_lr");
    schedule_.total_steps = epochs_ * steps_per_epoch_;
    schedule_.warmup_steps = std::llround(params.get_float("warmup_epochs") * static_cast<double>(steps_per_epoch_));
    schedule_.decay_steps = std::max(1.0, params.get_float("lr_decay_epochs") * static_cast<double>(steps_per_epoch_));
    schedule_.gamma = params.get_float("lr_gamma");

    if (!params.get_string("eval_manifest").empty())
      eval_set_.emplace(EvalSet::load(params.get_path("eval_manifest").string(), hierarchy_, preprocessing_));
    if (!eval_set_ && best_metric_ != "train_loss")
      throw std::invalid_argument(fmt::format("best_metric '{}' needs eval_manifest; or use best_metric: train_loss", best_metric_));

    fs::create_directories(out_dir_);
    resume_or_start(params.get_bool("resume"));
  }

  void process(Inputs& in, Emitter&) override {
    const Batch& batch = in[0].get<Batch>();
    if (batch.epoch < start_epoch_) {
      ++skipped_batches_;
      return;
    }
    if (batch.epoch >= epochs_)
      throw std::runtime_error(fmt::format("batch of epoch {} but train has epochs: {}; give the source and train the same epochs",
                                           batch.epoch, epochs_));
    if (!epoch_ || batch.epoch != epoch_->index) {
      if (epoch_) finish_epoch();
      begin_epoch(batch.epoch);
    }
    train_step(batch);
  }

  // A finished run (last.pt holds every epoch, with this run's fingerprint) is not trained again.
  bool up_to_date() const override { return completed_epochs_ >= epochs_; }

  WorkProgress progress() const override {
    return {static_cast<std::uint64_t>(steps_done_.load()), static_cast<std::uint64_t>(epochs_ * steps_per_epoch_), "steps"};
  }

  nlohmann::json report() const override {
    return {{"out_dir", out_dir_.string()},
            {"checkpoint", last_path().string()},
            {"epochs", completed_epochs_},
            {"steps", step_},
            {"final", last_record_}};
  }

  void flush(Emitter&) override {
    if (epoch_) finish_epoch();
    if (completed_epochs_ < epochs_)
      spdlog::warn("{}: the stream ended after {} of {} epochs; give the source the same epochs as train", name_,
                   completed_epochs_, epochs_);
  }

 private:
  struct EpochProgress {
    std::int64_t index = 0;
    std::int64_t images = 0;
    std::int64_t steps = 0;
    std::vector<double> loss_sums;  // per level, weighted by batch size
    double total_loss_sum = 0;
    Clock::time_point started;
  };

  std::vector<torch::Tensor> resolve_class_weights(const std::string& mode, const Manifest* labeled) const {
    if (mode == "none") return {};
    if (mode != "balanced") throw std::invalid_argument(fmt::format("class_weights '{}': write none or balanced", mode));
    if (!labeled) throw std::invalid_argument("class_weights: balanced counts classes in labeled_manifest; set it");
    std::vector<torch::Tensor> weights;
    const auto classes = hierarchy_.classes_per_level();
    for (int level = 0; level < hierarchy_.num_levels(); ++level) {
      const auto counts = labeled->class_counts(level, classes[level]);
      weights.push_back(balanced_class_weights({counts.begin(), counts.end()}).to(device_));
    }
    return weights;
  }

  TrainingState state() const {
    TrainingState s;
    s.model = model_;
    if (ema_) s.ema = EfficientNetV2(std::dynamic_pointer_cast<EfficientNetV2Impl>(ema_->average()));
    s.optimizer = optimizer_.get();
    return s;
  }

  fs::path last_path() const { return out_dir_ / "last.pt"; }
  fs::path best_path() const { return out_dir_ / "best.pt"; }
  fs::path metrics_path() const { return out_dir_ / "metrics.jsonl"; }

  void resume_or_start(bool resume) {
    if (!resume || !fs::exists(last_path())) {
      if (fs::exists(metrics_path())) fs::remove(metrics_path());
      return;
    }
    const CheckpointMeta found = read_checkpoint_meta(last_path().string());
    if (found.fingerprint != fingerprint_)
      throw std::runtime_error(fmt::format("{}: written by a run with other training parameters (fingerprint {}, this run {}); "
                                           "use another out_dir, or resume: false to start over",
                                           last_path().string(), found.fingerprint, fingerprint_));
    const CheckpointMeta meta = restore_checkpoint(last_path().string(), state());
    if (ema_) ema_->set_updates(meta.step);
    step_ = meta.step;
    steps_done_ = step_;
    start_epoch_ = completed_epochs_ = meta.epoch;
    if (meta.metrics.contains("best_value")) best_value_ = meta.metrics["best_value"].get<double>();
    last_record_ = meta.metrics;
    keep_metrics_up_to(meta.epoch);
    spdlog::info("{}: resumed from {} at epoch {} step {}; batches of epochs before {} are skipped", name_,
                 last_path().string(), meta.epoch, meta.step, meta.epoch);
  }

  // A run killed after logging an epoch but before checkpointing it replays that epoch: drop its
  // line so the log has one record per epoch.
  void keep_metrics_up_to(std::int64_t epoch) const {
    if (!fs::exists(metrics_path())) return;
    std::ifstream in(metrics_path());
    std::string kept, line;
    while (std::getline(in, line))
      if (!line.empty() && nlohmann::json::parse(line).at("epoch").get<std::int64_t>() <= epoch) kept += line + "\n";
    write_file_atomically(metrics_path().string(), [&](const std::string& temp) { std::ofstream(temp) << kept; });
  }

  void begin_epoch(std::int64_t index) {
    if (skipped_batches_ > 0)
      spdlog::info("{}: skipped {} batches of finished epochs (a source start_epoch would avoid decoding them)", name_,
                   skipped_batches_);
    skipped_batches_ = 0;
    epoch_.emplace();
    epoch_->index = index;
    epoch_->loss_sums.assign(hierarchy_.num_levels(), 0.0);
    epoch_->started = Clock::now();
    if (progressive_stages_ > 1 && dropout_final_ >= 0) {
      // Stage s of K spans epochs [s * E / K, (s + 1) * E / K); dropout rises linearly over the stages.
      const std::int64_t stage = index * progressive_stages_ / epochs_;
      const double fraction = static_cast<double>(stage) / static_cast<double>(progressive_stages_ - 1);
      model_->set_dropout(dropout_initial_ + (dropout_final_ - dropout_initial_) * fraction);
    }
    model_->train();
  }

  LevelLosses compute_loss(const Batch& batch, const std::vector<torch::Tensor>& logits) const {
    if (!batch.soft_targets.empty()) {
      std::vector<torch::Tensor> targets, masks;
      for (const auto& t : batch.soft_targets) {
        targets.push_back(t.to(device_));
        masks.push_back(targets.back().sum(1).gt(0));  // a zero row is "no target"
      }
      return hierarchical_soft_cross_entropy(logits, targets, masks, SoftCrossEntropyOptions().level_weights(level_weights_));
    }
    if (batch.labels.empty()) throw std::runtime_error("the batch has neither labels nor soft targets; train needs labeled data");
    const auto labels = torch::stack(batch.labels, 1).to(device_);
    return hierarchical_cross_entropy(logits, labels,
                                      HierarchicalCrossEntropyOptions()
                                          .level_weights(level_weights_)
                                          .class_weights(class_weights_)
                                          .label_smoothing(label_smoothing_));
  }

  void train_step(const Batch& batch) {
    const auto logits = model_->forward(batch.images.to(device_));
    const LevelLosses loss = compute_loss(batch, logits);
    const double total = loss.total.item<double>();
    if (!std::isfinite(total))
      throw std::runtime_error(fmt::format("loss is {} at step {} (epoch {} of {}, {}); stopped. {} keeps the last good "
                                           "checkpoint (epoch {}); lower lr, add warmup or set clip_grad_norm",
                                           total, step_, epoch_->index + 1, epochs_, batch_origin(batch), last_path().string(),
                                           completed_epochs_));
    optimizer_->zero_grad();
    loss.total.backward();
    if (clip_grad_norm_ > 0) torch::nn::utils::clip_grad_norm_(model_->parameters(), clip_grad_norm_);
    lr_ = learning_rate_at(schedule_, step_);
    set_learning_rate(*optimizer_, lr_);
    optimizer_->step();
    if (ema_) ema_->update(*model_);
    ++step_;
    steps_done_ = step_;
    ++epoch_->steps;
    const auto n = batch.size();
    epoch_->images += n;
    epoch_->total_loss_sum += total * static_cast<double>(n);
    for (std::size_t level = 0; level < loss.per_level.size(); ++level)
      epoch_->loss_sums[level] += loss.per_level[level].item<double>() * static_cast<double>(n);
  }

  static std::string batch_origin(const Batch& batch) {
    return batch.paths.empty() ? std::string("an empty batch") : fmt::format("batch starting at {}", batch.paths.front());
  }

  void finish_epoch() {
    const double train_s = std::chrono::duration<double>(Clock::now() - epoch_->started).count();
    const double images = static_cast<double>(std::max<std::int64_t>(1, epoch_->images));
    nlohmann::json record = {{"epoch", epoch_->index + 1},
                             {"step", step_},
                             {"lr", lr_},
                             {"dropout", model_->dropout()},
                             {"images", epoch_->images},
                             {"images_per_s", static_cast<double>(epoch_->images) / std::max(train_s, 1e-9)},
                             {"train_s", train_s},
                             {"train_loss", epoch_->total_loss_sum / images}};
    nlohmann::json per_level = nlohmann::json::object();
    for (int level = 0; level < hierarchy_.num_levels(); ++level)
      per_level[hierarchy_.level(level).name] = epoch_->loss_sums[level] / images;
    record["train_loss_per_level"] = per_level;
    std::string summary;
    const std::int64_t completed = epoch_->index + 1;
    if (eval_set_ && (completed % eval_every_ == 0 || completed == epochs_)) {
      EfficientNetV2 evaluated = ema_ ? state().ema : model_;
      const auto result = evaluate_model(evaluated, *eval_set_, eval_batch_size_, device_);
      record["eval"] = result.to_json();
      for (const auto& level : result.argmax.levels) summary += fmt::format(" acc[{}]={:.4f}", level.level, level.accuracy);
      summary += fmt::format(" score={:.4f}", result.argmax.airush_score);
    }
    const std::optional<double> value = metric_value(record);
    const bool improved = value && (!best_value_ || *value > *best_value_);
    if (improved) best_value_ = value;
    if (best_value_) record["best_value"] = *best_value_;
    append_json_line(metrics_path(), record);
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
    meta.step = step_;
    meta.epoch = completed_epochs_;
    meta.metrics = record;
    save_checkpoint(last_path().string(), meta, state());
    if (improved)
      write_file_atomically(best_path().string(), [&](const std::string& temp) {
        fs::copy_file(last_path(), temp, fs::copy_options::overwrite_existing);
      });
    spdlog::info("{}: epoch {}/{} step {} loss={:.4f} lr={:.5f} {:.0f} img/s{}{}", name_, completed_epochs_, epochs_, step_,
                 record["train_loss"].get<double>(), lr_, record["images_per_s"].get<double>(), summary,
                 improved ? " (best)" : "");
    epoch_.reset();
  }

  // Higher is better: the eval metric, or minus the training loss; none in epochs not validated.
  std::optional<double> metric_value(const nlohmann::json& record) const {
    if (best_metric_ == "train_loss") return -record["train_loss"].get<double>();
    if (!record.contains("eval")) return std::nullopt;
    const auto& eval = record["eval"];
    if (!eval.contains(best_metric_) || !eval[best_metric_].is_number())
      throw std::invalid_argument(fmt::format("best_metric '{}' is not a validation metric; try airush_score, "
                                              "exact_path_accuracy or train_loss", best_metric_));
    return eval[best_metric_].get<double>();
  }

  std::string name_;
  Hierarchy hierarchy_;
  fs::path out_dir_;
  torch::Device device_;
  std::int64_t epochs_;
  double label_smoothing_;
  std::vector<double> level_weights_;
  double clip_grad_norm_;
  std::int64_t progressive_stages_;
  double dropout_final_;
  std::string best_metric_;
  int eval_batch_size_;
  std::int64_t eval_every_;
  std::string fingerprint_;
  std::int64_t steps_per_epoch_ = 0;
  std::vector<torch::Tensor> class_weights_;
  EvalPreprocessing preprocessing_;
  EfficientNetV2Options options_{"", {}};
  EfficientNetV2 model_{nullptr};
  double dropout_initial_ = 0;
  std::optional<ExponentialMovingAverage> ema_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  ScheduleConfig schedule_;
  std::optional<EvalSet> eval_set_;

  std::int64_t step_ = 0;
  double lr_ = 0;
  std::int64_t start_epoch_ = 0;
  std::int64_t completed_epochs_ = 0;
  std::int64_t skipped_batches_ = 0;
  std::optional<double> best_value_;
  std::optional<EpochProgress> epoch_;
  nlohmann::json last_record_;
  std::atomic<std::int64_t> steps_done_{0};  // step_, for progress() from the monitoring thread
  bool warned_steps_ = false;
};

SEMIFLOW_REGISTER_NODE(Train);

}  // namespace
}  // namespace semiflow::nodes
