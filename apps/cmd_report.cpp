// `semiflow report RUN_DIR...`: one self-contained HTML page (inline SVG, no scripts, no network)
// from run folders' summary.json and the metrics.jsonl of every training node it names:
// per-round table, the training nodes' hyperparameters, loss / learning-rate / accuracy curves
// per epoch (or training wall-clock time), teacher vs student, pseudo-label confidence histograms
// and class balance, confusion-matrix heat maps, and the graph's per-node throughput. Several run
// folders overlay on the same charts, a colour per run.
#include "apps/command.h"
#include "apps/report.h"
#include "datasets/hierarchy.h"
#include "graph/phases.h"
#include "nodes/checkpoint.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace semiflow::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
// With several runs colour tells the runs apart, so the curves of one run differ by dash pattern.
const char* kDashes[] = {"", "7 3", "2 3", "9 3 2 3", "1 2", "12 4"};

const char* colour(std::size_t k) { return kPalette[k % std::size(kPalette)]; }
const char* dash(std::size_t k) { return kDashes[k % std::size(kDashes)]; }

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// Layout estimates need text widths without a font engine: an average glyph is about 0.6 em.
double text_width(const std::string& text, double font_size) { return 0.6 * font_size * static_cast<double>(text.size()); }

struct Series {
  std::string name;
  std::vector<double> x, y;
  std::string colour, dash;
};

struct LegendEntry {
  std::string label, colour, dash;
};

struct Chart {
  std::vector<Series> series;
  std::vector<LegendEntry> legend;
};

// One run: a colour per curve name. Several: a colour per run and a dash pattern per curve name,
// with both in the legend. per_run[r] holds run r's curves.
Chart overlay(const std::vector<std::vector<Series>>& per_run, const std::vector<std::string>& runs) {
  std::vector<std::string> names;
  for (const auto& curves : per_run)
    for (const auto& s : curves)
      if (std::find(names.begin(), names.end(), s.name) == names.end()) names.push_back(s.name);
  const bool several = runs.size() > 1;
  Chart chart;
  for (std::size_t r = 0; r < per_run.size(); ++r) {
    for (Series s : per_run[r]) {
      const auto k = static_cast<std::size_t>(std::find(names.begin(), names.end(), s.name) - names.begin());
      s.colour = several ? colour(r) : colour(k);
      s.dash = several ? dash(k) : "";
      chart.series.push_back(std::move(s));
    }
    if (several && !per_run[r].empty()) chart.legend.push_back({runs[r], colour(r), ""});
  }
  if (several && names.size() > 1)
    for (std::size_t k = 0; k < names.size(); ++k) chart.legend.push_back({names[k], "#555", dash(k)});
  if (!several)
    for (std::size_t k = 0; k < names.size(); ++k) chart.legend.push_back({names[k], colour(k), ""});
  return chart;
}

struct Axis {
  double lo = 0, hi = 1, step = 1;
  int ticks() const { return static_cast<int>(std::lround((hi - lo) / step)); }
  double tick(int i) const { return lo + step * i; }
};

// Bounds widened to multiples of a 1-2-5 step that gives about five ticks, so labels are short
// round numbers. `whole`: ticks on integers only (epochs, rounds, counts).
Axis nice_axis(double lo, double hi, bool whole) {
  if (hi - lo <= 1e-12 * std::max(1.0, std::abs(hi))) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo = lo >= 0 ? std::max(0.0, lo - pad) : lo - pad;  // no round -1 or negative count around a lone 0
    hi += pad;
  }
  const double raw = (hi - lo) / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
  if (whole) step = std::max(1.0, step);
  return {std::floor(lo / step + 1e-9) * step, std::ceil(hi / step - 1e-9) * step, step};
}

// As many decimals as the step needs; tiny steps (learning rates) in exponent form.
std::string tick_label(double v, double step) {
  if (std::abs(v) < step * 1e-6) v = 0;  // no "-0.0" from rounding
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  if (decimals > 4 || std::abs(v) >= 1e6) return fmt::format("{:.3g}", v);
  return fmt::format("{:.{}f}", v, decimals);
}

// Plot area in SVG units and the data ranges it shows.
struct Frame {
  Axis x, y;
  double left, top, width, height;
  double px(double v) const { return left + (v - x.lo) / (x.hi - x.lo) * width; }
  double py(double v) const { return top + height - (v - y.lo) / (y.hi - y.lo) * height; }
  double bottom() const { return top + height; }
};

constexpr double kPlotWidth = 340, kPlotHeight = 190, kLeft = 70, kTop = 32, kLegendGap = 14;

std::string svg_open(const std::string& title, double width, double height) {
  return fmt::format(R"(<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{0:.0f}" height="{1:.0f}" viewBox="0 0 {0:.0f} {1:.0f}">)"
                     R"(<rect width="100%" height="100%" fill="#fff"/><text x="8" y="18" font-size="13" font-weight="bold">{2}</text>)",
                     width, height, escape(title));
}

std::string axis_title_x(double x, double y, const std::string& title) {
  return fmt::format(R"(<text class="axis-title" x="{:.1f}" y="{:.1f}" font-size="11" text-anchor="middle">{}</text>)", x, y,
                     escape(title));
}

std::string axis_title_y(double x, double y, const std::string& title) {
  return fmt::format(R"svg(<text class="axis-title" transform="translate({:.1f},{:.1f}) rotate(-90)" font-size="11" text-anchor="middle">{}</text>)svg",
                     x, y, escape(title));
}

// Grid lines, tick labels and the title of the y axis, and the plot's border.
std::string y_axis(const Frame& f, const std::string& title) {
  std::string svg;
  for (int i = 0; i <= f.y.ticks(); ++i) {
    const double y = f.py(f.y.tick(i));
    svg += fmt::format(R"(<line x1="{0:.1f}" x2="{1:.1f}" y1="{2:.1f}" y2="{2:.1f}" stroke="#e6e6e6"/>)"
                       R"(<text class="tick" x="{3:.1f}" y="{4:.1f}" font-size="10" text-anchor="end">{5}</text>)",
                       f.left, f.left + f.width, y, f.left - 5, y + 3.5, tick_label(f.y.tick(i), f.y.step));
  }
  svg += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999"/>)", f.left, f.top, f.width, f.height);
  return svg + axis_title_y(14, f.top + f.height / 2, title);
}

std::string x_axis(const Frame& f, const std::string& title) {
  std::string svg;
  for (int i = 0; i <= f.x.ticks(); ++i) {
    const double x = f.px(f.x.tick(i));
    svg += fmt::format(R"(<line x1="{0:.1f}" x2="{0:.1f}" y1="{1:.1f}" y2="{2:.1f}" stroke="#999"/>)"
                       R"(<text class="tick" x="{0:.1f}" y="{3:.1f}" font-size="10" text-anchor="middle">{4}</text>)",
                       x, f.bottom(), f.bottom() + 4, f.bottom() + 15, tick_label(f.x.tick(i), f.x.step));
  }
  return svg + axis_title_x(f.left + f.width / 2, f.bottom() + 32, title);
}

double legend_width(const std::vector<LegendEntry>& entries) {
  double widest = 0;
  for (const auto& e : entries) widest = std::max(widest, text_width(e.label, 11));
  return entries.empty() ? 0 : widest + 36;
}

std::string legend(const std::vector<LegendEntry>& entries, double x, double y) {
  std::string svg = R"(<g class="legend">)";
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const double row = y + 15 * static_cast<double>(k);
    svg += fmt::format(R"(<line x1="{0:.1f}" x2="{1:.1f}" y1="{2:.1f}" y2="{2:.1f}" stroke="{3}" stroke-width="2.5" stroke-dasharray="{4}"/>)"
                       R"(<text x="{5:.1f}" y="{6:.1f}" font-size="11">{7}</text>)",
                       x, x + 24, row, entries[k].colour, entries[k].dash, x + 30, row + 4, escape(entries[k].label));
  }
  return svg + "</g>";
}

double legend_height(const std::vector<LegendEntry>& entries) { return 15 * static_cast<double>(entries.size()); }

std::string line_chart(const std::string& title, const Chart& chart, const std::string& x_title, const std::string& y_title,
                       bool whole_x) {
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& s : chart.series)
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    }
  if (x0 > x1) return "";
  const Frame f{nice_axis(x0, x1, whole_x), nice_axis(y0, y1, false), kLeft, kTop, kPlotWidth, kPlotHeight};
  const double width = std::max(f.left + f.width + kLegendGap + legend_width(chart.legend) + 8, text_width(title, 13) + 16);
  const double height = std::max(f.bottom() + 44, f.top + legend_height(chart.legend) + 8);
  std::string svg = svg_open(title, width, height) + y_axis(f, y_title) + x_axis(f, x_title);
  for (const auto& s : chart.series) {
    std::string points;
    for (std::size_t i = 0; i < s.x.size(); ++i) points += fmt::format("{:.1f},{:.1f} ", f.px(s.x[i]), f.py(s.y[i]));
    svg += fmt::format(R"(<polyline class="series" fill="none" stroke="{}" stroke-width="1.8" stroke-dasharray="{}" points="{}"><title>{}</title></polyline>)",
                       s.colour, s.dash, points, escape(s.name));
    if (s.x.size() == 1) svg += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="{}"/>)", f.px(s.x[0]), f.py(s.y[0]), s.colour);
  }
  return svg + legend(chart.legend, f.left + f.width + kLegendGap, f.top + 6) + "</svg>\n";
}

// Grouped bars: values[r][i] is run r's bar in group i, a colour per run. `categories` name the
// groups (labels slanted so that long class names do not overlap); without them the groups are
// equal-width bins over [0, 1] on a numeric axis.
std::string bar_chart(const std::string& title, const std::vector<std::vector<double>>& values, const std::vector<std::string>& runs,
                      const std::vector<std::string>& categories, const std::string& x_title, const std::string& y_title) {
  std::size_t groups = 0;
  double top = 1;
  for (const auto& run : values) {
    groups = std::max(groups, run.size());
    for (double v : run) top = std::max(top, v);
  }
  if (groups == 0) return "";
  // Slanted labels take 0.7 of their length downwards; a bin axis takes one row of ticks.
  const double label_drop = categories.empty() ? 0 : 0.7 * [&] {
    double widest = 0;
    for (const auto& c : categories) widest = std::max(widest, text_width(c, 10));
    return widest;
  }();
  const Frame f{{0, 1, 0.2}, nice_axis(0, top, true), kLeft, kTop, kPlotWidth, kPlotHeight};
  std::vector<LegendEntry> entries;
  if (runs.size() > 1)
    for (std::size_t r = 0; r < runs.size(); ++r) entries.push_back({runs[r], colour(r), ""});
  const double width = std::max(f.left + f.width + kLegendGap + legend_width(entries) + 8, text_width(title, 13) + 16);
  const double height = std::max(f.bottom() + label_drop + 44, f.top + legend_height(entries) + 8);
  std::string svg = svg_open(title, width, height) + y_axis(f, y_title);
  const double group = f.width / static_cast<double>(groups);
  const double bar = group / static_cast<double>(values.size());
  for (std::size_t r = 0; r < values.size(); ++r)
    for (std::size_t i = 0; i < values[r].size(); ++i) {
      const double bh = values[r][i] / f.y.hi * f.height;
      const std::string name = i < categories.size() ? categories[i]
                                                     : fmt::format("{:.2f}-{:.2f}", static_cast<double>(i) / static_cast<double>(groups),
                                                                   static_cast<double>(i + 1) / static_cast<double>(groups));
      svg += fmt::format(R"(<rect class="bar" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}"><title>{}{}: {:.4g}</title></rect>)",
                         f.left + group * i + bar * r + 0.5, f.bottom() - bh, std::max(0.5, bar - 1), bh, colour(r),
                         runs.size() > 1 ? runs[r] + " " : "", escape(name), values[r][i]);
    }
  if (categories.empty()) {
    svg += x_axis(f, x_title);
  } else {
    // Every k-th name when they would be denser than one per 11 units (one line of text).
    const auto every = static_cast<std::size_t>(std::ceil(11.0 / group));
    for (std::size_t i = 0; i < categories.size(); i += every) {
      const double x = f.left + group * (static_cast<double>(i) + 0.5);
      svg += fmt::format(R"svg(<text class="tick" transform="translate({:.1f},{:.1f}) rotate(-45)" font-size="10" text-anchor="end">{}</text>)svg",
                         x + 3, f.bottom() + 10, escape(categories[i]));
    }
    svg += axis_title_x(f.left + f.width / 2, f.bottom() + label_drop + 30, x_title);
  }
  return svg + legend(entries, f.left + f.width + kLegendGap, f.top + 6) + "</svg>\n";
}

std::string cell_fill(double share) {
  const int shade = static_cast<int>(255 - 215 * share);
  return fmt::format("rgb({0},{0},255)", shade);
}

// Rows are true classes, columns predicted ones; a cell's shade is its share of the row, so
// classes of any size read alike.
std::string heat_map(const std::string& title, const json& matrix, const std::vector<std::string>& class_names) {
  const auto n = matrix.size();
  if (n == 0) return "";
  std::vector<std::string> names;
  for (std::size_t i = 0; i < n; ++i) names.push_back(class_names.size() == n ? class_names[i] : std::to_string(i));
  double widest = 0;
  for (const auto& name : names) widest = std::max(widest, text_width(name, 10));
  const double cell = std::min(28.0, 300.0 / static_cast<double>(n)), side = cell * static_cast<double>(n);
  const double left = 30 + widest + 6, top = 32;
  const double scale_x = left + side + 18, width = std::max(scale_x + 12 + 40 + 20, text_width(title, 13) + 16);
  const double height = top + side + 0.7 * widest + 48;
  // A grey backdrop shows through the gaps between cells, so empty (white) cells stay visible.
  std::string svg = svg_open(title, width, height) +
                    fmt::format(R"(<rect x="{:.1f}" y="{}" width="{:.1f}" height="{:.1f}" fill="#d8d8d8"/>)", left - 1, top - 1, side + 1, side + 1);
  for (std::size_t r = 0; r < n; ++r) {
    double row_total = 0;
    for (const auto& v : matrix[r]) row_total += v.get<double>();
    svg += fmt::format(R"(<text class="tick" x="{:.1f}" y="{:.1f}" font-size="10" text-anchor="end">{}</text>)", left - 5,
                       top + (static_cast<double>(r) + 0.5) * cell + 3.5, escape(names[r]));
    for (std::size_t c = 0; c < matrix[r].size() && c < n; ++c) {
      const double share = row_total > 0 ? matrix[r][c].get<double>() / row_total : 0;
      svg += fmt::format(R"(<rect class="cell" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}"><title>true {} predicted {}: {}</title></rect>)",
                         left + static_cast<double>(c) * cell, top + static_cast<double>(r) * cell, cell - 1, cell - 1, cell_fill(share),
                         escape(names[r]), escape(names[c]), matrix[r][c].dump());
    }
  }
  for (std::size_t c = 0; c < n; ++c)
    svg += fmt::format(R"svg(<text class="tick" transform="translate({:.1f},{:.1f}) rotate(-45)" font-size="10" text-anchor="end">{}</text>)svg",
                       left + (static_cast<double>(c) + 0.5) * cell + 3, top + side + 8, escape(names[c]));
  svg += axis_title_y(14, top + side / 2, "true");
  svg += axis_title_x(left + side / 2, top + side + 0.7 * widest + 30, "predicted");
  // Colour scale: the same shades in steps, from the bottom (0) to the top (the whole row).
  constexpr int kSteps = 20;
  svg += R"(<g class="colour-scale">)";
  for (int i = 0; i < kSteps; ++i)
    svg += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="12" height="{:.2f}" fill="{}"/>)", scale_x,
                       top + side * (kSteps - 1 - i) / kSteps, side / kSteps + 0.3, cell_fill((i + 0.5) / kSteps));
  svg += fmt::format(R"(<rect x="{:.1f}" y="{}" width="12" height="{:.1f}" fill="none" stroke="#999"/>)", scale_x, top, side);
  for (int percent : {0, 50, 100})
    svg += fmt::format(R"(<text class="tick" x="{:.1f}" y="{:.1f}" font-size="10">{}%</text>)", scale_x + 16,
                       top + side * (100 - percent) / 100 + 3.5, percent);
  svg += axis_title_y(scale_x + 52, top + side / 2, "share of true class");
  return svg + "</g></svg>\n";
}

std::vector<json> read_jsonl(const fs::path& path) {
  std::vector<json> records;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) records.push_back(json::parse(line));
  return records;
}

// One training node of one round's phase: its per-epoch records.
struct Trainer {
  std::string key;  // "Round R: PHASE / NODE", the same in every run that has it
  fs::path metrics;
  std::vector<json> records;
};

struct Run {
  fs::path dir;
  std::string label;  // names the run in legends
  json summary;
  std::vector<Trainer> trainers;
  std::map<std::string, std::map<std::string, std::string>> params;  // trainer key -> parameter -> value
  std::map<std::string, std::vector<std::string>> class_names;       // level -> class names
  std::vector<std::string> notes;                                    // what the report could not show, and why

  // A path the summary recorded, in this folder if the run was moved since.
  fs::path locate(const std::string& recorded) const {
    const std::string then = summary.value("out_dir", "");
    if (then.empty() || recorded.compare(0, then.size(), then) != 0) return recorded;
    return dir / fs::path(recorded.substr(then.size())).relative_path();
  }

  const Trainer* trainer(const std::string& key) const {
    for (const auto& t : trainers)
      if (t.key == key) return &t;
    return nullptr;
  }
};

std::string trainer_key(int round, const std::string& phase, const std::string& node) {
  return fmt::format("Round {}: {} / {}", round, phase, node);
}

template <class F>
void for_each_report(const json& summary, F visit) {
  for (const auto& round : summary["rounds"])
    for (const auto& phase : round["phases"])
      for (const auto& [node, report] : phase["reports"].items()) visit(round["round"].get<int>(), phase["name"].get<std::string>(), node, report);
}

// The hierarchy's class names come from a checkpoint, which embeds it: the run folder holds the
// checkpoints but not necessarily the hierarchy file the config named.
void read_class_names(Run& run, const std::string& checkpoint) {
  if (!run.class_names.empty() || checkpoint.empty()) return;
  try {
    const Hierarchy hierarchy = Hierarchy::parse(read_checkpoint_meta(checkpoint).hierarchy_yaml, checkpoint);
    for (const auto& level : hierarchy.levels()) run.class_names[level.name] = level.classes;
  } catch (const std::exception& e) {
    run.notes.push_back(fmt::format("class names not shown (class indices instead): {}", e.what()));
  }
}

// The parameters each training node ran with, defaults included: the run folder's copy of the
// config, read as if from where it was run (its includes and relative paths resolve there), with
// the --set overrides recorded in run.json and the run folder as out_dir (wherever it is now).
void read_params(Run& run) {
  try {
    std::ifstream record_file(run.dir / "run.json"), config_file(run.dir / "config.yaml");
    if (!record_file || !config_file) throw std::runtime_error("the run folder has no run.json or config.yaml");
    const json record = json::parse(record_file);
    const fs::path config = record.at("config").get<std::string>();
    const fs::path anchor = fs::path(record.value("config_dir", config.parent_path().string())) / config.filename();
    std::vector<std::string> overrides;
    for (const auto& o : record.at("overrides").get<std::vector<std::string>>())
      if (o.rfind("out_dir=", 0) != 0) overrides.push_back(o);
    overrides.push_back("out_dir=" + fs::absolute(run.dir).lexically_normal().string());
    std::stringstream text;
    text << config_file.rdbuf();
    const graph::RunPlan plan = graph::parse_run_plan(text.str(), anchor, overrides);
    for (const auto& phase : plan.phases)
      for (const auto& node : phase.config.nodes) {
        const std::string key = trainer_key(phase.round, phase.name, node.name);
        if (!run.trainer(key)) continue;
        auto& params = run.params[key];
        params["type"] = node.type->schema.type_name();
        for (const auto& [name, value] : node.params.values()) params[name] = graph::format_param(value);
      }
  } catch (const std::exception& e) {
    run.notes.push_back(fmt::format("hyperparameters not shown: {}", e.what()));
  }
}

Run read_run(const fs::path& dir) {
  std::ifstream in(dir / "summary.json");
  if (!in) throw std::runtime_error(fmt::format("{}: no summary.json; give the out_dir of a `semiflow run`", dir.string()));
  Run run;
  run.dir = dir;
  run.summary = json::parse(in);
  for_each_report(run.summary, [&](int round, const std::string& phase, const std::string& node, const json& report) {
    if (!report.contains("out_dir") || !report.contains("final")) return;
    const fs::path metrics = run.locate(report["out_dir"].get<std::string>()) / "metrics.jsonl";
    // A trainer writing into the run folder shares its metrics.jsonl with the phase lines, which
    // have no epoch.
    std::vector<json> records = read_jsonl(metrics);
    records.erase(std::remove_if(records.begin(), records.end(), [](const json& r) { return !r.contains("epoch"); }), records.end());
    run.trainers.push_back({trainer_key(round, phase, node), metrics, std::move(records)});
    read_class_names(run, report.contains("checkpoint") ? run.locate(report["checkpoint"].get<std::string>()).string() : "");
  });
  read_params(run);
  return run;
}

// The folder's name, or the path as given where two runs' folders share a name.
void label_runs(std::vector<Run>& runs) {
  auto name_of = [](const fs::path& dir) {
    const fs::path normal = dir.lexically_normal();
    return normal.has_filename() ? normal.filename().string() : normal.parent_path().filename().string();
  };
  for (auto& run : runs) {
    run.label = name_of(run.dir);
    for (const auto& other : runs)
      if (&other != &run && name_of(other.dir) == run.label) run.label = run.dir.string();
  }
}

std::vector<std::string> labels(const std::vector<Run>& runs) {
  std::vector<std::string> out;
  for (const auto& run : runs) out.push_back(run.label);
  return out;
}

// Keys in the order of their first appearance across the runs.
template <class KeysOf>
std::vector<std::string> union_of(const std::vector<Run>& runs, KeysOf keys_of) {
  std::vector<std::string> all;
  for (const auto& run : runs)
    for (const auto& key : keys_of(run))
      if (std::find(all.begin(), all.end(), key) == all.end()) all.push_back(key);
  return all;
}

std::vector<std::string> trainer_keys(const Run& run) {
  std::vector<std::string> keys;
  for (const auto& t : run.trainers) keys.push_back(t.key);
  return keys;
}

// The x of an epoch's record: its epoch, or the training wall-clock seconds the loop records
// (elapsed_s).
double x_of(const json& record, const Trainer& trainer, bool wall_clock) {
  if (!wall_clock) return record.value("epoch", 0.0);
  if (!record.contains("elapsed_s"))
    throw std::runtime_error(fmt::format("{}: epoch {} has no elapsed_s (written before semiflow recorded it); use --x epoch",
                                         trainer.metrics.string(), record.value("epoch", 0)));
  return record["elapsed_s"].get<double>();
}

struct Curves {
  std::vector<Series> losses, rates, accuracy;
};

Curves curves_of(const Trainer& trainer, bool wall_clock) {
  Curves c;
  Series rate{"lr", {}, {}, "", ""}, score{"AI Rush", {}, {}, "", ""};
  auto add = [](std::vector<Series>& all, const std::string& name, double x, double y) {
    auto it = std::find_if(all.begin(), all.end(), [&](const Series& s) { return s.name == name; });
    if (it == all.end()) it = all.insert(all.end(), Series{name, {}, {}, "", ""});
    it->x.push_back(x), it->y.push_back(y);
  };
  for (const auto& record : trainer.records) {
    const double x = x_of(record, trainer, wall_clock);
    if (record.contains("train_loss_per_level"))
      for (const auto& [level, value] : record["train_loss_per_level"].items()) add(c.losses, level, x, value.get<double>());
    if (record.contains("lr")) rate.x.push_back(x), rate.y.push_back(record["lr"].get<double>());
    if (record.contains("eval")) {
      for (const auto& [level, metrics] : record["eval"]["levels"].items()) add(c.accuracy, level, x, metrics["accuracy"].get<double>());
      score.x.push_back(x), score.y.push_back(record["eval"]["airush_score"].get<double>());
    }
  }
  if (!rate.x.empty()) c.rates.push_back(rate);
  if (!score.x.empty()) c.accuracy.push_back(score);
  return c;
}

// One training node's curves, every run's on the same charts, and each run's last confusion
// matrix of the finest level.
std::string training_section(const std::string& key, const std::vector<Run>& runs, bool wall_clock) {
  std::vector<std::vector<Series>> losses, rates, accuracy;
  std::string heat_maps;
  for (const auto& run : runs) {
    const Trainer* trainer = run.trainer(key);
    const Curves c = trainer ? curves_of(*trainer, wall_clock) : Curves{};
    losses.push_back(c.losses), rates.push_back(c.rates), accuracy.push_back(c.accuracy);
    if (!trainer || trainer->records.empty() || !trainer->records.back().contains("eval")) continue;
    const json& last = trainer->records.back();
    const auto& levels = last["eval"]["levels"];
    if (levels.empty()) continue;
    const auto finest = std::prev(levels.end());
    const auto names = run.class_names.find(finest.key());
    heat_maps += heat_map(fmt::format("{}confusion ({}), epoch {}", runs.size() > 1 ? run.label + ": " : "", finest.key(),
                                      last.value("epoch", 0)),
                          (*finest)["confusion"], names == run.class_names.end() ? std::vector<std::string>{} : names->second);
  }
  const auto names = labels(runs);
  const std::string x_title = wall_clock ? "training wall-clock time (s)" : "epoch";
  std::string html = fmt::format("<h3>{}</h3>\n<div class=\"row\">", escape(key));
  html += line_chart("training loss per level", overlay(losses, names), x_title, "loss", !wall_clock);
  html += line_chart("learning rate", overlay(rates, names), x_title, "learning rate", !wall_clock);
  html += line_chart("test accuracy per level and AI Rush score", overlay(accuracy, names), x_title, "accuracy / score", !wall_clock);
  return html + heat_maps + "</div>\n";
}

// The pseudo-labelling reports of a run, one per round: "Round R: pseudo-labels".
std::vector<std::pair<std::string, json>> pseudo_label_reports(const Run& run) {
  std::vector<std::pair<std::string, json>> reports;
  for_each_report(run.summary, [&](int round, const std::string&, const std::string&, const json& report) {
    if (report.contains("pseudo_labeled_per_epoch")) reports.emplace_back(fmt::format("Round {}: pseudo-labels", round), report);
  });
  return reports;
}

std::string pseudo_label_section(const std::string& key, const std::vector<Run>& runs) {
  std::string html = fmt::format("<h3>{}</h3>\n", escape(key));
  std::vector<json> reports;  // per run; null where a run has none
  for (const auto& run : runs) {
    json found;
    for (const auto& [k, report] : pseudo_label_reports(run))
      if (k == key && found.is_null()) found = report;
    reports.push_back(found);
    if (found.is_null()) continue;
    std::string kept;
    for (const auto& [level, stats] : found["levels"].items())
      kept += fmt::format("{}{} {:.1f}%", kept.empty() ? "" : ", ", level, 100 * stats["kept_fraction"].get<double>());
    html += fmt::format("<p>{}{} pseudo-labeled and {} labeled images per epoch; kept: {}</p>\n",
                        runs.size() > 1 ? escape(run.label) + ": " : "", found.value("pseudo_labeled_per_epoch", 0),
                        found.value("labeled_per_epoch", 0), escape(kept));
  }
  std::vector<std::string> levels;
  for (const auto& report : reports)
    if (!report.is_null())
      for (const auto& [level, stats] : report["levels"].items())
        if (std::find(levels.begin(), levels.end(), level) == levels.end()) levels.push_back(level);
  html += "<div class=\"row\">";
  for (const auto& level : levels) {
    std::vector<std::vector<double>> histograms, counts;
    std::vector<std::string> classes;
    for (std::size_t r = 0; r < runs.size(); ++r) {
      histograms.emplace_back(), counts.emplace_back();
      if (reports[r].is_null() || !reports[r]["levels"].contains(level)) continue;
      const auto& stats = reports[r]["levels"][level];
      for (const auto& v : stats["confidence"]["histogram"]) histograms.back().push_back(v.get<double>());
      for (const auto& v : stats["class_counts"]) counts.back().push_back(v.get<double>());
      const auto names = runs[r].class_names.find(level);
      if (classes.empty() && names != runs[r].class_names.end() && names->second.size() == counts.back().size()) classes = names->second;
    }
    std::size_t num_classes = 0;
    for (const auto& run : counts) num_classes = std::max(num_classes, run.size());
    if (classes.empty())
      for (std::size_t c = 0; c < num_classes; ++c) classes.push_back(std::to_string(c));
    const auto names = labels(runs);
    html += bar_chart(fmt::format("{}: teacher confidence", level), histograms, names, {}, "teacher confidence", "images");
    html += bar_chart(fmt::format("{}: pseudo-labels per class", level), counts, names, classes, "class", "pseudo-labels");
  }
  return html + "</div>\n";
}

// A column naming the run, only when there are several.
std::string run_cell(const std::vector<Run>& runs, const Run& run, const char* tag) {
  return runs.size() > 1 ? fmt::format("<{0}>{1}</{0}>", tag, escape(run.label)) : "";
}

std::string rounds_table(const std::vector<Run>& runs) {
  std::string html = fmt::format("<table>\n<tr>{}<th>round</th><th>model</th><th>per-level accuracy</th><th>AI Rush</th><th>phases</th></tr>\n",
                                 runs.size() > 1 ? "<th>run</th>" : "");
  for (const auto& run : runs)
    for (const auto& round : run.summary["rounds"]) {
      std::string accuracy = "-", score = "-", phases;
      if (round.contains("student")) {
        accuracy.clear();
        for (const auto& [level, value] : round["student"]["accuracy"].items()) accuracy += fmt::format("{} {:.4f} ", level, value.get<double>());
        score = fmt::format("{:.4f}", round["student"]["airush_score"].get<double>());
      }
      for (const auto& phase : round["phases"])
        phases += fmt::format("{} {:.1f} s{} ", phase["name"].get<std::string>(), phase["wall_s"].get<double>(),
                              phase.contains("cache") ? fmt::format(" (cache {})", phase["cache"].get<std::string>())
                              : phase["skipped"].get<bool>() ? " (up to date)" : "");
      html += fmt::format("<tr>{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", run_cell(runs, run, "td"),
                          round["round"].get<int>(), round["round"] == 0 ? "teacher" : "student", accuracy, score, escape(phases));
    }
  return html + "</table>\n";
}

// One table: a row per parameter, a column per training node (per node and run, with several
// runs). A value is highlighted where it differs from the row's first column (with several runs:
// the same node's first run), which shows what a round or a run changed.
std::string params_table(const std::vector<std::string>& keys, const std::vector<Run>& runs) {
  struct Column {
    std::string key;
    const Run* run;
    std::size_t reference;  // the column it is compared with
  };
  std::vector<Column> columns;
  std::vector<std::string> names;
  for (const auto& key : keys) {
    const std::size_t first = columns.size();
    for (const auto& run : runs) {
      const auto it = run.params.find(key);
      if (it == run.params.end()) continue;
      columns.push_back({key, &run, runs.size() > 1 ? first : 0});
      for (const auto& [name, value] : it->second)
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  if (columns.empty()) return "<p>no hyperparameters</p>\n";
  std::sort(names.begin(), names.end());
  std::string html = "<table class=\"params\">\n<tr><th>parameter</th>";
  for (const auto& c : columns)
    html += fmt::format("<th>{}{}</th>", escape(c.key), runs.size() > 1 ? "<br>" + escape(c.run->label) : "");
  html += "</tr>\n";
  auto value_of = [](const Column& c, const std::string& name) {
    const auto& params = c.run->params.at(c.key);
    const auto it = params.find(name);
    return it == params.end() ? std::string("-") : it->second;
  };
  for (const auto& name : names) {
    html += fmt::format("<tr><td>{}</td>", escape(name));
    for (const auto& c : columns) {
      const std::string value = value_of(c, name);
      html += fmt::format("<td{}>{}</td>", value != value_of(columns[c.reference], name) ? " class=\"differs\"" : "", escape(value));
    }
    html += "</tr>\n";
  }
  return html + "</table>\n";
}

std::string throughput_table(const std::vector<Run>& runs) {
  std::string html = fmt::format("<table>\n<tr>{}<th>round</th><th>phase</th><th>node</th><th>type</th><th>items in</th><th>items out</th>"
                                 "<th>busy s</th><th>waiting s</th></tr>\n",
                                 runs.size() > 1 ? "<th>run</th>" : "");
  for (const auto& run : runs)
    for (const auto& round : run.summary["rounds"])
      for (const auto& phase : round["phases"]) {
        if (!phase.contains("stats")) continue;
        for (const auto& node : phase["stats"]["nodes"])
          html += fmt::format("<tr>{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2f}</td><td>{:.2f}</td></tr>\n",
                              run_cell(runs, run, "td"), round["round"].get<int>(), escape(phase["name"].get<std::string>()),
                              escape(node["name"].get<std::string>()), escape(node["type"].get<std::string>()),
                              node["items_in"].get<long>(), node["items_out"].get<long>(), node["busy_s"].get<double>(),
                              node["waiting_s"].get<double>());
      }
  return html + "</table>\n";
}

// Teacher vs students per run: the model each round trained, fine level and AI Rush score.
std::string progress_chart(const std::vector<Run>& runs) {
  std::vector<std::vector<Series>> per_run;
  for (const auto& run : runs) {
    std::vector<Series> progress;
    for (const auto& round : run.summary["rounds"]) {
      if (!round.contains("student")) continue;
      const auto& accuracy = round["student"]["accuracy"];
      if (progress.empty()) {
        progress.push_back({fmt::format("{} accuracy", std::prev(accuracy.end()).key()), {}, {}, "", ""});
        progress.push_back({"AI Rush", {}, {}, "", ""});
      }
      const double r = round["round"].get<double>();
      progress[0].x.push_back(r), progress[0].y.push_back(std::prev(accuracy.end())->get<double>());
      progress[1].x.push_back(r), progress[1].y.push_back(round["student"]["airush_score"].get<double>());
    }
    per_run.push_back(progress);
  }
  return line_chart("teacher (round 0) and students by round", overlay(per_run, labels(runs)), "round", "accuracy / score", true);
}

std::string render(const std::vector<Run>& runs, bool wall_clock) {
  std::string body;
  if (runs.size() == 1) {
    body = fmt::format("<h1>semiflow run {}</h1>\n<p>config {}</p>\n", escape(runs[0].dir.string()),
                       escape(runs[0].summary.value("config", "")));
  } else {
    body = "<h1>semiflow runs</h1>\n<ul class=\"runs\">\n";
    for (std::size_t r = 0; r < runs.size(); ++r)
      body += fmt::format("<li><span style=\"color:{}\">&#9632;</span> {}: {} (config {})</li>\n", colour(r), escape(runs[r].label),
                          escape(runs[r].dir.string()), escape(runs[r].summary.value("config", "")));
    body += "</ul>\n";
  }
  for (const auto& run : runs)
    for (const auto& note : run.notes)
      body += fmt::format("<p class=\"note\">{}{}</p>\n", runs.size() > 1 ? escape(run.label) + ": " : "", escape(note));
  body += "<h2>Rounds</h2>\n" + rounds_table(runs);
  body += "<div class=\"row\">" + progress_chart(runs) + "</div>\n";
  const auto keys = union_of(runs, trainer_keys);
  body += "<h2>Training</h2>\n";
  for (const auto& key : keys) body += training_section(key, runs, wall_clock);
  const auto pseudo_keys = union_of(runs, [](const Run& run) {
    std::vector<std::string> keys;
    for (const auto& [key, report] : pseudo_label_reports(run)) keys.push_back(key);
    return keys;
  });
  if (!pseudo_keys.empty()) body += "<h2>Pseudo-labels</h2>\n";
  for (const auto& key : pseudo_keys) body += pseudo_label_section(key, runs);
  body += "<h2>Hyperparameters of the training nodes</h2>\n" + params_table(keys, runs);
  body += "<h2>Graph throughput</h2>\n" + throughput_table(runs);
  return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>semiflow report</title><style>"
         "body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}"
         "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}.row{display:flex;flex-wrap:wrap;gap:12px}"
         "td.differs{background:#fff3c4}.note{color:#a33}"
         "</style></head><body>\n" + body + "</body></html>\n";
}

}  // namespace

void write_report(const std::vector<fs::path>& run_dirs, const fs::path& target, const ReportOptions& options) {
  std::vector<Run> runs;
  for (const auto& dir : run_dirs) runs.push_back(read_run(dir));
  label_runs(runs);
  const std::string html = render(runs, options.wall_clock_x);
  std::ofstream out(target);
  out << html;
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write the report", target.string()));
}

void write_report(const fs::path& run_dir, const fs::path& target) { write_report(std::vector<fs::path>{run_dir}, target, {}); }

namespace {

void install(CLI::App& app) {
  struct Args {
    std::vector<std::string> run_dirs;
    std::string out;
    std::string x = "epoch";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("report", "Write a self-contained HTML report (curves, tables, heat maps) of a run folder, "
                                           "or of several on the same charts");
  cmd->add_option("run_dirs", args->run_dirs, "Run folders with summary.json (a config's out_dir); several are overlaid, a colour each")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", args->out, "HTML file to write (default for one run: RUN_DIR/report.html; needed for several)");
  cmd->add_option("--x", args->x, "x axis of the per-epoch curves: epoch, or wall (training wall-clock seconds)")
      ->check(CLI::IsMember({"epoch", "wall"}))
      ->capture_default_str();
  cmd->callback([args] {
    if (args->run_dirs.size() > 1 && args->out.empty())
      throw CLI::ValidationError("--out", "a report of several runs needs --out FILE (no run folder is its home)");
    const std::vector<fs::path> dirs(args->run_dirs.begin(), args->run_dirs.end());
    const fs::path target = args->out.empty() ? dirs[0] / "report.html" : fs::path(args->out);
    write_report(dirs, target, {args->x == "wall"});
    fmt::print("wrote {}\n", target.string());
  });
}

}  // namespace

SEMIFLOW_COMMAND(install);

}  // namespace semiflow::cli
