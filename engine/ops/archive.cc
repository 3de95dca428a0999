// Restore into an archive with libarchive: tar (POSIX pax), tar.zst, zip.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "engine/ops/include_filter.h"
#include "engine/ops/restore.h"
#include "engine/ops/snapshots.h"
#include "engine/pipeline/fs_meta.h"

namespace rw {

bool ParseArchiveFormat(const std::string& name, ArchiveFormat* out) {
  if (name == "tar") *out = ArchiveFormat::kTar;
  else if (name == "tar.zst" || name == "tzst") *out = ArchiveFormat::kTarZstd;
  else if (name == "zip") *out = ArchiveFormat::kZip;
  else return false;
  return true;
}

namespace {

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

  Status WriteTree(const BlobId& tree_id, const std::string& prefix, bool selected) {
    RW_ASSIGN_OR_RETURN(Tree tree, LoadTree(*repo_, tree_id));
    for (const TreeEntry& e : tree.entries) {
      std::string path = prefix.empty() ? e.name : prefix + "/" + e.name;
      bool is_dir = e.type == EntryType::kDir || e.type == EntryType::kExcludedDir;
      bool sel = filter_.Selected(path, is_dir, selected);
      if (sel) RW_RETURN_IF_ERROR(WriteEntry(path, e));
      if (e.type == EntryType::kDir) RW_RETURN_IF_ERROR(WriteTree(*e.subtree, path, sel));
    }
    return Status::OK();
  }

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
      for (const BlobId& id : e.content) {
        auto blob = repo_->LoadBlob(id, BlobType::kData);
        if (!blob.ok()) return blob.status().WithContext(path);
        if (archive_write_data(a_, blob->data(), blob->size()) < 0) {
          return ArchiveError(a_, "archive data of " + path);
        }
      }
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
  bool zip_;
  RestoreObserver* observer_;
  RestoreStats* stats_;
};

}  // namespace

Status RestoreToArchive(Repository* repo, const Snapshot& snapshot, const std::string& path,
                        ArchiveFormat format, const std::vector<std::string>& includes,
                        RestoreObserver* observer, RestoreStats* stats) {
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
    case ArchiveFormat::kZip: rc = archive_write_set_format_zip(a.get()); break;
  }
  if (rc != ARCHIVE_OK) return ArchiveError(a.get(), "archive format");
  // Names are raw bytes: keep them as they are instead of failing on non-UTF-8 ones.
  if (format != ArchiveFormat::kZip) archive_write_set_format_option(a.get(), "pax", "hdrcharset", "BINARY");
  // The archive ends with its last byte, wherever it goes. By default libarchive pads the last
  // 10240-byte block with NULs when it writes to a pipe or to standard output, and pads what
  // comes out of the compression filter: a tar.zst would end in NULs that zstd reads as a broken
  // frame. (A tar needs no padding: it ends with its own two zero blocks.)
  archive_write_set_bytes_in_last_block(a.get(), 1);
  const bool to_stdout = path == "-";
  std::string tmp = to_stdout ? "" : path + ".rewind-partial";
  rc = to_stdout ? archive_write_open_fd(a.get(), STDOUT_FILENO)
                 : archive_write_open_filename(a.get(), tmp.c_str());
  if (rc != ARCHIVE_OK) return ArchiveError(a.get(), "open archive " + (to_stdout ? "(stdout)" : path));
  RestoreObserver null_observer;
  ArchiveWriter writer(repo, a.get(), filter, format == ArchiveFormat::kZip,
                       observer ? observer : &null_observer, stats);
  Status s = writer.WriteTree(*snapshot.tree, "", filter.all());
  if (archive_write_close(a.get()) != ARCHIVE_OK && s.ok()) s = ArchiveError(a.get(), "close archive");
  if (!to_stdout) {
    if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = ErrnoStatus("rename to " + path, errno);
    if (!s.ok()) ::unlink(tmp.c_str());
  }
  return s;
}

}  // namespace rw
