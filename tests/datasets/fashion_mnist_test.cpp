#include "datasets/fashion_mnist.h"

#include "datasets/idx.h"
#include "datasets/image_codec.h"
#include "datasets/manifest.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>

#include <set>

using namespace semiflow;
using Catch::Matchers::Contains;

namespace {

// A tiny Fashion-MNIST: `per_class` train and 2 test images per class, 4x4 pixels whose
// value encodes the class so the written JPEGs can be checked.
void write_tiny_idx(const std::string& dir, int per_class) {
  for (const auto& [prefix, count] : {std::pair<std::string, int>{"train", per_class}, {"t10k", 2}}) {
    IdxArray images{{10 * count, 4, 4}, {}};
    IdxArray labels{{10 * count}, {}};
    for (int i = 0; i < 10 * count; ++i) {
      labels.data.push_back(static_cast<std::uint8_t>(i % 10));
      for (int p = 0; p < 16; ++p) images.data.push_back(static_cast<std::uint8_t>(20 * (i % 10)));
    }
    write_idx(dir + "/" + prefix + "-images-idx3-ubyte", images);
    write_idx(dir + "/" + prefix + "-labels-idx1-ubyte", labels);
  }
}

Hierarchy fmnist() { return Hierarchy::load(std::string(SEMIFLOW_CONFIG_DIR) + "/hierarchies/fashion_mnist.yaml"); }

}  // namespace

std::vector<std::string> paths_of(const Manifest& manifest) {
  std::vector<std::string> paths;
  for (const auto& row : manifest.rows) paths.push_back(row.path);
  return paths;
}

TEST_CASE("Fashion-MNIST import writes a stratified, seeded split", "[fashion_mnist]") {
  semiflow::testing::TempDir dir;
  write_tiny_idx(dir.path().string(), 7);
  FashionMnistOptions options;
  options.idx_dir = dir.path().string();
  options.out_dir = dir.file("out");
  options.labeled_per_class = 2;
  options.validation_size = 10;
  const auto h = fmnist();
  const auto split = import_fashion_mnist(options, h);
  CHECK(split.labeled == 20);
  CHECK(split.validation == 10);
  CHECK(split.unlabeled == 40);
  CHECK(split.test == 20);

  const auto labeled = load_manifest(dir.file("out/labeled.csv"), &h);
  CHECK(labeled.class_counts(2, 10) == std::vector<long>(10, 2));
  CHECK(labeled.class_counts(0, 2) == std::vector<long>{12, 8});  // 6 clothes classes, 4 goods
  for (const auto& row : labeled.rows) {
    DecodeOptions gray;
    gray.channels = 1;
    const auto image = decode_image_file(labeled.image_path(row), gray);
    CHECK(image.width == 4);
    CHECK(std::abs(int{image.pixels[5]} - 20 * row.labels[2]) <= 2);
  }
  const auto unlabeled = load_manifest(dir.file("out/unlabeled.csv"), nullptr);
  const auto truth = load_manifest(dir.file("out/unlabeled_truth.csv"), &h);
  REQUIRE(unlabeled.rows.size() == 40);
  CHECK(truth.rows.size() == 40);
  std::set<std::string> labeled_paths;
  for (const auto& row : labeled.rows) labeled_paths.insert(row.path);
  for (const auto& row : unlabeled.rows) CHECK(labeled_paths.count(row.path) == 0);
  CHECK(load_manifest(dir.file("out/test.csv"), &h).rows.size() == 20);
  const auto all = load_manifest(dir.file("out/train_all.csv"), &h);
  REQUIRE(all.rows.size() == labeled.rows.size() + unlabeled.rows.size());
  CHECK(all.class_counts(2, 10) == std::vector<long>(10, 6));
  // Validation: one image per class, in no training manifest.
  const auto validation = load_manifest(dir.file("out/val.csv"), &h);
  CHECK(validation.class_counts(2, 10) == std::vector<long>(10, 1));
  std::set<std::string> training_paths;
  for (const auto& row : all.rows) training_paths.insert(row.path);
  for (const auto& row : unlabeled.rows) training_paths.insert(row.path);
  for (const auto& row : validation.rows) CHECK(training_paths.count(row.path) == 0);
  CHECK(Hierarchy::load(dir.file("out/hierarchy.yaml")).classes_per_level() == std::vector<int>{2, 6, 10});

  SECTION("the same seed gives the same split, another seed another") {
    options.out_dir = dir.file("again");
    import_fashion_mnist(options, h);
    const auto again = load_manifest(dir.file("again/labeled.csv"), &h);
    options.out_dir = dir.file("other");
    options.seed = 1;
    import_fashion_mnist(options, h);
    const auto other = load_manifest(dir.file("other/labeled.csv"), &h);
    CHECK(paths_of(labeled) == paths_of(again));
    CHECK(paths_of(labeled) != paths_of(other));
    // The validation set stays where the labeled split moves, and has its own seed.
    CHECK(paths_of(load_manifest(dir.file("other/val.csv"), &h)) == paths_of(validation));
    options.out_dir = dir.file("other_validation");
    options.validation_seed = 1;
    import_fashion_mnist(options, h);
    CHECK(paths_of(load_manifest(dir.file("other_validation/val.csv"), &h)) != paths_of(validation));
  }
}

TEST_CASE("partial labels drop the finer levels of a seeded fraction", "[fashion_mnist]") {
  semiflow::testing::TempDir dir;
  write_tiny_idx(dir.path().string(), 6);
  FashionMnistOptions options;
  options.idx_dir = dir.path().string();
  options.out_dir = dir.file("out");
  options.labeled_per_class = 4;
  options.validation_size = 0;
  options.partial_labels = 0.5;
  const auto h = fmnist();
  const auto split = import_fashion_mnist(options, h);
  CHECK(split.partially_labeled == 20);
  const auto labeled = load_manifest(dir.file("out/labeled.csv"), &h);
  int fine_unknown = 0;
  for (const auto& row : labeled.rows) {
    CHECK(row.labels[0] >= 0);  // the top level is always kept
    fine_unknown += row.labels[2] < 0;
  }
  CHECK(fine_unknown == 20);
}

TEST_CASE("Fashion-MNIST import errors", "[fashion_mnist]") {
  semiflow::testing::TempDir dir;
  FashionMnistOptions options;
  options.idx_dir = dir.path().string();
  options.out_dir = dir.file("out");
  CHECK_THROWS_WITH(import_fashion_mnist(options, fmnist()), Contains("no train-images-idx3-ubyte") && Contains("dataset-fashion-mnist"));
  write_tiny_idx(dir.path().string(), 3);
  options.labeled_per_class = 2;
  options.validation_size = 20;
  CHECK_THROWS_WITH(import_fashion_mnist(options, fmnist()),
                    Contains("--validation-size 20 and --labeled-per-class 2 need 4 images of class 'T-shirt/top', which has 3"));
  CHECK_THROWS_WITH(import_fashion_mnist(options, Hierarchy::flat(3)), Contains("must have the 10 Fashion-MNIST classes"));
}
