// Restore into an archive with libarchive: tar (POSIX pax), tar.zst, tar.gz, zip.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/ops/include_filter.h"
#include "engine/ops/restore.h"
#include "engine/ops/snapshots.h"
#include "engine/pipeline/fs_meta.h"

namespace rw {

bool ParseArchiveFormat(const std::string& name, ArchiveFormat* out) {
  if (name == "tar") *out = ArchiveFormat::kTar;
  else if (name == "tar.zst" || name == "tzst") *out = ArchiveFormat::kTarZstd;
  else if (name == "tar.gz" || name == "tgz") *out = ArchiveFormat::kTarGzip;
  else if (name == "zip") *out = ArchiveFormat::kZip;
  else return false;
  return true;
}

const char* ArchiveFormatName(ArchiveFormat format) {
  switch (format) {
    case ArchiveFormat::kTar: return "tar";
    case ArchiveFormat::kTarZstd: return "tar.zst";
    case ArchiveFormat::kTarGzip: return "tar.gz";
    case ArchiveFormat::kZip: return "zip";
  }
  return "?";
}

Result<ArchiveFormat> ChooseArchiveFormat(const std::string& path, const std::string& requested) {
  ArchiveFormat format = ArchiveFormat::kTar;
  if (!requested.empty() && !ParseArchiveFormat(requested, &format)) {
    return Status::InvalidArgument("unknown archive format \"" + requested + "\" (" + kArchiveFormatNames + ")");
  }
  std::string name = path.substr(path.find_last_of('/') + 1);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto ends = [&](std::string_view suffix) {
    return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  static constexpr std::pair<std::string_view, ArchiveFormat> kWritten[] = {
      {".tar.zst", ArchiveFormat::kTarZstd}, {".tzst", ArchiveFormat::kTarZstd},
      {".tar.gz", ArchiveFormat::kTarGzip},  {".tgz", ArchiveFormat::kTarGzip},
      {".zip", ArchiveFormat::kZip},         {".tar", ArchiveFormat::kTar}};
  for (const auto& [suffix, named] : kWritten) {
    if (!ends(suffix)) continue;
    if (!requested.empty() && named != format) {
      return Status::InvalidArgument("archive " + path + ": its name says " + ArchiveFormatName(named) +
                                     ", the format asked for is " + ArchiveFormatName(format));
    }
    return named;
  }
  // Archive and compression formats that libarchive or the usual tools read, rewind does not
  // write. Longest first, so that the message names .tar.xz rather than .xz.
  static constexpr std::string_view kNotWritten[] = {
      ".tar.xz", ".tar.bz2", ".tar.lz", ".tar.lzma", ".tar.lz4", ".tar.lzo", ".tar.z", ".txz",
      ".tbz", ".tbz2", ".tb2", ".tlz", ".taz", ".gz", ".zst", ".xz", ".bz2", ".lz", ".lzma",
      ".lz4", ".lzo", ".z", ".7z", ".rar", ".cpio", ".iso", ".ar", ".cab", ".xar", ".lha", ".lzh"};
  for (std::string_view suffix : kNotWritten) {
    if (ends(suffix)) {
      return Status::InvalidArgument("archive " + path + ": rewind does not write " + std::string(suffix) +
                                     " archives, only " + kArchiveFormatNames +
                                     " (names ending in .tar, .tar.zst or .tzst, .tar.gz or .tgz, .zip)");
    }
  }
  return format;
}

Status CheckArchivePath(const std::string& path) {
  if (path == "-") return Status::OK();
  struct stat st;
  if (path.empty() || path.back() == '/' || (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))) {
    return Status::InvalidArgument("archive " + path + " names a directory: name the archive file to write, e.g. " +
                                   (path.empty() || path.back() == '/' ? path : path + "/") + "snapshot.tar");
  }
  return Status::OK();
}

namespace {

// fsync of the directory holding `path`, so that its new name survives a crash.
Status FsyncParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open directory " + dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("fsync directory " + dir, err);
  return Status::OK();
}

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

Status ArchiveError(archive* a, const std::string& what) {
  const char* msg = archive_error_string(a);
  std::string text = what + ": " + (msg ? msg : "libarchive error");
  // libarchive's text for a failed write is only "Write error": add the cause (ENOSPC, EPIPE…).
  const int err = archive_errno(a);
  // (Its own format and usage errors are EINVAL or -1: the text says it all.)
  if (err > 0 && err != EINVAL && (!msg || std::string(msg).find(std::strerror(err)) == std::string::npos)) {
    return ErrnoStatus(text, err);
  }
  return Status::IOError(text);
}

// Where the archive's bytes go: a file descriptor, through a buffer of rewind's own instead of
// libarchive's blocking, which is turned off (0 bytes per block: each piece libarchive produces
// is handed straight to Write). So
//  - nothing is padded after the last byte, wherever the output goes: libarchive pads its last
//    10240-byte block with NULs when it writes to a pipe or to standard output, and pads what
//    comes out of the compression filter, so a tar.zst would end in NULs that zstd reads as a
//    broken frame (a tar needs no padding: it ends with its own two zero blocks);
//  - an archive abandoned with archive_write_fail() can still be written out up to the last byte
//    libarchive produced (Flush), so that it ends where the failure was, not at a block boundary
//    that may fall between two entries.
// Not thread-safe. Outlives the archive object it is opened on.
class ArchiveSink {
 public:
  // `name` says where the bytes go in error messages ("standard output", a path).
  ArchiveSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) { buffer_.reserve(kBufferSize); }

  // The write callback of archive_write_open2(); `self` is the sink.
  static la_ssize_t Write(archive* a, void* self, const void* data, size_t size) {
    auto* sink = static_cast<ArchiveSink*>(self);
    if (!sink->Append(static_cast<const char*>(data), size)) {
      archive_set_error(a, sink->errno_, "cannot write to %s", sink->name_.c_str());
      return -1;
    }
    return static_cast<la_ssize_t>(size);
  }

  // Writes out what is buffered. Returns false (and keeps errno) when the descriptor fails.
  [[nodiscard]] bool Flush() {
    if (buffer_.empty()) return true;
    bool ok = WriteAll(buffer_.data(), buffer_.size());
    buffer_.clear();
    return ok;
  }

  // Flush, then `size` bytes straight to the descriptor.
  [[nodiscard]] bool WriteRaw(const void* data, size_t size) {
    return Flush() && WriteAll(static_cast<const char*>(data), size);
  }

  uint64_t bytes_out() const { return bytes_out_; }  // bytes the descriptor took so far
  int error() const { return errno_; }               // errno of the failed write, else 0
  const std::string& name() const { return name_; }

 private:
  // Few writes per archive, little memory: libarchive hands out pieces from 512 bytes (a tar
  // header) to a blob (up to 8 MiB) or a compressor's output buffer (about 128 KiB).
  static constexpr size_t kBufferSize = 1 << 20;

  bool Append(const char* data, size_t size) {
    if (buffer_.size() + size > kBufferSize && !Flush()) return false;
    if (size >= kBufferSize) return WriteAll(data, size);
    buffer_.insert(buffer_.end(), data, data + size);
    return true;
  }

  bool WriteAll(const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        errno_ = errno;
        return false;
      }
      p += w;
      n -= static_cast<size_t>(w);
      bytes_out_ += static_cast<uint64_t>(w);
    }
    return true;
  }

  int fd_;
  std::string name_;
  std::vector<char> buffer_;
  uint64_t bytes_out_ = 0;
  int errno_ = 0;
};

mode_t FileType(EntryType t) {
  switch (t) {
    case EntryType::kDir:
    case EntryType::kExcludedDir: return AE_IFDIR;
    case EntryType::kSymlink: return AE_IFLNK;
    case EntryType::kFifo: return AE_IFIFO;
    case EntryType::kCharDevice: return AE_IFCHR;
    case EntryType::kBlockDevice: return AE_IFBLK;
    default: return AE_IFREG;
  }
}

// POSIX ACLs are stored as the kernel's xattr encoding (system.posix_acl_access/default:
// u32 version 2, then entries of u16 tag, u16 perm, u32 id, little-endian). libarchive carries
// ACLs as ACL entries, not xattrs; this translates. Returns false when `value` is malformed.
bool AddPosixAcl(archive_entry* ae, int acl_type, const std::string& value) {
  if (value.size() < 4 || (value.size() - 4) % 8 != 0) return false;
  auto u16 = [&](size_t o) { return static_cast<unsigned>(static_cast<uint8_t>(value[o]) | (static_cast<uint8_t>(value[o + 1]) << 8)); };
  auto u32 = [&](size_t o) { return static_cast<uint32_t>(u16(o) | (u16(o + 2) << 16)); };
  if (u32(0) != 2) return false;
  for (size_t o = 4; o < value.size(); o += 8) {
    unsigned tag = u16(o), perm = u16(o + 2);
    uint32_t id = u32(o + 4);
    int ae_tag;
    switch (tag) {
      case 0x01: ae_tag = ARCHIVE_ENTRY_ACL_USER_OBJ; break;
      case 0x02: ae_tag = ARCHIVE_ENTRY_ACL_USER; break;
      case 0x04: ae_tag = ARCHIVE_ENTRY_ACL_GROUP_OBJ; break;
      case 0x08: ae_tag = ARCHIVE_ENTRY_ACL_GROUP; break;
      case 0x10: ae_tag = ARCHIVE_ENTRY_ACL_MASK; break;
      case 0x20: ae_tag = ARCHIVE_ENTRY_ACL_OTHER; break;
      default: return false;
    }
    int permset = ((perm & 4) ? ARCHIVE_ENTRY_ACL_READ : 0) | ((perm & 2) ? ARCHIVE_ENTRY_ACL_WRITE : 0) |
                  ((perm & 1) ? ARCHIVE_ENTRY_ACL_EXECUTE : 0);
    bool qualified = ae_tag == ARCHIVE_ENTRY_ACL_USER || ae_tag == ARCHIVE_ENTRY_ACL_GROUP;
    std::string name = !qualified ? "" : ae_tag == ARCHIVE_ENTRY_ACL_USER ? UserName(id) : GroupName(id);
    archive_entry_acl_add_entry(ae, acl_type, permset, ae_tag, qualified ? static_cast<int>(id) : -1,
                                name.empty() ? nullptr : name.c_str());
  }
  return true;
}

class ArchiveWriter {
 public:
  ArchiveWriter(Repository* repo, archive* a, const IncludeFilter& filter, bool zip,
                RestoreObserver* observer, RestoreStats* stats)
      : repo_(repo), a_(a), filter_(filter), zip_(zip), observer_(observer), stats_(stats) {}

  // The source directory's own entry, as "./" (tar formats, whole snapshot), last: extracting
  // with permissions kept gives the target directory the installation root's mode, owner and
  // times, and no later entry moves its mtime.
  Status WriteRoot(const std::optional<TreeEntry>& root) {
    if (!root || zip_ || !filter_.all()) return Status::OK();
    RW_RETURN_IF_ERROR(WriteEntry("./", *root));
    stats_->dirs -= 1;  // counted as the target, not as a directory below it
    return Status::OK();
  }

  Status WriteTree(const BlobId& tree_id, const std::string& prefix, bool selected) {
    if (prefix.empty()) root_tree_ = tree_id;
    auto loaded = LoadTree(*repo_, tree_id);
    if (!loaded.ok()) return loaded.status().WithContext(prefix.empty() ? "root directory" : "directory " + prefix);
    const Tree& tree = *loaded;
    for (const TreeEntry& e : tree.entries) {
      std::string path = prefix.empty() ? e.name : prefix + "/" + e.name;
      bool is_dir = e.type == EntryType::kDir || e.type == EntryType::kExcludedDir;
      bool sel = filter_.Selected(path, is_dir, selected);
      if (sel) RW_RETURN_IF_ERROR(WriteParents());
      if (sel && e.type == EntryType::kHardlink) {
        auto entry = hardlinks_.Resolve(*repo_, filter_, root_tree_, path, e);
        if (!entry.ok()) return entry.status().WithContext(path);
        RW_RETURN_IF_ERROR(WriteEntry(path, *entry));
      } else if (sel) {
        RW_RETURN_IF_ERROR(WriteEntry(path, e));
      }
      if (e.type == EntryType::kDir) {
        // An unselected directory is written only if something below it is (--include), before
        // that entry, so that it is extracted with its own mode, owner and times.
        if (!sel) pending_.push_back({path, e});
        Status s = WriteTree(*e.subtree, path, sel);
        if (!sel && !pending_.empty() && pending_.back().first == path) pending_.pop_back();
        RW_RETURN_IF_ERROR(s);
      }
    }
    return Status::OK();
  }

  Status WriteParents() {
    for (const auto& [path, e] : pending_) RW_RETURN_IF_ERROR(WriteEntry(path, e));
    pending_.clear();
    return Status::OK();
  }

  // False while an entry's header is written and not all of its data. (A tar stream cut short
  // between entries reads as an archive that simply ends; see Abandon.)
  bool between_entries() const { return data_owed_ == 0; }

 private:
  Status WriteEntry(const std::string& path, const TreeEntry& e) {
    if (zip_ && (e.type == EntryType::kFifo || e.type == EntryType::kCharDevice ||
                 e.type == EntryType::kBlockDevice)) {
      observer_->OnNote(path, "zip cannot hold FIFOs or device nodes: left out");
      return Status::OK();
    }
    std::unique_ptr<archive_entry, EntryDeleter> entry(archive_entry_new());
    archive_entry* ae = entry.get();
    archive_entry_copy_pathname(ae, path.c_str());
    archive_entry_set_uid(ae, e.uid);
    archive_entry_set_gid(ae, e.gid);
    if (!e.user.empty()) archive_entry_copy_uname(ae, e.user.c_str());
    if (!e.group.empty()) archive_entry_copy_gname(ae, e.group.c_str());
    archive_entry_set_mtime(ae, e.mtime_ns / 1000000000, e.mtime_ns % 1000000000);
    if (e.type == EntryType::kHardlink) {
      archive_entry_set_filetype(ae, AE_IFREG);
      archive_entry_set_perm(ae, e.mode);
      archive_entry_copy_hardlink(ae, e.link_target.c_str());
      archive_entry_set_size(ae, 0);
    } else {
      archive_entry_set_filetype(ae, FileType(e.type));
      archive_entry_set_perm(ae, e.mode);
      if (e.type == EntryType::kSymlink) archive_entry_copy_symlink(ae, e.link_target.c_str());
      if (e.type == EntryType::kCharDevice || e.type == EntryType::kBlockDevice) {
        archive_entry_set_rdev(ae, static_cast<dev_t>(e.rdev));
      }
      archive_entry_set_size(ae, e.type == EntryType::kFile ? static_cast<la_int64_t>(e.size) : 0);
    }
    // After the mode: libarchive keeps the owning group's ACL permissions in the mode bits.
    for (const Xattr& x : e.xattrs) {
      if (x.name == "system.posix_acl_access" &&
          AddPosixAcl(ae, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, x.value)) continue;
      if (x.name == "system.posix_acl_default" &&
          AddPosixAcl(ae, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, x.value)) continue;
      archive_entry_xattr_add_entry(ae, x.name.c_str(), x.value.data(), x.value.size());
    }
    // ARCHIVE_WARN: e.g. a name that is not UTF-8, written as raw bytes (hdrcharset=BINARY).
    if (archive_write_header(a_, ae) < ARCHIVE_WARN) return ArchiveError(a_, "archive entry " + path);
    if (e.type == EntryType::kFile) {
      data_owed_ = e.size;
      for (const BlobId& id : e.content) {
        auto blob = repo_->LoadBlob(id, BlobType::kData);
        if (!blob.ok()) return blob.status().WithContext(path);
        la_ssize_t n = archive_write_data(a_, blob->data(), blob->size());
        if (n < 0) return ArchiveError(a_, "archive data of " + path);
        data_owed_ -= std::min(data_owed_, static_cast<uint64_t>(n));
      }
      data_owed_ = 0;
      stats_->files += 1;
      stats_->bytes += e.size;
    } else if (e.type == EntryType::kDir || e.type == EntryType::kExcludedDir) {
      stats_->dirs += 1;
    } else if (e.type == EntryType::kSymlink) {
      stats_->symlinks += 1;
    } else if (e.type == EntryType::kHardlink) {
      stats_->files += 1;
    } else {
      stats_->others += 1;
    }
    return Status::OK();
  }

  Repository* repo_;
  archive* a_;
  const IncludeFilter& filter_;
  BlobId root_tree_;
  HardlinkReroute hardlinks_;
  std::vector<std::pair<std::string, TreeEntry>> pending_;  // unselected directories not yet written
  bool zip_;
  RestoreObserver* observer_;
  RestoreStats* stats_;
  uint64_t data_owed_ = 0;  // bytes of the current entry's data not yet written
};

bool Compressed(ArchiveFormat format) {
  return format == ArchiveFormat::kTarZstd || format == ArchiveFormat::kTarGzip;
}

// Leaves an archive that could not be completed visibly broken, so that every reader reports an
// error instead of extracting a well-formed archive that lacks files or holds one zero-filled:
//  - archive_write_fail(): no end-of-archive marker, no end of the compression frame, no
//    padding of the current entry's data to its announced size;
//  - what libarchive produced is written out (the sink's buffer), so the stream ends where the
//    failure was;
//  - a tar cut between two entries reads as an archive without its end marker, which libarchive
//    and GNU tar accept as a whole archive, and an empty output (a zip that failed before its
//    first entry) as an empty archive: there, one more entry is announced, whose data never
//    comes, so readers report a truncated archive (a zip with entries but without its central
//    directory is refused by unzip and bsdtar wherever it ends);
//  - a compressor that has written nothing yet (zstd holds back up to about 128 KiB, gzip 64 KiB)
//    would leave an empty output, which bsdtar reads as an empty archive: the frame's header
//    alone is written, a frame cut short.
// Best effort: the output may be what failed.
void Abandon(archive* a, ArchiveSink* sink, ArchiveFormat format, bool between_entries) {
  if (between_entries && !Compressed(format)) {
    std::unique_ptr<archive_entry, EntryDeleter> entry(archive_entry_new());
    archive_entry_copy_pathname(entry.get(), "REWIND-ARCHIVE-INCOMPLETE");
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0600);
    archive_entry_set_size(entry.get(), 1);
    (void)archive_write_header(a, entry.get());
  }
  archive_write_fail(a);
  if (!sink->Flush() || sink->bytes_out() > 0 || !Compressed(format)) return;
  // RFC 8878 §3.1.1: a zstd frame begins with the magic number 0xFD2FB528, little-endian.
  static constexpr unsigned char kZstdMagic[] = {0x28, 0xB5, 0x2F, 0xFD};
  // RFC 1952 §2.3: a gzip member's 10-byte header: ID1 31, ID2 139, CM 8 (deflate), no flags,
  // no time, XFL 0, OS 3 (Unix), as libarchive writes it here. (3 bytes are too few for bsdtar
  // to see gzip: it would say "unrecognized format" rather than "truncated gzip input".)
  static constexpr unsigned char kGzipHeader[] = {0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 0x03};
  if (format == ArchiveFormat::kTarZstd) (void)sink->WriteRaw(kZstdMagic, sizeof kZstdMagic);
  else (void)sink->WriteRaw(kGzipHeader, sizeof kGzipHeader);
}

}  // namespace

Status RestoreToArchive(Repository* repo, const Snapshot& snapshot, const std::string& path,
                        ArchiveFormat format, const std::vector<std::string>& includes,
                        RestoreObserver* observer, RestoreStats* stats) {
  RW_RETURN_IF_ERROR(CheckArchivePath(path));
  if (!snapshot.tree) return Status::InvalidArgument("the snapshot holds no files");
  RW_ASSIGN_OR_RETURN(IncludeFilter filter, IncludeFilter::Make(includes));
  std::string lock_note;
  RW_ASSIGN_OR_RETURN(auto lock, repo->LockForReading("restore --archive", &lock_note));
  if (!lock_note.empty() && observer) observer->OnNote("", lock_note);
  std::unique_ptr<archive, ArchiveDeleter> a(archive_write_new());
  int rc = ARCHIVE_OK;
  switch (format) {
    case ArchiveFormat::kTar: rc = archive_write_set_format_pax(a.get()); break;
    case ArchiveFormat::kTarZstd:
      rc = archive_write_set_format_pax(a.get());
      if (rc == ARCHIVE_OK) rc = archive_write_add_filter_zstd(a.get());
      break;
    case ArchiveFormat::kTarGzip:
      rc = archive_write_set_format_pax(a.get());
      if (rc == ARCHIVE_OK) rc = archive_write_add_filter_gzip(a.get());
      // No time in the gzip header: the same snapshot gives the same bytes, as with zstd.
      if (rc == ARCHIVE_OK) rc = archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr);
      break;
    case ArchiveFormat::kZip: rc = archive_write_set_format_zip(a.get()); break;
  }
  if (rc != ARCHIVE_OK) return ArchiveError(a.get(), "archive format");
  // Names are raw bytes and libarchive converts from the C locale: a name that is not ASCII gets
  // hdrcharset=BINARY in its own pax header and is stored as it is. Setting that for every entry
  // made GNU tar, which does not know the keyword, warn once per entry.
  // Blocking is the sink's (see ArchiveSink): libarchive hands over every piece as it comes.
  archive_write_set_bytes_per_block(a.get(), 0);
  const bool to_stdout = path == "-";
  const std::string tmp = to_stdout ? "" : path + ".rewind-partial";
  int fd = STDOUT_FILENO;
  if (!to_stdout) {
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return ErrnoStatus("create archive " + tmp, errno);
  }
  ArchiveSink sink(fd, to_stdout ? "standard output" : tmp);
  Status s;
  if (archive_write_open2(a.get(), &sink, nullptr, &ArchiveSink::Write, nullptr, nullptr) != ARCHIVE_OK) {
    s = ArchiveError(a.get(), "open archive " + sink.name());
  } else {
    RestoreObserver null_observer;
    ArchiveWriter writer(repo, a.get(), filter, format == ArchiveFormat::kZip,
                         observer ? observer : &null_observer, stats);
    s = writer.WriteTree(*snapshot.tree, "", filter.all());
    if (s.ok()) s = writer.WriteRoot(snapshot.root);
    if (!s.ok()) {
      Abandon(a.get(), &sink, format, writer.between_entries());
    } else if (archive_write_close(a.get()) != ARCHIVE_OK) {
      s = ArchiveError(a.get(), "close archive");
    } else if (!sink.Flush()) {
      s = ErrnoStatus("write archive to " + sink.name(), sink.error());
    }
  }
  a.reset();  // libarchive's state goes before the descriptor
  if (!to_stdout) {
    // Durable before it takes its name: a crash just after must not leave a short archive under
    // the name the admin asked for (the temporary's name says what it is).
    if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus("fsync archive " + tmp, errno);
    if (::close(fd) != 0 && s.ok()) s = ErrnoStatus("close archive " + tmp, errno);
    if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = ErrnoStatus("rename to " + path, errno);
    if (s.ok()) s = FsyncParentDir(path);
    if (!s.ok()) ::unlink(tmp.c_str());
  }
  return s;
}

}  // namespace rw
