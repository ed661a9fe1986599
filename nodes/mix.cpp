// `mix`: CutMix and MixUp on batches, mixing every hierarchy level's targets with the same
// weight as the pixels. A level unknown (-1, or a zero soft-target row) on either side of a
// pair gives no target for the mixed image at that level, so -1 never leaks into a loss.
#include "datasets/hierarchy.h"
#include "datasets/transforms.h"
#include "graph/node.h"
#include "nodes/stream_facts.h"

#include <fmt/format.h>
#include "nodes/batch.h"
#include "nodes/stage_schedule.h"

#include <torch/torch.h>

#include <cmath>
#include <random>

namespace semiflow::nodes {
namespace {

using namespace semiflow::graph;

double sample_beta(double alpha, Rng& rng) {
  std::gamma_distribution<double> gamma(alpha, 1.0);
  const double x = gamma(rng), y = gamma(rng);
  return x + y > 0 ? x / (x + y) : 0.5;
}

// Per level [N, K] targets: the soft targets when present, otherwise one-hot labels; rows
// without a target are zero.
torch::Tensor targets_of(const Batch& batch, std::size_t level, std::int64_t classes) {
  if (level < batch.soft_targets.size()) return batch.soft_targets[level];
  const auto& labels = batch.labels.at(level);
  const auto known = labels.ge(0);
  auto one_hot = torch::zeros({labels.size(0), classes}, torch::kFloat32);
  one_hot.scatter_(1, labels.clamp_min(0).unsqueeze(1), known.to(torch::kFloat32).unsqueeze(1));
  return one_hot;
}

class Mix : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("mix")
        .doc("CutMix / MixUp on batches, mixing each hierarchy level's targets consistently.")
        .input("in", "batch")
        .output("out", "batch")
        .required_param("hierarchy", ParamType::String, "hierarchy YAML (classes per level)")
        .param("mixup_alpha", 0.0, "MixUp Beta(alpha, alpha); 0 disables MixUp").at_least(0)
        .param("cutmix_alpha", 0.0, "CutMix Beta(alpha, alpha); 0 disables CutMix").at_least(0)
        .param("prob", 1.0, "probability that a batch is mixed").at_least(0).at_most(1)
        .param("switch_prob", 0.5, "with both enabled, probability of CutMix rather than MixUp").at_least(0).at_most(1)
        .param("start_epoch", 0, "first epoch that is mixed (mixing from the start tends to overfit less late)").at_least(0)
        .param("stage_epochs", std::vector<double>{},
               "progressive learning: first epoch of each stage after the first (as augment's)")
        .param("mixup_alpha_stages", std::vector<double>{}, "per stage (one more than stage_epochs), mixup_alpha; empty: mixup_alpha").at_least(0)
        .param("cutmix_alpha_stages", std::vector<double>{}, "per stage, cutmix_alpha; empty: cutmix_alpha").at_least(0)
        .check([](const Params& p, const std::vector<StreamFacts>&, Diagnostics& out) {
          facts::require_file(p, "hierarchy", out, "fix the path (relative to the config)");
          const auto stages = p.get_numbers("stage_epochs").size() + 1;
          for (const char* name : {"mixup_alpha_stages", "cutmix_alpha_stages"})
            if (!p.get_numbers(name).empty() && p.get_numbers(name).size() != stages)
              out.error(name, fmt::format("{} has {} values but stage_epochs makes {} stages; give one per stage", name,
                                          p.get_numbers(name).size(), stages));
        })
        .param("seed", 0, "run seed; a batch's draw depends on (seed, epoch, its first manifest row)")
        .parallel("each batch is mixed independently with its own random stream");
  }

  explicit Mix(const Params& params)
      : classes_(Hierarchy::load(params.get_path("hierarchy").string()).classes_per_level()),
        schedule_(params.get_numbers("stage_epochs")),
        mixup_alphas_(per_stage(params, "mixup_alpha")),
        cutmix_alphas_(per_stage(params, "cutmix_alpha")),
        prob_(params.get_float("prob")),
        switch_prob_(params.get_float("switch_prob")),
        start_epoch_(params.get_int("start_epoch")),
        seed_(static_cast<std::uint64_t>(params.get_int("seed"))) {}

  void process(Inputs& in, Emitter& out) override {
    auto& batch = in[0].get<Batch>();
    const std::size_t stage = schedule_.stage_of(batch.epoch);
    const double mixup_alpha = mixup_alphas_[stage], cutmix_alpha = cutmix_alphas_[stage];
    const bool enabled = mixup_alpha > 0 || cutmix_alpha > 0;
    if (!enabled || batch.epoch < start_epoch_ || batch.size() < 2 || (batch.labels.empty() && batch.soft_targets.empty())) {
      out.emit(std::move(in[0]));
      return;
    }
    Rng rng = Rng::for_item(seed_, static_cast<std::uint64_t>(batch.epoch), static_cast<std::uint64_t>(batch.indices.front()));
    if (!rng.bernoulli(prob_)) {
      out.emit(std::move(in[0]));
      return;
    }
    const bool use_cutmix = cutmix_alpha > 0 && (mixup_alpha <= 0 || rng.bernoulli(switch_prob_));
    double lam = sample_beta(use_cutmix ? cutmix_alpha : mixup_alpha, rng);
    lam = use_cutmix ? mix_cutmix(batch.images, lam, rng) : mix_mixup(batch.images, lam);
    mix_targets(batch, lam);
    out.emit(std::move(in[0]));
  }

  // The alpha of every stage: `<name>_stages`, or `<name>` in each.
  std::vector<double> per_stage(const Params& params, const std::string& name) const {
    auto alphas = params.get_numbers(name + "_stages");
    if (alphas.empty()) {
      alphas.assign(schedule_.stages(), params.get_float(name));
    } else {
      schedule_.require_per_stage(alphas.size(), name + "_stages");
    }
    for (const double alpha : alphas)
      if (alpha < 0) throw std::invalid_argument(name + " must be >= 0");
    return alphas;
  }

  // Pairs image i with image N-1-i (the batch reversed), as timm does.
  static double mix_mixup(torch::Tensor& images, double lam) {
    const auto partners = images.flip({0});
    images.mul_(lam).add_(partners, 1.0 - lam);
    return lam;
  }

  static double mix_cutmix(torch::Tensor& images, double lam, Rng& rng) {
    const auto height = images.size(2), width = images.size(3);
    const double cut = std::sqrt(1.0 - lam);
    const auto cut_h = static_cast<std::int64_t>(height * cut), cut_w = static_cast<std::int64_t>(width * cut);
    const auto cy = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(height)));
    const auto cx = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(width)));
    const auto y0 = std::clamp<std::int64_t>(cy - cut_h / 2, 0, height), y1 = std::clamp<std::int64_t>(cy + cut_h / 2, 0, height);
    const auto x0 = std::clamp<std::int64_t>(cx - cut_w / 2, 0, width), x1 = std::clamp<std::int64_t>(cx + cut_w / 2, 0, width);
    using torch::indexing::Slice;
    const auto patch = images.flip({0}).index({Slice(), Slice(), Slice(y0, y1), Slice(x0, x1)});
    images.index_put_({Slice(), Slice(), Slice(y0, y1), Slice(x0, x1)}, patch);
    // The pasted area decides the label weight, not the drawn lambda (the box may be clipped).
    return 1.0 - static_cast<double>((y1 - y0) * (x1 - x0)) / static_cast<double>(height * width);
  }

  void mix_targets(Batch& batch, double lam) const {
    const std::size_t levels = std::max(batch.labels.size(), batch.soft_targets.size());
    std::vector<torch::Tensor> mixed;
    for (std::size_t level = 0; level < levels; ++level) {
      const auto a = targets_of(batch, level, classes_.at(level));
      const auto b = a.flip({0});
      const auto both_known = a.sum(1).gt(0).logical_and(b.sum(1).gt(0)).to(torch::kFloat32).unsqueeze(1);
      mixed.push_back((a * lam + b * (1.0 - lam)) * both_known);
    }
    batch.soft_targets = std::move(mixed);
  }

 private:
  std::vector<int> classes_;
  StageSchedule schedule_;
  std::vector<double> mixup_alphas_, cutmix_alphas_;  // per stage
  double prob_, switch_prob_;
  std::int64_t start_epoch_;
  std::uint64_t seed_;
};

SEMIFLOW_REGISTER_NODE(Mix);

}  // namespace
}  // namespace semiflow::nodes
