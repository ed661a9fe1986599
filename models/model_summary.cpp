#include "models/model_summary.h"

#include "models/efficientnet_v2.h"

namespace semiflow {

ModelSummary summarize_model(const EfficientNetV2Options& options, std::int64_t image_size) {
  const EfficientNetV2 model(options);
  ModelSummary summary;
  summary.arch = options.arch();
  summary.classes_per_level = options.classes_per_level();
  summary.image_size = image_size;
  summary.params = model->num_parameters();
  const auto macs = model->macs(image_size, image_size);
  summary.macs = macs.total;
  summary.macs_by_module = macs.parts;
  const auto& info = model->feature_info();
  for (std::size_t i = 0; i < info.size(); ++i) {
    const bool is_stage = i > 0 && i <= model->arch().stages.size();
    summary.features.push_back(
        {info[i].module, info[i].channels, info[i].reduction, is_stage ? model->arch().stages[i - 1].repeats : 0});
  }
  summary.head_taps = model->head_taps();
  return summary;
}

}  // namespace semiflow
