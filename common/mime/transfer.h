// Content-Transfer-Encoding decoders (RFC 2045 section 6): base64 and quoted-printable,
// tolerant of the damage mail picks up on the way; 7bit, 8bit and binary are identity.
// Pure functions; any thread. Never fail: malformed input decodes as far as it makes sense.
#pragma once

#include <string>
#include <string_view>

namespace mailrelay::mime {

// Base64 that skips every character outside the alphabet (line breaks, spaces, stray
// punctuation), treats '=' as the end of a quantum (so concatenated blobs decode) and drops
// a final incomplete sextet.
std::string DecodeBase64(std::string_view text);

// Quoted-printable: "=XX" (either case) is a byte, "=" at the end of a line is a soft line
// break, trailing whitespace on a line is transport padding and removed, an "=" that starts
// no valid escape is kept literally. Hard line ends are kept as they are (CRLF or LF).
std::string DecodeQuotedPrintable(std::string_view text);

// Undoes `encoding` (a Content-Transfer-Encoding value, any case); unknown encodings and
// 7bit/8bit/binary return the bytes unchanged.
std::string DecodeTransferEncoding(std::string_view body, std::string_view encoding);

}  // namespace mailrelay::mime
