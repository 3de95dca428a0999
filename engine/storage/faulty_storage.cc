#include "engine/storage/faulty_storage.h"

#include <cerrno>

namespace rw {

namespace {

using Kind = FaultPlan::Kind;

}  // namespace

const char* FaultKindName(FaultPlan::Kind kind) {
  switch (kind) {
    case Kind::kNone: return "none";
    case Kind::kNoSpace: return "ENOSPC";
    case Kind::kIOError: return "EIO";
    case Kind::kFsyncError: return "fsync";
    case Kind::kCrash: return "crash";
  }
  return "unknown";
}

FaultyStorage::FaultyStorage(std::unique_ptr<Storage> base, FaultPlan plan)
    : base_(std::move(base)), plan_(plan) {}

FaultyStorage::Verdict FaultyStorage::Next() {
  const int n = calls_.fetch_add(1) + 1;
  if (plan_.kind == Kind::kNone || plan_.fail_at <= 0 || n < plan_.fail_at) return kPass;
  if (n == plan_.fail_at) {
    faults_.fetch_add(1);
    return kFirstFault;
  }
  if (!plan_.sticky && plan_.kind != Kind::kCrash) return kPass;
  faults_.fetch_add(1);
  return kLaterFault;
}

Status FaultyStorage::Fault(std::string_view op, const std::string& rel) const {
  std::string what = std::string(op) + " " + base_->Describe(rel);
  switch (plan_.kind) {
    case Kind::kNoSpace: return ErrnoStatus(what, ENOSPC);
    case Kind::kCrash:
      return Status::IOError(what +
                             ": crashed (fault injection: this and every later write dropped)");
    default: return ErrnoStatus(what, EIO);
  }
}

std::string FaultyStorage::TempName(const std::string& rel) {
  return HiddenSibling(rel, "fault-" + std::to_string(temps_.fetch_add(1)));
}

Status FaultyStorage::WriteFileAtomic(const std::string& rel, std::string_view data) {
  return WriteAtomic(rel, data, /*bulk=*/false);
}

Status FaultyStorage::WriteBulkFileAtomic(const std::string& rel, std::string_view data) {
  return WriteAtomic(rel, data, /*bulk=*/true);
}

Status FaultyStorage::WriteAtomic(const std::string& rel, std::string_view data, bool bulk) {
  const Verdict v = Next();
  if (v == kPass) return bulk ? base_->WriteBulkFileAtomic(rel, data) : base_->WriteFileAtomic(rel, data);
  switch (plan_.kind) {
    case Kind::kFsyncError: {
      // The bytes reach the disk under a temporary; fsync fails; the temporary is unlinked.
      std::string tmp = TempName(rel);
      if (base_->WriteFileAtomic(tmp, data).ok()) (void)base_->Remove(tmp);
      return Fault("fsync", rel);
    }
    case Kind::kCrash:
      // Half the bytes made it into the temporary before the machine went down.
      if (v == kFirstFault) {
        (void)base_->WriteFileAtomic(TempName(rel), data.substr(0, data.size() / 2));
      }
      return Fault("write", rel);
    default: return Fault("write", rel);
  }
}

Status FaultyStorage::CreateExclusive(const std::string& rel, std::string_view data) {
  const Verdict v = Next();
  if (v == kPass) return base_->CreateExclusive(rel, data);
  if (plan_.kind == Kind::kCrash) {
    // Like WriteFileAtomic: part of the data reached the temporary, nothing has the name.
    if (v == kFirstFault) (void)base_->WriteFileAtomic(TempName(rel), data.substr(0, data.size() / 2));
    return Fault("write", rel);
  }
  if (base_->Exists(rel)) return ErrnoStatus("create " + base_->Describe(rel), EEXIST);
  if (plan_.kind == Kind::kFsyncError) {
    if (base_->CreateExclusive(rel, data).ok()) (void)base_->Remove(rel);
    return Fault("fsync", rel);
  }
  return Fault("write", rel);
}

Status FaultyStorage::Remove(const std::string& rel) {
  if (Next() == kPass) return base_->Remove(rel);
  if (plan_.kind == Kind::kFsyncError) {
    RW_RETURN_IF_ERROR(base_->Remove(rel));
    return Fault("fsync directory", StorageParent(rel));
  }
  return Fault("remove", rel);
}

Status FaultyStorage::MakeDir(const std::string& rel) {
  if (Next() == kPass) return base_->MakeDir(rel);
  if (plan_.kind == Kind::kFsyncError) {
    RW_RETURN_IF_ERROR(base_->MakeDir(rel));
    return Fault("fsync directory", StorageParent(rel));
  }
  return Fault("mkdir", rel);
}

}  // namespace rw
