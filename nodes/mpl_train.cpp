// `mpl_train`: Meta Pseudo Labels. A teacher and a student (both hierarchical EfficientNetV2)
// train together on two_view_source batches (labeled rows, then unlabeled rows in a weak and a
// strong view). Per step and per hierarchy level:
//   1. the teacher predicts on all three parts; its loss starts as UDA's: label-smoothed CE on
//      the labeled rows + a ramped weight x the masked consistency of the strong view with the
//      tempered weak view (nodes/mpl.h);
//   2. the student takes one step on the strong view against the teacher's weak-view
//      pseudo-labels; its labeled CE just before and just after the step gives the feedback h;
//   3. the teacher adds h x CE(its strong logits, their argmax) and takes its step.
// The student waits `student_wait_steps` (the teacher trains on UDA alone meanwhile). Writes
// metrics.jsonl (a "step" record every log_every steps with every term averaged over them, an
// "epoch" record with validation), last.pt (the student, with its EMA: what `semiflow eval`
// and a finetuning `train` read) and teacher.pt. The epoch loop, its log and resuming are
// nodes/training_loop.h: a finished run is not repeated, an unfinished one resumes after its
// last finished epoch exactly as `train` does.
#include "datasets/hierarchy.h"
#include "datasets/manifest.h"
#include "datasets/sample.h"
#include "graph/node.h"
#include "nodes/stream_facts.h"
#include "models/efficientnet_v2.h"
#include "models/losses.h"
#include "nodes/batch.h"
#include "nodes/checkpoint.h"
#include "nodes/device_feed.h"
#include "nodes/mpl.h"
#include "nodes/optimization.h"
#include "nodes/training_loop.h"
#include "nodes/training_setup.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <optional>

namespace semiflow::nodes {
namespace {

using namespace semiflow::graph;
namespace fs = std::filesystem;

// The rows of a two-view batch: labeled ones and the weak and strong view of each unlabeled
// image, as index tensors in batch order.
struct BatchParts {
  torch::Tensor labeled, weak, strong;
  std::int64_t labeled_count = 0, unlabeled_count = 0;
};

BatchParts split_views(const Batch& batch) {
  std::vector<std::int64_t> labeled, weak, strong;
  for (std::size_t i = 0; i < batch.views.size(); ++i) {
    const auto row = static_cast<std::int64_t>(i);
    if (batch.views[i] == kWeakView) weak.push_back(row);
    else if (batch.views[i] == kStrongView) strong.push_back(row);
    else labeled.push_back(row);
  }
  const std::string where = batch.paths.empty() ? "an empty batch" : fmt::format("batch starting at {}", batch.paths.front());
  if (labeled.empty() || weak.empty())
    throw std::runtime_error(fmt::format("{}: {} labeled and {} unlabeled images; mpl_train needs both in every batch "
                                         "(feed it two_view_source through a batch node of one step's size)",
                                         where, labeled.size(), weak.size()));
  bool paired = weak.size() == strong.size();
  for (std::size_t k = 0; paired && k < weak.size(); ++k)
    paired = batch.paths[static_cast<std::size_t>(weak[k])] == batch.paths[static_cast<std::size_t>(strong[k])];
  if (!paired)
    throw std::runtime_error(fmt::format("{}: weak and strong views do not pair up; give the batch node the batch_size of "
                                         "one two_view_source step (labeled + 2 x unlabeled)", where));
  const auto as_tensor = [](const std::vector<std::int64_t>& list) { return torch::tensor(list, torch::kInt64); };
  return {as_tensor(labeled), as_tensor(weak), as_tensor(strong), static_cast<std::int64_t>(labeled.size()),
          static_cast<std::int64_t>(weak.size())};
}

std::vector<torch::Tensor> rows(const std::vector<torch::Tensor>& logits, std::int64_t begin, std::int64_t count) {
  std::vector<torch::Tensor> part;
  for (const auto& level : logits) part.push_back(level.narrow(0, begin, count));
  return part;
}

std::vector<double> values(const std::vector<torch::Tensor>& per_level) {
  std::vector<double> result;
  for (const auto& t : per_level) result.push_back(t.item<double>());
  return result;
}

// Sums of every logged term since the last step record; per-level terms are vectors.
class TermWindow {
 public:
  void add(const std::string& name, const std::vector<double>& per_level) {
    auto& sum = sums_[name];
    sum.resize(per_level.size(), 0.0);
    for (std::size_t level = 0; level < per_level.size(); ++level) sum[level] += per_level[level];
  }
  void add(const std::string& name, double value) { scalars_[name] += value; }
  void count_step() { ++steps_; }
  std::int64_t steps() const { return steps_; }

  // Means over the window, per-level terms as {level name: mean}; then empties the window.
  nlohmann::json take(const Hierarchy& hierarchy) {
    nlohmann::json record = nlohmann::json::object();
    const double n = static_cast<double>(std::max<std::int64_t>(1, steps_));
    for (const auto& [name, sum] : scalars_) record[name] = sum / n;
    for (const auto& [name, sum] : sums_) {
      nlohmann::json levels = nlohmann::json::object();
      for (std::size_t level = 0; level < sum.size(); ++level) levels[hierarchy.level(static_cast<int>(level)).name] = sum[level] / n;
      record[name] = levels;
    }
    sums_.clear();
    scalars_.clear();
    steps_ = 0;
    return record;
  }

 private:
  std::map<std::string, std::vector<double>> sums_;
  std::map<std::string, double> scalars_;
  std::int64_t steps_ = 0;
};

class MplTrain : public TrainingLoop {
 public:
  static NodeSchema schema() {
    NodeSchema schema("mpl_train");
    schema.doc("Meta Pseudo Labels: trains a teacher (UDA + the student's feedback) and a student (on the teacher's "
             "pseudo-labels) on two_view_source batches; writes metrics.jsonl, last.pt (student) and teacher.pt.")
        .input("in", "batch")
        .required_param("hierarchy", ParamType::String, "hierarchy YAML (one head per level)")
        .required_param("out_dir", ParamType::String, "folder for metrics.jsonl, last.pt (student) and teacher.pt").safe_to_change();
    declare_model_params(schema);
    declare_training_loop_params(schema)
        .param("level_weights", std::vector<double>{}, "weight of each level's losses; empty: 1 each").at_least(0)
        .param("label_smoothing", 0.15, "label smoothing of the teacher's labeled CE").at_least(0).less_than(1)
        .param("uda_weight", 8.0, "weight of the teacher's consistency term once ramped in").at_least(0)
        .param("uda_ramp_steps", 5000, "steps over which the consistency weight rises linearly to uda_weight").at_least(0)
        .param("uda_temperature", 0.7, "temperature of the weak-view distribution the strong view must match").greater_than(0)
        .param("uda_threshold", 0.6, "confidence (top tempered probability) below which an image is left out of consistency").at_least(0).at_most(1)
        .param("pseudo_labels", "hard", "the student's targets: hard (argmax of the teacher's weak view) or soft").one_of({"hard", "soft"})
        .param("pseudo_temperature", 1.0, "soft pseudo-labels: softmax temperature").greater_than(0)
        .param("mpl_sign", "paper", "the feedback: paper (student loss after - before, the authors' code) or reversed").one_of({"paper", "reversed"})
        .param("mpl_baseline_decay", 0.99, "decay of the moving-average baseline subtracted from the feedback").at_least(0).less_than(1)
        .param("teacher_lr", 0.05, "the teacher's peak learning rate").at_least(0)
        .param("student_lr", 0.05, "the student's peak learning rate").at_least(0)
        .param("schedule", "cosine", "schedule of both (per step)").one_of(schedule_kind_names())
        .param("min_lr", 0.0, "cosine: the learning rate at the last step").at_least(0)
        .param("lr_decay_steps", 1000.0, "step and exponential: steps per decay by lr_gamma").greater_than(0)
        .param("lr_gamma", 0.97, "step and exponential: decay factor").greater_than(0)
        .param("teacher_warmup_steps", 0, "linear warmup of the teacher's learning rate").at_least(0)
        .param("student_warmup_steps", 0, "linear warmup of the student's learning rate, after its wait").at_least(0)
        .param("student_wait_steps", 0, "steps the teacher trains alone first; the student's schedule starts after them").at_least(0)
        .param("clip_grad_norm", 0.0, "clip each model's global gradient norm to this; 0: no clipping").at_least(0)
        .param("ema_decay", 0.0, "EMA of the student's weights, used for validation and saved in last.pt; 0: none").at_least(0).less_than(1)
        .param("ema_warmup", true, "EMA decay min(decay, (1 + n) / (10 + n)) over the first updates")
        .param("teacher_checkpoint", "", "start the teacher from this checkpoint's weights (e.g. a supervised run); empty: random")
        .param("student_checkpoint", "", "start the student from this checkpoint's weights (its EMA when it has one); empty: random");
    declare_optimizer_params(schema, 5e-4)
        .param("eval_manifest", "", "labeled manifest both models are validated on after every epoch; empty: none").safe_to_change();
    declare_eval_preprocessing_params(schema)
        .param("eval_batch_size", 256, "validation batch size").at_least(1).safe_to_change()
        .param("log_every", 50, "write a step record of every term, averaged, every this many steps").at_least(1).safe_to_change()
        .param("seed", 0, "seed of weight initialization, dropout and stochastic depth")
        .check([](const Params&, const std::vector<StreamFacts>& in, Diagnostics& out) {
          if (facts::int_fact(in[0], facts::kViews).value_or(1) != 2)
            out.error("", "mpl_train trains on steps of labeled images and weak and strong views of unlabeled ones; "
                          "feed it from a two_view_source");
        })
        .serial("the two models step one batch after another in stream order, which makes runs reproducible");
    return schema;
  }

  explicit MplTrain(const Params& params)
      : TrainingLoop(params, "mpl_train", 1),
        level_weights_(params.get_numbers("level_weights")),
        label_smoothing_(params.get_float("label_smoothing")),
        uda_weight_(params.get_float("uda_weight")),
        uda_ramp_steps_(params.get_int("uda_ramp_steps")),
        pseudo_labels_(parse_pseudo_label_targets(params.get_string("pseudo_labels"))),
        pseudo_temperature_(params.get_float("pseudo_temperature")),
        feedback_(parse_feedback_sign(params.get_string("mpl_sign")), params.get_float("mpl_baseline_decay"),
                  static_cast<std::size_t>(hierarchy().num_levels())),
        student_wait_steps_(params.get_int("student_wait_steps")),
        clip_grad_norm_(params.get_float("clip_grad_norm")),
        log_every_(params.get_int("log_every")) {
    if (log_every_ < 1) throw std::invalid_argument("log_every must be at least 1");
    if (student_wait_steps_ < 0) throw std::invalid_argument("student_wait_steps must be >= 0");
    if (!level_weights_.empty() && static_cast<int>(level_weights_.size()) != hierarchy().num_levels())
      throw std::invalid_argument(fmt::format("level_weights has {} values but the hierarchy has {} levels",
                                              level_weights_.size(), hierarchy().num_levels()));
    uda_.temperature = params.get_float("uda_temperature");
    uda_.threshold = params.get_float("uda_threshold");
    uda_.level_weights = level_weights_;
    const std::int64_t total_steps = epochs() * steps_per_epoch();
    if (student_wait_steps_ >= total_steps)
      throw std::invalid_argument(fmt::format("student_wait_steps {} leaves the student no step of the {} in the run",
                                              student_wait_steps_, total_steps));

    torch::manual_seed(static_cast<std::uint64_t>(params.get_int("seed")));
    teacher_ = EfficientNetV2(model_options());
    student_ = EfficientNetV2(model_options());
    if (!params.get_string("teacher_checkpoint").empty())
      load_weights(params.get_path("teacher_checkpoint").string(), teacher_);
    if (!params.get_string("student_checkpoint").empty())
      load_weights(params.get_path("student_checkpoint").string(), student_);
    teacher_->to(device());
    student_->to(device());
    if (params.get_float("ema_decay") > 0)
      ema_.emplace(*student_, params.get_float("ema_decay"), params.get_bool("ema_warmup"));
    teacher_optimizer_ = make_optimizer(optimizer_config_from(params, params.get_float("teacher_lr")), *teacher_);
    student_optimizer_ = make_optimizer(optimizer_config_from(params, params.get_float("student_lr")), *student_);
    teacher_schedule_ = schedule_from(params, params.get_float("teacher_lr"), params.get_int("teacher_warmup_steps"), total_steps);
    student_schedule_ = schedule_from(params, params.get_float("student_lr"), params.get_int("student_warmup_steps"),
                                      total_steps - student_wait_steps_);
    resume_or_start(params.get_bool("resume"), "resume: false to start over");
    // Both models start from rank 0's weights on every rank, and average their gradients.
    group().broadcast_from_root(distributed::module_state(*teacher_));
    group().broadcast_from_root(distributed::module_state(*student_));
    if (ema_) group().broadcast_from_root(distributed::module_state(*ema_->average()));
    teacher_averager_.emplace(group_ptr(), teacher_->parameters());
    student_averager_.emplace(group_ptr(), student_->parameters());
  }

  nlohmann::json report() const override {
    nlohmann::json report = TrainingLoop::report();
    report["teacher_checkpoint"] = teacher_path().string();
    return report;
  }

 private:
  static ScheduleConfig schedule_from(const Params& params, double base_lr, std::int64_t warmup_steps, std::int64_t total_steps) {
    ScheduleConfig schedule;
    schedule.kind = parse_schedule_kind(params.get_string("schedule"));
    schedule.base_lr = base_lr;
    schedule.min_lr = params.get_float("min_lr");
    schedule.warmup_steps = warmup_steps;
    schedule.total_steps = total_steps;
    schedule.decay_steps = std::max(1.0, params.get_float("lr_decay_steps"));
    schedule.gamma = params.get_float("lr_gamma");
    return schedule;
  }

  fs::path teacher_path() const { return out_dir() / "teacher.pt"; }

  // The EMA of the student as a model (sharing the average's parameters); null without EMA.
  EfficientNetV2 student_ema() const {
    return ema_ ? EfficientNetV2(std::dynamic_pointer_cast<EfficientNetV2Impl>(ema_->average())) : EfficientNetV2(nullptr);
  }

  void check_finite(const torch::Tensor& loss, const char* what, const Batch& batch) const {
    const double value = loss.item<double>();
    if (!std::isfinite(value))
      throw std::runtime_error(fmt::format("{} is {} at step {} (batch starting at {}); lower the learning rates or set "
                                           "clip_grad_norm", what, value, steps(), batch.paths.front()));
  }

  void clip_and_step(EfficientNetV2& model, torch::optim::Optimizer& optimizer, double lr) const {
    if (clip_grad_norm_ > 0) clip_gradient_norm(model->parameters(), clip_grad_norm_);
    set_learning_rate(optimizer, lr);
    optimizer.step();
  }

  std::vector<double> student_labeled_loss(const std::vector<torch::Tensor>& logits, const torch::Tensor& labels) const {
    return values(hierarchical_cross_entropy(logits, labels).per_level);
  }

  void step(const Batch& batch) override {
    const std::int64_t step = steps();
    const BatchParts parts = split_views(batch);
    const auto images = feed_.to_device(batch).images;
    const auto labeled_images = images.index_select(0, parts.labeled.to(device()));
    const auto strong_images = images.index_select(0, parts.strong.to(device()));
    const auto labels = torch::stack(batch.labels, 1).index_select(0, parts.labeled).to(device());
    const std::int64_t nl = parts.labeled_count, nu = parts.unlabeled_count;

    // One teacher pass over the three parts, so BatchNorm normalizes them together as in MPL.
    teacher_->train();
    const auto teacher_logits =
        forward_logits(teacher_, torch::cat({labeled_images, images.index_select(0, parts.weak.to(device())), strong_images}),
                       precision());
    const auto teacher_weak = rows(teacher_logits, nl, nu), teacher_strong = rows(teacher_logits, nl + nu, nu);
    const LevelLosses teacher_labeled = hierarchical_cross_entropy(
        rows(teacher_logits, 0, nl), labels,
        HierarchicalCrossEntropyOptions().level_weights(level_weights_).label_smoothing(label_smoothing_));
    const UdaConsistency consistency = uda_consistency(teacher_weak, teacher_strong, uda_);
    const double uda_weight = uda_weight_at(uda_weight_, step, uda_ramp_steps_);
    auto teacher_loss = teacher_labeled.total + uda_weight * consistency.loss.total;

    window_.add("teacher_labeled_loss", values(teacher_labeled.per_level));
    window_.add("uda_consistency", values(consistency.loss.per_level));
    window_.add("mask_ratio", consistency.mask_ratio);
    window_.add("uda_weight", uda_weight);
    if (step >= student_wait_steps_) teacher_loss = teacher_loss + student_step(batch, parts, labeled_images, strong_images,
                                                                                 labels, teacher_weak, teacher_strong);
    check_finite(teacher_loss, "the teacher's loss", batch);
    window_.add("teacher_loss", teacher_loss.item<double>());

    teacher_optimizer_->zero_grad();
    teacher_scaler_.scale(teacher_loss).backward();
    teacher_averager_->synchronize();
    const double teacher_lr = learning_rate_at(teacher_schedule_, step);
    if (teacher_scaler_.unscale_and_check(teacher_->parameters())) clip_and_step(teacher_, *teacher_optimizer_, teacher_lr);
    window_.add("teacher_lr", teacher_lr);
    window_.count_step();
    if (window_.steps() == log_every_) log_window(step + 1);
  }

  // The student's step on the strong view; returns the teacher's MPL term from its feedback.
  torch::Tensor student_step(const Batch& batch, const BatchParts& parts, const torch::Tensor& labeled_images,
                             const torch::Tensor& strong_images, const torch::Tensor& labels,
                             const std::vector<torch::Tensor>& teacher_weak, const std::vector<torch::Tensor>& teacher_strong) {
    const std::int64_t nl = parts.labeled_count, nu = parts.unlabeled_count;
    const auto targets = student_targets(teacher_weak, pseudo_labels_, pseudo_temperature_);
    student_->train();
    const auto student_logits = forward_logits(student_, torch::cat({labeled_images, strong_images}), precision());
    std::vector<torch::Tensor> labeled_logits;
    for (const auto& level : rows(student_logits, 0, nl)) labeled_logits.push_back(level.detach());
    const std::vector<double> before = student_labeled_loss(labeled_logits, labels);
    const LevelLosses student_loss = hierarchical_soft_cross_entropy(rows(student_logits, nl, nu), targets, {},
                                                                     SoftCrossEntropyOptions().level_weights(level_weights_));
    check_finite(student_loss.total, "the student's loss", batch);
    student_optimizer_->zero_grad();
    student_scaler_.scale(student_loss.total).backward();
    student_averager_->synchronize();
    const double student_lr = learning_rate_at(student_schedule_, steps() - student_wait_steps_);
    if (student_scaler_.unscale_and_check(student_->parameters())) clip_and_step(student_, *student_optimizer_, student_lr);
    if (ema_) ema_->update(*student_);

    std::vector<double> before_after = before;
    {
      torch::NoGradGuard no_grad;
      const auto after = student_labeled_loss(forward_logits(student_, labeled_images, precision()), labels);
      before_after.insert(before_after.end(), after.begin(), after.end());
    }
    // The ranks' mean losses, so that every rank's feedback (and its baseline, which rank 0 saves) is the same.
    group().sum_values(before_after);
    for (auto& value : before_after) value /= group().size();
    const std::vector<double> mean_before(before_after.begin(), before_after.begin() + static_cast<long>(before.size()));
    const std::vector<double> after(before_after.begin() + static_cast<long>(before.size()), before_after.end());
    const std::vector<double> h = feedback_.update(mean_before, after);
    const LevelLosses mpl = mpl_term(teacher_strong, h, level_weights_);

    window_.add("student_loss", values(student_loss.per_level));
    window_.add("student_labeled_before", mean_before);
    window_.add("student_labeled_after", after);
    window_.add("loss_change", feedback_.last_change());
    window_.add("mpl_baseline", feedback_.baseline());
    window_.add("mpl_h", h);
    window_.add("mpl_term", values(mpl.per_level));
    window_.add("student_lr", student_lr);
    return mpl.total;
  }

  // A step record of the window's means; `steps_done` counts the steps up to the window's last.
  void log_window(std::int64_t steps_done) {
    const std::int64_t steps = window_.steps();
    nlohmann::json record = window_.take(hierarchy());
    record["type"] = "step";
    record["step"] = steps_done;
    record["epoch"] = epoch() + 1;
    record["student_steps"] = std::max<std::int64_t>(0, std::min(steps, steps_done - student_wait_steps_));
    if (!group().is_root()) return;  // a step record is rank 0's window; epoch records are the ranks'
    append_json_line(out_dir() / "metrics.jsonl", record);
    const std::string& finest = hierarchy().level(hierarchy().num_levels() - 1).name;
    spdlog::info("{}: step {} teacher_loss={:.4f} mask[{}]={:.3f}{}", name(), steps_done, record["teacher_loss"].get<double>(),
                 finest, record["mask_ratio"][finest].get<double>(),
                 record.contains("student_loss")
                     ? fmt::format(" student_loss={:.4f} h={:+.5f}", record["student_loss"][finest].get<double>(),
                                   record["mpl_h"][finest].get<double>())
                     : std::string(" (student waiting)"));
  }

  std::string finish_epoch(nlohmann::json& record, bool validate) override {
    if (group().size() > 1) {
      record["communication_wait_s"] = teacher_averager_->take_wait_s() + student_averager_->take_wait_s();
    }
    // The window is logged here, so it never spans an epoch and a checkpoint needs none of it.
    if (window_.steps() > 0) log_window(steps());
    record["type"] = "epoch";
    if (!validate) return "";
    EfficientNetV2 student = ema_ ? student_ema() : student_;
    const auto result = evaluate(student);
    record["eval"] = result.to_json();
    const auto teacher = evaluate(teacher_);
    record["teacher_eval"] = teacher.to_json();
    return fmt::format(" student acc[fine]={:.4f} score={:.4f}, teacher acc[fine]={:.4f} score={:.4f}",
                       result.argmax.levels.back().accuracy, result.argmax.airush_score,
                       teacher.argmax.levels.back().accuracy, teacher.argmax.airush_score);
  }

  // Both files get the same meta; its state holds what the weights and optimizers do not.
  void save(CheckpointMeta meta) override {
    meta.state = {{"mpl_baseline", feedback_.baseline()}, {"ema_updates", ema_ ? ema_->updates() : 0}};
    store_loss_scaler(teacher_scaler_, "teacher_loss_scaler", meta.state);
    store_loss_scaler(student_scaler_, "student_loss_scaler", meta.state);
    save_checkpoint(teacher_path().string(), meta, {teacher_, EfficientNetV2(nullptr), teacher_optimizer_.get()});
    save_checkpoint(last_path().string(), meta, {student_, student_ema(), student_optimizer_.get()});
  }

  void restore(const CheckpointMeta& meta) override {
    if (!meta.state.contains("mpl_baseline"))
      throw std::runtime_error(fmt::format("{}: an unfinished run of an mpl_train that could not resume (no resume state); "
                                           "use another out_dir, or remove it and teacher.pt to start over",
                                           last_path().string()));
    // teacher.pt is written just before last.pt: a kill between the two leaves it an epoch ahead.
    const CheckpointMeta teacher = read_checkpoint_meta(teacher_path().string());
    if (teacher.fingerprint != meta.fingerprint || teacher.epoch != meta.epoch)
      throw std::runtime_error(fmt::format("{} (epoch {}, fingerprint {}) does not match {} (epoch {}, fingerprint {}), as a run "
                                           "killed between writing them leaves; use another out_dir, or remove both to start over",
                                           teacher_path().string(), teacher.epoch, teacher.fingerprint, last_path().string(),
                                           meta.epoch, meta.fingerprint));
    restore_checkpoint(teacher_path().string(), {teacher_, EfficientNetV2(nullptr), teacher_optimizer_.get()});
    restore_checkpoint(last_path().string(), {student_, student_ema(), student_optimizer_.get()});
    feedback_.set_baseline(meta.state.at("mpl_baseline").get<std::vector<double>>());
    if (ema_) ema_->set_updates(meta.state.at("ema_updates").get<std::int64_t>());
    restore_loss_scaler(meta.state, "teacher_loss_scaler", teacher_scaler_);
    restore_loss_scaler(meta.state, "student_loss_scaler", student_scaler_);
  }

  std::vector<double> level_weights_;
  double label_smoothing_;
  double uda_weight_;
  std::int64_t uda_ramp_steps_;
  UdaConsistencyOptions uda_;
  PseudoLabelTargets pseudo_labels_;
  double pseudo_temperature_;
  MplFeedback feedback_;
  std::int64_t student_wait_steps_;
  double clip_grad_norm_;
  std::int64_t log_every_;
  EfficientNetV2 teacher_{nullptr};
  EfficientNetV2 student_{nullptr};
  std::optional<ExponentialMovingAverage> ema_;
  std::unique_ptr<torch::optim::Optimizer> teacher_optimizer_;
  std::unique_ptr<torch::optim::Optimizer> student_optimizer_;
  ScheduleConfig teacher_schedule_;
  ScheduleConfig student_schedule_;
  TermWindow window_;
  std::optional<distributed::GradientAverager> teacher_averager_;
  std::optional<distributed::GradientAverager> student_averager_;
  DeviceFeed feed_{device()};
  LossScaler teacher_scaler_{precision()};
  LossScaler student_scaler_{precision()};
};

SEMIFLOW_REGISTER_NODE(MplTrain);

}  // namespace
}  // namespace semiflow::nodes
