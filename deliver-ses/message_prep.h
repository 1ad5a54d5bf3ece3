// Turns a queued message into the raw MIME SES v2 accepts (Content.Raw.Data), byte for byte
// otherwise: Bcc / Resent-Bcc removed (Destination carries the envelope, and no recipient may
// see a Bcc list); later copies of fields SES allows only once (its header-fields page, e.g.
// a second MIME-Version, corpus 019) dropped, keeping the first, instead of having SES refuse
// the whole message; optionally From rewritten to [ses] sender with the original in Reply-To.
// Pure; any thread. Fails with kResourceExhausted over SES's 40 MB (base64) limit and
// kInvalidArgument for a line over 998 octets (SES refuses them; smtpd already refuses such
// lines in DATA, so only a message made inside the relay could have one).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/status.h"

namespace mailrelay::ses {

// SES v2: "40 MB per message (after base64 encoding)"; taken as MiB, as SES's 10 MB v1 limit is.
inline constexpr size_t kSesMaxRawBase64 = 40u << 20;
// RFC 5321 4.5.3.1.6 / SES: 1000 octets per line including CRLF.
inline constexpr size_t kSesMaxLineOctets = 998;

struct PrepOptions {
  // Non-empty: From becomes this address (the original display name kept), and the original
  // From goes to Reply-To unless the message already has one.
  std::string rewrite_from_to;
};

struct PreparedMessage {
  std::string raw;
  std::vector<std::string> dropped;  // field names removed, e.g. "Bcc", "MIME-Version"
  bool from_rewritten = false;
  std::vector<std::string> to_header;  // addresses in To fields, lowercase
  std::vector<std::string> cc_header;  // addresses in Cc fields, lowercase
};

// True for fields SES accepts at most once in the top-level header (case-insensitive).
bool IsSingleInstanceField(std::string_view name);

size_t Base64Size(size_t raw_size);

util::Result<PreparedMessage> PrepareRawMessage(std::string_view message,
                                                const PrepOptions& options);

}  // namespace mailrelay::ses
