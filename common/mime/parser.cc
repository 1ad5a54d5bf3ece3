#include "common/mime/parser.h"

#include <algorithm>

#include "common/mime/charset.h"
#include "common/mime/encoded_word.h"
#include "common/mime/transfer.h"
#include "common/util/strings.h"

namespace mailrelay::mime {

namespace {

// Lowercase, sorted for binary search.
constexpr std::string_view kStandardFields[] = {
    "arc-authentication-results",
    "arc-message-signature",
    "arc-seal",
    "authentication-results",
    "bcc",
    "cc",
    "comments",
    "date",
    "delivered-to",
    "dkim-signature",
    "domainkey-signature",
    "from",
    "in-reply-to",
    "keywords",
    "message-id",
    "mime-version",
    "received",
    "received-spf",
    "references",
    "reply-to",
    "return-path",
    "sender",
    "subject",
    "to",
};

std::string NormaliseNewlines(std::string s) {
  size_t w = 0;
  for (size_t r = 0; r < s.size(); ++r) {
    if (s[r] == '\r' && r + 1 < s.size() && s[r + 1] == '\n') continue;
    s[w++] = s[r];
  }
  s.resize(w);
  return s;
}

void CollectMailboxes(const HeaderList& headers, std::string_view name, std::vector<Mailbox>* out,
                      std::vector<std::pair<std::string, Group>>* groups) {
  for (const HeaderField* f : headers.FindAll(name)) {
    AddressList list = ParseAddressList(f->Unfolded());
    for (auto& m : list.mailboxes) out->push_back(std::move(m));
    for (auto& g : list.groups) groups->emplace_back(util::ToLower(name), std::move(g));
  }
}

Attachment MakeAttachment(const MimeTree& tree, int index, std::string_view message) {
  const Entity& e = tree.entities[index];
  Attachment a;
  a.part = index;
  const std::string* filename = e.disposition ? e.disposition->params.Get("filename") : nullptr;
  if (!filename || filename->empty()) filename = e.content_type.params.Get("name");
  if (filename && !filename->empty()) a.filename = *filename;
  a.content_type = e.mime_type;
  for (const Parameter& p : e.content_type.params.items) {
    if (p.name != "name" && p.name != "boundary") a.params.push_back(p);
  }
  a.data = DecodeTransferEncoding(e.Body(message), e.transfer_encoding.value_or(""));
  a.content_id = e.content_id;
  a.is_inline =
      e.content_id && e.parent >= 0 && tree.entities[e.parent].mime_type == "multipart/related";
  if (e.disposition) a.disposition = e.disposition->type;
  a.transfer_encoding = e.transfer_encoding;
  return a;
}

}  // namespace

bool IsStandardField(std::string_view name) {
  std::string lower = util::ToLower(name);
  if (util::StartsWithIgnoreCase(lower, "content-") ||
      util::StartsWithIgnoreCase(lower, "resent-")) {
    return true;
  }
  return std::binary_search(std::begin(kStandardFields), std::end(kStandardFields),
                            std::string_view(lower));
}

int FindBodyPart(const MimeTree& tree, std::string_view subtype) {
  std::vector<int> stack = {0};
  while (!stack.empty()) {
    int index = stack.back();
    stack.pop_back();
    const Entity& e = tree.entities[index];
    if (e.IsAttachment()) continue;
    if (util::StartsWithIgnoreCase(e.mime_type, "text/")) {
      if (std::string_view(e.mime_type).substr(5) == subtype) return index;
      continue;
    }
    if (!e.multipart) continue;
    if (e.mime_type == "multipart/related") {
      if (e.children.empty()) continue;
      int root = e.children.front();
      if (const std::string* start = e.content_type.params.Get("start")) {
        std::string wanted = NormalizeContentId(*start);
        for (int child : e.children) {
          if (tree.entities[child].content_id == wanted) {
            root = child;
            break;
          }
        }
      }
      stack.push_back(root);
      continue;
    }
    for (auto it = e.children.rbegin(); it != e.children.rend(); ++it) stack.push_back(*it);
  }
  return -1;
}

std::string DecodeText(const MimeTree& tree, int part, std::string_view message) {
  const Entity& e = tree.entities[part];
  std::string bytes = DecodeTransferEncoding(e.Body(message), e.transfer_encoding.value_or(""));
  const std::string* charset = e.content_type.params.Get("charset");
  return NormaliseNewlines(ToUtf8(bytes, charset ? *charset : "us-ascii"));
}

ParsedMessage ParseMessage(std::string_view message, const ParseLimits& limits) {
  ParsedMessage pm;
  pm.tree = ParseMimeTree(message, limits);
  const HeaderList& headers = pm.tree.entities[0].headers;
  pm.headers = headers;

  if (auto v = headers.Get("Subject")) pm.subject = DecodeHeaderText(*v);
  if (auto v = headers.Get("Date")) pm.date = std::move(*v);
  if (auto v = headers.Get("Message-ID")) pm.message_id = std::move(*v);
  CollectMailboxes(headers, "From", &pm.from, &pm.groups);
  CollectMailboxes(headers, "To", &pm.to, &pm.groups);
  CollectMailboxes(headers, "Cc", &pm.cc, &pm.groups);
  CollectMailboxes(headers, "Bcc", &pm.bcc, &pm.groups);
  CollectMailboxes(headers, "Reply-To", &pm.reply_to, &pm.groups);
  for (const HeaderField& f : headers.fields) {
    if (!f.name.empty() && !IsStandardField(f.name)) {
      pm.custom_headers.emplace_back(f.name, f.Unfolded());
    }
  }

  pm.text_part = FindBodyPart(pm.tree, "plain");
  pm.html_part = FindBodyPart(pm.tree, "html");
  if (pm.text_part >= 0) pm.text = DecodeText(pm.tree, pm.text_part, message);
  if (pm.html_part >= 0) pm.html = DecodeText(pm.tree, pm.html_part, message);

  // Every leaf that is not one of the bodies, depth first.
  std::vector<int> stack = {0};
  while (!stack.empty()) {
    int index = stack.back();
    stack.pop_back();
    const Entity& e = pm.tree.entities[index];
    if (e.multipart) {
      for (auto it = e.children.rbegin(); it != e.children.rend(); ++it) stack.push_back(*it);
      continue;
    }
    if (index == pm.text_part || index == pm.html_part) continue;
    pm.attachments.push_back(MakeAttachment(pm.tree, index, message));
  }
  return pm;
}

}  // namespace mailrelay::mime
