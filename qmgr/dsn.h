// Delivery status notifications (RFC 3464): multipart/report with a human part, a
// message/delivery-status part and the original headers (text/rfc822-headers), sent from
// MAILER-DAEMON with the null envelope sender. Pure text building.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mailrelay::qmgr {

struct DsnRecipient {
  std::string address;
  std::string action;       // "failed" or "delayed"
  std::string status;       // enhanced code, e.g. "5.1.1"
  std::string diagnostic;   // the upstream's own words, e.g. "550 5.1.1 no such user"
  std::string diagnostic_type = "smtp";
  std::string remote_mta;   // optional
};

struct DsnInput {
  std::string hostname;         // Reporting-MTA and From domain
  std::string queue_id;         // of the original message
  std::string original_sender;  // the sender of the message reported on; To: of a DSN
  std::string postmaster;       // To: of a postmaster notice
  int64_t arrival = 0;
  int64_t now = 0;
  std::string original_headers;  // header section of the original, CRLF
  // A postmaster notice returns the failed bounce whole (message/rfc822): the bounce is
  // small, and only its body says which message and sender it was about.
  std::string original_message;
  std::vector<DsnRecipient> recipients;
  bool postmaster_copy = false;  // the notice to postmaster about a failed bounce
};

// The whole message, CRLF line ends, ready to queue.
std::string BuildDsn(const DsnInput& in, const std::string& message_id);

// The header section of a message (up to and including the empty line's CRLF), capped.
std::string HeaderSection(const std::string& body, size_t max = 64 * 1024);

}  // namespace mailrelay::qmgr
