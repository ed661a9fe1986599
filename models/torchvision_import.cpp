#include "models/torchvision_import.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/serialize.h>

#include <fstream>
#include <iterator>
#include <map>

namespace semiflow {
namespace {

bool is_classifier(const std::string& name) { return name.rfind("classifier.", 0) == 0; }

}  // namespace

std::map<std::string, torch::Tensor> read_tensor_dict(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error(fmt::format("{}: cannot open the file", path));
  const std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  torch::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const c10::Error& e) {
    // libtorch's unpickler does not rebuild the OrderedDict that state_dict() returns.
    throw std::runtime_error(fmt::format("{}: cannot read it as a torch.save file of a plain dict; save it with "
                                         "torch.save(dict(model.state_dict()), path) (libtorch reads no OrderedDict). ({})",
                                         path, e.what_without_backtrace()));
  }
  if (!value.isGenericDict())
    throw std::runtime_error(fmt::format("{}: holds a {}, not a state_dict; save model.state_dict()", path, value.tagKind()));
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& entry : value.toGenericDict())
    if (entry.key().isString() && entry.value().isTensor()) tensors[entry.key().toStringRef()] = entry.value().toTensor();
  return tensors;
}

WeightImport import_torchvision_weights(EfficientNetV2& model, const std::string& path) {
  auto theirs = read_tensor_dict(path);
  std::map<std::string, torch::Tensor> ours;
  for (const auto& item : model->named_parameters()) ours[item.key()] = item.value();
  for (const auto& item : model->named_buffers()) ours[item.key()] = item.value();

  std::vector<std::string> missing, mismatched;
  for (const auto& [name, tensor] : ours) {
    if (is_classifier(name)) continue;
    const auto found = theirs.find(name);
    if (found == theirs.end()) missing.push_back(name);
    else if (found->second.sizes() != tensor.sizes())
      mismatched.push_back(fmt::format("{} {} vs {}", name, found->second.sizes(), tensor.sizes()));
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, tensor] : theirs)
    if (!is_classifier(name) && !ours.count(name)) unexpected.push_back(name);
  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    auto first = [](const std::vector<std::string>& names) {
      return fmt::format("{}{}", fmt::join(names.begin(), names.begin() + static_cast<long>(std::min<std::size_t>(names.size(), 3)), ", "),
                         names.size() > 3 ? fmt::format(" and {} more", names.size() - 3) : "");
    };
    throw std::runtime_error(fmt::format(
        "{}: does not fit EfficientNetV2-{}: {} missing ({}), {} of another shape ({}), {} unknown ({}); check --arch",
        path, model->options.arch(), missing.size(), first(missing), mismatched.size(), first(mismatched),
        unexpected.size(), first(unexpected)));
  }

  // The classifier only when ours is torchvision's: one head with the same shape.
  bool classifier = true;
  for (const auto& [name, tensor] : ours)
    if (is_classifier(name) && (!theirs.count(name) || theirs[name].sizes() != tensor.sizes())) classifier = false;
  for (const auto& [name, tensor] : theirs)
    if (is_classifier(name) && !ours.count(name)) classifier = false;

  WeightImport result;
  result.classifier = classifier;
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : ours) {
    if (is_classifier(name) && !classifier) continue;
    tensor.copy_(theirs.at(name));
    ++result.tensors;
  }
  if (!classifier)
    for (const auto& [name, tensor] : theirs)
      if (is_classifier(name)) result.ignored.push_back(name);
  return result;
}

}  // namespace semiflow
