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
  std::uint64_t seed = 0;               // of the labeled/unlabeled split
  int validation_size = 1000;           // held-out labeled training images, stratified by class
  std::uint64_t validation_seed = 0;
  double partial_labels = 0.0;  // fraction of labeled rows whose finer levels become -1
  int jpeg_quality = 95;
};

struct FashionMnistSplit {
  std::size_t labeled = 0;
  std::size_t validation = 0;
  std::size_t unlabeled = 0;
  std::size_t test = 0;
  std::size_t partially_labeled = 0;
};

// Writes images/{train,test}/NNNNN.jpg, labeled.csv, unlabeled.csv (paths only),
// unlabeled_truth.csv (their labels, for analysis only), train_all.csv (every training image
// labeled: the all-labels upper bound), val.csv, test.csv and hierarchy.yaml.
// val.csv is validation_size training images (as even over the classes as the size allows) drawn
// with validation_seed before the labeled split, and left out of every other training manifest:
// model and recipe choices are made on it, so test.csv stays for the final figures. The
// validation set does not move with `seed`, so runs of several labeled splits are compared on
// the same images.
// The hierarchy's finest level must list the 10 classes in Fashion-MNIST label order.
FashionMnistSplit import_fashion_mnist(const FashionMnistOptions& options, const Hierarchy& hierarchy);

}  // namespace semiflow
