// What an SES v2 SendEmail answer means for the recipients of the request: one SMTP-style
// outcome (2xx delivered, 4xx deferred, 5xx bounced) with an enhanced status code and SES's
// own words, plus what the backend does about it (pause on throttling, forget rejected keys,
// log loudly when an operator must act). Pure functions; any thread; never fail.
//
//   200 + MessageId                                    250 2.0.0 delivered
//   429 TooManyRequests, Throttling (400)              451 4.4.5 deferred, backend paused
//   "Daily message quota exceeded", LimitExceeded     451 4.4.5 deferred, paused, loud
//   5xx, timeouts, connection failures                 451 4.4.x / 4.3.0 deferred
//   MessageRejected                                    554 5.6.0 (550 5.7.1 unverified address)
//   MailFromDomainNotVerified                          550 5.7.1 bounced
//   BadRequest / Validation / InvalidParameterValue    554 5.5.4 bounced
//     (these three bounce only on a 4xx answer; on any other the status decides: deferred)
//   AccountSuspended, SendingPaused, NotFound          451 4.3.5 deferred, loud
//   expired / invalid keys, signature, access denied   451 4.7.0 deferred, loud (keys dropped)
//   anything else                                      451 4.3.0 deferred (never lost)
#pragma once

#include <cstdint>
#include <string>

#include "common/http/http_client.h"

namespace mailrelay::ses {

// When SES throttles without a Retry-After (it never sends one): pause the backend this long.
inline constexpr int64_t kThrottleBackoffSeconds = 2;
inline constexpr int64_t kQuotaBackoffSeconds = 600;

struct SesOutcome {
  int code = 451;
  std::string enhanced = "4.3.0";
  std::string text;                   // SES's words, with its error code and request id
  std::string message_id;             // on success
  std::string error_code;             // "MessageRejected", ...; "" on success or transport failures
  std::string request_id;             // x-amzn-RequestId, for support cases
  bool throttled = false;             // pause the whole backend for retry_after
  int64_t retry_after = 0;            // seconds; 0 = qmgr's own back-off
  bool credentials_rejected = false;  // drop the cached keys
  bool alert = false;                 // an operator must act: log at error level
};

// The error code as botocore reads it: x-amzn-ErrorType up to ':', else the body's
// "__type" / "code" / "Code" after any '#'.
std::string SesErrorCode(const http::Response& response);

SesOutcome MapSendEmailResponse(const http::Response& response);

}  // namespace mailrelay::ses
