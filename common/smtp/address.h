// Envelope addresses (RFC 5321 Path/Mailbox, RFC 6531 UTF-8): parsing, normalisation (domain
// as lowercase A-label) and flags for open-relay tricks (percent hack, bang, quoted '@', route).
// Pure functions, any thread. Failures are kBadSender / kBadRecipient / kUtf8NotDeclared.
#pragma once

#include <string>
#include <string_view>

#include "common/smtp/errors.h"
#include "common/util/status.h"

namespace mailrelay::smtp {

enum class PathKind {
  kReversePath,  // MAIL FROM:<...>; "<>" allowed; errors are kBadSender
  kForwardPath,  // RCPT TO:<...>; "<Postmaster>" allowed; errors are kBadRecipient
  kMailbox,      // bare local@domain (config values, VRFY); errors are kBadRecipient
};

struct Address {
  // Local part as a value: a quoted-string is unquoted and unescaped ("a b" for "\"a b\"").
  // Case is kept (local parts are case-sensitive, RFC 5321 section 2.4).
  std::string local_part;
  // Lowercase A-label domain ("xn--bcher-kva.example"), or a normalised address literal
  // ("[192.0.2.1]", "[IPv6:2001:db8::1]"). Empty for the null path and <Postmaster>.
  std::string domain;
  std::string original;  // the path as received (with its brackets when it had them)

  bool null_path = false;        // <>
  bool postmaster = false;       // <Postmaster> without a domain (any case)
  bool quoted = false;           // the local part was a quoted-string
  bool utf8_local_part = false;  // needs SMTPUTF8 end to end (the domain never does)
  bool domain_literal = false;   // [1.2.3.4] or [IPv6:...]

  // Relay tricks: the policy layer decides; the parser only reports.
  bool percent_hack = false;  // '%' in the local part: user%other.org@relay
  bool bang_path = false;     // '!' in the local part: other.org!user@relay
  bool quoted_at = false;     // '@' inside a quoted local part: "user@other.org"@relay
  bool source_route = false;  // <@a,@b:user@c>; the route was dropped

  bool relay_trick() const { return percent_hack || bang_path || quoted_at || source_route; }

  // Wire form without brackets: local part re-quoted only when it is not a dot-string.
  // "" for the null path, the local part alone for <Postmaster>.
  std::string Mailbox() const;
  std::string Path() const { return "<" + Mailbox() + ">"; }
};

// Parses a path ("<...>") or, for kMailbox, a bare mailbox. `smtputf8`: the client declared
// SMTPUTF8, so UTF-8 is allowed in the local part and domain (U-labels become A-labels).
ParseResult<Address> ParsePath(std::string_view text, PathKind kind, bool smtputf8);

// A domain as it appears in an address or a config file: sub-domain labels (LDH, no
// leading/trailing hyphen, <= 63 octets, <= 255 in total, no trailing dot), U-labels when
// `allow_utf8`, "xn--" labels checked to decode. Returns the lowercase A-label form.
util::Result<std::string> NormalizeDomain(std::string_view domain, bool allow_utf8);

// RFC 5321 Dot-string (atext atoms separated by single dots; non-ASCII allowed when utf8).
bool IsDotString(std::string_view local_part, bool utf8);
// The local part in wire form: as is when a dot-string, else a quoted-string.
std::string QuoteLocalPart(std::string_view local_part);

}  // namespace mailrelay::smtp
