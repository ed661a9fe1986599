// `semiflow bench input`: the input pipeline's throughput against raw TurboJPEG decoding of the
// same files on one core, measured in the same run. `semiflow bench train`: a config's training
// phase end to end against a PyTorch-Python loop over the same images, rounds interleaved.
#include "apps/command.h"
#include "apps/served_process.h"
#include "datasets/hierarchy.h"
#include "datasets/image_codec.h"
#include "datasets/manifest.h"
#include "datasets/transforms.h"
#include "graph/config.h"
#include "graph/phases.h"
#include "graph/runtime.h"
#include "nodes/stream_facts.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <tbb/info.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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

struct TrainBenchArgs {
  std::string config;
  std::string phase;
  int rounds = 3;
  int epochs = 2;
  std::string python = "/usr/bin/python3";
  int workers = 1;
  bool json = false;
};

bool has_node_of_type(const graph::Phase& phase, const std::string& type) {
  return std::any_of(phase.config.nodes.begin(), phase.config.nodes.end(),
                     [&type](const graph::NodeDef& node) { return node.type->schema.type_name() == type; });
}

// The phase named `name`, or without a name the first that trains; its first round when it repeats.
const graph::Phase& training_phase(const graph::RunPlan& plan, const std::string& name) {
  std::vector<std::string> names;
  for (const auto& phase : plan.phases) {
    if (name.empty() ? has_node_of_type(phase, "train") : phase.name == name) return phase;
    if (std::find(names.begin(), names.end(), phase.name) == names.end()) names.push_back(phase.name);
  }
  if (name.empty()) throw std::runtime_error(fmt::format("{}: no phase has a train node", plan.path.string()));
  throw std::runtime_error(fmt::format("{}: no phase named '{}' (phases: {})", plan.path.string(), name, fmt::join(names, ", ")));
}

// The benchmark reads the source's manifest in Python and times the trainer: one of each.
const graph::NodeDef& only_node_of_type(const graph::Phase& phase, const char* type) {
  const graph::NodeDef* found = nullptr;
  for (const auto& node : phase.config.nodes) {
    if (node.type->schema.type_name() != type) continue;
    if (found) throw std::runtime_error(fmt::format("phase {}: bench train needs one {} node, not several", phase.name, type));
    found = &node;
  }
  if (!found) throw std::runtime_error(fmt::format("phase {}: bench train needs a {} node", phase.name, type));
  return *found;
}

// What a round needs of the phase, read once from the config as written.
struct TrainPhase {
  std::string name;
  std::string prefix;  // what --set puts before a node's name: "PHASE." in a config with phases:
  std::string source, train;
  fs::path manifest, hierarchy;
  graph::Params train_params;
  std::int64_t batch_size = 0;
  int graph_threads = 1, torch_threads = 1;
};

TrainPhase describe_phase(const TrainBenchArgs& args) {
  const auto plan = graph::load_run_plan(args.config);
  const graph::Phase& phase = training_phase(plan, args.phase);
  const graph::NodeDef& source = only_node_of_type(phase, "source");
  const graph::NodeDef& train = only_node_of_type(phase, "train");
  const auto batch_size = facts::int_fact(phase.config.facts[train.inputs.front()], facts::kBatchSize);
  if (!batch_size) throw std::runtime_error(fmt::format("phase {}: node {} is not fed batches of a known size", phase.name, train.name));
  // A config with nodes: instead of phases: is the one phase "main", and --set names its nodes alone.
  const bool phased = plan.phases.size() > 1 || phase.name != "main";
  return {phase.name, phased ? phase.name + "." : "", source.name, train.name, source.params.get_path("manifest"),
          train.params.get_path("hierarchy"), train.params, *batch_size, phase.config.graph_threads, phase.config.torch_threads};
}

// The phase shrunk to `epochs` epochs of a fresh model writing into `dir`, without validation
// (validating on a test set is not training, and the reference does none).
std::vector<std::string> round_overrides(const TrainPhase& phase, int epochs, const fs::path& dir) {
  const std::string source = phase.prefix + phase.source + ".", train = phase.prefix + phase.train + ".";
  return {"out_dir=" + dir.string(),
          source + "epochs=" + std::to_string(epochs),
          train + "out_dir=" + dir.string(),  // also where the config does not write through ${out_dir}
          train + "resume=false",
          train + "eval_manifest=''",
          train + "best_metric=train_loss"};  // the default metric needs validation
}

struct Round {
  double images, seconds;
};

// The phase as `semiflow run` runs it (run_plan runs each phase with run_pipeline), the graph's
// construction (nodes, model) inside the time.
Round semiflow_round(const TrainBenchArgs& args, const TrainPhase& phase, const fs::path& dir) {
  const auto plan = graph::load_run_plan(args.config, round_overrides(phase, args.epochs, dir));
  const auto start = std::chrono::steady_clock::now();
  graph::run_pipeline(training_phase(plan, phase.name).config);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Counted as trained, one metrics.jsonl record per epoch, not assumed from the manifest.
  double images = 0;
  std::ifstream metrics(dir / "metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) images += nlohmann::json::parse(line).at("images").get<double>();
  if (images == 0) throw std::runtime_error(fmt::format("phase {} trained no images", phase.name));
  return {images, seconds};
}

// The reference's command line: the phase's data, model, optimizer and threads.
std::vector<std::string> reference_words(const TrainBenchArgs& args, const TrainPhase& phase) {
  const graph::Params& train = phase.train_params;
  if (train.get_string("optimizer") != "sgd")
    throw std::runtime_error(fmt::format("phase {}: the PyTorch-Python reference trains with SGD, node {} with {}; give --python ''",
                                         phase.name, phase.train, train.get_string("optimizer")));
  const Hierarchy hierarchy = Hierarchy::load(phase.hierarchy.string());
  const HierarchyLevel& finest = hierarchy.levels().back();
  std::vector<std::string> words = {args.python, SEMIFLOW_TRAIN_REFERENCE, "--serve",
                                    "--manifest", phase.manifest.string(),
                                    "--label-column", finest.name,
                                    "--classes", std::to_string(finest.classes.size()),
                                    "--arch", train.get_string("arch"),
                                    "--channels", std::to_string(train.get_int("channels")),
                                    "--image-size", std::to_string(train.get_int("image_size")),
                                    "--batch", std::to_string(phase.batch_size),
                                    "--lr", fmt::format("{}", train.get_float("lr")),
                                    "--momentum", fmt::format("{}", train.get_float("momentum")),
                                    "--nesterov", train.get_bool("nesterov") ? "1" : "0",
                                    "--weight-decay", fmt::format("{}", train.get_float("weight_decay")),
                                    "--clip-grad-norm", fmt::format("{}", train.get_float("clip_grad_norm")),
                                    "--ema-decay", fmt::format("{}", train.get_float("ema_decay")),
                                    "--threads", std::to_string(phase.torch_threads),
                                    "--workers", std::to_string(args.workers),
                                    "--epochs", std::to_string(args.epochs)};
  for (const char* list : {"mean", "std"}) {
    words.push_back(fmt::format("--{}", list));
    for (double value : train.get_numbers(list)) words.push_back(fmt::format("{}", value));
  }
  return words;
}

// Removed however the benchmark ends: it holds checkpoints nobody asked for.
struct TemporaryFolder {
  fs::path path;
  ~TemporaryFolder() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

void run_train_bench(const TrainBenchArgs& args) {
  const TrainPhase phase = describe_phase(args);
  std::unique_ptr<ServedProcess> reference;
  if (!args.python.empty()) {
    const auto words = reference_words(args, phase);
    reference = ServedProcess::start(words);
    if (!reference) fmt::print(stderr, "PyTorch-Python reference not run: {} {}\n", words[0], words[1]);
  }
  const TemporaryFolder folder{fs::temp_directory_path() / fmt::format("semiflow_bench_train_{}", getpid())};
  std::vector<double> ours, theirs, ratios;
  Round semiflow_last{}, python_last{};
  for (int round = 0; round < args.rounds; ++round) {
    semiflow_last = semiflow_round(args, phase, folder.path / fmt::format("round{}", round));
    ours.push_back(semiflow_last.images / semiflow_last.seconds);
    if (!reference) continue;
    const auto reply = reference->request("round");
    python_last = {reply.at("images").get<double>(), reply.at("seconds").get<double>()};
    theirs.push_back(python_last.images / python_last.seconds);
    ratios.push_back(ours.back() / theirs.back());
  }
  const Range semiflow = range_of(ours);
  nlohmann::json out = {{"config", args.config},
                        {"phase", phase.name},
                        {"epochs", args.epochs},
                        {"rounds", args.rounds},
                        {"graph_threads", phase.graph_threads},
                        {"torch_threads", phase.torch_threads},
                        {"images_per_round", semiflow_last.images},
                        {"images_per_s", semiflow.median},
                        {"images_per_s_range", {semiflow.min, semiflow.max}},
                        {"images_per_s_rounds", ours}};
  if (reference) {
    const Range python = range_of(theirs), ratio = range_of(ratios);
    out["python"] = {{"torch", reference->info.at("torch")},
                     {"workers", args.workers},
                     {"images_per_round", python_last.images},
                     {"images_per_s", python.median},
                     {"images_per_s_range", {python.min, python.max}},
                     {"images_per_s_rounds", theirs},
                     {"ratio", ratio.median},
                     {"ratio_range", {ratio.min, ratio.max}}};
  }
  if (args.json) {
    fmt::print("{}\n", out.dump());
    return;
  }
  fmt::print("semiflow {} phase {} (graph {} threads, torch {}), {:.0f} images a round ({} epochs): train {:.0f} images/s "
             "(median of {} rounds; {:.0f}-{:.0f})\n",
             args.config, phase.name, phase.graph_threads, phase.torch_threads, semiflow_last.images, args.epochs,
             semiflow.median, args.rounds, semiflow.min, semiflow.max);
  if (!reference) return;
  const auto& python = out["python"];
  fmt::print("PyTorch-Python (torch {}, DataLoader num_workers {}, torch threads {}), {:.0f} images a round: train {:.0f} "
             "images/s ({:.0f}-{:.0f}); semiflow/Python, round by round: {:.2f}x ({:.2f}-{:.2f})\n",
             python["torch"].get<std::string>(), args.workers, phase.torch_threads, python_last.images,
             python["images_per_s"].get<double>(), python["images_per_s_range"][0].get<double>(),
             python["images_per_s_range"][1].get<double>(), python["ratio"].get<double>(), python["ratio_range"][0].get<double>(),
             python["ratio_range"][1].get<double>());
}

void add_train_bench(CLI::App& bench) {
  auto args = std::make_shared<TrainBenchArgs>();
  auto* train = bench.add_subcommand(
      "train", "A config's training phase end to end (decode -> augment -> batch -> train, as `semiflow run` runs it) "
               "against a PyTorch-Python DataLoader loop on the same images; rounds interleaved");
  train->add_option("config", args->config, "Pipeline config (YAML)")->required()->check(CLI::ExistingFile);
  train->add_option("--phase", args->phase, "Phase to time (default: the first with a train node)");
  train->add_option("--rounds", args->rounds, "Rounds, each semiflow then Python")->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--epochs", args->epochs, "Epochs per round (the phase's source is shrunk to them)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  train->add_option("--python", args->python, "Interpreter with torch and torchvision; empty: no reference")->capture_default_str();
  train->add_option("--workers", args->workers, "The reference's DataLoader num_workers")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  train->add_flag("--json", args->json, "One JSON object instead of text");
  train->callback([args] { run_train_bench(*args); });
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
  add_train_bench(*bench);
}

}  // namespace

SEMIFLOW_COMMAND(install);

}  // namespace semiflow::cli
