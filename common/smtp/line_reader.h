// Command-phase line reader for the server: finds CRLF-terminated lines in whatever chunks the
// socket delivers, enforces the 512-octet command line limit and refuses bare CR / bare LF.
// One per session, on the session's event loop. Errors are events, never exceptions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/smtp/errors.h"
#include "common/smtp/limits.h"

namespace mailrelay::smtp {

class LineReader {
 public:
  enum class Event {
    kNeedMore,     // everything offered was consumed; feed more
    kLine,         // line() holds one complete line (without CRLF)
    kLineTooLong,  // an over-long line ended; its bytes were discarded. Reply 500 5.5.2.
    kBareNewline,  // bare CR or LF: reply 521 5.5.2 and close (the reader stays stuck)
  };
  struct Step {
    Event event;
    size_t consumed;  // bytes of `data` used; the rest belongs to the next call (or DATA)
  };

  // max_line: octets including CRLF (512 for commands, kMaxAuthLine for AUTH responses).
  explicit LineReader(size_t max_line = kMaxCommandLine);

  // Consumes bytes up to the end of at most one line. Call again with the unconsumed rest
  // after kLine / kLineTooLong; pipelined commands come out one per call. An over-long line
  // is discarded as it arrives, so memory stays bounded however long it is.
  Step Feed(std::string_view data);

  // The last line, valid until the next Feed() or Reset().
  std::string_view line() const { return line_; }
  static Error ErrorFor(Event event);  // kLineTooLong / kBareNewline for the reply table

  // Changes the limit for the following lines (e.g. during an AUTH exchange).
  void set_max_line(size_t max_line) { max_line_ = max_line < 3 ? 3 : max_line; }
  size_t max_line() const { return max_line_; }
  // Forgets a partial line (after STARTTLS: nothing sent before the handshake may survive).
  void Reset();
  // True when a partial line is buffered (e.g. bytes pipelined after STARTTLS).
  bool has_partial() const { return !line_.empty() || pending_cr_ || discarding_; }

 private:
  size_t max_line_;
  std::string line_;
  bool line_done_ = false;
  bool pending_cr_ = false;  // last byte seen was CR
  bool discarding_ = false;  // inside an over-long line
  bool broken_ = false;      // a bare newline was seen
};

}  // namespace mailrelay::smtp
