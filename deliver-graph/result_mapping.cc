#include "deliver-graph/result_mapping.h"

#include <algorithm>

#include "common/http/answer.h"
#include "common/json/json.h"
#include "common/util/strings.h"

namespace mailrelay::graph {

namespace {

// When Graph asks for no particular wait after a 429.
constexpr int64_t kDefaultThrottleSeconds = 60;

// "Graph answered 400 ErrorInvalidRecipients: text" / "Graph answered 500 Internal Server Error".
std::string Answered(const http::Response& r) { return http::Answered("Graph", r, ServiceError(r)); }

SendOutcome Make(Disposition d, int code, std::string enhanced, std::string text) {
  SendOutcome o;
  o.disposition = d;
  o.code = code;
  o.enhanced = std::move(enhanced);
  o.text = std::move(text);
  return o;
}

json::Value ErrorObject(const http::Response& r) {
  auto parsed = json::Parse(r.body, {.max_depth = 16, .max_size = 1 << 20});
  if (!parsed.ok() || !parsed->is_object()) return {};
  const json::Value& e = (*parsed)["error"];
  return e.is_object() ? e : json::Value();
}

bool AboutAnAddress(const http::Response& r) {
  std::string lower = util::ToLower(ServiceError(r));
  for (std::string_view word :
       {"recipient", "emailaddress", "email address", "invalid address", "smtp address"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

// "Resource not found for the segment 'x'" / "Invalid version": the request never named a
// sendMail action Graph knows.
bool WrongUrl(const http::Response& r) {
  std::string lower = util::ToLower(ServiceError(r));
  return lower.find("resource not found for the segment") != std::string::npos ||
         lower.find("invalid version") != std::string::npos;
}

SendOutcome Transport(const http::Response& r) {
  http::TransportFailure f = http::DescribeTransportFailure("Graph", r);
  SendOutcome o = Make(Disposition::kDeferred, 451, f.enhanced, f.text);
  o.config_error = f.config_error;
  return o;
}

}  // namespace

bool IsGraphError(const http::Response& response) {
  json::Value e = ErrorObject(response);
  return e.is_object() && e["code"].is_string() && !e["code"].as_string().empty();
}

std::string ServiceError(const http::Response& response) {
  std::string code, message;
  json::Value e = ErrorObject(response);
  if (e.is_object()) {
    code = e["code"].as_string();
    message = e["message"].as_string();
    // Nested innerError objects sometimes carry a more precise code of their own.
    const json::Value* inner = e.Find("innerError");
    if (!inner) inner = e.Find("innererror");
    for (int depth = 0; inner && inner->is_object() && depth < 5; ++depth) {
      const std::string& c = (*inner)["code"].as_string();
      if (!c.empty() && c != code) code += "/" + c;
      const json::Value* next = inner->Find("innerError");
      inner = next ? next : inner->Find("innererror");
    }
  } else {
    auto parsed = json::Parse(response.body, {.max_depth = 16, .max_size = 1 << 20});
    if (!(parsed.ok() && parsed->is_object()))
      message = std::string(util::Trim(response.body.substr(0, 2000)));
  }
  code = util::OneLine(code, 120);
  message = util::OneLine(message, 500);
  if (code.empty()) return message;
  if (message.empty()) return code;
  return code + ": " + message;
}

SendOutcome Deferred(std::string enhanced, std::string text, bool config) {
  SendOutcome o = Make(Disposition::kDeferred, 451, std::move(enhanced), std::move(text));
  o.config_error = config;
  return o;
}

SendOutcome MapSendResponse(const http::Response& r, std::string_view mailbox) {
  if (!r.transport_ok()) return Transport(r);
  const int s = r.status;
  SendOutcome o;
  std::string request_id;
  if (const std::string* h = r.Header("request-id")) request_id = util::OneLine(*h, 80);
  const std::string box = util::Printable(mailbox, 320);
  if (s >= 200 && s < 300) {
    std::string reason(http::ReasonPhrase(s));
    // The request id goes in the result's info, which qmgr's log line and relayctl show add.
    o = Make(Disposition::kDelivered, 250, "2.0.0",
             std::to_string(s) + (reason.empty() ? "" : " " + reason));
  } else if ((s == 400 || s == 404) && WrongUrl(r)) {
    // Graph did not recognise the URL: [graph] endpoint is wrong, the message is not at fault.
    o = Make(Disposition::kDeferred, 451, "4.3.5", Answered(r) + " (check [graph] endpoint)");
    o.config_error = true;
  } else if (s == 400 || s == 422) {
    o = AboutAnAddress(r) ? Make(Disposition::kBounced, 550, "5.1.3", Answered(r))
                          : Make(Disposition::kBounced, 554, "5.6.0", Answered(r));
  } else if (s == 413) {
    o = Make(Disposition::kBounced, 552, "5.3.4",
             Answered(r) + " (the message is too large for Graph's sendMail)");
  } else if (s == 401) {
    o = Make(
        Disposition::kDeferred, 451, "4.7.0",
        Answered(r) +
            " (Graph refused the access token: check the application's tenant and permissions, "
            "and the clock)");
    o.config_error = true;
    o.unauthorized = true;
  } else if ((s == 403 || s == 404) && IsGraphError(r)) {
    o = s == 403
            ? Make(
                  Disposition::kBounced, 550, "5.7.1",
                  Answered(r) + " (the application is not allowed to send as " + box +
                      ": it needs the Mail.Send application permission and, where an RBAC scope or "
                      "application access policy applies, that mailbox in it)")
            : Make(Disposition::kBounced, 550, "5.1.8",
                   Answered(r) + " (no mailbox " + box +
                       " that Graph can send from: it does not exist in the tenant or has no "
                       "Exchange Online license)");
  } else if (s == 403 || s == 404) {
    o = Make(Disposition::kDeferred, 451, "4.3.5",
             Answered(r) + " (not a Graph answer: check [graph] endpoint)");
    o.config_error = true;
  } else if (s == 429) {
    o = Make(Disposition::kDeferred, 451, "4.4.5", Answered(r));
    o.throttled = true;
    o.retry_after = r.retry_after_seconds.value_or(kDefaultThrottleSeconds);
    if (o.retry_after <= 0) o.retry_after = 1;
  } else {
    o = Make(Disposition::kDeferred, 451,
             s == 503   ? "4.3.2"
             : s == 504 ? "4.4.2"
                        : "4.3.0",
             Answered(r));
    o.retry_after = r.retry_after_seconds.value_or(0);
  }
  o.request_id = request_id;
  return o;
}

}  // namespace mailrelay::graph
