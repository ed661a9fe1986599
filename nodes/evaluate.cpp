// `evaluate`: runs a checkpoint's model (EMA weights when it has them) over labeled batches in
// eval mode without gradients and writes hierarchical metrics (nodes/metrics.h) as JSON. In a
// distributed run each rank sees its shard of the stream; the ranks' logits are gathered by row
// (the padding's repeated rows counted once) and rank 0 writes the metrics of the whole stream.
#include "datasets/hierarchy.h"
#include "graph/node.h"
#include "nodes/stream_facts.h"
#include "nodes/batch.h"
#include "models/precision.h"
#include "nodes/checkpoint.h"
#include "nodes/device_feed.h"
#include "nodes/distributed.h"
#include "nodes/metrics.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <fstream>
#include <numeric>
#include <optional>

namespace semiflow::nodes {
namespace {

using namespace semiflow::graph;

class Evaluate : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("evaluate")
        .doc("Evaluates a checkpoint on labeled batches: per-level accuracy/macro-F1/confusion, AI Rush score, exact "
             "path and consistency, for argmax and hierarchy-consistent decoding; writes them as JSON.")
        .input("in", "batch")
        .required_param("checkpoint", ParamType::String, "checkpoint file written by the train node")
        .required_param("output", ParamType::String, "metrics JSON file to write when the stream ends")
        .param("hierarchy", "",
               "hierarchy YAML the batches' labels follow; must equal the checkpoint's (default: the checkpoint's)")
        .param("device", "cpu", "torch device to run the model on, e.g. cpu or cuda:0").safe_to_change()
        .param("precision", "fp32", "fp32, or the forward pass autocast in bf16 (CPU, CUDA) or fp16 (CUDA)").one_of({"fp32", "bf16", "fp16"})
        .check([](const Params& p, const std::vector<StreamFacts>&, Diagnostics& out) {
          facts::check_device(p, out);
          facts::check_precision(p, out);
        })
        .serial("it runs one model and accumulates one set of metrics");
  }

  explicit Evaluate(const Params& params)
      : checkpoint_(params.get_path("checkpoint").string()),
        output_(params.get_path("output").string()),
        device_(params.get_string("device")),
        precision_(parse_precision(params.get_string("precision"))),
        loaded_(load_checkpoint_for_inference(checkpoint_, device_)) {
    if (!params.get_string("hierarchy").empty()) {
      const Hierarchy labels = Hierarchy::load(params.get_path("hierarchy").string());
      if (labels.to_yaml() != loaded_.hierarchy.to_yaml())
        throw std::invalid_argument(fmt::format("node '{}': hierarchy {} differs from the one stored in checkpoint {}; "
                                                "give the checkpoint's hierarchy or leave `hierarchy` out",
                                                params.node_name(), labels.source(), checkpoint_));
    }
    metrics_.emplace(loaded_.hierarchy);
    group_ = distributed::connect(params.node_name(), c10::Device(c10::kCPU));
  }

  void process(Inputs& in, Emitter&) override {
    const auto& batch = in[0].get<Batch>();
    if (batch.labels.empty())
      throw std::runtime_error("evaluate: the batch has no labels; feed it from a labeled manifest");
    torch::NoGradGuard no_grad;
    auto logits = forward_logits(loaded_.model, feed_.to_device(batch).images, precision_);
    if (group_->size() == 1) {
      metrics_->add(logits, batch.labels);
      return;
    }
    for (auto& level : logits) level = level.to(torch::kCPU);
    logits_.push_back(torch::cat(logits, 1));
    labels_.push_back(torch::stack(batch.labels, 1));
    rows_.push_back(torch::tensor(batch.indices, torch::kInt64));
  }

  void flush(Emitter&) override {
    if (group_->size() > 1) gather_shards();
    if (!group_->is_root()) return;
    auto json = metrics_->result().to_json();
    json["checkpoint"] = checkpoint_;
    json["ema_weights"] = loaded_.ema_weights;
    json["epoch"] = loaded_.epoch;
    write_file_atomically(output_, [&](const std::string& temp_path) {
      std::ofstream out(temp_path);
      out << json.dump(2) << '\n';
      if (!out) throw std::runtime_error(fmt::format("{}: cannot write the metrics JSON", output_));
    });
    spdlog::info("evaluate: {} -> {}\n{}", checkpoint_, output_, metrics_->result().to_table());
  }

 private:
  // Every rank's logits and labels, by row, summed into zeros: each rank adds the rows it saw,
  // once each, and every row seen anywhere is scored once.
  void gather_shards() {
    const auto classes = loaded_.hierarchy.classes_per_level();
    const std::int64_t total_classes = std::accumulate(classes.begin(), classes.end(), std::int64_t{0});
    const auto levels = static_cast<std::int64_t>(classes.size());
    auto rows = rows_.empty() ? torch::zeros({0}, torch::kInt64) : torch::cat(rows_);
    auto largest = torch::zeros({group_->size()}, torch::kInt64);
    largest[group_->rank()] = rows.numel() > 0 ? rows.max().item<std::int64_t>() + 1 : 0;
    group_->sum(largest);
    const std::int64_t n = largest.max().item<std::int64_t>();
    auto seen = torch::zeros({n}, torch::kFloat64);
    seen.index_fill_(0, rows, 1.0);
    auto logits = torch::zeros({n, total_classes}, torch::kFloat32);
    auto labels = torch::zeros({n, levels}, torch::kInt64);
    if (rows.numel() > 0) {
      logits.index_copy_(0, rows, torch::cat(logits_));
      labels.index_copy_(0, rows, torch::cat(labels_) + 1);  // -1 (unknown) sums as 0
    }
    group_->sum(seen);
    group_->sum(logits);
    group_->sum(labels);
    const auto kept = seen.gt(0).nonzero().squeeze(1);
    const auto times = seen.index_select(0, kept);
    logits = logits.index_select(0, kept) / times.unsqueeze(1).to(torch::kFloat32);
    labels = labels.index_select(0, kept).div(times.unsqueeze(1).to(torch::kInt64), "floor") - 1;
    std::vector<torch::Tensor> per_level;
    for (std::int64_t l = 0; l < levels; ++l) per_level.push_back(labels.select(1, l).contiguous());
    metrics_->add(logits.split_with_sizes(std::vector<std::int64_t>(classes.begin(), classes.end()), 1), per_level);
  }

  std::string checkpoint_;
  std::string output_;
  torch::Device device_;
  DeviceFeed feed_{device_};
  Precision precision_;
  LoadedModel loaded_;
  std::optional<HierarchicalMetrics> metrics_;  // built once the checkpoint's hierarchy is known
  std::shared_ptr<distributed::Communicator> group_;
  std::vector<torch::Tensor> logits_, labels_, rows_;  // this rank's, in a distributed run
};

SEMIFLOW_REGISTER_NODE(Evaluate);

}  // namespace
}  // namespace semiflow::nodes
