#include "deliver-azure/result_mapping.h"

#include <algorithm>

#include "common/http/answer.h"
#include "common/json/json.h"
#include "common/util/strings.h"

namespace mailrelay::azure {

namespace {

// When ACS asks for no particular wait after a 429: its quotas are per minute.
constexpr int64_t kDefaultThrottleSeconds = 60;

// "ACS answered 400 InvalidAttachment: text" / "ACS answered 500 Internal Server Error".
std::string Answered(const http::Response& r) { return http::Answered("ACS", r, ServiceError(r)); }

SendOutcome Make(Disposition d, int code, std::string enhanced, std::string text) {
  SendOutcome o;
  o.disposition = d;
  o.code = code;
  o.enhanced = std::move(enhanced);
  o.text = std::move(text);
  return o;
}

bool AboutAnAddress(const http::Response& r) {
  std::string lower = util::ToLower(ServiceError(r));
  for (std::string_view word : {"recipient", "emailaddress", "email address", "invalid address"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

SendOutcome Transport(const http::Response& r) {
  http::TransportFailure f = http::DescribeTransportFailure("ACS", r);
  SendOutcome o = Make(Disposition::kDeferred, 451, f.enhanced, f.text);
  o.config_error = f.config_error;
  return o;
}

}  // namespace

std::string ServiceError(const http::Response& response) {
  std::string code, message;
  auto parsed = json::Parse(response.body, {.max_depth = 16, .max_size = 1 << 20});
  if (parsed.ok() && parsed->is_object()) {
    const json::Value& e = (*parsed)["error"];
    if (e.is_object()) {
      code = e["code"].as_string();
      message = e["message"].as_string();
    } else {
      message = (*parsed)["message"].as_string();
    }
  }
  if (code.empty()) {
    if (const std::string* h = response.Header("x-ms-error-code")) code = *h;
  }
  if (message.empty() && !(parsed.ok() && parsed->is_object())) {
    message = std::string(util::Trim(response.body));
  }
  code = util::OneLine(code, 80);
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

SendOutcome MapSendResponse(const http::Response& r, std::string_view sent_operation_id) {
  if (!r.transport_ok()) return Transport(r);
  const int s = r.status;
  SendOutcome o;
  if (s >= 200 && s < 300) {
    std::string reason(http::ReasonPhrase(s));
    o = Make(Disposition::kDelivered, 250, "2.0.0", std::to_string(s) + (reason.empty() ? "" : " " + reason));
    auto parsed = json::Parse(r.body, {.max_depth = 16, .max_size = 1 << 20});
    if (parsed.ok()) o.operation_id = util::OneLine((*parsed)["id"].as_string(), 100);
    if (o.operation_id.empty()) o.operation_id = std::string(sent_operation_id);
    return o;
  }
  if (s == 400 || s == 422) {
    return AboutAnAddress(r) ? Make(Disposition::kBounced, 550, "5.1.3", Answered(r))
                             : Make(Disposition::kBounced, 554, "5.6.0", Answered(r));
  }
  if (s == 413) return Make(Disposition::kBounced, 552, "5.3.4", Answered(r));
  if (s == 401 || s == 403) {
    o = Make(Disposition::kDeferred, 451, "4.7.0",
             Answered(r) + (s == 401 ? " (credentials refused: check [azure] access_key_file or the "
                                       "Entra client; is the clock right?)"
                                     : " (the credentials lack a role on the ACS resource)"));
    o.config_error = true;
    o.unauthorized = s == 401;
    o.retry_after = r.retry_after_seconds.value_or(0);
    return o;
  }
  if (s == 404) {
    o = Make(Disposition::kDeferred, 451, "4.3.5",
             Answered(r) + " (check [azure] endpoint and api_version)");
    o.config_error = true;
    return o;
  }
  if (s == 409) {
    o = Make(Disposition::kDeferred, 451, "4.4.0",
             Answered(r) + " (the same request is still being processed by ACS)");
    o.in_progress = true;
    o.retry_after = r.retry_after_seconds.value_or(0);
    return o;
  }
  if (s == 412) {
    o = Make(Disposition::kDeferred, 451, "4.4.0", Answered(r));
    o.window_passed = true;
    return o;
  }
  if (s == 429) {
    o = Make(Disposition::kDeferred, 451, "4.4.5", Answered(r));
    o.throttled = true;
    o.retry_after = r.retry_after_seconds.value_or(kDefaultThrottleSeconds);
    if (o.retry_after <= 0) o.retry_after = 1;
    return o;
  }
  o = Make(Disposition::kDeferred, 451, s == 503 ? "4.3.2" : "4.3.0", Answered(r));
  o.retry_after = r.retry_after_seconds.value_or(0);
  o.throttled = s == 503 && o.retry_after > 0;
  return o;
}

util::Result<OperationStatus> ParseOperationStatus(std::string_view body) {
  auto parsed = json::Parse(body, {.max_depth = 16, .max_size = 1 << 20});
  if (!parsed.ok()) return util::InvalidArgument("operation status is not JSON: " + parsed.status().message());
  if (!parsed->is_object() || !(*parsed)["status"].is_string()) {
    return util::InvalidArgument("operation status has no \"status\"");
  }
  OperationStatus st;
  st.id = util::OneLine((*parsed)["id"].as_string(), 100);
  st.status = util::OneLine((*parsed)["status"].as_string(), 40);
  const json::Value& e = (*parsed)["error"];
  if (e.is_object()) {
    std::string code = util::OneLine(e["code"].as_string(), 80);
    std::string message = util::OneLine(e["message"].as_string(), 500);
    st.error = code.empty() ? message : message.empty() ? code : code + ": " + message;
  }
  return st;
}

SendOutcome MapOperationStatus(const OperationStatus& status, const SendOutcome& accepted) {
  if (status.status == "Failed" || status.status == "Canceled") {
    std::string text = "ACS operation " + accepted.operation_id + " " + status.status;
    if (!status.error.empty()) text += ": " + status.error;
    SendOutcome o = Make(Disposition::kBounced, 550, "5.0.0", text);
    o.operation_id = accepted.operation_id;
    return o;
  }
  SendOutcome o = accepted;
  o.text += ", " + (status.status.empty() ? std::string("status unknown") : status.status);
  return o;
}

}  // namespace mailrelay::azure
