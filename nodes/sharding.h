#pragma once
// How the sources split each epoch among the ranks of a distributed run, as torch's
// DistributedSampler does: every rank draws the same full order (same seed), pads it by repeating
// its start to a multiple of the rank count, and reads every world_size-th item from its own rank
// on. So an epoch covers the data once (plus at most world_size - 1 repeats), the ranks' items are
// disjoint, and every rank reads the same number of items, hence takes the same number of steps.
// In a world of one the order is the full order.
#include "nodes/distributed.h"

#include <cstdint>
#include <vector>

namespace semiflow::nodes {

struct Shard {
  int rank = 0;
  int count = 1;

  static Shard of_this_process() {
    const auto& launch = distributed::launch();
    return {launch.rank, launch.world_size};
  }
  // Items this rank reads of an order of n.
  std::size_t size_of(std::size_t n) const { return (n + static_cast<std::size_t>(count) - 1) / static_cast<std::size_t>(count); }
  // This rank's part of `order`.
  template <class T>
  std::vector<T> take(const std::vector<T>& order) const {
    if (count == 1 || order.empty()) return order;
    std::vector<T> part;
    const std::size_t n = order.size(), padded = size_of(n) * static_cast<std::size_t>(count);
    for (std::size_t i = static_cast<std::size_t>(rank); i < padded; i += static_cast<std::size_t>(count)) part.push_back(order[i % n]);
    return part;
  }
  // The position in the full order of this rank's k-th item: distinct across ranks, so it can
  // seed per-item randomness (augmentation) as the single-process position does.
  std::uint64_t position(std::uint64_t k) const { return static_cast<std::uint64_t>(rank) + k * static_cast<std::uint64_t>(count); }
};

}  // namespace semiflow::nodes
