#include "datasets/pseudo_labels.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

namespace semiflow {
namespace {

int argmax(const float* row, int classes) { return static_cast<int>(std::max_element(row, row + classes) - row); }

void check_probabilities(const std::vector<ProbabilityMatrix>& probabilities, const Hierarchy& hierarchy) {
  if (static_cast<int>(probabilities.size()) != hierarchy.num_levels())
    throw std::invalid_argument(fmt::format("pseudo-labels: {} probability matrices for the {} levels of {}",
                                            probabilities.size(), hierarchy.num_levels(), hierarchy.source()));
  for (int l = 0; l < hierarchy.num_levels(); ++l) {
    const auto& p = probabilities[l];
    const int classes = static_cast<int>(hierarchy.level(l).classes.size());
    if (p.classes != classes || static_cast<long>(p.values.size()) != p.rows * p.classes)
      throw std::invalid_argument(fmt::format("pseudo-labels: level '{}' has {} classes in {} but the matrix is {}x{} ({} values)",
                                              hierarchy.level(l).name, classes, hierarchy.source(), p.rows, p.classes,
                                              p.values.size()));
    if (p.rows != probabilities[0].rows)
      throw std::invalid_argument(fmt::format("pseudo-labels: level '{}' has {} rows, level '{}' has {}", hierarchy.level(l).name,
                                              p.rows, hierarchy.level(0).name, probabilities[0].rows));
  }
}

std::vector<float> resolve_thresholds(const std::vector<float>& thresholds, int levels) {
  if (thresholds.empty()) return std::vector<float>(levels, 0.0f);
  if (thresholds.size() == 1) return std::vector<float>(levels, thresholds[0]);
  if (static_cast<int>(thresholds.size()) != levels)
    throw std::invalid_argument(
        fmt::format("pseudo-labels: {} thresholds for {} levels; give one per level or one for all", thresholds.size(), levels));
  return thresholds;
}

// The leaf maximising the product of probabilities along its root-to-leaf path, written as
// one label per level into `out` (row `r` of each level).
void decode_best_path(const std::vector<ProbabilityMatrix>& probabilities, const Hierarchy& hierarchy, long r,
                      std::vector<int>& out) {
  const int levels = hierarchy.num_levels();
  std::vector<double> score(probabilities[0].row(r), probabilities[0].row(r) + probabilities[0].classes);
  for (int l = 1; l < levels; ++l) {
    const float* p = probabilities[l].row(r);
    std::vector<double> next(probabilities[l].classes);
    for (int c = 0; c < probabilities[l].classes; ++c) next[c] = score[hierarchy.parent(l, c)] * p[c];
    score = std::move(next);
  }
  out[levels - 1] = static_cast<int>(std::max_element(score.begin(), score.end()) - score.begin());
  for (int l = levels - 1; l > 0; --l) out[l - 1] = hierarchy.parent(l, out[l]);
}

}  // namespace

void apply_temperature(ProbabilityMatrix& probabilities, float temperature) {
  if (!(temperature > 0.0f)) throw std::invalid_argument(fmt::format("temperature must be > 0, got {}", temperature));
  if (temperature == 1.0f) return;
  const float inverse = 1.0f / temperature;
  for (long r = 0; r < probabilities.rows; ++r) {
    float* p = probabilities.row(r);
    const float top = *std::max_element(p, p + probabilities.classes);
    if (!(top > 0.0f)) throw std::invalid_argument(fmt::format("temperature: row {} has no positive probability", r));
    // p^(1/T) / sum = exp((log p - log top) / T) / sum: the top entry becomes 1, nothing overflows.
    const float log_top = std::log(top);
    double sum = 0.0;
    for (int c = 0; c < probabilities.classes; ++c) {
      p[c] = p[c] > 0.0f ? std::exp((std::log(p[c]) - log_top) * inverse) : 0.0f;
      sum += p[c];
    }
    for (int c = 0; c < probabilities.classes; ++c) p[c] = static_cast<float>(p[c] / sum);
  }
}

void softmax_rows(ProbabilityMatrix& logits, float temperature) {
  if (!(temperature > 0.0f)) throw std::invalid_argument(fmt::format("temperature must be > 0, got {}", temperature));
  for (long r = 0; r < logits.rows; ++r) {
    float* z = logits.row(r);
    const float top = *std::max_element(z, z + logits.classes);
    double sum = 0.0;
    for (int c = 0; c < logits.classes; ++c) {
      z[c] = std::exp((z[c] - top) / temperature);
      sum += z[c];
    }
    for (int c = 0; c < logits.classes; ++c) z[c] = static_cast<float>(z[c] / sum);
  }
}

PseudoLabels make_pseudo_labels(const std::vector<ProbabilityMatrix>& probabilities, const Hierarchy& hierarchy,
                                const PseudoLabelOptions& options) {
  check_probabilities(probabilities, hierarchy);
  const int levels = hierarchy.num_levels();
  const long rows = probabilities.empty() ? 0 : probabilities[0].rows;
  const auto thresholds = resolve_thresholds(options.thresholds, levels);

  PseudoLabels out(levels);
  for (auto& level : out) {
    level.labels.resize(rows);
    level.confidence.resize(rows);
  }
  std::vector<int> path(levels);
  for (long r = 0; r < rows; ++r) {
    if (options.hierarchy_mode == HierarchyMode::best_path) {
      decode_best_path(probabilities, hierarchy, r, path);
    } else {
      for (int l = 0; l < levels; ++l) path[l] = argmax(probabilities[l].row(r), probabilities[l].classes);
    }
    for (int l = 0; l < levels; ++l) out[l].confidence[r] = probabilities[l].row(r)[path[l]];
    if (options.hierarchy_mode == HierarchyMode::drop_inconsistent) {
      // Top-down, so one inconsistent level drops everything below it.
      for (int l = 1; l < levels; ++l)
        if (path[l - 1] == kUnknownLabel || hierarchy.parent(l, path[l]) != path[l - 1]) path[l] = kUnknownLabel;
    }
    for (int l = 0; l < levels; ++l)
      out[l].labels[r] = path[l] != kUnknownLabel && out[l].confidence[r] >= thresholds[l] ? path[l] : kUnknownLabel;
  }
  if (options.kind == PseudoLabelKind::soft) {
    for (int l = 0; l < levels; ++l) {
      out[l].targets = probabilities[l];
      apply_temperature(out[l].targets, options.temperature);
    }
  }
  return out;
}

std::vector<WeightedRow> balance_classes(const PseudoLabels& labels, const Hierarchy& hierarchy,
                                         const BalanceOptions& options) {
  const int level = options.level < 0 ? hierarchy.num_levels() - 1 : options.level;
  if (level >= hierarchy.num_levels() || level >= static_cast<int>(labels.size()))
    throw std::invalid_argument(fmt::format("balance: level {} does not exist ({} levels in {})", options.level,
                                            hierarchy.num_levels(), hierarchy.source()));
  if (options.per_class <= 0)
    throw std::invalid_argument(fmt::format("balance: images per class must be > 0, got {}", options.per_class));
  const auto& target = labels[level];
  const int classes = static_cast<int>(hierarchy.level(level).classes.size());
  std::vector<std::vector<long>> by_class(classes);
  for (long r = 0; r < static_cast<long>(target.labels.size()); ++r)
    if (target.labels[r] != kUnknownLabel) by_class.at(target.labels[r]).push_back(r);

  const long k = options.per_class;
  std::mt19937_64 rng(options.seed);
  std::vector<WeightedRow> out;
  for (auto& rows : by_class) {
    const long n = static_cast<long>(rows.size());
    if (n == 0) continue;
    if (n >= k) {
      std::stable_sort(rows.begin(), rows.end(), [&](long a, long b) { return target.confidence[a] > target.confidence[b]; });
      for (long i = 0; i < k; ++i) out.push_back({rows[i], 1});
      continue;
    }
    // K/n copies each; the K mod n rows that get one more are drawn without replacement
    // (partial Fisher-Yates with a fixed formula, so a seed gives the same set everywhere).
    const int base = static_cast<int>(k / n);
    const long extra = k % n;
    for (long i = 0; i < extra; ++i) std::swap(rows[i], rows[i + static_cast<long>(rng() % (n - i))]);
    for (long i = 0; i < n; ++i) out.push_back({rows[i], base + (i < extra ? 1 : 0)});
  }
  std::sort(out.begin(), out.end(), [](const WeightedRow& a, const WeightedRow& b) { return a.row < b.row; });
  return out;
}

std::vector<long> expand_rows(const std::vector<WeightedRow>& rows) {
  std::vector<long> out;
  for (const auto& row : rows) out.insert(out.end(), row.copies, row.row);
  return out;
}

ConfidenceSummary summarize_confidence(std::vector<float> confidence, int bins, std::vector<double> quantile_levels) {
  if (bins <= 0) throw std::invalid_argument(fmt::format("confidence histogram needs > 0 bins, got {}", bins));
  ConfidenceSummary s;
  s.count = static_cast<long>(confidence.size());
  s.histogram.assign(bins, 0);
  s.quantile_levels = std::move(quantile_levels);
  if (confidence.empty()) return s;
  std::sort(confidence.begin(), confidence.end());
  double sum = 0.0;
  for (float c : confidence) {
    sum += c;
    s.histogram[std::clamp(static_cast<int>(c * bins), 0, bins - 1)]++;
  }
  s.mean = sum / s.count;
  for (double q : s.quantile_levels) {
    const long rank = static_cast<long>(std::ceil(q * s.count)) - 1;
    s.quantiles.push_back(confidence[std::clamp(rank, 0L, s.count - 1)]);
  }
  return s;
}

std::vector<LevelPseudoLabelStats> pseudo_label_stats(const PseudoLabels& labels, const Hierarchy& hierarchy, int bins) {
  std::vector<LevelPseudoLabelStats> out;
  for (int l = 0; l < static_cast<int>(labels.size()); ++l) {
    LevelPseudoLabelStats s;
    s.rows = static_cast<long>(labels[l].labels.size());
    s.class_counts.assign(hierarchy.level(l).classes.size(), 0);
    for (int label : labels[l].labels)
      if (label != kUnknownLabel) {
        s.class_counts.at(label)++;
        s.kept++;
      }
    s.kept_fraction = s.rows ? static_cast<double>(s.kept) / s.rows : 0.0;
    s.confidence = summarize_confidence(labels[l].confidence, bins);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace semiflow
