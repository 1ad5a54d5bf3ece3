// Builds the queued form of one message while DATA arrives: our Received: header first, the
// client's header section scanned (Message-ID, Date and Subject noted; Message-ID and Date
// added at the end of the header block only when missing), then everything else untouched.
// Output leaves in chunks for qmgr with a running SHA-256. One per transaction, on the
// session's loop; cannot fail.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/util/crypto.h"

namespace mailrelay::smtpd {

class MessageWriter {
 public:
  using Sink = std::function<void(std::string_view chunk)>;
  MessageWriter(std::string received_header, std::string hostname, int64_t now, Sink sink);

  void Append(std::string_view data);  // dot-unstuffed content, CRLF line ends
  void Finish();                       // flushes everything; call once

  uint64_t size() const { return size_; }
  std::string Digest() { return sha_.Finish(); }
  const std::string& message_id() const { return message_id_; }
  const std::string& subject() const { return subject_; }
  bool added_message_id() const { return added_message_id_; }

 private:
  void EndHeaders(bool separator_missing);
  void Emit(std::string_view data);
  void FlushOut(bool all);

  std::string hostname_;
  int64_t now_;
  Sink sink_;
  bool in_headers_ = true;
  std::string headers_;  // the client's header section, held until it ends
  size_t scan_pos_ = 0;  // headers_ before this are complete, checked lines
  std::string out_;
  uint64_t size_ = 0;
  util::Sha256Stream sha_;
  std::string message_id_;
  std::string subject_;
  bool added_message_id_ = false;
};

// Parses the header block: the raw, unfolded value of `name` (first occurrence) or "".
std::string FindHeader(std::string_view header_block, std::string_view name);

}  // namespace mailrelay::smtpd
