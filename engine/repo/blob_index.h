// The in-memory index of a repository: blob id -> where the blob is. One flat open-addressing
// table (linear probing, at most 5/8 full) of 56-byte slots, zeroed by calloc (fresh pages, no
// initialisation pass; from 2 MiB on, aligned to and asked for huge pages, as lookups are
// random accesses that otherwise miss the TLB too), pack ids kept once in a pack
// table: a lookup touches one or two cache lines and an insert allocates nothing, where a
// node-based map spent a cache miss per node and a malloc per blob (loading the index of the
// 2.4 GB bench repository took a sixth of an unchanged backup). Not thread-safe: Repository
// guards it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "engine/format/blob_id.h"
#include "engine/format/index_codec.h"

namespace rw {

class BlobIndex {
 public:
  void Reserve(size_t n);
  // Adds `e` unless its id is present (the first entry for an id wins).
  void Insert(const IndexEntry& e);
  // Insert of each of `n` entries, the slots of those ahead prefetched (loading an index file).
  void InsertMany(const IndexEntry* entries, size_t n);
  std::optional<IndexEntry> Find(const BlobId& id) const;
  // out[i] = 1 if ids[i] is present, else 0. The slots of the ids ahead are prefetched, so
  // that the cache misses of a batch overlap instead of coming one after the other.
  void Contains(const BlobId* ids, size_t n, uint8_t* out) const;
  size_t size() const { return size_; }
  std::vector<IndexEntry> Entries() const;  // in no particular order
  const std::vector<BlobId>& packs() const { return packs_; }  // every pack an entry was in

 private:
  struct Slot {  // all zero bytes: unused
    BlobId id;
    uint64_t offset;
    uint32_t compressed_length, raw_length;
    uint32_t pack;  // into packs_
    uint8_t type;
    bool used;
  };
  struct Free {
    void operator()(Slot* p) const { std::free(p); }
  };
  size_t Probe(const BlobId& id) const;  // the slot holding `id`, or the empty one where it goes
  // Calls body(0..n-1) in order, the home slot of id_of(i + 8) prefetched before body(i): the
  // cache misses of a batch overlap instead of coming one after the other.
  template <typename IdOf, typename Body>
  void PrefetchedLoop(size_t n, IdOf id_of, Body body) const;
  void Grow(size_t min_slots);
  IndexEntry ToEntry(const Slot& s) const;

  std::unique_ptr<Slot[], Free> slots_;
  size_t capacity_ = 0;  // a power of two, or 0
  size_t size_ = 0;
  std::vector<BlobId> packs_;
  std::unordered_map<BlobId, uint32_t, BlobIdHash> pack_numbers_;
};

}  // namespace rw
