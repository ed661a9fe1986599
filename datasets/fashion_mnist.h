#pragma once
// Turns Fashion-MNIST's IDX files into JPEGs and semi-supervised manifests.
#include "datasets/hierarchy.h"

#include <cstdint>
#include <string>

namespace semiflow {

inline constexpr const char* kDebianFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct FashionMnistOptions {
  std::string idx_dir = kDebianFashionMnistDir;  // holds {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
  std::string out_dir;
  int labeled_per_class = 100;
  std::uint64_t seed = 0;
  double partial_labels = 0.0;  // fraction of labeled rows whose finer levels become -1
  int jpeg_quality = 95;
};

struct FashionMnistSplit {
  std::size_t labeled = 0;
  std::size_t unlabeled = 0;
  std::size_t test = 0;
  std::size_t partially_labeled = 0;
};

// Writes images/{train,test}/NNNNN.jpg, labeled.csv, unlabeled.csv (paths only),
// unlabeled_truth.csv (their labels, for analysis only), train_all.csv (every training image
// labeled: the all-labels upper bound), test.csv and hierarchy.yaml.
// The hierarchy's finest level must list the 10 classes in Fashion-MNIST label order.
FashionMnistSplit import_fashion_mnist(const FashionMnistOptions& options, const Hierarchy& hierarchy);

}  // namespace semiflow
