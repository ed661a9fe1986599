// `evaluate`: runs a checkpoint's model (EMA weights when it has them) over labeled batches in
// eval mode without gradients and writes hierarchical metrics (nodes/metrics.h) as JSON.
#include "datasets/hierarchy.h"
#include "graph/node.h"
#include "nodes/stream_facts.h"
#include "nodes/batch.h"
#include "nodes/checkpoint.h"
#include "nodes/metrics.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <fstream>
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
        .check([](const Params& p, const std::vector<StreamFacts>&, Diagnostics& out) { facts::check_device(p, out); })
        .serial("it runs one model and accumulates one set of metrics");
  }

  explicit Evaluate(const Params& params)
      : checkpoint_(params.get_path("checkpoint").string()),
        output_(params.get_path("output").string()),
        device_(params.get_string("device")),
        loaded_(load_checkpoint_for_inference(checkpoint_, device_)) {
    if (!params.get_string("hierarchy").empty()) {
      const Hierarchy labels = Hierarchy::load(params.get_path("hierarchy").string());
      if (labels.to_yaml() != loaded_.hierarchy.to_yaml())
        throw std::invalid_argument(fmt::format("node '{}': hierarchy {} differs from the one stored in checkpoint {}; "
                                                "give the checkpoint's hierarchy or leave `hierarchy` out",
                                                params.node_name(), labels.source(), checkpoint_));
    }
    metrics_.emplace(loaded_.hierarchy);
  }

  void process(Inputs& in, Emitter&) override {
    const auto& batch = in[0].get<Batch>();
    if (batch.labels.empty())
      throw std::runtime_error("evaluate: the batch has no labels; feed it from a labeled manifest");
    torch::NoGradGuard no_grad;
    metrics_->add(loaded_.model->forward(batch.images.to(device_)), batch.labels);
  }

  void flush(Emitter&) override {
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
  std::string checkpoint_;
  std::string output_;
  torch::Device device_;
  LoadedModel loaded_;
  std::optional<HierarchicalMetrics> metrics_;  // built once the checkpoint's hierarchy is known
};

SEMIFLOW_REGISTER_NODE(Evaluate);

}  // namespace
}  // namespace semiflow::nodes
