// The SMTP AUTH user name of Graph passthrough authentication ([graph] passthrough_auth):
// "TENANT<delimiter>CLIENT[.anything]", each id a UUID or the 22-character base64url form of
// its 16 bytes, as the smtp-oauth-relay seed accepts it. smtpd uses it to decide whether a
// login goes to deliver-graph; deliver-graph to know whose token to fetch. Pure; any thread.
// Errors are kInvalidArgument with a reason that never repeats more than the name's shape.
#pragma once

#include <string>
#include <string_view>

#include "common/util/status.h"

namespace mailrelay::auth {

// Longest user name considered (a UUID pair is 73 characters; the suffix is for clients that
// insist on something that looks like an address).
inline constexpr size_t kMaxPassthroughUser = 255;

struct PassthroughUser {
  std::string tenant_id;  // canonical: lowercase 8-4-4-4-12
  std::string client_id;  // canonical: lowercase 8-4-4-4-12
};

// Rules (the seed's parse_username): everything from the first '.' on is ignored; what is
// left must hold exactly one `delimiter` (one of @ : |) with an id on each side. No look-up
// tables, no domain-name tenants (a '.' would cut them).
util::Result<PassthroughUser> ParsePassthroughUser(std::string_view user, char delimiter);

// One id: "12345678-1234-1234-1234-123456789abc" (any case) or its base64url form
// "EjRWeBI0EjQSNBI0VniavA" (RFC 4122 byte order, optional "==" padding). Canonical output.
util::Result<std::string> ParseUuidOrBase64Url(std::string_view id);

// 16 raw bytes as lowercase 8-4-4-4-12.
std::string FormatUuid(std::string_view bytes16);

}  // namespace mailrelay::auth
