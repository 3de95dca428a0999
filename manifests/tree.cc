// Tree documents (docs/format.md §6). Canonical JSON, no whitespace, keys sorted bytewise
// (nlohmann::json's default std::map), entries sorted by the raw bytes of their names:
//
//   {"entries":[<entry>,...],"version":1}
//
// An entry's keys, each omitted at its default (0, "", empty list, absent, nlink 1):
//   name | name_hex          required; bytes (json_internal.h: string if UTF-8, else hex)
//   type                     required: file dir symlink hardlink fifo chardev blockdev excluded
//   mode uid gid             uint32 (mode: permission bits, <= 07777)
//   user | user_hex, group | group_hex
//   mtime_ns ctime_ns        int64, ns since the epoch
//   size rdev inode device nlink   uint64 (rdev: devices only)
//   content                  [blob id, ...]: files only, chunks in order
//   subtree                  blob id: required for dirs, forbidden otherwise
//   target | target_hex      required for symlinks and hardlinks, forbidden otherwise
//   xattrs                   [{"name"|"name_hex", "value"|"value_hex"}, ...], sorted by name
//   xxh128                   32 hex digits, high word first: files only
#include "manifests/tree.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

#include "engine/base/bytes.h"
#include "manifests/json_internal.h"

namespace rw {

using manifest_internal::Json;
using manifest_internal::Quote;

namespace {

constexpr int kTreeVersion = 1;

struct TypeName {
  EntryType type;
  const char* name;
};
constexpr TypeName kTypeNames[] = {
    {EntryType::kFile, "file"},         {EntryType::kDir, "dir"},
    {EntryType::kSymlink, "symlink"},   {EntryType::kHardlink, "hardlink"},
    {EntryType::kFifo, "fifo"},         {EntryType::kCharDevice, "chardev"},
    {EntryType::kBlockDevice, "blockdev"}, {EntryType::kExcludedDir, "excluded"},
};

// Keys an entry may hold, sorted (CheckKnownKeys binary-searches).
const std::vector<std::string_view> kEntryKeys = {
    "content", "ctime_ns", "device",     "gid",     "group", "group_hex", "inode",
    "mode",    "mtime_ns", "name",       "name_hex", "nlink", "rdev",      "size",
    "subtree", "target",   "target_hex", "type",    "uid",   "user",      "user_hex",
    "xattrs",  "xxh128"};
const std::vector<std::string_view> kXattrKeys = {"name", "name_hex", "value", "value_hex"};
const std::vector<std::string_view> kTreeKeys = {"entries", "version"};

bool NameLess(const std::string& a, const std::string& b) {
  // std::char_traits<char> compares as unsigned char: raw byte order.
  return std::string_view(a) < std::string_view(b);
}

Json EncodeEntry(const TreeEntry& e) {
  using manifest_internal::PutBytes;
  Json j = Json::object();
  PutBytes(&j, "name", e.name);
  j["type"] = EntryTypeName(e.type);
  if (e.mode != 0) j["mode"] = e.mode;
  if (e.uid != 0) j["uid"] = e.uid;
  if (e.gid != 0) j["gid"] = e.gid;
  if (!e.user.empty()) PutBytes(&j, "user", e.user);
  if (!e.group.empty()) PutBytes(&j, "group", e.group);
  if (e.mtime_ns != 0) j["mtime_ns"] = e.mtime_ns;
  if (e.size != 0) j["size"] = e.size;
  if (!e.content.empty()) {
    Json ids = Json::array();
    for (const BlobId& id : e.content) ids.push_back(id.Hex());
    j["content"] = std::move(ids);
  }
  if (e.subtree) j["subtree"] = e.subtree->Hex();
  if (!e.link_target.empty()) PutBytes(&j, "target", e.link_target);
  if (e.rdev != 0) j["rdev"] = e.rdev;
  if (!e.xattrs.empty()) {
    Json xs = Json::array();
    for (const Xattr& x : e.xattrs) {
      Json xj = Json::object();
      PutBytes(&xj, "name", x.name);
      if (!x.value.empty()) PutBytes(&xj, "value", x.value);
      xs.push_back(std::move(xj));
    }
    j["xattrs"] = std::move(xs);
  }
  if (e.ctime_ns != 0) j["ctime_ns"] = e.ctime_ns;
  if (e.inode != 0) j["inode"] = e.inode;
  if (e.device != 0) j["device"] = e.device;
  if (e.nlink != 1) j["nlink"] = e.nlink;
  if (e.xxh128) j["xxh128"] = e.xxh128->Hex();
  return j;
}

Status DecodeXattrs(const Json& j, std::vector<Xattr>* out) {
  auto it = j.find("xattrs");
  if (it == j.end()) return Status::OK();
  if (!it->is_array()) return Status::Corruption("\"xattrs\" is not an array");
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& xj = (*it)[i];
    Status s = [&]() -> Status {
      if (!xj.is_object()) return Status::Corruption("not an object");
      RW_RETURN_IF_ERROR(manifest_internal::CheckKnownKeys(xj, kXattrKeys));
      Xattr x;
      bool found = false;
      RW_RETURN_IF_ERROR(manifest_internal::GetBytes(xj, "name", &x.name, &found));
      if (!found) return Status::Corruption("missing \"name\"");
      RW_RETURN_IF_ERROR(manifest_internal::GetBytes(xj, "value", &x.value, nullptr));
      out->push_back(std::move(x));
      return Status::OK();
    }();
    if (!s.ok()) return s.WithContext("xattr " + std::to_string(i));
  }
  return Status::OK();
}

// Reads the fields of one entry; the caller validates it.
Status DecodeEntryFields(const Json& j, TreeEntry* e) {
  namespace mi = manifest_internal;
  constexpr uint64_t kU32 = UINT32_MAX, kU64 = UINT64_MAX;
  RW_RETURN_IF_ERROR(mi::CheckKnownKeys(j, kEntryKeys));
  auto type = j.find("type");
  if (type == j.end()) return Status::Corruption("missing \"type\"");
  if (!type->is_string()) return Status::Corruption("\"type\" is not a string");
  const std::string& type_name = type->get_ref<const std::string&>();
  if (!ParseEntryType(type_name, &e->type)) {
    return Status::Corruption("unknown type " + Quote(type_name));
  }
  uint64_t mode = 0, uid = 0, gid = 0;
  RW_RETURN_IF_ERROR(mi::GetUint(j, "mode", kU32, &mode));
  RW_RETURN_IF_ERROR(mi::GetUint(j, "uid", kU32, &uid));
  RW_RETURN_IF_ERROR(mi::GetUint(j, "gid", kU32, &gid));
  e->mode = static_cast<uint32_t>(mode);
  e->uid = static_cast<uint32_t>(uid);
  e->gid = static_cast<uint32_t>(gid);
  RW_RETURN_IF_ERROR(mi::GetBytes(j, "user", &e->user, nullptr));
  RW_RETURN_IF_ERROR(mi::GetBytes(j, "group", &e->group, nullptr));
  RW_RETURN_IF_ERROR(mi::GetInt64(j, "mtime_ns", &e->mtime_ns));
  RW_RETURN_IF_ERROR(mi::GetUint(j, "size", kU64, &e->size));
  if (auto it = j.find("content"); it != j.end()) {
    if (!it->is_array()) return Status::Corruption("\"content\" is not an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& v = (*it)[i];
      BlobId id;
      if (!v.is_string() || !mi::ParseBlobIdHex(v.get_ref<const std::string&>(), &id)) {
        return Status::Corruption("\"content\" item " + std::to_string(i) +
                                  " is not a blob id (64 lowercase hex digits)");
      }
      e->content.push_back(id);
    }
  }
  RW_RETURN_IF_ERROR(mi::GetBlobId(j, "subtree", &e->subtree));
  RW_RETURN_IF_ERROR(mi::GetBytes(j, "target", &e->link_target, nullptr));
  RW_RETURN_IF_ERROR(mi::GetUint(j, "rdev", kU64, &e->rdev));
  RW_RETURN_IF_ERROR(DecodeXattrs(j, &e->xattrs));
  RW_RETURN_IF_ERROR(mi::GetInt64(j, "ctime_ns", &e->ctime_ns));
  RW_RETURN_IF_ERROR(mi::GetUint(j, "inode", kU64, &e->inode));
  RW_RETURN_IF_ERROR(mi::GetUint(j, "device", kU64, &e->device));
  RW_RETURN_IF_ERROR(mi::GetUint(j, "nlink", kU64, &e->nlink));
  return mi::GetXxh128(j, "xxh128", &e->xxh128);
}

// The problem with one entry on its own (not its place in the tree), or OK.
Status ValidateEntry(const TreeEntry& e) {
  const std::string_view name = e.name;
  if (name.empty()) return Status::Corruption("empty name");
  if (name == "." || name == "..") return Status::Corruption("name is \".\" or \"..\"");
  if (name.find('/') != name.npos) return Status::Corruption("name contains '/'");
  if (name.find('\0') != name.npos) return Status::Corruption("name contains a NUL byte");
  const char* type = EntryTypeName(e.type);
  if (e.mode > 07777) return Status::Corruption("mode has bits beyond 07777");
  const bool is_dir = e.type == EntryType::kDir;
  if (is_dir && !e.subtree) return Status::Corruption("dir without \"subtree\"");
  if (!is_dir && e.subtree) return Status::Corruption(std::string(type) + " with \"subtree\"");
  if (e.type != EntryType::kFile && !e.content.empty()) {
    return Status::Corruption(std::string(type) + " with \"content\"");
  }
  if (e.type != EntryType::kFile && e.xxh128) {
    return Status::Corruption(std::string(type) + " with \"xxh128\"");
  }
  const bool is_link = e.type == EntryType::kSymlink || e.type == EntryType::kHardlink;
  if (is_link && e.link_target.empty()) {
    return Status::Corruption(std::string(type) + " without \"target\"");
  }
  if (!is_link && !e.link_target.empty()) {
    return Status::Corruption(std::string(type) + " with \"target\"");
  }
  if (e.link_target.find('\0') != std::string::npos) {
    return Status::Corruption("target contains a NUL byte");
  }
  if (e.type == EntryType::kHardlink) {
    // The first name of the inode, from the snapshot's root: a restore and a rollback link to
    // it below their target, so nothing in it may lead out (a symlink's target is only text).
    const std::string_view t = e.link_target;
    for (size_t start = 0;;) {
      const size_t slash = std::min(t.find('/', start), t.size());
      const std::string_view comp = t.substr(start, slash - start);
      if (comp.empty() || comp == "." || comp == "..") {
        return Status::Corruption("hardlink target is not a path below the snapshot's root (an empty, "
                                  "\".\" or \"..\" component)");
      }
      if (slash == t.size()) break;
      start = slash + 1;
    }
  }
  const bool is_device = e.type == EntryType::kCharDevice || e.type == EntryType::kBlockDevice;
  if (!is_device && e.rdev != 0) return Status::Corruption(std::string(type) + " with \"rdev\"");
  for (size_t i = 0; i < e.xattrs.size(); ++i) {
    const std::string& xname = e.xattrs[i].name;
    if (xname.empty() || xname.find('\0') != std::string::npos) {
      return Status::Corruption("xattr " + std::to_string(i) + ": name is empty or has a NUL");
    }
    if (i > 0 && !NameLess(e.xattrs[i - 1].name, xname)) {
      return Status::Corruption("xattr " + std::to_string(i) + " (" + Quote(xname) +
                                "): not sorted or not unique");
    }
  }
  return Status::OK();
}

std::string EntryContext(size_t index, const std::string* name) {
  std::string ctx = "tree: entry " + std::to_string(index);
  if (name != nullptr) ctx += " (" + Quote(*name) + ")";
  return ctx;
}

Result<Tree> DecodeTreeOrThrow(std::string_view doc) {
  Json j;
  RW_RETURN_IF_ERROR(manifest_internal::Parse(doc, &j).WithContext("tree"));
  if (!j.is_object()) return Status::Corruption("tree: not a JSON object");
  RW_RETURN_IF_ERROR(manifest_internal::CheckKnownKeys(j, kTreeKeys).WithContext("tree"));
  auto version = j.find("version");
  if (version == j.end()) return Status::Corruption("tree: missing \"version\"");
  if (!version->is_number_integer()) {
    return Status::Corruption("tree: \"version\" is not an integer");
  }
  if (version->get<int64_t>() != kTreeVersion) {
    return Status::NotSupported("tree: version " + version->dump() + " is not supported (this " +
                                "build reads version " + std::to_string(kTreeVersion) + ")");
  }
  auto entries = j.find("entries");
  if (entries == j.end()) return Status::Corruption("tree: missing \"entries\"");
  if (!entries->is_array()) return Status::Corruption("tree: \"entries\" is not an array");
  Tree tree;
  tree.entries.reserve(entries->size());
  for (size_t i = 0; i < entries->size(); ++i) {
    const Json& ej = (*entries)[i];
    if (!ej.is_object()) return Status::Corruption(EntryContext(i, nullptr) + ": not an object");
    TreeEntry e;
    bool found = false;
    Status s = manifest_internal::GetBytes(ej, "name", &e.name, &found);
    if (s.ok() && !found) s = Status::Corruption("missing \"name\"");
    if (!s.ok()) return s.WithContext(EntryContext(i, nullptr));
    if (Status st = DecodeEntryFields(ej, &e); !st.ok()) return st.WithContext(EntryContext(i, &e.name));
    tree.entries.push_back(std::move(e));
  }
  RW_RETURN_IF_ERROR(ValidateTree(tree));
  return tree;
}

// EncodeTree writes the canonical form directly; the JSON library would build a document of
// maps first and then print it, and every backup encodes every directory. The bytes are the
// library's (EncodeTreeJson; tree_test compares them on random trees): keys in byte order,
// defaults omitted, no whitespace, strings escaped as the library escapes them (", \, \b, \f,
// \n, \r, \t, other control bytes as \u00xx; UTF-8 as is), bytes that are not UTF-8 as hex
// under "<key>_hex".
class TreeWriter {
 public:
  explicit TreeWriter(std::string* out) : out_(*out) {}

  void Entry(const TreeEntry& e) {
    out_ += '{';
    first_ = true;
    if (!e.content.empty()) {
      Key("content");
      out_ += '[';
      for (size_t i = 0; i < e.content.size(); ++i) {
        if (i) out_ += ',';
        Quoted(e.content[i].Hex());
      }
      out_ += ']';
    }
    if (e.ctime_ns != 0) Int("ctime_ns", e.ctime_ns);
    if (e.device != 0) Uint("device", e.device);
    if (e.gid != 0) Uint("gid", e.gid);
    if (!e.group.empty()) Bytes("group", e.group);
    if (e.inode != 0) Uint("inode", e.inode);
    if (e.mode != 0) Uint("mode", e.mode);
    if (e.mtime_ns != 0) Int("mtime_ns", e.mtime_ns);
    Bytes("name", e.name);
    if (e.nlink != 1) Uint("nlink", e.nlink);
    if (e.rdev != 0) Uint("rdev", e.rdev);
    if (e.size != 0) Uint("size", e.size);
    if (e.subtree) {
      Key("subtree");
      Quoted(e.subtree->Hex());
    }
    if (!e.link_target.empty()) Bytes("target", e.link_target);
    Key("type");
    Quoted(EntryTypeName(e.type));
    if (e.uid != 0) Uint("uid", e.uid);
    if (!e.user.empty()) Bytes("user", e.user);
    if (!e.xattrs.empty()) {
      Key("xattrs");
      out_ += '[';
      for (size_t i = 0; i < e.xattrs.size(); ++i) {
        if (i) out_ += ',';
        out_ += '{';
        first_ = true;
        Bytes("name", e.xattrs[i].name);
        if (!e.xattrs[i].value.empty()) Bytes("value", e.xattrs[i].value);
        out_ += '}';
      }
      out_ += ']';
      first_ = false;
    }
    if (e.xxh128) {
      Key("xxh128");
      Quoted(e.xxh128->Hex());
    }
    out_ += '}';
  }

 private:
  void Key(std::string_view k) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += k;
    out_ += "\":";
  }
  void Quoted(std::string_view s) {
    out_ += '"';
    size_t plain = 0;  // a run of bytes copied as they are
    for (size_t i = 0; i < s.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c >= 0x20 && c != '"' && c != '\\') continue;
      out_.append(s.data() + plain, i - plain);
      plain = i + 1;
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\b': out_ += "\\b"; break;
        case '\f': out_ += "\\f"; break;
        case '\n': out_ += "\\n"; break;
        case '\r': out_ += "\\r"; break;
        case '\t': out_ += "\\t"; break;
        default: {
          static const char kHex[] = "0123456789abcdef";
          out_ += "\\u00";
          out_ += kHex[c >> 4];
          out_ += kHex[c & 15];
        }
      }
    }
    out_.append(s.data() + plain, s.size() - plain);
    out_ += '"';
  }
  void Bytes(std::string_view key, std::string_view bytes) {
    if (IsValidUtf8(bytes)) {
      Key(key);
      Quoted(bytes);
    } else {
      Key(std::string(key) + "_hex");
      Quoted(HexEncode(bytes));
    }
  }
  void Uint(std::string_view key, uint64_t v) {
    Key(key);
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, r.ptr);
  }
  void Int(std::string_view key, int64_t v) {
    Key(key);
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, r.ptr);
  }

  std::string& out_;
  bool first_ = true;
};

// A fast reader for the canonical form that EncodeTree writes (no whitespace, top-level keys
// in order, integers without sign or leading zeros, strings without escapes): trees are read
// on every restore, verify, diff, rollback and parent reuse, and the general JSON parser spent
// most of that time building a DOM. It only accepts what it fully understands and decodes
// exactly as the general path would; anything else (escapes, "_hex" keys, duplicate or
// unknown keys, numbers out of range, a tree that fails validation) makes it give up, and the
// general path decides, with its messages. tree_test checks both paths agree.
class FastTreeReader {
 public:
  explicit FastTreeReader(std::string_view doc) : p_(doc.data()), end_(doc.data() + doc.size()) {}

  bool Read(Tree* out) {
    // Sized at once: grown entry by entry, the vector held up to twice its entries (a third of
    // the memory of the trees a rollback keeps). Each entry has one "name" key, and so has each
    // xattr (a few more); no string value holds the key as it is (its quotes would be escaped).
    size_t keys = 0;
    for (std::string_view rest(p_, static_cast<size_t>(end_ - p_));;) {
      const size_t k = rest.find(kNameKey);
      if (k == std::string_view::npos) break;
      ++keys;
      rest.remove_prefix(k + kNameKey.size());
    }
    out->entries.reserve(keys);
    if (!Lit("{\"entries\":[")) return false;
    if (!Lit("]")) {
      for (;;) {
        TreeEntry e;
        if (!Entry(&e)) return false;
        out->entries.push_back(std::move(e));
        if (Lit("]")) break;
        if (!Lit(",")) return false;
      }
    }
    return Lit(",\"version\":1}") && p_ == end_;
  }

 private:
  static constexpr std::string_view kNameKey = "\"name\":\"";
  bool Lit(std::string_view s) {
    if (static_cast<size_t>(end_ - p_) < s.size() || std::memcmp(p_, s.data(), s.size()) != 0) return false;
    p_ += s.size();
    return true;
  }

  // A string without escapes or control characters, valid UTF-8 (what the JSON library checks).
  bool Str(std::string_view* out) {
    if (p_ == end_ || *p_ != '"') return false;
    const char* start = ++p_;
    bool ascii = true;
    while (p_ != end_ && *p_ != '"') {
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c < 0x20 || c == '\\') return false;
      if (c >= 0x80) ascii = false;
      ++p_;
    }
    if (p_ == end_) return false;
    *out = std::string_view(start, static_cast<size_t>(p_ - start));
    ++p_;
    return ascii || IsValidUtf8(*out);
  }

  bool Uint(uint64_t max, uint64_t* out) {
    if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
    if (*p_ == '0' && p_ + 1 != end_ && p_[1] >= '0' && p_[1] <= '9') return false;  // leading zero
    uint64_t v = 0;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') {
      uint64_t d = static_cast<uint64_t>(*p_ - '0');
      if (v > (UINT64_MAX - d) / 10) return false;
      v = v * 10 + d;
      ++p_;
    }
    if (p_ != end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
    if (v > max) return false;
    *out = v;
    return true;
  }

  bool Int(int64_t* out) {
    bool neg = p_ != end_ && *p_ == '-';
    if (neg) ++p_;
    uint64_t v;
    if (!Uint(UINT64_MAX, &v)) return false;
    if (neg) {
      if (v == 0 || v > uint64_t{1} << 63) return false;  // "-0" and below INT64_MIN: general path
      *out = v == uint64_t{1} << 63 ? INT64_MIN : -static_cast<int64_t>(v);
    } else {
      if (v > static_cast<uint64_t>(INT64_MAX)) return false;
      *out = static_cast<int64_t>(v);
    }
    return true;
  }

  bool Id(BlobId* out) {
    std::string_view s;
    return Str(&s) && manifest_internal::ParseBlobIdHex(s, out);
  }

  bool Xattrs(std::vector<Xattr>* out) {
    if (!Lit("[")) return false;
    if (Lit("]")) return true;
    for (;;) {
      if (!Lit("{\"name\":")) return false;
      std::string_view name, value;
      if (!Str(&name)) return false;
      if (Lit(",\"value\":") && !Str(&value)) return false;
      if (!Lit("}")) return false;
      out->push_back({std::string(name), std::string(value)});
      if (Lit("]")) return true;
      if (!Lit(",")) return false;
    }
  }

  bool Entry(TreeEntry* e) {
    if (!Lit("{")) return false;
    uint32_t seen = 0;
    bool has_name = false, has_type = false;
    for (bool first = true;; first = false) {
      if (Lit("}")) break;
      if (!first && !Lit(",")) return false;
      std::string_view key;
      if (!Str(&key) || !Lit(":")) return false;
      auto bit = std::find(kEntryKeys.begin(), kEntryKeys.end(), key);
      if (bit == kEntryKeys.end()) return false;
      uint32_t mask = uint32_t{1} << (bit - kEntryKeys.begin());
      if (seen & mask) return false;
      seen |= mask;
      uint64_t u = 0;
      std::string_view s;
      bool ok;
      if (key == "name") {
        ok = Str(&s);
        e->name = s;
        has_name = true;
      } else if (key == "type") {
        ok = Str(&s) && ParseEntryType(s, &e->type);
        has_type = true;
      } else if (key == "mode" || key == "uid" || key == "gid") {
        ok = Uint(UINT32_MAX, &u);
        (key == "mode" ? e->mode : key == "uid" ? e->uid : e->gid) = static_cast<uint32_t>(u);
      } else if (key == "user" || key == "group" || key == "target") {
        ok = Str(&s);
        (key == "user" ? e->user : key == "group" ? e->group : e->link_target) = s;
      } else if (key == "mtime_ns") {
        ok = Int(&e->mtime_ns);
      } else if (key == "ctime_ns") {
        ok = Int(&e->ctime_ns);
      } else if (key == "size" || key == "rdev" || key == "inode" || key == "device" || key == "nlink") {
        ok = Uint(UINT64_MAX, &u);
        (key == "size" ? e->size : key == "rdev" ? e->rdev : key == "inode" ? e->inode
                                                 : key == "device" ? e->device : e->nlink) = u;
      } else if (key == "content") {
        ok = Lit("[");
        if (ok && !Lit("]")) {
          for (;;) {
            BlobId id;
            if (!Id(&id)) return false;
            e->content.push_back(id);
            if (Lit("]")) break;
            if (!Lit(",")) return false;
          }
        }
      } else if (key == "subtree") {
        BlobId id;
        ok = Id(&id);
        e->subtree = id;
      } else if (key == "xattrs") {
        ok = Xattrs(&e->xattrs);
      } else if (key == "xxh128") {
        Xxh128 h;
        uint8_t b[16] = {};
        ok = Str(&s) && manifest_internal::ParseLowerHex(s, b, sizeof b);
        for (int k = 0; k < 8; ++k) {
          h.high = h.high << 8 | b[k];
          h.low = h.low << 8 | b[8 + k];
        }
        e->xxh128 = h;
      } else {
        return false;  // name_hex, target_hex, …: the general path
      }
      if (!ok) return false;
    }
    return has_name && has_type;
  }

  const char* p_;
  const char* end_;
};

}  // namespace

const char* EntryTypeName(EntryType t) {
  for (const TypeName& tn : kTypeNames) {
    if (tn.type == t) return tn.name;
  }
  return "unknown";
}

bool ParseEntryType(std::string_view s, EntryType* out) {
  for (const TypeName& tn : kTypeNames) {
    if (s == tn.name) {
      *out = tn.type;
      return true;
    }
  }
  return false;
}

Status ValidateTree(const Tree& tree) {
  for (size_t i = 0; i < tree.entries.size(); ++i) {
    const TreeEntry& e = tree.entries[i];
    if (Status st = ValidateEntry(e); !st.ok()) return st.WithContext(EntryContext(i, &e.name));
    if (i > 0 && !NameLess(tree.entries[i - 1].name, e.name)) {
      const std::string& prev = tree.entries[i - 1].name;
      return Status::Corruption(EntryContext(i, &e.name) + ": " +
                                (prev == e.name ? "duplicate name"
                                                : "not sorted (after " + Quote(prev) + ")"));
    }
  }
  return Status::OK();
}

namespace {
// Entries in name order, each with its xattrs in name order (stable: the validator rejects
// duplicates on the way back).
std::vector<const TreeEntry*> SortedForEncoding(const Tree& tree, std::vector<TreeEntry>* copies) {
  auto entry_less = [](const TreeEntry* a, const TreeEntry* b) { return NameLess(a->name, b->name); };
  auto xattr_less = [](const Xattr& a, const Xattr& b) { return NameLess(a.name, b.name); };
  std::vector<const TreeEntry*> sorted;
  sorted.reserve(tree.entries.size());
  size_t unsorted_xattrs = 0;
  for (const TreeEntry& e : tree.entries) {
    if (!std::is_sorted(e.xattrs.begin(), e.xattrs.end(), xattr_less)) ++unsorted_xattrs;
  }
  copies->reserve(unsorted_xattrs);  // no reallocation: pointers into it stay valid
  for (const TreeEntry& e : tree.entries) {
    if (std::is_sorted(e.xattrs.begin(), e.xattrs.end(), xattr_less)) {
      sorted.push_back(&e);
    } else {
      copies->push_back(e);
      std::stable_sort(copies->back().xattrs.begin(), copies->back().xattrs.end(), xattr_less);
      sorted.push_back(&copies->back());
    }
  }
  std::stable_sort(sorted.begin(), sorted.end(), entry_less);
  return sorted;
}
}  // namespace

void SortTree(Tree* tree) {
  for (TreeEntry& e : tree->entries) {
    std::stable_sort(e.xattrs.begin(), e.xattrs.end(),
                     [](const Xattr& a, const Xattr& b) { return NameLess(a.name, b.name); });
  }
  std::stable_sort(tree->entries.begin(), tree->entries.end(),
                   [](const TreeEntry& a, const TreeEntry& b) { return NameLess(a.name, b.name); });
}

std::string EncodeTree(const Tree& tree) {
  std::vector<TreeEntry> copies;
  std::vector<const TreeEntry*> sorted = SortedForEncoding(tree, &copies);
  std::string out = "{\"entries\":[";
  TreeWriter w(&out);
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i) out += ',';
    w.Entry(*sorted[i]);
  }
  out += "],\"version\":";
  out += std::to_string(kTreeVersion);
  out += '}';
  return out;
}

namespace manifest_internal {
std::string EncodeTreeJson(const Tree& tree) {
  std::vector<TreeEntry> copies;
  std::vector<const TreeEntry*> sorted = SortedForEncoding(tree, &copies);
  Json entries = Json::array();
  for (const TreeEntry* e : sorted) entries.push_back(EncodeEntry(*e));
  Json doc = Json::object();
  doc["entries"] = std::move(entries);
  doc["version"] = kTreeVersion;
  return doc.dump();
}
}  // namespace manifest_internal

Result<Tree> DecodeTree(std::string_view doc) {
  Tree fast;
  if (FastTreeReader(doc).Read(&fast) && ValidateTree(fast).ok()) return fast;
  return manifest_internal::DecodeTreeJson(doc);
}

namespace manifest_internal {
bool DecodeTreeFast(std::string_view doc, Tree* out) { return FastTreeReader(doc).Read(out); }

Result<Tree> DecodeTreeJson(std::string_view doc) {
  try {
    return DecodeTreeOrThrow(doc);
  } catch (const std::exception& e) {
    // Not expected (every access is type-checked first); the contract is no exceptions.
    return Status::Corruption("tree: " + ExceptionText(e));
  }
}

Json EncodeEntryObject(const TreeEntry& e) { return EncodeEntry(e); }
Status DecodeEntryObject(const Json& j, TreeEntry* e) {
  if (!j.is_object()) return Status::Corruption("entry is not an object");
  return DecodeEntryFields(j, e);
}
}  // namespace manifest_internal

}  // namespace rw
