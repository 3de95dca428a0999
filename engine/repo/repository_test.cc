#include "engine/repo/repository.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/base/clock.h"
#include "engine/format/checksum.h"
#include "engine/format/format_constants.h"
#include "engine/format/index_codec.h"
#include "engine/format/pack.h"
#include "engine/storage/forwarding_storage.h"

namespace rw {
namespace {

namespace fs = std::filesystem;

class RepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rewind-repo-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/repo";
    ASSERT_TRUE(Repository::Init(path_).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Opens the repository through a storage wrapper W over the local directory; `*seen`
  // points at the wrapper, which the repository owns.
  template <typename W>
  std::unique_ptr<Repository> OpenThrough(W** seen) {
    auto wrapper = std::make_unique<W>(NewLocalStorage(path_));
    *seen = wrapper.get();
    auto r = Repository::Open(std::move(wrapper));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  std::unique_ptr<Repository> OpenOrDie() {
    auto r = Repository::Open(path_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  static std::string Text(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void Write(const std::string& p, const std::string& data) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
  }

  std::string dir_, path_;
};

TEST_F(RepositoryTest, InitRefusesNonEmptyDirectory) {
  Status s = Repository::Init(path_);
  EXPECT_EQ(s.code(), Code::kAlreadyExists);
  EXPECT_NE(s.message().find("already holds a repository"), std::string::npos) << s.message();
}

TEST_F(RepositoryTest, InitRecordsTheCompressionLevels) {
  auto repo = OpenOrDie();
  ASSERT_NE(repo, nullptr);
  EXPECT_EQ(repo->config().zstd_level, format::kDefaultZstdLevel);
  EXPECT_EQ(repo->config().db_zstd_level, format::kDefaultDbZstdLevel);
  EXPECT_NE(Text(path_ + "/config").find("\"database_level\":1"), std::string::npos);

  ASSERT_TRUE(Repository::Init(dir_ + "/chosen", InitOptions{7, 3}).ok());
  auto chosen = Repository::Open(dir_ + "/chosen");
  ASSERT_TRUE(chosen.ok()) << chosen.status().ToString();
  EXPECT_EQ((*chosen)->config().zstd_level, 7);
  EXPECT_EQ((*chosen)->config().db_zstd_level, 3);

  Status bad = Repository::Init(dir_ + "/bad", InitOptions{3, 20});
  EXPECT_EQ(bad.code(), Code::kInvalidArgument);
  EXPECT_NE(bad.message().find("20"), std::string::npos) << bad.message();
  EXPECT_FALSE(fs::exists(dir_ + "/bad"));
}

// A repository made before database dumps had their own level: they keep the files' level.
TEST_F(RepositoryTest, ConfigWithoutDatabaseLevelUsesTheFilesLevel) {
  nlohmann::json j = nlohmann::json::parse(Text(path_ + "/config"));
  j["compression"].erase("database_level");
  j["compression"]["level"] = 5;
  j.erase("checksum");
  char sum[17];
  std::snprintf(sum, sizeof sum, "%016llx", static_cast<unsigned long long>(Xxh3_64(j.dump())));
  j["checksum"] = sum;
  Write(path_ + "/config", j.dump() + "\n");
  auto repo = OpenOrDie();
  ASSERT_NE(repo, nullptr);
  EXPECT_EQ(repo->config().zstd_level, 5);
  EXPECT_EQ(repo->config().db_zstd_level, 5);
}

TEST_F(RepositoryTest, OpenRejectsWhatIsNotARepository) {
  auto missing = Repository::Open(dir_ + "/nope");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find(dir_ + "/nope"), std::string::npos);
  fs::create_directory(dir_ + "/empty");
  auto empty = Repository::Open(dir_ + "/empty");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("not a rewind repository"), std::string::npos);
}

TEST_F(RepositoryTest, OpenRejectsOtherFormatVersion) {
  std::string config = Text(path_ + "/config");
  auto pos = config.find("\"version\":1");
  ASSERT_NE(pos, std::string::npos) << config;
  config.replace(pos, 11, "\"version\":99");
  Write(path_ + "/config", config);
  auto r = Repository::Open(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotSupported);
  EXPECT_NE(r.status().message().find("version 99"), std::string::npos) << r.status().message();
}

TEST_F(RepositoryTest, AnyDamagedConfigByteIsCorruption) {
  const std::string config = Text(path_ + "/config");
  for (size_t i = 0; i < config.size(); ++i) {
    std::string bad = config;
    bad[i] = static_cast<char>(bad[i] ^ (i % 2 ? 0x01 : 0x29));  // e.g. ' ' <-> '\t' style flips
    Write(path_ + "/config", bad);
    auto r = Repository::Open(path_);
    EXPECT_FALSE(r.ok()) << "byte " << i << " flipped went unnoticed";
  }
  Write(path_ + "/config", config);
  EXPECT_TRUE(Repository::Open(path_).ok());
}

TEST_F(RepositoryTest, TruncatedConfigIsCorruption) {
  std::string config = Text(path_ + "/config");
  Write(path_ + "/config", config.substr(0, config.size() / 2));
  auto r = Repository::Open(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
}

TEST_F(RepositoryTest, BlobsSurviveCommitAndReopen) {
  std::mt19937_64 rng(7);
  std::vector<std::pair<BlobId, std::string>> blobs;
  {
    auto repo = OpenOrDie();
    BlobSink sink(repo.get());
    for (int i = 0; i < 50; ++i) {
      std::string raw(1000 + i * 40000, '\0');
      for (char& c : raw) c = static_cast<char>(rng() % 7);  // compressible
      BlobId id = Sha256(raw);
      auto added = sink.Add(BlobType::kData, id, CompressBlob(raw, 3), static_cast<uint32_t>(raw.size()));
      ASSERT_TRUE(added.ok());
      EXPECT_TRUE(*added);
      // The same blob again is deduplicated before commit.
      auto again = sink.Add(BlobType::kData, id, CompressBlob(raw, 3), static_cast<uint32_t>(raw.size()));
      ASSERT_TRUE(again.ok());
      EXPECT_FALSE(*again);
      blobs.emplace_back(id, raw);
    }
    EXPECT_FALSE(repo->Has(blobs[0].first)) << "visible in the index before commit";
    ASSERT_TRUE(sink.Commit().ok());
    EXPECT_TRUE(repo->Has(blobs[0].first));
  }
  auto repo = OpenOrDie();
  EXPECT_EQ(repo->IndexSize(), blobs.size());
  for (const auto& [id, raw] : blobs) {
    auto got = repo->LoadBlob(id, BlobType::kData);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, raw);
  }
  // Read as the other type, the same stored bytes (format.md §2: a file may hold the bytes of a
  // tree; both uses share one id and one stored copy, indexed with the type of the first).
  auto as_tree = repo->LoadBlob(blobs[0].first, BlobType::kTree);
  ASSERT_TRUE(as_tree.ok()) << as_tree.status().ToString();
  EXPECT_EQ(*as_tree, blobs[0].second);
  auto where = repo->Locate(blobs[0].first, BlobType::kTree);
  ASSERT_TRUE(where.ok()) << where.status().ToString();
  EXPECT_EQ(where->type, BlobType::kData) << "the indexed type stays that of the first use";
  // Every pack and index file is named after the SHA-256 of its bytes.
  for (const char* dir : {"index", "data"}) {
    for (auto& e : fs::recursive_directory_iterator(path_ + "/" + dir)) {
      if (!e.is_regular_file()) continue;
      EXPECT_EQ(Sha256(Text(e.path())).Hex(), e.path().filename().string());
    }
  }
}

// The real local storage, with every write it is asked for noted in order (which packs went
// the bulk way, and when): observation only, nothing is faked.
class NotingStorage final : public ForwardingStorage {
 public:
  using ForwardingStorage::ForwardingStorage;
  std::vector<std::string> writes;             // "bulk <rel>" or "file <rel>"
  std::vector<std::vector<BlobId>> pack_blobs;  // per write: the blobs of a pack, from its trailer
  Status WriteFileAtomic(const std::string& rel, std::string_view d) override {
    Note("file " + rel, d);
    return ForwardingStorage::WriteFileAtomic(rel, d);
  }
  Status WriteBulkFileAtomic(const std::string& rel, std::string_view d) override {
    Note("bulk " + rel, d);
    return ForwardingStorage::WriteBulkFileAtomic(rel, d);
  }

 private:
  void Note(std::string w, std::string_view d) {
    std::vector<BlobId> ids;
    if (w.find(" data/") != std::string::npos) {
      auto trailer = ParsePackTrailer(d, d.size());
      EXPECT_TRUE(trailer.ok()) << w;
      if (trailer.ok()) {
        for (const PackEntry& e : trailer->entries) ids.push_back(e.id);
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    writes.push_back(std::move(w));
    pack_blobs.push_back(std::move(ids));
  }
  std::mutex mu_;
};

// Data blobs and trees go to packs of their own: data packs the bulk way (past the page cache),
// tree packs as ordinary files, and only after every data pack (a tree is stored after the blobs
// it names, format.md I5); then the index. Also when the trees fill a pack mid-way.
TEST_F(RepositoryTest, TreesGoToTheirOwnPacksAfterTheDataTheyName) {
  NotingStorage* seen = nullptr;
  auto repo = OpenThrough(&seen);
  ASSERT_NE(repo, nullptr);
  const uint64_t target = repo->config().pack_target_size;
  std::mt19937_64 rng(11);
  auto random = [&](size_t n) {
    std::string raw(n, '\0');
    for (char& c : raw) c = static_cast<char>(rng());
    return raw;
  };
  std::vector<std::pair<BlobId, BlobType>> added;
  {
    BlobSink sink(repo.get());
    auto add = [&](BlobType type, const std::string& raw) {
      BlobId id = Sha256(raw);
      ASSERT_TRUE(sink.Add(type, id, CompressBlob(raw, 1), static_cast<uint32_t>(raw.size())).ok());
      added.emplace_back(id, type);
    };
    // Incompressible data past one pack, trees (incompressible too) past one pack, interleaved.
    // Sizes that do not divide the target: when the trees fill a pack, part of the data is
    // still in the data pack being filled.
    for (uint64_t bytes = 0; bytes < target + target / 2; bytes += 300 << 10) {
      add(BlobType::kData, random(700 << 10));
      add(BlobType::kTree, random(300 << 10));
    }
    ASSERT_TRUE(sink.Commit().ok());
  }
  // Each pack holds one type only.
  for (const auto& [id, type] : added) {
    auto where = repo->Find(id);
    ASSERT_TRUE(where.has_value());
    EXPECT_EQ(where->type, type);
    for (const auto& [id2, type2] : added) {
      if (type2 != type) {
        EXPECT_FALSE(repo->Find(id2)->pack == where->pack);
      }
    }
  }
  // The order of the writes: a tree pack only when no data blob added before it is still
  // unwritten; data packs bulk, tree packs and the index file ordinary.
  size_t data_packs = 0, tree_packs = 0;
  bool index_written = false;
  for (const std::string& w : seen->writes) {
    const bool bulk = w.rfind("bulk ", 0) == 0;
    const std::string rel = w.substr(5);
    if (rel.rfind("index/", 0) == 0) {
      EXPECT_FALSE(bulk);
      index_written = true;
      continue;
    }
    ASSERT_EQ(rel.rfind("data/", 0), 0u) << w;
    EXPECT_FALSE(index_written) << "a pack after the index: " << w;
    if (bulk) {
      ++data_packs;
    } else {
      ++tree_packs;
    }
  }
  EXPECT_TRUE(index_written);
  EXPECT_GE(data_packs, 2u);
  EXPECT_GE(tree_packs, 1u);
  // I5, exactly: when a tree pack is written, every data blob added before the last tree it
  // holds is in a pack written before it.
  std::map<BlobId, size_t> written_at;
  for (size_t w = 0; w < seen->pack_blobs.size(); ++w) {
    for (const BlobId& id : seen->pack_blobs[w]) written_at[id] = w;
  }
  for (size_t w = 0; w < seen->writes.size(); ++w) {
    if (seen->writes[w].rfind("file data/", 0) != 0) continue;
    size_t last_tree = 0;
    for (size_t k = 0; k < added.size(); ++k) {
      if (added[k].second == BlobType::kTree && written_at.at(added[k].first) == w) last_tree = k;
    }
    for (size_t k = 0; k < last_tree; ++k) {
      if (added[k].second != BlobType::kData) continue;
      EXPECT_LT(written_at.at(added[k].first), w) << "data blob " << k << " after the tree pack " << w;
    }
  }
  for (const auto& [id, type] : added) {
    auto got = repo->LoadBlob(id, type);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
  }
}

// SortForLoading: pack and offset order. WillLoad: per pack one hint, whose ranges start and
// end at frames, cover every frame, and are apart by more than kWillLoadGap.
class HintStorage final : public ForwardingStorage {
 public:
  using ForwardingStorage::ForwardingStorage;
  std::vector<std::pair<std::string, std::vector<std::pair<uint64_t, uint64_t>>>> hints;
  void WillRead(const std::string& rel, const std::vector<std::pair<uint64_t, uint64_t>>& ranges) override {
    hints.emplace_back(rel, ranges);
    ForwardingStorage::WillRead(rel, ranges);
  }
};

TEST_F(RepositoryTest, WillLoadHintsMergedRangesOfEveryFramePackByPack) {
  HintStorage* seen = nullptr;
  auto repo = OpenThrough(&seen);
  ASSERT_NE(repo, nullptr);
  std::mt19937_64 rng(12);
  std::vector<BlobId> ids;
  {
    BlobSink sink(repo.get());
    // Small and large incompressible blobs over several packs: some neighbours closer than the
    // gap, some farther.
    for (int i = 0; i < 120; ++i) {
      const size_t size = i % 7 == 0 ? (900 << 10) : i % 5 == 0 ? (300 << 10) + rng() % (100 << 10) : 1 + rng() % (40 << 10);
      std::string raw(size, '\0');
      for (char& c : raw) c = static_cast<char>(rng());
      BlobId id = Sha256(raw);
      ASSERT_TRUE(sink.Add(BlobType::kData, id, CompressBlob(raw, 1), static_cast<uint32_t>(raw.size())).ok());
      ids.push_back(id);
    }
    ASSERT_TRUE(sink.Commit().ok());
  }
  std::vector<IndexEntry> located;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (rng() % 3 == 0) continue;  // a scattered subset
    auto e = repo->Locate(ids[i], BlobType::kData);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    located.push_back(*e);
  }
  std::shuffle(located.begin(), located.end(), rng);
  const size_t wanted = located.size();
  Repository::SortForLoading(&located);
  ASSERT_EQ(located.size(), wanted);
  repo->WillLoad(located);
  std::set<BlobId> packs;
  for (size_t i = 0; i < located.size(); ++i) {
    packs.insert(located[i].pack);
    if (i == 0) continue;
    const IndexEntry& a = located[i - 1];
    const IndexEntry& b = located[i];
    EXPECT_TRUE(a.pack < b.pack || (a.pack == b.pack && a.offset < b.offset)) << "not in pack and offset order at " << i;
  }
  ASSERT_GE(packs.size(), 2u);
  ASSERT_EQ(seen->hints.size(), packs.size()) << "one hint per pack";
  bool merged_some = false, split_some = false;
  for (const auto& [rel, ranges] : seen->hints) {
    std::vector<const IndexEntry*> frames;
    for (const IndexEntry& e : located) {
      if (PackPath(e.pack) == rel) frames.push_back(&e);
    }
    ASSERT_FALSE(frames.empty()) << rel;
    ASSERT_FALSE(ranges.empty()) << rel;
    for (size_t r = 1; r < ranges.size(); ++r) {
      EXPECT_GT(ranges[r].first, ranges[r - 1].first + ranges[r - 1].second + Repository::kWillLoadGap) << rel;
      split_some = true;
    }
    for (const auto& [offset, length] : ranges) {
      size_t inside = 0;
      bool starts = false, ends = false;
      for (const IndexEntry* e : frames) {
        if (e->offset >= offset && e->offset + e->compressed_length <= offset + length) ++inside;
        starts |= e->offset == offset;
        ends |= e->offset + e->compressed_length == offset + length;
      }
      EXPECT_TRUE(starts && ends) << rel << ": a range starts and ends at frames";
      uint64_t reached = offset;  // frames inside, in order: no hole wider than the gap
      for (const IndexEntry* e : frames) {
        if (e->offset < offset || e->offset >= offset + length) continue;
        EXPECT_LE(e->offset, reached + Repository::kWillLoadGap) << rel << ": a hole inside a range";
        reached = std::max(reached, e->offset + e->compressed_length);
      }
      if (inside > 1) merged_some = true;
    }
    for (const IndexEntry* e : frames) {
      size_t covering = 0;
      for (const auto& [offset, length] : ranges) {
        if (e->offset >= offset && e->offset + e->compressed_length <= offset + length) ++covering;
      }
      EXPECT_EQ(covering, 1u) << rel << " frame at " << e->offset;
    }
  }
  EXPECT_TRUE(merged_some);
  EXPECT_TRUE(split_some);
}

TEST_F(RepositoryTest, DamagedPackIsReportedByLoadBlob) {
  BlobId id;
  {
    auto repo = OpenOrDie();
    BlobSink sink(repo.get());
    std::string raw(100000, 'x');
    id = Sha256(raw);
    ASSERT_TRUE(sink.Add(BlobType::kData, id, CompressBlob(raw, 3), raw.size()).ok());
    ASSERT_TRUE(sink.Commit().ok());
  }
  for (auto& e : fs::recursive_directory_iterator(path_ + "/data")) {
    if (!e.is_regular_file()) continue;
    std::string pack = Text(e.path());
    pack[10] ^= 0x40;
    Write(e.path(), pack);
  }
  auto repo = OpenOrDie();
  auto got = repo->LoadBlob(id, BlobType::kData);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kCorruption);
  EXPECT_NE(got.status().message().find(id.Short()), std::string::npos) << got.status().message();
}

TEST_F(RepositoryTest, DamagedIndexFileFailsOpenWithItsName) {
  {
    auto repo = OpenOrDie();
    BlobSink sink(repo.get());
    std::string raw = "hello";
    ASSERT_TRUE(sink.Add(BlobType::kData, Sha256(raw), CompressBlob(raw, 3), raw.size()).ok());
    ASSERT_TRUE(sink.Commit().ok());
  }
  std::string name = fs::directory_iterator(path_ + "/index")->path().filename();
  std::string data = Text(path_ + "/index/" + name);
  Write(path_ + "/index/" + name, data.substr(0, data.size() - 3));
  auto r = Repository::Open(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find(name), std::string::npos);
}

TEST_F(RepositoryTest, SnapshotNamesAreContentHashes) {
  auto repo = OpenOrDie();
  auto id = repo->SaveSnapshotDoc("{\"x\":1}");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, Sha256("{\"x\":1}").Hex());
  auto ids = repo->ListSnapshotIds();
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, std::vector<std::string>{*id});
  Write(path_ + "/snapshots/" + *id, "{\"x\":2}");
  EXPECT_EQ(repo->LoadSnapshotDoc(*id).status().code(), Code::kCorruption);
}

// What a backup leaves in the repository, from another process: one blob (packed, then an
// index file naming it), then a snapshot document naming the blob. Returns the child's exit
// status (0: all written).
int BackUpOneBlobInAnotherProcess(const std::string& path, const std::string& raw) {
  pid_t child = ::fork();
  if (child == 0) {
    int rc = 0;
    {
      auto repo = Repository::Open(path);
      if (!repo.ok()) _exit(1);
      BlobSink sink(repo->get());
      const BlobId id = Sha256(raw);
      if (!sink.Add(BlobType::kData, id, CompressBlob(raw, 3), raw.size()).ok() || !sink.Commit().ok()) rc = 2;
      if (rc == 0 && !(*repo)->SaveSnapshotDoc("{\"blob\":\"" + id.Hex() + "\"}\n").ok()) rc = 3;
    }
    _exit(rc);
  }
  int status = 0;
  if (child < 0 || ::waitpid(child, &status, 0) != child) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A command opens the repository (loading the index), then lists the snapshots; a backup that
// saved a snapshot in between wrote its index file first (I2). The listing loads that index
// file: every blob of every snapshot listed is found. Before, the blobs of such a snapshot were
// "not in the index": `verify` run during a backup reported damage (exit 1), `restore latest`
// failed with "blob … is not in the index".
TEST_F(RepositoryTest, SnapshotSavedSinceOpenHasItsBlobsFoundOnceListed) {
  auto repo = OpenOrDie();
  ASSERT_NE(repo, nullptr);
  const std::string raw = "a file backed up while another command had the repository open";
  ASSERT_EQ(BackUpOneBlobInAnotherProcess(path_, raw), 0);
  auto ids = repo->ListSnapshotIds();
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  ASSERT_EQ(ids->size(), 1u);
  auto doc = repo->LoadSnapshotDoc((*ids)[0]);
  ASSERT_TRUE(doc.ok());
  EXPECT_NE(doc->find(Sha256(raw).Hex()), std::string::npos);
  EXPECT_TRUE(repo->Has(Sha256(raw))) << "the blob of a listed snapshot is not in the index";
  auto got = repo->LoadBlob(Sha256(raw), BlobType::kData);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, raw);
  EXPECT_EQ(repo->index_files().size(), 1u);
  // Listing again reads nothing twice.
  ASSERT_TRUE(repo->ListSnapshotIds().ok());
  EXPECT_EQ(repo->index_files().size(), 1u);
  EXPECT_EQ(repo->IndexSize(), 1u);
}

// The real local storage; right after its first listing of index/, `repair index` runs (as
// another process would at that moment): it writes one index file holding every entry of the
// files listed, then removes them. Only the repair is done here; every call goes through.
class RepairAfterFirstIndexListing final : public ForwardingStorage {
 public:
  using ForwardingStorage::ForwardingStorage;
  Result<std::vector<std::string>> List(const std::string& dir) override {
    auto names = ForwardingStorage::List(dir);
    if (dir != "index" || repaired_ || !names.ok()) return names;
    repaired_ = true;
    std::vector<IndexEntry> all;
    for (const std::string& name : *names) {
      auto data = ForwardingStorage::ReadFile("index/" + name);
      EXPECT_TRUE(data.ok());
      auto entries = DecodeIndex(data.ok() ? *data : "");
      EXPECT_TRUE(entries.ok());
      if (entries.ok()) all.insert(all.end(), entries->begin(), entries->end());
    }
    const std::string merged = EncodeIndex(all);
    const std::string merged_name = Sha256(merged).Hex();
    EXPECT_TRUE(ForwardingStorage::WriteFileAtomic("index/" + merged_name, merged).ok());
    for (const std::string& name : *names) {
      if (name == merged_name) continue;
      EXPECT_TRUE(ForwardingStorage::Remove("index/" + name).ok());
    }
    return names;
  }

 private:
  bool repaired_ = false;
};

// An index file removed by `repair index` between the listing of index/ and its reading is not
// damage: the listing is made again and the repair's file read instead. Before, a backup started
// while a repair finished failed with "cannot open repository: index file … No such file
// (run `rewind verify`, then `rewind repair index`)", and verify reported that file as damage.
TEST_F(RepositoryTest, IndexFileReplacedByARepairWhileOpeningIsNotDamage) {
  std::vector<std::string> raws = {"first backup", "second backup"};
  for (const std::string& raw : raws) ASSERT_EQ(BackUpOneBlobInAnotherProcess(path_, raw), 0);
  ASSERT_EQ(std::distance(fs::directory_iterator(path_ + "/index"), fs::directory_iterator()), 2);
  for (bool tolerate : {false, true}) {  // a backup's open, then verify's (the files replaced again)
    if (tolerate) {
      for (const std::string& raw : raws) ASSERT_EQ(BackUpOneBlobInAnotherProcess(path_, raw + " again"), 0);
    }
    OpenOptions options;
    options.tolerate_index_damage = tolerate;
    auto repo = Repository::Open(std::make_unique<RepairAfterFirstIndexListing>(NewLocalStorage(path_)), options);
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    EXPECT_TRUE((*repo)->damaged_index_files().empty()) << (*repo)->damaged_index_files()[0];
    for (const std::string& raw : raws) {
      auto got = (*repo)->LoadBlob(Sha256(raw), BlobType::kData);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(*got, raw);
    }
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(path_ + "/index"), fs::directory_iterator()), 1);
}

TEST_F(RepositoryTest, SharedLocksCoexistExclusiveDoesNot) {
  auto repo = OpenOrDie();
  auto a = repo->Lock(false, "backup one");
  ASSERT_TRUE(a.ok());
  auto b = repo->Lock(false, "backup two");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto x = repo->Lock(true, "prune");
  ASSERT_FALSE(x.ok());
  EXPECT_EQ(x.status().code(), Code::kLocked);
  EXPECT_NE(x.status().message().find("backup"), std::string::npos);
  EXPECT_NE(x.status().message().find(std::to_string(::getpid())), std::string::npos);
  a->reset();
  b->reset();
  auto locks = repo->ListLocks();
  ASSERT_TRUE(locks.ok());
  EXPECT_TRUE(locks->empty()) << "released locks leave no file";
  auto x2 = repo->Lock(true, "prune");
  ASSERT_TRUE(x2.ok());
  auto s = repo->Lock(false, "backup");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("prune"), std::string::npos) << s.status().message();
}

// The lock file's two timestamps are one reading of the clock (they differed by the time
// between two readings).
TEST_F(RepositoryTest, LockFileTimesAgree) {
  auto repo = OpenOrDie();
  auto lock = repo->Lock(true, "rollback");
  ASSERT_TRUE(lock.ok());
  int files = 0;
  for (const auto& e : fs::directory_iterator(path_ + "/locks")) {
    std::ifstream in(e.path());
    auto j = nlohmann::json::parse(in);
    EXPECT_EQ(j.at("since").get<std::string>(), FormatRfc3339Ns(j.at("since_ns").get<int64_t>()));
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST_F(RepositoryTest, StaleLockIsReportedNotBrokenThenRemovedByUnlock) {
  auto repo = OpenOrDie();
  pid_t child = ::fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);  // a pid that is surely dead now
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  Write(path_ + "/locks/00112233445566778899aabbccddeeff",
        std::string("{\"hostname\":\"") + host + "\",\"pid\":" + std::to_string(child) +
            ",\"since_ns\":1,\"command\":\"rewind backup\",\"exclusive\":true}");
  auto l = repo->Lock(false, "backup");
  ASSERT_FALSE(l.ok());
  EXPECT_NE(l.status().message().find("stale"), std::string::npos) << l.status().message();
  EXPECT_NE(l.status().message().find("rewind unlock"), std::string::npos);
  EXPECT_TRUE(fs::exists(path_ + "/locks/00112233445566778899aabbccddeeff"));
  auto removed = repo->RemoveStaleLocks();
  ASSERT_TRUE(removed.ok());
  ASSERT_EQ(removed->size(), 1u);
  EXPECT_EQ((*removed)[0].pid, child);
  EXPECT_TRUE(repo->Lock(false, "backup").ok());
}

// A process that takes an exclusive lock in the repository at `path`, says so on `ready` (one
// byte), then waits: it releases its lock and ends normally when `go` is written to or closed.
pid_t ExclusiveHolder(const std::string& path, int ready[2], int go[2]) {
  pid_t child = ::fork();
  if (child != 0) {
    ::close(ready[1]);
    ::close(go[0]);
    return child;
  }
  ::close(ready[0]);
  ::close(go[1]);
  int rc = 0;
  {
    auto repo = Repository::Open(path);
    if (!repo.ok()) _exit(1);
    auto lock = (*repo)->Lock(true, "repair index");
    if (!lock.ok()) _exit(2);
    char c = 1;
    if (::write(ready[1], &c, 1) != 1) rc = 3;
    (void)!::read(go[0], &c, 1);
  }  // the lock is released here
  _exit(rc);
}

// Starts an ExclusiveHolder and waits until it holds its lock: its pid, and in *go the end to
// write to or close to let it go; -1 when it could not be started or could not lock.
pid_t LockedExclusiveHolder(const std::string& path, int* go) {
  int ready[2], go_pipe[2];
  if (::pipe(ready) != 0 || ::pipe(go_pipe) != 0) return -1;
  pid_t holder = ExclusiveHolder(path, ready, go_pipe);
  if (holder <= 0) return -1;
  char c = 0;
  const bool locked = ::read(ready[0], &c, 1) == 1;
  ::close(ready[0]);
  *go = go_pipe[1];
  return locked ? holder : -1;
}

// The real local storage; when the lock file of process `pid` has been read, that process is
// told to release its lock and end, and is waited for (it is gone before the reader goes on).
class HolderEndsAfterItsLockIsRead final : public ForwardingStorage {
 public:
  HolderEndsAfterItsLockIsRead(std::unique_ptr<Storage> base, pid_t pid, int go)
      : ForwardingStorage(std::move(base)), pid_(pid), go_(go) {}
  Result<std::string> ReadFile(const std::string& rel) override {
    auto text = ForwardingStorage::ReadFile(rel);
    if (go_ >= 0 && rel.rfind("locks/", 0) == 0 && text.ok() &&
        text->find("\"pid\":" + std::to_string(pid_) + ",") != std::string::npos) {
      ::close(go_);
      go_ = -1;
      int status = 0;
      ended = ::waitpid(pid_, &status, 0) == pid_ && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    return text;
  }
  bool ended = false;

 private:
  pid_t pid_;
  int go_;
};

// A lock released (and its process ended) between the reading of its file and the check of its
// process is not stale: it is gone. Before, the command was refused with "repository is locked
// by a stale lock … that process is gone — … run `rewind unlock`", although the lock was already
// removed (seen with a backup started as a `repair index` ended), and `unlock` found nothing.
TEST_F(RepositoryTest, LockReleasedWhileBeingCheckedIsNotStale) {
  int go = -1;
  pid_t holder = LockedExclusiveHolder(path_, &go);
  ASSERT_GT(holder, 0) << "the holder could not be started or could not lock";
  auto storage = std::make_unique<HolderEndsAfterItsLockIsRead>(NewLocalStorage(path_), holder, go);
  HolderEndsAfterItsLockIsRead* seen = storage.get();
  auto repo = Repository::Open(std::move(storage));
  ASSERT_TRUE(repo.ok());
  auto lock = (*repo)->Lock(false, "backup");
  EXPECT_TRUE(seen->ended) << "the holder did not end when its lock had been read";
  EXPECT_TRUE(lock.ok()) << lock.status().ToString();
}

// A process killed while its parent does not wait for it (a parent that never reaps, or a
// container whose init reaps nothing) stays a zombie: `kill(pid, 0)` still succeeds, but it
// holds nothing any more. Its lock is stale: reported as such, and removed by `unlock`. Before,
// it was "in use" by a live process for as long as the zombie lasted, and `unlock` kept it.
TEST_F(RepositoryTest, LockOfAKilledProcessNotYetReapedIsStale) {
  int go = -1;
  pid_t holder = LockedExclusiveHolder(path_, &go);
  ASSERT_GT(holder, 0) << "the holder could not be started or could not lock";
  ASSERT_EQ(::kill(holder, SIGKILL), 0);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, holder, &info, WEXITED | WNOWAIT), 0);  // a zombie now, not reaped
  ASSERT_EQ(::kill(holder, 0), 0);
  auto repo = OpenOrDie();
  auto lock = repo->Lock(false, "backup");
  ASSERT_FALSE(lock.ok());
  EXPECT_NE(lock.status().message().find("stale"), std::string::npos) << lock.status().message();
  auto removed = repo->RemoveStaleLocks();
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  ASSERT_EQ(removed->size(), 1u);
  EXPECT_EQ((*removed)[0].pid, holder);
  EXPECT_TRUE(repo->Lock(false, "backup").ok());
  ::close(go);
  ::waitpid(holder, nullptr, 0);
}

// The real local storage; a SIGTERM comes right after the lock file is created (as from Ctrl-C
// or `systemctl stop` at that moment), before Lock() has returned.
class TermRightAfterTheLockFileIsCreated final : public ForwardingStorage {
 public:
  using ForwardingStorage::ForwardingStorage;
  Status CreateExclusive(const std::string& rel, std::string_view data) override {
    Status s = ForwardingStorage::CreateExclusive(rel, data);
    ::raise(SIGTERM);
    return s;
  }
};

// SIGINT, SIGTERM and SIGHUP release the lock (format.md §8), also when they come while it is
// being taken. Before, one that came between the creation of the lock file and the end of
// Lock() (the lock file and its directory being fsynced) ended the process with the file left:
// a stale lock after a Ctrl-C, which `rollback --resume` and `repair index` then refused.
TEST_F(RepositoryTest, SigtermWhileTheLockIsTakenLeavesNoLock) {
  pid_t child = ::fork();
  if (child == 0) {
    auto repo = Repository::Open(std::make_unique<TermRightAfterTheLockFileIsCreated>(NewLocalStorage(path_)));
    if (!repo.ok()) _exit(1);
    auto lock = (*repo)->Lock(true, "rollback");
    _exit(lock.ok() ? 2 : 3);  // not reached: the SIGTERM ends the process
  }
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  std::vector<std::string> left;
  for (auto& e : fs::directory_iterator(path_ + "/locks")) {
    if (e.path().filename().string()[0] != '.') left.push_back(e.path().filename());  // temporaries may stay
  }
  EXPECT_TRUE(left.empty()) << "lock file left: " << left[0];
}

// An empty (unreadable) lock file and a lock of another host are not stale: `unlock` keeps
// them, `unlock --all` (RemoveAllLocks) removes them, and the repository can be locked again.
TEST_F(RepositoryTest, UnreadableAndForeignLocksAreRemovedOnlyByRemoveAll) {
  auto repo = OpenOrDie();
  Write(path_ + "/locks/0123456789abcdef0123456789abcdef", "");
  Write(path_ + "/locks/fedcba9876543210fedcba9876543210",
        "{\"hostname\":\"another-host\",\"pid\":1,\"since_ns\":1,\"command\":\"rewind backup\",\"exclusive\":true}");
  EXPECT_FALSE(repo->Lock(true, "rollback").ok());
  auto stale = repo->RemoveStaleLocks();
  ASSERT_TRUE(stale.ok());
  EXPECT_TRUE(stale->empty());
  EXPECT_FALSE(repo->Lock(true, "rollback").ok());
  auto all = repo->RemoveAllLocks();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 2u);
  EXPECT_TRUE(fs::is_empty(path_ + "/locks"));
  EXPECT_TRUE(repo->Lock(true, "rollback").ok());
}

// A lock file this process cannot read (here a symlink to itself: ELOOP; for a user who is not
// root, another user's lock file) keeps it out: it was ignored before.
TEST_F(RepositoryTest, ALockThatCannotBeReadKeepsOthersOut) {
  auto repo = OpenOrDie();
  const std::string name = path_ + "/locks/00112233445566778899aabbccddeeff";
  fs::create_directories(path_ + "/locks");
  ASSERT_EQ(::symlink(name.c_str(), name.c_str()), 0);
  auto lock = repo->Lock(true, "rollback");
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.status().code(), Code::kLocked);
  EXPECT_NE(lock.status().message().find("unreadable lock file"), std::string::npos) << lock.status().ToString();
  EXPECT_FALSE(repo->Lock(false, "verify").ok());
}

TEST_F(RepositoryTest, UncommittedSinkLeavesOnlyUnreferencedPacks) {
  BlobId id;
  {
    auto repo = OpenOrDie();
    BlobSink sink(repo.get());
    // Enough data for at least one full pack to be written in the background.
    std::mt19937_64 rng(3);
    for (int i = 0; i < 4; ++i) {
      std::string raw(format::kChunkMax, '\0');
      for (char& c : raw) c = static_cast<char>(rng());
      id = Sha256(raw);
      ASSERT_TRUE(sink.Add(BlobType::kData, id, CompressBlob(raw, 1), raw.size()).ok());
    }
    // No Commit(): as if the process died here.
  }
  auto repo = OpenOrDie();
  EXPECT_EQ(repo->IndexSize(), 0u);
  EXPECT_TRUE(fs::is_empty(path_ + "/index"));
}

BlobId RandomId(std::mt19937_64& rng) {
  BlobId id;
  for (auto& b : id.bytes) b = static_cast<uint8_t>(rng());
  return id;
}

// The flat in-memory index against std::map as the oracle: many ids (some sharing their first
// bytes, so probes collide), duplicates keep the first entry, growth keeps everything.
TEST(BlobIndexTest, AgreesWithAMapOnManyIds) {
  std::mt19937_64 rng(3);
  auto random_id = [&] { return RandomId(rng); };
  std::vector<BlobId> packs;
  for (int i = 0; i < 40; ++i) packs.push_back(random_id());
  BlobIndex index;
  std::map<BlobId, IndexEntry> oracle;
  for (int i = 0; i < 50000; ++i) {
    IndexEntry e;
    e.id = random_id();
    if (i % 7 == 0) std::fill(e.id.bytes.begin() + 8, e.id.bytes.begin() + 16, 0);  // same hash
    if (i % 11 == 0 && !oracle.empty()) e.id = oracle.begin()->first;               // a duplicate
    e.type = i % 3 ? BlobType::kData : BlobType::kTree;
    e.pack = packs[rng() % packs.size()];
    e.offset = rng();
    e.compressed_length = static_cast<uint32_t>(rng());
    e.raw_length = static_cast<uint32_t>(rng());
    if (i == 20000) index.Reserve(100000);
    index.Insert(e);
    oracle.emplace(e.id, e);
  }
  ASSERT_EQ(index.size(), oracle.size());
  for (const auto& [id, want] : oracle) {
    auto got = index.Find(id);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->type, want.type);
    EXPECT_EQ(got->pack, want.pack);
    EXPECT_EQ(got->offset, want.offset);
    EXPECT_EQ(got->compressed_length, want.compressed_length);
    EXPECT_EQ(got->raw_length, want.raw_length);
  }
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(index.Find(random_id()).has_value());
  auto all = index.Entries();
  ASSERT_EQ(all.size(), oracle.size());
  for (const IndexEntry& e : all) EXPECT_EQ(oracle.at(e.id).offset, e.offset);
  EXPECT_FALSE(BlobIndex().Find(random_id()).has_value());
}

// InsertMany (how index files are loaded) gives the same index as Insert one by one, across
// batches that grow the table past 2 MiB (the huge-page allocation); Contains agrees with Find.
TEST(BlobIndexTest, InsertManyAndContainsAgreeWithInsertAndFind) {
  std::mt19937_64 rng(5);
  auto random_id = [&] { return RandomId(rng); };
  std::vector<BlobId> packs;
  for (int i = 0; i < 12; ++i) packs.push_back(random_id());
  std::vector<IndexEntry> all;
  for (int i = 0; i < 60000; ++i) {
    IndexEntry e;
    e.id = random_id();
    if (i % 5 == 0) std::fill(e.id.bytes.begin() + 8, e.id.bytes.begin() + 16, 0);  // same hash
    if (i % 13 == 0 && i > 0) e.id = all[static_cast<size_t>(i) / 2].id;             // a duplicate
    e.type = i % 2 ? BlobType::kData : BlobType::kTree;
    e.pack = packs[rng() % packs.size()];
    e.offset = rng();
    e.compressed_length = static_cast<uint32_t>(rng());
    e.raw_length = static_cast<uint32_t>(rng());
    all.push_back(e);
  }
  BlobIndex one, many;
  for (const IndexEntry& e : all) one.Insert(e);
  for (size_t at = 0; at < all.size(); at += 7000) {
    many.InsertMany(all.data() + at, std::min<size_t>(7000, all.size() - at));
  }
  ASSERT_EQ(many.size(), one.size());
  std::vector<BlobId> ids;
  for (const IndexEntry& e : all) {
    auto a = one.Find(e.id), b = many.Find(e.id);
    ASSERT_TRUE(a.has_value() && b.has_value());
    EXPECT_EQ(a->offset, b->offset);  // the first entry for an id wins in both
    EXPECT_EQ(a->pack, b->pack);
    EXPECT_EQ(a->type, b->type);
    ids.push_back(e.id);
    ids.push_back(random_id());  // absent
  }
  std::vector<uint8_t> present(ids.size(), 7);
  many.Contains(ids.data(), ids.size(), present.data());
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ(present[i], many.Find(ids[i]).has_value() ? 1 : 0) << i;
    ASSERT_EQ(present[i], i % 2 == 0 ? 1 : 0) << i;
  }
  uint8_t none[2] = {9, 9};
  BlobIndex().Contains(ids.data(), 2, none);
  EXPECT_EQ(none[0], 0);
  EXPECT_EQ(none[1], 0);
}

}  // namespace
}  // namespace rw
