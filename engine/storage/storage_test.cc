// The Storage conformance suite (restic backend/test.Suite style): every implementation joins
// it with one line in INSTANTIATE_TEST_SUITE_P below. Then FaultyStorage's own tests.
#include "engine/storage/storage.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include "engine/storage/faulty_storage.h"
#include "engine/storage/forwarding_storage.h"

namespace rw {
namespace {

namespace fs = std::filesystem;

std::string MakeTempDir() {
  char tmpl[] = "/tmp/rewind-storage-test-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return "";
  return tmpl;
}

// Seeded random bytes, NULs included.
std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// Paths (relative to `root`) of every file or directory below it whose name starts with '.'.
std::vector<std::string> DotNames(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().filename().string()[0] == '.') out.push_back(fs::relative(e.path(), root));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Conformance suite.

struct Backend {
  std::string name;
  // Makes a storage whose files live in the existing directory `root`.
  std::function<std::unique_ptr<Storage>(const std::string& root)> make;
};

void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

class StorageConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    root_ = MakeTempDir();
    ASSERT_FALSE(root_.empty());
    st_ = GetParam().make(root_);
  }
  void TearDown() override {
    st_.reset();
    fs::remove_all(root_);
  }

  std::string Read(const std::string& rel) {
    auto r = st_->ReadFile(rel);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::string();
  }

  std::string root_;
  std::unique_ptr<Storage> st_;
};

TEST_P(StorageConformance, WriteThenReadRoundtrips) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{4096}, size_t{1} << 20}) {
    std::string rel = "data/ab/file-" + std::to_string(size);  // parents are created
    std::string data = RandomBytes(size, size);
    ASSERT_TRUE(st_->WriteFileAtomic(rel, data).ok()) << rel;
    EXPECT_EQ(Read(rel), data) << rel;
    auto n = st_->FileSize(rel);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(*n, size);
  }
}

TEST_P(StorageConformance, OverwriteReplacesContent) {
  ASSERT_TRUE(st_->WriteFileAtomic("config", "first, longer content").ok());
  ASSERT_TRUE(st_->WriteFileAtomic("config", "second").ok());
  EXPECT_EQ(Read("config"), "second");
}

TEST_P(StorageConformance, MissingFileIsNotFoundNamingThePath) {
  auto r = st_->ReadFile("index/nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find(st_->Describe("index/nope")), std::string::npos)
      << r.status().message();
  EXPECT_FALSE(st_->FileSize("index/nope").ok());
  EXPECT_FALSE(st_->ReadAt("index/nope", 0, 1).ok());
}

TEST_P(StorageConformance, DescribeNamesTheFile) {
  std::string d = st_->Describe("data/3f/3fa1");
  EXPECT_NE(d.find(root_), std::string::npos) << d;
  EXPECT_NE(d.find("data/3f/3fa1"), std::string::npos) << d;
}

TEST_P(StorageConformance, ReadAtReadsExactlyTheRange) {
  std::string data = RandomBytes(100000, 7);
  ASSERT_TRUE(st_->WriteFileAtomic("p", data).ok());
  for (auto [off, n] :
       {std::pair<uint64_t, size_t>{0, 100000}, {0, 1}, {99999, 1}, {4096, 50000}, {100000, 0}}) {
    auto r = st_->ReadAt("p", off, n);
    ASSERT_TRUE(r.ok()) << off << "+" << n << ": " << r.status().ToString();
    EXPECT_EQ(*r, data.substr(off, n)) << off << "+" << n;
  }
}

TEST_P(StorageConformance, ShortReadAtIsCorruption) {
  ASSERT_TRUE(st_->WriteFileAtomic("p", RandomBytes(1000, 8)).ok());
  for (auto [off, n] : {std::pair<uint64_t, size_t>{999, 2}, {0, 1001}, {1000, 1}, {5000, 10}}) {
    auto r = st_->ReadAt("p", off, n);
    ASSERT_FALSE(r.ok()) << off << "+" << n;
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    EXPECT_NE(r.status().message().find(st_->Describe("p")), std::string::npos)
        << r.status().message();
  }
}

TEST_P(StorageConformance, ListIsSortedAndHidesDotFiles) {
  for (const char* name : {"c", "a", ".hidden", "b", "B", ".a.tmp-1"}) {
    ASSERT_TRUE(st_->WriteFileAtomic(std::string("snapshots/") + name, name).ok()) << name;
  }
  auto names = st_->List("snapshots");
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(*names, (std::vector<std::string>{"B", "a", "b", "c"}));
  EXPECT_TRUE(st_->Exists("snapshots/.hidden"));  // hidden from List only
}

// A rollback killed inside WriteFileAtomic leaves a hidden temporary in rollback/.
TEST_P(StorageConformance, RemoveTemporariesRemovesOnlyHiddenNames) {
  EXPECT_TRUE(st_->RemoveTemporaries("rollback").ok());  // missing: fine
  for (const char* name : {"a.journal", ".a.journal.tmp-1", ".b.progress.tmp-2"}) {
    ASSERT_TRUE(st_->WriteFileAtomic(std::string("rollback/") + name, name).ok()) << name;
  }
  ASSERT_TRUE(st_->RemoveTemporaries("rollback").ok());
  EXPECT_TRUE(st_->Exists("rollback/a.journal"));
  EXPECT_FALSE(st_->Exists("rollback/.a.journal.tmp-1"));
  EXPECT_FALSE(st_->Exists("rollback/.b.progress.tmp-2"));
}

// A pack write killed before its rename leaves a hidden temporary in data/xx/: listed with its
// size (verify notes them, repair index removes them); what List shows is not.
TEST_P(StorageConformance, ListTemporariesListsOnlyHiddenFilesWithTheirSizes) {
  auto none = st_->ListTemporaries("data/ab");  // missing: none
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(st_->WriteFileAtomic("data/ab/abcd", "pack").ok());
  ASSERT_TRUE(st_->WriteFileAtomic("data/ab/.pack.tmp-2", "12345").ok());
  ASSERT_TRUE(st_->WriteFileAtomic("data/ab/.pack.tmp-1", "1").ok());
  auto temps = st_->ListTemporaries("data/ab");
  ASSERT_TRUE(temps.ok()) << temps.status().ToString();
  ASSERT_EQ(temps->size(), 2u);
  EXPECT_EQ((*temps)[0], std::make_pair(std::string(".pack.tmp-1"), uint64_t{1}));
  EXPECT_EQ((*temps)[1], std::make_pair(std::string(".pack.tmp-2"), uint64_t{5}));
}

// storage.h: "Names (not paths) of the regular files directly inside `dir`".
TEST_P(StorageConformance, ListLeavesOutDirectories) {
  ASSERT_TRUE(st_->WriteFileAtomic("data/ab/abcd", "x").ok());
  ASSERT_TRUE(st_->WriteFileAtomic("data/file", "y").ok());
  auto names = st_->List("data");
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(*names, (std::vector<std::string>{"file"}));
}

TEST_P(StorageConformance, ListOfMissingDirectoryIsNotFound) {
  auto names = st_->List("nope");
  ASSERT_FALSE(names.ok());
  EXPECT_EQ(names.status().code(), Code::kNotFound) << names.status().ToString();
}

TEST_P(StorageConformance, CreateExclusiveTwiceIsAlreadyExists) {
  ASSERT_TRUE(st_->CreateExclusive("locks/l1", "first").ok());
  Status s = st_->CreateExclusive("locks/l1", "second");
  EXPECT_EQ(s.code(), Code::kAlreadyExists) << s.ToString();
  EXPECT_NE(s.message().find(st_->Describe("locks/l1")), std::string::npos) << s.message();
  EXPECT_EQ(Read("locks/l1"), "first");
}

TEST_P(StorageConformance, RemoveDeletesAndMissingIsNotFound) {
  ASSERT_TRUE(st_->WriteFileAtomic("locks/l1", "x").ok());
  ASSERT_TRUE(st_->ReadAt("locks/l1", 0, 1).ok());  // a cached descriptor must not keep it
  EXPECT_TRUE(st_->Exists("locks/l1"));
  ASSERT_TRUE(st_->Remove("locks/l1").ok());
  EXPECT_FALSE(st_->Exists("locks/l1"));
  EXPECT_EQ(st_->ReadFile("locks/l1").status().code(), Code::kNotFound);
  EXPECT_FALSE(st_->ReadAt("locks/l1", 0, 1).ok());
  EXPECT_EQ(st_->Remove("locks/l1").code(), Code::kNotFound);
}

TEST_P(StorageConformance, ExistsOnlyForWhatIsThere) {
  EXPECT_FALSE(st_->Exists("config"));
  ASSERT_TRUE(st_->WriteFileAtomic("config", "c").ok());
  EXPECT_TRUE(st_->Exists("config"));
  EXPECT_FALSE(st_->Exists("config/x"));
  EXPECT_FALSE(st_->Exists("conf"));
}

TEST_P(StorageConformance, MakeDirNestedAndIdempotent) {
  ASSERT_TRUE(st_->MakeDir("a/b/c").ok());
  ASSERT_TRUE(st_->MakeDir("a/b/c").ok());
  ASSERT_TRUE(st_->MakeDir("a/b").ok());
  EXPECT_TRUE(st_->Exists("a/b/c"));
  ASSERT_TRUE(st_->WriteFileAtomic("a/b/c/f", "f").ok());
  auto names = st_->List("a/b/c");
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(*names, std::vector<std::string>{"f"});
  EXPECT_TRUE(fs::is_directory(root_ + "/a/b/c"));
}

TEST_P(StorageConformance, NoTemporaryLeftAfterWrites) {
  for (int i = 0; i < 20; ++i) {
    std::string rel = "data/" + std::to_string(i % 3) + "/f" + std::to_string(i % 7);
    ASSERT_TRUE(st_->WriteFileAtomic(rel, RandomBytes(1000 + i, i)).ok());  // some overwrite
  }
  ASSERT_TRUE(st_->CreateExclusive("locks/l", "x").ok());
  EXPECT_FALSE(st_->CreateExclusive("locks/l", "y").ok());
  ASSERT_TRUE(st_->Remove("data/0/f0").ok());
  EXPECT_EQ(DotNames(root_), std::vector<std::string>{});
}

// Readers share the descriptor cache; more files than it holds, so descriptors are evicted
// while other threads read from them.
TEST_P(StorageConformance, ConcurrentReadAt) {
  constexpr int kFiles = 100, kThreads = 8, kReads = 400;
  constexpr size_t kSize = 64 << 10;
  std::vector<std::string> data;
  for (int i = 0; i < kFiles; ++i) {
    data.push_back(RandomBytes(kSize, 100 + i));
    ASSERT_TRUE(st_->WriteFileAtomic("data/p" + std::to_string(i), data.back()).ok());
  }
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kReads; ++i) {
        int f = static_cast<int>(rng() % kFiles);
        size_t off = rng() % kSize;
        size_t n = rng() % (kSize - off + 1);
        auto r = st_->ReadAt("data/p" + std::to_string(f), off, n);
        if (!r.ok() || *r != std::string_view(data[f]).substr(off, n)) bad.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_P(StorageConformance, ConcurrentWrites) {
  constexpr int kThreads = 8, kWrites = 20;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        // All threads write into the same few new directories.
        std::string rel =
            "data/" + std::to_string(i % 4) + "/t" + std::to_string(t) + "-" + std::to_string(i);
        if (!st_->WriteFileAtomic(rel, rel).ok()) failed.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kWrites; ++i) {
      std::string rel =
          "data/" + std::to_string(i % 4) + "/t" + std::to_string(t) + "-" + std::to_string(i);
      EXPECT_EQ(Read(rel), rel);
    }
  }
  EXPECT_EQ(DotNames(root_), std::vector<std::string>{});
}

INSTANTIATE_TEST_SUITE_P(
    Backends, StorageConformance,
    ::testing::Values(
        Backend{"Local", [](const std::string& root) { return NewLocalStorage(root); }},
        Backend{"FaultyNone",
                [](const std::string& root) -> std::unique_ptr<Storage> {
                  return std::make_unique<FaultyStorage>(NewLocalStorage(root), FaultPlan{});
                }},
        // kNone never fails, whatever fail_at says.
        Backend{"FaultyNoneFailAt1",
                [](const std::string& root) -> std::unique_ptr<Storage> {
                  FaultPlan plan{.kind = FaultPlan::Kind::kNone, .fail_at = 1, .sticky = true};
                  return std::make_unique<FaultyStorage>(NewLocalStorage(root), plan);
                }}),
    [](const ::testing::TestParamInfo<Backend>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// LocalStorage's O_DIRECT writes of large bulk files (data packs), through an aligned bounce
// buffer.

// Sizes around every boundary of that path (1 MiB threshold, 4 KiB blocks, 4 MiB bounce
// buffer), from an unaligned source, on the temporary directory's file system and on /dev/shm
// (tmpfs): every byte comes back and the size is exact.
TEST(LocalStorageDirect, LargeWritesRoundTripAtEveryBoundary) {
  std::vector<std::string> roots{MakeTempDir()};
  char shm[] = "/dev/shm/rewind-storage-test-XXXXXX";
  if (fs::is_directory("/dev/shm") && ::mkdtemp(shm)) roots.push_back(shm);
  for (const std::string& root : roots) {
    ASSERT_FALSE(root.empty());
    auto st = NewLocalStorage(root);
    const size_t kMiB = size_t{1} << 20;
    for (size_t size : {kMiB - 1, kMiB, kMiB + 1, kMiB + 4096, 4 * kMiB, 4 * kMiB + 4096 + 17,
                        9 * kMiB + 4095, 16 * kMiB + 1}) {
      std::string backing = RandomBytes(size + 1, size);
      std::string_view data(backing.data() + 1, size);  // not 16-byte aligned either
      std::string rel = "packs/p-" + std::to_string(size);
      ASSERT_TRUE(st->WriteBulkFileAtomic(rel, data).ok()) << root << " " << size;
      auto back = st->ReadFile(rel);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_EQ(back->size(), size) << root;
      EXPECT_TRUE(*back == data) << root << " " << size;
    }
    // A large file replaced by a small one and the other way round.
    ASSERT_TRUE(st->WriteBulkFileAtomic("packs/x", RandomBytes(3 * kMiB + 5, 1)).ok());
    ASSERT_TRUE(st->WriteBulkFileAtomic("packs/x", "small").ok());
    EXPECT_EQ(*st->ReadFile("packs/x"), "small");
    ASSERT_TRUE(st->WriteBulkFileAtomic("packs/x", RandomBytes(2 * kMiB + 3, 2)).ok());
    EXPECT_EQ(*st->ReadFile("packs/x"), RandomBytes(2 * kMiB + 3, 2));
    EXPECT_TRUE(DotNames(root).empty()) << root;  // no temporary left
    fs::remove_all(root);
  }
}

// Why the file system under `root` refuses O_DIRECT, or "" when it takes it.
std::string DirectIoRefusal(const std::string& root) {
  int probe = ::open((root + "/probe").c_str(), O_WRONLY | O_CREAT | O_DIRECT, 0600);
  if (probe < 0) return root + ": this file system refuses O_DIRECT (" + std::strerror(errno) + ")";
  ::close(probe);
  return "";
}

// Where the file system takes O_DIRECT, a large bulk file is written past the page cache: right
// after the write at most its tail is resident (mincore). A small bulk file and a large file
// written with WriteFileAtomic (tree packs, index files) stay cached.
TEST(LocalStorageDirect, LargeBulkFilesBypassThePageCache) {
  std::string root = MakeTempDir();
  ASSERT_FALSE(root.empty());
  if (std::string why = DirectIoRefusal(root); !why.empty()) GTEST_SKIP() << why;
  auto resident = [&](const std::string& rel) {
    std::string path = root + "/" + rel;
    int fd = ::open(path.c_str(), O_RDONLY);
    size_t size = static_cast<size_t>(fs::file_size(path));
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> vec((size + page - 1) / page);
    EXPECT_EQ(::mincore(map, size, vec.data()), 0);
    ::munmap(map, size);
    size_t in = 0;
    for (unsigned char v : vec) in += v & 1;
    return std::pair<size_t, size_t>(in, vec.size());
  };
  auto st = NewLocalStorage(root);
  ASSERT_TRUE(st->WriteBulkFileAtomic("big", RandomBytes(8 << 20, 3)).ok());
  ASSERT_TRUE(st->WriteBulkFileAtomic("small", RandomBytes(64 << 10, 4)).ok());
  ASSERT_TRUE(st->WriteFileAtomic("index", RandomBytes(8 << 20, 5)).ok());
  auto [big_in, big_pages] = resident("big");
  auto [small_in, small_pages] = resident("small");
  auto [index_in, index_pages] = resident("index");
  EXPECT_LE(big_in, 1u) << big_in << " of " << big_pages << " pages cached";  // at most the buffered tail
  EXPECT_EQ(small_in, small_pages);
  EXPECT_EQ(index_in, index_pages);
  fs::remove_all(root);
}

// WillRead starts reading the ranges into the page cache: a bulk file, not cached after its
// O_DIRECT write, has the hinted pages resident soon after, without a read by the caller.
TEST(LocalStorageDirect, WillReadBringsTheHintedRangesIntoThePageCache) {
  std::string root = MakeTempDir();
  ASSERT_FALSE(root.empty());
  if (std::string why = DirectIoRefusal(root); !why.empty()) GTEST_SKIP() << why;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  auto resident_pages = [&](uint64_t offset, uint64_t length) {
    std::string path = root + "/pack";
    int fd = ::open(path.c_str(), O_RDONLY);
    EXPECT_GE(fd, 0) << path << ": " << std::strerror(errno);
    size_t size = static_cast<size_t>(fs::file_size(path));
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    EXPECT_NE(map, MAP_FAILED) << path << ": " << std::strerror(errno);
    std::vector<unsigned char> vec((size + page - 1) / page);
    if (map == MAP_FAILED) return size_t{0};
    EXPECT_EQ(::mincore(map, size, vec.data()), 0);
    ::munmap(map, size);
    size_t in = 0;
    for (uint64_t p = offset / page; p < (offset + length + page - 1) / page; ++p) in += vec[p] & 1;
    return in;
  };
  auto st = NewLocalStorage(root);
  ASSERT_TRUE(st->WriteBulkFileAtomic("pack", RandomBytes(8 << 20, 6)).ok());
  const std::vector<std::pair<uint64_t, uint64_t>> ranges = {{1 << 20, 512 << 10}, {5 << 20, 256 << 10}};
  for (const auto& [offset, length] : ranges) ASSERT_EQ(resident_pages(offset, length), 0u);
  st->WillRead("pack", ranges);
  st->WillRead("missing", ranges);  // a hint about a missing file is ignored
  size_t in = 0, want = 0;
  for (const auto& r : ranges) want += r.second / page;
  for (int i = 0; i < 500 && in < want; ++i) {  // readahead completes in the background
    in = 0;
    for (const auto& [offset, length] : ranges) in += resident_pages(offset, length);
    if (in < want) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(in, want);
  fs::remove_all(root);
}

// The hints are given on a thread of the storage's own: one destroyed with hints still queued
// drops them, and neither hangs nor reads through a closed descriptor (the queued hints hold
// their files open; ASan or a hang in ctest's timeout would show otherwise).
TEST(LocalStorageDirect, WillReadQueuedHintsAreDroppedWhenTheStorageGoes) {
  std::string root = MakeTempDir();
  ASSERT_FALSE(root.empty());
  {
    auto st = NewLocalStorage(root);
    ASSERT_TRUE(st->WriteBulkFileAtomic("pack", RandomBytes(4 << 20, 7)).ok());
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (uint64_t off = 0; off + 4096 <= (4u << 20); off += 8192) ranges.emplace_back(off, 4096);
    for (int i = 0; i < 200; ++i) st->WillRead("pack", ranges);
    auto back = st->ReadAt("pack", 4096, 16);  // reads go on while hints are queued
    ASSERT_TRUE(back.ok()) << back.status().ToString();
  }
  EXPECT_TRUE(fs::remove_all(root) > 0);
}

// ---------------------------------------------------------------------------------------------
// FaultyStorage.

using Kind = FaultPlan::Kind;

class FaultyStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = MakeTempDir();
    ASSERT_FALSE(root_.empty());
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<FaultyStorage> Make(Kind kind, int fail_at, bool sticky = false) {
    return std::make_unique<FaultyStorage>(
        NewLocalStorage(root_), FaultPlan{.kind = kind, .fail_at = fail_at, .sticky = sticky});
  }
  // What is really there, bypassing the wrapper.
  bool There(const std::string& rel) const { return fs::exists(root_ + "/" + rel); }
  std::string Content(const std::string& rel) const {
    std::ifstream in(root_ + "/" + rel, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string root_;
};

TEST_F(FaultyStorageTest, CountsOnlyMutatingCalls) {
  auto st = Make(Kind::kNone, 0);
  ASSERT_TRUE(st->WriteFileAtomic("d/a", "a").ok());
  ASSERT_TRUE(st->CreateExclusive("d/b", "b").ok());
  ASSERT_TRUE(st->MakeDir("e").ok());
  ASSERT_TRUE(st->Remove("d/b").ok());
  EXPECT_EQ(st->mutating_calls(), 4);
  (void)st->ReadFile("d/a");
  (void)st->ReadAt("d/a", 0, 1);
  (void)st->FileSize("d/a");
  (void)st->List("d");
  (void)st->Exists("d/a");
  (void)st->Describe("d/a");
  EXPECT_EQ(st->mutating_calls(), 4);
  EXPECT_EQ(st->faults_injected(), 0);
}

// A bulk write is a mutating call like the others, failed the same way; a passing one reaches
// the base storage as a bulk write (LocalStorage: O_DIRECT), so fault tests run that path too.
TEST_F(FaultyStorageTest, BulkWritesAreCountedFailedAndForwardedAsBulk) {
  class Seen final : public ForwardingStorage {
   public:
    using ForwardingStorage::ForwardingStorage;
    std::vector<std::string> calls;
    Status WriteFileAtomic(const std::string& rel, std::string_view d) override {
      calls.push_back("file " + rel);
      return ForwardingStorage::WriteFileAtomic(rel, d);
    }
    Status WriteBulkFileAtomic(const std::string& rel, std::string_view d) override {
      calls.push_back("bulk " + rel);
      return ForwardingStorage::WriteBulkFileAtomic(rel, d);
    }
  };
  auto seen = std::make_unique<Seen>(NewLocalStorage(root_));
  Seen* base = seen.get();
  FaultyStorage st(std::move(seen), FaultPlan{.kind = Kind::kNoSpace, .fail_at = 2});
  const std::string big = RandomBytes(3 << 20, 9);
  ASSERT_TRUE(st.WriteBulkFileAtomic("p1", big).ok());
  Status failed = st.WriteBulkFileAtomic("p2", big);
  EXPECT_EQ(failed.code(), Code::kNoSpace) << failed.ToString();
  ASSERT_TRUE(st.WriteFileAtomic("i1", "index").ok());
  EXPECT_EQ(st.mutating_calls(), 3);
  EXPECT_EQ(st.faults_injected(), 1);
  EXPECT_EQ(base->calls, (std::vector<std::string>{"bulk p1", "file i1"}));
  EXPECT_EQ(Content("p1"), big);
  EXPECT_FALSE(There("p2"));
}

struct KindCase {
  Kind kind;
  Code code;
  const char* op;     // how the message begins
  const char* cause;  // strerror
};

void PrintTo(const KindCase& k, std::ostream* os) { *os << FaultKindName(k.kind); }

class FaultyStorageKindTest : public FaultyStorageTest,
                              public ::testing::WithParamInterface<KindCase> {};

TEST_P(FaultyStorageKindTest, NthCallFailsNamingPathAndCause) {
  const KindCase& k = GetParam();
  auto st = Make(k.kind, 3);
  ASSERT_TRUE(st->WriteFileAtomic("data/ab/ab01", "1").ok());
  ASSERT_TRUE(st->WriteFileAtomic("data/ab/ab02", "2").ok());
  Status s = st->WriteFileAtomic("data/ab/ab03", "3");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), k.code) << s.ToString();
  EXPECT_EQ(s.message(), std::string(k.op) + " " + root_ + "/data/ab/ab03: " + k.cause);
  EXPECT_EQ(st->faults_injected(), 1);
  // Nothing under the final name, no temporary.
  EXPECT_FALSE(There("data/ab/ab03"));
  EXPECT_FALSE(st->Exists("data/ab/ab03"));
  EXPECT_EQ(DotNames(root_), std::vector<std::string>{});
  // Not sticky: the next call works.
  EXPECT_TRUE(st->WriteFileAtomic("data/ab/ab04", "4").ok());
  EXPECT_EQ(Content("data/ab/ab04"), "4");
  EXPECT_EQ(st->mutating_calls(), 4);
}

TEST_P(FaultyStorageKindTest, FailedOverwriteKeepsTheOldFile) {
  const KindCase& k = GetParam();
  auto st = Make(k.kind, 2);
  ASSERT_TRUE(st->WriteFileAtomic("config", "old").ok());
  EXPECT_EQ(st->WriteFileAtomic("config", "new").code(), k.code);
  EXPECT_EQ(Content("config"), "old");
  EXPECT_EQ(DotNames(root_), std::vector<std::string>{});
}

TEST_P(FaultyStorageKindTest, FailedCreateExclusiveLeavesNothing) {
  const KindCase& k = GetParam();
  auto st = Make(k.kind, 1);
  Status s = st->CreateExclusive("locks/l1", "lock");
  EXPECT_EQ(s.code(), k.code) << s.ToString();
  EXPECT_NE(s.message().find(root_ + "/locks/l1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(k.cause), std::string::npos) << s.message();
  EXPECT_FALSE(There("locks/l1"));
  auto names = st->List("locks");
  EXPECT_TRUE(!names.ok() || names->empty());
  // The name is free: a later attempt succeeds.
  EXPECT_TRUE(st->CreateExclusive("locks/l1", "lock").ok());
}

TEST_P(FaultyStorageKindTest, StickyKeepsFailingEveryMutatingCall) {
  const KindCase& k = GetParam();
  auto st = Make(k.kind, 2, /*sticky=*/true);
  ASSERT_TRUE(st->WriteFileAtomic("keep", "k").ok());
  for (int i = 0; i < 3; ++i) {
    Status s = st->WriteFileAtomic("f" + std::to_string(i), "x");
    EXPECT_EQ(s.code(), k.code) << s.ToString();
    EXPECT_NE(s.message().find(k.cause), std::string::npos) << s.message();
  }
  EXPECT_EQ(st->CreateExclusive("locks/l", "x").code(), k.code);
  EXPECT_FALSE(st->MakeDir("newdir").ok());
  EXPECT_FALSE(st->Remove("keep").ok());
  EXPECT_EQ(st->mutating_calls(), 7);
  EXPECT_EQ(st->faults_injected(), 6);
  EXPECT_FALSE(There("f0") || There("f1") || There("f2") || There("locks/l"));
  EXPECT_EQ(DotNames(root_), std::vector<std::string>{});
  if (k.kind == Kind::kFsyncError) {
    // fsync of the directory fails after the change was made, as in LocalStorage.
    EXPECT_TRUE(There("newdir"));
    EXPECT_FALSE(There("keep"));
  } else {
    EXPECT_FALSE(There("newdir"));
    EXPECT_EQ(Content("keep"), "k");
  }
}

TEST_P(FaultyStorageKindTest, CreateExclusiveOfExistingNameIsAlreadyExists) {
  const KindCase& k = GetParam();
  auto st = Make(k.kind, 2);
  ASSERT_TRUE(st->CreateExclusive("locks/l", "first").ok());
  EXPECT_EQ(st->CreateExclusive("locks/l", "second").code(), Code::kAlreadyExists);
  EXPECT_EQ(Content("locks/l"), "first");
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, FaultyStorageKindTest,
    ::testing::Values(KindCase{Kind::kNoSpace, Code::kNoSpace, "write", "No space left on device"},
                      KindCase{Kind::kIOError, Code::kIOError, "write", "Input/output error"},
                      KindCase{Kind::kFsyncError, Code::kIOError, "fsync", "Input/output error"}),
    [](const ::testing::TestParamInfo<KindCase>& info) {
      switch (info.param.kind) {
        case Kind::kNoSpace: return "NoSpace";
        case Kind::kIOError: return "IOError";
        default: return "Fsync";
      }
    });

TEST_F(FaultyStorageTest, FsyncErrorOfRemoveAndMakeDirNamesTheDirectory) {
  auto st = Make(Kind::kFsyncError, 2, /*sticky=*/true);
  ASSERT_TRUE(st->WriteFileAtomic("locks/l", "x").ok());
  Status s = st->Remove("locks/l");
  EXPECT_EQ(s.code(), Code::kIOError);
  EXPECT_EQ(s.message(), "fsync directory " + root_ + "/locks: Input/output error");
  s = st->MakeDir("a/b");
  EXPECT_EQ(s.message(), "fsync directory " + root_ + "/a: Input/output error");
}

TEST_F(FaultyStorageTest, NoSpaceOfRemoveAndMakeDirChangesNothing) {
  auto st = Make(Kind::kNoSpace, 2, /*sticky=*/true);
  ASSERT_TRUE(st->WriteFileAtomic("locks/l", "x").ok());
  Status s = st->Remove("locks/l");
  EXPECT_EQ(s.code(), Code::kNoSpace);
  EXPECT_EQ(s.message(), "remove " + root_ + "/locks/l: No space left on device");
  s = st->MakeDir("a/b");
  EXPECT_EQ(s.message(), "mkdir " + root_ + "/a/b: No space left on device");
  EXPECT_TRUE(There("locks/l"));
  EXPECT_FALSE(There("a"));
}

TEST_F(FaultyStorageTest, CrashDropsTheCallInProgressAndEverythingAfter) {
  auto st = Make(Kind::kCrash, 2);  // sticky implied
  ASSERT_TRUE(st->WriteFileAtomic("data/p1", "durable").ok());
  Status s = st->WriteFileAtomic("data/p2", "0123456789");
  EXPECT_EQ(s.code(), Code::kIOError);
  EXPECT_NE(s.message().find(root_ + "/data/p2"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("crashed"), std::string::npos) << s.message();
  EXPECT_FALSE(There("data/p2"));
  // A partial temporary is what the crash leaves.
  auto dots = DotNames(root_);
  ASSERT_EQ(dots.size(), 1u);
  EXPECT_EQ(dots[0].rfind("data/.p2", 0), 0u) << dots[0];
  EXPECT_EQ(Content(dots[0]), "01234");
  // Nothing after the crash happens.
  EXPECT_FALSE(st->WriteFileAtomic("data/p3", "x").ok());
  EXPECT_FALSE(st->CreateExclusive("locks/l", "x").ok());
  EXPECT_FALSE(st->Remove("data/p1").ok());
  EXPECT_FALSE(st->MakeDir("newdir").ok());
  EXPECT_FALSE(There("data/p3") || There("locks/l") || There("newdir"));
  EXPECT_EQ(DotNames(root_).size(), 1u);
  // What was durable before is intact and readable.
  EXPECT_EQ(Content("data/p1"), "durable");
  auto r = st->ReadFile("data/p1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "durable");
  EXPECT_EQ(st->faults_injected(), 5);
}

TEST_F(FaultyStorageTest, CrashDuringCreateExclusiveLeavesOnlyATemporary) {
  auto st = Make(Kind::kCrash, 1);
  EXPECT_FALSE(st->CreateExclusive("locks/l", "{\"pid\":1}").ok());
  EXPECT_FALSE(There("locks/l"));
  EXPECT_EQ(DotNames(root_).size(), 1u);
}

TEST_F(FaultyStorageTest, ConcurrentCallsFailExactlyOnce) {
  constexpr int kThreads = 8, kWrites = 25;
  auto st = Make(Kind::kIOError, 100);
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        Status s = st->WriteFileAtomic("data/t" + std::to_string(t) + "-" + std::to_string(i), "x");
        if (!s.ok()) failed.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 1);
  EXPECT_EQ(st->mutating_calls(), kThreads * kWrites);
  EXPECT_EQ(st->faults_injected(), 1);
  auto names = st->List("data");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), static_cast<size_t>(kThreads * kWrites - 1));
}

TEST_F(FaultyStorageTest, KindNames) {
  EXPECT_STREQ(FaultKindName(Kind::kNoSpace), "ENOSPC");
  EXPECT_STREQ(FaultKindName(Kind::kFsyncError), "fsync");
}

}  // namespace
}  // namespace rw
