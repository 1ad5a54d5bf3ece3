// SMTP replies (RFC 5321 section 4.2) as values, and their wire formatting for the server:
// "250-first\r\n250 last\r\n" with the RFC 2034 enhanced status code on every line.
// Pure functions, any thread. Formatting cannot fail: unsafe text bytes are replaced.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mailrelay::smtp {

struct Reply {
  int code = 0;                    // 200..599
  std::string enhanced;            // "2.1.0", or empty
  std::vector<std::string> lines;  // text of each line, without code and enhanced code

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500 && code < 600; }

  // The lines joined with a space: for logs and per-recipient results.
  std::string Text() const;
  // "250 2.0.0 Ok" or "250-..." lines, each ending CRLF.
  std::string Format() const;
};

// Formats a reply for the wire. Code is taken modulo 1000 and printed as 3 digits; every
// line carries `enhanced` when non-empty. CR, LF, NUL and other control bytes in the text
// become '?', so a peer-supplied string can never start a new reply line; each line is cut
// so it fits in 512 octets with its CRLF. No lines gives one line with no text.
std::string FormatReply(int code, std::string_view enhanced, std::span<const std::string> lines);
std::string FormatReply(int code, std::string_view enhanced, std::string_view text);

}  // namespace mailrelay::smtp
