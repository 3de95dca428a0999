// Tree documents: one per directory (a Merkle tree). Canonical JSON, entries sorted by the raw
// bytes of their names, so equal directories encode to equal bytes and dedup to one blob.
// Layout in docs/format.md §6. No I/O here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"
#include "engine/format/blob_id.h"
#include "engine/format/checksum.h"

namespace rw {

enum class EntryType {
  kFile,
  kDir,
  kSymlink,
  kHardlink,     // a further name of a file seen earlier in the same snapshot: `link_target`
                 // holds the path of that first name, relative to the snapshot root
  kFifo,
  kCharDevice,
  kBlockDevice,
  kExcludedDir,  // a directory excluded by a rule: recorded, never descended into
};

const char* EntryTypeName(EntryType t);
bool ParseEntryType(std::string_view s, EntryType* out);

struct Xattr {
  std::string name;   // e.g. "user.comment", "system.posix_acl_access"
  std::string value;  // raw bytes
  friend bool operator==(const Xattr&, const Xattr&) = default;
};

struct TreeEntry {
  std::string name;  // raw bytes; never empty, never "." or "..", no '/'
  EntryType type = EntryType::kFile;
  uint32_t mode = 0;  // permission bits including setuid, setgid, sticky (st_mode & 07777)
  uint32_t uid = 0, gid = 0;
  std::string user, group;  // names at backup time; empty when unknown
  int64_t mtime_ns = 0;
  uint64_t size = 0;                 // files: bytes; symlinks: target length
  std::vector<BlobId> content;       // kFile: chunk ids in order (empty for an empty file)
  std::optional<BlobId> subtree;     // kDir: the tree of the directory
  std::string link_target;           // kSymlink: target (raw bytes); kHardlink: see above
  uint64_t rdev = 0;                 // devices
  std::vector<Xattr> xattrs;         // sorted by name; POSIX ACLs are xattrs
  // For change detection; restore ignores them.
  int64_t ctime_ns = 0;
  uint64_t inode = 0, device = 0, nlink = 1;
  std::optional<Xxh128> xxh128;      // kFile: whole-file XXH3-128

  friend bool operator==(const TreeEntry&, const TreeEntry&) = default;
};

struct Tree {
  std::vector<TreeEntry> entries;  // sorted by name bytes, unique names
};

// Checks what DecodeTree checks on a decoded tree: entries sorted by name bytes and unique;
// names not empty, ".", "..", without '/' or NUL; mode <= 07777; per type: dir has a
// subtree and only a dir has one; only a file has content or xxh128; symlink and hardlink have
// a target (without NUL) and no other type has one; only devices have rdev; xattr names
// non-empty, without NUL, sorted and unique. Corruption naming the entry otherwise.
Status ValidateTree(const Tree& tree);

// Encodes canonically: the entries (and each entry's xattrs) are sorted by name bytes on a
// copy, fields at their default value are omitted, keys are sorted, no whitespace; so equal
// trees give equal bytes whatever the input order. Names, targets, user/group names and
// xattr names and values that are not valid UTF-8 are stored hex-encoded under a "*_hex" key.
// REQUIRES: ValidateTree(tree with entries sorted) is OK; otherwise DecodeTree rejects the
// result. Never fails, never throws.
std::string EncodeTree(const Tree& tree);
// Sorts the entries, and each entry's xattrs, by name bytes in place (stable): the order
// EncodeTree writes them in, so that the sorted tree equals DecodeTree(EncodeTree(tree)).
void SortTree(Tree* tree);
// Decodes and validates (JSON shape, field types, hex, then ValidateTree). Corruption saying
// what is wrong and where ("tree: entry 4 (\"foo\"): unknown type \"dirr\""), NotSupported
// for a newer tree version. Never throws, whatever the input.
Result<Tree> DecodeTree(std::string_view doc);

}  // namespace rw
