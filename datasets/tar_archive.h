#pragma once
// Random access to the files of a tar archive (as GNU tar writes it: ustar, GNU long names, pax
// headers), mapped into memory. Reading many small images from one archive costs no system call
// per image; opening one file per image costs more than decoding it (see docs/user_guide.md,
// "Image archives"). Members are looked up by their path inside the archive.
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace semiflow {

struct ByteView {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

class TarArchive {
 public:
  // Maps the file and indexes its regular files; throws std::runtime_error naming the file when
  // it cannot be read or is not a tar archive (bad header checksum, truncated member).
  explicit TarArchive(const std::string& path);
  ~TarArchive();
  TarArchive(const TarArchive&) = delete;
  TarArchive& operator=(const TarArchive&) = delete;

  // The member's bytes (valid while the archive lives), or nullptr data when there is no such
  // member. A leading "./" on either side is ignored.
  ByteView find(const std::string& member) const;
  std::size_t size() const { return members_.size(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const std::uint8_t* mapped_ = nullptr;
  std::size_t mapped_size_ = 0;
  std::unordered_map<std::string, ByteView> members_;
};

}  // namespace semiflow
