// `source`: reads a manifest and emits its rows as micro-batches of samples, epoch after epoch.
#include "datasets/manifest.h"
#include "datasets/sample.h"
#include "datasets/transforms.h"
#include "graph/node.h"
#include "nodes/sharding.h"
#include "nodes/stream_facts.h"

#include <fmt/format.h>

#include <memory>
#include <numeric>

namespace semiflow::nodes {
namespace {

using namespace semiflow::graph;

class Source : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("source")
        .doc("Reads a manifest and emits its images (as micro-batches of samples), shuffled per epoch; in a distributed run, this rank's shard.")
        .output("out", "samples")
        .required_param("manifest", ParamType::String, "manifest CSV (relative to the config file)")
        .param("hierarchy", "", "hierarchy YAML for a labeled manifest; empty for an unlabeled one")
        .param("epochs", 1, "passes over the data; 0 repeats without end (unlabeled streams)").at_least(0).safe_to_change()
        .param("shuffle", true, "reshuffle the order every epoch")
        .param("seed", 0, "seed of the shuffle (each epoch gets its own order)")
        .param("micro_batch", 32, "samples per emitted item").at_least(1)
        .check([](const Params& p, const std::vector<StreamFacts>&, Diagnostics& out) {
          facts::require_file(p, "manifest", out, "make it with `semiflow data` or fix the path (relative to the config)");
          facts::require_file(p, "hierarchy", out, "fix the path (relative to the config)");
        })
        .stream([](const Params& p, const std::vector<StreamFacts>&, Diagnostics&) {
          StreamFacts stream;
          if (const auto rows = facts::manifest_rows(p.get_path("manifest").string()))
            stream[facts::kItemsPerEpoch] =
                facts::stated(p, "manifest", static_cast<std::int64_t>(Shard::of_this_process().size_of(static_cast<std::size_t>(*rows))));
          if (p.get_int("epochs") > 0) stream[facts::kEpochs] = facts::stated(p, "epochs", p.get_int("epochs"));
          if (!p.get_string("hierarchy").empty())
            stream[facts::kLabeledManifest] = facts::stated(p, "manifest", p.get_string("manifest"));
          return stream;
        })
        .serial("the order of rows is decided in one place so runs are reproducible");
  }

  explicit Source(const Params& params)
      : epochs_(params.get_int("epochs")),
        shuffle_(params.get_bool("shuffle")),
        seed_(static_cast<std::uint64_t>(params.get_int("seed"))),
        micro_batch_(params.get_int("micro_batch")) {
    if (micro_batch_ < 1) throw std::invalid_argument("micro_batch must be at least 1");
    if (epochs_ < 0) throw std::invalid_argument("epochs must be >= 0 (0: repeat without end)");
    const std::string hierarchy_path = params.get_string("hierarchy");
    if (!hierarchy_path.empty()) hierarchy_ = std::make_unique<Hierarchy>(Hierarchy::load(params.get_path("hierarchy").string()));
    manifest_ = load_manifest(params.get_path("manifest").string(), hierarchy_.get());
    if (manifest_.rows.empty()) throw std::invalid_argument(fmt::format("{}: the manifest lists no images", manifest_.source));
    start_epoch();
  }

  bool generate(Emitter& out) override {
    if (position_ == order_.size()) {
      if (epochs_ != 0 && epoch_ + 1 >= epochs_) return false;
      ++epoch_;
      start_epoch();
    }
    const std::size_t end = std::min(order_.size(), position_ + static_cast<std::size_t>(micro_batch_));
    Samples samples(end - position_);
    for (std::size_t k = 0; k < samples.size(); ++k) {
      const std::size_t row_index = order_[position_ + k];
      const ManifestRow& row = manifest_.rows[row_index];
      samples[k].path = manifest_.image_path(row);
      samples[k].index = row_index;
      samples[k].epoch = epoch_;
      samples[k].labels = row.labels;
    }
    std::string origin = fmt::format("{} rows {}..{} of epoch {}", manifest_.source, position_, end - 1, epoch_);
    position_ = end;
    out.emit(std::move(samples), std::move(origin));
    return true;
  }

 private:
  void start_epoch() {
    std::vector<std::size_t> order(manifest_.rows.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    if (shuffle_) {
      Rng rng = Rng::for_item(seed_, static_cast<std::uint64_t>(epoch_), ~std::uint64_t{0});
      shuffle_in_place(order, rng);
    }
    order_ = shard_.take(order);
    position_ = 0;
  }

  std::int64_t epochs_;
  bool shuffle_;
  std::uint64_t seed_;
  std::int64_t micro_batch_;
  std::unique_ptr<Hierarchy> hierarchy_;
  Manifest manifest_;
  Shard shard_ = Shard::of_this_process();
  std::vector<std::size_t> order_;
  std::size_t position_ = 0;
  std::int64_t epoch_ = 0;
};

SEMIFLOW_REGISTER_NODE(Source);

}  // namespace
}  // namespace semiflow::nodes
