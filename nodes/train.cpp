// `train`: supervised training of the hierarchical EfficientNetV2 on the batches it receives,
// with per-epoch validation, metrics.jsonl, checkpoints (last.pt, best.pt) and exact resume.
// The epoch loop, its log and resuming are nodes/training_loop.h; this file is the step, the
// losses, best.pt and progressive dropout.
#include "datasets/hierarchy.h"
#include "datasets/manifest.h"
#include "graph/node.h"
#include "nodes/stream_facts.h"
#include "models/efficientnet_v2.h"
#include "models/losses.h"
#include "nodes/batch.h"
#include "nodes/checkpoint.h"
#include "nodes/device_feed.h"
#include "nodes/optimization.h"
#include "nodes/training_loop.h"
#include "nodes/training_setup.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <optional>

namespace semiflow::nodes {
namespace {

using namespace semiflow::graph;
namespace fs = std::filesystem;

class Train : public TrainingLoop {
 public:
  static NodeSchema schema() {
    NodeSchema schema("train");
    schema.doc("Trains the hierarchical EfficientNetV2 on batches; validates per epoch; writes metrics.jsonl, last.pt, best.pt.")
        .input("in", "batch")
        .required_param("hierarchy", ParamType::String, "hierarchy YAML (one head per level)")
        .required_param("out_dir", ParamType::String, "folder for metrics.jsonl, last.pt and best.pt").safe_to_change();
    declare_model_params(schema);
    declare_training_loop_params(schema)
        .param("labeled_manifest", "", "the training manifest, for balanced class weights").from_stream(facts::kLabeledManifest)
        .param("level_weights", std::vector<double>{}, "weight of each level's loss; empty: 1 each").at_least(0)
        .param("label_smoothing", 0.0, "label smoothing of the hard-label loss").at_least(0).less_than(1)
        .param("class_weights", "none", "none, or balanced: n / (k * count_c) per level from labeled_manifest").one_of({"none", "balanced"})
        .param("lr", 0.1, "peak learning rate").at_least(0)
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
        .param("eval_manifest", "", "labeled manifest validated after every epoch; empty: no validation").safe_to_change()
        .param("eval_every", 1, "validate every this many epochs (and after the last)").at_least(1).safe_to_change();
    declare_optimizer_params(schema, 5e-5);
    declare_eval_preprocessing_params(schema)
        .param("eval_batch_size", 256, "validation batch size").at_least(1).safe_to_change()
        .param("best_metric", "airush_score", "validation metric (higher is better) that picks best.pt; train_loss (lower) without validation").safe_to_change()
        .param("seed", 0, "seed of weight initialization, dropout and stochastic depth")
        .param("init_checkpoint", "", "start from this checkpoint's weights (its EMA when it has one), e.g. to finetune; empty: random")
        .check([](const Params& p, const std::vector<StreamFacts>& in, Diagnostics& out) {
          if (facts::int_fact(in[0], facts::kViews).value_or(1) > 1)
            out.error("", fmt::format("its input stream has weak and strong views (set by {}); train takes one view of labeled "
                                      "images: use mpl_train, or a source", in[0].at(facts::kViews).stated_by));
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
      : TrainingLoop(params, "train", params.get_int("eval_every")),
        label_smoothing_(params.get_float("label_smoothing")),
        level_weights_(params.get_numbers("level_weights")),
        clip_grad_norm_(params.get_float("clip_grad_norm")),
        progressive_stages_(params.get_int("progressive_stages")),
        dropout_final_(params.get_float("dropout_final")),
        best_metric_(params.get_string("best_metric")) {
    if (progressive_stages_ < 1) throw std::invalid_argument("progressive_stages must be at least 1");
    if (!level_weights_.empty() && static_cast<int>(level_weights_.size()) != hierarchy().num_levels())
      throw std::invalid_argument(fmt::format("level_weights has {} values but the hierarchy has {} levels",
                                              level_weights_.size(), hierarchy().num_levels()));
    std::optional<Manifest> labeled;
    if (!params.get_string("labeled_manifest").empty())
      labeled = load_manifest(params.get_path("labeled_manifest").string(), &hierarchy());
    class_weights_ = resolve_class_weights(params.get_string("class_weights"), labeled ? &*labeled : nullptr);

    torch::manual_seed(static_cast<std::uint64_t>(params.get_int("seed")));
    model_ = EfficientNetV2(model_options());
    if (!params.get_string("init_checkpoint").empty()) load_weights(params.get_path("init_checkpoint").string(), model_);
    model_->to(device());
    dropout_initial_ = model_->dropout();
    if (params.get_float("ema_decay") > 0)
      ema_.emplace(*model_, params.get_float("ema_decay"), params.get_bool("ema_warmup"));

    const OptimizerConfig optimizer = optimizer_config_from(params, params.get_float("lr"));
    optimizer_ = make_optimizer(optimizer, *model_);

    schedule_.kind = parse_schedule_kind(params.get_string("schedule"));
    schedule_.base_lr = optimizer.lr;
    schedule_.min_lr = params.get_float("min_lr");
    schedule_.total_steps = epochs() * steps_per_epoch();
    schedule_.warmup_steps = std::llround(params.get_float("warmup_epochs") * static_cast<double>(steps_per_epoch()));
    schedule_.decay_steps = std::max(1.0, params.get_float("lr_decay_epochs") * static_cast<double>(steps_per_epoch()));
    schedule_.gamma = params.get_float("lr_gamma");

    if (!has_eval_set() && best_metric_ != "train_loss")
      throw std::invalid_argument(fmt::format("best_metric '{}' needs eval_manifest; or use best_metric: train_loss", best_metric_));
    resume_or_start(params.get_bool("resume"), "resume: false to start over");
    // Every rank starts from rank 0's weights (identical already when all built them from the
    // same seed or read the same last.pt), and averages its gradients with the others'.
    group().broadcast_from_root(distributed::module_state(*model_));
    if (ema_) group().broadcast_from_root(distributed::module_state(*ema_->average()));
    averager_.emplace(group_ptr(), model_->parameters());
  }

 private:
  std::vector<torch::Tensor> resolve_class_weights(const std::string& mode, const Manifest* labeled) const {
    if (mode == "none") return {};
    if (mode != "balanced") throw std::invalid_argument(fmt::format("class_weights '{}': write none or balanced", mode));
    if (!labeled) throw std::invalid_argument("class_weights: balanced counts classes in labeled_manifest; set it");
    std::vector<torch::Tensor> weights;
    const auto classes = hierarchy().classes_per_level();
    for (int level = 0; level < hierarchy().num_levels(); ++level) {
      const auto counts = labeled->class_counts(level, classes[level]);
      weights.push_back(balanced_class_weights({counts.begin(), counts.end()}).to(device()));
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

  fs::path best_path() const { return out_dir() / "best.pt"; }

  void restore(const CheckpointMeta&) override {
    const CheckpointMeta meta = restore_checkpoint(last_path().string(), state());
    if (ema_) ema_->set_updates(meta.step);  // one EMA update per step
    restore_loss_scaler(meta.state, "loss_scaler", scaler_);
    if (meta.metrics.contains("best_value")) best_value_ = meta.metrics["best_value"].get<double>();
  }

  void begin_epoch(std::int64_t index) override {
    loss_sums_ = torch::zeros({hierarchy().num_levels() + 1}, torch::dtype(torch::kFloat64).device(device()));
    if (progressive_stages_ > 1 && dropout_final_ >= 0) {
      // Stage s of K spans epochs [s * E / K, (s + 1) * E / K); dropout rises linearly over the stages.
      const std::int64_t stage = index * progressive_stages_ / epochs();
      const double fraction = static_cast<double>(stage) / static_cast<double>(progressive_stages_ - 1);
      model_->set_dropout(dropout_initial_ + (dropout_final_ - dropout_initial_) * fraction);
    }
    model_->train();
  }

  LevelLosses compute_loss(const Batch& batch, const std::vector<torch::Tensor>& logits) const {
    if (!batch.soft_targets.empty()) {
      std::vector<torch::Tensor> targets, masks;
      for (const auto& t : batch.soft_targets) {
        targets.push_back(t.to(device()));
        masks.push_back(targets.back().sum(1).gt(0));  // a zero row is "no target"
      }
      return hierarchical_soft_cross_entropy(logits, targets, masks, SoftCrossEntropyOptions().level_weights(level_weights_));
    }
    if (batch.labels.empty()) throw std::runtime_error("the batch has neither labels nor soft targets; train needs labeled data");
    const auto labels = torch::stack(batch.labels, 1).to(device());
    return hierarchical_cross_entropy(logits, labels,
                                      HierarchicalCrossEntropyOptions()
                                          .level_weights(level_weights_)
                                          .class_weights(class_weights_)
                                          .label_smoothing(label_smoothing_));
  }

  // The step queues its work on the device and does not wait for it: the loss is added up on the
  // device and checked every kFiniteCheckSteps steps and before an epoch is saved, so a NaN
  // still stops the run before the next checkpoint, naming the step and batch where it began.
  void step(const Batch& batch) override {
    const Batch& on_device = feed_.to_device(batch);
    const auto logits = forward_logits(model_, on_device.images, precision());
    const LevelLosses loss = compute_loss(on_device, logits);
    watch_finite(loss.total, batch);
    optimizer_->zero_grad();
    scaler_.scale(loss.total).backward();
    averager_->synchronize();
    lr_ = learning_rate_at(schedule_, steps());
    // fp16: a step whose gradients overflowed is skipped (the scale halves), as GradScaler does.
    if (scaler_.unscale_and_check(model_->parameters())) {
      if (clip_grad_norm_ > 0) clip_gradient_norm(model_->parameters(), clip_grad_norm_);
      set_learning_rate(*optimizer_, lr_);
      optimizer_->step();
    }
    if (ema_) ema_->update(*model_);
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> terms(loss.per_level.begin(), loss.per_level.end());
    terms.push_back(loss.total);
    loss_sums_.add_(torch::stack(terms).detach().to(torch::kFloat64), static_cast<double>(batch.size()));
    if (unchecked_losses_.size() >= kFiniteCheckSteps) check_finite();
  }

  static constexpr std::size_t kFiniteCheckSteps = 50;

  // Keeps the step's loss (on the device) and its batch for the next check_finite().
  void watch_finite(const torch::Tensor& total, const Batch& batch) {
    if (unchecked_losses_.empty()) first_unchecked_step_ = steps();
    unchecked_losses_.push_back(total.detach());
    unchecked_origins_.push_back(batch_origin(batch));
  }

  // One read of the losses since the last check; the first non-finite one stops the run.
  void check_finite() {
    if (unchecked_losses_.empty()) return;
    const auto losses = torch::stack(unchecked_losses_).to(torch::kCPU, torch::kFloat64);
    const double* values = losses.data_ptr<double>();
    for (std::size_t i = 0; i < unchecked_losses_.size(); ++i)
      if (!std::isfinite(values[i]))
        throw std::runtime_error(fmt::format("loss is {} at step {} (epoch {} of {}, {}); stopped. {} keeps the last good "
                                             "checkpoint (epoch {}); lower lr, add warmup or set clip_grad_norm",
                                             values[i], first_unchecked_step_ + static_cast<std::int64_t>(i), epoch() + 1,
                                             epochs(), unchecked_origins_[i], last_path().string(), completed_epochs()));
    unchecked_losses_.clear();
    unchecked_origins_.clear();
  }

  static std::string batch_origin(const Batch& batch) {
    return batch.paths.empty() ? std::string("an empty batch") : fmt::format("batch starting at {}", batch.paths.front());
  }

  std::string finish_epoch(nlohmann::json& record, bool validate) override {
    check_finite();
    const double images = static_cast<double>(std::max<std::int64_t>(1, record["images"].get<std::int64_t>()));
    const auto on_host = loss_sums_.to(torch::kCPU);
    std::vector<double> sums(on_host.data_ptr<double>(), on_host.data_ptr<double>() + on_host.numel());
    group().sum_values(sums);
    const double total_loss_sum = sums.back();
    if (group().size() > 1) record["communication_wait_s"] = averager_->take_wait_s();
    record["lr"] = lr_;
    record["dropout"] = model_->dropout();
    record["train_loss"] = total_loss_sum / images;
    nlohmann::json per_level = nlohmann::json::object();
    for (int level = 0; level < hierarchy().num_levels(); ++level)
      per_level[hierarchy().level(level).name] = sums[static_cast<std::size_t>(level)] / images;
    record["train_loss_per_level"] = per_level;
    std::string summary = fmt::format(" loss={:.4f} lr={:.5f}", record["train_loss"].get<double>(), lr_);
    if (validate) {
      EfficientNetV2 evaluated = ema_ ? state().ema : model_;
      const auto result = evaluate(evaluated);
      record["eval"] = result.to_json();
      for (const auto& level : result.argmax.levels) summary += fmt::format(" acc[{}]={:.4f}", level.level, level.accuracy);
      summary += fmt::format(" score={:.4f}", result.argmax.airush_score);
    }
    const std::optional<double> value = metric_value(record);
    improved_ = value && (!best_value_ || *value > *best_value_);
    if (improved_) best_value_ = value;
    if (best_value_) record["best_value"] = *best_value_;
    return improved_ ? summary + " (best)" : summary;
  }

  void save(CheckpointMeta meta) override {
    store_loss_scaler(scaler_, "loss_scaler", meta.state);
    save_checkpoint(last_path().string(), meta, state());
    if (improved_)
      write_file_atomically(best_path().string(), [&](const std::string& temp) {
        fs::copy_file(last_path(), temp, fs::copy_options::overwrite_existing);
      });
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

  double label_smoothing_;
  std::vector<double> level_weights_;
  double clip_grad_norm_;
  std::int64_t progressive_stages_;
  double dropout_final_;
  std::string best_metric_;
  std::vector<torch::Tensor> class_weights_;
  EfficientNetV2 model_{nullptr};
  double dropout_initial_ = 0;
  std::optional<ExponentialMovingAverage> ema_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::optional<distributed::GradientAverager> averager_;
  LossScaler scaler_{precision()};
  ScheduleConfig schedule_;

  double lr_ = 0;
  std::optional<double> best_value_;
  bool improved_ = false;  // the epoch just finished is the best so far: save() copies it to best.pt
  DeviceFeed feed_{device()};
  // This epoch's losses per level and in total (last), weighted by batch size, on the device.
  torch::Tensor loss_sums_;
  // Since the last check_finite(): each step's total loss (on the device) and batch origin, from
  // step first_unchecked_step_ on.
  std::int64_t first_unchecked_step_ = 0;
  std::vector<torch::Tensor> unchecked_losses_;
  std::vector<std::string> unchecked_origins_;
};

SEMIFLOW_REGISTER_NODE(Train);

}  // namespace
}  // namespace semiflow::nodes
