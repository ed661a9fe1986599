#include "tests/nodes/pipeline_harness.h"

#include <map>
#include <mutex>

namespace semiflow::testing {
namespace {

std::mutex collections_mutex;
std::map<std::string, std::vector<graph::Item>> collections;

class Collect : public graph::Node {
 public:
  static graph::NodeSchema schema() {
    return graph::NodeSchema("collect")
        .doc("Test sink: keeps every item it receives.")
        .input("in", "any")
        .serial("tests compare the stream order");
  }
  explicit Collect(const graph::Params& params) : name_(params.node_name()) {}
  void process(graph::Inputs& in, graph::Emitter&) override {
    std::lock_guard lock(collections_mutex);
    collections[name_].push_back(std::move(in[0]));
  }

 private:
  std::string name_;
};

SEMIFLOW_REGISTER_NODE(Collect);

// Cuts a stream short where a killed run's stream ended, while the nodes downstream keep the
// parameters and stream facts of the whole run (what a resumed run checks).
class Truncate : public graph::Node {
 public:
  static graph::NodeSchema schema() {
    return graph::NodeSchema("truncate")
        .doc("Test node: passes the first `keep` items on and drops the rest.")
        .input("in", "any")
        .output("out", "any")
        .param("keep", 1, "items passed on")
        .serial("it counts items in stream order");
  }
  explicit Truncate(const graph::Params& params) : keep_(params.get_int("keep")) {}
  void process(graph::Inputs& in, graph::Emitter& out) override {
    if (passed_++ < keep_) out.emit(std::move(in[0]));
  }

 private:
  std::int64_t keep_;
  std::int64_t passed_ = 0;
};

SEMIFLOW_REGISTER_NODE(Truncate);

}  // namespace

std::vector<graph::Item>& collected(const std::string& node) {
  std::lock_guard lock(collections_mutex);
  return collections[node];
}

graph::RunResult run_yaml(const std::string& yaml, const std::string& dir) {
  const auto config = graph::parse_pipeline_config(yaml, dir + "/pipeline.yaml");
  {
    std::lock_guard lock(collections_mutex);
    collections.clear();
  }
  return graph::run_pipeline(config);
}

}  // namespace semiflow::testing

#include "datasets/image_codec.h"

#include <algorithm>
#include <fmt/format.h>
#include <fstream>

namespace semiflow::testing {

void write_tiny_dataset(const std::string& dir, int count, int size, const std::vector<int>& unknown_fine) {
  std::ofstream(dir + "/hierarchy.yaml") << "levels:\n  - {name: coarse, classes: [a, b]}\n"
                                            "  - {name: fine, classes: [{a1: a}, {a2: a}, {b1: b}, {b2: b}]}\n";
  std::ofstream labeled(dir + "/labeled.csv");
  std::ofstream unlabeled(dir + "/unlabeled.csv");
  labeled << "path,fine\n";
  unlabeled << "path\n";
  const char* fine_names[] = {"a1", "a2", "b1", "b2"};
  for (int i = 0; i < count; ++i) {
    Image image(size, size, 3);
    std::fill(image.pixels.begin(), image.pixels.end(), static_cast<std::uint8_t>(8 * (i % 32)));
    const std::string name = fmt::format("img{:03d}.jpg", i);
    write_file_bytes(dir + "/" + name, encode_jpeg(image, 100));
    const bool unknown = std::find(unknown_fine.begin(), unknown_fine.end(), i) != unknown_fine.end();
    labeled << name << ',' << (unknown ? "-1" : fine_names[i % 4]) << '\n';
    unlabeled << name << '\n';
  }
}

void write_colour_dataset(const std::string& dir, int count, int size) {
  std::ofstream(dir + "/hierarchy.yaml") << "levels:\n  - {name: coarse, classes: [a, b]}\n"
                                            "  - {name: fine, classes: [{a1: a}, {a2: a}, {b1: b}, {b2: b}]}\n";
  std::ofstream labeled(dir + "/labeled.csv"), test(dir + "/test.csv"), unlabeled(dir + "/unlabeled.csv");
  labeled << "path,fine\n";
  test << "path,fine\n";
  unlabeled << "path\n";
  const char* names[] = {"a1", "a2", "b1", "b2"};
  for (int i = 0; i < count; ++i) {
    const int cls = i % 4;
    const auto level = static_cast<std::uint8_t>(140 + 10 * (i % 10));
    Image image(size, size, 3);
    for (std::size_t p = 0; p < image.pixels.size(); p += 3)
      for (int c = 0; c < 3; ++c) image.pixels[p + c] = (cls == 3 || cls == c) ? level : 20;
    const std::string file = fmt::format("img{:03d}.jpg", i);
    write_file_bytes(dir + "/" + file, encode_jpeg(image, 95));
    labeled << file << ',' << names[cls] << '\n';
    test << file << ',' << names[cls] << '\n';
    unlabeled << file << '\n';
  }
}

}  // namespace semiflow::testing
