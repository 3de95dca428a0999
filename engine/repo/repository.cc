#include "engine/repo/repository.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <cstring>
#include <csignal>
#include <nlohmann/json.hpp>
#include <cstdio>
#include <random>

#include "engine/base/bytes.h"
#include "engine/base/host.h"
#include "engine/base/clock.h"
#include "engine/format/checksum.h"
#include "engine/format/format_constants.h"

namespace rw {

using nlohmann::json;

std::string PackPath(const BlobId& pack) {
  std::string hex = pack.Hex();
  return "data/" + hex.substr(0, 2) + "/" + hex;
}

namespace {

std::string RandomHex(size_t bytes) {
  std::random_device rd;
  std::string raw;
  for (size_t i = 0; i < bytes; ++i) raw.push_back(static_cast<char>(rd() & 0xFF));
  return HexEncode(raw);
}

// XXH3-64 of the canonical text of a config without its "checksum" field, 16 hex digits.
std::string ConfigChecksum(const json& body) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(Xxh3_64(body.dump())));
  return buf;
}

std::string EncodeConfig(const RepoConfig& c) {
  json j;
  j["version"] = c.version;
  j["id"] = c.id;
  j["chunker"] = {{"algorithm", "fastcdc-gear64"},
                  {"min_size", c.chunker.min_size},
                  {"avg_size", c.chunker.avg_size},
                  {"max_size", c.chunker.max_size}};
  j["compression"] = {{"algorithm", "zstd"}, {"level", c.zstd_level}};
  if (c.db_zstd_level != c.zstd_level) j["compression"]["database_level"] = c.db_zstd_level;
  j["pack_target_size"] = c.pack_target_size;
  j["created"] = FormatRfc3339Ns(c.created_ns);
  j["created_ns"] = c.created_ns;
  // The checksum covers the canonical (compact, sorted-key) text of every other field, and the
  // file must be exactly that text: any damaged byte is detected (docs/format.md §1).
  j["checksum"] = ConfigChecksum(j);
  return j.dump() + "\n";
}

Result<RepoConfig> DecodeConfig(const std::string& text, const std::string& where) {
  RepoConfig c;
  try {
    json j = json::parse(text);
    if (!j.is_object() || !j.contains("version")) {
      return Status::Corruption(where + ": not a rewind config (no \"version\")");
    }
    if (j.contains("version") && j["version"].is_number_integer() &&
        j["version"].get<int64_t>() != format::kRepositoryVersion) {
      return Status::NotSupported(where + ": repository format version " + j["version"].dump() +
                                  " is not supported (this rewind reads version " +
                                  std::to_string(format::kRepositoryVersion) + ")");
    }
    if (text != j.dump() + "\n") return Status::Corruption(where + ": not in canonical form (damaged)");
    json body = j;
    body.erase("checksum");
    if (!j.contains("checksum") || !j["checksum"].is_string() ||
        j["checksum"].get<std::string>() != ConfigChecksum(body)) {
      return Status::Corruption(where + ": checksum mismatch (damaged)");
    }
    c.version = j.at("version").get<int>();
    if (c.version != format::kRepositoryVersion) {
      return Status::NotSupported(where + ": repository format version " +
                                  std::to_string(c.version) + " is not supported (this rewind reads version " +
                                  std::to_string(format::kRepositoryVersion) + ")");
    }
    c.id = j.at("id").get<std::string>();
    const json& ch = j.at("chunker");
    c.chunker.min_size = ch.at("min_size").get<size_t>();
    c.chunker.avg_size = ch.at("avg_size").get<size_t>();
    c.chunker.max_size = ch.at("max_size").get<size_t>();
    c.zstd_level = j.at("compression").at("level").get<int>();
    // Absent in repositories made before it existed: dumps at the files' level, as then.
    c.db_zstd_level = j.at("compression").value("database_level", c.zstd_level);
    c.pack_target_size = j.at("pack_target_size").get<uint64_t>();
    c.created_ns = j.value("created_ns", int64_t{0});
  } catch (const json::parse_error& e) {
    return Status::Corruption(where + ": damaged: not JSON (" + ExceptionText(e) + ")");
  } catch (const std::exception& e) {
    return Status::Corruption(where + ": damaged: " + ExceptionText(e));
  }
  size_t avg = c.chunker.avg_size;
  if (c.chunker.min_size == 0 || avg == 0 || (avg & (avg - 1)) != 0 ||
      c.chunker.min_size > avg || avg > c.chunker.max_size || c.chunker.max_size > (64u << 20)) {
    return Status::Corruption(where + ": invalid chunker parameters");
  }
  if (c.zstd_level < 1 || c.zstd_level > 22 || c.db_zstd_level < 1 || c.db_zstd_level > 22 ||
      c.pack_target_size == 0) {
    return Status::Corruption(where + ": invalid compression level or pack size");
  }
  return c;
}

// What /proc/<pid>/stat says of a process: its state letter (field 3) and its start time in
// clock ticks since boot (field 22). False when it cannot be read (no /proc, or hidden). The
// fields are counted after the command name in parentheses, which may itself hold ") ".
bool ReadProcStat(int pid, char* state, uint64_t* start_ticks) {
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (!p || p[1] != ' ') return false;
  p += 2;
  *state = *p;
  for (int field = 3; field < 22; ++field) {  // to the start of field 22
    p = std::strchr(p, ' ');
    if (!p) return false;
    ++p;
  }
  char* end = nullptr;
  *start_ticks = std::strtoull(p, &end, 10);
  return end != p;
}

// This process's pid namespace ("pid:[4026531836]"), or "" when it cannot be read.
std::string PidNamespace() {
  char buf[64];
  const ssize_t n = ::readlink("/proc/self/ns/pid", buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// Whether the process that wrote lock `l` (of this host) may still run.
bool HolderAlive(const LockInfo& l) {
  if (l.pid <= 0) return false;
  if (::kill(l.pid, 0) != 0 && errno != EPERM) return false;
  char state = '?';
  uint64_t start = 0;
  if (!ReadProcStat(l.pid, &state, &start)) return true;  // the signal's answer stands
  // A zombie (killed, and its parent has not waited for it: a parent that never does, or a
  // container's init that reaps nothing) can be signalled but holds nothing any more. (A
  // process whose main thread ended before its other threads also shows Z; rewind's main
  // thread ends only with the process.)
  if (state == 'Z' || state == 'X') return false;
  // Another process under the same pid (after a power cut and a reboot, or once pids wrapped
  // around) started at another time. Compared only within the pid namespace the lock was
  // written in: a lock written in a container names a pid of that container's.
  if (l.start_ticks != 0 && !l.pid_namespace.empty() && l.pid_namespace == PidNamespace() &&
      start != l.start_ticks) {
    return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Init and open.

Status Repository::Init(const std::string& path, const InitOptions& options) {
  for (int level : {options.zstd_level, options.db_zstd_level}) {
    if (level < 0 || level > 19) {
      return Status::InvalidArgument("zstd level " + std::to_string(level) + " is outside 1..19");
    }
  }
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Status::AlreadyExists(path + ": exists and is not a directory");
    DIR* d = ::opendir(path.c_str());
    if (!d) return ErrnoStatus("open " + path, errno);
    // What an init interrupted before its config was written leaves (its empty directories and
    // the config's temporary) counts as empty: the other commands send the user back here.
    auto left_by_init = [&](const std::string& n) {
      if (n.rfind(".config.", 0) == 0) return true;
      if (n != "data" && n != "index" && n != "snapshots" && n != "locks") return false;
      DIR* sub = ::opendir((path + "/" + n).c_str());
      if (!sub) return false;
      bool sub_empty = true;
      while (dirent* e = ::readdir(sub)) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) sub_empty = false;
      }
      ::closedir(sub);
      return sub_empty;
    };
    bool empty = true;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && !left_by_init(n)) empty = false;
    }
    ::closedir(d);
    if (!empty) {
      return Status::AlreadyExists(path + ": directory is not empty" +
                                   (::access((path + "/config").c_str(), F_OK) == 0
                                        ? " (it already holds a repository)"
                                        : ""));
    }
  } else {
    if (::mkdir(path.c_str(), 0700) != 0) return ErrnoStatus("create repository " + path, errno);
  }
  auto storage = NewLocalStorage(path);
  for (const char* dir : {"data", "index", "snapshots", "locks"}) {
    RW_RETURN_IF_ERROR(storage->MakeDir(dir));
  }
  RepoConfig c;
  c.version = format::kRepositoryVersion;
  c.id = RandomHex(16);
  c.zstd_level = options.zstd_level > 0 ? options.zstd_level : format::kDefaultZstdLevel;
  c.db_zstd_level = options.db_zstd_level > 0 ? options.db_zstd_level : format::kDefaultDbZstdLevel;
  c.pack_target_size = format::kPackTargetSize;
  c.created_ns = RealClock().NowNs();
  // The config is written last: a directory without one is not a repository.
  return storage->WriteFileAtomic("config", EncodeConfig(c));
}

Result<std::unique_ptr<Repository>> Repository::Open(const std::string& path, OpenOptions options) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    return ErrnoStatus("repository " + path, errno);
  }
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(path + ": not a rewind repository (not a directory)");
  RW_ASSIGN_OR_RETURN(auto repo, Open(NewLocalStorage(path), options));
  repo->path_ = path;
  return repo;
}

Result<std::unique_ptr<Repository>> Repository::Open(std::unique_ptr<Storage> storage,
                                                     OpenOptions options) {
  std::unique_ptr<Repository> repo(new Repository());
  repo->storage_ = std::move(storage);
  repo->path_ = repo->storage_->Describe("");
  RW_RETURN_IF_ERROR(repo->LoadConfig());
  repo->tolerate_index_damage_ = options.tolerate_index_damage;
  RW_RETURN_IF_ERROR(repo->LoadIndex());
  return repo;
}

Status Repository::LoadConfig() {
  auto text = storage_->ReadFile("config");
  if (!text.ok()) {
    // Not a repository, or one this user may not read: say which.
    if (text.status().code() == Code::kNotFound) {
      return Status::InvalidArgument(storage_->Describe("") +
                                     ": not a rewind repository (no config file; create one with `rewind init`)");
    }
    if (text.status().message().find(std::strerror(EISDIR)) != std::string::npos) {
      return Status::InvalidArgument(storage_->Describe("") +
                                     ": not a rewind repository (its config is a directory: is this the source?)");
    }
    return text.status();
  }
  RW_ASSIGN_OR_RETURN(config_, DecodeConfig(*text, storage_->Describe("config")));
  return Status::OK();
}

Status Repository::LoadIndex() {
  // An index file listed here and gone when read was removed by `repair index`, which wrote the
  // file replacing it first: listed again, that one is there (a few times: repairs can follow
  // each other). Only a file still listed after that is reported as unreadable.
  constexpr int kListings = 4;
  for (int listing = 1;; ++listing) {
    auto names = storage_->List("index");
    if (!names.ok()) return names.status();
    bool vanished = false;
    // The index table sized once for all the files' entries (by their sizes: a few pack ids
    // more): grown file by file, it was allocated and filled about twice over.
    uint64_t at_most = 0;
    for (const std::string& name : *names) {
      if (index_files_read_.count(name)) continue;
      if (auto size = storage_->FileSize("index/" + name); size.ok()) at_most += MaxIndexEntries(*size);
    }
    if (at_most > 0) {
      std::lock_guard<std::mutex> lock(index_mu_);
      index_.Reserve(index_.size() + at_most);
    }
    for (const std::string& name : *names) {
      if (index_files_read_.count(name)) continue;
      const std::string where = "index file " + storage_->Describe("index/" + name);
      auto data = storage_->ReadFile("index/" + name);
      if (!data.ok() && data.status().code() == Code::kNotFound && listing < kListings) {
        vanished = true;
        continue;
      }
      Status problem;
      Result<std::vector<IndexEntry>> entries = Status::Corruption("unread");
      if (!data.ok()) {
        problem = data.status();
      } else if (Sha256(*data).Hex() != name) {
        problem = Status::Corruption("content does not match its name (damaged)");
      } else {
        entries = DecodeIndex(*data);
        if (!entries.ok()) problem = entries.status();
      }
      if (!problem.ok()) {
        if (!tolerate_index_damage_) {
          return problem.WithContext(where + " (run `rewind verify`, then `rewind repair index`)");
        }
        index_files_read_.insert(name);
        damaged_index_files_.push_back(name + ": " + problem.message());
        continue;
      }
      index_files_read_.insert(name);
      index_files_.push_back(name);
      AddToIndex(*entries);
    }
    if (!vanished) return Status::OK();
  }
}

std::vector<IndexEntry> Repository::IndexEntries() const {
  std::lock_guard<std::mutex> lock(index_mu_);
  return index_.Entries();
}

Result<Repository::PackFiles> Repository::ListPackFiles() const {
  PackFiles out;
  RW_ASSIGN_OR_RETURN(auto dirs, storage_->ListDirs("data"));
  for (const std::string& dir : dirs) {
    auto names = storage_->List("data/" + dir);
    if (!names.ok()) continue;
    for (const std::string& name : *names) {
      auto id = BlobId::FromHex(name);
      if (!id.ok() || name.size() != 64 || name.compare(0, 2, dir) != 0) {
        out.strays.push_back("data/" + dir + "/" + name);
        continue;
      }
      out.packs.push_back(*id);
    }
  }
  std::sort(out.packs.begin(), out.packs.end());
  return out;
}

Result<std::vector<std::string>> Repository::TemporaryDirs() const {
  std::vector<std::string> dirs = {"index", "snapshots"};
  auto data = storage_->ListDirs("data");
  if (!data.ok() && data.status().code() != Code::kNotFound) return data.status();
  if (data.ok()) {
    for (const std::string& d : *data) dirs.push_back("data/" + d);
  }
  return dirs;
}

Result<std::vector<std::pair<std::string, uint64_t>>> Repository::ListTemporaryFiles() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  RW_ASSIGN_OR_RETURN(auto dirs, TemporaryDirs());
  for (const std::string& dir : dirs) {
    RW_ASSIGN_OR_RETURN(auto temps, storage_->ListTemporaries(dir));
    for (auto& [name, size] : temps) out.emplace_back(dir + "/" + name, size);
  }
  return out;
}

Status Repository::CheckIndexedPacksPresent() const {
  std::vector<BlobId> indexed;
  {
    std::lock_guard<std::mutex> lock(index_mu_);
    indexed = index_.packs();
  }
  if (indexed.empty()) return Status::OK();
  auto files = ListPackFiles();
  if (!files.ok() && files.status().code() != Code::kNotFound) return files.status().WithContext("listing packs");
  const std::vector<BlobId> none;
  const std::vector<BlobId>& on_disk = files.ok() ? files->packs : none;
  std::vector<std::string> missing;
  for (const BlobId& pack : indexed) {
    if (!std::binary_search(on_disk.begin(), on_disk.end(), pack)) missing.push_back(storage_->Describe(PackPath(pack)));
  }
  if (missing.empty()) return Status::OK();
  std::sort(missing.begin(), missing.end());
  std::string msg = std::to_string(missing.size()) + (missing.size() == 1 ? " pack" : " packs") +
                    " the index names " + (missing.size() == 1 ? "is" : "are") + " missing (";
  for (size_t i = 0; i < missing.size() && i < 3; ++i) msg += (i ? ", " : "") + missing[i];
  if (missing.size() > 3) msg += ", …";
  return Status::Corruption(msg + "): a backup would take their blobs as stored and save a snapshot that cannot "
                                  "be restored. Run `rewind repair index` (the index then names only what is "
                                  "there), then back up again; `rewind verify` lists the snapshots that need them");
}

// ---------------------------------------------------------------------------------------------
// Index and blobs.

std::optional<IndexEntry> Repository::Find(const BlobId& id) const {
  std::lock_guard<std::mutex> lock(index_mu_);
  return index_.Find(id);
}

void Repository::HasMany(const std::vector<BlobId>& ids, std::vector<uint8_t>* out) const {
  out->resize(ids.size());
  std::lock_guard<std::mutex> lock(index_mu_);
  index_.Contains(ids.data(), ids.size(), out->data());
}

size_t Repository::IndexSize() const {
  std::lock_guard<std::mutex> lock(index_mu_);
  return index_.size();
}

void Repository::AddToIndex(const std::vector<IndexEntry>& entries) {
  std::lock_guard<std::mutex> lock(index_mu_);
  index_.InsertMany(entries.data(), entries.size());
}

// `use` is not compared with the indexed type: that type records how the bytes were first
// stored, and the same bytes used as a file chunk and as a tree share one id and one stored copy
// (format.md §2). What a caller gets is checked by its SHA-256, not by its type.
Result<IndexEntry> Repository::Locate(const BlobId& id, BlobType /*use*/) const {
  auto e = Find(id);
  if (!e) return Status::NotFound("blob " + id.Short() + " is not in the index");
  return *e;
}

void Repository::SortForLoading(std::vector<IndexEntry>* located) {
  std::sort(located->begin(), located->end(), [](const IndexEntry& a, const IndexEntry& b) {
    return a.pack != b.pack ? a.pack < b.pack : a.offset < b.offset;
  });
}

void Repository::WillLoad(std::span<const IndexEntry> located) const {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (size_t i = 0; i < located.size();) {
    const BlobId& pack = located[i].pack;
    ranges.clear();
    for (; i < located.size() && located[i].pack == pack; ++i) {
      const IndexEntry& e = located[i];
      const uint64_t end = e.offset + e.compressed_length;
      if (!ranges.empty() && e.offset <= ranges.back().first + ranges.back().second + kWillLoadGap) {
        ranges.back().second = std::max(ranges.back().second, end - ranges.back().first);
      } else {
        ranges.emplace_back(e.offset, e.compressed_length);
      }
    }
    storage_->WillRead(PackPath(pack), ranges);
  }
}

Result<std::string> Repository::LoadBlob(const BlobId& id, BlobType use) const {
  RW_ASSIGN_OR_RETURN(IndexEntry e, Locate(id, use));
  return LoadBlobAt(e);
}

Result<std::string> Repository::LoadCheckedBlob(const BlobId& id, BlobType use) const {
  RW_ASSIGN_OR_RETURN(IndexEntry e, Locate(id, use));
  return LoadBlobAt(e, /*check_id=*/false);
}

Result<std::string> Repository::LoadBlobAt(const IndexEntry& e, bool check_id) const {
  auto frame = storage_->ReadAt(PackPath(e.pack), e.offset, e.compressed_length);
  if (!frame.ok()) return frame.status().WithContext("blob " + e.id.Short() + " in pack " + e.pack.Short());
  std::string raw;
  RW_RETURN_IF_ERROR(DecodeBlob(e, *frame, &raw, check_id));
  return raw;
}

Status Repository::DecodeBlob(const IndexEntry& e, std::string_view frame, std::string* raw, bool check_id) {
  auto where = [&] { return "blob " + e.id.Short() + " in pack " + e.pack.Short(); };
  Status s = DecompressBlobInto(frame, e.raw_length, raw);
  if (!s.ok()) return Status::Corruption(where() + ": " + s.message());
  if (check_id && Sha256(*raw) != e.id) return Status::Corruption(where() + ": content does not match its id");
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------
// Snapshots.

Result<std::string> Repository::SaveSnapshotDoc(std::string_view doc) {
  std::string id = Sha256(doc).Hex();
  RW_RETURN_IF_ERROR(storage_->WriteFileAtomic("snapshots/" + id, doc));
  return id;
}

Result<std::vector<std::string>> Repository::ListSnapshotIds() {
  RW_ASSIGN_OR_RETURN(auto ids, storage_->List("snapshots"));
  // The index was loaded when the repository was opened; a backup that saved one of these
  // snapshots since then wrote its index file before it (I2).
  RW_RETURN_IF_ERROR(LoadIndex());
  return ids;
}

Result<std::string> Repository::LoadSnapshotDoc(const std::string& id) {
  auto read = storage_->ReadFile("snapshots/" + id);
  if (!read.ok()) return read.status().WithContext("snapshot " + id.substr(0, 12));
  std::string doc = std::move(*read);
  if (Sha256(doc).Hex() != id) {
    return Status::Corruption("snapshot " + id.substr(0, 12) + " (" + storage_->Describe("snapshots/" + id) +
                              "): content does not match its name (damaged)");
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------
// Locks.

namespace {

// Lock files this process holds, for the signal handler: fixed slots, so that the handler
// neither allocates nor locks (unlink, write, signal and raise are async-signal-safe).
constexpr int kLockSlots = 16;
struct LockSlot {
  std::atomic<int> state{0};  // 0 free, 1 being filled, 2 held
  char path[4096];
};
LockSlot g_lock_slots[kLockSlots];
std::atomic<const char*> g_interrupt_hint{nullptr};

void WriteStderr(const char* text) { (void)!::write(STDERR_FILENO, text, std::strlen(text)); }

extern "C" void ReleaseLocksOnSignal(int sig) {
  bool any = false;
  for (LockSlot& slot : g_lock_slots) {
    if (slot.state.load() == 2) {
      ::unlink(slot.path);
      any = true;
    }
  }
  if (any) {
    WriteStderr(sig == SIGPIPE ? "rewind: its output was closed (SIGPIPE); the repository lock was released\n"
                               : "rewind: interrupted; the repository lock was released\n");
    if (const char* hint = g_interrupt_hint.load()) {
      WriteStderr("rewind: ");
      WriteStderr(hint);
      WriteStderr("\n");
    }
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void InstallLockSignalHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) {
      struct sigaction old {};
      if (::sigaction(sig, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) continue;  // ignored or handled
      struct sigaction sa {};
      sa.sa_handler = ReleaseLocksOnSignal;
      sigemptyset(&sa.sa_mask);
      (void)::sigaction(sig, &sa, nullptr);
    }
  });
}

int RegisterLockFile(const std::string& path) {
  std::string abs = path;
  if (abs.empty() || abs.size() >= sizeof(LockSlot::path)) return -1;
  if (abs[0] != '/') {
    char cwd[4096];
    if (!::getcwd(cwd, sizeof cwd)) return -1;
    abs = std::string(cwd) + "/" + abs;
    if (abs.size() >= sizeof(LockSlot::path)) return -1;
  }
  InstallLockSignalHandlers();
  for (int i = 0; i < kLockSlots; ++i) {
    int expected = 0;
    if (!g_lock_slots[i].state.compare_exchange_strong(expected, 1)) continue;
    std::memcpy(g_lock_slots[i].path, abs.c_str(), abs.size() + 1);
    g_lock_slots[i].state.store(2);
    return i;
  }
  return -1;
}

}  // namespace

void SetInterruptHint(const char* text) { g_interrupt_hint.store(text); }

RepoLock::RepoLock(Repository* repo, std::string file) : repo_(repo), file_(std::move(file)) {
  signal_slot_ = RegisterLockFile(repo_->storage().Describe("locks/" + file_));
}

RepoLock::~RepoLock() { (void)Release(); }

Status RepoLock::Release() {
  if (file_.empty()) return Status::OK();
  Status s = repo_->storage().Remove("locks/" + file_);
  Forget();
  return s;
}

void RepoLock::Forget() {
  file_.clear();
  if (signal_slot_ >= 0) g_lock_slots[signal_slot_].state.store(0);
  signal_slot_ = -1;
}

Result<std::vector<LockInfo>> Repository::ListLocks() {
  RW_ASSIGN_OR_RETURN(auto names, storage_->List("locks"));
  std::vector<LockInfo> out;
  const std::string host = Hostname();
  for (const std::string& name : names) {
    auto text = storage_->ReadFile("locks/" + name);
    LockInfo info;
    info.file = name;
    if (!text.ok()) {
      if (text.status().code() == Code::kNotFound) continue;  // released meanwhile
      // A lock this process cannot read (another user's, or damaged) still keeps it out.
      info.command = "(unreadable lock file: " + text.status().message() + ")";
      info.exclusive = true;
      out.push_back(std::move(info));
      continue;
    }
    try {
      json j = json::parse(*text);
      info.hostname = j.value("hostname", "");
      info.pid = j.value("pid", 0);
      info.since_ns = j.value("since_ns", int64_t{0});
      info.command = j.value("command", "");
      info.exclusive = j.value("exclusive", true);
      info.start_ticks = j.value("start_ticks", uint64_t{0});
      info.pid_namespace = j.value("pid_namespace", "");
    } catch (const std::exception&) {
      info.command = "(unreadable lock file)";
      info.exclusive = true;
    }
    info.stale = info.hostname == host && !HolderAlive(info);
    // A process that released its lock and ended since its file was read above left no lock.
    if (info.stale && !storage_->Exists("locks/" + name)) continue;
    out.push_back(std::move(info));
  }
  return out;
}

namespace {
// Why the lock `other` keeps this process out.
Status LockConflict(Storage& storage, const LockInfo& other) {
  std::string who = other.hostname.empty() && other.pid <= 0
                        ? "a lock file that cannot be read, " + storage.Describe("locks/" + other.file) + " " +
                              other.command
                        : std::string(other.exclusive ? "an exclusive" : "a shared") + " lock held by `" +
                              other.command + "` (pid " + std::to_string(other.pid) + " on host " + other.hostname +
                              ", since " + FormatRfc3339Ns(other.since_ns) + ", lock file " +
                              storage.Describe("locks/" + other.file) + ")";
  if (other.stale) {
    return Status::Locked("repository is locked by a stale lock: " + who +
                          "; that process is gone — check nothing else uses the repository, then run `rewind unlock`");
  }
  if (other.hostname.empty() && other.pid <= 0) {
    return Status::Locked("repository is in use: " + who +
                          "; if no other rewind uses the repository, `rewind unlock --all` removes it");
  }
  if (other.hostname != Hostname() || other.pid <= 0) {  // another host, or a lock file without a pid
    return Status::Locked("repository is in use: " + who +
                          "; if that process is gone (this host cannot check), `rewind unlock --all` removes it");
  }
  return Status::Locked("repository is in use: " + who);
}
}  // namespace

Result<std::unique_ptr<RepoLock>> Repository::Lock(bool exclusive, std::string_view command) {
  std::string name = RandomHex(16);
  const int64_t now = RealClock().NowNs();  // one reading: the two fields agree
  json j = {{"hostname", Hostname()},       {"pid", static_cast<int>(::getpid())},
            {"since_ns", now},               {"since", FormatRfc3339Ns(now)},
            {"command", std::string(command)}, {"exclusive", exclusive}};
  // When this process started and in which pid namespace: a process that has its pid later on
  // (after a reboot) is not taken for it.
  char state = '?';
  uint64_t start = 0;
  if (std::string ns = PidNamespace(); !ns.empty() && ReadProcStat(static_cast<int>(::getpid()), &state, &start)) {
    j["start_ticks"] = start;
    j["pid_namespace"] = ns;
  }
  // Replacement characters for bytes that are not UTF-8 (a command line naming such a path).
  const std::string doc = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  // Known to the signal handler before the file exists: a SIGINT, SIGTERM or SIGHUP that comes
  // while it is created and synced still removes it.
  auto lock = std::make_unique<RepoLock>(this, name);
  if (Status created = storage_->CreateExclusive("locks/" + name, doc); !created.ok()) {
    lock->Forget();
    return created.WithContext("cannot lock the repository");
  }
  RW_ASSIGN_OR_RETURN(auto locks, ListLocks());
  for (const LockInfo& other : locks) {
    if (other.file == name) continue;
    if (!exclusive && !other.exclusive) continue;
    (void)lock->Release();
    return LockConflict(*storage_, other);
  }
  return lock;
}

Result<std::unique_ptr<RepoLock>> Repository::LockForReading(std::string_view command, std::string* note) {
  auto lock = Lock(false, command);
  if (lock.ok() || (lock.status().code() != Code::kDenied && lock.status().code() != Code::kNoSpace)) return lock;
  // No lock file can be written. Nothing on this host can then change the repository through
  // this path either; what can still be seen is an exclusive lock (a rollback or repair
  // running, or killed, elsewhere): that refuses as it would with a lock.
  auto locks = ListLocks();
  if (!locks.ok() && locks.status().code() != Code::kNotFound) return locks.status();  // no locks/: none
  for (const LockInfo& other : locks.ok() ? *locks : std::vector<LockInfo>{}) {
    if (other.exclusive) return LockConflict(*storage_, other);
  }
  // The reason without the temporary file's name: "…/locks/.3f7e….tmp-7ad9…: Read-only file system".
  const std::string& why = lock.status().message();
  const size_t colon = why.rfind(": ");
  *note = "reading the repository without a lock: cannot write into " + storage_->Describe("locks") + " (" +
          (colon == std::string::npos ? why : why.substr(colon + 2)) +
          "); a `rollback` or `repair` started meanwhile from elsewhere would not be noticed";
  return std::unique_ptr<RepoLock>();
}

Result<std::vector<LockInfo>> Repository::RemoveAllLocks() {
  RW_ASSIGN_OR_RETURN(auto locks, ListLocks());
  for (const LockInfo& l : locks) RW_RETURN_IF_ERROR(storage_->Remove("locks/" + l.file));
  return locks;
}

Result<std::vector<LockInfo>> Repository::RemoveStaleLocks() {
  RW_ASSIGN_OR_RETURN(auto locks, ListLocks());
  std::vector<LockInfo> removed;
  for (const LockInfo& l : locks) {
    if (!l.stale) continue;
    RW_RETURN_IF_ERROR(storage_->Remove("locks/" + l.file));
    removed.push_back(l);
  }
  return removed;
}

}  // namespace rw
