// Small string helpers that know nothing about mail: trimming, splitting, ASCII case,
// number parsing. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailrelay::util {

// Character classes, ASCII only (never the locale's), for the parsers of mail syntax.
constexpr bool IsAsciiSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
constexpr bool IsBlank(char c) { return c == ' ' || c == '\t'; }  // RFC 5234 WSP
constexpr int HexDigitValue(char c) {                              // -1: not a hex digit
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string_view Trim(std::string_view s);  // ASCII whitespace (space, tab, CR, LF)
std::string ToLower(std::string_view s);    // ASCII only
std::string ToUpper(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix);
bool EndsWithIgnoreCase(std::string_view s, std::string_view suffix);

// Splits on `sep`; with trim=true each piece is trimmed and empty pieces are dropped.
std::vector<std::string> Split(std::string_view s, char sep, bool trim = true);
std::string Join(const std::vector<std::string>& parts, std::string_view sep);

// Decimal integers without sign/whitespace slack: the whole string must be digits.
std::optional<uint64_t> ParseUint(std::string_view s);
std::optional<int64_t> ParseInt(std::string_view s);

// Replaces bytes outside printable ASCII with '?', so peer-supplied text is safe in one log
// line; truncates to max_len (adding "...").
std::string Printable(std::string_view s, size_t max_len = 200);
// Text from a peer for one log line, a DSN or relayctl: CR dropped, LF and TAB made spaces,
// trimmed, then Printable.
std::string OneLine(std::string_view s, size_t max_len = 200);

bool IsAscii(std::string_view s);

}  // namespace mailrelay::util
