#include "engine/db/sql_file.h"

#include "engine/format/pack.h"

#include <algorithm>
#include <array>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace rw::db {

SharedSink::SharedSink(BlobSink* sink, const ChunkerParams& chunker, int zstd_level, int compress_threads)
    : sink_(sink), chunker_(chunker), level_(zstd_level) {
  int n = compress_threads > 0 ? compress_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  max_queue_ = static_cast<size_t>(n) + 2;
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { CompressLoop(); });
}

SharedSink::~SharedSink() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void SharedSink::CompressLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_
    Job job = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    bool failed = !error_.ok();
    lock.unlock();
    cv_.notify_all();  // room in the queue
    Status s;
    if (!failed && !sink_->Has(job.id)) {
      std::string frame = CompressBlob(job.raw, level_);
      std::lock_guard<std::mutex> sl(sink_mu_);
      auto added = sink_->Add(BlobType::kData, job.id, frame, static_cast<uint32_t>(job.raw.size()));
      if (!added.ok()) s = added.status();
    }
    lock.lock();
    --busy_;
    if (!s.ok() && error_.ok()) error_ = s;
    cv_.notify_all();
  }
}

Result<BlobId> SharedSink::AddData(std::string_view raw) {
  BlobId id = Sha256(raw);
  raw_bytes += raw.size();
  if (sink_->Has(id)) return id;
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return queue_.size() < max_queue_ || !error_.ok(); });
  if (!error_.ok()) return error_;
  queue_.push_back(Job{id, std::string(raw)});
  lock.unlock();
  cv_.notify_all();
  return id;
}

Status SharedSink::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return (queue_.empty() && busy_ == 0) || !error_.ok(); });
  return error_;
}

Result<BlobId> SharedSink::AddTree(std::string_view doc) {
  BlobId id = Sha256(doc);
  if (sink_->Has(id)) return id;
  std::string frame = CompressBlob(doc, level_);
  std::lock_guard<std::mutex> lock(sink_mu_);
  RW_ASSIGN_OR_RETURN(bool added, sink_->Add(BlobType::kTree, id, frame, static_cast<uint32_t>(doc.size())));
  (void)added;
  return id;
}

Status SqlFileWriter::Cut(bool eof) {
  const Chunker& chunker = sink_->chunker();
  while (off_ < buf_.size()) {
    const size_t avail = buf_.size() - off_;
    const size_t cut =
        chunker.FindBoundaryFrom(reinterpret_cast<const uint8_t*>(buf_.data()) + off_, avail, scanned_, eof);
    if (cut == 0) {
      scanned_ = avail;
      break;
    }
    std::string_view chunk(buf_.data() + off_, cut);
    xxh_.Update(chunk);
    RW_ASSIGN_OR_RETURN(BlobId id, sink_->AddData(chunk));
    content_.push_back(id);
    off_ += cut;
    size_ += cut;
    scanned_ = 0;
  }
  // Compact once the stored prefix is at least as large as what follows it: each byte moves
  // at most about once, and usually only the tail after the last cut moves.
  if (off_ > 0 && off_ >= buf_.size() - off_) {
    buf_.erase(0, off_);
    off_ = 0;
  }
  return Status::OK();
}

Result<TreeEntry> SqlFileWriter::Finish(std::string name) {
  RW_RETURN_IF_ERROR(Cut(true));
  TreeEntry e;
  e.name = std::move(name);
  e.type = EntryType::kFile;
  e.mode = 0644;
  e.size = size_;
  e.content = std::move(content_);
  e.xxh128 = xxh_.Digest();
  return e;
}

namespace {

constexpr std::array<char, 256> kSqlEscape = [] {
  std::array<char, 256> t{};
  t[0] = '0';
  t['\n'] = 'n';
  t['\r'] = 'r';
  t['\\'] = '\\';
  t['\''] = '\'';
  t['"'] = '"';
  t[26] = 'Z';
  return t;
}();

// Index of the first byte of p[0, n) that kSqlEscape escapes, or n. Sixteen bytes per step where
// SSE2 is there (every x86-64): most text has nothing to escape, and the byte-wise table loop
// was a third of the dump's own CPU time on text columns.
size_t FindSqlEscape(const char* p, size_t n) {
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i nul = _mm_setzero_si128(), lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r'),
                bs = _mm_set1_epi8('\\'), sq = _mm_set1_epi8('\''), dq = _mm_set1_epi8('"'),
                sub = _mm_set1_epi8(26);
  for (; i + 16 <= n; i += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const __m128i m = _mm_or_si128(
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, nul), _mm_cmpeq_epi8(x, lf)),
                     _mm_or_si128(_mm_cmpeq_epi8(x, cr), _mm_cmpeq_epi8(x, sub))),
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, bs), _mm_cmpeq_epi8(x, sq)), _mm_cmpeq_epi8(x, dq)));
    if (const int mask = _mm_movemask_epi8(m)) return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
  }
#endif
  for (; i < n; ++i) {
    if (kSqlEscape[static_cast<unsigned char>(p[i])]) return i;
  }
  return n;
}

}  // namespace

void AppendSqlEscaped(std::string_view s, std::string* out) {
  const char* p = s.data();
  size_t n = s.size();
  for (;;) {
    const size_t run = FindSqlEscape(p, n);
    out->append(p, run);
    if (run == n) return;
    const char e[2] = {'\\', kSqlEscape[static_cast<unsigned char>(p[run])]};
    out->append(e, 2);
    p += run + 1;
    n -= run + 1;
  }
}

std::string EncodeName(std::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (c == '%' || c == '/' || c == 0 || (i == 0 && c == '.')) {
      static const char* hex = "0123456789ABCDEF";
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (out.empty()) out.push_back('%');  // (assigning "%" trips GCC 12's -Wrestrict, falsely)
  return out;
}

std::string EncodeTableFileName(std::string_view table) {
  std::string out;
  for (char c : EncodeName(table)) {
    if (c == '.') out += "%2E";
    else out += c;
  }
  return out;
}

}  // namespace rw::db
