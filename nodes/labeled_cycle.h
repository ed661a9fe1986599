#pragma once
// Labeled rows drawn without end, in a fresh seeded order on every pass: how the sources that mix
// labeled images into an unlabeled stream (pseudo_label, two_view_source) pick them. In a
// distributed run each pass is split among the ranks (nodes/sharding.h).
#include "datasets/manifest.h"
#include "datasets/transforms.h"
#include "nodes/sharding.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace semiflow {

class LabeledCycle {
 public:
  LabeledCycle(Manifest manifest, std::uint64_t seed) : manifest_(std::move(manifest)), seed_(seed) {}

  const Manifest& manifest() const { return manifest_; }

  const ManifestRow& next() {
    if (position_ == order_.size()) {
      Rng rng = Rng::for_item(seed_, pass_++, 1);
      order_ = shard_.take(shuffled_indices(manifest_.rows.size(), rng));
      position_ = 0;
    }
    return manifest_.rows[order_[position_++]];
  }

 private:
  Manifest manifest_;
  std::uint64_t seed_;
  nodes::Shard shard_ = nodes::Shard::of_this_process();
  std::vector<std::size_t> order_;
  std::size_t position_ = 0;
  std::uint64_t pass_ = 0;
};

}  // namespace semiflow
