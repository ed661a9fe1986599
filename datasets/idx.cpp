#include "datasets/idx.h"

#include <fmt/format.h>
#include <zlib.h>

#include <fstream>
#include <memory>
#include <stdexcept>

namespace semiflow {
namespace {

constexpr int kUnsignedByteType = 0x08;
constexpr int kMaxDims = 8;

// gzread reads plain files too, so one path handles both.
struct GzFile {
  explicit GzFile(const std::string& path) : handle(gzopen(path.c_str(), "rb")) {}
  ~GzFile() {
    if (handle) gzclose(handle);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;
  gzFile handle;
};

void read_exact(GzFile& file, void* buffer, std::size_t size, const std::string& path, const char* what) {
  auto* out = static_cast<unsigned char*>(buffer);
  while (size > 0) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(size, 1u << 30));
    const int got = gzread(file.handle, out, chunk);
    if (got <= 0) throw std::runtime_error(fmt::format("{}: truncated IDX file while reading {} (re-download or reinstall it)", path, what));
    out += got;
    size -= static_cast<std::size_t>(got);
  }
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  GzFile file(path);
  if (!file.handle) throw std::runtime_error(fmt::format("{}: cannot open IDX file (check the path)", path));
  unsigned char magic[4];
  read_exact(file, magic, 4, path, "the header");
  if (magic[0] != 0 || magic[1] != 0)
    throw std::runtime_error(fmt::format("{}: not an IDX file (bad magic number)", path));
  if (magic[2] != kUnsignedByteType)
    throw std::runtime_error(fmt::format("{}: IDX data type 0x{:02x} is not supported (only unsigned byte, 0x08)", path, magic[2]));
  const int num_dims = magic[3];
  if (num_dims < 1 || num_dims > kMaxDims) throw std::runtime_error(fmt::format("{}: IDX file with {} dimensions", path, num_dims));
  IdxArray array;
  std::size_t total = 1;
  for (int d = 0; d < num_dims; ++d) {
    unsigned char be[4];
    read_exact(file, be, 4, path, "the dimensions");
    const std::uint32_t size = (std::uint32_t{be[0]} << 24) | (std::uint32_t{be[1]} << 16) | (std::uint32_t{be[2]} << 8) | be[3];
    if (size > (1u << 28)) throw std::runtime_error(fmt::format("{}: implausible IDX dimension {}", path, size));
    array.dims.push_back(static_cast<int>(size));
    total *= size;
  }
  array.data.resize(total);
  read_exact(file, array.data.data(), total, path, "the data");
  unsigned char extra;
  if (gzread(file.handle, &extra, 1) > 0)
    throw std::runtime_error(fmt::format("{}: IDX file is longer than its header says", path));
  return array;
}

void write_idx(const std::string& path, const IdxArray& array) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write IDX file", path));
  const unsigned char magic[4] = {0, 0, kUnsignedByteType, static_cast<unsigned char>(array.dims.size())};
  out.write(reinterpret_cast<const char*>(magic), 4);
  for (int d : array.dims) {
    const auto u = static_cast<std::uint32_t>(d);
    const unsigned char be[4] = {static_cast<unsigned char>(u >> 24), static_cast<unsigned char>(u >> 16),
                                 static_cast<unsigned char>(u >> 8), static_cast<unsigned char>(u)};
    out.write(reinterpret_cast<const char*>(be), 4);
  }
  out.write(reinterpret_cast<const char*>(array.data.data()), static_cast<std::streamsize>(array.data.size()));
}

}  // namespace semiflow
