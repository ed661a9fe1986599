#pragma once
// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed. Only unsigned-byte
// data (type 0x08) exists in those sets, so only that type is read.
#include <cstdint>
#include <string>
#include <vector>

namespace semiflow {

struct IdxArray {
  std::vector<int> dims;  // e.g. {60000, 28, 28} for images, {60000} for labels
  std::vector<std::uint8_t> data;
};

IdxArray read_idx(const std::string& path);
void write_idx(const std::string& path, const IdxArray& array);  // uncompressed

}  // namespace semiflow
