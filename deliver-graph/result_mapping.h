// Graph's answers to POST /users/{id}/sendMail turned into SMTP results with an enhanced status
// code and Graph's own words. Pure functions; any thread. Never fail: an answer we do not
// understand defers, so a broken proxy or a Graph outage can never bounce mail.
//
//   2xx                      250 2.0.0  delivered ("202 Accepted"; request-id=... as info)
//   400 "Resource not found for the segment" (a wrong URL): 451 4.3.5 deferred, configuration
//   400, 422 Graph error     550 5.1.3  ErrorInvalidRecipients and other address errors
//                            554 5.6.0  any other refusal of the message (Graph's message)
//   413                      552 5.3.4  too large
//   401                      451 4.7.0  deferred, configuration error (after one token refresh)
//   403 Graph error          550 5.7.1  bounced: the application may not send as that mailbox
//   404 Graph error          550 5.1.8  bounced: the sender mailbox does not exist (or has no
//                                       Exchange Online mailbox)
//   403/404 without a Graph error body: 451 4.3.5 deferred, configuration error (a proxy, a
//                                       wrong endpoint), never a bounce
//   429                      451 4.4.5  deferred, throttled, Retry-After (60 s if absent)
//   503, 504                 451 4.3.2 / 4.4.2  deferred, Retry-After honoured
//   other 4xx and 5xx        451 4.3.0  deferred
//   no answer                451 4.4.1 (not connected), 4.4.2 (timeout, lost), 4.7.5 (TLS),
//                                       4.3.5 (a request we could not even send)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/http/http_client.h"

namespace mailrelay::graph {

enum class Disposition { kDelivered, kDeferred, kBounced };

struct SendOutcome {
  Disposition disposition = Disposition::kDeferred;
  int code = 451;
  std::string enhanced = "4.3.0";
  std::string text;
  int64_t retry_after = 0;    // seconds; 0 = none
  bool throttled = false;     // 429: pause the whole backend for retry_after
  bool config_error = false;  // our credentials, permissions or endpoint: log loudly
  bool unauthorized = false;  // 401: refresh the token once and send again
  std::string request_id;     // Graph's request-id header, for the log and relayctl
};

// `mailbox` is the {id} of the URL, named in the DSN text of 403/404.
SendOutcome MapSendResponse(const http::Response& response, std::string_view mailbox);

// A deferral for a delivery that never reached Graph because of something on our side (no
// credentials, sealed secret unreadable, token refused): `config` marks a configuration error.
SendOutcome Deferred(std::string enhanced, std::string text, bool config = false);

// "ErrorInvalidRecipients: message" from Graph's {"error":{"code","message"}} (the innermost
// innerError code when it has one of its own), else a printable excerpt of the body.
std::string ServiceError(const http::Response& response);

// True when the body is a Graph error object ({"error":{"code":...}}).
bool IsGraphError(const http::Response& response);

}  // namespace mailrelay::graph
