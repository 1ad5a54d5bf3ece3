#include "qmgr/dsn.h"

#include "common/util/clock.h"
#include "common/util/crypto.h"
#include "common/util/base64.h"

namespace mailrelay::qmgr {

namespace {

// DSN fields are ASCII header-like lines: anything else becomes '?', and no CR/LF can
// smuggle extra fields in from an upstream's reply text.
std::string Ascii(const std::string& s, size_t max = 900) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) break;
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : (c == '\t' ? ' ' : '?'));
  }
  return out;
}

}  // namespace

std::string HeaderSection(const std::string& body, size_t max) {
  size_t end = body.find("\r\n\r\n");
  std::string h = end == std::string::npos ? body : body.substr(0, end + 2);
  if (h.size() > max) {
    h.resize(max);
    size_t last = h.rfind("\r\n");
    h.resize(last == std::string::npos ? 0 : last + 2);
  }
  return h;
}

std::string BuildDsn(const DsnInput& in, const std::string& message_id) {
  bool failed = false;
  for (const auto& r : in.recipients) failed |= r.action == "failed";
  std::string boundary = "=_mailrelay_" + util::HexEncode(util::RandomBytes(12));
  std::string out;
  out += "From: MAILER-DAEMON@" + in.hostname + " (Mail Delivery System)\r\n";
  std::string to = in.postmaster_copy || in.original_sender.empty() ? in.postmaster : in.original_sender;
  out += "To: " + (to.empty() ? std::string("postmaster") : "<" + Ascii(to) + ">") + "\r\n";
  if (in.postmaster_copy) {
    out += "Subject: Postmaster notice: undeliverable bounce\r\n";
  } else if (failed) {
    out += "Subject: Undelivered Mail Returned to Sender\r\n";
  } else {
    out += "Subject: Delayed Mail (still being retried)\r\n";
  }
  out += "Date: " + util::Rfc5322Date(in.now) + "\r\n";
  out += "Message-ID: " + message_id + "\r\n";
  out += "Auto-Submitted: auto-replied\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + boundary + "\"\r\n";
  out += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  out += "--" + boundary + "\r\n";
  out += "Content-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n";
  out += "This is the mail system at host " + in.hostname + ".\r\n\r\n";
  if (failed) {
    out += "I'm sorry to have to inform you that your message could not\r\n"
           "be delivered to one or more recipients. The reasons are below.\r\n\r\n";
  } else {
    out += "Your message could not be delivered yet. The mail system will keep\r\n"
           "trying; you do not need to send it again.\r\n\r\n";
  }
  out += "Queue id: " + in.queue_id + "\r\n\r\n";
  for (const auto& r : in.recipients) {
    out += "<" + Ascii(r.address) + ">: " + Ascii(r.diagnostic) + "\r\n";
  }
  out += "\r\n--" + boundary + "\r\n";
  out += "Content-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n";
  out += "Reporting-MTA: dns; " + in.hostname + "\r\n";
  out += "X-Mailrelay-Queue-ID: " + in.queue_id + "\r\n";
  if (!in.original_sender.empty()) out += "X-Mailrelay-Sender: rfc822; " + Ascii(in.original_sender) + "\r\n";
  out += "Arrival-Date: " + util::Rfc5322Date(in.arrival) + "\r\n";
  for (const auto& r : in.recipients) {
    out += "\r\n";
    out += "Final-Recipient: rfc822; " + Ascii(r.address) + "\r\n";
    out += "Original-Recipient: rfc822; " + Ascii(r.address) + "\r\n";
    out += "Action: " + r.action + "\r\n";
    out += "Status: " + Ascii(r.status, 16) + "\r\n";
    if (!r.remote_mta.empty()) out += "Remote-MTA: dns; " + Ascii(r.remote_mta, 255) + "\r\n";
    out += "Diagnostic-Code: " + r.diagnostic_type + "; " + Ascii(r.diagnostic) + "\r\n";
    out += "Last-Attempt-Date: " + util::Rfc5322Date(in.now) + "\r\n";
  }
  out += "\r\n--" + boundary + "\r\n";
  const bool whole = in.postmaster_copy && !in.original_message.empty();
  if (whole) {
    out += "Content-Description: Undelivered Bounce\r\nContent-Type: message/rfc822\r\n\r\n";
  } else {
    out += "Content-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n";
  }
  const std::string& returned = whole ? in.original_message : in.original_headers;
  out += returned;
  if (!returned.empty() && returned.substr(returned.size() - 2) != "\r\n") out += "\r\n";
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

}  // namespace mailrelay::qmgr
