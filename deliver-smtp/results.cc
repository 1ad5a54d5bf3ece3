#include "deliver-smtp/results.h"

#include <cstring>

#include "common/util/strings.h"

namespace mailrelay::deliver_smtp {

std::string DefaultEnhanced(int code) {
  switch (code / 100) {
    case 2:
      return "2.0.0";
    case 4:
      return "4.0.0";
    default:
      return "5.0.0";
  }
}

std::string EnhancedOf(const smtp::Reply& reply) {
  return reply.enhanced.empty() ? DefaultEnhanced(reply.code) : reply.enhanced;
}

std::string AsTransient(std::string_view enhanced) {
  if (enhanced.size() < 5 || enhanced[1] != '.') return "4.0.0";
  std::string out(enhanced);
  out[0] = '4';
  return out;
}

std::string SaidText(std::string_view peer, const smtp::Reply& reply, std::string_view command) {
  std::string out = "host " + std::string(peer) + " said: " + std::to_string(reply.code);
  if (!reply.enhanced.empty()) out += " " + reply.enhanced;
  std::string text = reply.Text();
  if (!text.empty()) out += " " + text;
  if (!command.empty()) out += " (in reply to " + std::string(command) + " command)";
  return util::Printable(out, 900);
}

namespace {

bool SaysSlowDown(const smtp::Reply& reply) {
  std::string t = util::ToLower(reply.Text());
  for (const char* w : {"throttl", "rate limit", "rate exceeded", "sending rate", "too many",
                        "server busy", "concurrency", "limit exceeded"}) {
    if (t.find(w) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

bool IsThrottling(const smtp::Reply& reply) {
  const std::string& e = reply.enhanced;
  switch (reply.code) {
    case 421:
      return true;
    case 432:
      return e.empty() || e == "4.3.2";
    case 451:
      return e.rfind("4.7.", 0) == 0;
    case 454:
      return SaysSlowDown(reply);
    case 450:
    case 452:
      return e.rfind("4.7.", 0) == 0 && SaysSlowDown(reply);
    default:
      return false;
  }
}

std::string QueuedAs(const smtp::Reply& reply) {
  std::string text = reply.Text();
  std::string lower = util::ToLower(text);
  size_t start = std::string::npos;
  for (const char* marker : {"queued as ", "id="}) {
    size_t p = lower.find(marker);
    if (p != std::string::npos) {
      start = p + std::strlen(marker);
      break;
    }
  }
  if (start == std::string::npos) return "";
  size_t end = start;
  while (end < text.size() && text[end] != ' ' && text[end] != ')' && text[end] != ',' &&
         text[end] != ';')
    ++end;
  return util::Printable(text.substr(start, end - start), 100);
}

bool HasEightBit(std::string_view message) {
  for (unsigned char c : message) {
    if (c >= 0x80) return true;
  }
  return false;
}

bool NeedsSmtpUtf8(const agent::DeliveryJob& job) {
  if (!util::IsAscii(job.sender)) return true;
  for (const auto& r : job.recipients) {
    if (!util::IsAscii(r.address)) return true;
  }
  if (!job.smtputf8) return false;
  std::string_view message = job.body;
  // RFC 6532 headers only matter when the client said so; raw 8-bit headers from clients
  // that did not are legacy mail Postfix relays as it is.
  size_t end = message.find("\r\n\r\n");
  std::string_view headers = end == std::string_view::npos ? message : message.substr(0, end);
  return HasEightBit(headers);
}

}  // namespace mailrelay::deliver_smtp
