#pragma once
// The epoch loop that the training nodes (`train`, `mpl_train`) share; each node adds its step.
//
// Epochs are delimited by Batch::epoch: when a batch of a new epoch arrives (or the stream ends)
// the previous epoch is finished: its record (validated every eval_every epochs and after the
// last) is appended to out_dir/metrics.jsonl, then the node checkpoints. Resuming restores the
// node from out_dir/last.pt (and whatever it saves beside it) and discards the batches of
// already finished epochs; sources reshuffle each epoch from their seed, so the batches that
// follow are the ones an uninterrupted run would see.
//
// Distributed (nodes/distributed.h): every rank runs the loop on its shard of the stream; the
// epoch's images and the node's sums are added up over the ranks, validation is split among them,
// and only rank 0 writes metrics.jsonl and checkpoints. A resumed rank reads rank 0's last.pt.
//
// A base class rather than a member: the loop is the node's process/flush/report, and it calls
// back into the node at each step, epoch end, save and restore.
#include "datasets/hierarchy.h"
#include "graph/node.h"
#include "models/efficientnet_v2.h"
#include "models/efficientnet_v2_options.h"
#include "nodes/batch.h"
#include "nodes/checkpoint.h"
#include "nodes/distributed.h"
#include "nodes/evaluation.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace semiflow::nodes {

class TrainingLoop : public graph::Node {
 public:
  void process(graph::Inputs& in, graph::Emitter& out) override;
  void flush(graph::Emitter& out) override;
  // A finished run (last.pt holds every epoch, with this run's fingerprint) is not trained again.
  bool up_to_date() const override { return completed_epochs_ >= epochs_; }
  graph::WorkProgress progress() const override;
  nlohmann::json report() const override;

 protected:
  // Reads what every training node declares alike (hierarchy, out_dir, device, precision,
  // seed, epochs, steps_per_epoch, the model and evaluation-preprocessing params, eval_manifest,
  // eval_batch_size). In a distributed run each epoch reseeds the default generator from seed,
  // the epoch and the rank (distributed::seed_epoch) before begin_epoch(). `type` names the node type in messages and seeds the fingerprint: the
  // params a resume must match (all but those declared safe_to_change).
  TrainingLoop(const graph::Params& params, std::string type, std::int64_t eval_every);

  // The derived constructor's last call, once its models exist. With `resume` and a last.pt of
  // this fingerprint: continues from it (restore() unless the run is finished); with another
  // fingerprint: refuses naming the file, the params that differ and `how_to_start_over`. Otherwise starts afresh (an
  // old metrics.jsonl removed).
  void resume_or_start(bool resume, const std::string& how_to_start_over);

  // One training step on `batch`: step number step() (0-based) of epoch epoch(). The loop counts
  // the step and its images when it returns.
  virtual void step(const Batch& batch) = 0;
  // Epoch `index` (0-based) starts: its first batch has arrived.
  virtual void begin_epoch(std::int64_t /*index*/) {}
  // The epoch ended: add the node's terms to `record` (which holds epoch, step, images,
  // images_per_s, train_s) and, when `validate`, its validation; returns text for the log line.
  virtual std::string finish_epoch(nlohmann::json& record, bool validate) = 0;
  // Writes the node's checkpoint files for `meta` (the finished epoch, its record as metrics);
  // last.pt must be written last: it marks the epoch as done. Called on rank 0 only.
  virtual void save(CheckpointMeta meta) = 0;
  // Restores what save() wrote; `meta` is last.pt's, whose fingerprint matched.
  virtual void restore(const CheckpointMeta& meta) = 0;

  const std::string& name() const { return name_; }
  const Hierarchy& hierarchy() const { return hierarchy_; }
  const std::filesystem::path& out_dir() const { return out_dir_; }
  std::filesystem::path last_path() const { return out_dir_ / "last.pt"; }
  torch::Device device() const { return device_; }
  Precision precision() const { return precision_; }
  const EfficientNetV2Options& model_options() const { return options_; }
  std::int64_t epochs() const { return epochs_; }
  std::int64_t steps_per_epoch() const { return steps_per_epoch_; }
  std::int64_t completed_epochs() const { return completed_epochs_; }
  // Steps taken so far (the 0-based number of the step in progress inside step()).
  std::int64_t steps() const { return step_; }
  // The 0-based epoch in progress; only inside step(), begin_epoch() and finish_epoch().
  std::int64_t epoch() const { return epoch_->index; }
  bool has_eval_set() const { return eval_set_.has_value(); }
  // Validation on eval_manifest, split among the ranks; every rank gets the whole set's result.
  EvaluationResult evaluate(EfficientNetV2& model) const;
  // This node's group of all ranks (a world of one outside a distributed run).
  distributed::Communicator& group() const { return *group_; }
  const std::shared_ptr<distributed::Communicator>& group_ptr() const { return group_; }

 private:
  struct EpochProgress {
    std::int64_t index = 0;
    std::int64_t images = 0;
    std::int64_t steps = 0;
    std::chrono::steady_clock::time_point started;
  };

  std::filesystem::path metrics_path() const { return out_dir_ / "metrics.jsonl"; }
  void start_epoch(std::int64_t index);
  void end_epoch();
  void keep_metrics_up_to(std::int64_t epoch) const;

  std::string name_;
  std::string type_;
  Hierarchy hierarchy_;
  std::filesystem::path out_dir_;
  torch::Device device_;
  Precision precision_;
  std::uint64_t seed_;  // the node's `seed`
  std::int64_t epochs_;
  std::int64_t steps_per_epoch_;
  std::int64_t eval_every_;
  int eval_batch_size_;
  std::map<std::string, std::string> fingerprinted_;
  std::string fingerprint_;
  EvalPreprocessing preprocessing_;
  EfficientNetV2Options options_;
  std::optional<EvalSet> eval_set_;
  std::shared_ptr<distributed::Communicator> group_;

  std::int64_t step_ = 0;
  std::int64_t start_epoch_ = 0;
  std::int64_t completed_epochs_ = 0;
  std::int64_t skipped_batches_ = 0;
  std::optional<EpochProgress> epoch_;
  nlohmann::json last_record_;
  std::atomic<std::int64_t> steps_done_{0};  // step_, for progress() from the monitoring thread
  bool warned_steps_ = false;
};

}  // namespace semiflow::nodes
