#pragma once
// Noisy Student pseudo-labels from a teacher's per-level class probabilities: temperature,
// soft or hard targets, per-level confidence thresholds, hierarchy-consistent paths, class
// balancing (top-K most confident per class, rare classes duplicated) and statistics.
// Plain arrays only, so the teacher node (torch) and the cache (HDF5) both feed it directly.
#include "datasets/hierarchy.h"

#include <cstdint>
#include <vector>

namespace semiflow {

// Row-major [rows x classes] floats: one hierarchy level's probabilities (or logits) for a
// set of images.
struct ProbabilityMatrix {
  long rows = 0;
  int classes = 0;
  std::vector<float> values;

  ProbabilityMatrix() = default;
  ProbabilityMatrix(long rows, int classes) : rows(rows), classes(classes), values(rows * classes) {}
  float* row(long r) { return values.data() + r * classes; }
  const float* row(long r) const { return values.data() + r * classes; }
};

// Sharpens (T < 1) or flattens (T > 1) each row in place: p^(1/T) renormalised, which equals
// softmax(logits / T) for p = softmax(logits). T = 1 leaves the rows unchanged. Computed in the
// log domain so small T does not underflow. Throws when T <= 0 or a row has no positive entry.
void apply_temperature(ProbabilityMatrix& probabilities, float temperature);
// softmax(logits / T) per row, in place.
void softmax_rows(ProbabilityMatrix& logits, float temperature = 1.0f);

enum class PseudoLabelKind { soft, hard };

enum class HierarchyMode {
  independent,        // every level takes its own argmax
  drop_inconsistent,  // a level whose argmax is not a child of the coarser level's argmax is
                      // dropped (-1), and so is every finer level below it
  best_path,          // the root-to-leaf path with the largest product of level probabilities
};

struct PseudoLabelOptions {
  PseudoLabelKind kind = PseudoLabelKind::soft;
  // Noisy Student uses T = 1 (the teacher's own probabilities).
  float temperature = 1.0f;
  // Per level: a label whose confidence is below it becomes -1 (no target at that level).
  // Empty keeps every label; one value applies to every level.
  std::vector<float> thresholds;
  HierarchyMode hierarchy_mode = HierarchyMode::independent;
};

struct LevelPseudoLabels {
  std::vector<int> labels;      // chosen class per row; -1 = ignored at this level
  // The teacher's probability of the chosen class (before temperature, so thresholds mean
  // the same whatever T is); kept for dropped rows too, for statistics.
  std::vector<float> confidence;
  ProbabilityMatrix targets;    // soft kind: tempered probabilities; hard kind: empty
};

// One entry per hierarchy level, coarse to fine.
using PseudoLabels = std::vector<LevelPseudoLabels>;

// `probabilities` holds one matrix per level of `hierarchy`, all with the same rows and the
// level's class count. Errors name the level and what does not match.
PseudoLabels make_pseudo_labels(const std::vector<ProbabilityMatrix>& probabilities, const Hierarchy& hierarchy,
                                const PseudoLabelOptions& options);

struct BalanceOptions {
  int level = -1;          // level whose classes are balanced; -1 = the finest
  long per_class = 0;      // K: images per class after balancing; must be > 0
  std::uint64_t seed = 0;  // rounds the fractional copies of rare classes
};

struct WeightedRow {
  long row = 0;    // index into the pseudo-labelled rows
  int copies = 0;  // how often the row appears in the balanced set
};

// Noisy Student class balancing on `labels[level]`: a class with more than K kept rows keeps
// its K most confident (ties: lower row first); a class with n < K rows keeps all, each
// repeated K/n times with the fractional part rounded at random (seeded) such that the class
// totals exactly K. Rows with label -1 at the level are left out. Sorted by row.
std::vector<WeightedRow> balance_classes(const PseudoLabels& labels, const Hierarchy& hierarchy,
                                         const BalanceOptions& options);
// Every row repeated `copies` times, in row order.
std::vector<long> expand_rows(const std::vector<WeightedRow>& rows);

// Mean, quantiles and an equal-width histogram over [0, 1] of confidences.
struct ConfidenceSummary {
  long count = 0;
  double mean = 0.0;
  std::vector<double> quantile_levels;  // e.g. 0.05, 0.25, 0.5, 0.75, 0.95
  std::vector<double> quantiles;        // nearest-rank values at those levels
  std::vector<long> histogram;          // bin i covers [i/bins, (i+1)/bins); 1.0 in the last
};
ConfidenceSummary summarize_confidence(std::vector<float> confidence, int bins = 20,
                                       std::vector<double> quantile_levels = {0.05, 0.25, 0.5, 0.75, 0.95});

struct LevelPseudoLabelStats {
  long rows = 0;
  long kept = 0;  // rows with a label at this level
  double kept_fraction = 0.0;
  std::vector<long> class_counts;  // kept rows per class
  ConfidenceSummary confidence;    // over all rows, kept or not, to show where thresholds cut
};

std::vector<LevelPseudoLabelStats> pseudo_label_stats(const PseudoLabels& labels, const Hierarchy& hierarchy,
                                                      int bins = 20);

}  // namespace semiflow
