#include "datasets/sample.h"
#include "graph/runtime.h"
#include "tests/nodes/pipeline_harness.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <map>

using namespace semiflow;
using Catch::Matchers::Contains;
using semiflow::testing::collected;
using semiflow::testing::run_yaml;

namespace {
std::string decode_yaml(const std::string& on_bad, int micro_batch = 2, const std::string& archive = "") {
  return "nodes:\n  - {name: src, type: source, manifest: unlabeled.csv, shuffle: false, micro_batch: " +
         std::to_string(micro_batch) + "}\n"
         "  - {name: dec, type: decode, input: src, on_bad: " + on_bad + (archive.empty() ? "" : ", archive: " + archive) +
         "}\n  - {name: sink, type: collect, input: dec}\n";
}

std::map<std::uint64_t, std::vector<std::uint8_t>> decoded_pixels_by_row() {
  std::map<std::uint64_t, std::vector<std::uint8_t>> pixels;
  for (auto& item : collected("sink"))
    for (const auto& s : item.get<Samples>()) pixels[s.index] = s.image.pixels;
  return pixels;
}
}  // namespace

TEST_CASE("decode fills each sample's pixels", "[decode]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 5, 6);
  run_yaml(decode_yaml("fail"), dir.path().string());
  std::size_t count = 0;
  for (auto& item : collected("sink"))
    for (const auto& s : item.get<Samples>()) {
      CHECK(s.image.width == 6);
      CHECK(s.image.channels == 3);
      CHECK(std::abs(int{s.image.pixels[0]} - 8 * static_cast<int>(s.index)) <= 1);
      ++count;
    }
  CHECK(count == 5);
}

TEST_CASE("decode skips and counts bad files, or fails naming the file", "[decode]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 5, 6);
  dir.write("img001.jpg", "this is not a JPEG");
  dir.write("img002.jpg", "");
  run_yaml(decode_yaml("skip"), dir.path().string());
  std::vector<std::uint64_t> rows;
  for (auto& item : collected("sink"))
    for (const auto& s : item.get<Samples>()) rows.push_back(s.index);
  CHECK(rows == std::vector<std::uint64_t>{0, 3, 4});

  // Both bad files in one micro-batch, so the first one stops the run whatever the thread timing.
  try {
    run_yaml(decode_yaml("fail", 5), dir.path().string());
    FAIL("expected the run to stop");
  } catch (const graph::NodeFailure& failure) {
    CHECK(failure.node() == "dec");
    CHECK_THAT(failure.message(), Contains("img001.jpg: not a JPEG or PNG image"));
  }
  CHECK_THROWS_WITH(run_yaml(decode_yaml("ignore"), dir.path().string()), Contains("must be one of fail, skip, got 'ignore'"));
}

TEST_CASE("decode reads images from a tar archive as from their files", "[decode]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 5, 6);
  run_yaml(decode_yaml("fail"), dir.path().string());
  auto from_files = decoded_pixels_by_row();

  const std::string tar = "tar -C '" + dir.path().string() + "' -cf '" + dir.file("images.tar") + "' img000.jpg img001.jpg img002.jpg img003.jpg";
  REQUIRE(std::system(tar.c_str()) == 0);
  for (int i = 0; i < 5; ++i) std::filesystem::remove(dir.file("img00" + std::to_string(i) + ".jpg"));  // the archive alone
  try {
    run_yaml(decode_yaml("fail", 5, "images.tar"), dir.path().string());
    FAIL("expected the run to stop");
  } catch (const graph::NodeFailure& failure) {
    CHECK_THAT(failure.message(), Contains("img004.jpg: not in the image archive"));
    CHECK_THAT(failure.message(), Contains("images.tar (no member img004.jpg;"));
  }
  run_yaml(decode_yaml("skip", 2, "images.tar"), dir.path().string());
  from_files.erase(4);
  CHECK(decoded_pixels_by_row() == from_files);
}

namespace {
std::string window_yaml(const std::string& decode_params, int epochs = 1, int threads = 2) {
  return "threads: {graph: " + std::to_string(threads) + "}\nnodes:\n"
         "  - {name: src, type: source, manifest: unlabeled.csv, shuffle: true, seed: 3, micro_batch: 3, epochs: " +
         std::to_string(epochs) + "}\n"
         "  - {name: dec, type: decode, input: src" + decode_params + "}\n"
         "  - {name: sink, type: collect, input: dec}\n";
}

// (epoch, row) -> the decoded window's width x height.
std::map<std::pair<std::int64_t, std::uint64_t>, std::pair<int, int>> window_sizes() {
  std::map<std::pair<std::int64_t, std::uint64_t>, std::pair<int, int>> sizes;
  for (auto& item : collected("sink"))
    for (const auto& s : item.get<Samples>()) sizes[{s.epoch, s.index}] = {s.image.width, s.image.height};
  return sizes;
}
}  // namespace

TEST_CASE("decode random_area decodes a seeded random window per image and epoch", "[decode]") {
  semiflow::testing::TempDir dir;
  semiflow::testing::write_tiny_dataset(dir.path().string(), 12, 40);
  run_yaml(window_yaml(", random_area: [0.2, 0.5], random_aspect_ratio: [0.5, 2.0]", 2, 2), dir.path().string());
  const auto sizes = window_sizes();
  REQUIRE(sizes.size() == 24);
  std::size_t differ_between_epochs = 0;
  for (const auto& [key, size] : sizes) {
    const double area = static_cast<double>(size.first) * size.second / (40.0 * 40.0);
    const double aspect = static_cast<double>(size.first) / size.second;
    CHECK(area > 0.17);  // sides are rounded to whole pixels
    CHECK(area < 0.55);
    CHECK(aspect > 0.45);
    CHECK(aspect < 2.2);
    if (key.first == 0 && sizes.at({1, key.second}) != size) ++differ_between_epochs;
  }
  CHECK(differ_between_epochs >= 6);

  // The same windows on one thread, and another seed gives others.
  run_yaml(window_yaml(", random_area: [0.2, 0.5], random_aspect_ratio: [0.5, 2.0]", 2, 1), dir.path().string());
  CHECK(window_sizes() == sizes);
  run_yaml(window_yaml(", random_area: [0.2, 0.5], random_aspect_ratio: [0.5, 2.0], seed: 1", 2, 1), dir.path().string());
  CHECK(window_sizes() != sizes);

  CHECK_THROWS_WITH(run_yaml(window_yaml(", random_area: [0.5, 0.2]"), dir.path().string()),
                    Contains("random_area must be [low, high] with 0 < low <= high <= 1"));
  CHECK_THROWS_WITH(run_yaml(window_yaml(", random_area: [0.1, 1.0], random_aspect_ratio: [2.0]"), dir.path().string()),
                    Contains("random_aspect_ratio must be [low, high]"));
}
