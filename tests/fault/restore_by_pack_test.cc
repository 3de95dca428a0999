// Restore planned by pack (engine/ops/restore.cc): every file comes back byte for byte (files
// spread over several packs, a blob repeated inside a file, the same blob in two files, empty
// files, holes), and the packs are read in a few large ranges, a byte twice only when two
// batches need the same blob, instead of one read per blob. A storage that counts the reads watches the repository.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>

#include "engine/ops/backup.h"
#include "engine/ops/restore.h"
#include "engine/ops/snapshots.h"
#include "engine/repo/repository.h"
#include "engine/storage/forwarding_storage.h"

namespace rw {
namespace {

namespace fs = std::filesystem;

// The real storage; each read of a pack (offset, length) is recorded.
class CountingStorage final : public ForwardingStorage {
 public:
  using ForwardingStorage::ForwardingStorage;
  struct Read {
    uint64_t offset, length;
  };
  std::map<std::string, std::vector<Read>> reads() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reads_;
  }

  Result<std::string> ReadAt(const std::string& rel, uint64_t offset, size_t n) override {
    Record(rel, offset, n);
    return ForwardingStorage::ReadAt(rel, offset, n);
  }
  Status ReadAtInto(const std::string& rel, uint64_t offset, size_t n, std::string* buf) override {
    Record(rel, offset, n);
    return ForwardingStorage::ReadAtInto(rel, offset, n, buf);
  }

 private:
  void Record(const std::string& rel, uint64_t offset, size_t n) {
    if (rel.rfind("data/", 0) != 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    reads_[rel].push_back(Read{offset, n});
  }
  mutable std::mutex mu_;
  std::map<std::string, std::vector<Read>> reads_;
};

std::string RandomBytes(size_t n, std::mt19937_64& rng) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>(rng() >> 11);
  return out;
}

void WriteFile(const fs::path& path, const std::string& data) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

TEST(RestoreByPack, EveryFileExactAndEachPackRangeReadOnce) {
  char tmpl[] = "/tmp/rewind-restore-pack-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const fs::path dir = tmpl;
  const fs::path src = dir / "src", target = dir / "target";
  std::mt19937_64 rng(42);
  // 300 small files in 3 directories: several batches of the restore.
  for (int i = 0; i < 300; ++i) {
    WriteFile(src / ("d" + std::to_string(i % 3)) / ("f" + std::to_string(i)),
              RandomBytes(100 + rng() % 20000, rng));
  }
  // 40 MiB of random bytes: chunks in three packs or more.
  WriteFile(src / "big", RandomBytes(40u << 20, rng));
  // One random MiB four times over: the same blobs several times in one file.
  std::string block = RandomBytes(1u << 20, rng);
  WriteFile(src / "repeated", block + block + block + block);
  // The same content under two names, an empty file, a file with a hole in the middle.
  std::string same = RandomBytes(5000, rng);
  WriteFile(src / "d0" / "same1", same);
  WriteFile(src / "d2" / "same2", same);
  WriteFile(src / "empty", "");
  WriteFile(src / "holes", RandomBytes(3000, rng) + std::string(3u << 20, '\0') + RandomBytes(3000, rng));

  const std::string repo_path = (dir / "repo").string();
  ASSERT_TRUE(Repository::Init(repo_path).ok());
  {
    auto repo = Repository::Open(repo_path);
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    BackupOptions options;
    options.source = src.string();
    auto backup = Backup(repo->get(), options, nullptr, nullptr);
    ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  }
  auto counting = std::make_unique<CountingStorage>(NewLocalStorage(repo_path));
  CountingStorage* reads = counting.get();
  auto repo = Repository::Open(std::move(counting));
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  auto snapshot = ResolveSnapshot(repo->get(), "latest");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  RestoreOptions options;
  options.target = target.string();
  auto stats = RestoreToDirectory(repo->get(), snapshot->snapshot, options, nullptr, nullptr);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->errors, 0u);
  EXPECT_EQ(stats->files, 306u);

  std::string cmd = "diff -r --no-dereference '" + src.string() + "' '" + target.string() + "' >&2";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << "restore differs from the source";
  struct stat st{};
  ASSERT_EQ(::stat((target / "holes").c_str(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the zeros of 'holes' were written, not left as a hole";

  // The packs: read in few ranges, and a byte twice only where two batches need the same blob
  // (same1 and same2, 5000 random bytes).
  size_t blobs = repo->get()->IndexSize(), count = 0, packs = 0;
  uint64_t twice = 0;
  for (auto [pack, list] : reads->reads()) {
    ++packs;
    count += list.size();
    std::sort(list.begin(), list.end(), [](auto& a, auto& b) { return a.offset < b.offset; });
    uint64_t end = 0;
    for (const auto& r : list) {
      if (r.offset < end) twice += std::min(end, r.offset + r.length) - r.offset;
      end = std::max(end, r.offset + r.length);
    }
  }
  EXPECT_LE(twice, 6000u) << "bytes of packs read more than once";
  EXPECT_GE(packs, 3u);
  EXPECT_GT(blobs, 340u);
  // One read per blob would be several hundred; by pack, a few per batch.
  EXPECT_LE(count, 24u) << count << " reads for " << blobs << " blobs in " << packs << " packs";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rw
