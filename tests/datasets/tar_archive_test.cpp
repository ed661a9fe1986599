#include "datasets/image_codec.h"
#include "datasets/tar_archive.h"
#include "tests/temp_dir.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

using namespace semiflow;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// Members as users make archives: with GNU tar, in each of its formats.
std::map<std::string, std::string> write_members(const semiflow::testing::TempDir& dir) {
  std::map<std::string, std::string> members;
  members["files/a.jpg"] = "first";
  members["files/empty.bin"] = "";
  std::string block_sized(512, 'x'), odd_sized(1000, '\0');
  for (std::size_t i = 0; i < odd_sized.size(); ++i) odd_sized[i] = static_cast<char>(i * 7);
  members["files/sub/block.bin"] = block_sized;
  members["files/sub/odd.bin"] = odd_sized;
  // 130 characters: longer than the 100 of a plain header (GNU long name, pax path, ustar prefix).
  members["files/" + std::string(60, 'd') + "/" + std::string(55, 'f') + ".jpg"] = "long";
  for (const auto& [name, bytes] : members) dir.write(name, bytes);
  return members;
}

void make_tar(const semiflow::testing::TempDir& dir, const std::string& format, const std::string& archive, const std::string& what) {
  const std::string command = fmt::format("tar --format={} -C '{}' -cf '{}' {}", format, dir.path().string(), dir.file(archive), what);
  REQUIRE(std::system(command.c_str()) == 0);
}

}  // namespace

TEST_CASE("TarArchive finds every file of archives GNU tar writes", "[tar]") {
  semiflow::testing::TempDir dir;
  const auto members = write_members(dir);
  for (const std::string format : {"gnu", "pax", "ustar"}) {
    SECTION(format) {
      make_tar(dir, format, "x.tar", "files");
      const TarArchive archive(dir.file("x.tar"));
      CHECK(archive.size() == members.size());  // folders are not members
      for (const auto& [name, bytes] : members) {
        const ByteView found = archive.find(name);
        REQUIRE(found.data != nullptr);
        CHECK(std::string(reinterpret_cast<const char*>(found.data), found.size) == bytes);
      }
      CHECK(archive.find("files/missing.jpg").data == nullptr);
      CHECK(archive.find("files/sub").data == nullptr);
    }
  }
}

TEST_CASE("TarArchive ignores a leading ./ in member names and lookups", "[tar]") {
  semiflow::testing::TempDir dir;
  write_members(dir);
  const std::string command = fmt::format("tar -C '{}' -cf '{}' .", dir.file("files"), dir.file("dot.tar"));  // members ./a.jpg ...
  REQUIRE(std::system(command.c_str()) == 0);
  const TarArchive archive(dir.file("dot.tar"));
  CHECK(archive.find("a.jpg").size == 5);
  CHECK(archive.find("./a.jpg").size == 5);
  CHECK(archive.find("sub/odd.bin").size == 1000);
}

TEST_CASE("TarArchive refuses what is not a whole tar archive, naming the file", "[tar]") {
  semiflow::testing::TempDir dir;
  write_members(dir);
  CHECK_THROWS_WITH(TarArchive(dir.file("nothing.tar")), Contains("nothing.tar: cannot open image archive"));
  CHECK_THROWS_WITH(TarArchive(dir.file("files/a.jpg")), Contains("a.jpg: not a tar archive"));
  Image image(40, 30, 3);
  write_file_bytes(dir.file("photo.jpg"), encode_jpeg(image));
  CHECK_THROWS_WITH(TarArchive(dir.file("photo.jpg")), Contains("photo.jpg: not a tar archive or corrupt"));

  make_tar(dir, "gnu", "x.tar", "files/sub/odd.bin");
  auto bytes = read_file_bytes(dir.file("x.tar"));
  bytes.resize(512 + 600);  // the header and part of the 1000 bytes after it
  write_file_bytes(dir.file("cut.tar"), bytes);
  CHECK_THROWS_WITH(TarArchive(dir.file("cut.tar")), Contains("cut.tar: truncated: the member at byte 0 has 1000 bytes"));
}
