#include "nodes/metrics.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <stdexcept>

namespace semiflow {
namespace {

// Every root-to-leaf path of the tree as a full label vector (-1 below a class without children).
std::vector<std::vector<int>> leaf_paths(const Hierarchy& hierarchy) {
  std::vector<std::vector<int>> paths;
  for (int level = 0; level < hierarchy.num_levels(); ++level) {
    const int classes = static_cast<int>(hierarchy.level(level).classes.size());
    std::vector<bool> has_children(static_cast<std::size_t>(classes), false);
    if (level + 1 < hierarchy.num_levels())
      for (int parent : hierarchy.level(level + 1).parents) has_children[static_cast<std::size_t>(parent)] = true;
    for (int cls = 0; cls < classes; ++cls)
      if (!has_children[static_cast<std::size_t>(cls)]) paths.push_back(hierarchy.path_to(level, cls));
  }
  return paths;
}

void check_level_count(const Hierarchy& hierarchy, std::size_t got, const char* what) {
  if (static_cast<int>(got) != hierarchy.num_levels())
    throw std::invalid_argument(fmt::format("metrics: {} has {} levels but hierarchy {} has {}", what, got,
                                            hierarchy.source(), hierarchy.num_levels()));
}

std::vector<std::vector<int>> rows_of(const torch::Tensor& matrix) {  // [N, L] int64 -> per image
  const auto cpu = matrix.to(torch::kCPU, torch::kInt64).contiguous();
  const auto* data = cpu.data_ptr<std::int64_t>();
  const auto n = cpu.size(0), levels = cpu.size(1);
  std::vector<std::vector<int>> rows(static_cast<std::size_t>(n), std::vector<int>(static_cast<std::size_t>(levels)));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t l = 0; l < levels; ++l) rows[i][l] = static_cast<int>(data[i * levels + l]);
  return rows;
}

nlohmann::ordered_json decoding_json(const DecodingMetrics& metrics) {
  nlohmann::ordered_json levels = nlohmann::ordered_json::object();
  for (const auto& level : metrics.levels) {
    levels[level.level] = {{"count", level.count},
                           {"accuracy", level.accuracy},
                           {"macro_f1", level.macro_f1},
                           {"confusion", level.confusion}};
  }
  nlohmann::ordered_json out;
  out["levels"] = std::move(levels);
  out["airush_score"] = metrics.airush_score;
  out["exact_path_accuracy"] = metrics.exact_path_accuracy;
  out["consistency"] = metrics.consistency;
  return out;
}

double ratio(double numerator, std::int64_t denominator) {
  return denominator > 0 ? numerator / static_cast<double>(denominator) : 0.0;
}

}  // namespace

torch::Tensor decode_consistent_paths(const Hierarchy& hierarchy, const std::vector<torch::Tensor>& logits) {
  check_level_count(hierarchy, logits.size(), "the logits");
  const auto paths = leaf_paths(hierarchy);
  const auto num_paths = static_cast<std::int64_t>(paths.size());
  const std::int64_t n = logits.front().size(0);
  auto scores = torch::zeros({n, num_paths}, torch::kFloat32);
  auto path_table = torch::empty({num_paths, hierarchy.num_levels()}, torch::kInt64);
  for (int level = 0; level < hierarchy.num_levels(); ++level) {
    auto classes = torch::empty({num_paths}, torch::kInt64);
    for (std::int64_t p = 0; p < num_paths; ++p) {
      classes[p] = paths[p][level];
      path_table[p][level] = paths[p][level];
    }
    const auto on_path = classes.ge(0);
    const auto log_probs = torch::log_softmax(logits[level].detach().to(torch::kCPU, torch::kFloat32), 1);
    // torch::where rather than a 0/1 multiply: a -inf log-probability times 0 would be NaN.
    scores += torch::where(on_path, log_probs.index_select(1, classes.clamp_min(0)), torch::zeros({}, torch::kFloat32));
  }
  return path_table.index_select(0, scores.argmax(1));
}

HierarchicalMetrics::HierarchicalMetrics(const Hierarchy& hierarchy) : hierarchy_(hierarchy) {
  for (auto& path : leaf_paths(hierarchy_)) tree_paths_.insert(std::move(path));
  for (Tally* t : {&argmax_, &consistent_}) {
    for (int k : hierarchy_.classes_per_level()) {
      const auto classes = static_cast<std::size_t>(k);
      t->confusion.emplace_back(classes, std::vector<std::int64_t>(classes, 0));
      t->predicted_none.emplace_back(classes, 0);
    }
  }
}

void HierarchicalMetrics::add(const std::vector<torch::Tensor>& logits, const std::vector<torch::Tensor>& labels) {
  check_level_count(hierarchy_, logits.size(), "the logits");
  check_level_count(hierarchy_, labels.size(), "the labels");
  const auto classes = hierarchy_.classes_per_level();
  const std::int64_t n = logits.front().size(0);
  std::vector<torch::Tensor> argmax;
  for (int level = 0; level < hierarchy_.num_levels(); ++level) {
    const auto& level_logits = logits[level];
    if (level_logits.dim() != 2 || level_logits.size(0) != n || level_logits.size(1) != classes[level])
      throw std::invalid_argument(fmt::format("metrics: logits of level '{}' are [{}] but [{}, {}] was expected",
                                              hierarchy_.level(level).name, fmt::join(level_logits.sizes(), ", "), n,
                                              classes[level]));
    if (labels[level].dim() != 1 || labels[level].size(0) != n)
      throw std::invalid_argument(fmt::format("metrics: labels of level '{}' are [{}] but [{}] was expected",
                                              hierarchy_.level(level).name, fmt::join(labels[level].sizes(), ", "), n));
    argmax.push_back(level_logits.detach().argmax(1).to(torch::kCPU));
  }
  std::vector<torch::Tensor> label_columns;
  for (const auto& level_labels : labels) label_columns.push_back(level_labels.to(torch::kCPU));
  add_predictions(rows_of(torch::stack(argmax, 1)), rows_of(decode_consistent_paths(hierarchy_, logits)),
                  rows_of(torch::stack(label_columns, 1)));
}

void HierarchicalMetrics::add_predictions(const std::vector<std::vector<int>>& argmax_paths,
                                          const std::vector<std::vector<int>>& consistent_paths,
                                          const std::vector<std::vector<int>>& labels) {
  if (argmax_paths.size() != labels.size() || consistent_paths.size() != labels.size())
    throw std::invalid_argument(fmt::format("metrics: {} argmax paths, {} consistent paths and {} label rows differ",
                                            argmax_paths.size(), consistent_paths.size(), labels.size()));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    check_level_count(hierarchy_, argmax_paths[i].size(), "an argmax path");
    check_level_count(hierarchy_, consistent_paths[i].size(), "a consistent path");
    check_level_count(hierarchy_, labels[i].size(), "a label row");
    tally(argmax_, argmax_paths[i], labels[i]);
    tally(consistent_, consistent_paths[i], labels[i]);
    ++images_;
    for (int label : labels[i]) {
      if (label != kUnknownLabel) {
        ++scored_images_;
        break;
      }
    }
  }
}

void HierarchicalMetrics::tally(Tally& t, const std::vector<int>& predicted, const std::vector<int>& labels) const {
  int labeled = 0, right_from_top = 0;
  bool missed = false;
  for (int level = 0; level < hierarchy_.num_levels(); ++level) {
    const int label = labels[level], guess = predicted[level];
    const auto classes = static_cast<int>(t.confusion[level].size());
    if (guess < kUnknownLabel || guess >= classes)
      throw std::invalid_argument(fmt::format("metrics: predicted class {} at level '{}' is outside 0..{}", guess,
                                              hierarchy_.level(level).name, classes - 1));
    if (label == kUnknownLabel) continue;  // neither counts nor stops the top-down walk
    if (label < 0 || label >= classes)
      throw std::invalid_argument(fmt::format("metrics: label {} at level '{}' is outside 0..{} (-1: unknown)", label,
                                              hierarchy_.level(level).name, classes - 1));
    ++labeled;
    if (guess == kUnknownLabel)
      ++t.predicted_none[level][label];
    else
      ++t.confusion[level][label][guess];
    if (guess != label) missed = true;
    if (!missed) ++right_from_top;
  }
  if (labeled > 0) {
    t.airush_sum += static_cast<double>(right_from_top) / labeled;
    if (right_from_top == labeled) ++t.exact_paths;
  }
  if (tree_paths_.count(predicted) > 0) ++t.consistent_paths;
}

DecodingMetrics HierarchicalMetrics::summarise(const Tally& t) const {
  DecodingMetrics out;
  for (int level = 0; level < hierarchy_.num_levels(); ++level) {
    const auto& confusion = t.confusion[level];
    const auto classes = confusion.size();
    LevelMetrics m;
    m.level = hierarchy_.level(level).name;
    m.confusion = confusion;
    std::vector<std::int64_t> predicted_as(classes, 0);
    std::int64_t correct = 0;
    for (std::size_t truth = 0; truth < classes; ++truth) {
      m.count += t.predicted_none[level][truth];
      for (std::size_t guess = 0; guess < classes; ++guess) {
        m.count += confusion[truth][guess];
        predicted_as[guess] += confusion[truth][guess];
      }
      correct += confusion[truth][truth];
    }
    double f1_sum = 0.0;
    int f1_classes = 0;
    for (std::size_t c = 0; c < classes; ++c) {
      std::int64_t labeled_as = t.predicted_none[level][c];
      for (auto cell : confusion[c]) labeled_as += cell;
      const std::int64_t tp = confusion[c][c], fp = predicted_as[c] - tp, fn = labeled_as - tp;
      if (2 * tp + fp + fn == 0) continue;  // class absent from labels and predictions
      f1_sum += 2.0 * static_cast<double>(tp) / static_cast<double>(2 * tp + fp + fn);
      ++f1_classes;
    }
    m.accuracy = ratio(static_cast<double>(correct), m.count);
    m.macro_f1 = ratio(f1_sum, f1_classes);
    out.levels.push_back(std::move(m));
  }
  out.airush_score = ratio(t.airush_sum, scored_images_);
  out.exact_path_accuracy = ratio(static_cast<double>(t.exact_paths), scored_images_);
  out.consistency = ratio(static_cast<double>(t.consistent_paths), images_);
  return out;
}

EvaluationResult HierarchicalMetrics::result() const {
  EvaluationResult out;
  out.argmax = summarise(argmax_);
  out.consistent = summarise(consistent_);
  out.images = images_;
  out.scored_images = scored_images_;
  return out;
}

nlohmann::ordered_json EvaluationResult::to_json() const {
  nlohmann::ordered_json out;
  out["images"] = images;
  out["scored_images"] = scored_images;
  // A named object: iterating items() of a temporary would dangle (the range-for keeps only the proxy).
  const auto top_level = decoding_json(argmax);
  for (const auto& [key, value] : top_level.items()) out[key] = value;
  out["consistent"] = decoding_json(consistent);
  return out;
}

std::string EvaluationResult::to_table() const {
  std::string table = fmt::format("{:<12} {:<10} {:>7} {:>9} {:>9}\n", "decoding", "level", "count", "accuracy", "macro-F1");
  const std::pair<const char*, const DecodingMetrics*> decodings[] = {{"argmax", &argmax}, {"consistent", &consistent}};
  for (const auto& [name, metrics] : decodings)
    for (const auto& level : metrics->levels)
      table += fmt::format("{:<12} {:<10} {:>7} {:>9.4f} {:>9.4f}\n", name, level.level, level.count, level.accuracy,
                           level.macro_f1);
  table += fmt::format("\n{:<12} {:>12} {:>11} {:>12}\n", "decoding", "AI Rush", "exact path", "consistency");
  for (const auto& [name, metrics] : decodings)
    table += fmt::format("{:<12} {:>12.4f} {:>11.4f} {:>12.4f}\n", name, metrics->airush_score,
                         metrics->exact_path_accuracy, metrics->consistency);
  table += fmt::format("{} images, {} with at least one labeled level\n", images, scored_images);
  return table;
}

}  // namespace semiflow
