// `teacher_inference`: runs teacher checkpoints over the unlabeled set and writes their per-level
// probabilities to the HDF5 pseudo-label cache (datasets/pseudo_label_cache.h). The cache is keyed
// on the teacher weights, the unlabeled manifest and everything upstream in the graph (decode,
// resize, normalization); when a complete cache with the same keys exists the node is up to date
// and the graph is not run at all.
//
// Distributed: each rank labels its shard of the manifest (the source's, nodes/sharding.h) into
// its own cache, `<cache>.shard<r>-of<W>`, with the same crash safety; once every rank is done,
// rank 0 merges the shards into the cache (datasets: merge_interleaved_shards, which checks each
// shard's rows) and removes them. The cache does not depend on the world size that made it.
#include "datasets/hierarchy.h"
#include "datasets/manifest.h"
#include "datasets/pseudo_label_cache.h"
#include "graph/node.h"
#include "nodes/stream_facts.h"
#include "nodes/batch.h"
#include "models/precision.h"
#include "nodes/checkpoint.h"
#include "nodes/device.h"
#include "nodes/device_feed.h"
#include "nodes/distributed.h"
#include "nodes/sharding.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <atomic>
#include <filesystem>
#include <chrono>
#include <memory>
#include <optional>

namespace semiflow::nodes {
namespace {

using namespace semiflow::graph;
using Clock = std::chrono::steady_clock;

class TeacherInference : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("teacher_inference")
        .doc("Runs teacher checkpoints (eval mode, no gradients) over unlabeled batches, averages their per-level "
             "probabilities (and over flipped images), and writes them to an HDF5 pseudo-label cache; up to date "
             "(graph skipped) when the cache is complete for the same teachers, manifest and preprocessing.")
        .input("in", "batch")
        .required_param("checkpoints", ParamType::StringList, "teacher checkpoints; an ensemble averages their probabilities")
        .required_param("manifest", ParamType::String, "the unlabeled manifest the source reads (with shuffle: false, epochs: 1)")
        .required_param("cache", ParamType::String, "the HDF5 pseudo-label cache to write, or to reuse when it matches")
        .param("flip", false, "also run on horizontally flipped images and average (test-time augmentation)")
        .param("chunk_rows", 1024, "HDF5 chunk length in rows").at_least(1)
        .param("device", "auto", "auto, cpu, cuda or cuda:N").safe_to_change()
        .param("precision", "fp32", "fp32, or the teachers' forward passes autocast in bf16 (CPU, CUDA) or fp16 (CUDA); part of the cache's key")
        .one_of({"fp32", "bf16", "fp16"})
        .check([](const Params& p, const std::vector<StreamFacts>&, Diagnostics& out) {
          facts::check_device(p, out);
          facts::check_precision(p, out);
          facts::require_file(p, "manifest", out, "make it with `semiflow data` or fix the path (relative to the config)");
        })
        .serial("rows are appended to the cache in manifest order");
  }

  explicit TeacherInference(const Params& params)
      : name_(params.node_name()),
        cache_path_(params.get_path("cache").string()),
        flip_(params.get_bool("flip")),
        device_(resolve_device(params.get_string("device"))),
        precision_(parse_precision(params.get_string("precision"))) {
    check_precision(precision_, device_.type());
    prepare_device(device_);
    const std::string manifest_path = params.get_path("manifest").string();
    const Manifest manifest = load_manifest(manifest_path, nullptr);
    for (const auto& row : manifest.rows) manifest_paths_.push_back(manifest.image_path(row));
    if (params.get_strings("checkpoints").empty()) throw std::invalid_argument("checkpoints: give at least one teacher");

    std::string teacher_fingerprints;
    for (const auto& checkpoint : params.get_strings("checkpoints")) {
      const std::string path = params.resolve_path(checkpoint).string();
      teachers_.push_back(load_checkpoint_for_inference(path, device_));
      if (teachers_.back().hierarchy.to_yaml() != teachers_.front().hierarchy.to_yaml())
        throw std::invalid_argument(fmt::format("{}: its hierarchy differs from the first teacher's; an ensemble needs one hierarchy", path));
      teacher_fingerprints += fingerprint_file(path);
      checkpoint_paths_.push_back(path);
    }
    CacheHeader header = CacheHeader::for_hierarchy(teachers_.front().hierarchy);
    header.rows_expected = static_cast<long>(manifest_paths_.size());
    chunk_rows_ = params.get_int("chunk_rows");
    header.fingerprints.teacher = fingerprint_bytes(teacher_fingerprints);
    header.fingerprints.manifest = fingerprint_file(manifest_path);
    // fp32 adds nothing to the key, so caches written before `precision` existed stay valid.
    header.fingerprints.preprocessing = fingerprint_bytes(fmt::format(
        "{};flip={}{}", params.input_fingerprint(), flip_,
        precision_ == Precision::fp32 ? std::string() : std::string(";precision=") + to_string(precision_)));
    status_ = check_cache(cache_path_, header.fingerprints);
    if (status_.state == CacheState::hit) {
      spdlog::info("{}: cache hit, {} is complete for these teachers, manifest and preprocessing; no inference", name_,
                   cache_path_);
      return;
    }
    spdlog::info("{}: {}", name_, status_.message);
    header_ = header;
    group_ = distributed::connect(name_, c10::Device(c10::kCPU));
    CacheHeader shard_header = header;
    shard_header.rows_expected = static_cast<long>(shard_.size_of(manifest_paths_.size()));
    CacheWriterOptions options;
    options.chunk_rows = chunk_rows_;
    writer_.emplace(shard_path(shard_.rank), shard_header, options);
    if (writer_->resumed())
      spdlog::info("{}: resuming {}.partial after its first {} rows", name_, shard_path(shard_.rank), writer_->resumed_rows());
  }

  bool up_to_date() const override { return status_.state == CacheState::hit; }

  void process(Inputs& in, Emitter&) override {
    if (!writer_) return;
    const Batch& batch = in[0].get<Batch>();
    const auto started = Clock::now();
    const std::int64_t n = batch.size();
    // A resumed cache already holds the first rows; only the rest are run.
    const std::int64_t skip = std::clamp<std::int64_t>(writer_->rows_written() - rows_seen_, 0, n);
    const auto rows = static_cast<std::int64_t>(manifest_paths_.size());
    const auto shard_rows = static_cast<std::int64_t>(shard_.size_of(manifest_paths_.size()));
    for (std::int64_t i = 0; i < n; ++i) {
      // This rank's k-th row is row (rank + k * world_size) mod N of the manifest.
      const std::int64_t k = rows_seen_ + i;
      const auto expected = static_cast<std::int64_t>(shard_.position(static_cast<std::uint64_t>(k))) % rows;
      if (k >= shard_rows || batch.indices[i] != expected || batch.paths[i] != manifest_paths_[expected])
        throw std::runtime_error(fmt::format("{}: row {} arrived where row {} of the manifest was expected; give the "
                                             "source this node's manifest with shuffle: false and epochs: 1",
                                             batch.paths[i], batch.indices[i], expected));
    }
    rows_seen_ += n;
    rows_done_ = rows_seen_;
    if (skip == n) return;
    const auto images = feed_.to_device(batch).images.slice(0, skip);
    const auto probabilities = average_probabilities(images);
    std::vector<ProbabilityMatrix> levels;
    for (const auto& level : probabilities) {
      const auto cpu = level.to(torch::kCPU).contiguous();
      ProbabilityMatrix matrix(cpu.size(0), static_cast<int>(cpu.size(1)));
      std::copy(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel(), matrix.values.begin());
      levels.push_back(std::move(matrix));
    }
    writer_->append({batch.paths.begin() + skip, batch.paths.end()}, levels);
    inferred_ += n - skip;
    inference_s_ += std::chrono::duration<double>(Clock::now() - started).count();
  }

  void flush(Emitter&) override {
    if (!writer_) return;
    const auto shard_rows = static_cast<long>(shard_.size_of(manifest_paths_.size()));
    if (writer_->rows_written() != shard_rows)
      throw std::runtime_error(fmt::format("the stream ended after {} of {} manifest rows; {}.partial is kept for a resume",
                                           writer_->rows_written(), shard_rows, shard_path(shard_.rank)));
    writer_->finish();
    writer_.reset();
    if (shard_.count > 1) merge_shards();
    spdlog::info("{}: wrote {} ({} rows, {} inferred at {:.0f} images/s)", name_, cache_path_, manifest_paths_.size(),
                 inferred_, static_cast<double>(inferred_) / std::max(inference_s_, 1e-9));
  }

  WorkProgress progress() const override {
    return {static_cast<std::uint64_t>(rows_done_.load()), shard_.size_of(manifest_paths_.size()), "images"};
  }

  nlohmann::json report() const override {
    return {{"cache", cache_path_},
            {"cache_state", status_.state == CacheState::hit ? "hit" : "miss"},
            {"cache_status", to_string(status_.state)},
            {"teachers", checkpoint_paths_},
            {"rows", manifest_paths_.size()},
            {"inferred_rows", inferred_},
            {"inference_s", inference_s_}};
  }

 private:
  // The cache itself in a world of one; rank r's part of it otherwise.
  std::string shard_path(int rank) const {
    return shard_.count == 1 ? cache_path_ : fmt::format("{}.shard{}-of{}", cache_path_, rank, shard_.count);
  }

  // Every rank has finished its shard: rank 0 merges them.
  void merge_shards() {
    group_->barrier();
    if (!group_->is_root()) return;
    std::vector<std::string> shards;
    for (int rank = 0; rank < shard_.count; ++rank) shards.push_back(shard_path(rank));
    CacheWriterOptions options;
    options.chunk_rows = chunk_rows_;
    merge_interleaved_shards(shards, cache_path_, header_, options);
    for (const auto& shard : shards) std::filesystem::remove(shard);
    spdlog::info("{}: merged the {} ranks' shards into {}", name_, shard_.count, cache_path_);
  }

  // Mean over teachers (and flips) of each level's softmax.
  std::vector<torch::Tensor> average_probabilities(const torch::Tensor& images) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> sums;
    int views = 0;
    auto add = [&](const std::vector<torch::Tensor>& logits) {
      for (std::size_t level = 0; level < logits.size(); ++level) {
        auto p = torch::softmax(logits[level].to(torch::kFloat32), 1);
        if (sums.size() <= level) sums.push_back(p);
        else sums[level] += p;
      }
      ++views;
    };
    AutocastGuard autocast(device_.type(), precision_);
    for (auto& teacher : teachers_) {
      add(teacher.model->forward(images));
      if (flip_) add(teacher.model->forward(images.flip({3})));
    }
    for (auto& sum : sums) sum /= views;
    return sums;
  }

  std::string name_;
  std::string cache_path_;
  bool flip_;
  torch::Device device_;
  DeviceFeed feed_{device_};
  Precision precision_;
  std::vector<std::string> manifest_paths_;
  std::vector<LoadedModel> teachers_;
  std::vector<std::string> checkpoint_paths_;
  CacheStatus status_;
  CacheHeader header_;
  long chunk_rows_ = 1024;
  Shard shard_ = Shard::of_this_process();
  std::shared_ptr<distributed::Communicator> group_;
  std::optional<PseudoLabelCacheWriter> writer_;
  std::int64_t rows_seen_ = 0;
  std::atomic<std::int64_t> rows_done_{0};  // rows_seen_, for progress() from the monitoring thread
  std::int64_t inferred_ = 0;
  double inference_s_ = 0;
};

SEMIFLOW_REGISTER_NODE(TeacherInference);

}  // namespace
}  // namespace semiflow::nodes
