// A Storage that passes every call to another one. Tests derive from it to watch the calls made
// on a real storage (which ranges a restore reads, which writes a backup makes, in what order)
// without faking any of them.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/storage/storage.h"

namespace rw {

class ForwardingStorage : public Storage {
 public:
  explicit ForwardingStorage(std::unique_ptr<Storage> base) : base_(std::move(base)) {}

  Status WriteFileAtomic(const std::string& rel, std::string_view data) override {
    return base_->WriteFileAtomic(rel, data);
  }
  Status WriteBulkFileAtomic(const std::string& rel, std::string_view data) override {
    return base_->WriteBulkFileAtomic(rel, data);
  }
  Status CreateExclusive(const std::string& rel, std::string_view data) override {
    return base_->CreateExclusive(rel, data);
  }
  Result<std::string> ReadFile(const std::string& rel) override { return base_->ReadFile(rel); }
  Result<size_t> ReadFileInto(const std::string& rel, std::string* buf) override {
    return base_->ReadFileInto(rel, buf);
  }
  Result<std::string> ReadAt(const std::string& rel, uint64_t offset, size_t n) override {
    return base_->ReadAt(rel, offset, n);
  }
  Status ReadAtInto(const std::string& rel, uint64_t offset, size_t n, std::string* buf) override {
    return base_->ReadAtInto(rel, offset, n, buf);
  }
  void WillRead(const std::string& rel, const std::vector<std::pair<uint64_t, uint64_t>>& ranges) override {
    base_->WillRead(rel, ranges);
  }
  Result<uint64_t> FileSize(const std::string& rel) override { return base_->FileSize(rel); }
  Result<std::vector<std::string>> List(const std::string& dir) override { return base_->List(dir); }
  Result<std::vector<std::string>> ListDirs(const std::string& dir) override { return base_->ListDirs(dir); }
  Status Remove(const std::string& rel) override { return base_->Remove(rel); }
  Status RemoveTemporaries(const std::string& dir) override { return base_->RemoveTemporaries(dir); }
  Result<std::vector<std::pair<std::string, uint64_t>>> ListTemporaries(const std::string& dir) override {
    return base_->ListTemporaries(dir);
  }
  Status MakeDir(const std::string& rel) override { return base_->MakeDir(rel); }
  bool Exists(const std::string& rel) override { return base_->Exists(rel); }
  std::string Describe(const std::string& rel) const override { return base_->Describe(rel); }

 private:
  std::unique_ptr<Storage> base_;
};

}  // namespace rw
