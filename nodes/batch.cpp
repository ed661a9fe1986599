// `batch`: collates samples into NCHW float tensors with per-level labels and soft targets.
#include "nodes/batch.h"

#include "datasets/sample.h"
#include "datasets/transforms.h"
#include "graph/node.h"
#include "nodes/device_feed.h"
#include "nodes/stream_facts.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

namespace semiflow::nodes {
namespace {

using namespace semiflow::graph;

std::vector<float> to_floats(const std::vector<double>& values) { return {values.begin(), values.end()}; }

// Image tensors of batches that have been freed, for the next batches to reuse. A fresh tensor of
// large images takes new pages from the kernel on every batch, and those page faults cost about
// as much as normalizing the pixels (224x224 batches here). A tensor's buffer comes back when its
// last user drops it, so the pool never holds more buffers than batches were alive at once.
class TensorBufferPool : public std::enable_shared_from_this<TensorBufferPool> {
 public:
  ~TensorBufferPool() {
    for (void* buffer : free_) std::free(buffer);
  }

  torch::Tensor take_floats(at::IntArrayRef sizes) {
    std::size_t count = 1;
    for (const auto size : sizes) count *= static_cast<std::size_t>(size);
    void* buffer = nullptr;
    {
      std::lock_guard lock(mutex_);
      if (count != floats_) {  // images changed size (a new progressive-learning stage)
        for (void* old : free_) std::free(old);
        free_.clear();
        floats_ = count;
      }
      if (!free_.empty()) {
        buffer = free_.back();
        free_.pop_back();
      }
    }
    if (!buffer) buffer = std::aligned_alloc(64, (count * sizeof(float) + 63) / 64 * 64);
    if (!buffer) throw std::bad_alloc();
    return torch::from_blob(
        buffer, sizes, [pool = shared_from_this(), count](void* data) { pool->give_back(data, count); }, torch::kFloat32);
  }

 private:
  void give_back(void* buffer, std::size_t count) {
    std::lock_guard lock(mutex_);
    if (count == floats_)
      free_.push_back(buffer);
    else
      std::free(buffer);
  }

  std::mutex mutex_;
  std::size_t floats_ = 0;
  std::vector<void*> free_;
};

class BatchNode : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("batch")
        .doc("Collates samples into [N,C,H,W] float tensors (normalized) with per-level labels and soft targets.")
        .input("in", "samples")
        .output("out", "batch")
        .param("batch_size", 128, "images per batch (two_view_source streams: the images of one step)").at_least(1).from_stream(facts::kStepSize)
        .param("drop_last", false, "drop an epoch's last, smaller batch")
        .param("mean", std::vector<double>{0.485, 0.456, 0.406}, "per-channel mean (of values in [0, 1])")
        .param("std", std::vector<double>{0.229, 0.224, 0.225}, "per-channel standard deviation").greater_than(0)
        .param("pin_memory", "auto", "write batches into page-locked memory, which CUDA copies asynchronously; auto: where CUDA is available")
            .one_of({"auto", "true", "false"})
        .check([](const Params& p, const std::vector<StreamFacts>& in, Diagnostics& out) {
          if (p.get_numbers("mean").size() != p.get_numbers("std").size())
            out.error("std", fmt::format("mean has {} values but std has {}; give one per channel", p.get_numbers("mean").size(),
                                         p.get_numbers("std").size()));
          if (p.get_string("pin_memory") == "true" && !pinned_memory_available())
            out.error("pin_memory", "pinned memory needs CUDA, which this build or machine does not have; write auto or false");
          const auto channels = facts::int_fact(in[0], facts::kChannels);
          const auto given = static_cast<std::int64_t>(p.get_numbers("mean").size());
          if (channels && given != 1 && given != *channels)
            out.error("mean", fmt::format("mean has {} values but the images have {} channels (set by {})", given, *channels,
                                          in[0].at(facts::kChannels).stated_by));
        })
        .stream([](const Params& p, const std::vector<StreamFacts>& in, Diagnostics&) {
          StreamFacts stream = in[0];
          const auto batch_size = p.get_int("batch_size");
          stream[facts::kBatchSize] = facts::stated(p, "batch_size", batch_size);
          stream[facts::kMean] = facts::stated(p, "mean", p.get_numbers("mean"));
          stream[facts::kStd] = facts::stated(p, "std", p.get_numbers("std"));
          // A stream of whole steps (two_view_source) already says how many it has.
          if (!stream.count(facts::kStepsPerEpoch))
            if (const auto items = facts::int_fact(in[0], facts::kItemsPerEpoch)) {
              const auto steps = p.get_bool("drop_last") ? *items / batch_size : (*items + batch_size - 1) / batch_size;
              stream[facts::kStepsPerEpoch] = {steps, fmt::format("{} / node '{}' (batch_size{})", in[0].at(facts::kItemsPerEpoch).stated_by,
                                                                  p.node_name(), p.get_bool("drop_last") ? ", drop_last" : "")};
            }
          return stream;
        })
        .serial("it gathers samples in stream order so batches are reproducible")
        .accumulates();
  }

  explicit BatchNode(const Params& params)
      : batch_size_(params.get_int("batch_size")),
        drop_last_(params.get_bool("drop_last")),
        normalize_(to_floats(params.get_numbers("mean")), to_floats(params.get_numbers("std"))),
        pinned_(params.get_string("pin_memory") == "true" || (params.get_string("pin_memory") == "auto" && pinned_memory_available())) {
    if (batch_size_ < 1) throw std::invalid_argument("batch_size must be at least 1");
  }

  void process(Inputs& in, Emitter& out) override {
    for (auto& sample : in[0].get<Samples>()) {
      if (!pending_.empty() && sample.epoch != pending_.front().epoch) finish_epoch(out);
      pending_.push_back(std::move(sample));
      if (static_cast<std::int64_t>(pending_.size()) == batch_size_) emit_pending(out);
    }
  }

  void flush(Emitter& out) override { finish_epoch(out); }

 private:
  void finish_epoch(Emitter& out) {
    if (drop_last_) pending_.clear();
    if (!pending_.empty()) emit_pending(out);
  }

  void emit_pending(Emitter& out) {
    const auto n = static_cast<std::int64_t>(pending_.size());
    const Sample& first = pending_.front();
    const int height = first.image.height, width = first.image.width, channels = normalize_.channels();
    Batch batch;
    batch.epoch = first.epoch;
    // Pinned blocks come from torch's caching host allocator, which reuses them as the pool does.
    batch.images = pinned_ ? torch::empty({n, channels, height, width}, torch::dtype(torch::kFloat32).pinned_memory(true))
                           : image_buffers_->take_floats({n, channels, height, width});
    float* pixels = batch.images.data_ptr<float>();
    const std::size_t image_floats = static_cast<std::size_t>(channels) * height * width;
    for (std::int64_t i = 0; i < n; ++i) {
      const Sample& s = pending_[i];
      if (s.image.width != width || s.image.height != height)
        throw std::runtime_error(fmt::format("{}: image is {}x{} but the batch is {}x{}; add a resize or crop to augment",
                                             s.path, s.image.width, s.image.height, width, height));
      if (s.labels.size() != first.labels.size())
        throw std::runtime_error(fmt::format("{}: labeled and unlabeled samples in one batch", s.path));
      normalize_(s.image, pixels + i * image_floats);
      batch.paths.push_back(s.path);
      batch.indices.push_back(static_cast<std::int64_t>(s.index));
      batch.views.push_back(s.view);
    }
    for (std::size_t level = 0; level < first.labels.size(); ++level) {
      auto labels = torch::empty({n}, torch::dtype(torch::kInt64).pinned_memory(pinned_));
      auto* data = labels.data_ptr<std::int64_t>();
      for (std::int64_t i = 0; i < n; ++i) data[i] = pending_[i].labels[level];
      batch.labels.push_back(labels);
    }
    collate_soft_targets(batch);
    std::string origin = fmt::format("batch starting at {}", first.path);  // `first` dies with pending_
    pending_.clear();
    out.emit(std::move(batch), std::move(origin));
  }

  void collate_soft_targets(Batch& batch) const {
    std::size_t levels = 0;
    for (const auto& s : pending_) levels = std::max(levels, s.soft_targets.size());
    const auto n = static_cast<std::int64_t>(pending_.size());
    for (std::size_t level = 0; level < levels; ++level) {
      std::int64_t classes = 0;
      for (const auto& s : pending_)
        if (level < s.soft_targets.size()) classes = std::max<std::int64_t>(classes, static_cast<std::int64_t>(s.soft_targets[level].size()));
      auto targets = torch::zeros({n, classes}, torch::dtype(torch::kFloat32).pinned_memory(pinned_));
      auto* data = targets.data_ptr<float>();
      for (std::int64_t i = 0; i < n; ++i) {
        const auto& s = pending_[i];
        if (level >= s.soft_targets.size() || s.soft_targets[level].empty()) continue;  // stays a zero row: no target
        if (static_cast<std::int64_t>(s.soft_targets[level].size()) != classes)
          throw std::runtime_error(fmt::format("{}: soft target of level {} has {} classes, expected {}", s.path, level,
                                               s.soft_targets[level].size(), classes));
        std::copy(s.soft_targets[level].begin(), s.soft_targets[level].end(), data + i * classes);
      }
      batch.soft_targets.push_back(targets);
    }
  }

  std::int64_t batch_size_;
  bool drop_last_;
  Normalizer normalize_;
  bool pinned_;
  std::shared_ptr<TensorBufferPool> image_buffers_ = std::make_shared<TensorBufferPool>();
  Samples pending_;
};

SEMIFLOW_REGISTER_NODE(BatchNode);

}  // namespace
}  // namespace semiflow::nodes
