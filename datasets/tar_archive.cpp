#include "datasets/tar_archive.h"

#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace semiflow {
namespace {

constexpr std::size_t kBlock = 512;

std::string text_field(const std::uint8_t* header, std::size_t offset, std::size_t length) {
  const char* start = reinterpret_cast<const char*>(header + offset);
  return std::string(start, strnlen(start, length));
}

// Octal digits (padded with spaces or NULs), or GNU's base-256 when the first byte's high bit is
// set (sizes of 8 GiB and more).
std::uint64_t number_field(const std::uint8_t* field, std::size_t length) {
  std::uint64_t value = 0;
  if (field[0] & 0x80) {
    value = field[0] & 0x7f;
    for (std::size_t i = 1; i < length; ++i) value = (value << 8) | field[i];
    return value;
  }
  std::size_t i = 0;
  while (i < length && field[i] == ' ') ++i;
  for (; i < length && field[i] >= '0' && field[i] <= '7'; ++i) value = value * 8 + static_cast<std::uint64_t>(field[i] - '0');
  return value;
}

// The checksum field counts as eight spaces in its own sum.
bool checksum_matches(const std::uint8_t* header) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < kBlock; ++i) sum += (i >= 148 && i < 156) ? ' ' : header[i];
  return sum == number_field(header + 148, 8);
}

bool all_zero(const std::uint8_t* block) {
  for (std::size_t i = 0; i < kBlock; ++i)
    if (block[i] != 0) return false;
  return true;
}

std::string without_dot_slash(std::string name) {
  while (name.rfind("./", 0) == 0) name.erase(0, 2);
  return name;
}

// A pax extended header: records "LENGTH key=value\n"; only `path` matters for an index.
std::optional<std::string> pax_path(const std::uint8_t* data, std::size_t size, const std::string& archive) {
  std::optional<std::string> path;
  const char* text = reinterpret_cast<const char*>(data);
  std::size_t position = 0;
  while (position < size) {
    std::size_t length = 0, digits = position;
    while (digits < size && text[digits] >= '0' && text[digits] <= '9') length = length * 10 + static_cast<std::size_t>(text[digits++] - '0');
    if (digits == position || length == 0 || position + length > size || text[digits] != ' ')
      throw std::runtime_error(fmt::format("{}: corrupt pax header record; recreate the archive with tar", archive));
    const std::string record(text + digits + 1, position + length - digits - 2);  // without the newline
    const auto equals = record.find('=');
    if (equals != std::string::npos && record.compare(0, equals, "path") == 0) path = record.substr(equals + 1);
    position += length;
  }
  return path;
}

}  // namespace

TarArchive::TarArchive(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot open image archive ({})", path, std::strerror(errno)));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || info.st_size < static_cast<off_t>(kBlock)) {
    ::close(fd);
    throw std::runtime_error(fmt::format("{}: not a tar archive (shorter than one 512-byte header)", path));
  }
  mapped_size_ = static_cast<std::size_t>(info.st_size);
  void* mapped = ::mmap(nullptr, mapped_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapped == MAP_FAILED) throw std::runtime_error(fmt::format("{}: cannot map image archive ({})", path, std::strerror(errno)));
  mapped_ = static_cast<const std::uint8_t*>(mapped);

  try {
    std::string long_name;
    std::optional<std::string> pax_name;
    std::size_t offset = 0;
    while (offset + kBlock <= mapped_size_) {
      const std::uint8_t* header = mapped_ + offset;
      if (all_zero(header)) break;  // the end-of-archive blocks
      if (!checksum_matches(header))
        throw std::runtime_error(fmt::format("{}: not a tar archive or corrupt (bad header checksum at byte {}); create it with `tar -cf`",
                                             path, offset));
      const std::uint64_t size = number_field(header + 124, 12);
      const std::size_t data_offset = offset + kBlock;
      if (size > mapped_size_ - data_offset)
        throw std::runtime_error(fmt::format("{}: truncated: the member at byte {} has {} bytes but the file ends {} bytes later",
                                             path, offset, size, mapped_size_ - data_offset));
      const std::uint8_t* data = mapped_ + data_offset;
      const char type = static_cast<char>(header[156]);
      if (type == 'L') {  // GNU: the next member's name, when longer than 100 characters
        long_name = std::string(reinterpret_cast<const char*>(data), strnlen(reinterpret_cast<const char*>(data), size));
      } else if (type == 'x') {
        pax_name = pax_path(data, size, path);
      } else if (type != 'g') {  // a global pax header names no member
        std::string name = pax_name ? *pax_name : long_name;
        if (name.empty()) {
          name = text_field(header, 0, 100);
          // POSIX ustar splits long names into prefix/name; GNU's own format uses those bytes otherwise.
          const bool posix_ustar = std::memcmp(header + 257, "ustar", 6) == 0;
          const std::string prefix = posix_ustar ? text_field(header, 345, 155) : std::string();
          if (!prefix.empty()) name = prefix + "/" + name;
        }
        if (type == '0' || type == '\0' || type == '7') members_[without_dot_slash(name)] = {data, static_cast<std::size_t>(size)};
        long_name.clear();
        pax_name.reset();
      }
      offset = data_offset + (static_cast<std::size_t>(size) + kBlock - 1) / kBlock * kBlock;
    }
  } catch (...) {
    ::munmap(const_cast<std::uint8_t*>(mapped_), mapped_size_);
    throw;
  }
}

TarArchive::~TarArchive() { ::munmap(const_cast<std::uint8_t*>(mapped_), mapped_size_); }

ByteView TarArchive::find(const std::string& member) const {
  const auto found = members_.find(member.rfind("./", 0) == 0 ? without_dot_slash(member) : member);
  return found == members_.end() ? ByteView{} : found->second;
}

}  // namespace semiflow
