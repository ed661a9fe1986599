#pragma once
// Weights from the Python ecosystem: a torchvision efficientnet_v2_{s,m,l} state_dict, saved with
// torch.save(dict(model.state_dict()), FILE) (as a plain dict: libtorch's unpickler does not
// rebuild an OrderedDict), loaded into the C++ model. The module names of
// EfficientNetV2 mirror torchvision's, so every `features.*` tensor maps by name; the
// classifier is taken too when the model has torchvision's single head of the same shape, and
// otherwise left to the model's own (new, hierarchical) heads.
#include "models/efficientnet_v2.h"

#include <map>
#include <string>
#include <vector>

namespace semiflow {

struct WeightImport {
  std::size_t tensors = 0;           // parameters and buffers copied
  bool classifier = false;           // the single head came along
  std::vector<std::string> ignored;  // tensors of the file the model has no place for (classifier)
};

// The tensors of a torch.save'd plain dict (a state_dict, or {'input': x, 'logits': y}) by key;
// throws naming the file when it cannot be read as one.
std::map<std::string, torch::Tensor> read_tensor_dict(const std::string& path);

// Throws naming the file for an unreadable file, a tensor the model lacks among `features.*`,
// a `features.*` tensor of the model the file lacks, or a shape that differs (wrong --arch).
WeightImport import_torchvision_weights(EfficientNetV2& model, const std::string& path);

}  // namespace semiflow
