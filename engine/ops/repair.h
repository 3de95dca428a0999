// repair index: rebuilds the index from the pack trailers alone (packs describe themselves).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/repo/repository.h"

namespace rw {

struct RepairReport {
  uint64_t packs = 0, blobs = 0, old_index_files = 0;
  uint64_t temporaries_removed = 0, temporary_bytes = 0;  // left by writers that were killed
  std::vector<std::string> problems;  // packs or blobs left out, and why
  std::string new_index_file;
};

// Takes an exclusive lock; reads every pack, keeps each blob whose frame decompresses to its id
// (so a partly damaged pack still gives its intact blobs), writes one new index file durably and
// only then removes the old ones. It also removes the temporaries that killed writers left in
// data/, index/ and snapshots/ (with the exclusive lock no writer is running). REQUIRES: `repo`
// opened with tolerate_index_damage.
Result<RepairReport> RepairIndex(Repository* repo);

}  // namespace rw
