// BlobSink: packs blobs, writes full packs on background threads, commits one index file.
#include <deque>
#include <future>
#include <unordered_set>

#include "engine/format/format_constants.h"
#include "engine/repo/repository.h"

namespace rw {

// Packs being written while the next fills: memory is (1 + this) packs.
constexpr size_t kMaxWritesInFlight = 1;

struct BlobSink::Impl {
  Repository* repo;
  PackBuilder builder;
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

  // Hands the current pack to a background thread. At most two writes are in flight.
  void FlushPack() {
    if (builder.empty()) return;
    auto entries = std::make_shared<std::vector<PackEntry>>();
    auto bytes = std::make_shared<std::string>(builder.Finish(entries.get()));
    Storage* storage = &repo->storage();
    writes.push_back(std::async(std::launch::async, [storage, bytes, entries]()
                                                        -> Result<std::vector<IndexEntry>> {
      BlobId pack_id = Sha256(*bytes);
      Status s = storage->WriteFileAtomic(PackPath(pack_id), *bytes);
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
};

BlobSink::BlobSink(Repository* repo) : impl_(std::make_unique<Impl>()) { impl_->repo = repo; }

BlobSink::~BlobSink() {
  while (!impl_->writes.empty()) impl_->WaitOldest();
}

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
  if (impl_->builder.empty()) {
    impl_->builder.Reserve(impl_->repo->config().pack_target_size + format::kChunkMax + (1 << 20));
  }
  impl_->builder.Add(type, id, frame, raw_length);
  bytes_added_ += frame.size();
  blobs_added_ += 1;
  if (impl_->builder.size() >= impl_->repo->config().pack_target_size) {
    impl_->FlushPack();
    packs_written_ += 1;
  }
  if (!impl_->failed.ok()) return impl_->failed;
  return true;
}

Status BlobSink::Commit() {
  if (!impl_->builder.empty()) {
    impl_->FlushPack();
    packs_written_ += 1;
  }
  while (!impl_->writes.empty()) impl_->WaitOldest();
  RW_RETURN_IF_ERROR(impl_->failed);
  if (impl_->written.empty()) return Status::OK();
  std::string data = EncodeIndex(impl_->written);
  std::string name = Sha256(data).Hex();
  RW_RETURN_IF_ERROR(impl_->repo->storage().WriteFileAtomic("index/" + name, data)
                         .WithContext("writing index file"));
  impl_->repo->AddToIndex(impl_->written);
  impl_->written.clear();
  std::lock_guard<std::mutex> lock(impl_->pending_mu);
  impl_->pending.clear();
  return Status::OK();
}

}  // namespace rw
