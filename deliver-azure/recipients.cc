#include "deliver-azure/recipients.h"

#include <algorithm>
#include <map>

#include "common/util/strings.h"

namespace mailrelay::azure {

namespace {

// The first display name a header gives each address (lowercased key).
std::map<std::string, std::string> NamesByAddress(const std::vector<mime::Mailbox>& header) {
  std::map<std::string, std::string> out;
  for (const mime::Mailbox& m : header) {
    if (m.address.empty()) continue;
    auto [it, inserted] = out.emplace(util::ToLower(m.address), m.name);
    if (!inserted && it->second.empty()) it->second = m.name;
  }
  return out;
}

}  // namespace

const char* FieldName(RecipientField field) {
  switch (field) {
    case RecipientField::kTo:
      return "to";
    case RecipientField::kCc:
      return "cc";
    case RecipientField::kBcc:
      return "bcc";
  }
  return "bcc";
}

size_t RecipientBatch::Count(RecipientField field) const {
  return static_cast<size_t>(std::count_if(recipients.begin(), recipients.end(),
                                           [field](const AcsRecipient& r) { return r.field == field; }));
}

std::string RecipientBatch::Key() const {
  std::vector<std::string> addresses;
  for (const AcsRecipient& r : recipients) addresses.push_back(util::ToLower(r.address));
  std::sort(addresses.begin(), addresses.end());
  return util::Join(addresses, "\n");
}

std::vector<AcsRecipient> ClassifyRecipients(const std::vector<mime::Mailbox>& to_header,
                                             const std::vector<mime::Mailbox>& cc_header,
                                             const std::vector<agent::JobRecipient>& envelope) {
  const std::map<std::string, std::string> to_names = NamesByAddress(to_header);
  const std::map<std::string, std::string> cc_names = NamesByAddress(cc_header);
  std::vector<AcsRecipient> unique;  // envelope order
  std::map<std::string, size_t> seen;
  for (const agent::JobRecipient& rc : envelope) {
    std::string key = util::ToLower(rc.address);
    if (auto it = seen.find(key); it != seen.end()) {
      unique[it->second].indexes.push_back(rc.index);
      continue;
    }
    AcsRecipient r;
    r.address = rc.address;
    r.indexes.push_back(rc.index);
    if (auto t = to_names.find(key); t != to_names.end()) {
      r.field = RecipientField::kTo;
      r.display_name = t->second;
    } else if (auto c = cc_names.find(key); c != cc_names.end()) {
      r.field = RecipientField::kCc;
      r.display_name = c->second;
    }
    seen.emplace(std::move(key), unique.size());
    unique.push_back(std::move(r));
  }
  std::stable_sort(unique.begin(), unique.end(), [](const AcsRecipient& a, const AcsRecipient& b) {
    return static_cast<int>(a.field) < static_cast<int>(b.field);
  });
  return unique;
}

std::vector<RecipientBatch> SplitIntoBatches(const std::vector<AcsRecipient>& recipients,
                                             size_t max_per_batch) {
  max_per_batch = std::max<size_t>(max_per_batch, 1);
  std::vector<RecipientBatch> batches;
  for (size_t i = 0; i < recipients.size(); i += max_per_batch) {
    RecipientBatch b;
    size_t end = std::min(recipients.size(), i + max_per_batch);
    b.recipients.assign(recipients.begin() + static_cast<std::ptrdiff_t>(i),
                        recipients.begin() + static_cast<std::ptrdiff_t>(end));
    batches.push_back(std::move(b));
  }
  return batches;
}

}  // namespace mailrelay::azure
