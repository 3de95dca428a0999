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

  size_t size() const;

 private:
  const Repository& repo_;
  mutable std::mutex mu_;
  std::unordered_map<BlobId, std::shared_ptr<const Tree>, BlobIdHash> trees_;
};

}  // namespace rw
