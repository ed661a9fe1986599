// `semiflow data ...`: make and check data sets (manifests, hierarchies, images).
#include "apps/command.h"
#include "apps/output.h"
#include "datasets/fashion_mnist.h"
#include "datasets/folder_manifest.h"
#include "datasets/image_codec.h"
#include "datasets/manifest.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <tbb/parallel_for.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>

namespace semiflow::cli {
namespace {

const std::string kFashionMnistHierarchy = std::string(SEMIFLOW_CONFIG_DIR) + "/hierarchies/fashion_mnist.yaml";

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void add_fashion_mnist(CLI::App& data) {
  auto options = std::make_shared<FashionMnistOptions>();
  auto hierarchy_path = std::make_shared<std::string>(kFashionMnistHierarchy);
  auto* cmd = data.add_subcommand("fashion-mnist", "Write Fashion-MNIST as JPEGs with labeled/unlabeled/test manifests");
  cmd->add_option("--out", options->out_dir, "Output folder")->required();
  cmd->add_option("--labeled-per-class", options->labeled_per_class, "Labeled training images per class (stratified)")
      ->capture_default_str();
  cmd->add_option("--seed", options->seed, "Seed of the labeled/unlabeled split")->capture_default_str();
  cmd->add_option("--validation-size", options->validation_size,
                  "Training images held out as val.csv (stratified; out of every training manifest)")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  cmd->add_option("--validation-seed", options->validation_seed, "Seed of the validation split (independent of --seed)")
      ->capture_default_str();
  cmd->add_option("--partial-labels", options->partial_labels, "Fraction of labeled rows that lose their finer levels")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--idx-dir", options->idx_dir, "Folder with the IDX files")->check(CLI::ExistingDirectory)->capture_default_str();
  cmd->add_option("--hierarchy", *hierarchy_path, "Hierarchy YAML")->check(CLI::ExistingFile)->capture_default_str();
  cmd->add_option("--jpeg-quality", options->jpeg_quality, "JPEG quality")->check(CLI::Range(1, 100))->capture_default_str();
  cmd->callback([options, hierarchy_path] {
    const auto start = std::chrono::steady_clock::now();
    const Hierarchy hierarchy = Hierarchy::load(*hierarchy_path);
    const auto split = import_fashion_mnist(*options, hierarchy);
    spdlog::info("wrote {}: {} labeled ({} partially), {} validation, {} unlabeled, {} test images in {:.1f} s", options->out_dir,
                 split.labeled, split.partially_labeled, split.validation, split.unlabeled, split.test, seconds_since(start));
  });
}

void add_folder(CLI::App& data) {
  struct Args {
    std::string root, hierarchy, out;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = data.add_subcommand("folder", "Make a manifest from a folder tree (one folder level per hierarchy level)");
  cmd->add_option("--root", args->root, "Root of the folder tree")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--hierarchy", args->hierarchy, "Hierarchy YAML")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "Manifest CSV to write (- for stdout: paths relative to the current folder)")->required();
  cmd->callback([args] {
    const Hierarchy hierarchy = Hierarchy::load(args->hierarchy);
    // "-" resolves to the current folder, where a redirected stdout usually lands.
    const auto manifest_dir = std::filesystem::absolute(args->out).parent_path();
    std::filesystem::create_directories(manifest_dir);
    const auto rows = scan_image_folders(args->root, hierarchy, manifest_dir.string());
    const auto out = open_output(args->out);
    write_manifest(*out, rows, &hierarchy);
    if (!*out) throw std::runtime_error(fmt::format("{}: writing the manifest failed (disk full?)", args->out));
    // A log line, not data: with --out - stdout holds the manifest only.
    spdlog::info("wrote {}: {} images", args->out, rows.size());
  });
}

void add_check(CLI::App& data) {
  struct Args {
    std::string manifest, hierarchy, on_bad = "skip";
    std::int64_t max_pixels = DecodeOptions{}.max_pixels;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = data.add_subcommand("check", "Decode every image of a manifest and report the bad ones");
  cmd->add_option("manifest", args->manifest, "Manifest CSV")->required()->check(CLI::ExistingFile);
  cmd->add_option("--hierarchy", args->hierarchy, "Hierarchy YAML (needed for labeled manifests)")->check(CLI::ExistingFile);
  cmd->add_option("--on-bad", args->on_bad, "skip: count and list bad images; fail: stop at the first")
      ->check(CLI::IsMember({"skip", "fail"}))
      ->capture_default_str();
  cmd->add_option("--max-pixels", args->max_pixels, "Refuse images with more pixels")->capture_default_str();
  cmd->callback([args] {
    const auto start = std::chrono::steady_clock::now();
    std::unique_ptr<Hierarchy> hierarchy;
    if (!args->hierarchy.empty()) hierarchy = std::make_unique<Hierarchy>(Hierarchy::load(args->hierarchy));
    const Manifest manifest = load_manifest(args->manifest, hierarchy.get());
    const BadImagePolicy policy = parse_bad_image_policy(args->on_bad);
    DecodeOptions options;
    options.max_pixels = args->max_pixels;
    std::mutex bad_mutex;
    std::vector<std::string> bad;
    tbb::parallel_for(std::size_t{0}, manifest.rows.size(), [&](std::size_t i) {
      try {
        decode_image_file(manifest.image_path(manifest.rows[i]), options);
      } catch (const DecodeError& e) {
        if (policy == BadImagePolicy::fail) throw;
        std::lock_guard lock(bad_mutex);
        bad.push_back(fmt::format("line {}: {}", manifest.rows[i].line, e.what()));
      }
    });
    std::sort(bad.begin(), bad.end());
    for (const auto& line : bad) spdlog::warn("{}", line);
    fmt::print("{}: {} images, {} decoded, {} bad ({:.1f} s)\n", args->manifest, manifest.rows.size(),
               manifest.rows.size() - bad.size(), bad.size(), seconds_since(start));
    if (!bad.empty()) throw std::runtime_error(fmt::format("{} bad image(s) in {}", bad.size(), args->manifest));
  });
}

void install(CLI::App& app) {
  auto* data = app.add_subcommand("data", "Make and check data sets");
  data->require_subcommand(1);
  add_fashion_mnist(*data);
  add_folder(*data);
  add_check(*data);
}

}  // namespace

SEMIFLOW_COMMAND(install);

}  // namespace semiflow::cli
