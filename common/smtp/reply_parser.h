// Client reply parser: assembles (multi-line) replies from an upstream's bytes in chunks cut
// anywhere, checks the code on every line, extracts the enhanced code. One per connection.
// Garbage or over-long input is kInvalidArgument and sticks: drop the connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/smtp/reply.h"
#include "common/util/status.h"

namespace mailrelay::smtp {

struct ReplyLimits {
  size_t max_line = 2048;  // octets with the line end; RFC says 512, real servers send more
  size_t max_lines = 128;
};

class ReplyParser {
 public:
  explicit ReplyParser(ReplyLimits limits = {});

  // Consumes bytes up to the end of at most one complete reply and returns how many; when
  // has_reply(), take it and feed the rest again (pipelined replies). Lines end in CRLF;
  // a bare LF is accepted as a line end, as most clients do.
  util::Result<size_t> Feed(std::string_view data);

  bool has_reply() const { return complete_; }
  // Moves the reply out and gets ready for the next one.
  Reply TakeReply();

 private:
  util::Status ParseLine(std::string_view line);
  util::Status Broken(std::string message);

  ReplyLimits limits_;
  std::string partial_;  // the current line so far
  Reply reply_;
  bool complete_ = false;
  util::Status error_;
};

// Splits "2.1.0 text" into its enhanced code (class must match `code`'s first digit) and the
// rest. Returns false and leaves outputs alone if the text does not start with one.
bool SplitEnhancedCode(int code, std::string_view text, std::string* enhanced,
                       std::string_view* rest);

}  // namespace mailrelay::smtp
