#include "datasets/idx.h"

#include "tests/temp_dir.h"

#include <catch2/catch.hpp>
#include <zlib.h>

using namespace semiflow;
using Catch::Matchers::Contains;

TEST_CASE("IDX round trip, plain and gzip", "[idx]") {
  semiflow::testing::TempDir dir;
  IdxArray images{{2, 3, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255}};
  write_idx(dir.file("images.idx"), images);
  const auto plain = read_idx(dir.file("images.idx"));
  CHECK(plain.dims == images.dims);
  CHECK(plain.data == images.data);

  std::ifstream in(dir.file("images.idx"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gzFile gz = gzopen(dir.file("images.idx.gz").c_str(), "wb");
  gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(gz);
  CHECK(read_idx(dir.file("images.idx.gz")).data == images.data);
}

TEST_CASE("bad IDX files are named errors", "[idx]") {
  semiflow::testing::TempDir dir;
  CHECK_THROWS_WITH(read_idx(dir.file("none")), Contains("none: cannot open IDX file"));
  CHECK_THROWS_WITH(read_idx(dir.write("magic", std::string("\x01\x02\x08\x01", 4))), Contains("magic: not an IDX file"));
  CHECK_THROWS_WITH(read_idx(dir.write("float", std::string("\x00\x00\x0d\x01\x00\x00\x00\x01", 8))), Contains("0x0d is not supported"));
  CHECK_THROWS_WITH(read_idx(dir.write("short", std::string("\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", 10))),
                    Contains("short: truncated IDX file"));
  CHECK_THROWS_WITH(read_idx(dir.write("long", std::string("\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", 10))),
                    Contains("longer than its header says"));
}
