#include "engine/repo/blob_index.h"

#include <algorithm>
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace rw {

namespace {
// Blob ids are SHA-256 digests: any 8 of their bytes are a uniform hash.
uint64_t HashOf(const BlobId& id) {
  uint64_t h;
  std::memcpy(&h, id.bytes.data() + 8, sizeof h);
  return h;
}
constexpr size_t kHugePage = size_t{2} << 20;
size_t SlotsFor(size_t n) {
  size_t slots = 16;
  while (slots * 5 < n * 8) slots *= 2;  // at most 5/8 full
  return slots;
}
}  // namespace

size_t BlobIndex::Probe(const BlobId& id) const {
  const size_t mask = capacity_ - 1;
  size_t i = static_cast<size_t>(HashOf(id)) & mask;
  while (slots_[i].used && !(slots_[i].id == id)) i = (i + 1) & mask;
  return i;
}

void BlobIndex::Grow(size_t min_slots) {
  if (capacity_ >= min_slots) return;
  const size_t bytes = min_slots * sizeof(Slot);
  Slot* fresh;
  if (bytes >= kHugePage) {
    // Whole 2 MiB pages, asked to be huge: each lookup is a random access into the table, and
    // with 4 KiB pages most of them also missed the TLB.
    const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    fresh = static_cast<Slot*>(std::aligned_alloc(kHugePage, rounded));
    if (!fresh) throw std::bad_alloc();
    ::madvise(fresh, rounded, MADV_HUGEPAGE);
    std::memset(static_cast<void*>(fresh), 0, bytes);
  } else {
    fresh = static_cast<Slot*>(std::calloc(min_slots, sizeof(Slot)));
    if (!fresh) throw std::bad_alloc();
  }
  std::unique_ptr<Slot[], Free> old(slots_.release());
  const size_t old_capacity = capacity_;
  slots_.reset(fresh);
  capacity_ = min_slots;
  for (size_t i = 0; i < old_capacity; ++i) {
    if (old[i].used) slots_[Probe(old[i].id)] = old[i];
  }
}

void BlobIndex::Reserve(size_t n) { Grow(SlotsFor(n)); }

void BlobIndex::Insert(const IndexEntry& e) {
  Grow(SlotsFor(size_ + 1));
  Slot& s = slots_[Probe(e.id)];
  if (s.used) return;
  auto [it, added] = pack_numbers_.emplace(e.pack, static_cast<uint32_t>(packs_.size()));
  if (added) packs_.push_back(e.pack);
  s.id = e.id;
  s.offset = e.offset;
  s.compressed_length = e.compressed_length;
  s.raw_length = e.raw_length;
  s.pack = it->second;
  s.type = static_cast<uint8_t>(e.type);
  s.used = true;
  size_ += 1;
}

template <typename IdOf, typename Body>
void BlobIndex::PrefetchedLoop(size_t n, IdOf id_of, Body body) const {
  constexpr size_t kAhead = 8;
  const size_t mask = capacity_ - 1;
  for (size_t i = 0; i < n && i < kAhead; ++i) __builtin_prefetch(&slots_[HashOf(id_of(i)) & mask]);
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) __builtin_prefetch(&slots_[HashOf(id_of(i + kAhead)) & mask]);
    body(i);
  }
}

void BlobIndex::Contains(const BlobId* ids, size_t n, uint8_t* out) const {
  if (capacity_ == 0) {
    std::fill(out, out + n, uint8_t{0});
    return;
  }
  PrefetchedLoop(n, [&](size_t i) -> const BlobId& { return ids[i]; },
                 [&](size_t i) { out[i] = slots_[Probe(ids[i])].used ? 1 : 0; });
}

void BlobIndex::InsertMany(const IndexEntry* entries, size_t n) {
  Grow(SlotsFor(size_ + n));  // no growth below: the prefetched slots stay where they are
  PrefetchedLoop(n, [&](size_t i) -> const BlobId& { return entries[i].id; },
                 [&](size_t i) { Insert(entries[i]); });
}

IndexEntry BlobIndex::ToEntry(const Slot& s) const {
  IndexEntry e;
  e.id = s.id;
  e.type = static_cast<BlobType>(s.type);
  e.pack = packs_[s.pack];
  e.offset = s.offset;
  e.compressed_length = s.compressed_length;
  e.raw_length = s.raw_length;
  return e;
}

std::optional<IndexEntry> BlobIndex::Find(const BlobId& id) const {
  if (capacity_ == 0) return std::nullopt;
  const Slot& s = slots_[Probe(id)];
  if (!s.used) return std::nullopt;
  return ToEntry(s);
}

std::vector<IndexEntry> BlobIndex::Entries() const {
  std::vector<IndexEntry> out;
  out.reserve(size_);
  for (size_t i = 0; i < capacity_; ++i) {
    if (slots_[i].used) out.push_back(ToEntry(slots_[i]));
  }
  return out;
}

}  // namespace rw
