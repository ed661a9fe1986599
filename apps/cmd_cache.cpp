// `semiflow cache ...`: list, inspect and verify pseudo-label caches (the teacher's outputs).
#include "apps/command.h"
#include "datasets/pseudo_label_accuracy.h"
#include "datasets/pseudo_label_cache.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>

namespace semiflow::cli {
namespace {

std::string join_classes(const std::vector<int>& classes) { return fmt::format("{}", fmt::join(classes, "+")); }

std::string megabytes(std::uintmax_t bytes) { return fmt::format("{:.1f} MB", bytes / 1e6); }

bool looks_like_cache(const std::filesystem::path& path) {
  const auto name = path.filename().string();
  auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".h5") || ends_with(".hdf5") || ends_with(".h5.partial") || ends_with(".hdf5.partial");
}

void add_ls(CLI::App& cache) {
  auto dir = std::make_shared<std::string>();
  auto* cmd = cache.add_subcommand("ls", "List the caches (*.h5, *.h5.partial) in a folder");
  cmd->add_option("dir", *dir, "Folder")->required()->check(CLI::ExistingDirectory);
  cmd->callback([dir] {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(*dir))
      if (entry.is_regular_file() && looks_like_cache(entry.path())) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    fmt::print("{:<32} {:>17} {:>10} {:>9} {:>16} {:>10}\n", "file", "rows", "classes", "complete", "teacher", "size");
    for (const auto& file : files) {
      try {
        const auto info = read_cache_info(file.string());
        fmt::print("{:<32} {:>17} {:>10} {:>9} {:>16} {:>10}\n", file.filename().string(),
                   fmt::format("{}/{}", info.rows_committed, info.header.rows_expected),
                   join_classes(info.header.classes_per_level), info.complete ? "yes" : "no", info.header.fingerprints.teacher,
                   megabytes(info.file_bytes));
      } catch (const std::exception& e) {
        fmt::print("{:<32} unreadable: {}\n", file.filename().string(), e.what());
      }
    }
    if (files.empty()) fmt::print("no cache files in {}\n", *dir);
  });
}

nlohmann::json to_json(const CacheSummary& summary) {
  const auto& info = summary.info;
  nlohmann::json out = {{"rows_committed", info.rows_committed},
                        {"rows_expected", info.header.rows_expected},
                        {"complete", info.complete},
                        {"semiflow_version", info.header.semiflow_version},
                        {"file_bytes", info.file_bytes},
                        {"fingerprints",
                         {{"teacher", info.header.fingerprints.teacher},
                          {"manifest", info.header.fingerprints.manifest},
                          {"preprocessing", info.header.fingerprints.preprocessing}}}};
  for (const auto& level : summary.levels) {
    nlohmann::json quantiles = nlohmann::json::object();
    for (std::size_t i = 0; i < level.confidence.quantiles.size(); ++i)
      quantiles[fmt::format("{}", level.confidence.quantile_levels[i])] = level.confidence.quantiles[i];
    out["levels"].push_back({{"name", level.name},
                             {"classes", level.class_counts.size()},
                             {"class_counts", level.class_counts},
                             {"confidence",
                              {{"mean", level.confidence.mean},
                               {"quantiles", quantiles},
                               {"histogram", level.confidence.histogram}}}});
  }
  return out;
}

void print_summary(const std::string& path, const CacheSummary& summary) {
  const auto& info = summary.info;
  fmt::print("{}: {} of {} rows, {}, {}\n", path, info.rows_committed, info.header.rows_expected,
             info.complete ? "complete" : "INCOMPLETE", megabytes(info.file_bytes));
  fmt::print("  levels: {}\n", join_classes(info.header.classes_per_level));
  fmt::print("  fingerprints: teacher {}, manifest {}, preprocessing {}\n", info.header.fingerprints.teacher,
             info.header.fingerprints.manifest, info.header.fingerprints.preprocessing);
  fmt::print("  written by semiflow {}\n", info.header.semiflow_version);
  for (const auto& level : summary.levels) {
    const auto& c = level.confidence;
    fmt::print("  level '{}' ({} classes)\n", level.name, level.class_counts.size());
    fmt::print("    hard labels per class: {}\n", fmt::join(level.class_counts, " "));
    std::string quantiles;
    for (std::size_t i = 0; i < c.quantiles.size(); ++i)
      quantiles += fmt::format("{}p{:g} {:.3f}", i ? ", " : "", c.quantile_levels[i] * 100, c.quantiles[i]);
    fmt::print("    confidence: mean {:.3f}; {}\n", c.mean, quantiles);
    fmt::print("    confidence histogram ({} bins over [0, 1]): {}\n", c.histogram.size(), fmt::join(c.histogram, " "));
  }
}

nlohmann::json to_json(const CorrectCount& count) {
  return {{"scored", count.scored}, {"correct", count.correct}, {"accuracy", count.accuracy()}};
}

nlohmann::json to_json(const CacheAccuracy& accuracy, const std::string& truth) {
  nlohmann::json out = {{"manifest", truth}, {"rows_matched", accuracy.matched}};
  for (const auto& level : accuracy.levels) {
    nlohmann::json per_class = nlohmann::json::array(), per_bin = nlohmann::json::array();
    for (const auto& count : level.per_class) per_class.push_back(to_json(count));
    for (const auto& count : level.per_bin) per_bin.push_back(to_json(count));
    out["levels"].push_back({{"name", level.name}, {"all", to_json(level.all)}, {"per_class", per_class},
                             {"per_confidence_bin", per_bin}});
  }
  return out;
}

void print_accuracy(const std::string& truth, const CacheAccuracy& accuracy, const Hierarchy& hierarchy) {
  fmt::print("  against {}: {} of {} rows matched\n", truth, accuracy.matched, accuracy.rows);
  for (std::size_t l = 0; l < accuracy.levels.size(); ++l) {
    const auto& level = accuracy.levels[l];
    fmt::print("  level '{}': hard labels correct {:.4f} ({} of {})\n", level.name, level.all.accuracy(), level.all.correct,
               level.all.scored);
    std::vector<std::string> classes;
    for (std::size_t c = 0; c < level.per_class.size(); ++c)
      if (level.per_class[c].scored)
        classes.push_back(fmt::format("{} {:.3f}", hierarchy.level(static_cast<int>(l)).classes[c], level.per_class[c].accuracy()));
    fmt::print("    correct per label class: {}\n", fmt::join(classes, ", "));
    const double width = 1.0 / static_cast<double>(level.per_bin.size());
    std::vector<std::string> bins;
    for (std::size_t b = 0; b < level.per_bin.size(); ++b)
      if (level.per_bin[b].scored)
        bins.push_back(fmt::format("[{:g}, {:g}) {:.3f} of {}", b * width, (b + 1) * width, level.per_bin[b].accuracy(),
                                   level.per_bin[b].scored));
    fmt::print("    correct by confidence: {}\n", fmt::join(bins, "; "));
  }
}

void add_inspect(CLI::App& cache) {
  struct Args {
    std::string file;
    bool json = false;
    int bins = 20;
    std::string truth, hierarchy;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = cache.add_subcommand("inspect", "Shape, fingerprints, completeness, label and confidence statistics of a cache");
  cmd->add_option("file", args->file, "Cache file (.h5 or .h5.partial)")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--json", args->json, "Print JSON instead of text");
  cmd->add_option("--bins", args->bins, "Confidence histogram bins")->check(CLI::Range(1, 1000))->capture_default_str();
  auto* truth = cmd->add_option("--truth", args->truth,
                                "Labeled manifest of the cached images (e.g. unlabeled_truth.csv): how often the hard "
                                "labels are right, per level, per label class and per confidence bin")
                    ->check(CLI::ExistingFile);
  cmd->add_option("--hierarchy", args->hierarchy, "Hierarchy YAML of the --truth manifest")
      ->check(CLI::ExistingFile)
      ->needs(truth);
  truth->needs("--hierarchy");
  cmd->callback([args] {
    const auto summary = summarize_cache(args->file, args->bins);
    std::optional<Hierarchy> hierarchy;
    std::optional<CacheAccuracy> accuracy;
    if (!args->truth.empty()) {
      hierarchy = Hierarchy::load(args->hierarchy);
      accuracy = score_cache(args->file, load_manifest(args->truth, &*hierarchy), *hierarchy, args->bins);
    }
    if (args->json) {
      auto out = to_json(summary);
      if (accuracy) out["truth"] = to_json(*accuracy, args->truth);
      fmt::print("{}\n", out.dump(2));
    } else {
      print_summary(args->file, summary);
      if (accuracy) print_accuracy(args->truth, *accuracy, *hierarchy);
    }
  });
}

void add_verify(CLI::App& cache) {
  auto file = std::make_shared<std::string>();
  auto* cmd = cache.add_subcommand("verify", "Read a whole cache and check completeness, shapes and values");
  cmd->add_option("file", *file, "Cache file")->required()->check(CLI::ExistingFile);
  cmd->callback([file] {
    const auto problems = verify_cache(*file);
    for (const auto& problem : problems) spdlog::error("{}", problem);
    if (!problems.empty())
      throw std::runtime_error(fmt::format("{}: {} problem(s); delete it and run the teacher again", *file, problems.size()));
    const auto info = read_cache_info(*file);
    fmt::print("{}: ok, {} rows, levels {}\n", *file, info.rows_committed, join_classes(info.header.classes_per_level));
  });
}

// Row by row: ids, and every level's probabilities within `tolerance`.
void add_diff(CLI::App& cache) {
  struct Args {
    std::string a, b;
    double tolerance = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = cache.add_subcommand("diff", "Compare two caches row by row (ids and probabilities); exit 1 when they differ");
  cmd->add_option("a", args->a, "Cache file")->required()->check(CLI::ExistingFile);
  cmd->add_option("b", args->b, "Cache file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--tolerance", args->tolerance, "Largest absolute difference of a probability that counts as equal")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->callback([args] {
    const PseudoLabelCacheReader a(args->a), b(args->b);
    if (a.header().classes_per_level != b.header().classes_per_level || a.rows() != b.rows())
      throw std::runtime_error(fmt::format("{} ({} rows, levels {}) and {} ({} rows, levels {}) differ in shape", args->a,
                                           a.rows(), join_classes(a.header().classes_per_level), args->b, b.rows(),
                                           join_classes(b.header().classes_per_level)));
    long differing = 0, first = -1;
    double largest = 0;
    constexpr long kChunk = 4096;
    for (long begin = 0; begin < a.rows(); begin += kChunk) {
      const long end = std::min(a.rows(), begin + kChunk);
      const CacheRows x = a.read_range(begin, end), y = b.read_range(begin, end);
      for (long r = 0; r < end - begin; ++r) {
        bool differs = x.ids[static_cast<std::size_t>(r)] != y.ids[static_cast<std::size_t>(r)];
        for (std::size_t level = 0; level < x.probabilities.size(); ++level)
          for (int c = 0; c < x.probabilities[level].classes; ++c) {
            const double d = std::abs(double{x.probabilities[level].row(r)[c]} - double{y.probabilities[level].row(r)[c]});
            largest = std::max(largest, d);
            differs = differs || d > args->tolerance;
          }
        if (differs && differing++ == 0) first = begin + r;
      }
    }
    fmt::print("{} rows; {} differ{}; largest probability difference {:.3g}\n", a.rows(), differing,
               differing ? fmt::format(" (first: row {})", first) : "", largest);
    if (differing) throw ExitStatus{1};
  });
}

void install(CLI::App& app) {
  auto* cache = app.add_subcommand("cache", "List, inspect, verify and compare pseudo-label caches");
  cache->require_subcommand(1);
  add_ls(*cache);
  add_inspect(*cache);
  add_verify(*cache);
  add_diff(*cache);
}

}  // namespace

SEMIFLOW_COMMAND(install);

}  // namespace semiflow::cli
