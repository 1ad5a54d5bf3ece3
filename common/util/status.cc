#include "common/util/status.h"

#include <cerrno>
#include <cstring>

namespace mailrelay::util {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kNotFound: return "not found";
    case Code::kAlreadyExists: return "already exists";
    case Code::kPermissionDenied: return "permission denied";
    case Code::kUnavailable: return "unavailable";
    case Code::kResourceExhausted: return "resource exhausted";
    case Code::kFailedPrecondition: return "failed precondition";
    case Code::kDataLoss: return "data loss";
    case Code::kInternal: return "internal error";
    case Code::kTimeout: return "timeout";
    case Code::kIoError: return "I/O error";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return message_.empty() ? CodeName(code_) : message_;
}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + message_);
}

Status ErrnoStatus(const std::string& what, int err) {
  Code code = Code::kIoError;
  if (err == ENOENT) code = Code::kNotFound;
  if (err == EACCES || err == EPERM) code = Code::kPermissionDenied;
  if (err == EEXIST) code = Code::kAlreadyExists;
  if (err == ENOSPC || err == EDQUOT) code = Code::kResourceExhausted;
  return Status(code, what + ": " + std::strerror(err));
}

}  // namespace mailrelay::util
