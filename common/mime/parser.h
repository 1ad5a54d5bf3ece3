// ParsedMessage: what a delivery agent needs to build a cloud API request (ACS, Graph JSON)
// from a queued message: subject, mailboxes, custom headers, UTF-8 bodies, attachments.
// Pure; any thread. Never fails: hostile input yields a best-effort result plus defects.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/mime/address_list.h"
#include "common/mime/header.h"
#include "common/mime/mime_tree.h"

namespace mailrelay::mime {

struct Attachment {
  std::optional<std::string> filename;    // Content-Disposition filename, else Content-Type name
  std::string content_type;               // effective lowercased type/subtype
  std::vector<Parameter> params;          // other Content-Type parameters (not name, boundary)
  std::string data;                       // transfer encoding undone; message/rfc822 as is
  std::optional<std::string> content_id;  // without <>
  bool is_inline = false;  // has a Content-ID and sits directly inside multipart/related
  std::optional<std::string> disposition;        // lowercased type, nullopt if absent
  std::optional<std::string> transfer_encoding;  // as declared, lowercased
  int part = -1;                                 // index into ParsedMessage::tree.entities
};

struct ParsedMessage {
  HeaderList headers;                  // the top-level header section, every field in order
  std::optional<std::string> subject;  // RFC 2047 decoded, unfolded; nullopt if absent
  // Mailboxes of every occurrence of the field, group members included.
  std::vector<Mailbox> from, to, cc, bcc, reply_to;
  // Group syntax seen in those fields: (lowercased field name, group).
  std::vector<std::pair<std::string, Group>> groups;
  std::optional<std::string> date;        // raw unfolded value
  std::optional<std::string> message_id;  // raw unfolded value, angle brackets kept
  // Non-standard fields a backend may pass on (X-*, Importance, Auto-Submitted, ...), in
  // order: (name as written, unfolded raw value).
  std::vector<std::pair<std::string, std::string>> custom_headers;
  // First text/plain and first text/html body (see FindBodyPart), UTF-8, CRLF -> "\n".
  std::optional<std::string> text;
  std::optional<std::string> html;
  int text_part = -1;  // their indices in tree.entities, -1 if none
  int html_part = -1;
  std::vector<Attachment> attachments;  // every other leaf, depth first
  MimeTree tree;                        // the structure, with defects for the log
};

ParsedMessage ParseMessage(std::string_view message, const ParseLimits& limits = {});

// The body part of the given text subtype ("plain" or "html"), as Python's
// EmailMessage.get_body() picks it: depth first through every multipart except related,
// whose root (the "start" part, else the first) alone is followed; parts with
// Content-Disposition: attachment are skipped, message/rfc822 is never entered.
// Returns the entity index or -1.
int FindBodyPart(const MimeTree& tree, std::string_view subtype);

// A leaf's text decoded: transfer encoding undone, declared charset (default us-ascii)
// converted to UTF-8, CRLF normalised to "\n".
std::string DecodeText(const MimeTree& tree, int part, std::string_view message);

// RFC 5322 / MIME / trace / authentication fields, which custom_headers leaves out.
bool IsStandardField(std::string_view name);

}  // namespace mailrelay::mime
