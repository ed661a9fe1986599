#include "datasets/manifest.h"

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

TEST_CASE("manifest labels by name, index, -1 and empty", "[manifest]") {
  semiflow::testing::TempDir dir;
  const auto h = two_levels();
  const auto path = dir.write("m.csv", "path,coarse,fine\na.jpg,animal,cat\nb.jpg,1,2\nc.jpg,-1,dog\nd.jpg,thing,\ne.jpg,,\n");
  const auto m = load_manifest(path, &h);
  REQUIRE(m.rows.size() == 5);
  CHECK(m.labeled);
  CHECK(m.rows[0].labels == std::vector<int>{0, 0});
  CHECK(m.rows[1].labels == std::vector<int>{1, 2});
  CHECK(m.rows[2].labels == std::vector<int>{0, 1});  // coarse filled from fine
  CHECK(m.rows[3].labels == std::vector<int>{1, -1});
  CHECK(m.rows[4].labels == std::vector<int>{-1, -1});
  CHECK(m.rows[2].line == 4);
  CHECK(m.image_path(m.rows[0]) == (dir.path() / "a.jpg").string());
  CHECK(m.class_counts(1, 3) == std::vector<long>{1, 1, 1});
}

TEST_CASE("manifest keeps coarse -1 when filling is off", "[manifest]") {
  semiflow::testing::TempDir dir;
  const auto h = two_levels();
  const auto m = load_manifest(dir.write("m.csv", "path,coarse,fine\nc.jpg,-1,dog\n"), &h, ManifestOptions{false});
  CHECK(m.rows[0].labels == std::vector<int>{-1, 1});
}

TEST_CASE("manifest columns may be a subset of levels in any order", "[manifest]") {
  semiflow::testing::TempDir dir;
  const auto h = two_levels();
  const auto m = load_manifest(dir.write("m.csv", "path,fine\n\"x,1.jpg\",cup\n"), &h);
  CHECK(m.rows[0].path == "x,1.jpg");
  CHECK(m.rows[0].labels == std::vector<int>{1, 2});
}

TEST_CASE("unlabeled manifests have paths only", "[manifest]") {
  semiflow::testing::TempDir dir;
  const auto m = load_manifest(dir.write("u.csv", "path\na.jpg\n\nb.png\n"), nullptr);
  CHECK_FALSE(m.labeled);
  REQUIRE(m.rows.size() == 2);
  CHECK(m.rows[1].path == "b.png");
  CHECK(m.rows[1].labels.empty());
}

TEST_CASE("every bad row is reported with file and line, none dropped silently", "[manifest]") {
  semiflow::testing::TempDir dir;
  const auto h = two_levels();
  const auto path = dir.write("m.csv", "path,coarse,fine\nok.jpg,animal,cat\nbad1.jpg,thing,cat\nbad2.jpg,animal,cow\n"
                                       "bad3.jpg,animal\nbad4.jpg,7,cat\n,animal,cat\n");
  try {
    load_manifest(path, &h);
    FAIL("expected an error");
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    CHECK_THAT(message, Contains("5 bad row(s)"));
    CHECK_THAT(message, Contains(path + ":3: level 'coarse' is 'thing' but 'cat' belongs to 'animal'"));
    CHECK_THAT(message, Contains(path + ":4: level 'fine': unknown class 'cow'"));
    CHECK_THAT(message, Contains(path + ":5: expected 3 fields, found 2"));
    CHECK_THAT(message, Contains(path + ":6: level 'coarse': class index 7 out of range 0..1"));
    CHECK_THAT(message, Contains(path + ":7: empty image path"));
  }
}

TEST_CASE("manifest header errors", "[manifest]") {
  semiflow::testing::TempDir dir;
  const auto h = two_levels();
  CHECK_THROWS_WITH(load_manifest(dir.write("a.csv", "file,fine\n"), &h), Contains("a.csv:1: the first column must be `path`"));
  CHECK_THROWS_WITH(load_manifest(dir.write("b.csv", "path,size\n"), &h), Contains("column 'size' is not a level") && Contains("coarse, fine"));
  CHECK_THROWS_WITH(load_manifest(dir.write("c.csv", "path,fine\n"), nullptr), Contains("no hierarchy was given"));
  CHECK_THROWS_WITH(load_manifest(dir.write("d.csv", ""), &h), Contains("empty manifest"));
  CHECK_THROWS_WITH(load_manifest(dir.file("missing.csv"), &h), Contains("missing.csv: cannot open manifest"));
}

TEST_CASE("manifest save and load round trip, with names", "[manifest]") {
  semiflow::testing::TempDir dir;
  const auto h = two_levels();
  save_manifest(dir.file("m.csv"), {{"a.jpg", {1, 2}, 0}, {"b,c.jpg", {0, -1}, 0}}, &h);
  const auto m = load_manifest(dir.file("m.csv"), &h);
  REQUIRE(m.rows.size() == 2);
  CHECK(m.rows[0].labels == std::vector<int>{1, 2});
  CHECK(m.rows[1].path == "b,c.jpg");
  CHECK(m.rows[1].labels == std::vector<int>{0, -1});
}

TEST_CASE("CSV splitting honours quotes", "[manifest]") {
  CHECK(split_csv_line(R"(a,"b,c","d""e",)") == std::vector<std::string>{"a", "b,c", "d\"e", ""});
  CHECK(quote_csv_field("x\"y") == "\"x\"\"y\"");
}
