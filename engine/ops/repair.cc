#include "engine/ops/repair.h"

#include <tbb/parallel_for_each.h>

#include <mutex>

#include "engine/format/index_codec.h"
#include "engine/format/pack.h"

namespace rw {

Result<RepairReport> RepairIndex(Repository* repo) {
  RW_ASSIGN_OR_RETURN(auto lock, repo->Lock(true, "repair index"));
  Storage& storage = repo->storage();
  RepairReport report;
  // Alone in the repository: every temporary there is a killed writer's (a pack's can be as
  // large as a pack), never read by anything.
  RW_ASSIGN_OR_RETURN(auto temp_dirs, repo->TemporaryDirs());
  for (const std::string& dir : temp_dirs) {
    RW_ASSIGN_OR_RETURN(auto temps, storage.ListTemporaries(dir));
    if (temps.empty()) continue;
    RW_RETURN_IF_ERROR(storage.RemoveTemporaries(dir).WithContext("removing temporaries"));
    for (const auto& t : temps) {
      report.temporaries_removed += 1;
      report.temporary_bytes += t.second;
    }
  }
  RW_ASSIGN_OR_RETURN(Repository::PackFiles files, repo->ListPackFiles());
  const std::vector<BlobId>& packs = files.packs;
  std::mutex mu;
  std::vector<IndexEntry> entries;
  tbb::parallel_for_each(packs.begin(), packs.end(), [&](const BlobId& pack) {
    auto data = storage.ReadFile(PackPath(pack));
    std::vector<IndexEntry> found;
    std::vector<std::string> problems;
    if (!data.ok()) {
      problems.push_back("pack " + pack.Short() + ": " + data.status().message());
    } else if (auto trailer = ParsePackTrailer(*data, data->size()); !trailer.ok()) {
      problems.push_back("pack " + pack.Short() + ": " + trailer.status().message() + " (left out)");
    } else {
      for (const PackEntry& p : trailer->entries) {
        auto raw = DecompressBlob(std::string_view(*data).substr(p.offset, p.compressed_length), p.raw_length);
        if (!raw.ok() || Sha256(*raw) != p.id) {
          problems.push_back("pack " + pack.Short() + ": blob " + p.id.Short() + " is damaged (left out)");
          continue;
        }
        found.push_back(IndexEntry{p.id, p.type, pack, p.offset, p.compressed_length, p.raw_length});
      }
    }
    std::lock_guard<std::mutex> l(mu);
    report.packs += 1;
    entries.insert(entries.end(), found.begin(), found.end());
    report.problems.insert(report.problems.end(), problems.begin(), problems.end());
  });
  report.blobs = entries.size();
  std::string data = EncodeIndex(entries);
  report.new_index_file = Sha256(data).Hex();
  RW_RETURN_IF_ERROR(storage.WriteFileAtomic("index/" + report.new_index_file, data)
                         .WithContext("writing the new index file"));
  // The new index is durable: only now do the old files go.
  RW_ASSIGN_OR_RETURN(auto old, storage.List("index"));
  for (const std::string& name : old) {
    if (name == report.new_index_file) continue;
    RW_RETURN_IF_ERROR(storage.Remove("index/" + name));
    report.old_index_files += 1;
  }
  repo->AddToIndex(entries);
  return report;
}

}  // namespace rw
