#include "engine/ops/verify.h"

#include <tbb/concurrent_unordered_set.h>
#include <tbb/parallel_for_each.h>
#include <tbb/task_group.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "engine/base/bytes.h"
#include "engine/base/clock.h"
#include "engine/format/checksum.h"
#include "engine/format/pack.h"
#include "engine/ops/snapshots.h"
#include "manifests/snapshot.h"
#include "manifests/tree.h"

namespace rw {

namespace {

constexpr size_t kMaxPathsPerSnapshot = 5;

struct SnapshotDoc {
  std::string id;
  Snapshot snapshot;
};

class Verifier {
 public:
  Verifier(Repository* repo, const VerifyOptions& options, VerifyProgress* progress)
      : repo_(repo), options_(options), progress_(progress) {}

  Result<VerifyReport> Run() {
    // Listing the snapshots loads the index files a backup wrote since the repository was opened.
    RW_RETURN_IF_ERROR(CheckSnapshots());
    std::vector<std::string> index_damage;  // reported first
    for (const std::string& d : repo_->damaged_index_files()) {
      index_damage.push_back("index file " + d + " (rebuild with `rewind repair index`)");
    }
    report_.damage.insert(report_.damage.begin(), index_damage.begin(), index_damage.end());
    // Trees and packs are checked at the same time: they share only bad_ (locked).
    Status packs;
    tbb::task_group group;
    group.run([&] { packs = CheckPacks(); });
    CheckTrees();
    group.wait();
    RW_RETURN_IF_ERROR(packs);
    Cost();
    report_.blobs_referenced = referenced_.size();
    return std::move(report_);
  }

 private:
  void Bad(const BlobId& id, const std::string& problem) {
    std::lock_guard<std::mutex> lock(mu_);
    bad_.emplace(id, problem);  // the first problem found is kept
  }

  Status CheckSnapshots() {
    RW_ASSIGN_OR_RETURN(auto ids, repo_->ListSnapshotIds());
    for (const std::string& id : ids) {
      auto doc = repo_->LoadSnapshotDoc(id);
      if (!doc.ok()) {
        report_.damage.push_back(doc.status().message());  // it names the snapshot and its file
        continue;
      }
      auto snap = DecodeSnapshot(*doc);
      if (!snap.ok()) {
        report_.damage.push_back("snapshot " + id.substr(0, 12) + ": " + snap.status().message());
        continue;
      }
      snapshots_.push_back({id, std::move(*snap)});
    }
    report_.snapshots = snapshots_.size();
    return Status::OK();
  }

  // Every tree reachable from every snapshot loads and decodes; every blob it names is indexed.
  void CheckTrees() {
    std::vector<BlobId> roots;
    for (const SnapshotDoc& s : snapshots_) {
      if (s.snapshot.tree) roots.push_back(*s.snapshot.tree);
      for (const DatabaseDump& d : s.snapshot.databases) roots.push_back(d.tree);
    }
    // Each tree is loaded once, in parallel; a tree's subtrees are fed back as they are found.
    tbb::concurrent_unordered_set<BlobId, BlobIdHash> seen;
    std::atomic<uint64_t> trees{0};
    tbb::parallel_for_each(roots.begin(), roots.end(), [&](const BlobId& id, tbb::feeder<BlobId>& feeder) {
      if (!seen.insert(id).second) return;
      trees += 1;
      referenced_.insert(id);
      if (!repo_->Has(id)) {
        Bad(id, "tree is missing from the index");
        return;
      }
      auto tree = LoadTree(*repo_, id);
      if (!tree.ok()) {
        Bad(id, tree.status().message());
        return;
      }
      for (const TreeEntry& e : tree->entries) {
        for (const BlobId& c : e.content) {
          if (!referenced_.insert(c).second) continue;
          if (!repo_->Has(c)) Bad(c, "data blob is missing from the index");
        }
        if (e.subtree) feeder.add(*e.subtree);
      }
    });
    report_.trees = trees.load();
  }

  bool ReadData(const BlobId& pack, size_t ordinal) {
    switch (options_.data) {
      case VerifyOptions::Data::kNone: return false;
      case VerifyOptions::Data::kAll: return true;
      case VerifyOptions::Data::kPercent: return pick_[ordinal];
      case VerifyOptions::Data::kSlice: {
        uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v = (v << 8) | pack.bytes[static_cast<size_t>(i)];
        return static_cast<int>(v % static_cast<uint64_t>(options_.slice_m)) == options_.slice_n - 1;
      }
    }
    return false;
  }

  Status CheckPacks() {
    // What the index says lives in each pack.
    std::map<BlobId, std::vector<IndexEntry>> by_pack;
    for (const IndexEntry& e : repo_->IndexEntries()) by_pack[e.pack].push_back(e);
    // What is on disk.
    auto files = repo_->ListPackFiles();
    if (!files.ok()) return files.status().WithContext("listing packs");
    for (const std::string& stray : files->strays) report_.notes.push_back(stray + ": not a pack name, ignored");
    std::vector<BlobId> packs = std::move(files->packs);
    std::unordered_set<BlobId, BlobIdHash> on_disk(packs.begin(), packs.end());
    for (const auto& [pack, entries] : by_pack) {
      if (on_disk.count(pack)) continue;
      for (const IndexEntry& e : entries) Bad(e.id, "its pack " + pack.Short() + " is missing");
      report_.damage.push_back("pack " + pack.Short() + " is missing (" + std::to_string(entries.size()) +
                               " indexed blobs)");
    }
    if (options_.data == VerifyOptions::Data::kPercent) {
      // A random sample of P % of the packs, rounded up: never none when there are packs.
      std::mt19937_64 rng(options_.seed ? options_.seed : std::random_device{}());
      const size_t k = static_cast<size_t>(std::ceil(options_.percent * static_cast<double>(packs.size()) / 100.0));
      std::vector<size_t> order(packs.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng);
      pick_.assign(packs.size(), false);
      for (size_t i = 0; i < k && i < order.size(); ++i) pick_[order[i]] = true;
    }
    report_.packs = packs.size();
    if (progress_) progress_->packs_total = packs.size();
    std::vector<size_t> ordinals(packs.size());
    for (size_t i = 0; i < ordinals.size(); ++i) ordinals[i] = i;
    tbb::parallel_for_each(ordinals.begin(), ordinals.end(), [&](size_t i) {
      const BlobId& pack = packs[i];
      auto it = by_pack.find(pack);
      static const std::vector<IndexEntry> kNone;
      CheckPack(pack, it == by_pack.end() ? kNone : it->second, ReadData(pack, i));
      if (progress_) progress_->packs_done += 1;
    });
    return Status::OK();
  }

  void Damage(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    report_.damage.push_back(line);
  }
  void Note(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    report_.notes.push_back(line);
  }

  void CheckPack(const BlobId& pack, const std::vector<IndexEntry>& indexed, bool read_data) {
    const std::string name = "pack " + pack.Short();
    thread_local std::string buffer;  // reused: no zero-filling and page faults per pack
    auto size = repo_->storage().ReadFileInto(PackPath(pack), &buffer);
    Result<std::string_view> data = size.ok() ? Result<std::string_view>(std::string_view(buffer.data(), *size))
                                              : Result<std::string_view>(size.status());
    auto all_bad = [&](const std::string& why) {
      for (const IndexEntry& e : indexed) Bad(e.id, name + ": " + why);
    };
    if (!data.ok()) {
      Damage(name + ": " + data.status().message());
      all_bad("unreadable");
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      report_.bytes_read += data->size();
      if (read_data) report_.packs_read += 1;
    }
    if (progress_) progress_->bytes_read += data->size();
    // Not "it can be deleted": a backup still running writes packs before its index file, and
    // a damaged or lost index file leaves packs that snapshots need unnamed.
    if (indexed.empty()) {
      Note(name + ": no index file names it (a backup that was interrupted or is still running wrote it, or an index "
                  "file is damaged or lost; `rewind repair index` indexes its blobs; do not delete it)");
    }
    auto trailer = ParsePackTrailer(*data, data->size());
    if (!trailer.ok()) {
      Damage(name + ": " + trailer.status().message());
      all_bad("pack trailer is damaged");
      return;
    }
    bool body_ok = Xxh3_64(std::string_view(*data).substr(0, trailer->trailer_offset)) == trailer->body_checksum;
    if (!body_ok) Damage(name + ": checksum mismatch (the pack's bytes changed after it was written)");
    // The pack's name (the SHA-256 of its bytes) is not recomputed: the body checksum, the
    // trailer's own checksum and, with --read-data, every blob's SHA-256 already cover every
    // byte, and a pack whose name alone were wrong would still give back every blob intact.
    std::unordered_map<BlobId, const PackEntry*, BlobIdHash> in_trailer;
    for (const PackEntry& p : trailer->entries) in_trailer.emplace(p.id, &p);
    for (const IndexEntry& e : indexed) {
      auto t = in_trailer.find(e.id);
      if (t == in_trailer.end() || t->second->offset != e.offset || t->second->type != e.type ||
          t->second->compressed_length != e.compressed_length || t->second->raw_length != e.raw_length) {
        Bad(e.id, "index entry disagrees with the trailer of " + name);
        Damage(name + ": index entry for blob " + e.id.Short() + " disagrees with the pack trailer");
        continue;
      }
      // A checksum mismatch is pinned down to the blobs it hit, read or not.
      if (!read_data && body_ok) continue;
      std::string_view frame = std::string_view(*data).substr(e.offset, e.compressed_length);
      thread_local std::string raw;  // reused: no allocation and page faults per blob
      if (Status d = DecompressBlobInto(frame, e.raw_length, &raw); !d.ok()) {
        Bad(e.id, name + ": " + d.message());
        continue;
      }
      if (Sha256(raw) != e.id) {
        Bad(e.id, name + ": content does not match its id");
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      report_.blobs_read += 1;
    }
    if (!body_ok && read_data) return;
    if (!body_ok) Note(name + ": its damaged bytes were located by decompressing and hashing its blobs");
  }

  // For each damaged blob: which snapshots and paths need it.
  void Cost() {
    if (bad_.empty()) return;
    std::unordered_map<BlobId, DamagedBlob*, BlobIdHash> by_id;
    report_.blobs.reserve(bad_.size());
    for (const auto& [id, problem] : bad_) {
      report_.blobs.push_back(DamagedBlob{id, problem, {}, 0});
    }
    for (DamagedBlob& b : report_.blobs) by_id[b.id] = &b;
    bool unlisted = false;  // a damaged tree hid what is below it
    for (const SnapshotDoc& s : snapshots_) {
      std::unordered_map<BlobId, uint64_t, BlobIdHash> listed;
      const std::string who = "snapshot " + s.id.substr(0, 12) + ": ";
      auto need = [&](const BlobId& id, const std::string& path) {
        auto it = by_id.find(id);
        if (it == by_id.end()) return;
        it->second->needed_by_total += 1;
        if (listed[id]++ < kMaxPathsPerSnapshot) it->second->needed_by.push_back(who + (path.empty() ? "/" : path));
      };
      // Files under their paths; database dumps under databases/<label>/ (as `ls` shows them).
      std::vector<std::pair<BlobId, std::string>> todo;
      if (s.snapshot.tree) todo.push_back({*s.snapshot.tree, ""});
      for (const DatabaseDump& d : s.snapshot.databases) todo.push_back({d.tree, "databases/" + d.label});
      while (!todo.empty()) {
        auto [tree_id, prefix] = todo.back();
        todo.pop_back();
        auto tree = LoadTree(*repo_, tree_id);
        if (by_id.count(tree_id) || !tree.ok()) {
          need(tree_id, prefix.empty() ? "(the whole snapshot)" : prefix + "/ (the whole directory)");
          if (!tree.ok()) {  // what is below cannot be listed
            unlisted = true;
            continue;
          }
        }
        for (const TreeEntry& e : tree->entries) {
          std::string path = prefix.empty() ? e.name : prefix + "/" + e.name;
          for (const BlobId& c : e.content) need(c, path);
          if (e.subtree) todo.push_back({*e.subtree, path});
        }
      }
    }
    for (const DamagedBlob& b : report_.blobs) {
      std::string line = "blob " + b.id.Short() + ": " + b.problem;
      line += b.needed_by_total ? "; needed by " + std::to_string(b.needed_by_total) + " entr" +
                                      (b.needed_by_total == 1 ? "y" : "ies")
                                : unlisted ? "; no snapshot needs it where its trees could be read (what is below a "
                                             "damaged tree is not known)"
                                           : "; no snapshot needs it";
      report_.damage.push_back(line);
    }
  }

  Repository* repo_;
  const VerifyOptions& options_;
  VerifyProgress* progress_;
  VerifyReport report_;
  std::mutex mu_;
  std::vector<SnapshotDoc> snapshots_;
  tbb::concurrent_unordered_set<BlobId, BlobIdHash> referenced_;
  std::map<BlobId, std::string> bad_;
  std::vector<bool> pick_;
};

}  // namespace

Result<VerifyReport> VerifyRepository(Repository* repo, const VerifyOptions& options,
                                      VerifyProgress* progress) {
  std::string lock_note;
  RW_ASSIGN_OR_RETURN(auto lock, repo->LockForReading("verify", &lock_note));
  Verifier v(repo, options, progress);
  auto report = v.Run();
  if (!report.ok()) return report;
  if (!lock_note.empty()) report->notes.insert(report->notes.begin(), lock_note);
  // A stale shared lock (a backup, verify or restore killed with SIGKILL) blocks no backup, so
  // nothing else would tell of it before a rollback is refused for it.
  if (auto locks = repo->ListLocks(); locks.ok()) {
    for (const LockInfo& l : *locks) {
      if (!l.stale) continue;
      report->notes.push_back("stale lock " + repo->storage().Describe("locks/" + l.file) + " of `" + l.command +
                              "` (pid " + std::to_string(l.pid) + ", since " + FormatRfc3339Ns(l.since_ns) +
                              "): that process is gone; a rollback or `repair index` is refused until "
                              "`rewind unlock` removes it");
    }
  }
  // Temporaries: a killed writer's take space (a pack's up to the pack size) and nothing else
  // would ever tell of them; a running backup's are in use. Not damage either way.
  if (auto temps = repo->ListTemporaryFiles(); temps.ok() && !temps->empty()) {
    uint64_t bytes = 0;
    for (const auto& t : *temps) bytes += t.second;
    report->notes.push_back(std::to_string(temps->size()) + " temporary file" + (temps->size() == 1 ? "" : "s") +
                            " (" + HumanBytes(bytes) + ", first: " + repo->storage().Describe(temps->front().first) +
                            "): left by an interrupted write, or being written by a backup running now; "
                            "`rewind repair index` removes them (it waits for no backup: it needs the "
                            "repository alone)");
  }
  return report;
}

Status ParseReadDataSubset(const std::string& text, VerifyOptions* options) {
  auto bad = [&] {
    return Status::InvalidArgument("--read-data-subset \"" + text +
                                   "\": expected a percentage (10%) or a slice n/m (1/5, n from 1 to m)");
  };
  if (!text.empty() && text.back() == '%') {
    char* end = nullptr;
    double p = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() - 1 || !(p > 0 && p <= 100)) return bad();
    options->data = VerifyOptions::Data::kPercent;
    options->percent = p;
    return Status::OK();
  }
  auto slash = text.find('/');
  if (slash == std::string::npos) return bad();
  char* end = nullptr;
  long n = std::strtol(text.c_str(), &end, 10);
  if (end != text.c_str() + slash) return bad();
  long m = std::strtol(text.c_str() + slash + 1, &end, 10);
  if (end != text.c_str() + text.size() || m < 1 || n < 1 || n > m || m > 1000000) return bad();
  options->data = VerifyOptions::Data::kSlice;
  options->slice_n = static_cast<int>(n);
  options->slice_m = static_cast<int>(m);
  return Status::OK();
}

}  // namespace rw
