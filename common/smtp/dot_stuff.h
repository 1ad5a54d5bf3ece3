// Client DATA encoder: dot-stuffs message content in chunks (RFC 5321 section 4.5.2) and ends it
// with ".\r\n". One per message, on the caller's thread.
// Cannot fail: stray bare CR or LF become CRLF, so we never send a smuggling sequence upstream.
#pragma once

#include <string>
#include <string_view>

namespace mailrelay::smtp {

class DotStuffer {
 public:
  // Appends the wire form of `chunk` to *out. Chunks may split anywhere, even inside CRLF.
  void Feed(std::string_view chunk, std::string* out);
  // Ends the last line with CRLF if the content did not, then appends ".\r\n".
  void Finish(std::string* out);
  void Reset() { *this = DotStuffer(); }

 private:
  bool at_line_start_ = true;
  bool skip_lf_ = false;  // a CR was just turned into CRLF; an LF right after belongs to it
};

// Whole-message convenience: Feed + Finish.
std::string DotStuff(std::string_view message);

}  // namespace mailrelay::smtp
