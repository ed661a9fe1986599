// `decode`: reads and decodes each sample's image (JPEG through TurboJPEG, PNG through libpng).
#include "datasets/image_codec.h"
#include "datasets/sample.h"
#include "graph/node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <mutex>

namespace semiflow::nodes {
namespace {

using namespace semiflow::graph;

class Decode : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("decode")
        .doc("Reads and decodes each sample's image file to 8-bit pixels.")
        .input("in", "samples")
        .output("out", "samples")
        .param("channels", 3, "3: RGB, 1: gray")
        .param("min_side", 0, "decode JPEGs at the smallest DCT scale keeping both sides >= this (0: full size)")
        .param("max_pixels", DecodeOptions{}.max_pixels, "refuse larger images (decompression bombs)")
        .param("on_bad", "fail", "a file that cannot be decoded: fail (stop the run) or skip (count and drop it)")
        .parallel("each file is decoded on its own");
  }

  explicit Decode(const Params& params) : policy_(parse_bad_image_policy(params.get_string("on_bad"))) {
    options_.channels = static_cast<int>(params.get_int("channels"));
    options_.min_side = static_cast<int>(params.get_int("min_side"));
    options_.max_pixels = params.get_int("max_pixels");
    if (options_.channels != 1 && options_.channels != 3) throw std::invalid_argument("channels must be 1 or 3");
  }

  void process(Inputs& in, Emitter& out) override {
    auto& samples = in[0].get<Samples>();
    std::size_t kept = 0;
    for (auto& sample : samples) {
      try {
        sample.image = decode_image_file(sample.path, options_);
      } catch (const DecodeError& e) {
        if (policy_ == BadImagePolicy::fail) throw;
        record_skip(e.what());
        continue;
      }
      if (kept != static_cast<std::size_t>(&sample - samples.data())) samples[kept] = std::move(sample);
      ++kept;
    }
    samples.resize(kept);
    if (!samples.empty()) out.emit(std::move(in[0]));
  }

  void flush(Emitter&) override {
    if (skipped_ > 0) spdlog::warn("decode: skipped {} bad image(s); first: {}", skipped_.load(), first_error_);
  }

 private:
  void record_skip(const std::string& message) {
    if (skipped_++ == 0) {
      std::lock_guard lock(mutex_);
      first_error_ = message;
    }
  }

  DecodeOptions options_;
  BadImagePolicy policy_;
  std::atomic<std::uint64_t> skipped_{0};
  std::mutex mutex_;
  std::string first_error_;
};

SEMIFLOW_REGISTER_NODE(Decode);

}  // namespace
}  // namespace semiflow::nodes
