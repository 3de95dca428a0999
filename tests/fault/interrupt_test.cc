// A backup interrupted by SIGTERM (Ctrl-C, `systemctl stop`) at a precise point of its write
// order (format.md §9): the signal is raised by the storage just before or right after one write,
// in a forked process whose stderr is kept. What the process says on its way out must match
// what it left: no snapshot, or the snapshot it saved, by name.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>

#include "engine/ops/backup.h"
#include "engine/repo/repository.h"
#include "engine/storage/forwarding_storage.h"

namespace rw {
namespace {

namespace fs = std::filesystem;

enum class When { kBefore, kAfter };

// The real local storage; SIGTERM just before, or right after, the first write into `dir`.
class TermAtWriteInto final : public ForwardingStorage {
 public:
  TermAtWriteInto(std::unique_ptr<Storage> base, When when, std::string dir)
      : ForwardingStorage(std::move(base)), when_(when), dir_(std::move(dir)) {}
  Status WriteFileAtomic(const std::string& rel, std::string_view data) override {
    const bool hit = rel.rfind(dir_ + "/", 0) == 0;
    if (hit && when_ == When::kBefore) ::raise(SIGTERM);
    Status s = ForwardingStorage::WriteFileAtomic(rel, data);
    if (hit && when_ == When::kAfter) ::raise(SIGTERM);
    return s;
  }

 private:
  When when_;
  std::string dir_;
};

class InterruptedBackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rewind-interrupt-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    work_ = tmpl;
    repo_ = work_ + "/repo";
    source_ = work_ + "/source";
    ASSERT_TRUE(Repository::Init(repo_).ok());
    fs::create_directories(source_ + "/config");
    std::mt19937_64 rng(5);
    for (int i = 0; i < 20; ++i) {
      std::string data(1000 + 300 * i, '\0');
      for (char& c : data) c = static_cast<char>(rng());
      std::ofstream(source_ + "/config/f" + std::to_string(i), std::ios::binary) << data;
    }
  }
  void TearDown() override { fs::remove_all(work_); }

  // Backs up the source in a child process whose storage raises SIGTERM before or after its
  // first write into `dir`; returns the child's stderr. The child must end by the signal.
  std::string BackupTerminatedAt(When when, const std::string& dir) {
    const std::string err_path = work_ + "/stderr-" + dir;
    pid_t child = ::fork();
    if (child == 0) {
      FILE* err = std::freopen(err_path.c_str(), "w", stderr);
      if (!err) _exit(1);
      auto repo = Repository::Open(std::make_unique<TermAtWriteInto>(NewLocalStorage(repo_), when, dir));
      if (!repo.ok()) _exit(2);
      BackupOptions options;
      options.source = source_;
      auto r = Backup(repo->get(), options, nullptr, nullptr);
      _exit(r.ok() ? 3 : 4);  // not reached: the SIGTERM ends the process
    }
    int status = 0;
    EXPECT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)
        << "the backup was not ended by SIGTERM: exit status " << WEXITSTATUS(status);
    std::ifstream in(err_path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::vector<std::string> Names(const std::string& dir) {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(repo_ + "/" + dir)) out.push_back(e.path().filename());
    return out;
  }

  std::string work_, repo_, source_;
};

// Interrupted once its snapshot is in place: it says that the snapshot was saved, and which.
// Before, it said "no snapshot was saved; the packs written so far are not indexed" until the
// lock was released (also while the snapshots/ directory was fsynced after the rename).
TEST_F(InterruptedBackupTest, AfterTheSnapshotIsWrittenItSaysItWasSaved) {
  const std::string err = BackupTerminatedAt(When::kAfter, "snapshots");
  auto snapshots = Names("snapshots");
  ASSERT_EQ(snapshots.size(), 1u) << err;
  EXPECT_NE(err.find("interrupted; the repository lock was released"), std::string::npos) << err;
  EXPECT_NE(err.find("the snapshot " + snapshots[0].substr(0, 12) + " was"), std::string::npos) << err;
  EXPECT_EQ(err.find("no snapshot was saved"), std::string::npos) << err;
  EXPECT_TRUE(Names("locks").empty());
}

// Interrupted as its snapshot is about to be written: nothing is saved, and it does not say
// that the snapshot was.
TEST_F(InterruptedBackupTest, BeforeTheSnapshotIsWrittenItDoesNotSayItWasSaved) {
  const std::string err = BackupTerminatedAt(When::kBefore, "snapshots");
  EXPECT_TRUE(Names("snapshots").empty());
  EXPECT_EQ(Names("index").size(), 1u);
  EXPECT_NE(err.find("interrupted; the repository lock was released"), std::string::npos) << err;
  EXPECT_EQ(err.find(" was saved\n"), std::string::npos) << err;
  EXPECT_TRUE(Names("locks").empty());
}

}  // namespace
}  // namespace rw
