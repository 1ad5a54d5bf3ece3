#include "deliver-azure/request_builder.h"

#include <set>

#include "common/util/base64.h"
#include "common/util/strings.h"

namespace mailrelay::azure {

namespace {

struct Extension {
  std::string_view type;
  std::string_view ext;
};

constexpr Extension kExtensions[] = {
    {"application/gzip", "gz"},
    {"application/ics", "ics"},
    {"application/json", "json"},
    {"application/msword", "doc"},
    {"application/pdf", "pdf"},
    {"application/vnd.ms-excel", "xls"},
    {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"},
    {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"},
    {"application/xml", "xml"},
    {"application/zip", "zip"},
    {"image/bmp", "bmp"},
    {"image/gif", "gif"},
    {"image/jpeg", "jpg"},
    {"image/png", "png"},
    {"image/svg+xml", "svg"},
    {"image/tiff", "tif"},
    {"image/webp", "webp"},
    {"message/rfc822", "eml"},
    {"text/calendar", "ics"},
    {"text/csv", "csv"},
    {"text/html", "html"},
    {"text/plain", "txt"},
    {"text/xml", "xml"},
};

json::Value AddressJson(const std::string& address, const std::string& name) {
  json::Value v = json::Value::MakeObject();
  v.Set("address", address);
  if (!name.empty()) v.Set("displayName", name);
  return v;
}

json::Value ReplyTo(const mime::ParsedMessage& m, const RequestOptions& options,
                    std::vector<std::string>* notes) {
  json::Value out = json::Value::MakeArray();
  const std::vector<mime::Mailbox>& source = !m.reply_to.empty() ? m.reply_to : m.from;
  for (const mime::Mailbox& mb : source) {
    if (mb.address.empty()) continue;
    // From rewritten to the sender itself needs no Reply-To.
    if (m.reply_to.empty() && util::EqualsIgnoreCase(mb.address, options.sender)) continue;
    out.Append(AddressJson(mb.address, mb.name));
  }
  if (source.empty() && !options.envelope_sender.empty() &&
      !util::EqualsIgnoreCase(options.envelope_sender, options.sender)) {
    out.Append(AddressJson(options.envelope_sender, ""));
    notes->push_back("no From header: replyTo is the envelope sender");
  }
  return out;
}

json::Value Headers(const mime::ParsedMessage& m, std::vector<std::string>* notes) {
  json::Value out = json::Value::MakeObject();
  std::set<std::string> seen;
  size_t dropped = 0;
  for (const auto& [name, value] : m.custom_headers) {
    if (!IsPassableHeader(name)) {
      ++dropped;
      continue;
    }
    if (!seen.insert(util::ToLower(name)).second) {
      notes->push_back("header " + util::Printable(name, 60) + " given twice: only the first is sent");
      continue;
    }
    out.Set(name, value);
  }
  if (dropped) notes->push_back(std::to_string(dropped) + " non-X- or x-ms- header(s) not carried");
  return out;
}

// `lower_html` is the html body lowercased ("" if none): content ids compare case-insensitively.
bool ReferencedFromHtml(const std::string& lower_html, const std::string& content_id) {
  return !content_id.empty() && lower_html.find("cid:" + util::ToLower(content_id)) != std::string::npos;
}

json::Value Attachments(const mime::ParsedMessage& m, const RequestOptions& options,
                        std::vector<std::string>* notes) {
  json::Value out = json::Value::MakeArray();
  const bool content_ids = SupportsContentId(options.api_version);
  std::set<std::string> used_ids;
  const std::string lower_html = m.html ? util::ToLower(*m.html) : std::string();
  size_t n = 0;
  size_t flattened = 0;
  for (const mime::Attachment& a : m.attachments) {
    ++n;
    std::string type = a.content_type.empty() ? "application/octet-stream" : a.content_type;
    json::Value v = json::Value::MakeObject();
    v.Set("name", a.filename && !a.filename->empty() ? *a.filename : MadeUpAttachmentName(n, type));
    v.Set("contentType", type);
    v.Set("contentInBase64", util::Base64Encode(a.data));
    const bool wants_id = a.content_id && !a.content_id->empty() &&
                          (a.is_inline || ReferencedFromHtml(lower_html, *a.content_id));
    if (wants_id && !content_ids) {
      ++flattened;
    } else if (wants_id) {
      // ACS refuses duplicate content ids; a second part with the same id stays a plain file.
      if (used_ids.insert(util::ToLower(*a.content_id)).second) {
        v.Set("contentId", *a.content_id);
      } else {
        notes->push_back("duplicate Content-ID " + util::Printable(*a.content_id, 80) +
                         ": sent as a plain attachment");
      }
    }
    out.Append(std::move(v));
  }
  if (flattened) {
    notes->push_back(std::to_string(flattened) + " inline image(s) sent as plain attachments: api-version " +
                     options.api_version + " has no contentId");
  }
  return out;
}

}  // namespace

bool SupportsContentId(std::string_view api_version) {
  if (api_version == "2024-07-01-preview" || api_version == "2025-01-15-preview") return true;
  if (api_version.size() < 10) return false;
  const bool preview = api_version.size() > 10;
  // GA versions compare as dates: "2025-09-01" is the first with contentId.
  return !preview && api_version >= "2025-09-01";
}

bool IsPassableHeader(std::string_view name) {
  return util::StartsWithIgnoreCase(name, "x-") && !util::StartsWithIgnoreCase(name, "x-ms-") &&
         mime::IsValidFieldName(name);
}

std::string MadeUpAttachmentName(size_t n, std::string_view content_type) {
  std::string type = util::ToLower(content_type);
  std::string_view ext = "bin";
  for (const Extension& e : kExtensions) {
    if (e.type == type) ext = e.ext;
  }
  return "attachment-" + std::to_string(n) + "." + std::string(ext);
}

MessageParts BuildMessageParts(const mime::ParsedMessage& message, const RequestOptions& options) {
  MessageParts parts;
  parts.content = json::Value::MakeObject();
  parts.content.Set("subject", message.subject.value_or(""));
  if (message.text) parts.content.Set("plainText", *message.text);
  if (message.html) parts.content.Set("html", *message.html);
  if (!message.text && !message.html) {
    // ACS wants a body; a scanner's attachment-only message has none.
    parts.content.Set("plainText", "");
  }
  parts.reply_to = ReplyTo(message, options, &parts.notes);
  parts.attachments = Attachments(message, options, &parts.notes);
  parts.headers = Headers(message, &parts.notes);
  return parts;
}

std::string BuildRequestBody(const MessageParts& parts, const RecipientBatch& batch,
                             const RequestOptions& options) {
  json::Value lists[3] = {json::Value::MakeArray(), json::Value::MakeArray(), json::Value::MakeArray()};
  for (const AcsRecipient& r : batch.recipients) {
    lists[static_cast<int>(r.field)].Append(AddressJson(r.address, r.display_name));
  }
  json::Value recipients = json::Value::MakeObject();
  recipients.Set("to", lists[0]);
  if (lists[1].size()) recipients.Set("cc", lists[1]);
  if (lists[2].size()) recipients.Set("bcc", lists[2]);

  json::Value root = json::Value::MakeObject();
  root.Set("senderAddress", options.sender);
  root.Set("content", parts.content);
  root.Set("recipients", recipients);
  if (parts.reply_to.size()) root.Set("replyTo", parts.reply_to);
  if (parts.attachments.size()) root.Set("attachments", parts.attachments);
  if (parts.headers.size()) root.Set("headers", parts.headers);
  root.Set("userEngagementTrackingDisabled", !options.engagement_tracking);
  return root.Serialize();
}

}  // namespace mailrelay::azure
