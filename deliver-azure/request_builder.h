// The ACS "Email - Send" JSON body (EmailMessage) built from a queued MIME message: subject,
// plainText, html, attachments (contentId for inline images where the api-version has it),
// X-* headers, replyTo, and one recipient batch. Pure functions; any thread; never fail.
// Deterministic: the same message, options and batch always give the same bytes, which ACS's
// repeatable requests need (a repeated id with a different body is refused with 400).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/json/json.h"
#include "common/mime/parser.h"
#include "deliver-azure/recipients.h"

namespace mailrelay::azure {

// ACS service limit: the whole request, attachments (base64) included. ACS raises it to 30 MB
// only on request; the relay bounces (552 5.3.4) a message whose request would be larger.
inline constexpr size_t kMaxRequestBytes = 10 * 1024 * 1024;

struct RequestOptions {
  std::string sender;                // [azure] sender: senderAddress
  std::string api_version = "2025-09-01";
  bool engagement_tracking = false;  // userEngagementTrackingDisabled = !engagement_tracking
  std::string envelope_sender;       // replyTo when the message has neither Reply-To nor From
};

// True for api-versions whose attachments take contentId (inline images): 2025-09-01 and
// later GA versions, and the 2024-07-01-preview and 2025-01-15-preview versions.
bool SupportsContentId(std::string_view api_version);

// The parts of the request that are the same for every batch of one message.
struct MessageParts {
  json::Value content;      // {"subject", "plainText"?, "html"?}
  json::Value reply_to;     // array (maybe empty)
  json::Value attachments;  // array (maybe empty)
  json::Value headers;      // object (maybe empty)
  // What could not be carried, for the log ("inline image sent as a plain attachment ...").
  std::vector<std::string> notes;
};

// X-* header fields ACS may carry: every X- field except x-ms-* (Azure's own; x-ms-acsemail-*
// change what ACS does), the first of several with the same name.
bool IsPassableHeader(std::string_view name);

// A name for an attachment that has none (ACS requires one): "attachment-<n>.<ext>", the
// extension from the content type ("bin" when unknown). n counts from 1.
std::string MadeUpAttachmentName(size_t n, std::string_view content_type);

MessageParts BuildMessageParts(const mime::ParsedMessage& message, const RequestOptions& options);

// The JSON body for one batch; "to" is always present (possibly empty: ACS accepts a message
// with only cc/bcc recipients, see Azure/azure-sdk-for-net#32348), cc and bcc when not empty.
std::string BuildRequestBody(const MessageParts& parts, const RecipientBatch& batch,
                             const RequestOptions& options);

}  // namespace mailrelay::azure
