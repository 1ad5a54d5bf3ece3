// Builds SES v2 SendEmail requests: POST {endpoint}/v2/email/outbound-emails with
// {"FromEmailAddress", "Destination", "Content": {"Raw": {"Data"}}, "ConfigurationSetName",
// "EmailTags"}, signed with SigV4 (service "ses"). Destination is exactly the job's envelope
// recipients, at most 50 per request (SES's limit), each in ToAddresses / CcAddresses when a
// To / Cc field of the message names it, else in BccAddresses: with raw content SES sends to
// Destination only and takes the visible headers from the message, so the split changes
// nothing on the wire but keeps envelope-only recipients blind should that ever differ.
// Pure functions; any thread. Errors are kInvalidArgument.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/agent/agent.h"
#include "common/http/http_client.h"
#include "common/util/status.h"
#include "deliver-ses/message_prep.h"
#include "deliver-ses/sigv4.h"

namespace mailrelay::ses {

inline constexpr size_t kSesMaxRecipients = 50;
inline constexpr char kSendEmailPath[] = "/v2/email/outbound-emails";

// An address as SES takes it: ASCII, the domain in A-labels. kInvalidArgument when the local
// part is not ASCII (SES does not support SMTPUTF8).
util::Result<std::string> SesAddress(std::string_view address);

struct Batch {
  std::vector<int> indexes;  // job recipient indexes, in job order
  std::vector<std::string> to, cc, bcc;
};

struct RecipientPlan {
  std::vector<Batch> batches;
  std::vector<agent::RecipientResult> refused;  // recipients SES cannot take, bounced
};
RecipientPlan PlanRecipients(const std::vector<agent::JobRecipient>& recipients,
                             const PreparedMessage& message);

struct SendEmailFields {
  std::string from_email_address;  // "" = left out (SES then uses the message's From)
  std::string configuration_set;
  std::vector<std::pair<std::string, std::string>> tags;
};
// The JSON body, compact, keys in the order above. `raw_base64` goes in unescaped (base64 needs
// no escaping).
std::string SendEmailBody(const SendEmailFields& fields, const Batch& batch,
                          std::string_view raw_base64);

struct SesEndpoint {
  std::string url;          // https://email.us-east-1.amazonaws.com/v2/email/outbound-emails
  std::string host_header;  // "email.us-east-1.amazonaws.com" (":port" when not the default)
  std::string path;         // "/v2/email/outbound-emails"
};
util::Result<SesEndpoint> SendEmailEndpoint(const std::string& base);

// The signed request: Host, Content-Type, X-Amz-Date, X-Amz-Security-Token (temporary keys),
// Authorization. The body is moved in.
util::Result<http::Request> SignedSendEmailRequest(const SesEndpoint& endpoint,
                                                   const std::string& region, std::string body,
                                                   const Credentials& keys,
                                                   int64_t now_unix_seconds);

}  // namespace mailrelay::ses
