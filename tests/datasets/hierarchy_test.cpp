#include "datasets/hierarchy.h"

#include "tests/temp_dir.h"

#include <catch2/catch.hpp>

using namespace semiflow;
using Catch::Matchers::Contains;

namespace {
const char* kTwoLevels = R"(levels:
  - name: coarse
    classes: [animal, thing]
  - name: fine
    classes:
      - cat: animal
      - dog: animal
      - cup: thing
)";
}

TEST_CASE("hierarchy parses levels, classes and parents in order", "[hierarchy]") {
  const auto h = Hierarchy::parse(kTwoLevels, "h.yaml");
  REQUIRE(h.num_levels() == 2);
  CHECK(h.level(0).name == "coarse");
  CHECK(h.level(1).classes == std::vector<std::string>{"cat", "dog", "cup"});
  CHECK(h.level(1).parents == std::vector<int>{0, 0, 1});
  CHECK(h.classes_per_level() == std::vector<int>{2, 3});
  CHECK(h.class_index(1, "cup") == 2);
  CHECK(h.class_index(1, "cow") == -1);
  CHECK(h.parent(1, 2) == 1);
  CHECK(h.parent(0, 1) == -1);
  CHECK(h.path_to(1, 1) == std::vector<int>{0, 1});
  CHECK(h.path_to(0, 1) == std::vector<int>{1, kUnknownLabel});
  CHECK(h.is_consistent({0, 1}));
  CHECK_FALSE(h.is_consistent({1, 1}));
  CHECK(h.is_consistent({kUnknownLabel, 2}));
}

TEST_CASE("hierarchy survives a save and load round trip", "[hierarchy]") {
  semiflow::testing::TempDir dir;
  const auto h = Hierarchy::parse(kTwoLevels, "h.yaml");
  h.save(dir.file("copy.yaml"));
  const auto copy = Hierarchy::load(dir.file("copy.yaml"));
  CHECK(copy.level(1).classes == h.level(1).classes);
  CHECK(copy.level(1).parents == h.level(1).parents);
}

TEST_CASE("the shipped Fashion-MNIST hierarchy matches H-CNN", "[hierarchy]") {
  const auto h = Hierarchy::load(std::string(SEMIFLOW_CONFIG_DIR) + "/hierarchies/fashion_mnist.yaml");
  REQUIRE(h.classes_per_level() == std::vector<int>{2, 6, 10});
  CHECK(h.level(2).classes[0] == "T-shirt/top");
  CHECK(h.level(2).classes[9] == "Ankle boot");
  auto path_of = [&](const char* fine) {
    const auto p = h.path_to(2, h.class_index(2, fine));
    return h.level(0).classes[p[0]] + "/" + h.level(1).classes[p[1]];
  };
  CHECK(path_of("Shirt") == "clothes/tops");
  CHECK(path_of("Pullover") == "clothes/tops");
  CHECK(path_of("Trouser") == "clothes/bottoms");
  CHECK(path_of("Dress") == "clothes/dresses");
  CHECK(path_of("Coat") == "clothes/outers");
  CHECK(path_of("Sneaker") == "goods/shoes");
  CHECK(path_of("Bag") == "goods/accessories");
}

TEST_CASE("hierarchy validation errors name the file, line and entry", "[hierarchy]") {
  SECTION("unknown parent") {
    CHECK_THROWS_WITH(Hierarchy::parse("levels:\n  - {name: a, classes: [x]}\n  - name: b\n    classes:\n      - y: z\n", "h.yaml"),
                      Contains("h.yaml:5") && Contains("unknown parent 'z'") && Contains("class 'y'"));
  }
  SECTION("duplicate class names") {
    CHECK_THROWS_WITH(Hierarchy::parse("levels:\n  - {name: a, classes: [x, x]}\n", "h.yaml"),
                      Contains("h.yaml") && Contains("duplicate class name 'x'"));
  }
  SECTION("duplicate level names") {
    CHECK_THROWS_WITH(Hierarchy::parse("levels:\n  - {name: a, classes: [x]}\n  - {name: a, classes: [{y: x}]}\n", "h.yaml"),
                      Contains("duplicate level name 'a'"));
  }
  SECTION("empty level") {
    CHECK_THROWS_WITH(Hierarchy::parse("levels:\n  - {name: a, classes: [x]}\n  - {name: b, classes: []}\n", "h.yaml"),
                      Contains("level 'b' is empty"));
  }
  SECTION("a class without a parent") {
    CHECK_THROWS_WITH(Hierarchy::parse("levels:\n  - {name: a, classes: [x]}\n  - {name: b, classes: [y]}\n", "h.yaml"),
                      Contains("class 'y' has no parent"));
  }
  SECTION("a parent at the top level") {
    CHECK_THROWS_WITH(Hierarchy::parse("levels:\n  - {name: a, classes: [{x: y}]}\n", "h.yaml"), Contains("top level has no parents"));
  }
  SECTION("no levels") { CHECK_THROWS_WITH(Hierarchy::parse("classes: [a]\n", "h.yaml"), Contains("h.yaml: expected a `levels:` list")); }
  SECTION("not YAML") { CHECK_THROWS_WITH(Hierarchy::parse("levels: [\n", "h.yaml"), Contains("not valid YAML")); }
  SECTION("missing file") { CHECK_THROWS_WITH(Hierarchy::load("/nonexistent/h.yaml"), Contains("/nonexistent/h.yaml: cannot open")); }
}

TEST_CASE("a flat hierarchy has one level of numbered classes", "[hierarchy]") {
  const auto h = Hierarchy::flat(3);
  CHECK(h.num_levels() == 1);
  CHECK(h.level(0).classes == std::vector<std::string>{"0", "1", "2"});
  CHECK_THROWS(Hierarchy::flat(0));
}
