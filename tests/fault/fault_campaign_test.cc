// Fault campaign: ENOSPC, EIO and fsync failure injected at every write of a small backup in
// turn. Each time the backup must fail with a message naming the cause, and the repository,
// opened again without faults, must satisfy docs/format.md §9: every snapshot is whole (I3),
// every pack, index file and snapshot is named by the SHA-256 of its bytes (I4), nothing is
// left under a final name by a failed write (I1). A fault-free backup into the same repository
// then succeeds and restores to the same bytes as the source, judged by diff(1).
//
// The writes of a backup, in order: CreateExclusive of the lock, one WriteFileAtomic per pack
// (which pack comes first may vary: they are written on background threads), one for the
// index file, one for the snapshot, Remove of the lock. The source holds 23 MiB of random
// data, so two packs (16 MiB target): six writes, each failed in turn, for each kind.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>

#include "engine/ops/backup.h"
#include "engine/ops/restore.h"
#include "engine/ops/snapshots.h"
#include "engine/repo/repository.h"
#include "engine/storage/faulty_storage.h"

namespace rw {
namespace {

namespace fs = std::filesystem;
using Kind = FaultPlan::Kind;

// ---------------------------------------------------------------------------------------------
// Helpers.

// Passes everything to `base` and records the mutating calls by kind and directory
// ("WriteFileAtomic index/"), so that a failure can say which write was hit. Names are left out:
// lock names are random, the snapshot's depends on the time, and the two packs of a backup
// may reach the storage in either order (the last one is handed to a background thread while
// the one before may still be hashing).
class RecordingStorage final : public Storage {
 public:
  explicit RecordingStorage(std::unique_ptr<Storage> base) : base_(std::move(base)) {}
  std::vector<std::string> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

  Status WriteFileAtomic(const std::string& rel, std::string_view data) override {
    Record("WriteFileAtomic " + rel);
    return base_->WriteFileAtomic(rel, data);
  }
  Status CreateExclusive(const std::string& rel, std::string_view data) override {
    Record("CreateExclusive " + rel);
    return base_->CreateExclusive(rel, data);
  }
  Result<std::string> ReadFile(const std::string& rel) override { return base_->ReadFile(rel); }
  Result<std::string> ReadAt(const std::string& rel, uint64_t offset, size_t n) override {
    return base_->ReadAt(rel, offset, n);
  }
  Result<uint64_t> FileSize(const std::string& rel) override { return base_->FileSize(rel); }
  Result<std::vector<std::string>> List(const std::string& dir) override {
    return base_->List(dir);
  }
  Result<std::vector<std::string>> ListDirs(const std::string& dir) override {
    return base_->ListDirs(dir);
  }
  Status Remove(const std::string& rel) override {
    Record("Remove " + rel);
    return base_->Remove(rel);
  }
  Result<std::vector<std::pair<std::string, uint64_t>>> ListTemporaries(const std::string& dir) override {
    return base_->ListTemporaries(dir);
  }
  Status RemoveTemporaries(const std::string& dir) override {
    Record("RemoveTemporaries " + dir);
    return base_->RemoveTemporaries(dir);
  }
  Status MakeDir(const std::string& rel) override {
    Record("MakeDir " + rel);
    return base_->MakeDir(rel);
  }
  bool Exists(const std::string& rel) override { return base_->Exists(rel); }
  std::string Describe(const std::string& rel) const override { return base_->Describe(rel); }

 private:
  void Record(std::string call) {
    if (auto slash = call.find('/'); slash != std::string::npos) call.resize(slash + 1);
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(std::move(call));
  }
  std::unique_ptr<Storage> base_;
  mutable std::mutex mu_;
  std::vector<std::string> calls_;
};

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (size_t i = n / 8 * 8; i < n; ++i) out[i] = static_cast<char>(rng());
  return out;
}

// Compressible text: lines of words from a small vocabulary.
std::string RandomText(size_t n, uint64_t seed) {
  static const char* const kWords[] = {"From:",  "To:",     "Subject:", "mail",  "server",
                                       "backup", "icewarp", "user",     "inbox", "the",
                                       "a",      "report",  "\n"};
  std::mt19937_64 rng(seed);
  std::string out;
  while (out.size() < n) {
    out += kWords[rng() % std::size(kWords)];
    out += ' ';
  }
  out.resize(n);
  return out;
}

void WriteFile(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

std::string ReadWhole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

BackupOptions SourceOptions(const std::string& source) {
  BackupOptions o;
  o.source = source;
  return o;
}

RestoreOptions TargetOptions(const std::string& target) {
  RestoreOptions o;
  o.target = target;
  return o;
}

// The source of every backup: a few dozen files in a few directories, duplicates, an empty
// file and directory, symlinks, and one 20 MiB random file so that more than one 16 MiB pack
// is written.
void MakeSource(const std::string& root) {
  for (int i = 0; i < 24; ++i) {
    WriteFile(root + "/mail/user1/inbox/" + std::to_string(1000 + i) + ".imap",
              RandomText(1000 + 1700 * i, i));
  }
  for (int i = 0; i < 6; ++i) {
    WriteFile(root + "/mail/user2/Sent/" + std::to_string(i) + ".imap", RandomText(5000, 100 + i));
  }
  WriteFile(root + "/config/settings.cfg", RandomText(3000, 200));
  WriteFile(root + "/config/copy-a.dat", RandomBytes(70000, 201));
  WriteFile(root + "/config/copy-b.dat", RandomBytes(70000, 201));  // same blob as copy-a
  WriteFile(root + "/config/empty", "");
  WriteFile(root + "/logs/medium.bin", RandomBytes(3 << 20, 202));
  WriteFile(root + "/logs/big.bin", RandomBytes(20 << 20, 203));
  fs::create_directories(root + "/spool/empty-dir");
  fs::create_symlink("mail/user1/inbox", root + "/current");
  fs::create_symlink("../nowhere", root + "/config/dangling");
}

// The shared fixture: the source tree and the writes of a fault-free backup of it.
class CampaignEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    char tmpl[] = "/tmp/rewind-fault-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    work = tmpl;
    source = work + "/source";
    MakeSource(source);

    // A clean backup through FaultyStorage(kNone): how many mutating calls, and which.
    std::string repo_path = work + "/clean-repo";
    ASSERT_TRUE(Repository::Init(repo_path).ok());
    auto faulty = std::make_unique<FaultyStorage>(NewLocalStorage(repo_path), FaultPlan{});
    FaultyStorage* f = faulty.get();
    auto recording = std::make_unique<RecordingStorage>(std::move(faulty));
    RecordingStorage* rec = recording.get();
    auto repo = Repository::Open(std::move(recording));
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    auto r = Backup(repo->get(), SourceOptions(source), nullptr, nullptr);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    writes = rec->calls();
    ASSERT_EQ(static_cast<int>(writes.size()), f->mutating_calls());
    fs::remove_all(repo_path);
  }
  void TearDown() override {
    if (!work.empty() && !std::getenv("KEEP")) fs::remove_all(work);
  }

  std::string work, source;
  std::vector<std::string> writes;  // "CreateExclusive locks/", "WriteFileAtomic data/", …
};

CampaignEnv* const env =
    static_cast<CampaignEnv*>(::testing::AddGlobalTestEnvironment(new CampaignEnv));

// "ENOSPC at write 3 of 6 (WriteFileAtomic data/), sticky"
std::string PlanName(const FaultPlan& plan) {
  std::string s = std::string(FaultKindName(plan.kind)) + " at write " +
                  std::to_string(plan.fail_at) + " of " + std::to_string(env->writes.size());
  if (plan.fail_at >= 1 && plan.fail_at <= static_cast<int>(env->writes.size())) {
    s += " (" + env->writes[plan.fail_at - 1] + ")";
  }
  if (plan.sticky) s += ", sticky";
  return s;
}

bool StartsWith(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

// ---------------------------------------------------------------------------------------------
// The checks.

class FaultCampaign : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(env->writes.empty()) << "the clean backup failed"; }

  // A new, empty repository path.
  std::string NewRepo() {
    static int serial = 0;  // repositories of every test of this process share env->work
    std::string path = env->work + "/repo-" + std::to_string(serial++);
    Status s = Repository::Init(path);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return path;
  }

  // Backs up the source into `repo_path` through a FaultyStorage with `plan`.
  // `warnings` gets the result's warnings when the backup succeeds.
  Status FaultyBackup(const std::string& repo_path, const FaultPlan& plan,
                      std::vector<std::string>* warnings = nullptr) {
    auto faulty = std::make_unique<FaultyStorage>(NewLocalStorage(repo_path), plan);
    FaultyStorage* f = faulty.get();
    auto repo = Repository::Open(std::move(faulty));
    if (!repo.ok()) return repo.status().WithContext("opening with faults");
    auto r = Backup(repo->get(), SourceOptions(env->source), nullptr, nullptr);
    EXPECT_GE(f->faults_injected(), 1) << "the fault was never reached";
    if (r.ok() && warnings) *warnings = r->warnings;
    return r.status();
  }

  // The failure says what went wrong (errno text and code) and where (the repository's path).
  // After kCrash the process would be gone: what it reports does not matter, only what it
  // left; but a failure must still say why.
  static void ExpectNamesCause(const Status& s, Kind kind, const std::string& repo_path) {
    if (kind == Kind::kCrash && s.ok()) return;
    ASSERT_FALSE(s.ok()) << "the backup reported success although a write failed";
    switch (kind) {
      case Kind::kNoSpace:
        EXPECT_EQ(s.code(), Code::kNoSpace) << s.ToString();
        EXPECT_NE(s.message().find("No space left on device"), std::string::npos) << s.message();
        break;
      case Kind::kIOError:
      case Kind::kFsyncError:
        EXPECT_EQ(s.code(), Code::kIOError) << s.ToString();
        EXPECT_NE(s.message().find("Input/output error"), std::string::npos) << s.message();
        if (kind == Kind::kFsyncError) {
          EXPECT_NE(s.message().find("fsync "), std::string::npos) << s.message();
        }
        break;
      case Kind::kCrash:
        EXPECT_EQ(s.code(), Code::kIOError) << s.ToString();
        EXPECT_NE(s.message().find("crashed"), std::string::npos) << s.message();
        break;
      case Kind::kNone: break;
    }
    EXPECT_NE(s.message().find(repo_path + "/"), std::string::npos)
        << "the message does not name the file: " << s.message();
  }

  // Opens `repo_path` without faults and checks §9. Returns the number of snapshots.
  // `leftovers_allowed`: temporaries (dot-names) may remain (after a crash).
  // `lock_may_remain`: the lock's removal failed or was dropped.
  static size_t ExpectRepositoryWhole(const std::string& repo_path, bool leftovers_allowed,
                                      bool lock_may_remain) {
    auto repo = Repository::Open(repo_path);
    EXPECT_TRUE(repo.ok()) << repo.status().ToString();
    if (!repo.ok()) return 0;
    auto snaps = LoadSnapshots(repo->get());
    EXPECT_TRUE(snaps.ok()) << snaps.status().ToString();
    if (!snaps.ok()) return 0;
    for (const SnapshotRef& ref : *snaps) ExpectSnapshotWhole(**repo, ref);
    ExpectFilesNamedByHash(repo_path, leftovers_allowed);
    if (!lock_may_remain) {
      std::vector<std::string> locks;
      for (const auto& e : fs::directory_iterator(repo_path + "/locks")) {
        locks.push_back(e.path().filename());
      }
      EXPECT_EQ(locks, std::vector<std::string>{}) << "lock files left behind";
    }
    return snaps->size();
  }

  // Every tree and content blob the snapshot reaches is indexed and loads (SHA-256 checked).
  static void ExpectSnapshotWhole(const Repository& repo, const SnapshotRef& ref) {
    SCOPED_TRACE("snapshot " + ref.id.substr(0, 12));
    ASSERT_TRUE(ref.snapshot.tree.has_value());
    std::vector<std::string> bad;
    size_t files = 0;
    Status walk =
        WalkTree(repo, *ref.snapshot.tree, "", [&](const std::string& path, const TreeEntry& e) {
          if (e.type == EntryType::kFile) files += 1;
          if (e.type == EntryType::kDir && e.subtree && !repo.Has(*e.subtree)) {
            bad.push_back(path + ": subtree not in the index");
          }
          for (const BlobId& id : e.content) {
            if (!repo.Has(id)) {
              bad.push_back(path + ": blob " + id.Short() + " not in the index");
              continue;
            }
            auto blob = repo.LoadBlob(id, BlobType::kData);
            if (!blob.ok()) bad.push_back(path + ": " + blob.status().ToString());
          }
          return true;
        });
    EXPECT_TRUE(walk.ok()) << walk.ToString();
    EXPECT_EQ(bad, std::vector<std::string>{});
    EXPECT_EQ(files, ref.snapshot.stats.files) << "the walk did not reach every file";
  }

  // I4 for data/, index/, snapshots/; I1: a failed write leaves no temporary either.
  static void ExpectFilesNamedByHash(const std::string& repo_path, bool leftovers_allowed) {
    std::vector<std::string> misnamed, temporaries;
    for (const char* dir : {"data", "index", "snapshots"}) {
      for (const auto& e : fs::recursive_directory_iterator(repo_path + "/" + dir)) {
        std::string rel = fs::relative(e.path(), repo_path);
        std::string name = e.path().filename();
        if (name[0] == '.') {
          temporaries.push_back(rel);
          continue;
        }
        if (!e.is_regular_file()) continue;
        if (Sha256(ReadWhole(e.path())).Hex() != name) misnamed.push_back(rel);
        if (std::string_view(dir) == "data" &&
            e.path().parent_path().filename() != name.substr(0, 2)) {
          misnamed.push_back(rel + " (wrong directory)");
        }
      }
    }
    EXPECT_EQ(misnamed, std::vector<std::string>{}) << "files whose name is not their hash";
    if (!leftovers_allowed) {
      EXPECT_EQ(temporaries, std::vector<std::string>{}) << "temporaries left behind";
    }
  }

  // A fault-free backup into the repository succeeds, and its restore equals the source.
  void ExpectCleanBackupRestores(const std::string& repo_path, size_t snapshots_before) {
    auto repo = Repository::Open(repo_path);
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    auto r = Backup(repo->get(), SourceOptions(env->source), nullptr, nullptr);
    ASSERT_TRUE(r.ok()) << "fault-free backup after the fault: " << r.status().ToString();
    auto ids = (*repo)->ListSnapshotIds();
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(ids->size(), snapshots_before + 1);
    std::string target = repo_path + "-restore";
    auto stats =
        RestoreToDirectory(repo->get(), r->snapshot, TargetOptions(target), nullptr, nullptr);
    ASSERT_TRUE(stats.ok()) << stats.status().ToString();
    EXPECT_EQ(stats->errors, 0u);
    std::string cmd = "diff -r --no-dereference '" + env->source + "' '" + target + "' >&2";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << "restore differs from the source";
    fs::remove_all(target);
  }

  // The whole cycle for one plan.
  void RunCase(const FaultPlan& plan) {
    SCOPED_TRACE(PlanName(plan));
    std::string repo_path = NewRepo();
    std::vector<std::string> warnings;
    Status failed = FaultyBackup(repo_path, plan, &warnings);
    if (std::getenv("REWIND_FAULT_VERBOSE")) {
      std::fprintf(stderr, "%s: %s\n", PlanName(plan).c_str(), failed.ToString().c_str());
    }
    const std::string& hit = env->writes[std::min<size_t>(plan.fail_at, env->writes.size()) - 1];
    const bool crash = plan.kind == Kind::kCrash;
    if (!crash && !plan.sticky && StartsWith(hit, "Remove locks/")) {
      // The last write: the snapshot is saved, so the backup succeeds, and says the lock stayed.
      ASSERT_TRUE(failed.ok()) << failed.ToString();
      ASSERT_EQ(warnings.size(), 1u);
      EXPECT_NE(warnings[0].find("lock could not be removed"), std::string::npos) << warnings[0];
      EXPECT_NE(warnings[0].find(repo_path + "/locks"), std::string::npos) << warnings[0];
    } else {
      ExpectNamesCause(failed, plan.kind, repo_path);
    }
    const bool lock_may_remain = plan.sticky || crash || StartsWith(hit, "Remove locks/");
    size_t snapshots = ExpectRepositoryWhole(repo_path, crash, lock_may_remain);
    ExpectCleanBackupRestores(repo_path, snapshots);
    if (!(HasFailure() && std::getenv("KEEP"))) fs::remove_all(repo_path);
  }

  int WriteNumber(std::string_view prefix) const {
    for (size_t i = 0; i < env->writes.size(); ++i) {
      if (StartsWith(env->writes[i], prefix)) return static_cast<int>(i) + 1;
    }
    ADD_FAILURE() << "no write starting with " << prefix;
    return 1;
  }
};

// ---------------------------------------------------------------------------------------------
// The campaign.

// Failures `fn` reports, intercepted (they do not fail the test).
int CountFailures(const std::function<void()>& fn) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    fn();
  }
  return results.size();
}

// The checks can fail: each kind of damage they look for is noticed.
TEST_F(FaultCampaign, ChecksCatchDamage) {
  std::string repo_path = NewRepo();
  {
    auto repo = Repository::Open(repo_path);
    ASSERT_TRUE(repo.ok());
    ASSERT_TRUE(Backup(repo->get(), SourceOptions(env->source), nullptr, nullptr).ok());
  }
  auto whole = [&](bool leftovers_allowed, bool lock_may_remain) {
    return CountFailures(
        [&] { ExpectRepositoryWhole(repo_path, leftovers_allowed, lock_may_remain); });
  };
  ASSERT_EQ(whole(false, false), 0);

  const std::string locks = repo_path + "/locks/0123456789abcdef0123456789abcdef";
  WriteFile(locks, "{}");
  EXPECT_GT(whole(false, false), 0) << "a leftover lock";
  EXPECT_EQ(whole(false, true), 0);
  fs::remove(locks);

  const std::string temp = repo_path + "/data/.tmp-123";
  WriteFile(temp, "partial");
  EXPECT_GT(whole(false, false), 0) << "a temporary";
  EXPECT_EQ(whole(true, false), 0);
  fs::remove(temp);

  const std::string misnamed = repo_path + "/data/00/00" + std::string(62, 'f');
  WriteFile(misnamed, "not what the name says");
  EXPECT_GT(whole(false, false), 0) << "a file under a final name that is not its hash";
  fs::remove(misnamed);

  ASSERT_EQ(whole(false, false), 0);
  std::vector<fs::path> packs;
  for (const auto& e : fs::recursive_directory_iterator(repo_path + "/data")) {
    if (e.is_regular_file()) packs.push_back(e.path());
  }
  ASSERT_GE(packs.size(), 2u);
  for (const fs::path& pack : packs) {
    SCOPED_TRACE("without pack " + pack.filename().string());
    fs::path aside = env->work + "/pack-aside";  // outside the repository
    fs::rename(pack, aside);
    EXPECT_GT(whole(false, false), 0) << "a snapshot whose data is missing";
    fs::rename(aside, pack);
  }
  fs::remove_all(repo_path);
}

TEST_F(FaultCampaign, CleanBackupWritesLockPacksIndexSnapshot) {
  const auto& w = env->writes;
  std::string all;
  for (const std::string& s : w) all += "\n  " + s;
  SCOPED_TRACE("writes of a clean backup:" + all);
  ASSERT_GE(w.size(), 6u);
  EXPECT_TRUE(StartsWith(w.front(), "CreateExclusive locks/"));
  EXPECT_TRUE(StartsWith(w[1], "WriteFileAtomic data/"));
  EXPECT_TRUE(StartsWith(w[2], "WriteFileAtomic data/")) << "want at least two packs";
  EXPECT_TRUE(StartsWith(w[w.size() - 3], "WriteFileAtomic index/"));
  EXPECT_TRUE(StartsWith(w[w.size() - 2], "WriteFileAtomic snapshots/"));
  EXPECT_TRUE(StartsWith(w.back(), "Remove locks/"));
}

struct KindParam {
  Kind kind;
  const char* name;
};
void PrintTo(const KindParam& p, std::ostream* os) { *os << FaultKindName(p.kind); }

class FaultAtEveryWrite : public FaultCampaign, public ::testing::WithParamInterface<KindParam> {};

TEST_P(FaultAtEveryWrite, BackupFailsNamingCauseAndRepositoryStaysWhole) {
  for (int n = 1; n <= static_cast<int>(env->writes.size()); ++n) {
    RunCase(FaultPlan{.kind = GetParam().kind, .fail_at = n});
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, FaultAtEveryWrite,
                         ::testing::Values(KindParam{Kind::kNoSpace, "NoSpace"},
                                           KindParam{Kind::kIOError, "IOError"},
                                           KindParam{Kind::kFsyncError, "Fsync"}),
                         [](const ::testing::TestParamInfo<KindParam>& info) {
                           return std::string(info.param.name);
                         });

// A full disk stays full: every write from the first failing one on fails too, including the
// lock's removal.
TEST_F(FaultCampaign, DiskStaysFull) {
  for (int n : {1, WriteNumber("WriteFileAtomic data/"), WriteNumber("WriteFileAtomic index/"),
                WriteNumber("WriteFileAtomic snapshots/")}) {
    RunCase(FaultPlan{.kind = Kind::kNoSpace, .fail_at = n, .sticky = true});
  }
}

// Taking a lock is the first write of every command: its failure must say why, and leave no
// lock file behind.
TEST_F(FaultCampaign, LockCreationFailureNamesTheCause) {
  for (Kind kind : {Kind::kNoSpace, Kind::kIOError, Kind::kFsyncError}) {
    for (bool exclusive : {false, true}) {
      SCOPED_TRACE(std::string(FaultKindName(kind)) + (exclusive ? ", exclusive" : ", shared"));
      std::string repo_path = NewRepo();
      auto repo = Repository::Open(std::make_unique<FaultyStorage>(
          NewLocalStorage(repo_path), FaultPlan{.kind = kind, .fail_at = 1}));
      ASSERT_TRUE(repo.ok()) << repo.status().ToString();
      auto lock = (*repo)->Lock(exclusive, "prune");
      ASSERT_FALSE(lock.ok());
      ExpectNamesCause(lock.status(), kind, repo_path);
      EXPECT_NE(lock.status().message().find(repo_path + "/locks/"), std::string::npos)
          << lock.status().message();
      auto left = (*repo)->ListLocks();
      ASSERT_TRUE(left.ok()) << left.status().ToString();
      EXPECT_EQ(left->size(), 0u);
      // The next attempt (no fault any more) gets the lock.
      auto again = (*repo)->Lock(exclusive, "prune");
      EXPECT_TRUE(again.ok()) << again.status().ToString();
      again = Status::Aborted("released");  // before the repository goes
      repo = Status::Aborted("closed");
      fs::remove_all(repo_path);
    }
  }
}

// A crash (the machine goes down) during each write in turn: the call in progress leaves at
// most a temporary, nothing after it happens. The repository a restarted process finds must be
// whole (I3) and usable by the next backup.
TEST_F(FaultCampaign, CrashAtEveryWrite) {
  for (int n = 1; n <= static_cast<int>(env->writes.size()); ++n) {
    RunCase(FaultPlan{.kind = Kind::kCrash, .fail_at = n});
  }
}

}  // namespace
}  // namespace rw
