// BlobSink: packs blobs, writes full packs on background threads, commits one index file.
#include <algorithm>
#include <deque>
#include <future>
#include <unordered_set>

#include "engine/format/format_constants.h"
#include "engine/repo/repository.h"

namespace rw {

// Packs being written while the next fills: memory is (1 + this) packs.
constexpr size_t kMaxWritesInFlight = 1;
constexpr uint64_t kTreePackTarget = 1 << 20;

struct BlobSink::Impl {
  Repository* repo;
  std::atomic<uint64_t>* packs_written;  // BlobSink's counter
  // Data blobs and trees go to packs of their own: data packs are written past the page cache
  // (Storage::WriteBulkFileAtomic), tree packs through it, so that the next backup, diff or
  // rollback finds the trees it walks still cached.
  PackBuilder data;
  PackBuilder trees;
  mutable std::mutex pending_mu;
  std::unordered_set<BlobId, BlobIdHash> pending;  // added to this sink, not yet committed
  std::deque<std::future<Result<std::vector<IndexEntry>>>> writes;  // in flight, oldest first
  std::vector<IndexEntry> written;  // entries of packs already durable
  Status failed;                    // first background failure, sticky

  // Waits for the oldest pack write and keeps its entries.
  void WaitOldest() {
    auto r = writes.front().get();
    writes.pop_front();
    if (!r.ok()) {
      if (failed.ok()) failed = r.status();
      return;
    }
    written.insert(written.end(), r->begin(), r->end());
  }
  void WaitAll() {
    while (!writes.empty()) WaitOldest();
  }

  // Hands the pack of `builder` to a background thread. At most two writes are in flight.
  void FlushPack(PackBuilder& builder, bool bulk) {
    if (builder.empty()) return;
    *packs_written += 1;
    auto entries = std::make_shared<std::vector<PackEntry>>();
    auto bytes = std::make_shared<std::string>(builder.Finish(entries.get()));
    Storage* storage = &repo->storage();
    writes.push_back(std::async(std::launch::async, [storage, bytes, entries, bulk]()
                                                        -> Result<std::vector<IndexEntry>> {
      BlobId pack_id = Sha256(*bytes);
      const std::string rel = PackPath(pack_id);
      Status s = bulk ? storage->WriteBulkFileAtomic(rel, *bytes) : storage->WriteFileAtomic(rel, *bytes);
      if (!s.ok()) return s.WithContext("writing pack " + pack_id.Short());
      std::vector<IndexEntry> out;
      out.reserve(entries->size());
      for (const PackEntry& p : *entries) {
        out.push_back(IndexEntry{p.id, p.type, pack_id, p.offset, p.compressed_length, p.raw_length});
      }
      return out;
    }));
    while (writes.size() > kMaxWritesInFlight) WaitOldest();
  }
  // The trees' pack, written only once every data pack before it is durable: a tree is
  // stored after every blob it names (format.md I5).
  void FlushTrees() {
    if (trees.empty()) return;
    FlushPack(data, true);
    WaitAll();
    FlushPack(trees, false);
  }
};

BlobSink::BlobSink(Repository* repo) : impl_(std::make_unique<Impl>()) {
  impl_->repo = repo;
  impl_->packs_written = &packs_written_;
}

BlobSink::~BlobSink() { impl_->WaitAll(); }

bool BlobSink::Has(const BlobId& id) const {
  if (impl_->repo->Has(id)) return true;
  std::lock_guard<std::mutex> lock(impl_->pending_mu);
  return impl_->pending.count(id) > 0;
}

Result<bool> BlobSink::Add(BlobType type, const BlobId& id, std::string_view frame,
                           uint32_t raw_length) {
  if (!impl_->failed.ok()) return impl_->failed;
  if (Has(id)) return false;
  {
    std::lock_guard<std::mutex> lock(impl_->pending_mu);
    impl_->pending.insert(id);
  }
  const bool tree = type == BlobType::kTree;
  PackBuilder& builder = tree ? impl_->trees : impl_->data;
  if (builder.empty() && !tree) {
    builder.Reserve(impl_->repo->config().pack_target_size + format::kChunkMax + (1 << 20));
  }
  builder.Add(type, id, frame, raw_length);
  bytes_added_ += frame.size();
  blobs_added_ += 1;
  // Tree packs are kept small (1 MiB): the trees of a whole backup would otherwise wait in
  // memory until its end, and the bench tree's first backup peaked at 144-146 MiB with 4 MiB
  // tree packs against 126-129 MiB with 1 MiB ones (each also flushes the data pack in
  // progress, format.md I5: 45 packs instead of 34).
  const uint64_t target = tree ? std::min<uint64_t>(impl_->repo->config().pack_target_size, kTreePackTarget)
                               : impl_->repo->config().pack_target_size;
  if (builder.size() >= target) {
    if (tree) {
      impl_->FlushTrees();
    } else {
      impl_->FlushPack(impl_->data, true);
    }
  }
  if (!impl_->failed.ok()) return impl_->failed;
  return true;
}

Status BlobSink::Commit() {
  impl_->FlushPack(impl_->data, true);
  impl_->FlushTrees();
  impl_->WaitAll();
  RW_RETURN_IF_ERROR(impl_->failed);
  if (impl_->written.empty()) return Status::OK();
  {
    // Encoded in place and freed before the entries go into the repository's index: the peak
    // memory of a backup of many small files is at its end, here (1M files: 90 MB of entries,
    // as much encoded).
    std::string data = EncodeIndexInPlace(&impl_->written);
    std::string name = Sha256(data).Hex();
    RW_RETURN_IF_ERROR(impl_->repo->storage().WriteFileAtomic("index/" + name, data)
                           .WithContext("writing index file"));
  }
  impl_->repo->AddToIndex(impl_->written);
  impl_->written = {};
  std::lock_guard<std::mutex> lock(impl_->pending_mu);
  impl_->pending = {};  // its memory too, not only its elements
  return Status::OK();
}

}  // namespace rw
