#include "smtpd/message_writer.h"

#include "common/util/base64.h"
#include "common/util/clock.h"
#include "common/util/strings.h"

namespace mailrelay::smtpd {

namespace {
constexpr size_t kChunk = 128 * 1024;
constexpr size_t kMaxHeaderScan = 256 * 1024;  // past this, stop looking and pass through

// A header field line starts with a name of printable ASCII except ':' followed by ':'.
bool IsFieldLine(std::string_view line) {
  size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  for (size_t i = 0; i < colon; ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if (c <= 32 || c >= 127) return false;
  }
  return true;
}
}  // namespace

std::string FindHeader(std::string_view block, std::string_view name) {
  size_t pos = 0;
  while (pos < block.size()) {
    size_t eol = block.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = block.size();
    std::string_view line = block.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || line.empty() || line[0] == ' ' || line[0] == '\t') continue;
    if (!util::EqualsIgnoreCase(util::Trim(line.substr(0, colon)), name)) continue;
    std::string value(line.substr(colon + 1));
    while (pos < block.size() && (block[pos] == ' ' || block[pos] == '\t')) {
      size_t next = block.find("\r\n", pos);
      if (next == std::string_view::npos) next = block.size();
      value.append(block.substr(pos, next - pos));
      pos = next + 2;
    }
    return std::string(util::Trim(value));
  }
  return "";
}

MessageWriter::MessageWriter(std::string received_header, std::string hostname, int64_t now, Sink sink)
    : hostname_(std::move(hostname)), now_(now), sink_(std::move(sink)) {
  Emit(received_header);
}

void MessageWriter::Emit(std::string_view data) {
  out_.append(data);
  if (out_.size() >= kChunk) FlushOut(false);
}

void MessageWriter::FlushOut(bool all) {
  while (out_.size() >= kChunk || (all && !out_.empty())) {
    size_t n = std::min(out_.size(), kChunk);
    std::string_view chunk(out_.data(), n);
    sha_.Update(chunk);
    size_ += n;
    sink_(chunk);
    out_.erase(0, n);
  }
}

void MessageWriter::Append(std::string_view data) {
  if (!in_headers_) {
    Emit(data);
    return;
  }
  headers_.append(data);
  // Scan the complete lines not seen yet for the end of the header section.
  size_t pos = scan_pos_;
  while (in_headers_) {
    size_t eol = headers_.find("\r\n", pos);
    if (eol == std::string::npos) break;
    std::string_view line(headers_.data() + pos, eol - pos);
    bool continuation = !line.empty() && (line[0] == ' ' || line[0] == '\t') && pos > 0;
    if (line.empty()) {
      // The separator: headers end here, the empty line and the rest follow.
      std::string rest = headers_.substr(pos);
      headers_.resize(pos);
      EndHeaders(false);
      Emit(rest);
      return;
    }
    if (!continuation && !IsFieldLine(line)) {
      // Body text with no separator before it (or no headers at all): headers end here and
      // the separator the message lacked is supplied.
      std::string rest = headers_.substr(pos);
      headers_.resize(pos);
      EndHeaders(true);
      Emit(rest);
      return;
    }
    pos = eol + 2;
  }
  scan_pos_ = pos;
  if (in_headers_ && headers_.size() > kMaxHeaderScan) {
    // An absurd header block: pass it through without additions.
    in_headers_ = false;
    message_id_ = FindHeader(headers_, "Message-ID");
    subject_ = FindHeader(headers_, "Subject");
    Emit(headers_);
    headers_.clear();
  }
}

void MessageWriter::EndHeaders(bool separator_missing) {
  in_headers_ = false;
  message_id_ = FindHeader(headers_, "Message-ID");
  subject_ = FindHeader(headers_, "Subject");
  bool has_date = FindHeader(headers_, "Date").size() > 0;
  Emit(headers_);
  headers_.clear();
  if (message_id_.empty()) {
    message_id_ = "<" + std::to_string(now_) + "." + util::HexEncode(util::RandomBytes(8)) + "@" + hostname_ + ">";
    added_message_id_ = true;
    Emit("Message-ID: " + message_id_ + "\r\n");
  }
  if (!has_date) Emit("Date: " + util::Rfc5322Date(now_) + "\r\n");
  if (separator_missing) Emit("\r\n");
}

void MessageWriter::Finish() {
  if (in_headers_) {
    // DATA ended inside the header section (a message of headers only, maybe without a final
    // CRLF line): it is all header; add what is missing after it.
    if (!headers_.empty() && headers_.size() >= 2 && headers_.substr(headers_.size() - 2) != "\r\n") {
      headers_ += "\r\n";  // cannot happen with DataReader output, kept for safety
    }
    EndHeaders(false);
  }
  FlushOut(true);
}

}  // namespace mailrelay::smtpd
