// `two_view_source`: the input stream of Meta Pseudo Labels and UDA. Each emitted item is one
// training step: `batch_size` labeled images, cycled endlessly and reshuffled on every pass, then
// `batch_size * unlabeled_ratio` unlabeled images, each twice in a row: a weak view and a strong
// view (Sample::view), which augment transforms differently (its `strong_ops`). An epoch is one
// pass over the unlabeled manifest.
//
// Joining the two streams here rather than in a two-input node keeps them in step: the graph
// pairs the i-th items of a node's inputs, and two sources of different lengths would stall it.
#include "datasets/hierarchy.h"
#include "datasets/manifest.h"
#include "datasets/sample.h"
#include "datasets/transforms.h"
#include "graph/node.h"
#include "nodes/stream_facts.h"
#include "nodes/labeled_cycle.h"
#include "nodes/sharding.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>

namespace semiflow::nodes {
namespace {

using namespace semiflow::graph;

class TwoViewSource : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("two_view_source")
        .doc("Emits one training step per item: labeled images (cycled) and unlabeled images in a weak and a strong "
             "view, at a fixed unlabeled:labeled ratio; an epoch is one pass over the unlabeled manifest.")
        .output("out", "samples")
        .required_param("labeled_manifest", ParamType::String, "labeled manifest CSV")
        .required_param("unlabeled_manifest", ParamType::String, "unlabeled manifest CSV (labels, if any, are ignored)")
        .required_param("hierarchy", ParamType::String, "hierarchy YAML of the labeled manifest")
        .param("batch_size", 32, "labeled images per step").at_least(1)
        .param("unlabeled_ratio", 3.0, "unlabeled images per labeled image in a step (each shown in two views)").greater_than(0)
        .param("epochs", 1, "passes over the unlabeled manifest").at_least(1).safe_to_change()
        .check([](const Params& p, const std::vector<StreamFacts>&, Diagnostics& out) {
          for (const char* name : {"labeled_manifest", "unlabeled_manifest"})
            facts::require_file(p, name, out, "make it with `semiflow data` or fix the path (relative to the config)");
          facts::require_file(p, "hierarchy", out, "fix the path (relative to the config)");
        })
        .stream([](const Params& p, const std::vector<StreamFacts>&, Diagnostics& out) {
          StreamFacts stream;
          const auto labeled = p.get_int("batch_size");
          const auto unlabeled = std::llround(p.get_float("unlabeled_ratio") * static_cast<double>(labeled));
          if (unlabeled < 1) out.error("unlabeled_ratio", "batch_size x unlabeled_ratio must be at least 1");
          stream[facts::kStepSize] = facts::stated(p, "batch_size", std::int64_t{labeled + 2 * unlabeled});
          stream[facts::kViews] = facts::stated(p, "weak and strong views", std::int64_t{2});
          stream[facts::kEpochs] = facts::stated(p, "epochs", p.get_int("epochs"));
          if (const auto rows = facts::manifest_rows(p.get_path("unlabeled_manifest").string()); rows && unlabeled >= 1)
            stream[facts::kStepsPerEpoch] = facts::stated(
                p, "unlabeled_manifest",
                std::int64_t{(static_cast<std::int64_t>(Shard::of_this_process().size_of(static_cast<std::size_t>(*rows))) + unlabeled - 1) / unlabeled});
          return stream;
        })
        .param("seed", 0, "seed of the shuffles (each epoch and each labeled pass gets its own order)")
        .serial("the order of rows is decided in one place so runs are reproducible");
  }

  explicit TwoViewSource(const Params& params)
      : hierarchy_(Hierarchy::load(params.get_path("hierarchy").string())),
        labeled_(load_manifest(params.get_path("labeled_manifest").string(), &hierarchy_),
                 static_cast<std::uint64_t>(params.get_int("seed"))),
        unlabeled_(load_manifest(params.get_path("unlabeled_manifest").string(), nullptr)),
        labeled_per_step_(params.get_int("batch_size")),
        epochs_(params.get_int("epochs")),
        seed_(static_cast<std::uint64_t>(params.get_int("seed"))) {
    if (labeled_per_step_ < 1) throw std::invalid_argument("batch_size must be at least 1");
    if (epochs_ < 1) throw std::invalid_argument("epochs must be at least 1");
    const double ratio = params.get_float("unlabeled_ratio");
    unlabeled_per_step_ = std::llround(ratio * static_cast<double>(labeled_per_step_));
    if (unlabeled_per_step_ < 1)
      throw std::invalid_argument(fmt::format("unlabeled_ratio {} gives no unlabeled image per step of {}", ratio, labeled_per_step_));
    if (labeled_.manifest().rows.empty())
      throw std::invalid_argument(fmt::format("{}: no rows", labeled_.manifest().source));
    if (unlabeled_.rows.empty()) throw std::invalid_argument(fmt::format("{}: no rows", unlabeled_.source));
    const auto steps = (static_cast<std::int64_t>(shard_.size_of(unlabeled_.rows.size())) + unlabeled_per_step_ - 1) / unlabeled_per_step_;
    spdlog::info("{}: {} epochs of {} steps, each {} labeled + {} unlabeled images in two views ({} samples)",
                 params.node_name(), epochs_, steps, labeled_per_step_, unlabeled_per_step_,
                 labeled_per_step_ + 2 * unlabeled_per_step_);
    start_epoch();
  }

  bool generate(Emitter& out) override {
    if (position_ == order_.size()) {
      if (epoch_ + 1 >= epochs_) return false;
      ++epoch_;
      start_epoch();
    }
    const std::size_t end = std::min(order_.size(), position_ + static_cast<std::size_t>(unlabeled_per_step_));
    Samples samples;
    samples.reserve(static_cast<std::size_t>(labeled_per_step_) + 2 * (end - position_));
    for (std::int64_t k = 0; k < labeled_per_step_; ++k) samples.push_back(next_labeled());
    const std::vector<int> unknown(static_cast<std::size_t>(hierarchy_.num_levels()), -1);
    for (std::size_t k = position_; k < end; ++k)
      for (int view : {kWeakView, kStrongView}) {
        Sample s;
        s.path = unlabeled_.image_path(unlabeled_.rows[order_[k]]);
        s.index = shard_.position(emitted_in_epoch_++);  // not the row: the two views must get different augmentation
        s.epoch = epoch_;
        s.labels = unknown;             // -1 at every level, so the batch node takes them with labeled rows
        s.view = view;
        samples.push_back(std::move(s));
      }
    std::string origin = fmt::format("{} rows {}..{} of epoch {}", unlabeled_.source, position_, end - 1, epoch_);
    position_ = end;
    out.emit(std::move(samples), std::move(origin));
    return true;
  }

 private:
  Sample next_labeled() {
    const ManifestRow& row = labeled_.next();
    Sample s;
    s.path = labeled_.manifest().image_path(row);
    s.index = shard_.position(emitted_in_epoch_++);
    s.epoch = epoch_;
    s.labels = row.labels;
    return s;
  }

  void start_epoch() {
    Rng rng = Rng::for_item(seed_, static_cast<std::uint64_t>(epoch_), 0);
    order_ = shard_.take(shuffled_indices(unlabeled_.rows.size(), rng));
    position_ = 0;
    emitted_in_epoch_ = 0;
  }

  Shard shard_ = Shard::of_this_process();
  Hierarchy hierarchy_;
  LabeledCycle labeled_;
  Manifest unlabeled_;
  std::int64_t labeled_per_step_;
  std::int64_t unlabeled_per_step_ = 0;
  std::int64_t epochs_;
  std::uint64_t seed_;

  std::vector<std::size_t> order_;
  std::size_t position_ = 0;
  std::int64_t epoch_ = 0;
  std::uint64_t emitted_in_epoch_ = 0;
};

SEMIFLOW_REGISTER_NODE(TwoViewSource);

}  // namespace
}  // namespace semiflow::nodes
