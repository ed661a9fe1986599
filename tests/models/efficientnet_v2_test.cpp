#include "models/efficientnet_v2.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

using namespace semiflow;

namespace {

std::int64_t params_with_head(const std::string& arch, std::int64_t classes) {
  return EfficientNetV2(EfficientNetV2Options(arch, {classes}))->num_parameters();
}

}  // namespace

TEST_CASE("EfficientNetV2 S/M/L match torchvision's parameter counts", "[efficientnet_v2][parity]") {
  CHECK(params_with_head("s", 1000) == 21458488);
  CHECK(params_with_head("m", 1000) == 54139356);
  CHECK(params_with_head("l", 1000) == 118515272);
}

TEST_CASE("EfficientNetV2 B0-B3 match timm's tf_efficientnetv2_b* parameter counts", "[efficientnet_v2][parity]") {
  CHECK(params_with_head("b0", 1000) == 7139704);
  CHECK(params_with_head("b1", 1000) == 8141052);
  CHECK(params_with_head("b2", 1000) == 10096086);
  CHECK(params_with_head("b3", 1000) == 14358406);
}

TEST_CASE("tiny and nano sizes", "[efficientnet_v2]") {
  WARN("tiny/10: " << params_with_head("tiny", 10) << " nano/10: " << params_with_head("nano", 10));
}
