#include "deliver-graph/recipients.h"

#include <map>
#include <set>

#include "common/mime/edit.h"
#include "common/mime/header.h"
#include "common/util/strings.h"

namespace mailrelay::graph {

namespace {

// Envelope recipients in RCPT order, each once: lowercase -> address as given.
struct Envelope {
  std::vector<std::string> order;  // lowercase
  std::map<std::string, std::string> spelled;
};

Envelope MakeEnvelope(const std::vector<agent::JobRecipient>& recipients) {
  Envelope e;
  for (const auto& r : recipients) {
    if (r.address.empty()) continue;
    std::string key = util::ToLower(r.address);
    if (e.spelled.emplace(key, r.address).second) e.order.push_back(key);
  }
  return e;
}

// Appends the mailboxes of `header` that are envelope recipients not taken yet.
void Take(const std::vector<mime::Mailbox>& header, const Envelope& env,
          std::set<std::string>* taken, std::vector<mime::Mailbox>* out, size_t* header_only) {
  for (const auto& mb : header) {
    std::string key = util::ToLower(mb.address);
    auto it = env.spelled.find(key);
    if (it == env.spelled.end()) {
      ++*header_only;
      continue;
    }
    if (!taken->insert(key).second) continue;
    out->push_back({mb.name, it->second});
  }
}

std::vector<mime::Mailbox> MailboxesOf(const mime::HeaderList& headers, std::string_view name) {
  std::vector<mime::Mailbox> out;
  for (const mime::HeaderField* f : headers.FindAll(name)) {
    auto list = mime::ParseAddressList(f->Unfolded());
    out.insert(out.end(), list.mailboxes.begin(), list.mailboxes.end());
  }
  return out;
}

// True when the field(s) can go as they are: at most one, naming only envelope recipients.
bool KeepVerbatim(const mime::HeaderList& headers, std::string_view name,
                  const std::vector<mime::Mailbox>& all, const Envelope& env) {
  if (headers.Count(name) > 1) return false;
  for (const auto& mb : all) {
    if (!env.spelled.count(util::ToLower(mb.address))) return false;
  }
  return true;
}

}  // namespace

RecipientSplit SplitRecipients(const std::vector<mime::Mailbox>& to_header,
                               const std::vector<mime::Mailbox>& cc_header,
                               const std::vector<agent::JobRecipient>& envelope) {
  Envelope env = MakeEnvelope(envelope);
  RecipientSplit split;
  std::set<std::string> taken;
  Take(to_header, env, &taken, &split.to, &split.header_only);
  Take(cc_header, env, &taken, &split.cc, &split.header_only);
  for (const std::string& key : env.order) {
    if (!taken.count(key)) split.bcc.push_back({"", env.spelled[key]});
  }
  return split;
}

util::Result<RewrittenMessage> RewriteRecipientHeaders(
    std::string_view message, const std::vector<agent::JobRecipient>& envelope) {
  RewrittenMessage out;
  mime::MessageSections sections = mime::SplitMessage(message);
  mime::HeaderList headers = mime::ParseHeaderSection(sections.header);
  std::vector<mime::Mailbox> to = MailboxesOf(headers, "To");
  std::vector<mime::Mailbox> cc = MailboxesOf(headers, "Cc");
  out.recipients = SplitRecipients(to, cc, envelope);
  const Envelope env = MakeEnvelope(envelope);

  mime::HeaderEditor editor(message);
  bool changed = false;
  const struct {
    const char* name;
    const std::vector<mime::Mailbox>& all;
    const std::vector<mime::Mailbox>& kept;
  } fields[] = {{"To", to, out.recipients.to}, {"Cc", cc, out.recipients.cc}};
  for (const auto& f : fields) {
    if (KeepVerbatim(headers, f.name, f.all, env)) continue;
    changed = true;
    if (f.kept.empty()) {
      editor.Remove(f.name);
    } else {
      MR_RETURN_IF_ERROR(editor.Replace(f.name, mime::FormatMailboxList(f.kept)));
    }
  }
  out.removed_bcc_fields = editor.Remove("Bcc");
  changed = changed || out.removed_bcc_fields > 0;
  if (!out.recipients.bcc.empty()) {
    MR_RETURN_IF_ERROR(editor.Add("Bcc", mime::FormatMailboxList(out.recipients.bcc)));
    changed = true;
  }
  out.changed = changed;
  out.message = changed ? editor.Render() : std::string(message);
  return out;
}

}  // namespace mailrelay::graph
