// verify: proves that every stored byte is intact, and says what damage costs.
//   structure  config, index files, snapshots (name = content hash), every tree reachable from
//              every snapshot (loads, decodes), every blob a tree needs is in the index
//   packs      every pack's trailer parses, its XXH3 body checksum matches, and the index agrees
//              with the trailer; packs no index names are notes (an interrupted backup), not damage
//   data       (--read-data or a subset) the pack's SHA-256 equals its name, every blob
//              decompresses and hashes to its id
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/repo/repository.h"

namespace rw {

struct VerifyOptions {
  enum class Data { kNone, kAll, kPercent, kSlice };
  Data data = Data::kNone;
  double percent = 0;   // kPercent: each pack is read with this probability
  uint64_t seed = 0;    // kPercent: 0 = random
  int slice_n = 0;      // kSlice: packs whose id (first 8 bytes, big-endian) % m == n - 1
  int slice_m = 0;
};

struct VerifyProgress {
  std::atomic<uint64_t> packs_done{0}, packs_total{0}, bytes_read{0};
};

struct DamagedBlob {
  BlobId id;
  std::string problem;
  // "snapshot 3fa1…: config/settings.cfg" — at most a few per snapshot, then a count.
  std::vector<std::string> needed_by;
  uint64_t needed_by_total = 0;
};

struct VerifyReport {
  std::vector<std::string> damage;       // every problem found, one line each
  std::vector<DamagedBlob> blobs;        // damaged or missing blobs with what needs them
  std::vector<std::string> notes;        // not damage: orphan packs, temporary files
  uint64_t snapshots = 0, trees = 0, blobs_referenced = 0, packs = 0, packs_read = 0,
           blobs_read = 0, bytes_read = 0;
  bool clean() const { return damage.empty(); }
};

// REQUIRES: `repo` was opened with tolerate_index_damage (damaged index files are reported).
// Returns a Status only when verify could not run at all (e.g. the repository cannot be listed
// or is locked exclusively).
Result<VerifyReport> VerifyRepository(Repository* repo, const VerifyOptions& options,
                                      VerifyProgress* progress);

// Parses "10%", "2.5%" or "3/5" into options. InvalidArgument otherwise.
Status ParseReadDataSubset(const std::string& text, VerifyOptions* options);

}  // namespace rw
