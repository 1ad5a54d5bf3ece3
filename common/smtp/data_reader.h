// Server DATA reader: fed the bytes after "354" in chunks cut anywhere, writes the message
// dot-unstuffed, finds the one true CRLF "." CRLF. One per transaction, on the session's loop.
// Bare CR/LF (SMTP smuggling, CVE-2023-51764) stop it at once; size/line excesses drain to the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/smtp/errors.h"
#include "common/smtp/limits.h"

namespace mailrelay::smtp {

class DataReader {
 public:
  enum class Event {
    kNeedMore,     // all of `data` consumed, end not yet seen
    kEnd,          // end marker consumed; check error() before accepting the message
    kBareNewline,  // bare CR or LF: reply 521 5.5.2 and close; the reader stays stuck.
                   // Content written so far is partial and must be discarded.
  };
  struct Step {
    Event event;
    size_t consumed;  // after kEnd, the rest of `data` is pipelined commands
  };

  // max_size: limit on the unstuffed content in octets, 0 for none. max_line: a line with its
  // CRLF, not counting a stuffed leading dot (RFC 5321 section 4.5.3.1.6).
  explicit DataReader(uint64_t max_size, size_t max_line = kMaxTextLine);

  // Appends unstuffed content (CRLF line ends, the final CRLF before "." included) to *out,
  // in runs, never byte by byte. Once error() is set nothing more is appended; what was
  // appended before (possibly part of the offending line) is to be discarded.
  Step Feed(std::string_view data, std::string* out);

  // kMessageTooBig if the content went over the size limit, else kDataLineTooLong if any line
  // was too long. Both are tracked independently, so the answer depends only on the bytes,
  // never on how they were chunked.
  std::optional<Error> error() const {
    if (too_big_) return Error::kMessageTooBig;
    if (line_too_long_) return Error::kDataLineTooLong;
    return std::nullopt;
  }
  uint64_t size() const { return size_; }  // unstuffed content octets seen (counts on past errors)
  bool done() const { return state_ == State::kDone; }

  // Ready for the next message with the same limits.
  void Reset();

 private:
  enum class State {
    kLineStart,  // at the start of a line (also right after DATA)
    kDot,        // "." at line start
    kDotCr,      // "." CR at line start
    kInLine,     // inside a line
    kCr,         // CR inside or at the end of a line, LF must follow
    kDone,
    kBroken,
  };

  void Emit(const char* p, size_t n, std::string* out);
  void AddLineBytes(size_t n);

  const uint64_t max_size_;
  const size_t max_line_;
  State state_ = State::kLineStart;
  size_t line_len_ = 0;  // octets of the current line so far, unstuffed, without CRLF
  uint64_t size_ = 0;
  bool too_big_ = false;
  bool line_too_long_ = false;
};

}  // namespace mailrelay::smtp
