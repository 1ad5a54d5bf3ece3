#include "deliver-graph/json_request.h"

#include <set>

#include "common/json/json.h"
#include "common/util/base64.h"
#include "common/util/strings.h"

namespace mailrelay::graph {

namespace {

json::Value Recipient(const mime::Mailbox& mb) {
  json::Value address = json::Value::MakeObject();
  address.Set("address", mb.address);
  if (!mb.name.empty()) address.Set("name", mb.name);
  json::Value r = json::Value::MakeObject();
  r.Set("emailAddress", std::move(address));
  return r;
}

json::Value RecipientList(const std::vector<mime::Mailbox>& list) {
  json::Value out = json::Value::MakeArray();
  for (const auto& mb : list) {
    if (!mb.address.empty()) out.Append(Recipient(mb));
  }
  return out;
}

std::string Extension(std::string_view content_type) {
  static const std::pair<std::string_view, std::string_view> kKnown[] = {
      {"application/pdf", "pdf"},   {"image/png", "png"},       {"image/jpeg", "jpg"},
      {"image/gif", "gif"},         {"image/svg+xml", "svg"},   {"image/webp", "webp"},
      {"text/plain", "txt"},        {"text/html", "html"},      {"text/csv", "csv"},
      {"text/calendar", "ics"},     {"message/rfc822", "eml"},  {"application/zip", "zip"},
      {"application/json", "json"}, {"application/xml", "xml"}, {"text/xml", "xml"},
  };
  for (const auto& [type, ext] : kKnown) {
    if (util::EqualsIgnoreCase(content_type, type)) return std::string(ext);
  }
  return "bin";
}

}  // namespace

bool IsPassableHeader(std::string_view name) {
  return util::StartsWithIgnoreCase(name, "x-") &&
         !util::StartsWithIgnoreCase(name, "x-ms-exchange-") && name.size() > 2;
}

std::string MadeUpAttachmentName(size_t n, std::string_view content_type) {
  return "attachment-" + std::to_string(n) + "." + Extension(content_type);
}

std::string BuildJsonRequest(const mime::ParsedMessage& m, const RecipientSplit& recipients,
                             std::vector<std::string>* notes) {
  auto note = [notes](std::string text) {
    if (notes) notes->push_back(std::move(text));
  };
  json::Value message = json::Value::MakeObject();
  message.Set("subject", m.subject.value_or(""));
  json::Value body = json::Value::MakeObject();
  if (m.html) {
    body.Set("contentType", "HTML");
    body.Set("content", *m.html);
    if (m.text) note("JSON form: the text/plain alternative is dropped (Graph takes one body)");
  } else {
    body.Set("contentType", "Text");
    body.Set("content", m.text.value_or(""));
  }
  message.Set("body", std::move(body));
  if (!m.from.empty() && !m.from.front().address.empty())
    message.Set("from", Recipient(m.from.front()));
  message.Set("toRecipients", RecipientList(recipients.to));
  if (!recipients.cc.empty()) message.Set("ccRecipients", RecipientList(recipients.cc));
  if (!recipients.bcc.empty()) message.Set("bccRecipients", RecipientList(recipients.bcc));
  if (!m.reply_to.empty()) message.Set("replyTo", RecipientList(m.reply_to));

  if (auto importance = m.headers.Get("Importance")) {
    std::string v = util::ToLower(util::Trim(*importance));
    if (v == "low" || v == "normal" || v == "high") message.Set("importance", v);
  }
  json::Value headers = json::Value::MakeArray();
  std::set<std::string> seen;
  for (const auto& [name, value] : m.custom_headers) {
    if (!IsPassableHeader(name) || !mime::IsValidFieldName(name)) continue;
    if (!seen.insert(util::ToLower(name)).second) continue;  // Graph wants each name once
    json::Value h = json::Value::MakeObject();
    h.Set("name", name);
    h.Set("value", util::Printable(value, 998));
    headers.Append(std::move(h));
  }
  if (headers.size() > 0) message.Set("internetMessageHeaders", std::move(headers));

  json::Value attachments = json::Value::MakeArray();
  size_t unnamed = 0;
  for (const mime::Attachment& a : m.attachments) {
    json::Value att = json::Value::MakeObject();
    att.Set("@odata.type", "#microsoft.graph.fileAttachment");
    std::string name = a.filename.value_or("");
    if (util::Trim(name).empty()) name = MadeUpAttachmentName(++unnamed, a.content_type);
    att.Set("name", name);
    att.Set("contentType", a.content_type.empty() ? "application/octet-stream" : a.content_type);
    att.Set("contentBytes", util::Base64Encode(a.data));
    att.Set("isInline", a.is_inline);
    if (a.is_inline && a.content_id) att.Set("contentId", *a.content_id);
    attachments.Append(std::move(att));
  }
  if (attachments.size() > 0) message.Set("attachments", std::move(attachments));

  json::Value request = json::Value::MakeObject();
  request.Set("message", std::move(message));
  request.Set("saveToSentItems", false);
  return request.Serialize();
}

}  // namespace mailrelay::graph
