#pragma once
// The losses of Meta Pseudo Labels (Pham et al. 2021) per hierarchy level, apart from the models
// and the graph so that each term can be checked on hand-made logits. The `mpl_train` node
// composes them into one step; see docs/user_guide.md for the whole recipe.
#include "models/losses.h"

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace semiflow {

// UDA's consistency: per level, the teacher's tempered weak-view distribution
// softmax(weak / temperature) is the target of its strong-view logits, on the rows where the
// target's top probability reaches `threshold`. Averaged over all rows, masked-out ones counting
// as zero, as the UDA and MPL code do (a confident minority then pulls with a small weight).
struct UdaConsistencyOptions {
  double temperature = 0.7;
  double threshold = 0.6;
  std::vector<double> level_weights;  // empty: 1 per level
};

struct UdaConsistency {
  LevelLosses loss;
  std::vector<double> mask_ratio;  // per level, fraction of rows kept
};

UdaConsistency uda_consistency(const std::vector<torch::Tensor>& weak_logits, const std::vector<torch::Tensor>& strong_logits,
                               const UdaConsistencyOptions& options);

// The weight of the consistency term at 0-based `step`: weight * min(1, (step + 1) / ramp_steps).
double uda_weight_at(double weight, std::int64_t step, std::int64_t ramp_steps);

enum class PseudoLabelTargets { hard, soft };
PseudoLabelTargets parse_pseudo_label_targets(const std::string& name);  // "hard" or "soft"

// The student's targets from the teacher's weak-view logits, per level [N, K] without gradient:
// one-hot argmax (hard) or softmax(logits / temperature) (soft).
std::vector<torch::Tensor> student_targets(const std::vector<torch::Tensor>& teacher_weak_logits, PseudoLabelTargets kind,
                                           double temperature);

// Which difference of the student's labeled loss rewards the teacher. `paper`: after - before,
// as the authors' code computes it (google-research meta_pseudo_labels, MPL-pytorch);
// `reversed`: before - after, the first-order Taylor reading argued in kekmodel/MPL-pytorch#6.
enum class FeedbackSign { paper, reversed };
FeedbackSign parse_feedback_sign(const std::string& name);  // "paper" or "reversed"

// The teacher's feedback coefficient h per level: the signed change of the student's labeled
// loss minus a moving average of that change (a variance-reducing baseline, as REINFORCE's):
//   change = sign(after - before); baseline = decay * baseline + (1 - decay) * change;
//   h = change - baseline (the baseline already updated, as the authors' code does).
class MplFeedback {
 public:
  MplFeedback(FeedbackSign sign, double baseline_decay, std::size_t levels);

  // Per level losses of the student on the labeled images before and after its step; returns h.
  std::vector<double> update(const std::vector<double>& loss_before, const std::vector<double>& loss_after);

  const std::vector<double>& baseline() const { return baseline_; }
  // Continues from a saved baseline (a resumed run); throws when its level count differs.
  void set_baseline(const std::vector<double>& baseline);
  const std::vector<double>& last_change() const { return change_; }

 private:
  FeedbackSign sign_;
  double decay_;
  std::vector<double> baseline_;
  std::vector<double> change_;
};

// The MPL term: per level h_l * CE(teacher strong logits, their own argmax). Minimising it makes
// the teacher more sure of its strong-view labels where h_l > 0 and less where h_l < 0. The
// targets are hard because against its own soft distribution the CE has no gradient (a known
// pitfall). per_level holds h_l * CE_l; total their level-weighted sum.
LevelLosses mpl_term(const std::vector<torch::Tensor>& teacher_strong_logits, const std::vector<double>& h,
                     const std::vector<double>& level_weights);

}  // namespace semiflow
