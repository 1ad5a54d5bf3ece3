// Text in a MIME charset to UTF-8: iconv (glibc) for every charset, with built-in fast paths
// for UTF-8, US-ASCII, ISO-8859-1 and windows-1252. Thread-safe (iconv descriptors are cached
// per thread). Never fails: invalid sequences become U+FFFD and unknown charsets are guessed.
#pragma once

#include <string>
#include <string_view>

namespace mailrelay::mime {

// Converts `bytes` declared as `charset` (a MIME charset name, any case, RFC 2231 "*lang"
// suffix allowed) to UTF-8.
// - "iso-8859-1", "latin1" and "us-ascii" decode bytes 0x80-0x9F as windows-1252 does, as
//   browsers and mail readers do (WHATWG Encoding): real ISO-8859-1 text never uses C1
//   controls, mislabelled windows-1252 text does. Other bytes are the same in both.
// - "us-ascii", "" and charsets iconv does not know: UTF-8 if the bytes are valid UTF-8,
//   otherwise windows-1252 (GuessToUtf8).
// - Everything else goes through iconv; a byte it rejects becomes U+FFFD and conversion
//   continues with the next byte.
std::string ToUtf8(std::string_view bytes, std::string_view charset);

// UTF-8 if `bytes` is valid UTF-8, else windows-1252. For raw 8-bit header text and
// parameters that declare no charset.
std::string GuessToUtf8(std::string_view bytes);

// RFC 3629 UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool IsValidUtf8(std::string_view s);
// Replaces every byte that does not start a valid UTF-8 sequence with U+FFFD.
std::string SanitizeUtf8(std::string_view s);
// Length of the valid UTF-8 sequence at s[i], or 0 if none starts there.
size_t Utf8SequenceLength(std::string_view s, size_t i);

// Lowercased charset name without quotes, whitespace or RFC 2231 language ("utf-8*en").
std::string NormalizeCharset(std::string_view charset);

}  // namespace mailrelay::mime
