#include "deliver-ses/result_mapping.h"

#include <set>

#include "common/http/answer.h"
#include "common/json/json.h"
#include "common/util/strings.h"

namespace mailrelay::ses {

namespace {

std::string AfterHash(const std::string& s) {
  size_t hash = s.rfind('#');
  return hash == std::string::npos ? s : s.substr(hash + 1);
}

std::string BodyMessage(const http::Response& r) {
  auto doc = json::Parse(r.body, {.max_depth = 16, .max_size = 1 << 20});
  if (!doc.ok() || !doc->is_object()) return "";
  for (const char* key : {"message", "Message", "errorMessage"}) {
    const std::string& m = (*doc)[key].as_string();
    if (!m.empty()) return m;
  }
  return "";
}

bool In(const std::string& code, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (code == n) return true;
  }
  return false;
}

SesOutcome Outcome(int code, const char* enhanced, std::string text) {
  SesOutcome o;
  o.code = code;
  o.enhanced = enhanced;
  o.text = std::move(text);
  return o;
}

SesOutcome TransportFailure(const http::Response& r) {
  http::TransportFailure f = http::DescribeTransportFailure("SES", r);
  SesOutcome o = Outcome(451, f.enhanced.c_str(), f.text);
  o.alert = f.config_error;
  return o;
}

}  // namespace

std::string SesErrorCode(const http::Response& r) {
  if (const std::string* t = r.Header("x-amzn-errortype")) {
    std::string code(util::Trim(t->substr(0, t->find(':'))));
    if (!code.empty()) return AfterHash(code);
  }
  auto doc = json::Parse(r.body, {.max_depth = 16, .max_size = 1 << 20});
  if (doc.ok() && doc->is_object()) {
    for (const char* key : {"__type", "code", "Code"}) {
      const std::string& c = (*doc)[key].as_string();
      if (!c.empty()) return AfterHash(std::string(util::Trim(c.substr(0, c.find(':')))));
    }
  }
  return "";
}

SesOutcome MapSendEmailResponse(const http::Response& r) {
  if (!r.transport_ok()) return TransportFailure(r);
  std::string request_id;
  for (const char* h : {"x-amzn-requestid", "x-amz-request-id"}) {
    if (const std::string* v = r.Header(h)) {
      request_id = util::Printable(*v, 80);
      break;
    }
  }
  if (r.status >= 200 && r.status < 300) {
    auto doc = json::Parse(r.body, {.max_depth = 16, .max_size = 1 << 20});
    std::string id = doc.ok() && doc->is_object() ? (*doc)["MessageId"].as_string() : "";
    if (id.empty()) {
      // Without a MessageId this may not be SES at all; deferring risks a duplicate, accepting
      // risks a loss, and the relay never loses mail.
      SesOutcome o = Outcome(451, "4.3.0",
                             "SES answered " + std::to_string(r.status) + " without a MessageId");
      o.alert = true;
      o.request_id = request_id;
      return o;
    }
    // The MessageId travels as the job's info ("ses-message-id=..."), next to this text.
    SesOutcome o = Outcome(250, "2.0.0", "accepted by SES");
    o.message_id = util::Printable(id, 200);
    o.request_id = request_id;
    return o;
  }

  const std::string code = SesErrorCode(r);
  const std::string message = util::Printable(BodyMessage(r), 500);
  std::string text = "SES answered " + std::to_string(r.status);
  if (!code.empty()) text += " " + util::Printable(code, 80);
  if (!message.empty()) text += ": " + message;
  if (!request_id.empty()) text += " (request-id " + request_id + ")";

  SesOutcome o;
  o.text = text;
  o.error_code = code;
  o.request_id = request_id;
  auto set = [&](int smtp, const char* enhanced) {
    o.code = smtp;
    o.enhanced = enhanced;
  };
  // Only a 4xx is SES refusing this message: the same code on a 5xx (or on a redirect from a
  // proxy) is no reason to bounce, the relay defers whatever it cannot be sure of.
  const bool refused = r.status >= 400 && r.status < 500;
  const bool quota = message.find("Daily message quota exceeded") != std::string::npos ||
                     code == "LimitExceededException" || code == "LimitExceeded";
  if (quota) {
    set(451, "4.4.5");
    o.throttled = true;
    o.retry_after = r.retry_after_seconds.value_or(kQuotaBackoffSeconds);
    o.alert = true;
  } else if (r.status == 429 ||
             In(code, {"TooManyRequestsException", "TooManyRequests", "ThrottlingException",
                       "Throttling", "ThrottledException", "RequestThrottled",
                       "RequestThrottledException", "RequestLimitExceeded", "SlowDown"})) {
    set(451, "4.4.5");
    o.throttled = true;
    o.retry_after = r.retry_after_seconds.value_or(kThrottleBackoffSeconds);
  } else if (refused && In(code, {"MessageRejected", "MessageRejectedException"})) {
    const bool unverified = message.find("not verified") != std::string::npos;
    if (unverified) {
      set(550, "5.7.1");
    } else {
      set(554, "5.6.0");
    }
  } else if (refused &&
             In(code, {"MailFromDomainNotVerifiedException", "MailFromDomainNotVerified"})) {
    set(550, "5.7.1");
  } else if (refused && In(code, {"BadRequestException", "ValidationException",
                                  "InvalidParameterValue", "InvalidParameterValueException",
                                  "InvalidParameterCombination", "SerializationException"})) {
    set(554, "5.5.4");
  } else if (In(code, {"AccountSuspendedException", "SendingPausedException",
                       "AccountSendingPausedException", "ConfigurationSetSendingPausedException",
                       "NotFoundException", "ConfigurationSetDoesNotExistException",
                       "ConfigurationSetDoesNotExist"})) {
    set(451, code == "NotFoundException" || code.rfind("ConfigurationSetDoesNotExist", 0) == 0
                 ? "4.3.5"
                 : "4.3.2");
    o.alert = true;
  } else if (In(code, {"ExpiredToken", "ExpiredTokenException", "UnrecognizedClientException",
                       "InvalidClientTokenId", "InvalidSignatureException", "SignatureDoesNotMatch",
                       "IncompleteSignature", "IncompleteSignatureException",
                       "MissingAuthenticationToken", "MissingAuthenticationTokenException",
                       "RequestExpired", "InvalidAccessKeyId", "AuthFailure"}) ||
             r.status == 401) {
    set(451, "4.7.0");
    o.credentials_rejected = true;
    o.alert = true;
  } else if (In(code, {"AccessDeniedException", "AccessDenied", "NotAuthorized"}) ||
             r.status == 403) {
    // Keys are fine, the IAM policy lacks ses:SendEmail / ses:SendRawEmail for this identity.
    set(451, "4.7.0");
    o.alert = true;
  } else if (r.status == 413) {
    set(552, "5.3.4");
  } else if (r.status >= 500) {
    set(451, "4.3.0");
    o.retry_after = r.retry_after_seconds.value_or(0);
  } else {
    // An error this mapping does not know: keep the message and say so.
    set(451, "4.3.0");
    o.alert = true;
  }
  return o;
}

}  // namespace mailrelay::ses
