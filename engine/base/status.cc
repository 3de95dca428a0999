#include "engine/base/status.h"

#include <cstring>

namespace rw {

namespace {
const char* CodeName(Code c) {
  switch (c) {
    case Code::kOk: return "OK";
    case Code::kNotFound: return "NotFound";
    case Code::kCorruption: return "Corruption";
    case Code::kIOError: return "IOError";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kNotSupported: return "NotSupported";
    case Code::kAborted: return "Aborted";
    case Code::kLocked: return "Locked";
    case Code::kAlreadyExists: return "AlreadyExists";
    case Code::kNoSpace: return "NoSpace";
    case Code::kDenied: return "Denied";
  }
  return "Unknown";
}
}  // namespace

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + message_;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, std::string(context) + ": " + message_);
}

std::string ExceptionText(const std::exception& e) {
  std::string_view text = e.what();
  if (text.size() > 2 && text[0] == '[') {
    size_t close = text.find("] ");
    if (close != std::string_view::npos && text.find(' ') > close) text.remove_prefix(close + 2);
  }
  return std::string(text);
}

Status ErrnoStatus(std::string_view what, int err) {
  std::string msg = std::string(what) + ": " + std::strerror(err);
  switch (err) {
    case ENOENT: return Status::NotFound(std::move(msg));
    case ENOSPC:
    case EDQUOT: return Status(Code::kNoSpace, std::move(msg));
    case EEXIST: return Status::AlreadyExists(std::move(msg));
    case EROFS:
    case EACCES:
    case EPERM: return Status(Code::kDenied, std::move(msg));
    default: return Status::IOError(std::move(msg));
  }
}

}  // namespace rw
