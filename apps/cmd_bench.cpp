// `semiflow bench input`: the input pipeline's throughput against raw TurboJPEG decoding of the
// same files on one core, measured in the same run.
#include "apps/command.h"
#include "datasets/image_codec.h"
#include "datasets/manifest.h"
#include "datasets/transforms.h"
#include "graph/config.h"
#include "graph/runtime.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <tbb/info.h>

#include <chrono>
#include <filesystem>
#include <memory>

namespace fs = std::filesystem;

namespace semiflow::cli {
namespace {

struct InputBenchArgs {
  std::string manifest;
  std::string hierarchy;
  std::string archive;
  int repeat = 1;
  int crop = 32;
  int min_side = 0;
  int channels = 3;
  int photos = 0;
  int threads = 0;
  int raw_decode_limit = 20000;
  bool decode_crop = false;
  bool json = false;
};

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// Single-core decode of files already in memory: the ceiling a pipeline is compared with.
double raw_decode_rate(const Manifest& manifest, int limit) {
  const std::size_t count = std::min<std::size_t>(manifest.rows.size(), static_cast<std::size_t>(limit));
  std::vector<std::vector<std::uint8_t>> files;
  for (std::size_t i = 0; i < count; ++i) files.push_back(read_file_bytes(manifest.image_path(manifest.rows[i])));
  const auto start = std::chrono::steady_clock::now();
  std::size_t pixels = 0;
  for (const auto& bytes : files) pixels += decode_image(bytes.data(), bytes.size(), "bench").pixels.size();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (pixels == 0) throw std::runtime_error("raw decode produced no pixels");
  return static_cast<double>(count) / seconds;
}

// Textured RGB photos (gradients plus noise) so JPEG sizes are realistic.
std::string write_photos(const fs::path& dir, int count) {
  fs::create_directories(dir);
  std::vector<ManifestRow> rows;
  Rng rng(1);
  for (int i = 0; i < count; ++i) {
    Image image(500, 375, 3);
    for (int y = 0; y < image.height; ++y)
      for (int x = 0; x < image.width; ++x)
        for (int c = 0; c < 3; ++c)
          image.at(y, x, c) = static_cast<std::uint8_t>((x * (c + 1) / 3 + y / 2 + i * 7 + static_cast<int>(rng.below(32))) & 255);
    const std::string name = fmt::format("photo{:05d}.jpg", i);
    write_file_bytes((dir / name).string(), encode_jpeg(image, 90));
    rows.push_back({name, {}, 0});
  }
  const auto manifest = (dir / "photos.csv").string();
  save_manifest(manifest, rows, nullptr);
  return manifest;
}

std::string pipeline_yaml(const InputBenchArgs& args, const std::string& manifest) {
  const std::string hierarchy = args.hierarchy.empty() ? "" : fmt::format(", hierarchy: '{}'", fs::absolute(args.hierarchy).string());
  const std::string archive = args.archive.empty() ? "" : fmt::format(", archive: '{}'", fs::absolute(args.archive).string());
  // RandomResizedCrop either after a full decode, or fused: decode picks the same kind of window
  // and decodes only it, and augment resizes it.
  const std::string window = args.decode_crop ? ", random_area: [0.08, 1.0]" : "";
  const std::string crop = args.decode_crop ? fmt::format("resize width={0} height={0}", args.crop)
                                            : fmt::format("random_resized_crop size={}", args.crop);
  return fmt::format(
      "threads: {{graph: {}}}\nmax_in_flight: 64\nnodes:\n"
      "  - {{name: source, type: source, manifest: '{}'{}, epochs: {}, micro_batch: 64}}\n"
      "  - {{name: decode, type: decode, input: source, min_side: {}, channels: {}{}{}}}\n"
      "  - {{name: augment, type: augment, input: decode,\n"
      "     ops: [{}, hflip p=0.5, rand_augment n=2 m=9]}}\n"
      "  - {{name: batch, type: batch, input: augment, batch_size: 128}}\n"
      "  - {{name: sink, type: discard, input: batch}}\n",
      args.threads > 0 ? args.threads : tbb::info::default_concurrency(), fs::absolute(manifest).string(), hierarchy, args.repeat,
      args.min_side, args.channels, archive, window, crop);
}

void run_input_bench(const InputBenchArgs& args) {
  std::string manifest_path = args.manifest;
  std::unique_ptr<fs::path> photo_dir;
  if (args.photos > 0) {
    photo_dir = std::make_unique<fs::path>(fs::temp_directory_path() / fmt::format("semiflow_bench_photos_{}", args.photos));
    manifest_path = write_photos(*photo_dir, args.photos);
  }
  std::unique_ptr<Hierarchy> hierarchy;
  if (!args.hierarchy.empty()) hierarchy = std::make_unique<Hierarchy>(Hierarchy::load(args.hierarchy));
  const Manifest manifest = load_manifest(manifest_path, hierarchy.get());
  const double raw_rate = raw_decode_rate(manifest, args.raw_decode_limit);

  const auto config = graph::parse_pipeline_config(pipeline_yaml(args, manifest_path), fs::current_path() / "<bench input>");
  const auto result = graph::run_pipeline(config);
  const double images = static_cast<double>(manifest.rows.size()) * args.repeat;
  const double rate = images / result.stats.elapsed_s;
  const double ratio = rate / raw_rate;
  if (args.json) {
    nlohmann::json out = {{"images", images},
                          {"images_per_s", rate},
                          {"raw_decode_images_per_s_1core", raw_rate},
                          {"ratio", ratio},
                          {"peak_rss_mb", peak_rss_mb()},
                          {"threads", config.graph_threads},
                          {"crop", args.crop},
                          {"archive", args.archive},
                          {"decode_crop", args.decode_crop},
                          {"nodes", result.stats.to_json()}};
    fmt::print("{}\n", out.dump(2));
  } else {
    fmt::print("{}", result.stats.to_table());
    fmt::print("input pipeline: {:.0f} images in {:.2f} s = {:.0f} images/s ({} threads)\n", images, result.stats.elapsed_s, rate,
               config.graph_threads);
    fmt::print("raw TurboJPEG decode, 1 core: {:.0f} images/s\n", raw_rate);
    fmt::print("ratio pipeline / raw decode (1 core): {:.3f}\n", ratio);
    fmt::print("peak RSS: {:.1f} MB\n", peak_rss_mb());
  }
  if (photo_dir) fs::remove_all(*photo_dir);
}

void install(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks (ratios against a baseline measured in the same run)");
  bench->require_subcommand(1);
  auto args = std::make_shared<InputBenchArgs>();
  auto* input = bench->add_subcommand("input", "decode -> RandomResizedCrop -> flip -> RandAugment(2,9) -> normalize -> batch 128");
  auto* manifest = input->add_option("--manifest", args->manifest, "Images to read (e.g. data/fmnist/unlabeled.csv)")->check(CLI::ExistingFile);
  auto* photos = input->add_option("--photos", args->photos, "Instead, generate this many 500x375 JPEG photos");
  manifest->excludes(photos);
  input->add_option("--hierarchy", args->hierarchy, "Hierarchy, for a labeled manifest")->check(CLI::ExistingFile);
  input->add_option("--archive", args->archive, "Read the manifest's images from this tar archive (decode's archive)")
      ->check(CLI::ExistingFile)
      ->excludes(photos);
  input->add_option("--repeat", args->repeat, "Passes over the manifest (memory must stay flat)")->capture_default_str();
  input->add_option("--crop", args->crop, "RandomResizedCrop output size")->capture_default_str();
  input->add_option("--min-side", args->min_side, "Decode JPEGs at a reduced DCT scale keeping this size")->capture_default_str();
  input->add_option("--channels", args->channels, "Decode to 1 (gray; normalize replicates it to RGB) or 3 channels")
      ->check(CLI::IsMember({1, 3}))
      ->capture_default_str();
  input->add_option("--threads", args->threads, "Graph threads (0: all cores)")->capture_default_str();
  input->add_option("--raw-decode-limit", args->raw_decode_limit, "Files decoded for the raw baseline")->capture_default_str();
  input->add_flag("--decode-crop", args->decode_crop,
                  "Decode only RandomResizedCrop's window (decode's random_area), then resize it, instead of cropping a full decode");
  input->add_flag("--json", args->json, "Print JSON");
  input->callback([args] {
    if (args->manifest.empty() && args->photos <= 0) throw CLI::ValidationError("--manifest or --photos", "give one of them");
    run_input_bench(*args);
  });
}

}  // namespace

SEMIFLOW_COMMAND(install);

}  // namespace semiflow::cli
