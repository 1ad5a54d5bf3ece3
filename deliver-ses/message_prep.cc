#include "deliver-ses/message_prep.h"

#include <algorithm>
#include <set>

#include "common/mime/address_list.h"
#include "common/mime/edit.h"
#include "common/mime/header.h"
#include "common/util/strings.h"

namespace mailrelay::ses {

namespace {

// https://docs.aws.amazon.com/ses/latest/dg/header-fields.html, lowercase.
const std::set<std::string, std::less<>>& SingleInstance() {
  static const std::set<std::string, std::less<>> kNames = {"accept-language",
                                                            "acceptlanguage",
                                                            "archived-at",
                                                            "auto-submitted",
                                                            "bounces-to",
                                                            "comments",
                                                            "content-alternative",
                                                            "content-base",
                                                            "content-class",
                                                            "content-description",
                                                            "content-disposition",
                                                            "content-duration",
                                                            "content-id",
                                                            "content-language",
                                                            "content-length",
                                                            "content-location",
                                                            "content-md5",
                                                            "content-transfer-encoding",
                                                            "content-type",
                                                            "date",
                                                            "delivered-to",
                                                            "disposition-notification-options",
                                                            "disposition-notification-to",
                                                            "dkim-signature",
                                                            "domainkey-signature",
                                                            "errors-to",
                                                            "from",
                                                            "importance",
                                                            "in-reply-to",
                                                            "keywords",
                                                            "list-archive",
                                                            "list-help",
                                                            "list-id",
                                                            "list-owner",
                                                            "list-post",
                                                            "list-subscribe",
                                                            "list-unsubscribe",
                                                            "list-unsubscribe-post",
                                                            "message-context",
                                                            "message-id",
                                                            "mime-version",
                                                            "organization",
                                                            "original-from",
                                                            "original-message-id",
                                                            "original-recipient",
                                                            "original-subject",
                                                            "precedence",
                                                            "priority",
                                                            "references",
                                                            "reply-to",
                                                            "return-path",
                                                            "return-receipt-to",
                                                            "sender",
                                                            "solicitation",
                                                            "sensitivity",
                                                            "subject",
                                                            "thread-index",
                                                            "thread-topic",
                                                            "user-agent",
                                                            "vbr-info"};
  return kNames;
}

void AddAddresses(std::string_view raw_value, std::vector<std::string>* out) {
  for (const mime::Mailbox& m : mime::ParseAddressList(mime::Unfold(raw_value)).mailboxes) {
    if (!m.address.empty()) out->push_back(util::ToLower(m.address));
  }
}

// The line end the header uses (CRLF unless it has bare LF only).
std::string_view LineEnd(std::string_view header) {
  size_t lf = header.find('\n');
  if (lf != std::string_view::npos && (lf == 0 || header[lf - 1] != '\r')) return "\n";
  return "\r\n";
}

util::Status CheckLines(std::string_view raw) {
  size_t start = 0;
  size_t number = 1;
  while (start < raw.size()) {
    size_t lf = raw.find('\n', start);
    size_t end = lf == std::string_view::npos ? raw.size() : lf;
    size_t len = end - start;
    if (len > 0 && end > start && raw[end - 1] == '\r') --len;
    if (len > kSesMaxLineOctets) {
      return util::InvalidArgument(
          "line " + std::to_string(number) + " is " + std::to_string(len) +
          " octets long; SES refuses lines over 1000 octets including CRLF");
    }
    if (lf == std::string_view::npos) break;
    start = lf + 1;
    ++number;
  }
  return util::Status::Ok();
}

}  // namespace

bool IsSingleInstanceField(std::string_view name) {
  return SingleInstance().count(util::ToLower(name)) != 0;
}

size_t Base64Size(size_t raw_size) { return (raw_size + 2) / 3 * 4; }

util::Result<PreparedMessage> PrepareRawMessage(std::string_view message,
                                                const PrepOptions& options) {
  PreparedMessage out;
  mime::MessageSections sections = mime::SplitMessage(message);
  const std::string eol(LineEnd(sections.header));

  // First pass: what the header holds.
  std::vector<mime::FieldView> fields;
  bool has_reply_to = false;
  bool has_from = false;
  {
    mime::FieldScanner scanner(sections.header);
    mime::FieldView f;
    while (scanner.Next(&f)) {
      fields.push_back(f);
      if (util::EqualsIgnoreCase(f.name, "reply-to")) has_reply_to = true;
      if (util::EqualsIgnoreCase(f.name, "from")) has_from = true;
    }
  }

  std::string header;
  header.reserve(sections.header.size() + 256);
  std::set<std::string, std::less<>> seen;
  const std::string& sender = options.rewrite_from_to;
  for (const mime::FieldView& f : fields) {
    std::string_view bytes = sections.header.substr(f.offset, f.size);
    if (f.name.empty()) {  // a malformed line: kept as it is
      header.append(bytes);
      continue;
    }
    std::string lower = util::ToLower(f.name);
    if (lower == "bcc" || lower == "resent-bcc") {
      out.dropped.push_back(std::string(f.name));
      continue;
    }
    if (IsSingleInstanceField(lower) && !seen.insert(lower).second) {
      out.dropped.push_back(std::string(f.name));
      continue;
    }
    if (lower == "to") AddAddresses(f.value, &out.to_header);
    if (lower == "cc") AddAddresses(f.value, &out.cc_header);
    if (lower == "from" && !sender.empty()) {
      mime::AddressList original = mime::ParseAddressList(mime::Unfold(f.value));
      bool already = !original.mailboxes.empty() &&
                     std::all_of(original.mailboxes.begin(), original.mailboxes.end(),
                                 [&](const mime::Mailbox& m) {
                                   return util::EqualsIgnoreCase(m.address, sender);
                                 });
      if (!already) {
        mime::Mailbox from{original.mailboxes.empty() ? "" : original.mailboxes.front().name,
                           sender};
        header += mime::FoldField("From", mime::FormatMailbox(from), eol);
        if (!has_reply_to && !original.mailboxes.empty()) {
          header += mime::FoldField("Reply-To", mime::FormatMailboxList(original.mailboxes), eol);
        }
        out.from_rewritten = true;
        continue;
      }
    }
    header.append(bytes);
  }
  if (!has_from && !sender.empty()) {
    if (!header.empty() && header.back() != '\n') header += eol;
    header += mime::FoldField("From", sender, eol);
    out.from_rewritten = true;
  }

  out.raw = std::move(header);
  out.raw.reserve(out.raw.size() + 4 + sections.body.size());
  if (!sections.separator.empty()) {
    out.raw.append(sections.separator);
  } else if (!out.raw.empty()) {
    // No empty line at all: SES wants header and body separated by one.
    if (out.raw.back() != '\n') out.raw += eol;
    out.raw += eol;
  }
  out.raw.append(sections.body);

  if (Base64Size(out.raw.size()) > kSesMaxRawBase64) {
    return util::ResourceExhausted(
        "message too large for SES: " + std::to_string(Base64Size(out.raw.size())) +
        " octets in base64, SES v2 takes at most " + std::to_string(kSesMaxRawBase64) + " (40 MB)");
  }
  MR_RETURN_IF_ERROR(CheckLines(out.raw));
  return out;
}

}  // namespace mailrelay::ses
