#include "engine/pipeline/tree_cache.h"

namespace rw {

Result<std::shared_ptr<const Tree>> TreeCache::Get(const BlobId& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = trees_.find(id);
    if (it != trees_.end()) return it->second;
  }
  // Loaded outside the lock: two threads asking for the same new tree both decode it, and the
  // first one stored wins.
  RW_ASSIGN_OR_RETURN(std::string doc, repo_.LoadBlob(id, BlobType::kTree));
  auto tree = DecodeTree(doc);
  if (!tree.ok()) return tree.status().WithContext("tree " + id.Short());
  auto shared = std::make_shared<const Tree>(std::move(*tree));
  std::lock_guard<std::mutex> lock(mu_);
  return trees_.emplace(id, std::move(shared)).first->second;
}

void TreeCache::Put(const BlobId& id, Tree tree) {
  auto shared = std::make_shared<const Tree>(std::move(tree));
  std::lock_guard<std::mutex> lock(mu_);
  trees_.emplace(id, std::move(shared));
}

size_t TreeCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return trees_.size();
}

}  // namespace rw
