#include "datasets/pseudo_label_cache.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <hdf5.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace semiflow {
namespace {

constexpr const char* kFormat = "semiflow-pseudo-label-cache";
constexpr long kFormatVersion = 1;
// Rows per block when summary and verify stream a whole file.
constexpr long kStreamRows = 65536;
// Decompressed chunks kept per open dataset. HDF5's 1 MiB default holds ~25 chunks of a
// 10-class level, so random batches over 60k rows decompressed each chunk again and again.
constexpr std::size_t kChunkCacheBytes = 8u << 20;
constexpr std::size_t kChunkCacheSlots = 8191;  // prime, ~100x the chunks that fit

// Owns one HDF5 identifier and closes it with the matching H5?close.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(Handle&& other) noexcept : id_(other.id_), close_(other.close_) { other.id_ = -1; }
  Handle& operator=(Handle&& other) noexcept {
    std::swap(id_, other.id_);
    std::swap(close_, other.close_);
    return *this;
  }
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  hid_t get() const { return id_; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// HDF5 prints its error stack to stderr by default; the exceptions below say it better.
// Per thread in the thread-safe build, so restoring it does not race other threads.
class QuietHdf5Errors {
 public:
  QuietHdf5Errors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietHdf5Errors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

hid_t check_id(hid_t id, const std::string& path, const std::string& what) {
  if (id < 0) throw std::runtime_error(fmt::format("{}: HDF5 could not {}", path, what));
  return id;
}
void check_status(herr_t status, const std::string& path, const std::string& what) {
  if (status < 0) throw std::runtime_error(fmt::format("{}: HDF5 could not {}", path, what));
}

Handle open_dataset(hid_t loc, const std::string& name, const std::string& path) {
  Handle access(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
  H5Pset_chunk_cache(access.get(), kChunkCacheSlots, kChunkCacheBytes, 1.0);
  return {check_id(H5Dopen2(loc, name.c_str(), access.get()), path, "open dataset " + name), H5Dclose};
}

bool has_attribute(hid_t loc, const char* name) { return H5Aexists(loc, name) > 0; }

void write_string_attribute(hid_t loc, const char* name, const std::string& value, const std::string& path) {
  if (has_attribute(loc, name)) check_status(H5Adelete(loc, name), path, std::string("replace attribute ") + name);
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<std::size_t>(value.size(), 1));
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attribute(check_id(H5Acreate2(loc, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), path,
                            std::string("create attribute ") + name),
                   H5Aclose);
  std::string padded = value;
  padded.resize(std::max<std::size_t>(value.size(), 1), '\0');
  check_status(H5Awrite(attribute.get(), type.get(), padded.data()), path, std::string("write attribute ") + name);
}

std::string read_string_attribute(hid_t loc, const char* name, const std::string& path) {
  Handle attribute(check_id(H5Aopen(loc, name, H5P_DEFAULT), path, std::string("find attribute ") + name), H5Aclose);
  Handle type(H5Aget_type(attribute.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) > 0)
    throw std::runtime_error(fmt::format("{}: attribute {} is not a fixed-length string", path, name));
  std::string value(H5Tget_size(type.get()), '\0');
  check_status(H5Aread(attribute.get(), type.get(), value.data()), path, std::string("read attribute ") + name);
  value.erase(std::find(value.begin(), value.end(), '\0'), value.end());
  return value;
}

void write_long_attribute(hid_t loc, const char* name, long value, const std::string& path) {
  const std::int64_t v = value;
  Handle attribute;
  if (has_attribute(loc, name)) {
    attribute = Handle(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose);
  } else {
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    attribute = Handle(H5Acreate2(loc, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  }
  check_id(attribute.get(), path, std::string("create attribute ") + name);
  check_status(H5Awrite(attribute.get(), H5T_NATIVE_INT64, &v), path, std::string("write attribute ") + name);
}

long read_long_attribute(hid_t loc, const char* name, const std::string& path) {
  Handle attribute(check_id(H5Aopen(loc, name, H5P_DEFAULT), path, std::string("find attribute ") + name), H5Aclose);
  std::int64_t v = 0;
  check_status(H5Aread(attribute.get(), H5T_NATIVE_INT64, &v), path, std::string("read attribute ") + name);
  return static_cast<long>(v);
}

std::string level_group(int level) { return fmt::format("level_{}", level); }

Handle string_type() {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  return type;
}

// Extent along rows (dimension 0) and, for 2-D datasets, the column count.
std::pair<long, long> dataset_shape(hid_t dataset) {
  Handle space(H5Dget_space(dataset), H5Sclose);
  hsize_t dims[2] = {0, 1};
  const int rank = H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  return {static_cast<long>(dims[0]), rank == 2 ? static_cast<long>(dims[1]) : 1};
}

// Contiguous runs (start, count) of sorted, distinct rows.
using Runs = std::vector<std::pair<long, long>>;

Runs runs_of(const std::vector<long>& sorted_rows) {
  Runs runs;
  for (long r : sorted_rows) {
    if (!runs.empty() && runs.back().first + runs.back().second == r)
      runs.back().second++;
    else
      runs.push_back({r, 1});
  }
  return runs;
}

// Reads the selected rows of a 1-D or 2-D dataset into `out` (rows in file order). Only the
// chunks holding those rows are touched.
void read_runs(hid_t dataset, hid_t memory_type, const Runs& runs, long total_rows, long columns, void* out,
               const std::string& path, const std::string& what) {
  if (total_rows == 0) return;
  Handle file_space(H5Dget_space(dataset), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(file_space.get());
  H5Sselect_none(file_space.get());
  for (const auto& [start, count] : runs) {
    const hsize_t offset[2] = {static_cast<hsize_t>(start), 0};
    const hsize_t size[2] = {static_cast<hsize_t>(count), static_cast<hsize_t>(columns)};
    check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_OR, offset, nullptr, size, nullptr), path, "select " + what);
  }
  const hsize_t memory_dims[2] = {static_cast<hsize_t>(total_rows), static_cast<hsize_t>(columns)};
  Handle memory_space(H5Screate_simple(rank, memory_dims, nullptr), H5Sclose);
  check_status(H5Dread(dataset, memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT, out), path, "read " + what);
}

std::vector<std::string> read_id_runs(hid_t dataset, const Runs& runs, long total_rows, const std::string& path) {
  std::vector<char*> raw(total_rows, nullptr);
  Handle type = string_type();
  read_runs(dataset, type.get(), runs, total_rows, 1, raw.data(), path, "ids");
  std::vector<std::string> ids(raw.begin(), raw.end());
  const hsize_t n = static_cast<hsize_t>(total_rows);
  Handle memory_space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  if (total_rows > 0) H5Dvlen_reclaim(type.get(), memory_space.get(), H5P_DEFAULT, raw.data());
  return ids;
}

struct LevelDatasets {
  Handle probabilities, labels, confidence;
};

// The open datasets of a cache file.
struct OpenCache {
  Handle file;
  Handle ids;
  std::vector<LevelDatasets> levels;
};

OpenCache open_cache(const std::string& path, unsigned flags) {
  if (!std::filesystem::exists(path)) throw std::runtime_error(fmt::format("{}: no such file", path));
  OpenCache cache;
  cache.file = Handle(check_id(H5Fopen(path.c_str(), flags, H5P_DEFAULT), path, "open the file (not HDF5, or damaged)"),
                      H5Fclose);
  const hid_t root = cache.file.get();
  if (!has_attribute(root, "format") || read_string_attribute(root, "format", path) != kFormat)
    throw std::runtime_error(fmt::format("{}: not a semiflow pseudo-label cache (no format attribute '{}')", path, kFormat));
  cache.ids = open_dataset(root, "ids", path);
  const long levels = read_long_attribute(root, "levels", path);
  for (int l = 0; l < levels; ++l) {
    const std::string group = level_group(l);
    cache.levels.push_back({open_dataset(root, group + "/probabilities", path), open_dataset(root, group + "/labels", path),
                            open_dataset(root, group + "/confidence", path)});
  }
  return cache;
}

CacheInfo read_info(const OpenCache& cache, const std::string& path) {
  const hid_t root = cache.file.get();
  CacheInfo info;
  const long version = read_long_attribute(root, "format_version", path);
  if (version != kFormatVersion)
    throw std::runtime_error(fmt::format("{}: cache format version {}, this build reads {}; rebuild the cache", path, version,
                                         kFormatVersion));
  auto& h = info.header;
  h.semiflow_version = read_string_attribute(root, "semiflow_version", path);
  h.rows_expected = read_long_attribute(root, "rows_expected", path);
  h.fingerprints.teacher = read_string_attribute(root, "fingerprint_teacher", path);
  h.fingerprints.manifest = read_string_attribute(root, "fingerprint_manifest", path);
  h.fingerprints.preprocessing = read_string_attribute(root, "fingerprint_preprocessing", path);
  info.rows_committed = read_long_attribute(root, "rows_committed", path);
  info.complete = read_long_attribute(root, "complete", path) == 1;
  info.dataset_rows.push_back(dataset_shape(cache.ids.get()).first);
  for (int l = 0; l < static_cast<int>(cache.levels.size()); ++l) {
    Handle group(check_id(H5Gopen2(root, level_group(l).c_str(), H5P_DEFAULT), path, "open " + level_group(l)), H5Gclose);
    h.level_names.push_back(read_string_attribute(group.get(), "name", path));
    h.classes_per_level.push_back(static_cast<int>(read_long_attribute(group.get(), "classes", path)));
    const auto [rows, columns] = dataset_shape(cache.levels[l].probabilities.get());
    if (columns != h.classes_per_level.back())
      throw std::runtime_error(fmt::format("{}: {}/probabilities has {} columns but the level has {} classes", path,
                                           level_group(l), columns, h.classes_per_level.back()));
    info.dataset_rows.push_back(rows);
    info.dataset_rows.push_back(dataset_shape(cache.levels[l].labels.get()).first);
    info.dataset_rows.push_back(dataset_shape(cache.levels[l].confidence.get()).first);
  }
  info.file_bytes = std::filesystem::file_size(path);
  return info;
}

bool same_layout(const CacheHeader& a, const CacheHeader& b) {
  return a.level_names == b.level_names && a.classes_per_level == b.classes_per_level && a.rows_expected == b.rows_expected;
}

std::vector<std::string> differing_fingerprints(const CacheFingerprints& a, const CacheFingerprints& b) {
  std::vector<std::string> names;
  if (a.teacher != b.teacher) names.push_back("teacher");
  if (a.manifest != b.manifest) names.push_back("manifest");
  if (a.preprocessing != b.preprocessing) names.push_back("preprocessing");
  return names;
}

// The problem that keeps a readable file from being a usable cache, or empty.
std::string completeness_problem(const CacheInfo& info) {
  if (!info.complete) return fmt::format("not marked complete ({} of {} rows written)", info.rows_committed,
                                         info.header.rows_expected);
  if (info.rows_committed != info.header.rows_expected)
    return fmt::format("marked complete with {} rows but {} expected", info.rows_committed, info.header.rows_expected);
  for (long rows : info.dataset_rows)
    if (rows != info.rows_committed)
      return fmt::format("a dataset has {} rows where the header says {}: inconsistent shapes", rows, info.rows_committed);
  return {};
}

void fill_derived(const ProbabilityMatrix& p, std::vector<int>& labels, std::vector<float>& confidence) {
  labels.resize(p.rows);
  confidence.resize(p.rows);
  for (long r = 0; r < p.rows; ++r) {
    const float* row = p.row(r);
    const float* top = std::max_element(row, row + p.classes);
    labels[r] = static_cast<int>(top - row);
    confidence[r] = *top;
  }
}

}  // namespace

std::string fingerprint_bytes(const std::string& bytes) {
  return fmt::format("{:016x}", static_cast<std::uint64_t>(XXH64(bytes.data(), bytes.size(), 0)));
}

std::string fingerprint_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open to fingerprint it", path));
  std::unique_ptr<XXH64_state_t, XXH_errorcode (*)(XXH64_state_t*)> state(XXH64_createState(), XXH64_freeState);
  XXH64_reset(state.get(), 0);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    XXH64_update(state.get(), buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw std::runtime_error(fmt::format("{}: read error while fingerprinting", path));
  return fmt::format("{:016x}", static_cast<std::uint64_t>(XXH64_digest(state.get())));
}

CacheHeader CacheHeader::for_hierarchy(const Hierarchy& hierarchy) {
  CacheHeader header;
  for (const auto& level : hierarchy.levels()) header.level_names.push_back(level.name);
  header.classes_per_level = hierarchy.classes_per_level();
  header.semiflow_version = SEMIFLOW_VERSION;
  return header;
}

CacheInfo read_cache_info(const std::string& path) {
  QuietHdf5Errors quiet;
  const OpenCache cache = open_cache(path, H5F_ACC_RDONLY);
  return read_info(cache, path);
}

const char* to_string(CacheState state) {
  switch (state) {
    case CacheState::hit: return "hit";
    case CacheState::missing: return "missing";
    case CacheState::incomplete: return "incomplete";
    case CacheState::fingerprint_mismatch: return "fingerprint_mismatch";
    case CacheState::corrupt: return "corrupt";
  }
  return "?";
}

CacheStatus check_cache(const std::string& path, const CacheFingerprints& expected) {
  CacheStatus status;
  if (!std::filesystem::exists(path)) {
    const bool partial = std::filesystem::exists(path + ".partial");
    status.state = partial ? CacheState::incomplete : CacheState::missing;
    status.message = partial ? fmt::format("{}: only {}.partial exists (an unfinished run); run the teacher again to resume it",
                                           path, path)
                             : fmt::format("{}: no cache yet; the teacher will write it", path);
    return status;
  }
  CacheInfo info;
  try {
    info = read_cache_info(path);
  } catch (const std::exception& e) {
    status.state = CacheState::corrupt;
    status.message = fmt::format("{}; delete it to rebuild", e.what());
    return status;
  }
  if (const auto problem = completeness_problem(info); !problem.empty()) {
    status.state = info.complete ? CacheState::corrupt : CacheState::incomplete;
    status.message = fmt::format("{}: {}; delete it to rebuild", path, problem);
    return status;
  }
  status.mismatched = differing_fingerprints(info.header.fingerprints, expected);
  if (!status.mismatched.empty()) {
    status.state = CacheState::fingerprint_mismatch;
    std::string which;
    for (const auto& name : status.mismatched) which += (which.empty() ? "" : ", ") + name;
    status.message = fmt::format("{}: made from a different {}; the teacher must run again", path, which);
    return status;
  }
  status.state = CacheState::hit;
  status.message = fmt::format("{}: {} rows", path, info.rows_committed);
  return status;
}

// --- writer ------------------------------------------------------------------------------

struct PseudoLabelCacheWriter::File : OpenCache {};

PseudoLabelCacheWriter::PseudoLabelCacheWriter(std::string path, CacheHeader header, CacheWriterOptions options)
    : path_(std::move(path)), partial_path_(path_ + ".partial"), header_(std::move(header)), options_(options) {
  if (header_.level_names.size() != header_.classes_per_level.size() || header_.level_names.empty())
    throw std::invalid_argument(fmt::format("{}: the cache header needs one name and class count per level", path_));
  if (options_.chunk_rows <= 0) throw std::invalid_argument(fmt::format("{}: chunk_rows must be > 0", path_));
  if (const auto folder = std::filesystem::path(path_).parent_path(); !folder.empty()) std::filesystem::create_directories(folder);
  QuietHdf5Errors quiet;
  if (std::filesystem::exists(partial_path_)) {
    try {
      open_existing();
      return;
    } catch (const std::exception& e) {
      file_.reset();
      rebuild_reason_ = e.what();
      std::filesystem::remove(partial_path_);
    }
  }
  create();
}

PseudoLabelCacheWriter::~PseudoLabelCacheWriter() {
  if (file_) H5Fflush(file_->file.get(), H5F_SCOPE_GLOBAL);
}

void PseudoLabelCacheWriter::open_existing() {
  auto file = std::make_unique<File>();
  static_cast<OpenCache&>(*file) = open_cache(partial_path_, H5F_ACC_RDWR);
  const CacheInfo info = read_info(*file, partial_path_);
  if (!same_layout(info.header, header_))
    throw std::runtime_error(fmt::format("{}: levels, classes or row count differ from this run", partial_path_));
  if (const auto differ = differing_fingerprints(info.header.fingerprints, header_.fingerprints); !differ.empty())
    throw std::runtime_error(fmt::format("{}: made from a different {}", partial_path_, differ.front()));
  for (long rows : info.dataset_rows)
    if (rows < info.rows_committed)
      throw std::runtime_error(fmt::format("{}: a dataset has {} rows, fewer than the {} committed", partial_path_, rows,
                                           info.rows_committed));
  // Rows written after the last commit may be partial: cut every dataset back to the commit.
  const hsize_t rows = static_cast<hsize_t>(info.rows_committed);
  check_status(H5Dset_extent(file->ids.get(), &rows), partial_path_, "truncate ids");
  for (int l = 0; l < static_cast<int>(file->levels.size()); ++l) {
    const hsize_t matrix[2] = {rows, static_cast<hsize_t>(header_.classes_per_level[l])};
    check_status(H5Dset_extent(file->levels[l].probabilities.get(), matrix), partial_path_, "truncate probabilities");
    check_status(H5Dset_extent(file->levels[l].labels.get(), &rows), partial_path_, "truncate labels");
    check_status(H5Dset_extent(file->levels[l].confidence.get(), &rows), partial_path_, "truncate confidence");
  }
  write_string_attribute(file->file.get(), "semiflow_version", header_.semiflow_version, partial_path_);
  file_ = std::move(file);
  rows_ = info.rows_committed;
  resumed_from_ = rows_;
}

void PseudoLabelCacheWriter::create() {
  const auto& p = partial_path_;
  auto file = std::make_unique<File>();
  file->file = Handle(check_id(H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), p, "create the file"), H5Fclose);
  const hid_t root = file->file.get();
  write_string_attribute(root, "format", kFormat, p);
  write_long_attribute(root, "format_version", kFormatVersion, p);
  write_string_attribute(root, "semiflow_version", header_.semiflow_version, p);
  write_long_attribute(root, "rows_expected", header_.rows_expected, p);
  write_long_attribute(root, "rows_committed", 0, p);
  write_long_attribute(root, "complete", 0, p);
  write_long_attribute(root, "levels", static_cast<long>(header_.level_names.size()), p);
  write_string_attribute(root, "fingerprint_teacher", header_.fingerprints.teacher, p);
  write_string_attribute(root, "fingerprint_manifest", header_.fingerprints.manifest, p);
  write_string_attribute(root, "fingerprint_preprocessing", header_.fingerprints.preprocessing, p);

  const hsize_t chunk_rows = static_cast<hsize_t>(options_.chunk_rows);
  auto make = [&](const std::string& name, hid_t type, int columns, bool compress) {
    const int rank = columns > 0 ? 2 : 1;
    const hsize_t dims[2] = {0, static_cast<hsize_t>(columns)};
    const hsize_t max_dims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(columns)};
    const hsize_t chunk[2] = {chunk_rows, static_cast<hsize_t>(columns)};
    Handle space(H5Screate_simple(rank, dims, max_dims), H5Sclose);
    Handle properties(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(properties.get(), rank, chunk);
    if (compress) {
      // Shuffle groups the bytes of each float so gzip sees the slowly varying exponents.
      H5Pset_shuffle(properties.get());
      H5Pset_deflate(properties.get(), static_cast<unsigned>(options_.gzip_level));
    }
    return Handle(check_id(H5Dcreate2(root, name.c_str(), type, space.get(), H5P_DEFAULT, properties.get(), H5P_DEFAULT), p,
                           "create dataset " + name),
                  H5Dclose);
  };
  // Variable-length strings live in a heap that filters do not compress: no filter on ids.
  Handle ids_type = string_type();
  file->ids = make("ids", ids_type.get(), 0, false);
  for (int l = 0; l < static_cast<int>(header_.level_names.size()); ++l) {
    const std::string group_name = level_group(l);
    Handle group(check_id(H5Gcreate2(root, group_name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), p, "create " + group_name),
                 H5Gclose);
    write_string_attribute(group.get(), "name", header_.level_names[l], p);
    write_long_attribute(group.get(), "classes", header_.classes_per_level[l], p);
    file->levels.push_back({make(group_name + "/probabilities", H5T_IEEE_F32LE, header_.classes_per_level[l], true),
                            make(group_name + "/labels", H5T_STD_I32LE, 0, true),
                            make(group_name + "/confidence", H5T_IEEE_F32LE, 0, true)});
  }
  check_status(H5Fflush(root, H5F_SCOPE_GLOBAL), p, "flush");
  file_ = std::move(file);
  rows_ = 0;
}

void PseudoLabelCacheWriter::append(const std::vector<std::string>& ids, const std::vector<ProbabilityMatrix>& probabilities) {
  if (!file_) throw std::logic_error(fmt::format("{}: append after finish", path_));
  const long n = static_cast<long>(ids.size());
  if (probabilities.size() != header_.classes_per_level.size())
    throw std::invalid_argument(fmt::format("{}: {} probability matrices for {} levels", path_, probabilities.size(),
                                            header_.classes_per_level.size()));
  for (std::size_t l = 0; l < probabilities.size(); ++l)
    if (probabilities[l].rows != n || probabilities[l].classes != header_.classes_per_level[l] ||
        static_cast<long>(probabilities[l].values.size()) != n * probabilities[l].classes)
      throw std::invalid_argument(fmt::format("{}: level '{}' got a {}x{} matrix for {} ids with {} classes", path_,
                                              header_.level_names[l], probabilities[l].rows, probabilities[l].classes, n,
                                              header_.classes_per_level[l]));
  if (rows_ + n > header_.rows_expected)
    throw std::invalid_argument(fmt::format("{}: {} rows would exceed the {} expected", path_, rows_ + n, header_.rows_expected));
  if (n == 0) return;
  QuietHdf5Errors quiet;
  const auto& p = partial_path_;
  auto write = [&](hid_t dataset, hid_t memory_type, long columns, const void* data, const char* what) {
    const int rank = columns > 0 ? 2 : 1;
    const hsize_t new_dims[2] = {static_cast<hsize_t>(rows_ + n), static_cast<hsize_t>(columns)};
    check_status(H5Dset_extent(dataset, new_dims), p, std::string("extend ") + what);
    Handle file_space(H5Dget_space(dataset), H5Sclose);
    const hsize_t offset[2] = {static_cast<hsize_t>(rows_), 0};
    const hsize_t count[2] = {static_cast<hsize_t>(n), static_cast<hsize_t>(columns)};
    check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, offset, nullptr, count, nullptr), p,
                 std::string("select ") + what);
    Handle memory_space(H5Screate_simple(rank, count, nullptr), H5Sclose);
    check_status(H5Dwrite(dataset, memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT, data), p,
                 std::string("write ") + what);
  };
  std::vector<const char*> id_pointers;
  for (const auto& id : ids) id_pointers.push_back(id.c_str());
  Handle ids_type = string_type();
  write(file_->ids.get(), ids_type.get(), 0, id_pointers.data(), "ids");
  std::vector<int> labels;
  std::vector<float> confidence;
  for (std::size_t l = 0; l < probabilities.size(); ++l) {
    fill_derived(probabilities[l], labels, confidence);
    write(file_->levels[l].probabilities.get(), H5T_NATIVE_FLOAT, probabilities[l].classes, probabilities[l].values.data(),
          "probabilities");
    write(file_->levels[l].labels.get(), H5T_NATIVE_INT, 0, labels.data(), "labels");
    write(file_->levels[l].confidence.get(), H5T_NATIVE_FLOAT, 0, confidence.data(), "confidence");
  }
  // Data first, then the commit mark, each flushed: a crash in between loses this chunk only.
  check_status(H5Fflush(file_->file.get(), H5F_SCOPE_GLOBAL), p, "flush");
  rows_ += n;
  write_long_attribute(file_->file.get(), "rows_committed", rows_, p);
  check_status(H5Fflush(file_->file.get(), H5F_SCOPE_GLOBAL), p, "flush");
}

void PseudoLabelCacheWriter::finish() {
  if (!file_) throw std::logic_error(fmt::format("{}: finish called twice", path_));
  if (rows_ != header_.rows_expected)
    throw std::runtime_error(fmt::format("{}: {} rows written but {} expected; the cache stays incomplete in {}", path_, rows_,
                                         header_.rows_expected, partial_path_));
  QuietHdf5Errors quiet;
  write_long_attribute(file_->file.get(), "complete", 1, partial_path_);
  check_status(H5Fflush(file_->file.get(), H5F_SCOPE_GLOBAL), partial_path_, "flush");
  file_.reset();  // closes the file before it is renamed
  std::filesystem::rename(partial_path_, path_);
}

// --- reader ------------------------------------------------------------------------------

struct PseudoLabelCacheReader::File : OpenCache {};

PseudoLabelCacheReader::PseudoLabelCacheReader(const std::string& path) : path_(path), file_(std::make_unique<File>()) {
  QuietHdf5Errors quiet;
  static_cast<OpenCache&>(*file_) = open_cache(path_, H5F_ACC_RDONLY);
  info_ = read_info(*file_, path_);
  if (const auto problem = completeness_problem(info_); !problem.empty())
    throw std::runtime_error(fmt::format("{}: {}; not usable as a cache, delete it to rebuild", path_, problem));
}

PseudoLabelCacheReader::~PseudoLabelCacheReader() = default;

CacheRows PseudoLabelCacheReader::read_rows(const std::vector<long>& rows) const {
  for (long r : rows)
    if (r < 0 || r >= this->rows())
      throw std::out_of_range(fmt::format("{}: row {} out of range (the cache has {} rows)", path_, r, this->rows()));
  std::vector<long> sorted = rows;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  const Runs runs = runs_of(sorted);
  const long unique = static_cast<long>(sorted.size());
  // Position of each requested row in the file-ordered buffer.
  std::vector<long> slot(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) slot[i] = std::lower_bound(sorted.begin(), sorted.end(), rows[i]) - sorted.begin();

  QuietHdf5Errors quiet;
  CacheRows out;
  const auto ids = read_id_runs(file_->ids.get(), runs, unique, path_);
  for (long s : slot) out.ids.push_back(ids[s]);
  for (int l = 0; l < num_levels(); ++l) {
    const int classes = info_.header.classes_per_level[l];
    ProbabilityMatrix buffer(unique, classes);
    std::vector<int> labels(unique);
    std::vector<float> confidence(unique);
    read_runs(file_->levels[l].probabilities.get(), H5T_NATIVE_FLOAT, runs, unique, classes, buffer.values.data(), path_,
              "probabilities");
    read_runs(file_->levels[l].labels.get(), H5T_NATIVE_INT, runs, unique, 1, labels.data(), path_, "labels");
    read_runs(file_->levels[l].confidence.get(), H5T_NATIVE_FLOAT, runs, unique, 1, confidence.data(), path_, "confidence");
    ProbabilityMatrix probabilities(static_cast<long>(rows.size()), classes);
    std::vector<int> ordered_labels;
    std::vector<float> ordered_confidence;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      std::copy(buffer.row(slot[i]), buffer.row(slot[i]) + classes, probabilities.row(static_cast<long>(i)));
      ordered_labels.push_back(labels[slot[i]]);
      ordered_confidence.push_back(confidence[slot[i]]);
    }
    out.probabilities.push_back(std::move(probabilities));
    out.labels.push_back(std::move(ordered_labels));
    out.confidence.push_back(std::move(ordered_confidence));
  }
  return out;
}

CacheRows PseudoLabelCacheReader::read_range(long begin, long end) const {
  if (begin < 0 || end < begin || end > rows())
    throw std::out_of_range(fmt::format("{}: rows [{}, {}) out of range (the cache has {} rows)", path_, begin, end, rows()));
  std::vector<long> all(end - begin);
  for (long i = 0; i < end - begin; ++i) all[i] = begin + i;
  return read_rows(all);
}

// --- summary and verification --------------------------------------------------------------

CacheSummary summarize_cache(const std::string& path, int bins) {
  QuietHdf5Errors quiet;
  const OpenCache cache = open_cache(path, H5F_ACC_RDONLY);
  CacheSummary summary;
  summary.info = read_info(cache, path);
  // Readable rows: a `.partial` may hold rows past its commit mark, which are not trusted.
  long rows = summary.info.rows_committed;
  for (long r : summary.info.dataset_rows) rows = std::min(rows, r);
  for (int l = 0; l < static_cast<int>(cache.levels.size()); ++l) {
    CacheLevelSummary level;
    level.name = summary.info.header.level_names[l];
    level.class_counts.assign(summary.info.header.classes_per_level[l], 0);
    std::vector<float> confidence(rows);
    std::vector<int> labels;
    for (long begin = 0; begin < rows; begin += kStreamRows) {
      const long n = std::min(kStreamRows, rows - begin);
      labels.resize(n);
      read_runs(cache.levels[l].labels.get(), H5T_NATIVE_INT, {{begin, n}}, n, 1, labels.data(), path, "labels");
      read_runs(cache.levels[l].confidence.get(), H5T_NATIVE_FLOAT, {{begin, n}}, n, 1, confidence.data() + begin, path,
                "confidence");
      for (int label : labels)
        if (label >= 0 && label < static_cast<int>(level.class_counts.size())) level.class_counts[label]++;
    }
    level.confidence = summarize_confidence(std::move(confidence), bins);
    summary.levels.push_back(std::move(level));
  }
  return summary;
}

void check_cache_levels(const CacheHeader& header, const Hierarchy& hierarchy, const std::string& cache_path) {
  std::vector<std::string> names;
  for (const auto& level : hierarchy.levels()) names.push_back(level.name);
  if (header.level_names != names || header.classes_per_level != hierarchy.classes_per_level())
    throw std::invalid_argument(fmt::format("{}: its levels ({}) differ from hierarchy {}", cache_path,
                                            fmt::join(header.level_names, ", "), hierarchy.source()));
}

std::vector<std::string> verify_cache(const std::string& path) {
  QuietHdf5Errors quiet;
  std::vector<std::string> problems;
  OpenCache cache;
  CacheInfo info;
  try {
    cache = open_cache(path, H5F_ACC_RDONLY);
    info = read_info(cache, path);
  } catch (const std::exception& e) {
    return {e.what()};
  }
  if (const auto problem = completeness_problem(info); !problem.empty()) problems.push_back(fmt::format("{}: {}", path, problem));
  long rows = info.rows_committed;
  for (long r : info.dataset_rows) rows = std::min(rows, r);
  try {
    for (long begin = 0; begin < rows; begin += kStreamRows) {
      const long n = std::min(kStreamRows, rows - begin);
      read_id_runs(cache.ids.get(), {{begin, n}}, n, path);
    }
    for (int l = 0; l < static_cast<int>(cache.levels.size()); ++l) {
      const int classes = info.header.classes_per_level[l];
      long bad_label = 0, bad_confidence = 0, bad_sum = 0, first_bad = -1;
      for (long begin = 0; begin < rows; begin += kStreamRows) {
        const long n = std::min(kStreamRows, rows - begin);
        ProbabilityMatrix p(n, classes);
        std::vector<int> labels(n);
        std::vector<float> confidence(n);
        read_runs(cache.levels[l].probabilities.get(), H5T_NATIVE_FLOAT, {{begin, n}}, n, classes, p.values.data(), path,
                  "probabilities");
        read_runs(cache.levels[l].labels.get(), H5T_NATIVE_INT, {{begin, n}}, n, 1, labels.data(), path, "labels");
        read_runs(cache.levels[l].confidence.get(), H5T_NATIVE_FLOAT, {{begin, n}}, n, 1, confidence.data(), path, "confidence");
        std::vector<int> expected_labels;
        std::vector<float> expected_confidence;
        fill_derived(p, expected_labels, expected_confidence);
        for (long r = 0; r < n; ++r) {
          double sum = 0.0;
          for (int c = 0; c < classes; ++c) sum += p.row(r)[c];
          const bool label_bad = labels[r] != expected_labels[r];
          const bool confidence_bad = confidence[r] != expected_confidence[r] || !(confidence[r] >= 0.0f && confidence[r] <= 1.0f);
          const bool sum_bad = !(std::abs(sum - 1.0) < 1e-3);
          bad_label += label_bad;
          bad_confidence += confidence_bad;
          bad_sum += sum_bad;
          if ((label_bad || confidence_bad || sum_bad) && first_bad < 0) first_bad = begin + r;
        }
      }
      if (first_bad >= 0)
        problems.push_back(fmt::format("{}: level '{}': {} labels differ from the argmax, {} confidences differ from the max "
                                       "or leave [0, 1], {} probability rows do not sum to 1 (first bad row {})",
                                       path, info.header.level_names[l], bad_label, bad_confidence, bad_sum, first_bad));
    }
  } catch (const std::exception& e) {
    problems.push_back(fmt::format("{} (damaged data)", e.what()));
  }
  return problems;
}

void merge_interleaved_shards(const std::vector<std::string>& shards, const std::string& path, const CacheHeader& header,
                              CacheWriterOptions options) {
  const long count = static_cast<long>(shards.size());
  if (count < 1) throw std::invalid_argument(fmt::format("{}: no shards to merge", path));
  const long rows = header.rows_expected, per_shard = (rows + count - 1) / count;
  std::vector<std::unique_ptr<PseudoLabelCacheReader>> readers;
  for (long s = 0; s < count; ++s) {
    const auto& shard = shards[static_cast<std::size_t>(s)];
    if (!std::filesystem::exists(shard))
      throw std::runtime_error(fmt::format("{}: shard {} of {} is missing; rerun the teacher pass", shard, s, count));
    readers.push_back(std::make_unique<PseudoLabelCacheReader>(shard));
    const CacheHeader& got = readers.back()->header();
    if (readers.back()->rows() != per_shard)
      throw std::runtime_error(fmt::format("{}: shard {} of {} holds {} rows, not {}; rerun the teacher pass", shard, s, count,
                                           readers.back()->rows(), per_shard));
    if (got.fingerprints.teacher != header.fingerprints.teacher || got.fingerprints.manifest != header.fingerprints.manifest ||
        got.fingerprints.preprocessing != header.fingerprints.preprocessing || got.level_names != header.level_names ||
        got.classes_per_level != header.classes_per_level)
      throw std::runtime_error(fmt::format("{}: shard {} of {} was made from other teachers, manifest, preprocessing or "
                                           "levels than {}; rerun the teacher pass", shard, s, count, path));
  }
  PseudoLabelCacheWriter writer(path, header, options);
  const long chunk = std::max(1L, options.chunk_rows);
  for (long begin = writer.rows_written(); begin < rows; begin += chunk) {
    const long end = std::min(rows, begin + chunk);
    // Output rows [begin, end) come from rows [begin / S, (end - 1) / S] of every shard.
    std::vector<CacheRows> parts;
    const long first = begin / count;
    for (const auto& reader : readers) parts.push_back(reader->read_range(first, std::min(per_shard, (end - 1) / count + 1)));
    std::vector<std::string> ids;
    std::vector<ProbabilityMatrix> levels;
    for (const int classes : header.classes_per_level) levels.emplace_back(end - begin, classes);
    for (long i = begin; i < end; ++i) {
      const CacheRows& part = parts[static_cast<std::size_t>(i % count)];
      const long row = i / count - first;
      ids.push_back(part.ids[static_cast<std::size_t>(row)]);
      for (std::size_t level = 0; level < levels.size(); ++level)
        std::copy_n(part.probabilities[level].row(row), levels[level].classes, levels[level].row(i - begin));
    }
    writer.append(ids, levels);
  }
  writer.finish();
}

}  // namespace semiflow
