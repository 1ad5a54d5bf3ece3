// Which envelope recipients of one delivery go to ACS "to", "cc" and "bcc", and how they are
// cut into requests of at most 50 (ACS's limit per email). Pure functions; any thread; never fail.
// Only envelope recipients are ever sent to: an address that is only in a header is ignored, so
// a header cannot widen delivery past the RCPT policy. The message's own Bcc header is not used.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/agent/agent.h"
#include "common/mime/address_list.h"

namespace mailrelay::azure {

// ACS service limit: recipients (to + cc + bcc) per email request.
inline constexpr size_t kMaxRecipientsPerRequest = 50;

enum class RecipientField { kTo, kCc, kBcc };
const char* FieldName(RecipientField field);  // "to", "cc", "bcc"

struct AcsRecipient {
  std::string address;       // the envelope address, exactly as in RCPT TO
  std::string display_name;  // decoded, from the To/Cc header; "" for bcc or when none
  RecipientField field = RecipientField::kBcc;
  std::vector<int> indexes;  // job recipient indexes (an address given twice is sent once)
};

// One ACS request's recipients: to first, then cc, then bcc, each in envelope order.
struct RecipientBatch {
  std::vector<AcsRecipient> recipients;
  size_t Count(RecipientField field) const;
  // The sorted, lowercased addresses: what identifies the batch for idempotency.
  std::string Key() const;
};

// Envelope recipients in the To header (group members included) go to "to", those in Cc to
// "cc", every other one to "bcc". Addresses compare case-insensitively; an address in both
// To and Cc is a "to". The result is ordered to, cc, bcc, each in envelope order.
std::vector<AcsRecipient> ClassifyRecipients(const std::vector<mime::Mailbox>& to_header,
                                             const std::vector<mime::Mailbox>& cc_header,
                                             const std::vector<agent::JobRecipient>& envelope);

// Cuts the classified list into consecutive batches of at most `max_per_batch` (>= 1).
std::vector<RecipientBatch> SplitIntoBatches(const std::vector<AcsRecipient>& recipients,
                                             size_t max_per_batch = kMaxRecipientsPerRequest);

}  // namespace mailrelay::azure
