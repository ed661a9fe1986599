// `semiflow report RUN_DIR`: one self-contained HTML page (inline SVG, no scripts, no network)
// from a run folder's summary.json and the metrics.jsonl of every training node it names:
// per-round table, loss / learning-rate / accuracy curves per epoch, teacher vs student,
// pseudo-label confidence histograms and class balance, confusion-matrix heat maps, and the
// graph's per-node throughput.
#include "apps/command.h"
#include "apps/report.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace semiflow::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

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

struct Series {
  std::string name;
  std::vector<double> x, y;
};

constexpr double kWidth = 460, kHeight = 240, kLeft = 52, kRight = 110, kTop = 28, kBottom = 30;

std::string svg_open(const std::string& title) {
  return fmt::format(R"(<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}">)"
                     R"(<rect width="100%" height="100%" fill="#fff"/><text x="{}" y="18" font-size="13" font-weight="bold">{}</text>)",
                     kWidth, kHeight, kWidth, kHeight, kLeft, escape(title));
}

std::string line_chart(const std::string& title, const std::vector<Series>& all_series, const std::string& x_label) {
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& s : all_series)
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    }
  if (x0 > x1) return "";
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1e-9 + std::abs(y0) * 0.01;
  const double w = kWidth - kLeft - kRight, h = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * w; };
  auto py = [&](double y) { return kTop + h - (y - y0) / (y1 - y0) * h; };
  std::string svg = svg_open(title);
  svg += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999"/>)", kLeft, kTop, w, h);
  for (int t = 0; t <= 4; ++t) {
    const double y = y0 + (y1 - y0) * t / 4;
    svg += fmt::format(R"(<text x="{}" y="{}" font-size="10" text-anchor="end">{:.4g}</text>)", kLeft - 4, py(y) + 3, y);
  }
  svg += fmt::format(R"(<text x="{}" y="{}" font-size="10">{:.4g}</text><text x="{}" y="{}" font-size="10" text-anchor="end">{:.4g}</text>)",
                     kLeft, kHeight - 12, x0, kLeft + w, kHeight - 12, x1);
  svg += fmt::format(R"(<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text>)", kLeft + w / 2, kHeight - 4,
                     escape(x_label));
  for (std::size_t k = 0; k < all_series.size(); ++k) {
    const auto& s = all_series[k];
    const char* colour = kPalette[k % std::size(kPalette)];
    std::string points;
    for (std::size_t i = 0; i < s.x.size(); ++i) points += fmt::format("{:.1f},{:.1f} ", px(s.x[i]), py(s.y[i]));
    svg += fmt::format(R"(<polyline class="series" fill="none" stroke="{}" stroke-width="1.8" points="{}"/>)", colour, points);
    if (s.x.size() == 1) svg += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="{}"/>)", px(s.x[0]), py(s.y[0]), colour);
    svg += fmt::format(R"(<text x="{}" y="{}" font-size="11" fill="{}">{}</text>)", kLeft + w + 6, kTop + 12 + 14 * k, colour,
                       escape(s.name));
  }
  return svg + "</svg>\n";
}

std::string bar_chart(const std::string& title, const std::vector<std::string>& labels, const std::vector<double>& values) {
  if (values.empty()) return "";
  const double top = std::max(1e-12, *std::max_element(values.begin(), values.end()));
  const double w = kWidth - kLeft - 20, h = kHeight - kTop - kBottom;
  const double bar = w / static_cast<double>(values.size());
  std::string svg = svg_open(title);
  svg += fmt::format(R"(<text x="{}" y="{}" font-size="10" text-anchor="end">{:.4g}</text>)", kLeft - 4, kTop + 8, top);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double bh = values[i] / top * h;
    svg += fmt::format(R"(<rect class="bar" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}"><title>{}: {:.4g}</title></rect>)",
                       kLeft + i * bar + 1, kTop + h - bh, std::max(1.0, bar - 2), bh, kPalette[0], escape(labels[i]), values[i]);
    if (values.size() <= 24)
      svg += fmt::format(R"(<text x="{:.1f}" y="{}" font-size="9" text-anchor="middle">{}</text>)", kLeft + (i + 0.5) * bar,
                         kHeight - 16, escape(labels[i].substr(0, 8)));
  }
  return svg + "</svg>\n";
}

std::string heat_map(const std::string& title, const json& matrix, const std::vector<std::string>& names) {
  const auto n = matrix.size();
  if (n == 0) return "";
  const double cell = std::min(28.0, 360.0 / static_cast<double>(n)), left = 90, top = 34;
  const double size = left + cell * n + 20;
  std::string svg = fmt::format(R"(<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{0}" height="{0}" viewBox="0 0 {0} {0}">)"
                                R"(<rect width="100%" height="100%" fill="#fff"/><text x="8" y="18" font-size="13" font-weight="bold">{1}</text>)",
                                size, escape(title));
  for (std::size_t r = 0; r < n; ++r) {
    double row_total = 0;
    for (const auto& v : matrix[r]) row_total += v.get<double>();
    svg += fmt::format(R"(<text x="{}" y="{:.1f}" font-size="9" text-anchor="end">{}</text>)", left - 4, top + (r + 0.7) * cell,
                       escape(r < names.size() ? names[r] : std::to_string(r)));
    for (std::size_t c = 0; c < matrix[r].size(); ++c) {
      const double share = row_total > 0 ? matrix[r][c].get<double>() / row_total : 0;
      const int shade = static_cast<int>(255 - 215 * share);
      svg += fmt::format(R"svg(<rect class="cell" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="rgb({},{},255)"><title>true {} predicted {}: {}</title></rect>)svg",
                         left + c * cell, top + r * cell, cell - 1, cell - 1, shade, shade, r, c, matrix[r][c].dump());
    }
  }
  return svg + "</svg>\n";
}

std::vector<json> read_jsonl(const fs::path& path) {
  std::vector<json> records;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) records.push_back(json::parse(line));
  return records;
}

// Curves of one training run (one round's train node): losses, learning rate, validation.
std::string training_section(const std::string& heading, const std::vector<json>& records) {
  if (records.empty()) return "";
  std::vector<Series> losses, rates(1), accuracy;
  rates[0].name = "lr";
  Series score{"AI Rush", {}, {}};
  for (const auto& record : records) {
    const double epoch = record.value("epoch", 0.0);
    if (record.contains("train_loss_per_level")) {
      std::size_t k = 0;
      for (const auto& [level, value] : record["train_loss_per_level"].items()) {
        if (losses.size() <= k) losses.push_back({level, {}, {}});
        losses[k].x.push_back(epoch), losses[k].y.push_back(value.get<double>());
        ++k;
      }
    }
    if (record.contains("lr")) rates[0].x.push_back(epoch), rates[0].y.push_back(record["lr"].get<double>());
    if (record.contains("eval")) {
      std::size_t k = 0;
      for (const auto& [level, metrics] : record["eval"]["levels"].items()) {
        if (accuracy.size() <= k) accuracy.push_back({level, {}, {}});
        accuracy[k].x.push_back(epoch), accuracy[k].y.push_back(metrics["accuracy"].get<double>());
        ++k;
      }
      score.x.push_back(epoch), score.y.push_back(record["eval"]["airush_score"].get<double>());
    }
  }
  if (!score.x.empty()) accuracy.push_back(score);
  std::string html = fmt::format("<h3>{}</h3>\n<div class=\"row\">", escape(heading));
  html += line_chart("training loss per level", losses, "epoch");
  html += line_chart("learning rate", rates, "epoch");
  html += line_chart("test accuracy per level and AI Rush score", accuracy, "epoch");
  const json& last = records.back();
  if (last.contains("eval")) {
    const auto& levels = last["eval"]["levels"];
    if (!levels.empty()) {
      const auto finest = std::prev(levels.end());
      html += heat_map(fmt::format("confusion ({}), epoch {}", finest.key(), last.value("epoch", 0)), (*finest)["confusion"], {});
    }
  }
  return html + "</div>\n";
}

std::string pseudo_label_section(int round, const json& report) {
  std::string html = fmt::format("<h3>Round {}: pseudo-labels ({} per epoch, {} labeled)</h3>\n<div class=\"row\">", round,
                                 report.value("pseudo_labeled_per_epoch", 0), report.value("labeled_per_epoch", 0));
  for (const auto& [level, stats] : report["levels"].items()) {
    std::vector<std::string> bins, classes;
    std::vector<double> histogram, counts;
    const auto& h = stats["confidence"]["histogram"];
    for (std::size_t i = 0; i < h.size(); ++i) {
      bins.push_back(fmt::format("{:.2f}", static_cast<double>(i) / static_cast<double>(h.size())));
      histogram.push_back(h[i].get<double>());
    }
    for (std::size_t c = 0; c < stats["class_counts"].size(); ++c) {
      classes.push_back(std::to_string(c));
      counts.push_back(stats["class_counts"][c].get<double>());
    }
    html += bar_chart(fmt::format("{}: teacher confidence (kept {:.1f}%)", level, 100 * stats["kept_fraction"].get<double>()), bins, histogram);
    html += bar_chart(fmt::format("{}: pseudo-labels per class", level), classes, counts);
  }
  return html + "</div>\n";
}

std::string rounds_table(const json& summary) {
  std::string html = "<table><tr><th>round</th><th>model</th><th>per-level accuracy</th><th>AI Rush</th><th>phases</th></tr>\n";
  for (const auto& round : summary["rounds"]) {
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
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", round["round"].get<int>(),
                        round["round"] == 0 ? "teacher" : "student", accuracy, score, escape(phases));
  }
  return html + "</table>\n";
}

std::string throughput_table(const json& summary) {
  std::string html = "<table><tr><th>round</th><th>phase</th><th>node</th><th>type</th><th>items in</th><th>items out</th>"
                     "<th>busy s</th><th>waiting s</th></tr>\n";
  for (const auto& round : summary["rounds"])
    for (const auto& phase : round["phases"]) {
      if (!phase.contains("stats")) continue;
      for (const auto& node : phase["stats"]["nodes"])
        html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2f}</td><td>{:.2f}</td></tr>\n",
                            round["round"].get<int>(), escape(phase["name"].get<std::string>()),
                            escape(node["name"].get<std::string>()), escape(node["type"].get<std::string>()),
                            node["items_in"].get<long>(), node["items_out"].get<long>(), node["busy_s"].get<double>(),
                            node["waiting_s"].get<double>());
    }
  return html + "</table>\n";
}

std::string render(const fs::path& run_dir, const json& summary) {
  std::string body = fmt::format("<h1>semiflow run {}</h1>\n<p>config {}</p>\n<h2>Rounds</h2>\n", escape(run_dir.string()),
                                 escape(summary.value("config", "")));
  body += rounds_table(summary);
  // Teacher vs student per round: the model each round trained, fine level and AI Rush score.
  std::vector<Series> progress;
  for (const auto& round : summary["rounds"]) {
    if (!round.contains("student")) continue;
    const auto& accuracy = round["student"]["accuracy"];
    if (progress.empty()) {
      progress.push_back({fmt::format("{} accuracy", std::prev(accuracy.end()).key()), {}, {}});
      progress.push_back({"AI Rush", {}, {}});
    }
    const double r = round["round"].get<double>();
    progress[0].x.push_back(r), progress[0].y.push_back(std::prev(accuracy.end())->get<double>());
    progress[1].x.push_back(r), progress[1].y.push_back(round["student"]["airush_score"].get<double>());
  }
  body += "<div class=\"row\">" + line_chart("teacher (round 0) and students by round", progress, "round") + "</div>\n";
  body += "<h2>Training</h2>\n";
  for (const auto& round : summary["rounds"])
    for (const auto& phase : round["phases"])
      for (const auto& [node, report] : phase["reports"].items()) {
        if (report.contains("out_dir") && report.contains("final"))
          body += training_section(fmt::format("Round {}: {} / {}", round["round"].get<int>(), phase["name"].get<std::string>(), node),
                                   read_jsonl(fs::path(report["out_dir"].get<std::string>()) / "metrics.jsonl"));
        if (report.contains("pseudo_labeled_per_epoch")) body += pseudo_label_section(round["round"].get<int>(), report);
      }
  body += "<h2>Graph throughput</h2>\n" + throughput_table(summary);
  return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>semiflow report</title><style>"
         "body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}"
         "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}.row{display:flex;flex-wrap:wrap;gap:12px}"
         "</style></head><body>\n" + body + "</body></html>\n";
}

}  // namespace

void write_report(const fs::path& run_dir, const fs::path& target) {
  std::ifstream in(run_dir / "summary.json");
  if (!in) throw std::runtime_error(fmt::format("{}: no summary.json; give the out_dir of a `semiflow run`", run_dir.string()));
  const json summary = json::parse(in);
  std::ofstream out(target);
  out << render(run_dir, summary);
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write the report", target.string()));
}

namespace {

void install(CLI::App& app) {
  auto run_dir = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("report", "Write a self-contained HTML report (curves, tables, heat maps) of a run folder");
  cmd->add_option("run_dir", *run_dir, "Run folder with summary.json (the config's out_dir)")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--out", *out, "HTML file to write (default: RUN_DIR/report.html)");
  cmd->callback([run_dir, out] {
    const fs::path dir = *run_dir;
    const fs::path target = out->empty() ? dir / "report.html" : fs::path(*out);
    write_report(dir, target);
    fmt::print("wrote {}\n", target.string());
  });
}

}  // namespace

SEMIFLOW_COMMAND(install);

}  // namespace semiflow::cli
