// Rollback engine tests on real directories and a real repository (no mocks): journal codec,
// the planner's steps, symlinks never followed out of the target, idempotent resume.
#include "engine/ops/rollback.h"

#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "engine/format/blob_id.h"
#include "engine/format/format_constants.h"
#include "engine/format/pack.h"
#include "engine/ops/backup.h"
#include "engine/ops/diff.h"
#include "engine/ops/diff_internal.h"
#include "engine/ops/repair.h"
#include "engine/ops/restore.h"
#include "engine/ops/restore_internal.h"
#include "engine/ops/snapshots.h"
#include "manifests/tree.h"

namespace rw {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void Put(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}
// A Unix socket bound at `p` (its file stays after the descriptor is closed), as a server's.
void PutSocket(const fs::path& p) {
  fs::create_directories(p.parent_path());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(p.native().size(), sizeof addr.sun_path);
  std::strcpy(addr.sun_path, p.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  ::close(fd);
}
bool IsSocket(const fs::path& p) {
  struct stat st{};
  return ::lstat(p.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

class RollbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rewind-rollback-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    src_ = dir_ / "src";
    outside_ = dir_ / "outside";
    fs::create_directories(src_);
    fs::create_directories(outside_);
    Put(outside_ / "f", "outside, must stay");
    ASSERT_TRUE(Repository::Init((dir_ / "repo").string()).ok());
    auto repo = Repository::Open((dir_ / "repo").string());
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    repo_ = std::move(*repo);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  SnapshotRef Backup(const std::string& tag, std::vector<std::string> excludes = {"/mail/"}) {
    BackupOptions bo;
    bo.source = src_.string();
    bo.excludes = std::move(excludes);
    bo.tags = {tag};
    auto r = rw::Backup(repo_.get(), bo, nullptr, nullptr);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    auto ref = ResolveSnapshot(repo_.get(), tag);
    EXPECT_TRUE(ref.ok());
    return *ref;
  }

  // `s` as if it had been taken 3 s after its files were last written: a file written just
  // before a snapshot's start is read again by a backup with that parent, and compared by
  // content by a live diff (StatVouchesFor), which tests of reuse and hashing counts do not
  // want.
  static SnapshotRef Settled(SnapshotRef s) {
    s.snapshot.time_ns += 3'000'000'000;
    return s;
  }

  // A rollback of src_ in place, with or without a safety snapshot.
  RollbackOptions OptionsFor(bool safety_snapshot, bool dry_run) {
    RollbackOptions opts;
    opts.target = src_.string();
    opts.safety_snapshot = safety_snapshot;
    opts.dry_run = dry_run;
    return opts;
  }

  // Every kind of entry the planner handles, and the mail folder the snapshot excludes.
  void MakeInstallation() {
  Put(src_ / "keep.txt", "same");
  Put(src_ / "change.txt", "old content");
  Put(src_ / "gone.txt", "deleted by the upgrade");
  Put(src_ / "d" / "f", "inside d");
  Put(src_ / "mail" / "old.imap", "mail");
  ASSERT_EQ(::symlink("keep.txt", (src_ / "ln").c_str()), 0);
  Put(src_ / "h1", "hardlinked");
  ASSERT_EQ(::link((src_ / "h1").c_str(), (src_ / "h2").c_str()), 0);
  }
  // What an upgrade does to it: every kind of change.
  void Upgrade() {
  Put(src_ / "change.txt", "new content!");
  fs::remove(src_ / "gone.txt");
  Put(src_ / "new.txt", "added");
  // d becomes a symlink to a directory outside the target holding a file of the same name.
  fs::remove_all(src_ / "d");
  ASSERT_EQ(::symlink(outside_.c_str(), (src_ / "d").c_str()), 0);
  // ln becomes a directory.
  fs::remove(src_ / "ln");
  Put(src_ / "ln" / "x", "x");
  ::chmod((src_ / "keep.txt").c_str(), 0600);
  Put(src_ / "mail" / "new.imap", "new mail");
  // h1 is replaced by a new file (the link to h2 is broken; h2 keeps the old content).
  fs::remove(src_ / "h1");
  Put(src_ / "h1", "new h1");
  }

  // Rolls the target back to `s` (no safety snapshot) and checks that it verified and that a
  // live diff finds nothing left.
  void RollBackWithoutSafetySnapshot(const SnapshotRef& s) {
    RollbackOptions opts;
    opts.target = src_.string();
    opts.safety_snapshot = false;
    auto r = Rollback(repo_.get(), s, opts, nullptr, nullptr);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->verified());
    EXPECT_TRUE(Live(s).empty());
  }

  std::vector<Change> Live(const SnapshotRef& s) {
    std::vector<Change> out;
    Status st = DiffLive(*repo_, s.snapshot, src_.string(), DiffOptions{}, [&](const Change& c) {
      out.push_back(c);
      return Status::OK();
    }, nullptr);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  fs::path dir_, src_, outside_;
  std::unique_ptr<Repository> repo_;
};

TEST(RollbackJournal, RoundTripAndDamage) {
  RollbackJournal j;
  j.snapshot_id = std::string(64, 'a');
  j.target = "/opt/ice\nwarp";
  j.safety_snapshot_id = std::string(64, 'b');
  j.databases = true;
  j.stop_cmd = "systemctl stop icewarp; echo 'done'";
  RollbackStep rm;
  rm.op = RollbackStep::Op::kRemove;
  rm.path = std::string("html/\xff\xfe name");
  rm.live_type = EntryType::kDir;
  RollbackStep w;
  w.op = RollbackStep::Op::kWrite;
  w.path = "config/settings.cfg";
  w.entry.name = "settings.cfg";
  w.entry.type = EntryType::kFile;
  w.entry.mode = 0640;
  w.entry.size = 3;
  w.entry.mtime_ns = 1700000000123456789;
  w.entry.content = {BlobId{}};
  w.entry.xxh128 = Xxh128{1, 2};
  w.entry.xattrs = {{"user.a", std::string("\0\1", 2)}};
  RollbackStep root;
  root.op = RollbackStep::Op::kDirMeta;
  root.path = "";
  root.entry.type = EntryType::kDir;
  root.entry.mode = 0755;
  j.steps = {rm, w, root};
  std::string text = EncodeRollbackJournal(j);
  auto back = DecodeRollbackJournal(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->target, j.target);
  EXPECT_EQ(back->stop_cmd, j.stop_cmd);
  EXPECT_TRUE(back->databases);
  ASSERT_EQ(back->steps.size(), 3u);
  EXPECT_EQ(back->steps[0].path, rm.path);
  EXPECT_EQ(back->steps[0].live_type, EntryType::kDir);
  EXPECT_EQ(back->steps[1].entry, w.entry);
  EXPECT_EQ(back->steps[2].path, "");
  EXPECT_FALSE(back->steps[2].entry.subtree.has_value());
  // Any damaged byte is detected.
  for (size_t pos : {size_t{3}, text.size() / 2, text.size() - 30}) {
    std::string bad = text;
    bad[pos] ^= 0x01;
    EXPECT_FALSE(DecodeRollbackJournal(bad).ok()) << "flip at " << pos;
  }
  EXPECT_FALSE(DecodeRollbackJournal(text.substr(0, text.size() / 2)).ok());
}

// Replaced files are released by background threads: every descriptor handed over is closed
// once Drain returns, with more descriptors than the queue holds (Add waits for room).
TEST(DeferredCloseTest, ClosesEveryDescriptorByDrain) {
  std::vector<int> fds;
  for (int i = 0; i < 600; ++i) {
    int fd = ::open("/", O_PATH | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  restore_internal::DeferredClose released(3, 16);
  for (int fd : fds) released.Add(fd);
  released.Drain();
  for (int fd : fds) {
    errno = 0;
    EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << fd;
    EXPECT_EQ(errno, EBADF) << fd;
  }
  // After Drain, Add closes on the spot.
  int fd = ::open("/", O_PATH | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  released.Add(fd);
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
}

// The one-call open of a directory below the target (openat2) refuses what the walk with
// O_NOFOLLOW at each component refuses: a symlink anywhere on the path, and any way out.
TEST_F(RollbackTest, DirectoriesBelowTheTargetAreOpenedWithoutFollowingSymlinks) {
  fs::create_directories(src_ / "a" / "b" / "c");
  Put(src_ / "a" / "b" / "c" / "f", "inside");
  ASSERT_EQ(::symlink(outside_.c_str(), (src_ / "a" / "out").c_str()), 0);
  ASSERT_EQ(::symlink("b", (src_ / "a" / "alias").c_str()), 0);
  int root = ::open(src_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(root, 0);
  struct stat want{}, got{};
  ASSERT_EQ(::stat((src_ / "a" / "b" / "c").c_str(), &want), 0);
  int fd = diff_internal::OpenDirBeneath(root, "a/b/c");
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::fstat(fd, &got), 0);
  EXPECT_EQ(got.st_ino, want.st_ino);
  ::close(fd);
  // A symlink as the last component or on the way, "..", an absolute path, a file: refused.
  for (const char* bad : {"a/out", "a/alias/c", "a/b/../../..", "a/../../outside", "/tmp", "a/b/c/f", "a/none"}) {
    errno = 0;
    int bad_fd = diff_internal::OpenDirBeneath(root, bad);
    EXPECT_EQ(bad_fd, -1) << bad;
    EXPECT_NE(errno, 0) << bad;
    if (bad_fd >= 0) ::close(bad_fd);
  }
  // The stat of a path below the target walks the same way.
  auto st = diff_internal::StatPathAt(root, "a/b/c/f");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->st_size, 6);
  EXPECT_FALSE(diff_internal::StatPathAt(root, "a/out/f").ok());
  EXPECT_FALSE(diff_internal::StatPathAt(root, "a/alias/c/f").ok());
  ::close(root);
}

TEST_F(RollbackTest, PlanUndoesEveryKindOfChangeAndNeverFollowsSymlinksOut) {
  ASSERT_NO_FATAL_FAILURE(MakeInstallation());
  SnapshotRef pre = Backup("pre");

  ASSERT_NO_FATAL_FAILURE(Upgrade());

  int fd = ::open(src_.c_str(), O_RDONLY | O_DIRECTORY);
  auto plan = PlanRollback(*repo_, pre.snapshot, fd);
  ::close(fd);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->create, (std::vector<std::string>{"d/f", "gone.txt"}));
  // h2 still has the right content, but must be linked again to the rewritten h1.
  EXPECT_EQ(plan->rewrite, (std::vector<std::string>{"change.txt", "h1", "h2"}));
  EXPECT_EQ(plan->remove, std::vector<std::string>{"new.txt"});
  EXPECT_EQ(plan->replace, (std::vector<std::string>{"d", "ln"}));
  EXPECT_EQ(plan->fix, std::vector<std::string>{"keep.txt"});
  // The last step sets the root's times; directories' metadata come after everything else.
  ASSERT_FALSE(plan->steps.empty());
  EXPECT_EQ(plan->steps.back().op, RollbackStep::Op::kDirMeta);
  EXPECT_EQ(plan->steps.back().path, "");

  ASSERT_NO_FATAL_FAILURE(RollBackWithoutSafetySnapshot(pre));
  EXPECT_EQ(Slurp(src_ / "change.txt"), "old content");
  EXPECT_EQ(Slurp(src_ / "h1"), "hardlinked");
  EXPECT_EQ(fs::hard_link_count(src_ / "h1"), 2u);
  EXPECT_TRUE(fs::equivalent(src_ / "h1", src_ / "h2"));
  EXPECT_EQ(Slurp(src_ / "d" / "f"), "inside d");
  EXPECT_TRUE(fs::is_symlink(src_ / "ln"));
  EXPECT_FALSE(fs::exists(src_ / "new.txt"));
  EXPECT_EQ(fs::status(src_ / "keep.txt").permissions() & fs::perms::all, fs::perms(0644) & fs::perms::all);
  // Outside the target: untouched. Inside the excluded folder: untouched.
  EXPECT_EQ(Slurp(outside_ / "f"), "outside, must stay");
  EXPECT_TRUE(fs::is_directory(outside_));
  EXPECT_EQ(Slurp(src_ / "mail" / "new.imap"), "new mail");
}

// Symlinks and FIFOs carry only trusted.* and security.* xattrs (SELinux labels on RHEL): backup
// records them, the live plan sees them change, rollback sets them back exactly.
TEST_F(RollbackTest, XattrsOfSymlinksAndFifosAreRolledBackExactly) {
  if (::geteuid() != 0) GTEST_SKIP() << "trusted.* xattrs need root (CI runs as root)";
  auto lget = [](const fs::path& p, const char* name) -> std::string {
    char buf[256];
    ssize_t n = ::lgetxattr(p.c_str(), name, buf, sizeof buf);
    return n < 0 ? std::string("<errno ") + std::to_string(errno) + ">" : std::string(buf, static_cast<size_t>(n));
  };
  auto lset = [](const fs::path& p, const char* name, const std::string& v) {
    ASSERT_EQ(::lsetxattr(p.c_str(), name, v.data(), v.size(), 0), 0) << p << " " << name << ": " << errno;
  };
  Put(src_ / "target.txt", "t");
  ASSERT_EQ(::symlink("target.txt", (src_ / "ln").c_str()), 0);
  ASSERT_EQ(::mkfifo((src_ / "fifo").c_str(), 0640), 0);
  ASSERT_NO_FATAL_FAILURE(lset(src_ / "ln", "trusted.rewind", std::string("link\0label", 10)));
  ASSERT_NO_FATAL_FAILURE(lset(src_ / "ln", "security.selinux", "system_u:object_r:etc_t:s0"));
  ASSERT_NO_FATAL_FAILURE(lset(src_ / "fifo", "trusted.rewind", "fifo"));
  SnapshotRef pre = Backup("pre");

  // The upgrade relabels the symlink, and labels the FIFO with one more attribute.
  ASSERT_NO_FATAL_FAILURE(lset(src_ / "ln", "security.selinux", "system_u:object_r:bin_t:s0"));
  ASSERT_NO_FATAL_FAILURE(lset(src_ / "fifo", "trusted.extra", "added"));
  int fd = ::open(src_.c_str(), O_RDONLY | O_DIRECTORY);
  auto plan = PlanRollback(*repo_, pre.snapshot, fd);
  ::close(fd);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->fix, (std::vector<std::string>{"fifo", "ln"}));

  ASSERT_NO_FATAL_FAILURE(RollBackWithoutSafetySnapshot(pre));
  EXPECT_EQ(lget(src_ / "ln", "trusted.rewind"), std::string("link\0label", 10));
  EXPECT_EQ(lget(src_ / "ln", "security.selinux"), "system_u:object_r:etc_t:s0");
  EXPECT_EQ(lget(src_ / "fifo", "trusted.rewind"), "fifo");
  EXPECT_EQ(lget(src_ / "fifo", "trusted.extra"), "<errno " + std::to_string(ENODATA) + ">");
}

// With a safety snapshot (the default), the plan comes from the safety snapshot, whose parent is
// the snapshot rolled back to, instead of a second walk of the target: it must undo the same
// changes, hardlinks included (an equal subtree is never visited, so a hardlink whose target
// is rewritten is linked again by a pass over the snapshot's hardlinks).
// The live walk compares subdirectories in parallel; the changes still come out one at a time,
// depth-first in name order, exactly as the one-threaded walk of two snapshots gives them.
TEST_F(RollbackTest, LiveDiffReportsInWalkOrderFromOneThread) {
  for (int d = 0; d < 12; ++d) {
    for (int s = 0; s < 6; ++s) {
      for (int f = 0; f < 5; ++f) {
        Put(src_ / ("d" + std::to_string(d)) / ("s" + std::to_string(s)) / ("f" + std::to_string(f)), "v1");
      }
    }
  }
  SnapshotRef pre = Backup("pre");
  for (int d = 0; d < 12; ++d) {
    const fs::path dir = src_ / ("d" + std::to_string(d));
    Put(dir / ("s" + std::to_string(d % 6)) / "f1", "v2, longer");                // content
    Put(dir / ("s" + std::to_string((d + 1) % 6)) / "new", "added");             // added
    fs::remove(dir / ("s" + std::to_string((d + 2) % 6)) / "f3");                  // removed
    if (d % 3 == 0) fs::remove_all(dir / "s5");                                    // a subtree removed
    if (d % 4 == 0) Put(dir / "s9" / "deep" / "x", "a new subtree");               // a subtree added
  }
  SnapshotRef post = Backup("post");
  std::vector<std::string> live, snaps;
  std::thread::id caller = std::this_thread::get_id();
  bool other_thread = false;
  DiffStats live_stats, snap_stats;
  ASSERT_TRUE(DiffLive(*repo_, Settled(pre).snapshot, src_.string(), DiffOptions{},
                       [&](const Change& c) {
                         if (std::this_thread::get_id() != caller) other_thread = true;
                         live.push_back(std::string(ChangeMarker(c.kind)) + " " + c.path);
                         return Status::OK();
                       },
                       &live_stats)
                  .ok());
  ASSERT_TRUE(DiffSnapshots(*repo_, pre.snapshot, post.snapshot, DiffOptions{},
                            [&](const Change& c) {
                              snaps.push_back(std::string(ChangeMarker(c.kind)) + " " + c.path);
                              return Status::OK();
                            },
                            &snap_stats)
                  .ok());
  EXPECT_FALSE(other_thread) << "a change was reported from a worker thread";
  EXPECT_GT(live.size(), 60u);
  EXPECT_EQ(live, snaps);
  EXPECT_EQ(live_stats.total(), live.size());
  EXPECT_EQ(live_stats.content, 12u);
  EXPECT_EQ(live_stats.files_hashed, 0u);  // every changed file changed size
}

TEST_F(RollbackTest, PlanFromTheSafetySnapshotUndoesWhatTheLivePlanUndoes) {
  ASSERT_NO_FATAL_FAILURE(MakeInstallation());
  // A hardlink pair across directories, the shared inode changed in place by the upgrade.
  Put(src_ / "lib" / "a.so", "library v1");
  Put(src_ / "other" / "quiet.txt", "untouched directory");
  ASSERT_EQ(::link((src_ / "lib" / "a.so").c_str(), (src_ / "other" / "a-link.so").c_str()), 0);
  SnapshotRef pre = Backup("pre");

  ASSERT_NO_FATAL_FAILURE(Upgrade());
  Put(src_ / "lib" / "a.so", "library v2");  // same inode: other/a-link.so shows it too

  // The safety snapshot as Rollback takes it: the snapshot's rules, the snapshot as parent.
  BackupOptions bo;
  bo.source = src_.string();
  bo.excludes = pre.snapshot.excludes;
  bo.parent = pre;
  auto now = rw::Backup(repo_.get(), bo, nullptr, nullptr);
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  int fd = ::open(src_.c_str(), O_RDONLY | O_DIRECTORY);
  TreeCache trees(*repo_);
  auto live = PlanRollback(*repo_, pre.snapshot, fd, &trees);
  auto from = PlanRollbackFrom(*repo_, pre.snapshot, now->snapshot, fd, &trees);
  ::close(fd);
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  ASSERT_TRUE(from.ok()) << from.status().ToString();
  EXPECT_EQ(from->create, live->create);
  EXPECT_EQ(from->remove, live->remove);
  EXPECT_EQ(from->fix, live->fix);
  EXPECT_EQ(from->bytes_to_write, live->bytes_to_write);
  // h2 was a hardlink and is a plain file now: the live walk calls that a rewrite, the two
  // snapshots a change of type. Either way it is linked to h1 again.
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  std::vector<std::string> live_all = live->rewrite, from_all = from->rewrite;
  live_all.insert(live_all.end(), live->replace.begin(), live->replace.end());
  from_all.insert(from_all.end(), from->replace.begin(), from->replace.end());
  EXPECT_EQ(sorted(from_all), sorted(live_all));
  EXPECT_NE(std::find(from->rewrite.begin(), from->rewrite.end(), "other/a-link.so"), from->rewrite.end());

  RollbackOptions opts;
  opts.target = src_.string();
  auto r = Rollback(repo_.get(), pre, opts, nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->safety_snapshot_id.empty());
  EXPECT_TRUE(r->verified());
  EXPECT_TRUE(Live(pre).empty());
  EXPECT_EQ(Slurp(src_ / "change.txt"), "old content");
  EXPECT_EQ(Slurp(src_ / "lib" / "a.so"), "library v1");
  EXPECT_TRUE(fs::equivalent(src_ / "lib" / "a.so", src_ / "other" / "a-link.so"));
  EXPECT_TRUE(fs::equivalent(src_ / "h1", src_ / "h2"));
  EXPECT_EQ(Slurp(src_ / "mail" / "new.imap"), "new mail");
  EXPECT_EQ(Slurp(outside_ / "f"), "outside, must stay");
  // The safety snapshot takes the upgraded tree back.
  auto safety = ResolveSnapshot(repo_.get(), r->safety_snapshot_id);
  ASSERT_TRUE(safety.ok());
  opts.safety_snapshot = false;
  auto back = Rollback(repo_.get(), *safety, opts, nullptr, nullptr);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->verified());
  EXPECT_EQ(Slurp(src_ / "lib" / "a.so"), "library v2");
  EXPECT_EQ(Slurp(src_ / "other" / "a-link.so"), "library v2");
  EXPECT_TRUE(fs::is_symlink(src_ / "d"));
}

// The safety snapshot's backup leaves the trees it writes in the rollback's tree cache, so that
// planning does not load them back: each must equal the tree stored in the repository, however
// the directory listed its entries and the file system its xattrs.
TEST_F(RollbackTest, TreesTheSafetySnapshotCachesEqualTheStoredOnes) {
  for (const char* n : {"zeta", "alpha", "Mid", "b-2", "b-10", "\xc3\xa9t\xc3\xa9"}) Put(src_ / "sub" / n, n);
  Put(src_ / "sub" / "deeper" / "x", "x");
  Put(src_ / "top.txt", "top");
  for (const char* x : {"user.zz", "user.aa", "user.mm"}) {
    ASSERT_EQ(::setxattr((src_ / "sub" / "zeta").c_str(), x, x, std::strlen(x), 0), 0) << std::strerror(errno);
  }
  SnapshotRef pre = Backup("pre");
  Put(src_ / "sub" / "alpha", "changed");
  Put(src_ / "sub" / "deeper" / "new", "new");

  TreeCache cache(*repo_);
  BackupOptions bo;
  bo.source = src_.string();
  bo.excludes = pre.snapshot.excludes;
  bo.parent = pre;
  bo.trees = &cache;
  auto now = rw::Backup(repo_.get(), bo, nullptr, nullptr);
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  ASSERT_TRUE(now->snapshot.tree.has_value());
  const size_t cached = cache.size();
  // Every tree of the new snapshot, walked with a fresh cache that loads from the repository.
  TreeCache stored(*repo_);
  std::vector<BlobId> todo{*now->snapshot.tree};
  size_t compared = 0;
  while (!todo.empty()) {
    BlobId id = todo.back();
    todo.pop_back();
    auto want = stored.Get(id);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    auto got = cache.Get(id);
    ASSERT_TRUE(got.ok());
    EXPECT_TRUE((*got)->entries == (*want)->entries) << "tree " << id.Short();
    ++compared;
    for (const TreeEntry& e : (*want)->entries) {
      if (e.subtree) todo.push_back(*e.subtree);
    }
  }
  EXPECT_EQ(compared, 3u);  // the root, sub and sub/deeper
  EXPECT_EQ(cache.size(), cached) << "a tree of the new snapshot was not in the cache";
}

// A backup reuses an unchanged file of its parent only when every blob the parent names for it
// is indexed (looked up for a whole directory at once): after a pack was lost and
// `repair index` dropped its blobs, the file is read again and the new snapshot is whole.
TEST_F(RollbackTest, BackupReadsAgainAnUnchangedFileWhoseBlobsAreGone) {
  Put(src_ / "a.bin", std::string(300000, 'a') + "first pack");
  Put(src_ / "c.txt", "also in the first pack");
  SnapshotRef first = Backup("first");
  Put(src_ / "b.bin", std::string(300000, 'b') + "second pack");
  BackupOptions bo;
  bo.source = src_.string();
  bo.excludes = first.snapshot.excludes;
  bo.tags = {"second"};
  bo.parent = Settled(first);
  auto second = rw::Backup(repo_.get(), bo, nullptr, nullptr);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->files_reused, 2u);  // a.bin and c.txt
  // The first backup's data pack (a.bin's and c.txt's blobs) is lost; the index is rebuilt.
  TreeCache first_trees(*repo_);
  auto first_root = first_trees.Get(first.snapshot.tree.value());
  ASSERT_TRUE(first_root.ok());
  ASSERT_EQ((*first_root)->entries.front().name, "a.bin");
  auto loc = repo_->Find((*first_root)->entries.front().content.at(0));
  ASSERT_TRUE(loc.has_value());
  ASSERT_TRUE(fs::remove(dir_ / "repo" / PackPath(loc->pack)));
  // Before the repair, the index still names the lost pack: a backup refuses instead of taking
  // its blobs as stored (its snapshot could not be restored), and saves nothing.
  {
    const size_t before = LoadSnapshots(repo_.get())->size();
    BackupOptions stale = bo;
    stale.tags = {"stale"};
    auto refused = rw::Backup(repo_.get(), stale, nullptr, nullptr);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), Code::kCorruption) << refused.status().ToString();
    EXPECT_NE(refused.status().message().find(loc->pack.Hex()), std::string::npos) << refused.status().ToString();
    EXPECT_NE(refused.status().message().find("repair index"), std::string::npos) << refused.status().ToString();
    EXPECT_EQ(LoadSnapshots(repo_.get())->size(), before);
  }
  ASSERT_TRUE(RepairIndex(repo_.get()).ok());
  auto reopened = Repository::Open((dir_ / "repo").string());
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  repo_ = std::move(*reopened);
  auto parent = ResolveSnapshot(repo_.get(), "second");
  ASSERT_TRUE(parent.ok());
  ASSERT_FALSE(CheckSnapshotWhole(repo_.get(), parent->snapshot).ok());

  bo.tags = {"third"};
  bo.parent = Settled(*parent);
  auto third = rw::Backup(repo_.get(), bo, nullptr, nullptr);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(third->files_reused, 1u);  // b.bin only: a.bin and c.txt were read again
  auto ref = ResolveSnapshot(repo_.get(), "third");
  ASSERT_TRUE(ref.ok());
  EXPECT_TRUE(CheckSnapshotWhole(repo_.get(), ref->snapshot).ok());
  Put(src_ / "a.bin", "overwritten");
  ASSERT_NO_FATAL_FAILURE(RollBackWithoutSafetySnapshot(*ref));
  EXPECT_EQ(Slurp(src_ / "a.bin"), std::string(300000, 'a') + "first pack");
}

// With the blobs checked before (a fresh rollback), the writer checks the whole file's XXH3-128
// instead of each blob's SHA-256: content that does not match the tree never gets the name.
TEST_F(RollbackTest, WriterWithCheckedBlobsRefusesContentThatDoesNotMatchTheTree) {
  Put(src_ / "conf.ini", std::string(200000, 'c') + "config v1");
  SnapshotRef pre = Backup("pre");
  TreeCache cache(*repo_);
  auto root = cache.Get(*pre.snapshot.tree);
  ASSERT_TRUE(root.ok());
  TreeEntry e = (*root)->entries.front();
  ASSERT_EQ(e.name, "conf.ini");
  ASSERT_TRUE(e.xxh128.has_value());
  Put(src_ / "conf.ini", "config v2");

  int dfd = ::open(src_.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dfd, 0);
  restore_internal::FileWriter writer(repo_.get());
  writer.set_blobs_checked(true);
  RestoreProgress progress;
  TreeEntry wrong = e;
  wrong.xxh128->low ^= 1;  // what a pack changed since the check would give
  Status st = writer.Write(dfd, wrong, &progress);
  EXPECT_EQ(st.code(), Code::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("XXH3-128"), std::string::npos) << st.ToString();
  EXPECT_EQ(Slurp(src_ / "conf.ini"), "config v2");  // the live file is untouched
  size_t names = 0;
  for (const auto& d : fs::directory_iterator(src_)) names += d.path().filename() != "mail" ? 1 : 0;
  EXPECT_EQ(names, 1u) << "a temporary was left beside the file";
  // The right entry goes into place.
  ASSERT_TRUE(writer.Write(dfd, e, &progress).ok());
  EXPECT_EQ(Slurp(src_ / "conf.ini"), std::string(200000, 'c') + "config v1");
  ::close(dfd);
}

// The files the rollback rewrites are written, unnamed, while their blobs are read and checked:
// a blob shared by two files, a blob repeated within a file (a long zero run, left as holes), an
// empty file, and a file whose directory the upgrade replaced (written by the apply instead).
TEST_F(RollbackTest, FilesWrittenWhileTheDataIsCheckedAreExactAndSparse) {
  std::string random(3 << 20, '\0');
  std::mt19937_64 gen(7);
  for (size_t i = 0; i + 8 <= random.size(); i += 8) {
    uint64_t v = gen();
    std::memcpy(random.data() + i, &v, 8);
  }
  const std::string zeros = std::string(24 << 20, '\0') + "tail";
  Put(src_ / "a.bin", random);
  Put(src_ / "sub" / "b.bin", random);
  Put(src_ / "sub" / "zeros.img", zeros);
  Put(src_ / "sub" / "empty", "");
  Put(src_ / "d" / "f", "inside d");
  SnapshotRef pre = Backup("pre");
  Put(src_ / "a.bin", "upgraded");
  Put(src_ / "sub" / "b.bin", random.substr(0, 100) + "x");
  Put(src_ / "sub" / "zeros.img", "new");
  Put(src_ / "sub" / "empty", "no longer empty");
  fs::remove_all(src_ / "d");
  Put(src_ / "d", "d is a file now");

  RollbackOptions opts;
  opts.target = src_.string();
  auto r = Rollback(repo_.get(), pre, opts, nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->verified());
  EXPECT_EQ(r->files_written_before_apply, 4u);  // d/f waits for its directory
  EXPECT_EQ(Slurp(src_ / "a.bin"), random);
  EXPECT_EQ(Slurp(src_ / "sub" / "b.bin"), random);
  EXPECT_EQ(Slurp(src_ / "sub" / "zeros.img"), zeros);
  EXPECT_EQ(Slurp(src_ / "sub" / "empty"), "");
  EXPECT_EQ(Slurp(src_ / "d" / "f"), "inside d");
  struct stat st{};
  ASSERT_EQ(::stat((src_ / "sub" / "zeros.img").c_str(), &st), 0);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, uint64_t{1} << 20) << "the zero run was written, not left as holes";
  EXPECT_TRUE(Live(pre).empty());
  for (const auto& e : fs::recursive_directory_iterator(src_)) {
    EXPECT_EQ(e.path().filename().string().rfind(".rewind-", 0), std::string::npos) << e.path();
  }
}

// What the old content of a rewritten file shares with the file there now (the same chunks,
// found by the safety snapshot) is copied from that file, at whatever offset it now has there,
// not read from the repository; a file changed again after the safety snapshot read it has all
// of its data read from the repository. Either way the file is exact.
TEST_F(RollbackTest, ChunksTheUpgradeLeftAreCopiedFromTheFileThere) {
  auto random = [](size_t n, uint64_t seed) {
    std::string s(n, '\0');
    std::mt19937_64 gen(seed);
    for (size_t i = 0; i + 8 <= n; i += 8) {
      uint64_t v = gen();
      std::memcpy(s.data() + i, &v, 8);
    }
    return s;
  };
  const std::string big = random(6 << 20, 1), shifted = random(6 << 20, 2), touched = random(6 << 20, 3);
  Put(src_ / "config" / "big.db", big);
  Put(src_ / "config" / "shifted.db", shifted);
  Put(src_ / "touched.db", touched);
  SnapshotRef pre = Backup("pre");
  // The upgrade: a page at the start rewritten in place; bytes inserted at the start (every
  // chunk that is left now sits at another offset); the third changed the same way as the first.
  Put(src_ / "config" / "big.db", std::string(4096, 'u') + big.substr(4096));
  Put(src_ / "config" / "shifted.db", "inserted by the upgrade" + shifted);
  Put(src_ / "touched.db", std::string(4096, 'u') + touched.substr(4096));

  RollbackOptions opts;
  opts.target = src_.string();
  // After the safety snapshot read touched.db, it changes again (same size, other times).
  opts.before_data_check = [&] { Put(src_ / "touched.db", std::string(touched.size(), 'x')); };
  auto r = Rollback(repo_.get(), pre, opts, nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->verified());
  EXPECT_EQ(r->files_written_before_apply, 3u);
  EXPECT_TRUE(Slurp(src_ / "config" / "big.db") == big) << "config/big.db differs";
  EXPECT_TRUE(Slurp(src_ / "config" / "shifted.db") == shifted) << "config/shifted.db differs";
  EXPECT_TRUE(Slurp(src_ / "touched.db") == touched) << "touched.db differs";
  // With chunks of 0.5 to 8 MiB, each of the first two keeps at least its last chunk; the
  // changed start of each, and all of touched.db, come from the repository.
  EXPECT_GE(r->bytes_copied_from_target, uint64_t{2} << 19);
  EXPECT_LT(r->bytes_copied_from_target, uint64_t{12} << 20);
  EXPECT_TRUE(Live(pre).empty());

  // Without a safety snapshot the plan compares the tree with the live files, which gives no
  // chunks to copy: everything is read from the repository.
  Put(src_ / "config" / "big.db", std::string(4096, 'v') + big.substr(4096));
  opts.before_data_check = nullptr;
  opts.safety_snapshot = false;
  r = Rollback(repo_.get(), pre, opts, nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->verified());
  EXPECT_EQ(r->bytes_copied_from_target, 0u);
  EXPECT_TRUE(Slurp(src_ / "config" / "big.db") == big) << "config/big.db differs";
}

// The safety snapshot tells the rollback which files it reads again (so that their old data
// can be fetched meanwhile): the parent's entry of each file that changed by its stat, and of
// no other.
TEST_F(RollbackTest, BackupNamesTheParentEntriesOfFilesItReadsAgain) {
  MakeInstallation();
  SnapshotRef pre = Backup("pre");
  Upgrade();
  BackupOptions bo;
  bo.source = src_.string();
  bo.excludes = {"/mail/"};
  bo.parent = pre;
  std::vector<std::string> names;
  bo.on_parent_file_changed = [&](const TreeEntry& e) {
    names.push_back(e.name);
    EXPECT_EQ(e.type, EntryType::kFile);
  };
  auto r = rw::Backup(repo_.get(), bo, nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::sort(names.begin(), names.end());
  // change.txt rewritten, keep.txt chmod-ed (ctime), h1 replaced; h2 was a hardlink entry in
  // the snapshot, new.txt is new, d/f and gone.txt are gone, mail/ is excluded.
  EXPECT_EQ(names, (std::vector<std::string>{"change.txt", "h1", "keep.txt"}));
}

// A file with two names is recorded once, under the first name the scan meets; the other
// links to it. When that first name is replaced by another file (an atomic save) or deleted
// after the scan has seen it, the other name keeps its own content: it is read itself. Small
// and large (chunked by the scan) files alike. The hook the safety snapshot uses runs between
// the scan of a changed file and its read: the race is made there.
TEST_F(RollbackTest, AHardlinkKeepsItsContentWhenItsFirstNameIsReplacedOrDeletedDuringTheBackup) {
  const std::string large(3 * format::kChunkMax + 12345, 'L');
  int round = 0;
  for (const char* what : {"replaced", "deleted"}) {
    for (bool big : {false, true}) {
      SCOPED_TRACE(std::string(what) + (big ? ", large" : ", small"));
      fs::remove_all(src_);
      const std::string v1 = big ? large + "1" : "v1", v2 = big ? large + "2" : "v2 shared by both names";
      Put(src_ / "a.cfg", v1);
      ASSERT_EQ(::link((src_ / "a.cfg").c_str(), (src_ / "b.cfg").c_str()), 0);
      SnapshotRef pre = Backup("links" + std::to_string(++round));
      { std::ofstream(src_ / "a.cfg", std::ios::binary | std::ios::trunc) << v2; }  // both names
      BackupOptions bo;
      bo.source = src_.string();
      bo.excludes = {"/mail/"};
      bo.tags = {"raced" + std::to_string(round)};
      bo.parent = pre;
      bool raced = false;
      bo.on_parent_file_changed = [&](const TreeEntry& e) {
        if (e.name != "a.cfg" || raced) return;
        raced = true;
        if (std::string(what) == "replaced") {
          Put(src_ / "a.cfg.tmp", "saved over the first name");
          fs::rename(src_ / "a.cfg.tmp", src_ / "a.cfg");
        } else {
          fs::remove(src_ / "a.cfg");
        }
      };
      auto r = rw::Backup(repo_.get(), bo, nullptr, nullptr);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_TRUE(raced);
      RestoreOptions ro;
      ro.target = (dir_ / ("restored" + std::to_string(round))).string();
      auto restored = RestoreToDirectory(repo_.get(), r->snapshot, ro, nullptr, nullptr);
      ASSERT_TRUE(restored.ok()) << restored.status().ToString();
      const fs::path out = ro.target;
      EXPECT_TRUE(Slurp(out / "b.cfg") == v2) << "b.cfg restored with " << Slurp(out / "b.cfg").substr(0, 40);
      if (std::string(what) == "replaced") {
        EXPECT_EQ(Slurp(out / "a.cfg"), "saved over the first name");
      }
    }
  }
}

// "Racily clean": a file rewritten in place with the same size within the timestamp tick of
// the backup's read of it keeps the stat the snapshot recorded (1-4 ms ticks before Linux 6.13,
// a second on file systems with whole-second times). That state cannot be made on demand here:
// the snapshot is made to hold it, a copy of a real backup whose entry for the file records the
// stat of its later content (its tree stored as any tree, and the snapshot's start just before).
// Neither parent reuse nor the rollback's plan may take the file as unchanged on its stat.
TEST_F(RollbackTest, AFileRewrittenWithinTheTickOfItsReadIsNotTakenAsUnchanged) {
  const fs::path file = src_ / "config" / "settings.cfg";
  Put(file, "v1 as backed up");
  const SnapshotRef real = Backup("racy");
  // v2 (the same size) written now, and the snapshot as a backup that read v1 in the tick of
  // this write would have recorded it.
  auto racy_state = [&]() -> SnapshotRef {
    Put(file, "v2 after a read");
    struct stat st{};
    EXPECT_EQ(::stat(file.c_str(), &st), 0);
    const int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    const int64_t ctime = static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
    TreeCache trees(*repo_);
    auto root = trees.Get(*real.snapshot.tree);
    EXPECT_TRUE(root.ok()) << root.status().ToString();
    Tree root_tree = **root;
    BlobSink sink(repo_.get());
    auto store = [&](const Tree& t) {
      const std::string doc = EncodeTree(t);
      const BlobId id = Sha256(doc);
      EXPECT_TRUE(sink.Add(BlobType::kTree, id, CompressBlob(doc, 1), static_cast<uint32_t>(doc.size())).ok());
      return id;
    };
    for (TreeEntry& dir : root_tree.entries) {
      if (dir.name != "config") continue;
      Tree config_tree = **trees.Get(*dir.subtree);
      TreeEntry& f = config_tree.entries.at(0);
      f.mtime_ns = mtime;
      f.ctime_ns = ctime;
      f.inode = static_cast<uint64_t>(st.st_ino);
      EXPECT_EQ(f.size, static_cast<uint64_t>(st.st_size));
      dir.subtree = store(config_tree);
    }
    SnapshotRef racy = real;
    racy.snapshot.tree = store(root_tree);
    EXPECT_TRUE(sink.Commit().ok());
    racy.snapshot.time_ns = ctime + 1'000'000;  // started 0.5 ms before, ended 1 ms after
    racy.snapshot.stats.duration_s = 0.0015;
    return racy;
  };
  // A backup with it as parent reads the file again, and records v2.
  BackupOptions bo;
  bo.source = src_.string();
  bo.excludes = {"/mail/"};
  bo.parent = racy_state();
  auto next = rw::Backup(repo_.get(), bo, nullptr, nullptr);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  RestoreOptions ro;
  ro.target = (dir_ / "restored").string();
  ASSERT_TRUE(RestoreToDirectory(repo_.get(), next->snapshot, ro, nullptr, nullptr).ok());
  EXPECT_EQ(Slurp(dir_ / "restored" / "config" / "settings.cfg"), "v2 after a read")
      << "the backup reused the parent's entry on its stat";
  // A rollback to it puts v1 back, planned from the live tree or from the safety snapshot.
  for (bool safety : {false, true}) {
    SCOPED_TRACE(safety ? "safety snapshot" : "live plan");
    auto r = Rollback(repo_.get(), racy_state(), OptionsFor(safety, /*dry_run=*/false), nullptr, nullptr);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(Slurp(file), "v1 as backed up");
  }
}

// What a backup reports, by path.
class RecordingObserver : public BackupObserver {
 public:
  void OnError(const std::string& path, const Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    errors[path] = status.ToString();
  }
  void OnNote(const std::string& path, const std::string& note) override {
    std::lock_guard<std::mutex> lock(mu_);
    notes[path].push_back(note);
  }
  std::map<std::string, std::string> errors;
  std::map<std::string, std::vector<std::string>> notes;

 private:
  std::mutex mu_;
};

// A directory that can be listed but not searched (mode 0444 for the user running the backup):
// the names of its entries are known, their lstat fails with EACCES. Only ENOENT means an entry
// vanished; this one is unread, and the snapshot must say so (incomplete, listed in `unread`),
// or a rollback would take it for new and delete it. As root, the scan runs on a thread whose
// file-system uid is nobody's: setfsuid drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from
// that thread alone, and one TBB thread (this one) runs the whole pipeline.
TEST_F(RollbackTest, EntriesThatCannotBeStattedAreUnreadNotVanished) {
  constexpr uid_t kNobody = 65534;
  Put(src_ / "readable.txt", "readable");
  Put(src_ / "locked" / "inner.txt", "cannot be stat-ed");
  ASSERT_EQ(::chmod((src_ / "locked").c_str(), 0444), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  const bool root = ::geteuid() == 0;
  if (root) {
    ASSERT_EQ(::lchown((dir_ / "repo").c_str(), kNobody, kNobody), 0);
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "repo")) {
      ASSERT_EQ(::lchown(e.path().c_str(), kNobody, kNobody), 0) << e.path();
    }
  }
  BackupOptions bo;
  bo.source = src_.string();
  bo.tags = {"unread"};
  RecordingObserver obs;
  Result<BackupResult> r = Status::Aborted("not run");
  {
    tbb::global_control one_thread(tbb::global_control::max_allowed_parallelism, 1);
    std::thread scan([&] {
      if (root) {
        ::setfsgid(kNobody);
        ::setfsuid(kNobody);
        ASSERT_EQ(::setfsuid(static_cast<uid_t>(-1)), kNobody);  // -1 changes nothing, tells the fsuid
      }
      struct stat st {};
      ASSERT_NE(::lstat((src_ / "locked" / "inner.txt").c_str(), &st), 0);
      ASSERT_EQ(errno, EACCES) << "the fixture must make lstat fail with EACCES";
      r = rw::Backup(repo_.get(), bo, &obs, nullptr);
    });
    scan.join();
  }
  ASSERT_EQ(::chmod((src_ / "locked").c_str(), 0755), 0);  // for TearDown, when not root
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->snapshot.incomplete);
  EXPECT_EQ(r->snapshot.unread, (std::vector<std::string>{"locked/inner.txt"}));
  EXPECT_EQ(r->snapshot.stats.errors, 1u);
  ASSERT_EQ(obs.errors.count("locked/inner.txt"), 1u);
  EXPECT_NE(obs.errors["locked/inner.txt"].find("Permission denied"), std::string::npos)
      << obs.errors["locked/inner.txt"];
  for (const auto& [path, notes] : obs.notes) {
    for (const std::string& n : notes) EXPECT_EQ(n.find("vanished"), std::string::npos) << path << ": " << n;
  }
  // The rest is in the tree: the directory itself and the readable file.
  TreeCache trees(*repo_);
  auto root_tree = trees.Get(*r->snapshot.tree);
  ASSERT_TRUE(root_tree.ok()) << root_tree.status().ToString();
  std::vector<std::string> names;
  for (const TreeEntry& e : (*root_tree)->entries) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"locked", "readable.txt"}));
}

// A file replaced by a FIFO after the scan's stat and before it is opened, which no writer
// ever opens: an open without O_NONBLOCK waited for a writer forever. Both a large file (read
// by the scanner) and a small one (read by the parallel stage) must be refused as no longer
// regular files, and the backup finish. The parent's entry of each changed file is announced
// from the scanning thread between the stat and the open: there the FIFOs take their place.
TEST_F(RollbackTest, AFileReplacedByAFifoBeforeItIsReadIsRefusedNotWaitedFor) {
  Put(src_ / "big.bin", std::string(9 << 20, 'b'));  // above the 8 MiB chunk maximum: a large file
  Put(src_ / "small.txt", "small");
  SnapshotRef pre = Backup("pre");
  Put(src_ / "big.bin", std::string(9 << 20, 'B') + "changed");
  Put(src_ / "small.txt", "small, changed");
  BackupOptions bo;
  bo.source = src_.string();
  bo.excludes = pre.snapshot.excludes;
  bo.tags = {"fifo"};
  bo.parent = pre;
  bo.on_parent_file_changed = [&](const TreeEntry& e) {
    const fs::path p = src_ / e.name;
    ASSERT_TRUE(fs::remove(p)) << p;
    ASSERT_EQ(::mkfifo(p.c_str(), 0644), 0) << p << ": " << std::strerror(errno);
  };
  RecordingObserver obs;
  auto backup = std::async(std::launch::async, [&] { return rw::Backup(repo_.get(), bo, &obs, nullptr); });
  if (backup.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "the backup still waits for a writer of a FIFO after 10 s";
    // Be that writer: the open waiting for one returns, and its reads see the end at once.
    while (backup.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
      for (const char* name : {"big.bin", "small.txt"}) {
        int fd = ::open((src_ / name).c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) ::close(fd);
      }
    }
  }
  auto r = backup.get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->snapshot.incomplete);
  EXPECT_EQ(r->snapshot.unread, (std::vector<std::string>{"big.bin", "small.txt"}));
  for (const char* name : {"big.bin", "small.txt"}) {
    ASSERT_EQ(obs.errors.count(name), 1u) << name << " was not refused";
    EXPECT_NE(obs.errors[name].find(std::string(name) + " is no longer a regular file"), std::string::npos)
        << obs.errors[name];
  }
}

// A large file's xattrs that cannot be read are reported as a note, as a small file's are; the
// file is kept, without them. A real failure: more than 64 KiB of attribute names (tmpfs holds
// them) makes listxattr fail with E2BIG. The source is on /dev/shm for that; the test's
// directory in /tmp (ext4 on CI) holds about 4 KiB of xattrs per inode.
TEST_F(RollbackTest, AnUnreadableXattrListOfALargeFileIsANote) {
  char tmpl[] = "/dev/shm/rewind-rollback-test.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr) << std::strerror(errno);
  const fs::path src = tmpl;
  struct RemoveAtEnd {
    fs::path p;
    ~RemoveAtEnd() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } remove_at_end{src};
  Put(src / "big.bin", std::string(9 << 20, 'b'));  // above the 8 MiB chunk maximum: a large file
  Put(src / "small.txt", "small");
  for (const char* name : {"big.bin", "small.txt"}) {
    const fs::path p = src / name;
    for (int i = 0; i < 300; ++i) {  // 300 names of 250 bytes: 75 000 bytes of list
      std::string x = "user." + std::to_string(1000 + i) + std::string(241, 'x');
      ASSERT_EQ(::setxattr(p.c_str(), x.c_str(), "v", 1, 0), 0) << p << ": " << std::strerror(errno);
    }
  }
  BackupOptions bo;
  bo.source = src.string();
  bo.tags = {"xattrs"};
  RecordingObserver obs;
  auto r = rw::Backup(repo_.get(), bo, &obs, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->snapshot.incomplete);
  EXPECT_TRUE(obs.errors.empty());
  for (const char* name : {"small.txt", "big.bin"}) {
    ASSERT_EQ(obs.notes[name].size(), 1u) << name << ": no note (or more than one)";
    EXPECT_NE(obs.notes[name][0].find("list extended attributes"), std::string::npos) << obs.notes[name][0];
  }
  TreeCache trees(*repo_);
  auto root_tree = trees.Get(*r->snapshot.tree);
  ASSERT_TRUE(root_tree.ok()) << root_tree.status().ToString();
  ASSERT_EQ((*root_tree)->entries.size(), 2u);
  EXPECT_EQ((*root_tree)->entries[0].name, "big.bin");
  EXPECT_EQ((*root_tree)->entries[0].size, uint64_t{9} << 20);
}

// An excluded directory keeps its own xattrs (docs/format.md: xattrs belong to every entry
// type; restore creates it, empty, with its metadata), read without listing it.
TEST_F(RollbackTest, AnExcludedDirectoryKeepsItsOwnXattrs) {
  Put(src_ / "mail" / "old.imap", "mail");
  const char* value = "excluded but labelled";
  ASSERT_EQ(::setxattr((src_ / "mail").c_str(), "user.label", value, std::strlen(value), 0), 0)
      << std::strerror(errno);
  SnapshotRef s = Backup("excluded");  // excludes /mail/
  TreeCache trees(*repo_);
  auto root_tree = trees.Get(*s.snapshot.tree);
  ASSERT_TRUE(root_tree.ok()) << root_tree.status().ToString();
  ASSERT_EQ((*root_tree)->entries.size(), 1u);
  const TreeEntry& mail = (*root_tree)->entries[0];
  EXPECT_EQ(mail.type, EntryType::kExcludedDir);
  EXPECT_EQ(mail.xattrs, (std::vector<Xattr>{{"user.label", value}}));
  EXPECT_FALSE(mail.subtree.has_value());
  // A restore creates it empty, with them.
  RestoreOptions ro;
  ro.target = (dir_ / "restored").string();
  auto restored = RestoreToDirectory(repo_.get(), s.snapshot, ro, nullptr, nullptr);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_TRUE(fs::is_empty(dir_ / "restored" / "mail"));
  char buf[64] = {};
  ssize_t n = ::getxattr((dir_ / "restored" / "mail").c_str(), "user.label", buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), value) << std::strerror(errno);
}

// A snapshot whose exclusion rules do not parse (a damaged one: rewind writes rules it parsed)
// is refused before anything changes: the running check could not tell which open files matter.
TEST_F(RollbackTest, UnparsableExclusionRulesAreRefused) {
  MakeInstallation();
  SnapshotRef pre = Backup("pre");
  Upgrade();
  const std::string before = Slurp(src_ / "change.txt");
  SnapshotRef damaged = pre;
  damaged.snapshot.excludes.push_back("/logs/[");
  RollbackOptions opts;
  opts.target = src_.string();
  auto r = Rollback(repo_.get(), damaged, opts, nullptr, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("exclusion rules"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(Slurp(src_ / "change.txt"), before);
}

TEST_F(RollbackTest, ResumeAfterEveryPrefixReachesTheSameState) {
  for (int i = 0; i < 30; ++i) Put(src_ / ("f" + std::to_string(i)), "v1 " + std::to_string(i));
  Put(src_ / "sub" / "a", "a");
  SnapshotRef pre = Backup("pre");
  int fd = ::open(src_.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  auto mutate = [&] {
    for (int i = 0; i < 30; i += 2) Put(src_ / ("f" + std::to_string(i)), "v2 changed " + std::to_string(i));
    fs::remove_all(src_ / "sub");
    Put(src_ / "sub", "a file now");
    Put(src_ / "extra" / "e", "e");
  };
  mutate();
  auto plan = PlanRollback(*repo_, pre.snapshot, fd);
  ASSERT_TRUE(plan.ok());
  const size_t n = plan->steps.size();
  ASSERT_GT(n, 15u);
  // A process that died after applying the first m steps, whose last checkpoint said k <= m:
  // the first m steps are applied (by resuming a journal of just those), then the whole plan is
  // journaled with progress k and resumed. Steps k..m run twice: each must be idempotent.
  auto journal = [&](const std::vector<RollbackStep>& steps, size_t progress) {
    RollbackJournal j;
    j.snapshot_id = pre.id;
    j.target = src_.string();
    j.steps = steps;
    ASSERT_TRUE(repo_->storage().WriteFileAtomic("rollback/test.journal", EncodeRollbackJournal(j)).ok());
    ASSERT_TRUE(repo_->storage().WriteFileAtomic("rollback/test.progress", std::to_string(progress) + "\n").ok());
  };
  std::vector<std::pair<size_t, size_t>> cases = {{0, 0}, {0, 1}, {1, 5}, {n / 3, n / 2}, {n / 2, n - 1},
                                                  {n - 1, n}, {n, n}, {0, n}};
  for (auto [k, m] : cases) {
    journal(std::vector<RollbackStep>(plan->steps.begin(), plan->steps.begin() + static_cast<long>(m)), 0);
    auto partial = ResumeRollback(repo_.get(), "", RollbackOptions{}, nullptr, nullptr);
    ASSERT_TRUE(partial.ok()) << partial.status().ToString();
    EXPECT_EQ(partial->verified(), m == n) << "k=" << k << " m=" << m;
    journal(plan->steps, k);
    auto r = ResumeRollback(repo_.get(), "", RollbackOptions{}, nullptr, nullptr);
    ASSERT_TRUE(r.ok()) << "k=" << k << " m=" << m << ": " << r.status().ToString();
    EXPECT_TRUE(r->verified()) << "k=" << k << " m=" << m;
    EXPECT_EQ(r->steps_applied, n - k);
    EXPECT_FALSE(repo_->storage().Exists("rollback/test.journal"));
    EXPECT_EQ(Slurp(src_ / "f0"), "v1 0");
    EXPECT_EQ(Slurp(src_ / "sub" / "a"), "a");
    EXPECT_FALSE(fs::exists(src_ / "extra"));
    mutate();  // back to the upgraded state for the next case
  }
  ::close(fd);
}

TEST_F(RollbackTest, RefusesARepositoryInsideTheTarget) {
  Put(src_ / "a", "a");
  SnapshotRef pre = Backup("pre");
  RollbackOptions opts;
  opts.target = dir_.string();  // holds repo/
  opts.safety_snapshot = false;
  auto r = Rollback(repo_.get(), pre, opts, nullptr, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("inside the target"), std::string::npos) << r.status().ToString();
  EXPECT_TRUE(fs::exists(dir_ / "repo" / "config"));
  EXPECT_TRUE(fs::exists(outside_ / "f"));
}

TEST_F(RollbackTest, PendingJournalBlocksANewRollback) {
  Put(src_ / "a", "a");
  SnapshotRef pre = Backup("pre");
  RollbackJournal j;
  j.snapshot_id = pre.id;
  j.target = src_.string();
  ASSERT_TRUE(repo_->storage().WriteFileAtomic("rollback/x.journal", EncodeRollbackJournal(j)).ok());
  RollbackOptions opts;
  auto r = Rollback(repo_.get(), pre, opts, nullptr, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--resume"), std::string::npos) << r.status().ToString();
  // A dry run still works and changes nothing.
  opts.dry_run = true;
  EXPECT_TRUE(Rollback(repo_.get(), pre, opts, nullptr, nullptr).ok());
}

// `latest` for a rollback is the newest snapshot that is not a safety snapshot: a rollback to
// `latest` run twice rolls back to the same snapshot, not to the first run's safety snapshot
// (which would put the upgrade back). Ids and the tag still name the safety snapshot.
TEST_F(RollbackTest, LatestForRollbackSkipsSafetySnapshots) {
  Put(src_ / "conf", "before the upgrade");
  SnapshotRef pre = Backup("pre");
  Put(src_ / "conf", "upgraded");
  RollbackOptions opts;
  opts.target = src_.string();
  auto first = Rollback(repo_.get(), pre, opts, nullptr, nullptr);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_FALSE(first->safety_snapshot_id.empty());
  EXPECT_EQ(Slurp(src_ / "conf"), "before the upgrade");
  auto plain = ResolveSnapshot(repo_.get(), "latest");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->id, first->safety_snapshot_id);  // everywhere else, latest is the newest
  auto for_rollback = ResolveSnapshot(repo_.get(), "latest", /*latest_skips_safety=*/true);
  ASSERT_TRUE(for_rollback.ok()) << for_rollback.status().ToString();
  EXPECT_EQ(for_rollback->id, pre.id);
  auto tagged = ResolveSnapshot(repo_.get(), kSafetyTag, /*latest_skips_safety=*/true);
  ASSERT_TRUE(tagged.ok());
  EXPECT_EQ(tagged->id, first->safety_snapshot_id);
  // The second rollback to `latest` changes nothing.
  auto second = Rollback(repo_.get(), *for_rollback, opts, nullptr, nullptr);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(Slurp(src_ / "conf"), "before the upgrade");
}

// With snapshots of two sources (the installation and /etc/icewarp), "latest" for a rollback
// would be whichever was taken last: refused, naming both sources; tags still resolve.
TEST_F(RollbackTest, LatestForRollbackIsAmbiguousWithTwoSources) {
  Put(src_ / "conf", "installation");
  SnapshotRef pre = Backup("pre");
  const fs::path etc = dir_ / "etc";
  Put(etc / "icewarp.conf", "IWS_VERSION=13");
  BackupOptions bo;
  bo.source = etc.string();
  bo.tags = {"pre-etc"};
  ASSERT_TRUE(rw::Backup(repo_.get(), bo, nullptr, nullptr).ok());
  auto latest = ResolveSnapshot(repo_.get(), "latest", /*latest_skips_safety=*/true);
  ASSERT_FALSE(latest.ok());
  EXPECT_EQ(latest.status().code(), Code::kInvalidArgument);
  EXPECT_NE(latest.status().message().find("ambiguous"), std::string::npos) << latest.status().ToString();
  EXPECT_NE(latest.status().message().find(src_.string()), std::string::npos) << latest.status().ToString();
  EXPECT_NE(latest.status().message().find(etc.string()), std::string::npos) << latest.status().ToString();
  // Everywhere else, latest is still the newest; tags name each.
  EXPECT_TRUE(ResolveSnapshot(repo_.get(), "latest").ok());
  auto by_tag = ResolveSnapshot(repo_.get(), "pre", /*latest_skips_safety=*/true);
  ASSERT_TRUE(by_tag.ok());
  EXPECT_EQ(by_tag->id, pre.id);
}

// A --target that does not exist is refused (a typo), with nothing created and no safety
// snapshot taken; the snapshot's own source is created again when it is gone.
TEST_F(RollbackTest, MissingTargetIsRefusedUnlessItIsTheRecordedSource) {
  Put(src_ / "a", "a");
  SnapshotRef pre = Backup("pre");
  const size_t snapshots_before = LoadSnapshots(repo_.get())->size();
  RollbackOptions opts;
  opts.target = (dir_ / "no-such-dir").string();
  auto r = Rollback(repo_.get(), pre, opts, nullptr, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
  EXPECT_NE(r.status().message().find("does not exist"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("restore --target"), std::string::npos) << r.status().ToString();
  EXPECT_FALSE(fs::exists(dir_ / "no-such-dir"));
  EXPECT_EQ(LoadSnapshots(repo_.get())->size(), snapshots_before);
  opts.target = (src_ / "a").string();  // a file
  r = Rollback(repo_.get(), pre, opts, nullptr, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a directory"), std::string::npos) << r.status().ToString();
  // The recorded source, removed: created again.
  fs::remove_all(src_);
  opts.target.clear();
  r = Rollback(repo_.get(), pre, opts, nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Slurp(src_ / "a"), "a");
}

// One damaged snapshot document does not block the others: it is left out of the list (with
// its path), an intact snapshot named by id is found and restored, "latest" and tags say why they
// cannot be resolved, naming the damaged one by id says it is damaged, and a backup still runs.
TEST_F(RollbackTest, ADamagedSnapshotDocumentIsLeftOutNotBlocking) {
  Put(src_ / "a", "one");
  SnapshotRef older = Backup("older");
  Put(src_ / "a", "two");
  SnapshotRef newer = Backup("newer");
  const fs::path doc = dir_ / "repo" / "snapshots" / newer.id;
  fs::resize_file(doc, fs::file_size(doc) / 2);
  EXPECT_FALSE(LoadSnapshots(repo_.get()).ok());  // strict without a list for the damaged
  std::vector<DamagedSnapshot> damaged;
  auto all = LoadSnapshots(repo_.get(), &damaged);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().id, older.id);
  ASSERT_EQ(damaged.size(), 1u);
  EXPECT_EQ(damaged[0].id, newer.id);
  EXPECT_NE(damaged[0].status.message().find(doc.string()), std::string::npos) << damaged[0].status.ToString();
  auto by_id = ResolveSnapshot(repo_.get(), older.id.substr(0, 12));
  ASSERT_TRUE(by_id.ok()) << by_id.status().ToString();
  for (const std::string spec : {"latest", "older"}) {
    auto r = ResolveSnapshot(repo_.get(), spec);
    ASSERT_FALSE(r.ok()) << spec;
    EXPECT_EQ(r.status().code(), Code::kCorruption);
    EXPECT_NE(r.status().message().find(doc.string()), std::string::npos) << r.status().ToString();
    EXPECT_NE(r.status().message().find("by its id"), std::string::npos) << r.status().ToString();
  }
  auto named = ResolveSnapshot(repo_.get(), newer.id.substr(0, 12));
  ASSERT_FALSE(named.ok());
  EXPECT_NE(named.status().message().find("damaged"), std::string::npos) << named.status().ToString();
  // The intact snapshot still rolls back, and a backup still runs.
  ASSERT_NO_FATAL_FAILURE(RollBackWithoutSafetySnapshot(*by_id));
  EXPECT_EQ(Slurp(src_ / "a"), "one");
  BackupOptions bo;
  bo.source = src_.string();
  auto again = rw::Backup(repo_.get(), bo, nullptr, nullptr);
  EXPECT_TRUE(again.ok()) << again.status().ToString();
}

// A repository inside the source is left out of the backup (its folder's own entry is kept,
// as for every excluded folder), and the rule is recorded in the snapshot.
TEST_F(RollbackTest, ARepositoryInsideTheSourceIsLeftOut) {
  Put(src_ / "conf", "c");
  const fs::path inner = src_ / "backups" / "my repo";
  fs::create_directories(inner.parent_path());
  auto init = Repository::Init(inner.string());
  ASSERT_TRUE(init.ok()) << init.ToString();
  auto opened = Repository::Open(inner.string());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto repo = std::move(*opened);
  for (int i = 0; i < 2; ++i) {  // twice: the first backup's packs must not go into the second
    BackupOptions bo;
    bo.source = src_.string();
    auto r = rw::Backup(repo.get(), bo, nullptr, nullptr);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const auto& ex = r->snapshot.excludes;
    EXPECT_NE(std::find(ex.begin(), ex.end(), "/backups/my\\ repo/"), ex.end());
    std::vector<std::string> paths;
    ASSERT_TRUE(WalkTree(*repo, r->snapshot.tree.value(), "", [&](const std::string& p, const TreeEntry&) {
                  paths.push_back(p);
                  return true;
                }).ok());
    EXPECT_NE(std::find(paths.begin(), paths.end(), "conf"), paths.end());
    for (const std::string& p : paths) EXPECT_NE(p.rfind("backups/my repo/", 0), 0u) << p;
  }
  // The snapshot excludes the repository, so a rollback of the source in place never touches
  // it (and is not refused for holding it), safety snapshot included.
  auto pre = ResolveSnapshot(repo.get(), "latest");
  ASSERT_TRUE(pre.ok()) << pre.status().ToString();
  Put(src_ / "conf", "changed by the upgrade");
  Put(src_ / "backups" / "new.txt", "added by the upgrade");
  RollbackOptions opts;
  auto r = Rollback(repo.get(), *pre, opts, nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->verified());
  EXPECT_FALSE(r->safety_snapshot_id.empty());
  EXPECT_EQ(Slurp(src_ / "conf"), "c");
  EXPECT_FALSE(fs::exists(src_ / "backups" / "new.txt"));
  auto reopened = Repository::Open(inner.string());
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(ResolveSnapshot(reopened->get(), r->safety_snapshot_id).status().ToString(), Status::OK().ToString());
}

// DESIGN: the excluded folders are never touched. Three ways a plain comparison would delete
// or replace one, each with and without the safety snapshot (the plans come from the safety
// snapshot's tree, or from the live walk): mail/ created since the snapshot; mail/ a symlink
// to another volume at the snapshot (the rule /mail/ matches directories only) and a real mail
// store now; mail/ a directory at the snapshot and a symlink to a moved store now.
TEST_F(RollbackTest, ExcludedFoldersAreNeverDeletedOrReplaced) {
  int round = 0;
  for (const char* scenario : {"created since", "symlink then directory", "directory then symlink"}) {
    for (bool safety : {true, false}) {
      SCOPED_TRACE(std::string(scenario) + (safety ? ", safety snapshot" : ", live plan"));
      fs::remove_all(src_);
      fs::remove_all(outside_ / "store");
      fs::create_directories(outside_ / "store");
      Put(src_ / "config" / "settings.cfg", "v1");
      const std::string s = scenario;
      if (s == "symlink then directory") {
        ASSERT_EQ(::symlink((outside_ / "store").c_str(), (src_ / "mail").c_str()), 0);
      }
      if (s == "directory then symlink") Put(src_ / "mail" / "x.imap", "mail");
      SnapshotRef pre = Backup("pre" + std::to_string(++round));
      Put(src_ / "config" / "settings.cfg", "v2 after the upgrade");
      if (s == "created since") Put(src_ / "mail" / "d" / "1.imap", "the only copy");
      if (s == "symlink then directory") {
        fs::remove(src_ / "mail");
        Put(src_ / "mail" / "d" / "1.imap", "the only copy");
      }
      if (s == "directory then symlink") {
        fs::rename(src_ / "mail", outside_ / "store" / "moved");
        ASSERT_EQ(::symlink((outside_ / "store" / "moved").c_str(), (src_ / "mail").c_str()), 0);
      }
      RollbackOptions opts = OptionsFor(safety, /*dry_run=*/true);
      auto dry = Rollback(repo_.get(), pre, opts, nullptr, nullptr);
      ASSERT_TRUE(dry.ok()) << dry.status().ToString();
      // (A live walk, which a dry run's plan comes from too, does not report a folder its rules
      // exclude as added: nothing to keep.)
      const std::vector<std::string> mail{"mail"}, none;
      EXPECT_EQ(dry->plan.kept_excluded, s == "created since" ? none : mail);
      const std::vector<std::string> kept = s == "created since" && !safety ? none : mail;
      EXPECT_TRUE(dry->plan.remove.empty() && dry->plan.replace.empty());
      opts.dry_run = false;
      auto r = Rollback(repo_.get(), pre, opts, nullptr, nullptr);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->plan.kept_excluded, kept);
      EXPECT_TRUE(r->plan.remove.empty() && r->plan.replace.empty());
      EXPECT_TRUE(r->verified()) << r->remaining.size() << " differences remain, first " << r->remaining[0].path
                                 << " (" << static_cast<int>(r->remaining[0].kind) << ")";
      EXPECT_EQ(Slurp(src_ / "config" / "settings.cfg"), "v1");
      if (s == "directory then symlink") {
        EXPECT_TRUE(fs::is_symlink(src_ / "mail"));
        EXPECT_EQ(Slurp(src_ / "mail" / "x.imap"), "mail");
      } else {
        EXPECT_FALSE(fs::is_symlink(src_ / "mail"));
        EXPECT_EQ(Slurp(src_ / "mail" / "d" / "1.imap"), "the only copy");
      }
    }
  }
}

// Folders excluded by an unanchored rule (`cache/`) inside a directory the upgrade added, or
// that replaced a file, are kept with the directories leading to them; the rest of the added
// directory goes. A symlink standing where an excluded folder would be (`mail` pointing at the
// mail store, made since the snapshot) is kept too: the rule /mail/ matches directories only.
TEST_F(RollbackTest, ExcludedFoldersInsideAddedDirectoriesAndSymlinksInTheirPlaceAreKept) {
  int round = 0;
  for (bool safety : {true, false}) {
    SCOPED_TRACE(safety ? "safety snapshot" : "live plan");
    fs::remove_all(src_);
    fs::remove_all(outside_ / "store");
    fs::create_directories(outside_ / "store");
    Put(outside_ / "store" / "d" / "1.imap", "the only copy");
    Put(src_ / "config" / "settings.cfg", "v1");
    Put(src_ / "html" / "app.php", "old app");
    SnapshotRef pre = Backup("cache" + std::to_string(++round), {"/mail/", "cache/"});
    Put(src_ / "config" / "settings.cfg", "v2 after the upgrade");
    Put(src_ / "plugins" / "x" / "code.php", "added by the upgrade");
    Put(src_ / "plugins" / "x" / "cache" / "state.bin", "written by the running plugin");
    Put(src_ / "plugins" / "y" / "other.php", "added by the upgrade");
    fs::remove(src_ / "html" / "app.php");
    Put(src_ / "html" / "app.php" / "cache" / "c.bin", "a file became a directory holding a cache");
    ASSERT_EQ(::symlink((outside_ / "store").c_str(), (src_ / "mail").c_str()), 0);
    RollbackOptions opts = OptionsFor(safety, /*dry_run=*/true);
    auto dry = Rollback(repo_.get(), pre, opts, nullptr, nullptr);
    ASSERT_TRUE(dry.ok()) << dry.status().ToString();
    std::vector<std::string> kept = dry->plan.kept_excluded;
    std::sort(kept.begin(), kept.end());
    EXPECT_EQ(kept, (std::vector<std::string>{"html/app.php", "mail", "plugins/x/cache"}));
    EXPECT_EQ(dry->plan.remove, std::vector<std::string>{"plugins"});
    EXPECT_TRUE(dry->plan.replace.empty());
    opts.dry_run = false;
    auto r = Rollback(repo_.get(), pre, opts, nullptr, nullptr);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->verified()) << r->remaining.size() << " differences remain, first "
                               << (r->remaining.empty() ? "" : r->remaining[0].path);
    EXPECT_EQ(Slurp(src_ / "config" / "settings.cfg"), "v1");
    EXPECT_EQ(Slurp(src_ / "plugins" / "x" / "cache" / "state.bin"), "written by the running plugin");
    EXPECT_FALSE(fs::exists(src_ / "plugins" / "x" / "code.php"));
    EXPECT_FALSE(fs::exists(src_ / "plugins" / "y"));
    EXPECT_EQ(Slurp(src_ / "html" / "app.php" / "cache" / "c.bin"), "a file became a directory holding a cache");
    EXPECT_TRUE(fs::is_symlink(src_ / "mail"));
    EXPECT_EQ(Slurp(src_ / "mail" / "d" / "1.imap"), "the only copy");
  }
}

// A directory in place of a file of the snapshot, holding an excluded folder (rule `cache/`)
// or an excluded file (rule `*.log`) beside other files, is kept whole: the plan lists it, the
// dry run too (the safety snapshot's trees do not show excluded files: the planner looks at the
// target), the apply does not half-replace it, and the verify does not report what is in it.
TEST_F(RollbackTest, ADirectoryInPlaceOfAFileHoldingExcludedEntriesIsKeptWholeAndVerifies) {
  int round = 0;
  // A socket (never backed up, not listed by a live walk) counts as any other excluded entry.
  for (const char* rule : {"cache/", "*.log", "*.sock"}) {
    for (bool safety : {true, false}) {
      SCOPED_TRACE(std::string(rule) + (safety ? ", safety snapshot" : ", live plan"));
      fs::remove_all(src_);
      Put(src_ / "config" / "a.cfg", "v1");
      Put(src_ / "html" / "app.php", "old app");
      SnapshotRef pre = Backup("whole" + std::to_string(++round), {"/mail/", rule});
      Put(src_ / "config" / "a.cfg", "v2 after the upgrade");
      fs::remove(src_ / "html" / "app.php");
      const bool socket = std::string(rule) == "*.sock";
      const fs::path excluded = std::string(rule) == "cache/" ? fs::path("cache") / "c.bin"
                                : socket                      ? fs::path("fpm.sock")
                                                              : fs::path("debug.log");
      if (socket) {
        PutSocket(src_ / "html" / "app.php" / excluded);
      } else {
        Put(src_ / "html" / "app.php" / excluded, "excluded");
      }
      Put(src_ / "html" / "app.php" / "index.php", "new code beside it");
      auto dry = Rollback(repo_.get(), pre, OptionsFor(safety, /*dry_run=*/true), nullptr, nullptr);
      ASSERT_TRUE(dry.ok()) << dry.status().ToString();
      EXPECT_EQ(dry->plan.kept_excluded, std::vector<std::string>{"html/app.php"});
      EXPECT_TRUE(dry->plan.replace.empty());
      auto r = Rollback(repo_.get(), pre, OptionsFor(safety, /*dry_run=*/false), nullptr, nullptr);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->plan.kept_excluded, std::vector<std::string>{"html/app.php"});
      EXPECT_TRUE(r->verified()) << r->remaining.size() << " differences remain, first "
                                 << (r->remaining.empty() ? "" : r->remaining[0].path);
      EXPECT_EQ(Slurp(src_ / "config" / "a.cfg"), "v1");
      if (socket) {
        EXPECT_TRUE(IsSocket(src_ / "html" / "app.php" / excluded));
      } else {
        EXPECT_EQ(Slurp(src_ / "html" / "app.php" / excluded), "excluded");
      }
    }
  }
}

// A directory the snapshot lacks, holding an excluded socket (rule *.sock), another socket and
// a file: its removal keeps the excluded socket and the directory leading to it, and removes
// the rest, sockets included.
TEST_F(RollbackTest, TheRemovalOfANewDirectoryKeepsItsExcludedSocketOnly) {
  for (bool safety : {true, false}) {
    SCOPED_TRACE(safety ? "safety snapshot" : "live plan");
    fs::remove_all(src_);
    Put(src_ / "config" / "a.cfg", "v1");
    SnapshotRef pre = Backup(safety ? "sock-safety" : "sock-live", {"/mail/", "*.sock"});
    Put(src_ / "config" / "a.cfg", "v2");
    PutSocket(src_ / "run" / "php.sock");
    PutSocket(src_ / "run" / "control");
    Put(src_ / "run" / "state.txt", "added by the upgrade");
    auto r = Rollback(repo_.get(), pre, OptionsFor(safety, /*dry_run=*/false), nullptr, nullptr);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->verified()) << r->remaining.size() << " differences remain, first "
                               << (r->remaining.empty() ? "" : r->remaining[0].path);
    EXPECT_NE(std::find(r->plan.kept_excluded.begin(), r->plan.kept_excluded.end(), "run/php.sock"),
              r->plan.kept_excluded.end());
    EXPECT_EQ(Slurp(src_ / "config" / "a.cfg"), "v1");
    EXPECT_TRUE(IsSocket(src_ / "run" / "php.sock")) << "the excluded socket was removed";
    EXPECT_FALSE(fs::exists(fs::symlink_status(src_ / "run" / "control"))) << "the other socket stayed";
    EXPECT_FALSE(fs::exists(src_ / "run" / "state.txt"));
  }
}

// A hardlinked file whose first name the upgrade replaced by a directory holding excluded
// entries (rule *.log), or by an excluded folder (rule cache/, which matches directories only,
// so the file was backed up): the directory is kept, and the other names of the file get its
// content back (still one inode) instead of a link to a directory that cannot be made.
TEST_F(RollbackTest, HardlinksOfAFileKeptWholeAsADirectoryGetItsContent) {
  int round = 0;
  for (const char* rule : {"*.log", "cache/"}) {
    for (bool safety : {true, false}) {
      SCOPED_TRACE(std::string(rule) + (safety ? ", safety snapshot" : ", live plan"));
      const bool folder = std::string(rule) == "cache/";
      // The first name sorts first: the others link to it.
      const std::string a = folder ? "cache" : "a.php", b = folder ? "cache.bak" : "b.php",
                        c = folder ? "cache.old" : "c.php";
      fs::remove_all(src_);
      Put(src_ / "config" / "a.cfg", "v1");
      Put(src_ / "html" / a, "old app");
      ASSERT_EQ(::link((src_ / "html" / a).c_str(), (src_ / "html" / b).c_str()), 0);
      ASSERT_EQ(::link((src_ / "html" / a).c_str(), (src_ / "html" / c).c_str()), 0);
      SnapshotRef pre = Backup("linked-kept" + std::to_string(++round), {"/mail/", rule});
      TreeCache cache(*repo_);
      auto b_entry = FindEntryBelow(*repo_, &cache, *pre.snapshot.tree, "html/" + b);
      ASSERT_TRUE(b_entry.ok()) << b_entry.status().ToString();
      ASSERT_EQ(b_entry->type, EntryType::kHardlink);
      ASSERT_EQ(b_entry->link_target, "html/" + a) << "the test needs " << a << " to be the first name";
      Put(src_ / "config" / "a.cfg", "v2 after the upgrade");
      fs::remove(src_ / "html" / a);
      Put(src_ / "html" / a / (folder ? "entry.bin" : "debug.log"), "excluded");
      if (!folder) Put(src_ / "html" / a / "index.php", "new code");
      Put(src_ / "html" / b, "rewritten by the upgrade");  // the same inode as c
      auto r = Rollback(repo_.get(), pre, OptionsFor(safety, /*dry_run=*/false), nullptr, nullptr);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->plan.kept_excluded, std::vector<std::string>{"html/" + a});
      EXPECT_TRUE(r->verified()) << r->remaining.size() << " differences remain, first "
                                 << (r->remaining.empty() ? "" : r->remaining[0].path);
      EXPECT_EQ(Slurp(src_ / "config" / "a.cfg"), "v1");
      EXPECT_EQ(Slurp(src_ / "html" / a / (folder ? "entry.bin" : "debug.log")), "excluded");
      EXPECT_EQ(Slurp(src_ / "html" / b), "old app");
      EXPECT_EQ(Slurp(src_ / "html" / c), "old app");
      struct stat sb{}, sc{};
      ASSERT_EQ(::lstat((src_ / "html" / b).c_str(), &sb), 0);
      ASSERT_EQ(::lstat((src_ / "html" / c).c_str(), &sc), 0);
      EXPECT_EQ(sb.st_ino, sc.st_ino) << b << " and " << c << " are no longer one file";
      EXPECT_TRUE(S_ISREG(sb.st_mode));
    }
  }
}

// The plan of the test above, interrupted after each of its steps (the first m applied, the
// checkpoint one step earlier) and resumed: the same end state every time, the write that
// stands for the kept first name and the links to it repeated safely.
TEST_F(RollbackTest, HardlinksOfAKeptFirstNameResumeAfterEveryPrefix) {
  Put(src_ / "config" / "a.cfg", "v1");
  Put(src_ / "html" / "a.php", "old app");
  ASSERT_EQ(::link((src_ / "html" / "a.php").c_str(), (src_ / "html" / "b.php").c_str()), 0);
  ASSERT_EQ(::link((src_ / "html" / "a.php").c_str(), (src_ / "html" / "c.php").c_str()), 0);
  SnapshotRef pre = Backup("pre", {"/mail/", "*.log"});
  fs::remove(src_ / "html" / "a.php");
  Put(src_ / "html" / "a.php" / "debug.log", "excluded");
  auto upgrade = [&] {
    Put(src_ / "config" / "a.cfg", "v2 after the upgrade");
    Put(src_ / "html" / "b.php", "rewritten by the upgrade");  // c.php too: one inode
  };
  upgrade();
  const int root_fd = ::open(src_.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(root_fd, 0);
  auto plan = PlanRollback(*repo_, pre.snapshot, root_fd);
  ::close(root_fd);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const size_t n = plan->steps.size();
  size_t writes_of_b = 0;
  for (const RollbackStep& st : plan->steps) {
    if (st.path == "html/b.php" && st.op == RollbackStep::Op::kWrite) writes_of_b += 1;
  }
  ASSERT_EQ(writes_of_b, 1u) << "the plan does not write html/b.php in place of a link to the kept a.php";
  auto journal = [&](const std::vector<RollbackStep>& steps, size_t progress) {
    RollbackJournal j;
    j.snapshot_id = pre.id;
    j.target = src_.string();
    j.files = true;
    j.steps = steps;
    ASSERT_TRUE(repo_->storage().WriteFileAtomic("rollback/test.journal", EncodeRollbackJournal(j)).ok());
    ASSERT_TRUE(repo_->storage().WriteFileAtomic("rollback/test.progress", std::to_string(progress) + "\n").ok());
  };
  for (size_t m = 0; m <= n; ++m) {
    SCOPED_TRACE("interrupted after " + std::to_string(m) + " of " + std::to_string(n) + " steps");
    journal(std::vector<RollbackStep>(plan->steps.begin(), plan->steps.begin() + static_cast<long>(m)), 0);
    auto partial = ResumeRollback(repo_.get(), "", RollbackOptions{}, nullptr, nullptr);
    ASSERT_TRUE(partial.ok()) << partial.status().ToString();
    journal(plan->steps, m > 0 ? m - 1 : 0);
    auto r = ResumeRollback(repo_.get(), "", RollbackOptions{}, nullptr, nullptr);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->verified()) << r->remaining.size() << " differences remain, first "
                               << (r->remaining.empty() ? "" : r->remaining[0].path);
    EXPECT_EQ(Slurp(src_ / "config" / "a.cfg"), "v1");
    EXPECT_EQ(Slurp(src_ / "html" / "b.php"), "old app");
    EXPECT_EQ(Slurp(src_ / "html" / "c.php"), "old app");
    EXPECT_EQ(Slurp(src_ / "html" / "a.php" / "debug.log"), "excluded");
    struct stat sb{}, sc{};
    ASSERT_EQ(::lstat((src_ / "html" / "b.php").c_str(), &sb), 0);
    ASSERT_EQ(::lstat((src_ / "html" / "c.php").c_str(), &sc), 0);
    EXPECT_EQ(sb.st_ino, sc.st_ino);
    upgrade();  // back to the upgraded state for the next case
  }
}

// `mail` a symlink to the store's volume at the snapshot (the rule /mail/ matches directories
// only, so the symlink is recorded) and pointed at the store's new volume since: it is kept, not
// pointed back at the old store.
TEST_F(RollbackTest, AMailSymlinkPointedElsewhereSinceTheSnapshotIsKept) {
  int round = 0;
  for (bool safety : {true, false}) {
    SCOPED_TRACE(safety ? "safety snapshot" : "live plan");
    fs::remove_all(src_);
    fs::remove_all(outside_ / "store1");
    fs::remove_all(outside_ / "store2");
    Put(outside_ / "store1" / "d" / "1.imap", "old volume");
    Put(outside_ / "store2" / "d" / "1.imap", "the mail store now");
    Put(src_ / "config" / "settings.cfg", "v1");
    ASSERT_EQ(::symlink((outside_ / "store1").c_str(), (src_ / "mail").c_str()), 0);
    SnapshotRef pre = Backup("repointed" + std::to_string(++round));
    Put(src_ / "config" / "settings.cfg", "v2 after the upgrade");
    fs::remove(src_ / "mail");
    ASSERT_EQ(::symlink((outside_ / "store2").c_str(), (src_ / "mail").c_str()), 0);
    auto r = Rollback(repo_.get(), pre, OptionsFor(safety, /*dry_run=*/false), nullptr, nullptr);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->plan.kept_excluded, std::vector<std::string>{"mail"});
    EXPECT_TRUE(r->verified());
    EXPECT_EQ(Slurp(src_ / "config" / "settings.cfg"), "v1");
    EXPECT_EQ(fs::read_symlink(src_ / "mail"), outside_ / "store2") << "the mail symlink was pointed back";
  }
}

// A symlink where an excluded folder would be that points inside the installation follows the
// rollback: `php` pointed at a `php83/` the upgrade added (which the rollback removes) is pointed
// back at `php81`, by a relative or an absolute link, rather than left dangling.
TEST_F(RollbackTest, ASymlinkWhereAnExcludedFolderWouldBePointingInsideIsRolledBack) {
  int round = 0;
  for (bool absolute : {false, true}) {
    for (bool safety : {true, false}) {
      SCOPED_TRACE(std::string(absolute ? "absolute" : "relative") + (safety ? ", safety snapshot" : ", live plan"));
      fs::remove_all(src_);
      Put(src_ / "php81" / "php.ini", "8.1");
      const fs::path to81 = absolute ? src_ / "php81" : fs::path("php81");
      const fs::path to83 = absolute ? src_ / "php83" : fs::path("php83");
      ASSERT_EQ(::symlink(to81.c_str(), (src_ / "php").c_str()), 0);
      SnapshotRef pre = Backup("php" + std::to_string(++round), {"/mail/", "/php/"});
      Put(src_ / "php83" / "php.ini", "8.3");
      fs::remove(src_ / "php");
      ASSERT_EQ(::symlink(to83.c_str(), (src_ / "php").c_str()), 0);
      auto r = Rollback(repo_.get(), pre, OptionsFor(safety, /*dry_run=*/false), nullptr, nullptr);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_TRUE(r->plan.kept_excluded.empty());
      EXPECT_TRUE(r->verified());
      EXPECT_EQ(fs::read_symlink(src_ / "php"), to81);
      EXPECT_FALSE(fs::exists(src_ / "php83"));
      EXPECT_EQ(Slurp(src_ / "php" / "php.ini"), "8.1");
    }
  }
}

// A `meta` step finds something else there at the apply (put there after the plan): a symlink
// to a file outside the target where a FIFO's mode was to be fixed is not followed, a FIFO
// where a file's mode was to be fixed does not block the rollback; both are left for the
// verify to report.
TEST_F(RollbackTest, MetaStepsLeaveWhatWasPutThereSinceThePlan) {
  Put(src_ / "config" / "settings.cfg", "v1");
  ::chmod((src_ / "config" / "settings.cfg").c_str(), 0644);
  ASSERT_EQ(::mkfifo((src_ / "config" / "ctl.fifo").c_str(), 0600), 0);
  ::chmod((src_ / "config" / "ctl.fifo").c_str(), 0600);
  SnapshotRef pre = Backup("pre");
  ::chmod((src_ / "config" / "settings.cfg").c_str(), 0600);
  ::chmod((src_ / "config" / "ctl.fifo").c_str(), 0666);
  ::chmod((outside_ / "f").c_str(), 0644);
  RollbackOptions opts;
  opts.target = src_.string();
  opts.before_data_check = [&] {
    fs::remove(src_ / "config" / "ctl.fifo");
    ASSERT_EQ(::symlink((outside_ / "f").c_str(), (src_ / "config" / "ctl.fifo").c_str()), 0);
    fs::remove(src_ / "config" / "settings.cfg");
    ASSERT_EQ(::mkfifo((src_ / "config" / "settings.cfg").c_str(), 0600), 0);
  };
  auto done = std::async(std::launch::async, [&] { return Rollback(repo_.get(), pre, opts, nullptr, nullptr); });
  if (done.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    ADD_FAILURE() << "the rollback blocks on the FIFO";
    const int unblock = ::open((src_ / "config" / "settings.cfg").c_str(), O_WRONLY | O_CLOEXEC);
    if (unblock >= 0) ::close(unblock);
  }
  auto r = done.get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  struct stat st{};
  ASSERT_EQ(::stat((outside_ / "f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u) << "the mode of a file outside the target was changed";
  EXPECT_EQ(Slurp(outside_ / "f"), "outside, must stay");
  EXPECT_FALSE(r->verified());
  std::vector<std::string> remaining;
  for (const Change& c : r->remaining) remaining.push_back(c.path);
  std::sort(remaining.begin(), remaining.end());
  EXPECT_EQ(remaining, (std::vector<std::string>{"config/ctl.fifo", "config/settings.cfg"}));
  EXPECT_FALSE(repo_->storage().Exists("rollback/" + r->journal_id + ".journal"));
}

// A directory the rollback removes (new since the snapshot) with a bind mount below it of a
// directory of the same file system (st_dev tells nothing): the mount is not emptied.
TEST_F(RollbackTest, ABindMountBelowARemovedDirectoryIsNotEmptied) {
  if (::geteuid() != 0) GTEST_SKIP() << "bind mounts need root (CI runs as root)";
  Put(src_ / "config" / "settings.cfg", "v1");
  SnapshotRef pre = Backup("pre");
  Put(outside_ / "data" / "important.db", "outside the target, must stay");
  fs::create_directories(src_ / "newdir" / "data");
  Put(src_ / "newdir" / "a.txt", "added by the upgrade");
  const std::string mnt = (src_ / "newdir" / "data").string();
  ASSERT_EQ(::mount((outside_ / "data").c_str(), mnt.c_str(), nullptr, MS_BIND, nullptr), 0) << std::strerror(errno);
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};
  RollbackOptions opts;
  opts.target = src_.string();
  opts.safety_snapshot = false;
  opts.allow_running = true;
  auto r = Rollback(repo_.get(), pre, opts, nullptr, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("mount point"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(Slurp(outside_ / "data" / "important.db"), "outside the target, must stay");
}

// A journal whose databases step has not run, resumed by a run without one (the CLI's
// --resume --files-only): refused at that step, the journal kept, the start command not run
// (the installation would start on the upgrade's databases).
TEST_F(RollbackTest, ResumeWithoutTheDatabasesStepKeepsTheJournalAndDoesNotStart) {
  Put(src_ / "config" / "settings.cfg", "v1");
  SnapshotRef pre = Backup("pre");
  Put(src_ / "config" / "settings.cfg", "v2");
  RollbackJournal j;
  j.snapshot_id = pre.id;
  j.target = src_.string();
  j.files = true;
  j.databases = true;
  j.start_cmd = "touch " + (dir_ / "started").string();
  ASSERT_TRUE(repo_->storage().WriteFileAtomic("rollback/test.journal", EncodeRollbackJournal(j)).ok());
  RollbackOptions opts;  // no databases step
  opts.allow_running = true;
  auto r = ResumeRollback(repo_.get(), "", opts, nullptr, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("databases step has not run"), std::string::npos) << r.status().ToString();
  EXPECT_TRUE(repo_->storage().Exists("rollback/test.journal"));
  EXPECT_FALSE(fs::exists(dir_ / "started"));
}

// A rollback whose resume fails every time (here a journaled step that links to a file that
// does not exist; a journal of another version, or a damaged one): --abandon removes its
// journal and checkpoint and nothing else, after which a new rollback plans from what is there
// and finishes. Without a pending journal, or with several and no snapshot named, it refuses.
TEST_F(RollbackTest, AnInterruptedRollbackThatCannotBeResumedCanBeAbandoned) {
  Put(src_ / "config" / "settings.cfg", "v1");
  Put(src_ / "html" / "index.php", "old");
  SnapshotRef pre = Backup("pre");
  auto none = AbandonRollback(repo_.get(), "");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Code::kNotFound) << none.status().ToString();
  Put(src_ / "config" / "settings.cfg", "v2");
  Put(src_ / "html" / "index.php", "new, half rolled back");
  RollbackJournal j;
  j.snapshot_id = pre.id;
  j.target = src_.string();
  j.safety_snapshot_id = std::string(64, 'a');
  j.files = true;
  RollbackStep link;
  link.op = RollbackStep::Op::kLink;
  link.path = "html/index.php";
  link.entry.name = "index.php";
  link.entry.type = EntryType::kHardlink;
  link.entry.link_target = "html/gone.php";
  j.steps = {link, link, link};
  ASSERT_TRUE(repo_->storage().WriteFileAtomic("rollback/stuck.journal", EncodeRollbackJournal(j)).ok());
  ASSERT_TRUE(repo_->storage().WriteFileAtomic("rollback/stuck.progress", "1\n").ok());
  RollbackOptions opts;
  opts.allow_running = true;
  auto resumed = ResumeRollback(repo_.get(), "", opts, nullptr, nullptr);
  ASSERT_FALSE(resumed.ok());
  EXPECT_NE(resumed.status().message().find("rollback --abandon"), std::string::npos) << resumed.status().ToString();
  auto refused = Rollback(repo_.get(), pre, OptionsFor(false, /*dry_run=*/false), nullptr, nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--abandon"), std::string::npos) << refused.status().ToString();

  // A second pending journal, damaged: with two, the one to give up must be named. A resume
  // that names the other's snapshot is not stopped by it; one that names none says what to do.
  ASSERT_TRUE(repo_->storage().WriteFileAtomic("rollback/damaged.journal", "not a journal\n").ok());
  auto ambiguous = AbandonRollback(repo_.get(), "");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_NE(ambiguous.status().message().find("2 interrupted rollbacks"), std::string::npos)
      << ambiguous.status().ToString();
  auto unnamed = ResumeRollback(repo_.get(), "", opts, nullptr, nullptr);
  ASSERT_FALSE(unnamed.ok());
  EXPECT_NE(unnamed.status().message().find("rollback --abandon damaged"), std::string::npos)
      << unnamed.status().ToString();
  auto named = ResumeRollback(repo_.get(), "pre", opts, nullptr, nullptr);
  ASSERT_FALSE(named.ok());
  EXPECT_NE(named.status().message().find("hardlink target html/gone.php"), std::string::npos)
      << "the resume of the readable journal did not run: " << named.status().ToString();
  auto a = AbandonRollback(repo_.get(), "pre");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->journal_id, "stuck");
  EXPECT_EQ(a->snapshot_id, pre.id);
  EXPECT_EQ(a->safety_snapshot_id, j.safety_snapshot_id);
  EXPECT_EQ(a->steps_done, 1u);
  EXPECT_EQ(a->steps_total, 3u);
  EXPECT_FALSE(repo_->storage().Exists("rollback/stuck.journal"));
  EXPECT_FALSE(repo_->storage().Exists("rollback/stuck.progress"));
  EXPECT_EQ(Slurp(src_ / "html" / "index.php"), "new, half rolled back") << "--abandon touched the target";
  // The damaged one by its journal id (alone, it would be taken without a name too).
  auto d = AbandonRollback(repo_.get(), "damaged");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->journal_id, "damaged");
  EXPECT_FALSE(d->damaged.empty());
  EXPECT_FALSE(repo_->storage().Exists("rollback/damaged.journal"));

  auto r = Rollback(repo_.get(), pre, OptionsFor(false, /*dry_run=*/false), nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->verified());
  EXPECT_EQ(Slurp(src_ / "config" / "settings.cfg"), "v1");
  EXPECT_EQ(Slurp(src_ / "html" / "index.php"), "old");
}

}  // namespace
}  // namespace rw
