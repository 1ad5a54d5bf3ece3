// EHLO responses (RFC 5321 section 4.1.1.1): the client reads a server's extensions, the server
// builds its own reply from the same struct. Pure functions, any thread.
// A non-250 reply is kFailedPrecondition (fall back to HELO), an empty one kInvalidArgument.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/smtp/reply.h"
#include "common/util/status.h"

namespace mailrelay::smtp {

struct EhloExtensions {
  std::string domain;  // first word of the first line: the server's name
  bool size = false;
  uint64_t size_limit = 0;  // SIZE n; 0 when absent or unlimited
  bool pipelining = false;
  bool starttls = false;
  bool auth = false;
  std::vector<std::string> auth_mechanisms;  // uppercase, no duplicates, server order
  bool eightbitmime = false;
  bool smtputf8 = false;
  bool enhanced_status_codes = false;
  bool chunking = false;
  bool binarymime = false;
  bool dsn = false;
  std::vector<std::string> other;  // unrecognised extension lines, as sent

  bool HasAuthMechanism(std::string_view mechanism) const;  // case-insensitive
};

// Parses a complete EHLO reply. Keywords are case-insensitive; "AUTH=PLAIN LOGIN" (the
// pre-RFC 4954 form some servers still send) is merged with "AUTH ...". A malformed SIZE
// value is taken as "no limit announced" rather than failing the session.
util::Result<EhloExtensions> ParseEhloReply(const Reply& reply);

// Server side: the lines of a 250 EHLO reply ("relay.example.com", "PIPELINING", "SIZE 1000",
// ...), first line `domain` followed by `greeting` if non-empty. Extensions in a fixed order.
std::vector<std::string> EhloReplyLines(const EhloExtensions& extensions,
                                        std::string_view greeting = {});

}  // namespace mailrelay::smtp
