// FaultyStorage: a Storage wrapper for tests that makes the Nth mutating call fail the way the
// real one would (LevelDB FaultInjectionEnv, kopia FaultyStorage). Reads always pass through.
//
// Mutating calls, counted from 1 in the order they start: WriteFileAtomic, WriteBulkFileAtomic
// (the same faults as WriteFileAtomic; a passing call goes to the base's bulk write, which
// LocalStorage does with O_DIRECT), CreateExclusive, Remove, MakeDir. The call numbered `fail_at` fails, and with `sticky` every later one too.
// A failed call returns what ErrnoStatus() gives for its errno, with a message naming the path
// (Describe()):
//
//   kind         errno  message                        left on the base storage
//   kNoSpace     ENOSPC "write <path>: No space left …" nothing: the base is not called
//   kIOError     EIO    "write <path>: Input/output …"  nothing: the base is not called
//   kFsyncError  EIO    "fsync <path>: Input/output …"  a write's data went to a temporary that
//                                                       is removed again, nothing is under the
//                                                       final name; Remove and MakeDir take
//                                                       effect, then "fsync directory <parent>"
//   kCrash       -      "write <path>: crashed …"       see below
//
// (Remove and MakeDir with kNoSpace/kIOError say "remove <path>" / "mkdir <path>" and have no
// effect. A CreateExclusive whose name exists fails with AlreadyExists first, as open(O_EXCL)
// would.)
//
// kCrash: the machine goes down during call N. Every call of the base before it completed and
// was durable (storage.h), so what is lost is exactly the unsynced part of call N: a
// WriteFileAtomic, WriteBulkFileAtomic or CreateExclusive (all write a temporary first) leaves a
// partial temporary (a dot-name) and nothing under its final name; Remove and MakeDir do
// nothing. Call N and every later mutating call return IOError and are dropped (kCrash is always
// sticky); reads still work, so a test can look at what a restarted process would find.
//
// Thread-safe if the base is: the counter is atomic (BlobSink writes packs from background
// threads), so which concurrent call gets number N is up to the scheduler.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/storage/storage.h"

namespace rw {

struct FaultPlan {
  enum class Kind { kNone, kNoSpace, kIOError, kFsyncError, kCrash };
  Kind kind = Kind::kNone;
  int fail_at = 0;      // the mutating call that fails, 1-based; 0 = none
  bool sticky = false;  // every mutating call after it fails too (a full disk stays full)
};

// "none", "ENOSPC", "EIO", "fsync", "crash": for test names and messages.
const char* FaultKindName(FaultPlan::Kind kind);

class FaultyStorage final : public Storage {
 public:
  explicit FaultyStorage(std::unique_ptr<Storage> base, FaultPlan plan);

  // Mutating calls started so far, failed ones included.
  int mutating_calls() const { return calls_.load(); }
  // Mutating calls that were failed so far.
  int faults_injected() const { return faults_.load(); }

  Status WriteFileAtomic(const std::string& rel, std::string_view data) override;
  Status WriteBulkFileAtomic(const std::string& rel, std::string_view data) override;
  Status CreateExclusive(const std::string& rel, std::string_view data) override;
  Result<std::string> ReadFile(const std::string& rel) override { return base_->ReadFile(rel); }
  void WillRead(const std::string& rel, const std::vector<std::pair<uint64_t, uint64_t>>& ranges) override {
    base_->WillRead(rel, ranges);
  }
  Result<size_t> ReadFileInto(const std::string& rel, std::string* buf) override {
    return base_->ReadFileInto(rel, buf);
  }
  Result<std::string> ReadAt(const std::string& rel, uint64_t offset, size_t n) override {
    return base_->ReadAt(rel, offset, n);
  }
  Result<uint64_t> FileSize(const std::string& rel) override { return base_->FileSize(rel); }
  Result<std::vector<std::string>> ListDirs(const std::string& dir) override {
    return base_->ListDirs(dir);
  }
  Result<std::vector<std::string>> List(const std::string& dir) override {
    return base_->List(dir);
  }
  Status Remove(const std::string& rel) override;
  Status RemoveTemporaries(const std::string& dir) override { return base_->RemoveTemporaries(dir); }
  Result<std::vector<std::pair<std::string, uint64_t>>> ListTemporaries(const std::string& dir) override {
    return base_->ListTemporaries(dir);
  }
  Status MakeDir(const std::string& rel) override;
  bool Exists(const std::string& rel) override { return base_->Exists(rel); }
  std::string Describe(const std::string& rel) const override { return base_->Describe(rel); }

 private:
  enum Verdict { kPass, kFirstFault, kLaterFault };
  // Numbers this mutating call and says whether it fails (kLaterFault: sticky, after N).
  Verdict Next();
  // The status of a failed call: ErrnoStatus("<op> <path>", errno of the plan's kind).
  Status Fault(std::string_view op, const std::string& rel) const;
  Status WriteAtomic(const std::string& rel, std::string_view data, bool bulk);
  // A dot-name beside `rel` for a temporary the fault leaves or removes again.
  std::string TempName(const std::string& rel);

  std::unique_ptr<Storage> base_;
  const FaultPlan plan_;
  std::atomic<int> calls_{0};
  std::atomic<int> faults_{0};
  std::atomic<int> temps_{0};
};

}  // namespace rw
