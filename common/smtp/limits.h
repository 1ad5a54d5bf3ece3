// Protocol size limits from RFC 5321 section 4.5.3.1 and RFC 4954, in one place so the
// server, the client and the tests agree on them. Constants only.
// Nothing here can fail.
#pragma once

#include <cstddef>

namespace mailrelay::smtp {

inline constexpr size_t kMaxCommandLine = 512;  // a command line, CRLF included (4.5.3.1.4)
inline constexpr size_t kMaxAuthLine = 12288;   // an AUTH exchange line (RFC 4954 section 4)
inline constexpr size_t kMaxTextLine = 1000;    // a DATA line, CRLF included (4.5.3.1.6)
inline constexpr size_t kMaxReplyLine = 512;    // a reply line we send, CRLF included (4.5.3.1.5)
inline constexpr size_t kMaxLocalPart = 64;     // 4.5.3.1.1
inline constexpr size_t kMaxDomain = 255;       // 4.5.3.1.2
inline constexpr size_t kMaxDomainLabel = 63;   // RFC 1035 section 2.3.4
inline constexpr size_t kMaxPath = 256;         // "<...>" including punctuation (4.5.3.1.3)

}  // namespace mailrelay::smtp
