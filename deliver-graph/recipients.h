// Graph takes the recipients of a sendMail from the message (MIME headers or JSON fields),
// never from an SMTP envelope, so the relay makes them say exactly the envelope recipients of
// this delivery: a To/Cc address that is an envelope recipient stays where it is, every other
// envelope recipient becomes a Bcc, and an address that is only in a header (or in the
// message's own Bcc) is never sent to. Pure functions; any thread; never fail.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/agent/agent.h"
#include "common/mime/address_list.h"
#include "common/util/status.h"

namespace mailrelay::graph {

struct RecipientSplit {
  // Envelope addresses (as in RCPT TO) with the display name the header gave them; each
  // envelope recipient appears once, in the first of to, cc, bcc that has it.
  std::vector<mime::Mailbox> to, cc, bcc;
  size_t header_only = 0;  // To/Cc mailboxes left out: not recipients of this delivery
};

// to_header / cc_header: every mailbox of every To / Cc field, group members included.
// Addresses compare case-insensitively.
RecipientSplit SplitRecipients(const std::vector<mime::Mailbox>& to_header,
                               const std::vector<mime::Mailbox>& cc_header,
                               const std::vector<agent::JobRecipient>& envelope);

struct RewrittenMessage {
  std::string message;            // what Graph gets (base64 in the MIME form)
  RecipientSplit recipients;      // who it goes to
  bool changed = false;           // false: the bytes are the queued message's
  size_t removed_bcc_fields = 0;  // the message's own Bcc fields (never passed on)
};

// The MIME form's header rewrite. A To or Cc field whose every mailbox is an envelope
// recipient is kept byte for byte (encoded words, folding, group syntax); otherwise all
// fields of that name are replaced by one listing only the envelope recipients in it (group
// syntax dropped, members kept), or removed when none is left. Every Bcc field is removed and
// one Bcc field lists the envelope recipients in neither To nor Cc. The body is untouched.
// Fails only if the header editor refuses a field (a bug): the caller must not send then.
util::Result<RewrittenMessage> RewriteRecipientHeaders(
    std::string_view message, const std::vector<agent::JobRecipient>& envelope);

}  // namespace mailrelay::graph
