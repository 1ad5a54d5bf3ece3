// AWS Signature Version 4 (AWS4-HMAC-SHA256 header form) for deliver-ses's SES v2 requests.
// Pure functions on any thread; the caller supplies the time.
// Fails (InvalidArgument) only on unusable input; never logs or echoes the secret key.
//
// Computed as botocore's SigV4Auth does for non-S3 services; tested byte for byte against
// AWS's SigV4 test suite and a botocore-made SES vector (tests/data/).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/status.h"

namespace mailrelay::ses {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // temporary credentials (STS, ECS, IMDS); empty otherwise
};

struct Header {
  std::string name;
  std::string value;
};

struct SigV4Request {
  std::string method;  // "POST"
  // The path as it goes on the wire ("/v2/email/outbound-emails"). It is normalised (dot
  // segments and repeated slashes removed) and URI-encoded once more, so an escape already
  // in the path is encoded twice, as SigV4 specifies for every service except S3.
  std::string path;
  // The query string without '?', raw or percent-encoded; "" if none.
  std::string query;
  // Headers as they will be sent; must contain Host. All are signed except those SigV4
  // clients never sign (Authorization, Expect, User-Agent, X-Amzn-Trace-Id).
  std::vector<Header> headers;
  std::string_view payload;  // the exact body bytes
  // Hex SHA-256 of the body, for a body that is hashed while streamed; when set, `payload`
  // is ignored.
  std::string payload_sha256_hex;
};

struct SigV4Scope {
  std::string region;    // "us-east-1"
  std::string service;   // "ses" (SES v2 signs with the v1 service name)
  std::string amz_date;  // "20240115T120000Z"; see AmzDate()
};

struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string credential_scope;  // "20240115/us-east-1/ses/aws4_request"
  std::string signed_headers;    // "content-type;host;x-amz-date"
  std::string signature;         // 64 lowercase hex digits
  std::string authorization;     // the Authorization header's value
  // The request's headers plus what signing added, in order: X-Amz-Date (unless present),
  // X-Amz-Security-Token (with a session token, unless present; it is signed, as botocore
  // does for SES), and Authorization last. Send exactly these.
  std::vector<Header> headers;
};

// The chain of HMAC keys (raw 32-byte strings), exposed for step-by-step tests.
struct SigningKeys {
  std::string k_date, k_region, k_service, k_signing;
};
SigningKeys DeriveSigningKeys(std::string_view secret_access_key, std::string_view date,
                              std::string_view region, std::string_view service);

// "YYYYMMDDTHHMMSSZ" in UTC.
std::string AmzDate(int64_t unix_seconds);

// SigV4's URI encoding: RFC 3986 unreserved bytes (A-Z a-z 0-9 - _ . ~) stay, every other
// byte becomes %XX (uppercase); '/' stays too when keep_slash.
std::string UriEncode(std::string_view s, bool keep_slash);

// The parts of the canonical request, each usable on its own.
std::string CanonicalUri(std::string_view path);
std::string CanonicalQueryString(std::string_view query);

// Signs `request`. An X-Amz-Date header already in the request must equal scope.amz_date.
util::Result<SigV4Signature> SignV4(const SigV4Request& request, const Credentials& credentials,
                                    const SigV4Scope& scope);

}  // namespace mailrelay::ses
