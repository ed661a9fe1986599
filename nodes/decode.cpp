// `decode`: reads and decodes each sample's image (JPEG through TurboJPEG, PNG through libpng),
// from its own file or from a tar archive of the image files; optionally only a random window
// of it (RandomResizedCrop's window, decoded alone: the fused decode + crop of DALI's
// decoders.image_random_crop).
#include "datasets/image_codec.h"
#include "datasets/sample.h"
#include "datasets/tar_archive.h"
#include "datasets/transforms.h"
#include "graph/node.h"
#include "nodes/stream_facts.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>

namespace semiflow::nodes {
namespace {

using namespace semiflow::graph;
namespace fs = std::filesystem;

class Decode : public Node {
 public:
  static NodeSchema schema() {
    return NodeSchema("decode")
        .doc("Reads and decodes each sample's image file to 8-bit pixels.")
        .input("in", "samples")
        .output("out", "samples")
        .param("channels", 3, "3: RGB, 1: gray").at_least(1).at_most(3)
        .param("min_side", 0, "decode JPEGs at the smallest DCT scale (1/2, 1/4 or 1/8) keeping both sides >= this (0: full size)").at_least(0)
        .param("max_pixels", DecodeOptions{}.max_pixels, "refuse larger images (decompression bombs)").at_least(1)
        .param("on_bad", "fail", "a file that cannot be decoded: fail (stop the run) or skip (count and drop it)").one_of({"fail", "skip"})
        .param("archive", "", "read the images from this tar archive instead of one file each; members are named by their path "
                              "relative to the archive's folder (e.g. `tar -C data/fmnist -cf data/fmnist/images.tar images`)")
        .param("random_area", std::vector<double>{},
               "decode only a random window with this range of the image's area (as RandomResizedCrop's scale, e.g. "
               "[0.08, 1]; follow with augment's `resize width=W height=H`); empty: the whole image")
        .param("random_aspect_ratio", std::vector<double>{0.75, 4.0 / 3.0}, "the window's width / height range (log-uniform)")
        .param("seed", 0, "random_area: run seed; a window depends on (seed, epoch, manifest row) only")
        .check([](const Params& p, const std::vector<StreamFacts>&, Diagnostics& out) {
          if (p.get_int("channels") == 2) out.error("channels", "channels must be 1 (gray) or 3 (RGB), got 2");
          facts::require_file(p, "archive", out, "make it with tar (see the parameter's doc) or fix the path");
          const auto& area = p.get_numbers("random_area");
          if (!area.empty() && (area.size() != 2 || !(area[0] > 0) || area[0] > area[1] || area[1] > 1))
            out.error("random_area", "random_area must be [low, high] with 0 < low <= high <= 1");
          const auto& ratio = p.get_numbers("random_aspect_ratio");
          if (ratio.size() != 2 || !(ratio[0] > 0) || ratio[0] > ratio[1])
            out.error("random_aspect_ratio", "random_aspect_ratio must be [low, high] with 0 < low <= high");
        })
        .stream([](const Params& p, const std::vector<StreamFacts>& in, Diagnostics&) {
          StreamFacts stream = in[0];
          stream[facts::kChannels] = facts::stated(p, "channels", p.get_int("channels"));
          return stream;
        })
        .parallel("each file is decoded on its own");
  }

  explicit Decode(const Params& params) : policy_(parse_bad_image_policy(params.get_string("on_bad"))) {
    options_.channels = static_cast<int>(params.get_int("channels"));
    options_.min_side = static_cast<int>(params.get_int("min_side"));
    options_.max_pixels = params.get_int("max_pixels");
    if (options_.channels != 1 && options_.channels != 3) throw std::invalid_argument("channels must be 1 or 3");
    const auto area = params.get_numbers("random_area");
    const auto ratio = params.get_numbers("random_aspect_ratio");
    if (!area.empty()) {
      if (area.size() != 2 || !(area[0] > 0 && area[0] <= area[1] && area[1] <= 1))
        throw std::invalid_argument("random_area must be [low, high] with 0 < low <= high <= 1");
      if (ratio.size() != 2 || !(ratio[0] > 0 && ratio[0] <= ratio[1]))
        throw std::invalid_argument("random_aspect_ratio must be [low, high] with 0 < low <= high");
      window_ = RandomResizedCropParams{area[0], area[1], ratio[0], ratio[1]};
    }
    seed_ = static_cast<std::uint64_t>(params.get_int("seed"));
    if (!params.get_string("archive").empty()) {
      const fs::path archive = fs::absolute(params.get_path("archive")).lexically_normal();
      archive_ = std::make_unique<TarArchive>(archive.string());
      archive_folder_ = archive.parent_path();
      archive_prefix_ = (archive_folder_ / "").string();
    }
  }

  void process(Inputs& in, Emitter& out) override {
    auto& samples = in[0].get<Samples>();
    std::size_t kept = 0;
    for (auto& sample : samples) {
      try {
        sample.image = decode(sample);
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
  Image decode(const Sample& sample) const {
    thread_local std::vector<std::uint8_t> file;
    ByteView bytes;
    if (archive_) {
      bytes = find_in_archive(sample.path);
    } else {
      bytes.size = read_file_into(sample.path, file);
      bytes.data = file.data();
    }
    if (!window_) return decode_image(bytes.data, bytes.size, sample.path, options_);
    // Not the augment node's stream for the same seed, so the window is independent of its draws.
    Rng rng = Rng::for_item(seed_ ^ kWindowStream, static_cast<std::uint64_t>(sample.epoch), sample.index);
    return decode_image_window(
        bytes.data, bytes.size, sample.path,
        [&](int width, int height) { return random_resized_crop_box(width, height, *window_, rng); }, options_);
  }

  // Manifests resolved from an absolute folder give paths that start with the archive's folder;
  // others (relative, "..") are normalized first.
  ByteView find_in_archive(const std::string& path) const {
    ByteView bytes;
    if (path.rfind(archive_prefix_, 0) == 0) bytes = archive_->find(path.substr(archive_prefix_.size()));
    if (!bytes.data) {
      const std::string member = fs::absolute(path).lexically_normal().lexically_relative(archive_folder_).generic_string();
      bytes = archive_->find(member);
      if (!bytes.data)
        throw DecodeError(path, fmt::format("not in the image archive {} (no member {}; create the archive in the folder the "
                                            "manifest's paths are relative to)",
                                            archive_->path(), member));
    }
    return bytes;
  }

  void record_skip(const std::string& message) {
    if (skipped_++ == 0) {
      std::lock_guard lock(mutex_);
      first_error_ = message;
    }
  }

  static constexpr std::uint64_t kWindowStream = 0x6465636f64652121;  // "decode!!"

  DecodeOptions options_;
  std::optional<RandomResizedCropParams> window_;
  std::uint64_t seed_ = 0;
  BadImagePolicy policy_;
  std::unique_ptr<TarArchive> archive_;
  fs::path archive_folder_;
  std::string archive_prefix_;
  std::atomic<std::uint64_t> skipped_{0};
  std::mutex mutex_;
  std::string first_error_;
};

SEMIFLOW_REGISTER_NODE(Decode);

}  // namespace
}  // namespace semiflow::nodes
