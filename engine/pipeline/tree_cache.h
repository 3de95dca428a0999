// Decoded trees by id, shared by the phases of one operation: a rollback checks the snapshot,
// takes the safety snapshot (whose parent is the same snapshot), plans and verifies, and each
// of them would otherwise load and decode every tree again. Thread-safe. It grows with the
// trees asked for (about the size of the snapshot's metadata) and is dropped with the operation.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>

#include "engine/base/status.h"
#include "engine/format/blob_id.h"
#include "engine/repo/repository.h"
#include "manifests/tree.h"

namespace rw {

class TreeCache {
 public:
  explicit TreeCache(const Repository& repo) : repo_(repo) {}
  TreeCache(const TreeCache&) = delete;
  TreeCache& operator=(const TreeCache&) = delete;

  // The tree `id`, loaded (SHA-256 checked) and decoded on first use. Errors are not cached.
  Result<std::shared_ptr<const Tree>> Get(const BlobId& id);

  // Adds the tree `id` that the caller has just encoded and stored (a backup's new trees), so
  // that the phase after it does not load it back. `tree` must be sorted as DecodeTree gives it
  // (SortTree). An id already present is kept.
  void Put(const BlobId& id, Tree tree);

  size_t size() const;
  const Repository& repo() const { return repo_; }

 private:
  const Repository& repo_;
  mutable std::mutex mu_;
  std::unordered_map<BlobId, std::shared_ptr<const Tree>, BlobIdHash> trees_;
};

}  // namespace rw
