#include "nodes/sharding.h"

#include <catch2/catch.hpp>

#include <map>
#include <set>

using semiflow::nodes::Shard;

TEST_CASE("shards split one order into equal, disjoint parts that cover it", "[sharding]") {
  const std::vector<int> order{7, 3, 9, 1, 0, 4, 8, 2, 6, 5};  // an epoch's shuffled rows
  std::map<int, int> seen;
  std::set<std::uint64_t> positions;
  for (int rank = 0; rank < 3; ++rank) {
    const Shard shard{rank, 3};
    const auto part = shard.take(order);
    CHECK(part.size() == 4);  // 10 rows padded to 12: every rank takes as many steps
    CHECK(shard.size_of(order.size()) == 4);
    for (std::size_t k = 0; k < part.size(); ++k) {
      ++seen[part[k]];
      CHECK(positions.insert(shard.position(k)).second);
      CHECK(part[k] == order[shard.position(k) % order.size()]);
    }
  }
  CHECK(seen.size() == 10);  // every row...
  CHECK(seen[7] == 2);       // ...once, and the padding repeats the order's start
  CHECK(seen[3] == 2);
  CHECK(seen[9] == 1);
  // The first global batch of 6 is the ranks' first 2 items each: the same images as one rank's
  // batch of 6.
  std::set<int> first_batch;
  for (int rank = 0; rank < 3; ++rank) {
    const auto part = Shard{rank, 3}.take(order);
    first_batch.insert(part.begin(), part.begin() + 2);
  }
  CHECK(first_batch == std::set<int>(order.begin(), order.begin() + 6));
}

TEST_CASE("a world of one reads the whole order", "[sharding]") {
  const std::vector<int> order{2, 0, 1};
  CHECK(Shard{}.take(order) == order);
  CHECK(Shard{}.size_of(3) == 3);
  CHECK(Shard{}.position(2) == 2);
}
