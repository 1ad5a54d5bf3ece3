// ACS answers (HTTP status, headers, ErrorResponse body, operation status) turned into SMTP
// results: 2xx delivered, 4xx deferred, 5xx bounced, with an enhanced status code and the
// service's own words. Pure functions; any thread. Never fail: a malformed answer maps to
// "deferred", so a broken proxy or service can never bounce mail.
//
//   202 (any 2xx)            250 2.0.0  delivered; the operation id is kept
//   400, 422                 554 5.6.0  bounced with the service's message (5.1.3 when it is
//                                       about a recipient address)
//   413                      552 5.3.4  bounced: too large
//   401, 403                 451 4.7.0  deferred, configuration error (log it loudly); on 401 a
//                                       bearer token may be refreshed and the request sent again
//   404                      451 4.3.5  deferred, configuration error (wrong endpoint/version)
//   409                      451 4.4.0  deferred: the same repeatable request is still running
//   412                      451 4.4.0  deferred unless resent: Repeatability-First-Sent is
//                                       outside ACS's 5-minute window
//   429                      451 4.4.5  deferred, throttled, Retry-After (60 s if absent)
//   503                      451 4.3.2  deferred, throttled when Retry-After is given
//   other 5xx, other 4xx     451 4.3.0  deferred
//   no response              451 4.4.1 (connect), 4.4.2 (timeout, lost), 4.7.5 (TLS), 4.3.5
//                                       (a request we could not even send: configuration)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/http/http_client.h"
#include "common/util/status.h"

namespace mailrelay::azure {

enum class Disposition { kDelivered, kDeferred, kBounced };

struct SendOutcome {
  Disposition disposition = Disposition::kDeferred;
  int code = 451;
  std::string enhanced = "4.3.0";
  std::string text;          // e.g. "202 Accepted", "ACS answered 400 InvalidAttachment: ..."
  int64_t retry_after = 0;   // seconds; 0 = none
  bool throttled = false;    // pause the whole backend for retry_after
  bool config_error = false; // 401/403/404: our credentials, role or endpoint are wrong
  bool unauthorized = false; // 401
  bool window_passed = false;  // 412
  bool in_progress = false;    // 409
  std::string operation_id;    // 2xx: the id ACS answered with, else the one we sent
};

// Interprets the answer to POST emails:send. `sent_operation_id` is the Operation-Id header we
// sent (used when the 2xx body carries no id).
SendOutcome MapSendResponse(const http::Response& response, std::string_view sent_operation_id);

// A deferral for a request that got no answer from ACS because of something on our side
// (token endpoint refused us, request could not be signed): `config` marks a configuration
// error that must be logged loudly.
SendOutcome Deferred(std::string enhanced, std::string text, bool config = false);

// "InvalidAttachment: message" from an ACS ErrorResponse ({"error":{"code","message"}}) or the
// x-ms-error-code header; a printable excerpt of the body otherwise; "" for an empty body.
std::string ServiceError(const http::Response& response);

// GET emails/operations/{id}: {"id", "status", "error"?}.
struct OperationStatus {
  std::string id;
  std::string status;  // NotStarted, Running, Succeeded, Failed, Canceled (or a new value)
  std::string error;   // "code: message" for Failed/Canceled
  bool terminal() const { return status == "Succeeded" || status == "Failed" || status == "Canceled"; }
};
util::Result<OperationStatus> ParseOperationStatus(std::string_view body);

// Final outcome of a send ACS accepted, after polling: Succeeded stays delivered, Failed and
// Canceled bounce (550 5.0.0 with ACS's error), anything else stays delivered with a note.
SendOutcome MapOperationStatus(const OperationStatus& status, const SendOutcome& accepted);

}  // namespace mailrelay::azure
