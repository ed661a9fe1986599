#include "datasets/folder_manifest.h"

#include "tests/temp_dir.h"

#include <catch2/catch.hpp>

using namespace semiflow;
using Catch::Matchers::Contains;

namespace {
Hierarchy two_levels() {
  return Hierarchy::parse("levels:\n  - {name: coarse, classes: [animal, thing]}\n"
                          "  - name: fine\n    classes: [{cat: animal}, {dog: animal}, {cup: thing}]\n",
                          "h.yaml");
}
}  // namespace

TEST_CASE("folder tree becomes a manifest, shallow images partially labeled", "[folder]") {
  semiflow::testing::TempDir dir;
  dir.write("root/animal/cat/1.jpg", "x");
  dir.write("root/animal/dog/2.JPG", "x");
  dir.write("root/thing/3.png", "x");
  dir.write("root/4.jpeg", "x");
  dir.write("root/thing/cup/readme.txt", "not an image");
  const auto rows = scan_image_folders(dir.file("root"), two_levels(), dir.path().string());
  REQUIRE(rows.size() == 4);
  CHECK(rows[0].path == "root/4.jpeg");
  CHECK(rows[0].labels == std::vector<int>{-1, -1});
  CHECK(rows[1].path == "root/animal/cat/1.jpg");
  CHECK(rows[1].labels == std::vector<int>{0, 0});
  CHECK(rows[2].labels == std::vector<int>{0, 1});
  CHECK(rows[3].path == "root/thing/3.png");
  CHECK(rows[3].labels == std::vector<int>{1, -1});
}

TEST_CASE("folder errors name the folder", "[folder]") {
  semiflow::testing::TempDir dir;
  SECTION("unknown class") {
    dir.write("root/plant/1.jpg", "x");
    CHECK_THROWS_WITH(scan_image_folders(dir.file("root"), two_levels(), dir.path().string()),
                      Contains("'plant' is not a class of level 'coarse'") && Contains("animal, thing"));
  }
  SECTION("wrong parent") {
    dir.write("root/thing/cat/1.jpg", "x");
    CHECK_THROWS_WITH(scan_image_folders(dir.file("root"), two_levels(), dir.path().string()),
                      Contains("class 'cat' belongs to 'animal', not 'thing'"));
  }
  SECTION("too deep") {
    dir.write("root/animal/cat/extra/1.jpg", "x");
    CHECK_THROWS_WITH(scan_image_folders(dir.file("root"), two_levels(), dir.path().string()), Contains("nested deeper than the 2 levels"));
  }
  SECTION("missing root") {
    CHECK_THROWS_WITH(scan_image_folders(dir.file("nope"), two_levels(), dir.path().string()), Contains("nope: not a folder"));
  }
}
