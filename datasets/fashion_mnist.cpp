#include "datasets/fashion_mnist.h"

#include "datasets/idx.h"
#include "datasets/image_codec.h"
#include "datasets/manifest.h"

#include <fmt/format.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <random>
#include <stdexcept>

namespace fs = std::filesystem;

namespace semiflow {
namespace {

constexpr int kNumClasses = 10;

std::string find_idx(const std::string& dir, const std::string& stem) {
  for (const char* suffix : {"", ".gz"}) {
    const auto path = fs::path(dir) / (stem + suffix);
    if (fs::exists(path)) return path.string();
  }
  throw std::runtime_error(fmt::format("{}: no {} or {}.gz (install the dataset-fashion-mnist package or pass --idx-dir)", dir, stem, stem));
}

struct Split {
  IdxArray images;
  IdxArray labels;
};

Split read_split(const std::string& dir, const std::string& prefix) {
  Split split{read_idx(find_idx(dir, prefix + "-images-idx3-ubyte")), read_idx(find_idx(dir, prefix + "-labels-idx1-ubyte"))};
  if (split.images.dims.size() != 3 || split.labels.dims.size() != 1 || split.images.dims[0] != split.labels.dims[0])
    throw std::runtime_error(fmt::format("{}: {} images and labels do not match (expected N x H x W images and N labels)", dir, prefix));
  for (auto label : split.labels.data)
    if (label >= kNumClasses) throw std::runtime_error(fmt::format("{}: {} has label {} (expected 0..9)", dir, prefix, int{label}));
  return split;
}

// Encodes every image of a split in parallel; returns their paths relative to out_dir.
std::vector<std::string> write_images(const Split& split, const fs::path& out_dir, const std::string& name, int quality) {
  const int count = split.images.dims[0], height = split.images.dims[1], width = split.images.dims[2];
  fs::create_directories(out_dir / "images" / name);
  std::vector<std::string> paths(count);
  for (int i = 0; i < count; ++i) paths[i] = fmt::format("images/{}/{:05d}.jpg", name, i);
  tbb::parallel_for(0, count, [&](int i) {
    Image image(width, height, 1);
    const auto* src = split.images.data.data() + static_cast<std::size_t>(i) * width * height;
    std::copy(src, src + image.pixels.size(), image.pixels.begin());
    write_file_bytes((out_dir / paths[i]).string(), encode_jpeg(image, quality));
  });
  return paths;
}

}  // namespace

FashionMnistSplit import_fashion_mnist(const FashionMnistOptions& options, const Hierarchy& hierarchy) {
  const int fine = hierarchy.num_levels() - 1;
  if (static_cast<int>(hierarchy.level(fine).classes.size()) != kNumClasses)
    throw std::runtime_error(fmt::format("{}: the finest level '{}' must have the 10 Fashion-MNIST classes in label order",
                                         hierarchy.source(), hierarchy.level(fine).name));
  if (options.labeled_per_class < 0) throw std::runtime_error("--labeled-per-class must be >= 0");
  if (options.validation_size < 0) throw std::runtime_error("--validation-size must be >= 0");
  if (options.partial_labels < 0.0 || options.partial_labels > 1.0)
    throw std::runtime_error(fmt::format("--partial-labels must be in [0, 1] (got {})", options.partial_labels));

  const Split train = read_split(options.idx_dir, "train");
  const Split test = read_split(options.idx_dir, "t10k");
  const fs::path out_dir(options.out_dir);
  fs::create_directories(out_dir);

  std::vector<std::vector<int>> by_class(kNumClasses);
  for (int i = 0; i < train.labels.dims[0]; ++i) by_class[train.labels.data[i]].push_back(i);
  // Validation first, with its own seed, so that it is the same set whatever the labeled split.
  std::mt19937_64 validation_rng(options.validation_seed);
  std::vector<bool> is_validation(train.labels.dims[0], false);
  for (int c = 0; c < kNumClasses; ++c) {
    const int count = options.validation_size / kNumClasses + (c < options.validation_size % kNumClasses ? 1 : 0);
    std::shuffle(by_class[c].begin(), by_class[c].end(), validation_rng);
    if (static_cast<int>(by_class[c].size()) < count + options.labeled_per_class)
      throw std::runtime_error(fmt::format("--validation-size {} and --labeled-per-class {} need {} images of class '{}', which "
                                           "has {}", options.validation_size, options.labeled_per_class,
                                           count + options.labeled_per_class, hierarchy.level(fine).classes[c], by_class[c].size()));
    for (int k = 0; k < count; ++k) is_validation[by_class[c][k]] = true;
    by_class[c].erase(by_class[c].begin(), by_class[c].begin() + count);
    std::sort(by_class[c].begin(), by_class[c].end());
  }
  std::mt19937_64 rng(options.seed);
  std::vector<bool> is_labeled(train.labels.dims[0], false);
  for (int c = 0; c < kNumClasses; ++c) {
    std::shuffle(by_class[c].begin(), by_class[c].end(), rng);
    for (int k = 0; k < options.labeled_per_class; ++k) is_labeled[by_class[c][k]] = true;
  }

  const auto train_paths = write_images(train, out_dir, "train", options.jpeg_quality);
  const auto test_paths = write_images(test, out_dir, "test", options.jpeg_quality);

  std::vector<ManifestRow> labeled, unlabeled, unlabeled_truth, train_all, validation, test_rows;
  for (int i = 0; i < train.labels.dims[0]; ++i) {
    ManifestRow row{train_paths[i], hierarchy.path_to(fine, train.labels.data[i]), 0};
    if (is_validation[i]) {
      validation.push_back(std::move(row));
      continue;
    }
    train_all.push_back(row);
    if (is_labeled[i]) {
      labeled.push_back(row);
    } else {
      unlabeled.push_back({row.path, {}, 0});
      unlabeled_truth.push_back(std::move(row));
    }
  }
  for (int i = 0; i < test.labels.dims[0]; ++i) test_rows.push_back({test_paths[i], hierarchy.path_to(fine, test.labels.data[i]), 0});

  // Partial labels: a seeded subset keeps only its top 1..L-1 levels, as in real catalogues.
  std::size_t partial = 0;
  if (options.partial_labels > 0.0 && hierarchy.num_levels() > 1) {
    std::vector<std::size_t> order(labeled.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    partial = static_cast<std::size_t>(options.partial_labels * static_cast<double>(labeled.size()) + 0.5);
    for (std::size_t k = 0; k < partial; ++k) {
      auto& labels = labeled[order[k]].labels;
      const int kept_levels = 1 + static_cast<int>(rng() % static_cast<std::uint64_t>(hierarchy.num_levels() - 1));
      std::fill(labels.begin() + kept_levels, labels.end(), kUnknownLabel);
    }
  }

  save_manifest((out_dir / "labeled.csv").string(), labeled, &hierarchy);
  save_manifest((out_dir / "unlabeled.csv").string(), unlabeled, nullptr);
  save_manifest((out_dir / "unlabeled_truth.csv").string(), unlabeled_truth, &hierarchy);
  save_manifest((out_dir / "train_all.csv").string(), train_all, &hierarchy);
  save_manifest((out_dir / "val.csv").string(), validation, &hierarchy);
  save_manifest((out_dir / "test.csv").string(), test_rows, &hierarchy);
  hierarchy.save((out_dir / "hierarchy.yaml").string());
  return {labeled.size(), validation.size(), unlabeled.size(), test_rows.size(), partial};
}

}  // namespace semiflow
