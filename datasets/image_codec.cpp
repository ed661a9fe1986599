#include "datasets/image_codec.h"

#include <fmt/format.h>
#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <fstream>
#include <memory>

#include <jpeglib.h>

namespace semiflow {
namespace {

// TurboJPEG handles are costly to create relative to a 28x28 decode, so each thread keeps one.
class TurboHandle {
 public:
  explicit TurboHandle(bool compress) : handle_(compress ? tjInitCompress() : tjInitDecompress()) {
    if (handle_ == nullptr) throw std::runtime_error(fmt::format("TurboJPEG: cannot create a handle: {}", tjGetErrorStr2(nullptr)));
  }
  ~TurboHandle() { tjDestroy(handle_); }
  TurboHandle(const TurboHandle&) = delete;
  TurboHandle& operator=(const TurboHandle&) = delete;
  tjhandle get() const { return handle_; }

 private:
  tjhandle handle_;
};

// After a failed decode a TurboJPEG 2.1 handle can stay in a broken state (the next valid
// file then reads as 0x0), so a failure throws the thread's handle away.
std::unique_ptr<TurboHandle>& thread_decompressor() {
  thread_local std::unique_ptr<TurboHandle> handle;
  if (!handle) handle = std::make_unique<TurboHandle>(false);
  return handle;
}

[[noreturn]] void fail_decode(const std::string& name, const std::string& message) {
  thread_decompressor().reset();
  throw DecodeError(name, message);
}

tjhandle compressor() {
  thread_local TurboHandle handle(true);
  return handle.get();
}

bool is_jpeg(const std::uint8_t* d, std::size_t n) { return n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF; }
bool is_png(const std::uint8_t* d, std::size_t n) { return n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0; }

enum class ImageFormat { jpeg, png };

// The format from the file's bytes; anything else, and options no decoder takes, are refused.
ImageFormat image_format(const std::uint8_t* data, std::size_t size, const std::string& name, const DecodeOptions& options) {
  if (options.channels != 1 && options.channels != 3)
    throw std::invalid_argument(fmt::format("decode: channels must be 1 or 3 (got {})", options.channels));
  if (size == 0) throw DecodeError(name, "empty file");
  if (is_jpeg(data, size)) return ImageFormat::jpeg;
  if (is_png(data, size)) return ImageFormat::png;
  throw DecodeError(name, "not a JPEG or PNG image (unrecognised content; the extension is not used)");
}

void check_dimensions(const std::string& name, std::int64_t width, std::int64_t height, const DecodeOptions& options) {
  if (width <= 0 || height <= 0) throw DecodeError(name, fmt::format("invalid image size {}x{}", width, height));
  if (width * height > options.max_pixels)
    throw DecodeError(name, fmt::format("image is {}x{} = {} pixels, over the limit of {} (raise max_pixels if this is intended)",
                                        width, height, width * height, options.max_pixels));
}

// Inverted CMYK: R = C * K / 255 (TurboJPEG and Photoshop store CMYK inverted).
Image cmyk_to_image(const std::vector<std::uint8_t>& cmyk, int width, int height, int channels) {
  Image image(width, height, channels);
  const std::size_t count = static_cast<std::size_t>(width) * height;
  for (std::size_t i = 0; i < count; ++i) {
    const int k = cmyk[4 * i + 3];
    const int r = (cmyk[4 * i + 0] * k + 127) / 255;
    const int g = (cmyk[4 * i + 1] * k + 127) / 255;
    const int b = (cmyk[4 * i + 2] * k + 127) / 255;
    if (channels == 3) {
      image.pixels[3 * i + 0] = static_cast<std::uint8_t>(r);
      image.pixels[3 * i + 1] = static_cast<std::uint8_t>(g);
      image.pixels[3 * i + 2] = static_cast<std::uint8_t>(b);
    } else {
      image.pixels[i] = static_cast<std::uint8_t>((299 * r + 587 * g + 114 * b + 500) / 1000);
    }
  }
  return image;
}

// Only 1/2, 1/4 and 1/8 are offered: libjpeg-turbo has SIMD inverse DCTs for those, while its
// other reductions (3/8, 5/8, 7/8...) run in plain C and are slower than decoding at full size
// (500x375 photo: 5/8 took 1.5x as long as 1/1 here).
tjscalingfactor choose_scale(int width, int height, int min_side) {
  tjscalingfactor best{1, 1};
  if (min_side <= 0) return best;
  for (const int denom : {2, 4, 8}) {
    const tjscalingfactor f{1, denom};
    if (TJSCALED(width, f) < min_side || TJSCALED(height, f) < min_side) break;
    best = f;
  }
  return best;
}

Image decode_jpeg(const std::uint8_t* data, std::size_t size, const std::string& name, const DecodeOptions& options) {
  tjhandle tj = thread_decompressor()->get();
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, data, static_cast<unsigned long>(size), &width, &height, &subsampling, &colorspace) != 0)
    fail_decode(name, fmt::format("corrupt JPEG header: {}", tjGetErrorStr2(tj)));
  if (width <= 0 || height <= 0) fail_decode(name, "corrupt JPEG header: no image size (truncated file?)");
  check_dimensions(name, width, height, options);
  const tjscalingfactor scale = choose_scale(width, height, options.min_side);
  const int out_w = TJSCALED(width, scale);
  const int out_h = TJSCALED(height, scale);
  const int flags = options.strict ? TJFLAG_STOPONWARNING : 0;
  auto decompress = [&](std::uint8_t* out, int pixel_format) {
    if (tjDecompress2(tj, data, static_cast<unsigned long>(size), out, out_w, 0, out_h, pixel_format, flags) != 0) {
      const bool warning = tjGetErrorCode(tj) == TJERR_WARNING;
      if (options.strict || !warning)
        fail_decode(name, fmt::format("{} JPEG data: {}", warning ? "damaged" : "corrupt", tjGetErrorStr2(tj)));
    }
  };
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    std::vector<std::uint8_t> cmyk(static_cast<std::size_t>(out_w) * out_h * 4);
    decompress(cmyk.data(), TJPF_CMYK);
    return cmyk_to_image(cmyk, out_w, out_h, options.channels);
  }
  Image image(out_w, out_h, options.channels);
  decompress(image.pixels.data(), options.channels == 3 ? TJPF_RGB : TJPF_GRAY);
  return image;
}

// libjpeg reports a fatal error through a callback that must not return: it jumps back to the
// setjmp in decode_jpeg_window, across libjpeg's C frames only.
struct JpegErrorJump {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  bool warning = false;
  char message[JMSG_LENGTH_MAX] = {};
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* error = reinterpret_cast<JpegErrorJump*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, error->message);
  std::longjmp(error->jump, 1);
}

// Level -1 is a corrupt-data warning (e.g. a truncated file); strict decodes stop on it, as
// TurboJPEG's TJFLAG_STOPONWARNING does; other levels are trace messages.
void jpeg_stop_on_warning(j_common_ptr cinfo, int level) {
  if (level != -1) return;
  auto* error = reinterpret_cast<JpegErrorJump*>(cinfo->err);
  error->warning = true;
  (*cinfo->err->format_message)(cinfo, error->message);
  std::longjmp(error->jump, 1);
}

void jpeg_ignore_message(j_common_ptr, int) {}

void check_window(const std::string& name, const CropBox& box, int width, int height) {
  if (box.width <= 0 || box.height <= 0 || box.x < 0 || box.y < 0 || box.x + box.width > width || box.y + box.height > height)
    throw std::invalid_argument(fmt::format("{}: window {}x{} at ({}, {}) is not inside the {}x{} image", name, box.width,
                                            box.height, box.x, box.y, width, height));
}

// Through libjpeg's API (same library as TurboJPEG), whose jpeg_crop_scanline and
// jpeg_skip_scanlines TurboJPEG 2.1 does not expose.
Image decode_jpeg_window(const std::uint8_t* data, std::size_t size, const std::string& name, const ChooseWindow& choose,
                         const DecodeOptions& options) {
  jpeg_decompress_struct cinfo;
  JpegErrorJump error;
  cinfo.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = jpeg_error_exit;
  error.manager.emit_message = options.strict ? jpeg_stop_on_warning : jpeg_ignore_message;
  jpeg_create_decompress(&cinfo);
  struct Destroy {
    j_decompress_ptr cinfo;
    ~Destroy() { jpeg_destroy_decompress(cinfo); }
  } destroy{&cinfo};
  // Everything with a destructor lives from before the setjmp: a jump back skips no destructor.
  std::vector<std::uint8_t> row, window;
  volatile bool header_read = false;
  if (setjmp(error.jump)) {
    const char* what = !header_read ? "corrupt JPEG header" : error.warning ? "damaged JPEG data" : "corrupt JPEG data";
    throw DecodeError(name, fmt::format("{}: {}", what, error.message));
  }
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  header_read = true;
  check_dimensions(name, cinfo.image_width, cinfo.image_height, options);
  const int width = static_cast<int>(cinfo.image_width), height = static_cast<int>(cinfo.image_height);
  const CropBox box = choose(width, height);
  check_window(name, box, width, height);
  const bool is_cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = is_cmyk ? JCS_CMYK : options.channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
  const tjscalingfactor scale = choose_scale(box.width, box.height, options.min_side);
  cinfo.scale_num = static_cast<unsigned>(scale.num);
  cinfo.scale_denom = static_cast<unsigned>(scale.denom);
  jpeg_start_decompress(&cinfo);

  // The window in output (scaled) pixels.
  const int out_width = static_cast<int>(cinfo.output_width), out_height = static_cast<int>(cinfo.output_height);
  const int x0 = box.x / scale.denom, y0 = box.y / scale.denom;
  const int x1 = std::min(out_width, TJSCALED(box.x + box.width, scale));
  const int y1 = std::min(out_height, TJSCALED(box.y + box.height, scale));
  // One column of context on each side: at a cropped scanline's ends the chroma upsampler acts
  // as at the image's edges, which would change the window's first and last columns.
  JDIMENSION crop_x = static_cast<JDIMENSION>(std::max(0, x0 - 1));
  JDIMENSION crop_width = static_cast<JDIMENSION>(std::min(out_width, x1 + 1)) - crop_x;
  jpeg_crop_scanline(&cinfo, &crop_x, &crop_width);
  if (y0 > 0) jpeg_skip_scanlines(&cinfo, static_cast<JDIMENSION>(y0));

  const int components = cinfo.output_components;
  const int window_width = x1 - x0, window_height = y1 - y0;
  const std::size_t offset = static_cast<std::size_t>(x0 - static_cast<int>(crop_x)) * components;
  const std::size_t row_bytes = static_cast<std::size_t>(window_width) * components;
  row.resize(static_cast<std::size_t>(cinfo.output_width) * components);
  window.resize(row_bytes * window_height);
  for (int y = 0; y < window_height; ++y) {
    JSAMPROW scanline = row.data();
    jpeg_read_scanlines(&cinfo, &scanline, 1);
    std::memcpy(window.data() + y * row_bytes, row.data() + offset, row_bytes);
  }
  jpeg_abort_decompress(&cinfo);
  if (is_cmyk) return cmyk_to_image(window, window_width, window_height, options.channels);
  Image image;
  image.width = window_width;
  image.height = window_height;
  image.channels = options.channels;
  image.pixels = std::move(window);
  return image;
}

Image crop_image(const Image& image, const CropBox& box) {
  Image window(box.width, box.height, image.channels);
  const std::size_t row_bytes = static_cast<std::size_t>(box.width) * image.channels;
  for (int y = 0; y < box.height; ++y)
    std::memcpy(window.row(y), image.row(box.y + y) + static_cast<std::size_t>(box.x) * image.channels, row_bytes);
  return window;
}

Image decode_png(const std::uint8_t* data, std::size_t size, const std::string& name, const DecodeOptions& options) {
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, data, size))
    throw DecodeError(name, fmt::format("corrupt PNG: {}", png.message));
  if (png.width * static_cast<std::int64_t>(png.height) > options.max_pixels || png.width == 0 || png.height == 0) {
    png_image_free(&png);
    check_dimensions(name, png.width, png.height, options);
  }
  png.format = options.channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  Image image(static_cast<int>(png.width), static_cast<int>(png.height), options.channels);
  if (!png_image_finish_read(&png, nullptr, image.pixels.data(), 0, nullptr))
    throw DecodeError(name, fmt::format("corrupt PNG data: {}", png.message));
  return image;
}

void check_encodable(const Image& image) {
  if (image.width <= 0 || image.height <= 0 || (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * image.channels)
    throw std::invalid_argument(fmt::format("cannot encode a {}x{}x{} image", image.width, image.height, image.channels));
}

std::vector<std::uint8_t> compress_jpeg(const std::uint8_t* pixels, int width, int height, int pixel_format, int subsampling,
                                        int quality, int flags) {
  // TurboJPEG 2.1 keeps the progressive scan script in a handle, corrupting later baseline
  // encodes with it; progressive encodes (rare) therefore get a handle of their own.
  std::unique_ptr<TurboHandle> progressive_handle;
  if (flags & TJFLAG_PROGRESSIVE) progressive_handle = std::make_unique<TurboHandle>(true);
  tjhandle tj = progressive_handle ? progressive_handle->get() : compressor();
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (tjCompress2(tj, pixels, width, 0, height, pixel_format, &buffer, &size, subsampling, quality, flags) != 0)
    throw std::runtime_error(fmt::format("JPEG encoding failed: {}", tjGetErrorStr2(tj)));
  std::vector<std::uint8_t> bytes(buffer, buffer + size);
  tjFree(buffer);
  return bytes;
}

}  // namespace

Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& name, const DecodeOptions& options) {
  if (image_format(data, size, name, options) == ImageFormat::jpeg) return decode_jpeg(data, size, name, options);
  return decode_png(data, size, name, options);
}

Image decode_image_window(const std::uint8_t* data, std::size_t size, const std::string& name, const ChooseWindow& choose,
                          const DecodeOptions& options) {
  if (image_format(data, size, name, options) == ImageFormat::jpeg) return decode_jpeg_window(data, size, name, choose, options);
  const Image image = decode_png(data, size, name, options);
  const CropBox box = choose(image.width, image.height);
  check_window(name, box, image.width, image.height);
  return crop_image(image, box);
}

Image decode_image_file(const std::string& path, const DecodeOptions& options) {
  thread_local std::vector<std::uint8_t> buffer;
  const std::size_t size = read_file_into(path, buffer);
  return decode_image(buffer.data(), size, path, options);
}

std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality, bool progressive) {
  check_encodable(image);
  const bool gray = image.channels == 1;
  return compress_jpeg(image.pixels.data(), image.width, image.height, gray ? TJPF_GRAY : TJPF_RGB, gray ? TJSAMP_GRAY : TJSAMP_420,
                       quality, progressive ? TJFLAG_PROGRESSIVE : 0);
}

std::vector<std::uint8_t> encode_cmyk_jpeg(const std::uint8_t* cmyk, int width, int height, int quality) {
  return compress_jpeg(cmyk, width, height, TJPF_CMYK, TJSAMP_444, quality, 0);
}

std::vector<std::uint8_t> encode_png(const Image& image) {
  check_encodable(image);
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = image.channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&png, nullptr, &size, 0, image.pixels.data(), 0, nullptr))
    throw std::runtime_error(fmt::format("PNG encoding failed: {}", png.message));
  std::vector<std::uint8_t> bytes(size);
  if (!png_image_write_to_memory(&png, bytes.data(), &size, 0, image.pixels.data(), 0, nullptr))
    throw std::runtime_error(fmt::format("PNG encoding failed: {}", png.message));
  bytes.resize(size);
  return bytes;
}

std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  thread_local std::vector<std::uint8_t> buffer;
  const std::size_t size = read_file_into(path, buffer);
  return {buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(size)};  // exact size, not the buffer's
}

// Three system calls per file (open, read, close): with tiny images, syscalls rival decoding.
// A short read from a regular file means its end, so no fstat is needed. The buffer only grows,
// so a reused buffer is never zero-filled again.
std::size_t read_file_into(const std::string& path, std::vector<std::uint8_t>& buffer) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw DecodeError(path, fmt::format("cannot open file ({}; check the manifest path)", std::strerror(errno)));
  if (buffer.size() < 64 * 1024) buffer.resize(64 * 1024);
  std::size_t done = 0;
  while (true) {
    const ssize_t got = ::read(fd, buffer.data() + done, buffer.size() - done);
    if (got < 0) {
      const int error = errno;
      ::close(fd);
      throw DecodeError(path, fmt::format("read failed ({})", std::strerror(error)));
    }
    done += static_cast<std::size_t>(got);
    if (done < buffer.size()) break;
    buffer.resize(buffer.size() * 2);
  }
  ::close(fd);
  return done;
}

void write_file_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write file (disk full or no permission?)", path));
}

BadImagePolicy parse_bad_image_policy(const std::string& text) {
  if (text == "fail") return BadImagePolicy::fail;
  if (text == "skip") return BadImagePolicy::skip;
  throw std::invalid_argument(fmt::format("bad image policy '{}': use 'fail' or 'skip'", text));
}

}  // namespace semiflow
