// `pseudo_label`: the student's training stream in Noisy Student. Turns the teacher's cached
// probabilities (datasets/pseudo_label_cache.h) into pseudo-labels -- temperature, soft or hard,
// per-level confidence thresholds, hierarchy-consistent paths, class balancing -- and interleaves
// them with the labeled images at a fixed unlabeled:labeled ratio.
//
// Every sample carries per-level soft targets (one-hot for labeled images and hard pseudo-labels;
// an empty level means "no target"), so one soft cross-entropy trains on both kinds. Labels are
// decided once at construction, streaming over the cache; the probabilities of each emitted
// micro-batch are read back by row, so memory does not grow with the cache.
#include "datasets/hierarchy.h"
#include "datasets/manifest.h"
#include "datasets/pseudo_label_cache.h"
#include "datasets/pseudo_labels.h"
#include "datasets/sample.h"
#include "datasets/transforms.h"
#include "graph/node.h"
#include "nodes/stream_facts.h"
#include "nodes/labeled_cycle.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <optional>

namespace semiflow::nodes {
namespace {

using namespace semiflow::graph;

constexpr long kLabelingChunk = 4096;

HierarchyMode parse_hierarchy_mode(const std::string& name) {
  if (name == "independent") return HierarchyMode::independent;
  if (name == "drop_inconsistent") return HierarchyMode::drop_inconsistent;
  if (name == "best_path") return HierarchyMode::best_path;
  throw std::invalid_argument(fmt::format("hierarchy_mode '{}': write independent, drop_inconsistent or best_path", name));
}

PseudoLabelKind parse_kind(const std::string& name) {
  if (name == "soft") return PseudoLabelKind::soft;
  if (name == "hard") return PseudoLabelKind::hard;
  throw std::invalid_argument(fmt::format("kind '{}': write soft or hard", name));
}

std::vector<float> one_hot(int cls, int classes) {
  std::vector<float> row(static_cast<std::size_t>(classes), 0.0f);
  row[static_cast<std::size_t>(cls)] = 1.0f;
  return row;
}

nlohmann::json stats_to_json(const std::vector<LevelPseudoLabelStats>& stats, const Hierarchy& hierarchy) {
  nlohmann::json levels = nlohmann::json::object();
  for (std::size_t level = 0; level < stats.size(); ++level) {
    const auto& s = stats[level];
    levels[hierarchy.level(static_cast<int>(level)).name] = {
        {"rows", s.rows},
        {"kept", s.kept},
        {"kept_fraction", s.kept_fraction},
        {"class_counts", s.class_counts},
        {"confidence",
         {{"mean", s.confidence.mean},
          {"quantile_levels", s.confidence.quantile_levels},
          {"quantiles", s.confidence.quantiles},
          {"histogram", s.confidence.histogram}}}};
  }
  return levels;
}

// Classes per level of the `hierarchy` parameter's file, when it can be read.
std::optional<std::vector<int>> classes_per_level(const Params& params) {
  try {
    return Hierarchy::load(params.get_path("hierarchy").string()).classes_per_level();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

class PseudoLabel : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("pseudo_label")
        .doc("Emits pseudo-labeled images from a teacher's HDF5 cache (temperature, soft/hard, thresholds, hierarchy "
             "mode, class balancing) interleaved with labeled images, every sample with per-level soft targets.")
        .output("out", "samples")
        .required_param("cache", ParamType::String, "HDF5 pseudo-label cache written by teacher_inference")
        .required_param("manifest", ParamType::String, "the unlabeled manifest the cache was made from")
        .required_param("hierarchy", ParamType::String, "hierarchy YAML (must match the cache's levels)")
        .param("labeled_manifest", "", "labeled images mixed into the stream; empty: pseudo-labels only")
        .param("unlabeled_ratio", 3.0, "pseudo-labeled images per labeled image in every micro-batch").greater_than(0)
        .param("kind", "soft", "soft (tempered probabilities) or hard (argmax) targets").one_of({"soft", "hard"})
        .param("temperature", 1.0, "soft targets: softmax temperature applied to the teacher's probabilities").greater_than(0)
        .param("thresholds", std::vector<double>{}, "per level (or one for all): confidence below it drops the level's target").at_least(0).at_most(1)
        .param("hierarchy_mode", "independent", "independent, drop_inconsistent or best_path").one_of({"independent", "drop_inconsistent", "best_path"})
        .param("balance_per_class", 0, "K > 0: keep the K most confident images per finest-level class, repeat rarer classes").at_least(0)
        .param("epochs", 1, "passes over the (balanced) pseudo-labeled set").at_least(1).safe_to_change()
        .param("shuffle", true, "reshuffle every epoch")
        .param("seed", 0, "seed of shuffles and of balancing's rounding")
        .param("micro_batch", 32, "pseudo-labeled samples per emitted item (labeled ones come on top)").at_least(1)
        .check([](const Params& p, const std::vector<StreamFacts>&, Diagnostics& out) {
          facts::require_file(p, "manifest", out, "make it with `semiflow data` or fix the path (relative to the config)");
          facts::require_file(p, "labeled_manifest", out, "make it with `semiflow data` or fix the path (relative to the config)");
          facts::require_file(p, "hierarchy", out, "fix the path (relative to the config)");
          if (p.get_numbers("thresholds").size() > 1)
            if (const auto levels = classes_per_level(p); levels && levels->size() != p.get_numbers("thresholds").size())
              out.error("thresholds", fmt::format("thresholds has {} values but the hierarchy has {} levels; give one per level or one for all",
                                                  p.get_numbers("thresholds").size(), levels->size()));
        })
        // With balancing the pass has K images per finest class (every class has one at least),
        // plus one labeled image per unlabeled_ratio of them; without, its size is the cache's.
        .stream([](const Params& p, const std::vector<StreamFacts>&, Diagnostics&) {
          StreamFacts stream;
          stream[facts::kEpochs] = facts::stated(p, "epochs", p.get_int("epochs"));
          const auto classes = classes_per_level(p);
          if (p.get_int("balance_per_class") > 0 && classes) {
            const auto pseudo = static_cast<std::int64_t>(
                Shard::of_this_process().size_of(static_cast<std::size_t>(p.get_int("balance_per_class") * classes->back())));
            const auto labeled = p.get_string("labeled_manifest").empty()
                                     ? 0
                                     : static_cast<std::int64_t>(static_cast<double>(pseudo) / p.get_float("unlabeled_ratio"));
            stream[facts::kItemsPerEpoch] = facts::stated(p, "balance_per_class", pseudo + labeled);
          }
          return stream;
        })
        .serial("the order of rows is decided in one place so runs are reproducible");
  }

  explicit PseudoLabel(const Params& params)
      : hierarchy_(Hierarchy::load(params.get_path("hierarchy").string())),
        classes_(hierarchy_.classes_per_level()),
        ratio_(params.get_float("unlabeled_ratio")),
        epochs_(params.get_int("epochs")),
        shuffle_(params.get_bool("shuffle")),
        seed_(static_cast<std::uint64_t>(params.get_int("seed"))),
        micro_batch_(params.get_int("micro_batch")) {
    if (epochs_ < 1) throw std::invalid_argument("epochs must be at least 1");
    if (micro_batch_ < 1) throw std::invalid_argument("micro_batch must be at least 1");
    if (ratio_ <= 0) throw std::invalid_argument("unlabeled_ratio must be > 0");
    options_.kind = parse_kind(params.get_string("kind"));
    options_.temperature = static_cast<float>(params.get_float("temperature"));
    for (double t : params.get_numbers("thresholds")) options_.thresholds.push_back(static_cast<float>(t));
    options_.hierarchy_mode = parse_hierarchy_mode(params.get_string("hierarchy_mode"));

    const std::string cache_path = params.get_path("cache").string();
    const std::string manifest_path = params.get_path("manifest").string();
    unlabeled_ = load_manifest(manifest_path, nullptr);
    reader_ = std::make_unique<PseudoLabelCacheReader>(cache_path);
    check_cache_matches(cache_path, manifest_path);
    if (!params.get_string("labeled_manifest").empty())
      labeled_.emplace(load_manifest(params.get_path("labeled_manifest").string(), &hierarchy_), seed_);

    label_all_rows();
    const long per_class = params.get_int("balance_per_class");
    if (per_class < 0) throw std::invalid_argument("balance_per_class must be >= 0");
    if (per_class > 0) {
      pool_ = expand_rows(balance_classes(labels_, hierarchy_, {-1, per_class, seed_}));
    } else {
      for (long row = 0; row < reader_->rows(); ++row)
        for (const auto& level : labels_)
          if (level.labels[static_cast<std::size_t>(row)] >= 0) {
            pool_.push_back(row);
            break;
          }
    }
    if (pool_.empty())
      throw std::invalid_argument(fmt::format("{}: no image keeps a pseudo-label at any level; lower thresholds", cache_path));
    const auto stats = pseudo_label_stats(labels_, hierarchy_);
    report_ = {{"cache", cache_path},
               {"rows", reader_->rows()},
               {"pseudo_labeled_per_epoch", pool_.size()},
               {"labeled_per_epoch", labeled_ ? labeled_count(static_cast<long>(pool_.size())) : 0},
               {"levels", stats_to_json(stats, hierarchy_)}};
    spdlog::info("{}: {} of {} cached rows make {} pseudo-labeled images per epoch (+{} labeled)", params.node_name(),
                 stats.back().kept, reader_->rows(), pool_.size(), report_["labeled_per_epoch"].get<long>());
    start_epoch();
  }

  bool generate(Emitter& out) override {
    if (position_ == order_.size()) {
      if (epoch_ + 1 >= epochs_) return false;
      ++epoch_;
      start_epoch();
    }
    const std::size_t end = std::min(order_.size(), position_ + static_cast<std::size_t>(micro_batch_));
    std::vector<long> rows(order_.begin() + static_cast<long>(position_), order_.begin() + static_cast<long>(end));
    Samples samples = pseudo_samples(rows);
    const long labeled_total = labeled_ ? labeled_count(static_cast<long>(end)) : 0;
    for (; labeled_emitted_ < labeled_total; ++labeled_emitted_) samples.push_back(next_labeled_sample());
    std::string origin = fmt::format("pseudo-labels {}..{} of epoch {} ({})", position_, end - 1, epoch_, reader_->header().fingerprints.teacher);
    position_ = end;
    out.emit(std::move(samples), std::move(origin));
    return true;
  }

  nlohmann::json report() const override { return report_; }

 private:
  void check_cache_matches(const std::string& cache_path, const std::string& manifest_path) const {
    const CacheHeader& header = reader_->header();
    check_cache_levels(header, hierarchy_, cache_path);
    if (header.fingerprints.manifest != fingerprint_file(manifest_path) ||
        reader_->rows() != static_cast<long>(unlabeled_.rows.size()))
      throw std::invalid_argument(fmt::format("{}: made from another manifest than {}; rerun teacher_inference on it",
                                              cache_path, manifest_path));
  }

  // Labels and confidences of every row (no probabilities kept), for balancing and statistics.
  void label_all_rows() {
    labels_.assign(static_cast<std::size_t>(hierarchy_.num_levels()), {});
    for (long begin = 0; begin < reader_->rows(); begin += kLabelingChunk) {
      const CacheRows chunk = reader_->read_range(begin, std::min(reader_->rows(), begin + kLabelingChunk));
      PseudoLabels labeled = make_pseudo_labels(chunk.probabilities, hierarchy_, options_);
      for (std::size_t level = 0; level < labels_.size(); ++level) {
        auto& into = labels_[level];
        into.labels.insert(into.labels.end(), labeled[level].labels.begin(), labeled[level].labels.end());
        into.confidence.insert(into.confidence.end(), labeled[level].confidence.begin(), labeled[level].confidence.end());
      }
    }
  }

  long labeled_count(long pseudo_emitted) const { return static_cast<long>(static_cast<double>(pseudo_emitted) / ratio_); }

  // Samples for cache rows, with their targets recomputed from the stored probabilities (the same
  // deterministic function as at construction, so they agree with the balancing).
  Samples pseudo_samples(const std::vector<long>& rows) {
    const CacheRows cached = reader_->read_rows(rows);
    const PseudoLabels labels = make_pseudo_labels(cached.probabilities, hierarchy_, options_);
    Samples samples(rows.size());
    for (std::size_t k = 0; k < rows.size(); ++k) {
      Sample& s = samples[k];
      s.path = unlabeled_.image_path(unlabeled_.rows[static_cast<std::size_t>(rows[k])]);
      // Rows repeat (balancing duplicates, labeled images cycle), so augmentation seeds come from
      // the position in the epoch's stream, not the manifest row.
      s.index = shard_.position(emitted_in_epoch_++);
      s.epoch = epoch_;
      s.labels.assign(classes_.size(), -1);
      s.soft_targets.resize(classes_.size());
      for (std::size_t level = 0; level < classes_.size(); ++level) {
        const int label = labels[level].labels[k];
        if (label < 0) continue;
        if (options_.kind == PseudoLabelKind::hard) {
          s.soft_targets[level] = one_hot(label, classes_[level]);
        } else {
          const float* row = labels[level].targets.row(static_cast<long>(k));
          s.soft_targets[level].assign(row, row + classes_[level]);
        }
      }
    }
    return samples;
  }

  Sample next_labeled_sample() {
    const ManifestRow& row = labeled_->next();
    Sample s;
    s.path = labeled_->manifest().image_path(row);
    s.index = shard_.position(emitted_in_epoch_++);
    s.epoch = epoch_;
    s.labels = row.labels;
    s.soft_targets.resize(classes_.size());
    for (std::size_t level = 0; level < classes_.size(); ++level)
      if (row.labels[level] >= 0) s.soft_targets[level] = one_hot(row.labels[level], classes_[level]);
    return s;
  }

  void start_epoch() {
    std::vector<long> order = pool_;
    if (shuffle_) {
      Rng rng = Rng::for_item(seed_, static_cast<std::uint64_t>(epoch_), 0);
      shuffle_in_place(order, rng);
    }
    order_ = shard_.take(order);
    position_ = 0;
    labeled_emitted_ = 0;
    emitted_in_epoch_ = 0;
  }

  Shard shard_ = Shard::of_this_process();
  Hierarchy hierarchy_;
  std::vector<int> classes_;  // per level
  double ratio_;
  std::int64_t epochs_;
  bool shuffle_;
  std::uint64_t seed_;
  std::int64_t micro_batch_;
  PseudoLabelOptions options_;
  Manifest unlabeled_;
  std::optional<LabeledCycle> labeled_;
  std::unique_ptr<PseudoLabelCacheReader> reader_;
  PseudoLabels labels_;
  std::vector<long> pool_;
  nlohmann::json report_;

  std::vector<long> order_;
  std::size_t position_ = 0;
  std::int64_t epoch_ = 0;
  std::uint64_t emitted_in_epoch_ = 0;
  long labeled_emitted_ = 0;
};

SEMIFLOW_REGISTER_NODE(PseudoLabel);

}  // namespace
}  // namespace semiflow::nodes
