// libFuzzer target: what an HTTP service (or a proxy pretending to be one) answers, through every
// pure parser the HTTP delivery agents apply to it: header lines, Retry-After, Entra tokens,
// the ACS / Graph / SES result mappings, the AWS credential answers (ECS/IMDS JSON, STS XML).
//
// The input is a raw response: "HTTP/..." status line, header lines, a blank line, the body.
// Several heads in a row are a 1xx followed by the final response, as libcurl hands them over.
// A head cut short (no blank line) is a transfer that failed mid-answer (lost, timed out, too
// large, TLS); a status line without a status is a protocol error (status 0), as libcurl
// reports them. Input that does not start with "HTTP/" is a body alone: its first byte picks
// the status, the rest is the body.
//
// Invariants (abort() on violation): header names lowercase and trimmed; waits within
// [0, kMaxRetryAfterSeconds]; parsed HTTP-dates survive a round trip; SMTP-style results are
// 250 / 4xx / 5xx with an enhanced code of the same class, and a bounce only for a 4xx answer;
// every text meant for a reply or a log is one printable line; credentials and tokens are only
// accepted from a 200 and pass their own shape checks.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "common/http/answer.h"
#include "common/http/headers.h"
#include "common/http/http_client.h"
#include "common/http/token.h"
#include "common/util/clock.h"
#include "common/util/status.h"
#include "common/util/strings.h"
#include "deliver-azure/result_mapping.h"
#include "deliver-graph/result_mapping.h"
#include "deliver-ses/credentials/container_provider.h"
#include "deliver-ses/credentials/imds_provider.h"
#include "deliver-ses/credentials/provider.h"
#include "deliver-ses/credentials/web_identity_provider.h"
#include "deliver-ses/result_mapping.h"

namespace {

using namespace mailrelay;

constexpr int64_t kNow = 1700000000;  // wall clock for Retry-After dates
constexpr int64_t kNowMicros = kNow * 1000000;

// The statuses the mappings tell apart, and a few they do not know.
constexpr int kStatuses[] = {0,   100, 200, 201, 202, 204, 302, 400, 401, 403, 404, 408,
                             409, 412, 413, 418, 422, 429, 500, 502, 503, 504, 599};

[[noreturn]] void Fail(const char* what, int line) {
  std::fprintf(stderr, "http_response_fuzz.cc:%d: invariant broken: %s\n", line, what);
  std::abort();
}
// Names the invariant that broke, so a finding says what is wrong before anyone debugs it.
#define CHECK(cond) ((cond) ? (void)0 : Fail(#cond, __LINE__))

// What may go into an SMTP reply or a log line: printable ASCII, no line break.
bool OneLine(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

void CheckWait(std::optional<int64_t> seconds) {
  CHECK(!seconds || (*seconds >= 0 && *seconds <= http::kMaxRetryAfterSeconds));
}

// An SMTP result: 250 with 2.x.x, 4xx with 4.x.x, 5xx with 5.x.x; bounces only when the
// service refused the message itself (a 4xx answer), never for a 5xx, a redirect or no answer.
void CheckSmtp(const http::Response& r, int code, const std::string& enhanced, bool bounced) {
  CHECK(code == 250 || (code >= 400 && code < 600));
  CHECK(enhanced.size() >= 5 && enhanced[0] == '0' + code / 100 && enhanced[1] == '.');
  CHECK(bounced == (code >= 500));
  if (bounced) CHECK(r.transport_ok() && r.status >= 400 && r.status < 500);
  if (code == 250) CHECK(r.ok());
}

int StatusFromLine(std::string_view line) {
  // "HTTP/1.1 202 Accepted", "HTTP/2 429"
  size_t sp = line.find(' ');
  if (sp == std::string_view::npos || line.size() < sp + 4) return -1;
  int status = 0;
  for (char c : line.substr(sp + 1, 3)) {
    if (c < '0' || c > '9') return -1;
    status = status * 10 + (c - '0');
  }
  std::string_view after = line.substr(sp + 4);
  if (!after.empty() && after[0] != ' ' && after[0] != '\r' && after[0] != '\n') return -1;
  return status;
}

// The response as HttpClient::Impl would fill it in from the same bytes.
http::Response ReadResponse(std::string_view in) {
  http::Response r;
  if (in.substr(0, 5) != "HTTP/") {
    r.status = in.empty() ? 0 : kStatuses[static_cast<uint8_t>(in[0]) % std::size(kStatuses)];
    r.body = std::string(in.substr(in.empty() ? 0 : 1));
  } else {
    while (true) {
      size_t eol = in.find('\n');
      std::string_view line = in.substr(0, eol == std::string_view::npos ? in.size() : eol + 1);
      in.remove_prefix(line.size());
      if (line.substr(0, 5) == "HTTP/") {
        r.status = StatusFromLine(line);
        if (r.status < 0) {
          r.status = 0;
          r.error = http::TransportError::kProtocol;
          r.error_message = "GET https://fuzz.example/: weird server reply";
          break;
        }
      }
      http::AddHeaderLine(r.headers, line);
      if (eol == std::string_view::npos) {
        // The ways a transfer ends after some of the head arrived; the last byte picks one.
        constexpr http::TransportError kCutShort[] = {
            http::TransportError::kConnectionLost, http::TransportError::kTimeout,
            http::TransportError::kTooLarge, http::TransportError::kTls};
        r.error = kCutShort[line.empty() ? 0 : static_cast<uint8_t>(line.back()) % 4];
        r.error_message = "GET https://fuzz.example/: " + util::Printable(line, 40);
        break;
      }
      if (util::Trim(line).empty()) {
        // End of a head: a 1xx is followed by the final response's head.
        if (r.status >= 100 && r.status < 200 && in.substr(0, 5) == "HTTP/") continue;
        r.body = std::string(in);
        break;
      }
    }
  }
  for (const auto& [name, value] : r.headers) {
    CHECK(!name.empty() && name == util::ToLower(name) && util::Trim(name) == name);
    CHECK(util::Trim(value) == value);
  }
  r.retry_after_seconds = http::RetryAfterFromHeaders(r.headers, kNow);
  return r;
}

void Dates(const http::Response& r) {
  CheckWait(r.retry_after_seconds);
  for (const char* name : {"retry-after", "date", "expires", "last-modified"}) {
    const std::string* v = r.Header(name);
    if (!v) continue;
    CheckWait(http::ParseRetryAfter(*v, kNow));
    if (std::optional<int64_t> t = http::ParseHttpDate(*v)) {
      CHECK(http::ParseHttpDate(util::HttpDate(*t)) == t);  // the form we write reads back
    }
  }
}

void Answers(const http::Response& r) {
  (void)r.TransportStatus();
  CHECK(OneLine(http::Answered("ACS", r, "")));
  http::TransportFailure f = http::DescribeTransportFailure("ACS", r);
  CHECK(f.enhanced[0] == '4' && OneLine(f.text));
}

void Token(const http::Response& r) {
  util::Result<http::AccessToken> t = http::ParseTokenResponse(r, kNowMicros);
  if (t.ok()) {
    CHECK(r.transport_ok() && r.status == 200);
    CHECK(!t->value.empty() &&
          t->value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
    CHECK(t->lifetime_seconds >= 0 && t->lifetime_seconds <= 366 * 86400);
    CHECK(t->expires_at_micros == kNowMicros + t->lifetime_seconds * 1000000);
  } else {
    CHECK(OneLine(t.status().message()));
    // Only the answers of a working endpoint that refused us are permanent.
    if (r.status >= 500 || r.status == 429 || r.status == 408 || !r.transport_ok()) {
      CHECK(!http::IsPermanentTokenError(t.status()));
    }
  }
}

void Azure(const http::Response& r) {
  CHECK(OneLine(azure::ServiceError(r)));
  azure::SendOutcome o = azure::MapSendResponse(r, "0f4c1c7a-5b6d-4f3e-9a51-3c2a0f6e1d2b");
  CheckSmtp(r, o.code, o.enhanced, o.disposition == azure::Disposition::kBounced);
  CHECK((o.disposition == azure::Disposition::kDelivered) == (o.code == 250));
  CHECK(OneLine(o.text) && OneLine(o.operation_id));
  CHECK(o.retry_after >= 0 && o.retry_after <= http::kMaxRetryAfterSeconds);
  CHECK(!o.throttled || o.retry_after > 0);
  util::Result<azure::OperationStatus> st = azure::ParseOperationStatus(r.body);
  if (!st.ok()) {
    CHECK(OneLine(st.status().message()));
    return;
  }
  CHECK(OneLine(st->id) && OneLine(st->status) && OneLine(st->error));
  if (o.disposition != azure::Disposition::kDelivered) return;
  azure::SendOutcome final = azure::MapOperationStatus(*st, o);
  CHECK(OneLine(final.text));
  const bool failed = st->status == "Failed" || st->status == "Canceled";
  CHECK(failed ? final.code == 550 && final.disposition == azure::Disposition::kBounced
               : final.code == 250 && final.disposition == azure::Disposition::kDelivered);
}

void Graph(const http::Response& r) {
  CHECK(OneLine(graph::ServiceError(r)));
  (void)graph::IsGraphError(r);
  graph::SendOutcome o = graph::MapSendResponse(r, "sender@contoso.example");
  CheckSmtp(r, o.code, o.enhanced, o.disposition == graph::Disposition::kBounced);
  CHECK((o.disposition == graph::Disposition::kDelivered) == (o.code == 250));
  CHECK(OneLine(o.text) && OneLine(o.request_id));
  CHECK(o.retry_after >= 0 && o.retry_after <= http::kMaxRetryAfterSeconds);
  CHECK(!o.throttled || o.retry_after > 0);
}

void Ses(const http::Response& r) {
  (void)ses::SesErrorCode(r);  // raw: the mapping and the logger quote it
  ses::SesOutcome o = ses::MapSendEmailResponse(r);
  CheckSmtp(r, o.code, o.enhanced, o.code >= 500);
  CHECK(o.code != 250 || !o.message_id.empty());
  CHECK(OneLine(o.text) && OneLine(o.message_id) && OneLine(o.request_id));
  CHECK(o.retry_after >= 0 && o.retry_after <= http::kMaxRetryAfterSeconds);
}

// Credentials: accepted only from a 200 and only in a shape the signer can use.
void CheckCredentials(const http::Response* r, const util::Result<ses::AwsCredentials>& c) {
  if (!c.ok()) {
    CHECK(OneLine(c.status().message()));
    return;
  }
  if (r) CHECK(r->transport_ok() && r->status == 200);
  CHECK(ses::ValidateKeys(c->keys).ok());
  CHECK(c->keys.session_token.empty() || c->expires_at_us != 0);  // temporary keys expire
  CHECK(OneLine(c->source));
}

void Aws(const http::Response& r) {
  const std::string url = "http://169.254.170.2/v2/credentials/4bd7-task";
  CheckCredentials(&r, ses::ParseContainerResponse(r, url));
  CheckCredentials(nullptr, ses::ParseCredentialsJson(r.body, "EC2 instance metadata"));
  util::Result<ses::AwsCredentials> sts =
      ses::ParseAssumeRoleWithWebIdentityResponse(r, "arn:aws:iam::123456789012:role/relay");
  CheckCredentials(&r, sts);
  if (sts.ok()) CHECK(!sts->keys.session_token.empty());
  for (const char* tag : {"Credentials", "Expiration", "Code", "Message", "MessageId"}) {
    if (std::optional<std::string> text = ses::XmlElementText(r.body, tag)) {
      (void)ses::ParseIso8601(*text);
    }
  }
  (void)ses::ParseIso8601(r.body);
  // One line, trimmed (the agent checks the characters before it puts it in a URL path).
  std::string role = ses::ImdsRoleFromListing(r.body);
  CHECK(role.find('\n') == std::string::npos && util::Trim(role) == role);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  http::Response r = ReadResponse(std::string_view(reinterpret_cast<const char*>(data), size));
  Dates(r);
  Answers(r);
  Token(r);
  Azure(r);
  Graph(r);
  Ses(r);
  Aws(r);
  return 0;
}
