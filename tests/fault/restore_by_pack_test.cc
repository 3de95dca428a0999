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
#include <optional>
#include <random>

#include "engine/ops/backup.h"
#include "engine/ops/restore.h"
#include "engine/ops/snapshots.h"
#include "engine/ops/verify.h"
#include "engine/format/chunker.h"
#include "engine/pipeline/tree_cache.h"
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

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string RandomBytes(size_t n, std::mt19937_64& rng) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>(rng() >> 11);
  return out;
}

void WriteFile(const fs::path& path, const std::string& data) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

// One backup of `src` into the repository at `repo_path`.
std::optional<BackupResult> BackupOnce(const std::string& repo_path, const fs::path& src) {
  auto repo = Repository::Open(repo_path);
  EXPECT_TRUE(repo.ok()) << repo.status().ToString();
  if (!repo.ok()) return std::nullopt;
  BackupOptions options;
  options.source = src.string();
  auto backup = Backup(repo->get(), options, nullptr, nullptr);
  EXPECT_TRUE(backup.ok()) << backup.status().ToString();
  if (!backup.ok()) return std::nullopt;
  return std::move(*backup);
}

// A new repository at `repo_path` holding one backup of `src`; the snapshot's root tree id.
BlobId BackupInto(const std::string& repo_path, const fs::path& src) {
  EXPECT_TRUE(Repository::Init(repo_path).ok());
  auto backup = BackupOnce(repo_path, src);
  if (!backup || !backup->snapshot.tree) return {};
  return *backup->snapshot.tree;
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
  BackupInto(repo_path, src);
  ASSERT_FALSE(::testing::Test::HasFailure());
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

// The backup reads a large file in pieces into the buffers its chunks leave in: the chunks it
// stores are exactly the chunker's over the whole file (ids and lengths), whatever their size:
// random data (chunks of 512 KiB to a few MiB), a run of zeros (no cut point: max-size chunks,
// read into buffers grown to 8 MiB), a file that ends exactly at a max-size chunk, one byte
// past it, and files just past the small-file limit.
TEST(BackupChunks, LargeFilesAreCutAsTheChunkerCutsTheWholeFile) {
  char tmpl[] = "/tmp/rewind-backup-chunks-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const fs::path dir = tmpl;
  const fs::path src = dir / "src";
  std::mt19937_64 rng(7);
  const size_t max = ChunkerParams{}.max_size;
  std::map<std::string, std::string> files;
  files["random"] = RandomBytes(30u << 20, rng);
  files["zeros-then-random"] = std::string(20u << 20, '\0') + RandomBytes(3u << 20, rng);
  files["exactly-two-max"] = std::string(2 * max, '\0');
  files["two-max-and-one"] = std::string(2 * max, '\0') + "x";
  files["max-plus-one"] = RandomBytes(max + 1, rng);
  files["max-plus-300k"] = RandomBytes(max + (300u << 10), rng);
  for (const auto& [name, data] : files) WriteFile(src / name, data);

  const std::string repo_path = (dir / "repo").string();
  const BlobId root_id = BackupInto(repo_path, src);
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto repo = Repository::Open(repo_path);
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  TreeCache trees(**repo);
  auto root = trees.Get(root_id);
  ASSERT_TRUE(root.ok()) << root.status().ToString();

  Chunker chunker;
  size_t seen = 0;
  for (const TreeEntry& e : (*root)->entries) {
    auto it = files.find(e.name);
    ASSERT_NE(it, files.end()) << e.name;
    ++seen;
    const std::string& data = it->second;
    std::vector<BlobId> want;
    std::vector<uint32_t> lengths;
    for (size_t pos = 0; pos < data.size();) {
      size_t cut = chunker.FindBoundary(reinterpret_cast<const uint8_t*>(data.data()) + pos, data.size() - pos, true);
      ASSERT_GT(cut, 0u);
      want.push_back(Sha256(std::string_view(data).substr(pos, cut)));
      lengths.push_back(static_cast<uint32_t>(cut));
      pos += cut;
    }
    EXPECT_EQ(e.size, data.size()) << e.name;
    ASSERT_EQ(e.content.size(), want.size()) << e.name << ": chunk count";
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(e.content[i], want[i]) << e.name << ": chunk " << i;
      auto where = (*repo)->Find(want[i]);
      ASSERT_TRUE(where.has_value()) << e.name << ": chunk " << i << " not in the index";
      EXPECT_EQ(where->raw_length, lengths[i]) << e.name << ": chunk " << i;
    }
  }
  EXPECT_EQ(seen, files.size());
  // The zeros gave max-size chunks (the buffers grew to max_size), stored once.
  EXPECT_TRUE((*repo)->Find(Sha256(std::string(max, '\0'))).has_value());
  fs::remove_all(dir);
}

// The same bytes as a file's chunk and as a tree (format.md §2): the empty directory's tree is
// the 26 bytes below, and a file may hold exactly them (this project's own
// manifests/fuzz_corpus/tree/empty.json does). Both uses share one id and one stored copy, whose
// indexed type is that of the first use; readers accept either.
const std::string kEmptyTreeDoc = R"({"entries":[],"version":1})";

// One more backup of `src` into the repository at `repo_path`; the snapshot's id.
std::string BackupAgain(const std::string& repo_path, const fs::path& src) {
  auto backup = BackupOnce(repo_path, src);
  return backup ? backup->snapshot_id : std::string();
}

// Restores snapshot `ref` of the repository at `repo_path` into `target`: no error, and
// `diff -r` finds it equal to `src` (empty directories included).
void ExpectRestoresAs(const std::string& repo_path, const std::string& ref, const fs::path& src,
                      const fs::path& target) {
  auto repo = Repository::Open(repo_path);
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  auto snapshot = ResolveSnapshot(repo->get(), ref);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  RestoreOptions options;
  options.target = target.string();
  auto stats = RestoreToDirectory(repo->get(), snapshot->snapshot, options, nullptr, nullptr);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->errors, 0u) << "snapshot " << ref;
  std::string cmd = "diff -r --no-dereference '" + src.string() + "' '" + target.string() + "' >&2";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << "restore of snapshot " << ref << " differs from its source";
}

// verify --read-data: every pack read, no damage.
void ExpectVerifiesClean(const std::string& repo_path) {
  OpenOptions open_options;
  open_options.tolerate_index_damage = true;
  auto repo = Repository::Open(repo_path, open_options);
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  VerifyOptions options;
  options.data = VerifyOptions::Data::kAll;
  auto report = VerifyRepository(repo->get(), options, nullptr);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  for (const std::string& line : report->damage) ADD_FAILURE() << "verify: " << line;
  EXPECT_GT(report->packs_read, 0u);
}

// One backup of a source with an empty directory and a file holding exactly its tree document:
// both come back (the file's bytes, the empty directory), and verify finds no damage.
TEST(BlobUsedAsFileAndTree, EmptyDirectoryAndAFileHoldingItsTreeInOneBackup) {
  char tmpl[] = "/tmp/rewind-file-tree-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const fs::path dir = tmpl;
  const fs::path src = dir / "src", target = dir / "target";
  fs::create_directories(src / "a-empty");
  WriteFile(src / "corpus" / "tree" / "empty.json", kEmptyTreeDoc);
  WriteFile(src / "other", "other content\n");
  const std::string repo_path = (dir / "repo").string();
  BackupInto(repo_path, src);
  ASSERT_FALSE(::testing::Test::HasFailure());
  {
    auto repo = Repository::Open(repo_path);
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    ASSERT_TRUE((*repo)->Find(Sha256(kEmptyTreeDoc)).has_value()) << "stored once, under one id";
  }
  ExpectRestoresAs(repo_path, "latest", src, target);
  EXPECT_EQ(ReadFile(target / "corpus" / "tree" / "empty.json"), kEmptyTreeDoc);
  EXPECT_TRUE(fs::is_directory(target / "a-empty"));
  EXPECT_TRUE(fs::is_empty(target / "a-empty"));
  ExpectVerifiesClean(repo_path);
  fs::remove_all(dir);
}

// The file first (indexed as data), an empty directory in a later snapshot (its tree is then
// the stored data blob): the later snapshot restores, and verify finds no damage. Then the other
// order in a second repository: the tree first, the file in a later snapshot.
TEST(BlobUsedAsFileAndTree, EitherUseStoredFirstServesTheOther) {
  char tmpl[] = "/tmp/rewind-file-tree-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const fs::path dir = tmpl;
  const fs::path file_only = dir / "file-only", dir_only = dir / "dir-only", both = dir / "both";
  WriteFile(file_only / "empty.json", kEmptyTreeDoc);
  fs::create_directories(dir_only / "sub" / "empty");
  WriteFile(dir_only / "sub" / "x", "x\n");
  WriteFile(both / "empty.json", kEmptyTreeDoc);
  fs::create_directories(both / "empty");
  struct Order {
    std::string name;
    fs::path first, second;
    BlobType indexed;
  };
  for (const Order& o : {Order{"file-first", file_only, both, BlobType::kData},
                         Order{"tree-first", dir_only, both, BlobType::kTree}}) {
    SCOPED_TRACE(o.name);
    const std::string repo_path = (dir / ("repo-" + o.name)).string();
    ASSERT_NE(BackupInto(repo_path, o.first), BlobId{});
    const std::string second = BackupAgain(repo_path, o.second);
    ASSERT_FALSE(second.empty());
    {
      auto repo = Repository::Open(repo_path);
      ASSERT_TRUE(repo.ok()) << repo.status().ToString();
      auto where = (*repo)->Find(Sha256(kEmptyTreeDoc));
      ASSERT_TRUE(where.has_value());
      EXPECT_EQ(where->type, o.indexed) << "the first use decides the indexed type";
    }
    ExpectRestoresAs(repo_path, second, o.second, dir / ("target-" + o.name));
    EXPECT_EQ(ReadFile(dir / ("target-" + o.name) / "empty.json"), kEmptyTreeDoc);
    EXPECT_TRUE(fs::is_directory(dir / ("target-" + o.name) / "empty"));
    ExpectVerifiesClean(repo_path);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rw
