// Streams a virtual file (SQL text produced on the fly) into the repository: content-defined
// chunks (the repository's FastCDC parameters), SHA-256, zstd, BlobSink; no temporary files.
// The result is a tree entry of type file, like the files of a directory backup.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/base/status.h"
#include "engine/format/checksum.h"
#include "engine/format/chunker.h"
#include "engine/repo/repository.h"
#include "manifests/tree.h"

namespace rw::db {

// A BlobSink shared by several threads. AddData hashes in the caller's thread and hands new
// chunks to `compress_threads` background threads (a bounded queue), so the connections that
// produce SQL keep the server streaming while chunks are compressed; Add is serialized here
// (BlobSink::Add is single-threaded). Drain() before storing a tree that names the chunks.
class SharedSink {
 public:
  SharedSink(BlobSink* sink, const ChunkerParams& chunker, int zstd_level, int compress_threads = 0);
  ~SharedSink();
  SharedSink(const SharedSink&) = delete;
  SharedSink& operator=(const SharedSink&) = delete;
  // Hashes; queues for compression and packing unless present. Returns the blob id. A failure
  // of an earlier queued blob is returned by a later call or by Drain().
  Result<BlobId> AddData(std::string_view raw);
  // Waits until every queued blob is in the sink; the first error if any.
  Status Drain();
  // Synchronous (trees are small). Drain() first when the tree names queued chunks.
  Result<BlobId> AddTree(std::string_view doc);
  const Chunker& chunker() const { return chunker_; }
  BlobSink* sink() { return sink_; }
  std::atomic<uint64_t> raw_bytes{0};  // SQL bytes streamed (progress)

 private:
  struct Job {
    BlobId id;
    std::string raw;
  };
  void CompressLoop();
  BlobSink* sink_;
  Chunker chunker_;
  int level_;
  std::mutex sink_mu_;  // BlobSink::Add
  std::mutex mu_;       // the queue
  std::condition_variable cv_;
  std::deque<Job> queue_;
  size_t busy_ = 0, max_queue_ = 0;
  bool stop_ = false;
  Status error_;
  std::vector<std::thread> threads_;
};

// Appends `s` escaped for a quoted SQL string literal (the escapes of mysql_real_escape_string:
// NUL, \n, \r, \\, ', ", ^Z). Byte-wise, which is exact for utf8mb4 (no byte of a multi-byte
// sequence is ASCII).
void AppendSqlEscaped(std::string_view s, std::string* out);

// One virtual file. Append text to buffer(), call Pump() now and then (cuts and stores the
// chunks that are decided), Finish() at the end. Not thread-safe; one per file.
//
// Pump searches the new bytes for cut points while they are still in the CPU's cache (the
// chunker resumes where it stopped) and stores each chunk as soon as its end is found: it is
// hashed and copied for compression moments after it was written, and the buffer holds about
// one chunk plus what came since.
class SqlFileWriter {
 public:
  explicit SqlFileWriter(SharedSink* sink) : sink_(sink) {}
  std::string& buffer() { return buf_; }
  void Append(std::string_view s) { buf_.append(s); }
  // Searches the bytes appended since the last search, once there are kPumpBytes of them, and
  // stores the chunks whose end is found.
  Status Pump() {
    if (buf_.size() - off_ - scanned_ < kPumpBytes) return Status::OK();
    return Cut(false);
  }
  // Stores the rest; returns the entry (type file, mode 0644, size, content, xxh128).
  Result<TreeEntry> Finish(std::string name);
  uint64_t size() const { return size_ + (buf_.size() - off_); }
  static constexpr size_t kPumpBytes = 64 << 10;

 private:
  Status Cut(bool eof);
  SharedSink* sink_;
  std::string buf_;
  size_t off_ = 0;      // bytes of buf_ already stored
  size_t scanned_ = 0;  // bytes after off_ searched without finding a cut point
  uint64_t size_ = 0;
  Xxh128Stream xxh_;
  std::vector<BlobId> content_;
};

// Names of databases and tables as tree entry names: '%' and '/' (and a leading '.') are
// percent-encoded, so any identifier is a valid name and the mapping is one to one.
std::string EncodeName(std::string_view name);

// A table's name in data/ (before ".sql" or ".NNNNNN.sql"): EncodeName, and every '.' as %2E
// too, so that no table's file takes the name of another table's part (table `big.000001` and
// part 1 of `big`). Dumps made before wrote '.' as is; readers do not parse these names (each
// file's SQL names its table), so both load.
std::string EncodeTableFileName(std::string_view table);

}  // namespace rw::db
