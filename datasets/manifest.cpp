#include "datasets/manifest.h"

#include <fmt/format.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace semiflow {
namespace {

constexpr std::size_t kMaxReportedErrors = 20;

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t\r") - begin + 1);
}

// A name wins over an index so that a class literally called "3" still works.
bool parse_label(const Hierarchy& hierarchy, int level, const std::string& text, int& label, std::string& error) {
  if (text.empty() || text == "-1") {
    label = kUnknownLabel;
    return true;
  }
  label = hierarchy.class_index(level, text);
  if (label >= 0) return true;
  const int num_classes = static_cast<int>(hierarchy.level(level).classes.size());
  int index = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), index);
  if (ec == std::errc() && end == text.data() + text.size()) {
    if (index >= 0 && index < num_classes) {
      label = index;
      return true;
    }
    error = fmt::format("level '{}': class index {} out of range 0..{}", hierarchy.level(level).name, index, num_classes - 1);
    return false;
  }
  error = fmt::format("level '{}': unknown class '{}'", hierarchy.level(level).name, text);
  return false;
}

}  // namespace

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  for (auto& f : fields) f = trim(f);
  return fields;
}

std::string quote_csv_field(const std::string& field) {
  if (field.find_first_of(",\"\n") == std::string::npos) return field;
  std::string quoted = "\"";
  for (char c : field) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string Manifest::image_path(const ManifestRow& row) const {
  if (row.path.empty() || row.path.front() == '/') return row.path;
  return (std::filesystem::path(base_dir) / row.path).string();
}

std::vector<long> Manifest::class_counts(int level, int num_classes) const {
  std::vector<long> counts(num_classes, 0);
  for (const auto& row : rows)
    if (level < static_cast<int>(row.labels.size()) && row.labels[level] >= 0) ++counts[row.labels[level]];
  return counts;
}

Manifest load_manifest(const std::string& path, const Hierarchy* hierarchy, const ManifestOptions& options) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open manifest (check the path)", path));
  Manifest manifest;
  manifest.source = path;
  manifest.base_dir = std::filesystem::absolute(path).parent_path().string();

  std::string line;
  if (!std::getline(in, line)) throw std::runtime_error(fmt::format("{}: empty manifest; expected a header `path,...`", path));
  const auto header = split_csv_line(line);
  if (header.empty() || header[0] != "path")
    throw std::runtime_error(fmt::format("{}:1: the first column must be `path` (found '{}')", path, header.empty() ? "" : header[0]));

  // column_level[c] is the hierarchy level of CSV column c (c >= 1).
  std::vector<int> column_level;
  for (std::size_t c = 1; c < header.size(); ++c) {
    if (hierarchy == nullptr)
      throw std::runtime_error(fmt::format("{}:1: column '{}' is a label column but no hierarchy was given (pass one, or keep only `path`)", path, header[c]));
    int level = -1;
    for (int l = 0; l < hierarchy->num_levels(); ++l)
      if (hierarchy->level(l).name == header[c]) level = l;
    if (level < 0) {
      std::string names;
      for (const auto& lv : hierarchy->levels()) names += (names.empty() ? "" : ", ") + lv.name;
      throw std::runtime_error(fmt::format("{}:1: column '{}' is not a level of {} (levels: {})", path, header[c], hierarchy->source(), names));
    }
    for (int seen : column_level)
      if (seen == level) throw std::runtime_error(fmt::format("{}:1: level column '{}' appears twice", path, header[c]));
    column_level.push_back(level);
  }
  manifest.labeled = !column_level.empty();

  std::vector<std::string> errors;
  int line_number = 1;
  while (std::getline(in, line)) {
    ++line_number;
    if (trim(line).empty()) continue;
    const auto fields = split_csv_line(line);
    auto report = [&](const std::string& message) { errors.push_back(fmt::format("{}:{}: {}", path, line_number, message)); };
    if (fields.size() != header.size()) {
      report(fmt::format("expected {} fields, found {}", header.size(), fields.size()));
      continue;
    }
    if (fields[0].empty()) {
      report("empty image path");
      continue;
    }
    ManifestRow row{fields[0], {}, line_number};
    bool row_ok = true;
    if (manifest.labeled) {
      row.labels.assign(hierarchy->num_levels(), kUnknownLabel);
      for (std::size_t c = 0; c < column_level.size(); ++c) {
        std::string error;
        if (!parse_label(*hierarchy, column_level[c], fields[c + 1], row.labels[column_level[c]], error)) {
          report(error);
          row_ok = false;
        }
      }
      if (row_ok && !hierarchy->is_consistent(row.labels)) {
        for (int l = 1; l < hierarchy->num_levels(); ++l) {
          const int child = row.labels[l];
          const int above = row.labels[l - 1];
          if (child >= 0 && above >= 0 && hierarchy->parent(l, child) != above)
            report(fmt::format("level '{}' is '{}' but '{}' belongs to '{}'", hierarchy->level(l - 1).name,
                               hierarchy->level(l - 1).classes[above], hierarchy->level(l).classes[child],
                               hierarchy->level(l - 1).classes[hierarchy->parent(l, child)]));
        }
        row_ok = false;
      }
      if (row_ok && options.fill_coarse_from_fine) {
        for (int l = hierarchy->num_levels() - 1; l >= 1; --l)
          if (row.labels[l] >= 0 && row.labels[l - 1] < 0) row.labels[l - 1] = hierarchy->parent(l, row.labels[l]);
      }
    }
    if (row_ok) manifest.rows.push_back(std::move(row));
  }
  if (!errors.empty()) {
    std::string message = fmt::format("{}: {} bad row(s); fix them and rerun:", path, errors.size());
    for (std::size_t i = 0; i < errors.size() && i < kMaxReportedErrors; ++i) message += "\n  " + errors[i];
    if (errors.size() > kMaxReportedErrors) message += fmt::format("\n  ... and {} more", errors.size() - kMaxReportedErrors);
    throw std::runtime_error(message);
  }
  return manifest;
}

void save_manifest(const std::string& path, const std::vector<ManifestRow>& rows, const Hierarchy* hierarchy) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write manifest", path));
  write_manifest(out, rows, hierarchy);
  if (!out) throw std::runtime_error(fmt::format("{}: write failed (disk full?)", path));
}

void write_manifest(std::ostream& out, const std::vector<ManifestRow>& rows, const Hierarchy* hierarchy) {
  out << "path";
  if (hierarchy != nullptr)
    for (const auto& level : hierarchy->levels()) out << ',' << quote_csv_field(level.name);
  out << '\n';
  for (const auto& row : rows) {
    out << quote_csv_field(row.path);
    if (hierarchy != nullptr) {
      for (int l = 0; l < hierarchy->num_levels(); ++l) {
        const int label = l < static_cast<int>(row.labels.size()) ? row.labels[l] : kUnknownLabel;
        out << ',' << (label < 0 ? std::string("-1") : quote_csv_field(hierarchy->level(l).classes[label]));
      }
    }
    out << '\n';
  }
}

}  // namespace semiflow
