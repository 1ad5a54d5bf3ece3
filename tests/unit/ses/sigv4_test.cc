#include "deliver-ses/sigv4.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/util/base64.h"
#include "common/util/crypto.h"
#include "common/util/file.h"
#include "common/util/strings.h"

namespace mailrelay::ses {
namespace {

const std::string kDataDir = MAILRELAY_TESTDATA_DIR;
const std::string kSuiteDir = kDataDir + "/sigv4";
const char kAkid[] = "AKIDEXAMPLE";
const char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

std::string Slurp(const std::string& path) {
  auto r = util::ReadFile(path);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::string();
}

// ---------------------------------------------------------------------------------------
// AWS's SigV4 test suite (tests/data/sigv4/, see its README.md).

struct ParsedReq {
  SigV4Request request;
  std::string body;
  std::string amz_date;
};

// A .req file: request line, "Name:value" headers (obsolete folding: a line starting with
// blanks continues the previous header, which SigV4 canonicalises as another value of the
// same name), then optionally a blank line and the body. LF line ends.
ParsedReq ParseReq(const std::string& text) {
  ParsedReq out;
  size_t split = text.find("\n\n");
  std::string head = text.substr(0, split);
  if (split != std::string::npos) out.body = text.substr(split + 2);
  std::vector<std::string> lines = util::Split(head, '\n', /*trim=*/false);
  const std::string& request_line = lines.at(0);
  size_t sp = request_line.find(' ');
  size_t proto = request_line.rfind(" HTTP/");
  out.request.method = request_line.substr(0, sp);
  std::string target = request_line.substr(sp + 1, proto - sp - 1);
  size_t q = target.find('?');
  out.request.path = target.substr(0, q);
  if (q != std::string::npos) out.request.query = target.substr(q + 1);
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (!l.empty() && (l[0] == ' ' || l[0] == '\t')) {
      out.request.headers.push_back({out.request.headers.back().name, std::string(util::Trim(l))});
      continue;
    }
    size_t colon = l.find(':');
    out.request.headers.push_back({l.substr(0, colon), l.substr(colon + 1)});
    if (util::EqualsIgnoreCase(l.substr(0, colon), "x-amz-date")) {
      out.amz_date = std::string(util::Trim(l.substr(colon + 1)));
    }
  }
  return out;
}

std::string SuiteSessionToken() {
  // The token is the last non-empty line of the suite's readme (CRLF line ends).
  std::string text = Slurp(kSuiteDir + "/post-sts-token-readme.txt");
  std::string token;
  for (const std::string& l : util::Split(text, '\n', /*trim=*/true)) token = l;
  return token;
}

std::vector<std::string> SuiteCases() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(kSuiteDir)) {
    if (e.is_directory()) names.push_back(e.path().filename());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class AwsSuite : public ::testing::TestWithParam<std::string> {};

TEST_P(AwsSuite, CanonicalRequestStringToSignAndAuthorization) {
  const std::string& name = GetParam();
  std::string base = kSuiteDir + "/" + name + "/" + name;
  ParsedReq req = ParseReq(Slurp(base + ".req"));
  req.request.payload = req.body;
  Credentials creds{kAkid, kSecret, ""};
  // -before signs the token that is in the request; -after adds it once signed.
  if (name == "post-sts-header-before") creds.session_token = SuiteSessionToken();
  ASSERT_FALSE(req.amz_date.empty());

  auto sig = SignV4(req.request, creds, {"us-east-1", "service", req.amz_date});
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(sig->canonical_request, Slurp(base + ".creq"));
  EXPECT_EQ(sig->string_to_sign, Slurp(base + ".sts"));
  EXPECT_EQ(sig->authorization, Slurp(base + ".authz"));
  std::string sreq = Slurp(base + ".sreq");
  EXPECT_NE(sreq.find("\nAuthorization: " + sig->authorization), std::string::npos);
  // Nothing needed adding: the suite's requests carry X-Amz-Date (and the token).
  ASSERT_EQ(sig->headers.size(), req.request.headers.size() + 1);
  EXPECT_EQ(sig->headers.back().name, "Authorization");
  EXPECT_EQ(sig->headers.back().value, sig->authorization);
}

std::string CaseName(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}

INSTANTIATE_TEST_SUITE_P(Sigv4, AwsSuite, ::testing::ValuesIn(SuiteCases()), CaseName);

TEST(AwsSuiteData, AllSixteenCasesPresent) {
  EXPECT_EQ(SuiteCases().size(), 16u);
  EXPECT_EQ(SuiteSessionToken().rfind("AQoDYXdzEPT//", 0), 0u);
}

TEST(AwsSuiteData, SessionTokenIsAddedAndSigned) {
  // post-sts-header-before is post-vanilla plus the token header: giving the token only in
  // the credentials must produce the same signature, with the header added for sending.
  std::string before = kSuiteDir + "/post-sts-header-before/post-sts-header-before";
  ParsedReq req = ParseReq(Slurp(kSuiteDir + "/post-vanilla/post-vanilla.req"));
  Credentials creds{kAkid, kSecret, SuiteSessionToken()};
  auto sig = SignV4(req.request, creds, {"us-east-1", "service", req.amz_date});
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(sig->canonical_request, Slurp(before + ".creq"));
  EXPECT_EQ(sig->string_to_sign, Slurp(before + ".sts"));
  EXPECT_EQ(sig->authorization, Slurp(before + ".authz"));
  ASSERT_EQ(sig->headers.size(), 4u);
  EXPECT_EQ(sig->headers[2].name, "X-Amz-Security-Token");
  EXPECT_EQ(sig->headers[2].value, SuiteSessionToken());
}

// ---------------------------------------------------------------------------------------
// The SES v2 SendEmail vector (tests/data/ses-sigv4-example.txt), made with botocore.

struct SesVector {
  std::string name;
  std::string session_token;
  std::vector<Header> headers;
  std::string canonical_request, string_to_sign;
  std::map<std::string, std::string> keys;  // kDate ... kSigning, hex
  std::string signature, authorization;
};

struct SesExample {
  std::map<std::string, std::string> common;
  std::vector<SesVector> vectors;
};

std::string Between(const std::vector<std::string>& lines, size_t& i, const std::string& end) {
  std::string out;
  for (++i; i < lines.size() && lines[i] != end; ++i) {
    if (!out.empty()) out += '\n';
    out += lines[i];
  }
  return out;
}

SesExample ParseSesExample() {
  SesExample ex;
  std::vector<std::string> lines =
      util::Split(Slurp(kDataDir + "/ses-sigv4-example.txt"), '\n', /*trim=*/false);
  std::string section;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.empty() || l[0] == '#') continue;
    if (l[0] == '[') {
      section = l;
      if (l.rfind("[vector", 0) == 0) ex.vectors.push_back({l, "", {}, "", "", {}, "", ""});
      continue;
    }
    size_t eq = l.find(" = ");
    std::string key = eq == std::string::npos ? "" : std::string(util::Trim(l.substr(0, eq)));
    std::string value = eq == std::string::npos ? "" : l.substr(eq + 3);
    if (section == "[common inputs]") {
      if (!key.empty() && l[0] != ' ') ex.common[key] = value;
      continue;
    }
    if (ex.vectors.empty()) continue;
    SesVector& v = ex.vectors.back();
    if (key == "x-amz-security-token") v.session_token = value;
    if (l.rfind("request headers that are signed", 0) == 0) {
      while (i + 1 < lines.size() && lines[i + 1].rfind("    ", 0) == 0) {
        std::string h(util::Trim(lines[++i]));
        size_t colon = h.find(':');
        v.headers.push_back({h.substr(0, colon), std::string(util::Trim(h.substr(colon + 1)))});
      }
    }
    if (l.rfind("--- canonical request", 0) == 0) {
      v.canonical_request = Between(lines, i, "--- end canonical request ---");
    }
    if (l == "--- string to sign ---")
      v.string_to_sign = Between(lines, i, "--- end string to sign ---");
    if (key.rfind("k", 0) == 0 && key.find("(hex)") != std::string::npos) {
      v.keys[key.substr(0, key.find(' '))] = value;
    }
    if (key == "signature") v.signature = value;
    if (l.rfind("Authorization: ", 0) == 0) v.authorization = l.substr(15);
  }
  return ex;
}

TEST(SesExample, FileParsesAsExpected) {
  SesExample ex = ParseSesExample();
  EXPECT_EQ(ex.common["service"], "ses");
  EXPECT_EQ(ex.common["region"], "us-east-1");
  ASSERT_EQ(ex.vectors.size(), 2u);
  for (const SesVector& v : ex.vectors) {
    EXPECT_FALSE(v.canonical_request.empty());
    EXPECT_FALSE(v.string_to_sign.empty());
    EXPECT_EQ(v.keys.size(), 4u);
    EXPECT_EQ(v.signature.size(), 64u);
    EXPECT_NE(v.authorization.find(v.signature), std::string::npos);
  }
  EXPECT_TRUE(ex.vectors[0].session_token.empty());
  EXPECT_FALSE(ex.vectors[1].session_token.empty());
}

TEST(SesExample, SigningKeyChain) {
  SesExample ex = ParseSesExample();
  SigningKeys k =
      DeriveSigningKeys(ex.common["secret_access_key"], ex.common["x-amz-date"].substr(0, 8),
                        ex.common["region"], ex.common["service"]);
  for (const SesVector& v : ex.vectors) {
    EXPECT_EQ(util::HexEncode(k.k_date), v.keys.at("kDate"));
    EXPECT_EQ(util::HexEncode(k.k_region), v.keys.at("kRegion"));
    EXPECT_EQ(util::HexEncode(k.k_service), v.keys.at("kService"));
    EXPECT_EQ(util::HexEncode(k.k_signing), v.keys.at("kSigning"));
  }
}

TEST(SesExample, BothVectorsByteForByte) {
  SesExample ex = ParseSesExample();
  std::string body = Slurp(kDataDir + "/ses-sigv4-example-body.json");
  ASSERT_EQ(body.size(), 331u);
  EXPECT_EQ(util::HexEncode(util::Sha256(body)), ex.common["body sha256 (hex)"]);
  const std::string url = ex.common["url"];
  const std::string prefix = "https://email.us-east-1.amazonaws.com";
  ASSERT_EQ(url.rfind(prefix, 0), 0u);

  for (const SesVector& v : ex.vectors) {
    SCOPED_TRACE(v.name);
    Credentials creds{ex.common["access_key_id"], ex.common["secret_access_key"], v.session_token};
    SigV4Scope scope{ex.common["region"], ex.common["service"], ex.common["x-amz-date"]};
    // Twice: once as deliver-ses will call it (only Content-Type and Host; the signer adds
    // X-Amz-Date and the token), once with every signed header already in the request.
    for (bool prefilled : {false, true}) {
      SigV4Request req;
      req.method = ex.common["method"];
      req.path = url.substr(prefix.size());
      req.payload = body;
      for (const Header& h : v.headers) {
        bool added_by_signer = util::EqualsIgnoreCase(h.name, "x-amz-date") ||
                               util::EqualsIgnoreCase(h.name, "x-amz-security-token");
        if (prefilled || !added_by_signer) req.headers.push_back(h);
      }
      req.headers.push_back({"User-Agent", "mailrelay/0.1"});  // never signed
      auto sig = SignV4(req, creds, scope);
      ASSERT_TRUE(sig.ok()) << sig.status().ToString();
      EXPECT_EQ(sig->canonical_request, v.canonical_request);
      EXPECT_EQ(sig->string_to_sign, v.string_to_sign);
      EXPECT_EQ(sig->signature, v.signature);
      EXPECT_EQ(sig->authorization, v.authorization);
      // What goes on the wire: every signed header, plus User-Agent, Authorization last.
      for (const Header& h : v.headers) {
        EXPECT_TRUE(std::any_of(sig->headers.begin(), sig->headers.end(), [&](const Header& s) {
          return s.name == h.name && s.value == h.value;
        })) << h.name;
      }
      EXPECT_EQ(sig->headers.size(), v.headers.size() + 2);
      EXPECT_EQ(sig->headers.back().name, "Authorization");

      // A body hashed while streaming signs the same.
      req.payload = {};
      req.payload_sha256_hex = ex.common["body sha256 (hex)"];
      auto streamed = SignV4(req, creds, scope);
      ASSERT_TRUE(streamed.ok());
      EXPECT_EQ(streamed->authorization, v.authorization);
    }
  }
}

// ---------------------------------------------------------------------------------------
// The pieces.

TEST(SigV4, AmzDate) {
  EXPECT_EQ(AmzDate(1440938160), "20150830T123600Z");
  EXPECT_EQ(AmzDate(1705320000), "20240115T120000Z");
}

TEST(SigV4, UriEncode) {
  EXPECT_EQ(UriEncode("AZaz09-_.~", false), "AZaz09-_.~");
  EXPECT_EQ(UriEncode("a b+c/d=e&f%", false), "a%20b%2Bc%2Fd%3De%26f%25");
  EXPECT_EQ(UriEncode("/a b/", true), "/a%20b/");
  EXPECT_EQ(UriEncode("\xe1\x88\xb4", false), "%E1%88%B4");
}

TEST(SigV4, CanonicalUriNormalisesAndEncodes) {
  EXPECT_EQ(CanonicalUri(""), "/");
  EXPECT_EQ(CanonicalUri("/"), "/");
  EXPECT_EQ(CanonicalUri("/v2/email/outbound-emails"), "/v2/email/outbound-emails");
  EXPECT_EQ(CanonicalUri("/./"), "/");
  EXPECT_EQ(CanonicalUri("/example/.."), "/");
  EXPECT_EQ(CanonicalUri("/example1/example2/../.."), "/");
  EXPECT_EQ(CanonicalUri("/example/"), "/example/");
  EXPECT_EQ(CanonicalUri("//example//"), "/example/");
  EXPECT_EQ(CanonicalUri("/a/./b/../c"), "/a/c");
  EXPECT_EQ(CanonicalUri("/example space/"), "/example%20space/");
  // Already-escaped bytes are encoded again (non-S3 services).
  EXPECT_EQ(CanonicalUri("/v2/email/identities/a%40b.com"), "/v2/email/identities/a%2540b.com");
}

TEST(SigV4, CanonicalQueryString) {
  EXPECT_EQ(CanonicalQueryString(""), "");
  EXPECT_EQ(CanonicalQueryString("Param2=value2&Param1=value1"), "Param1=value1&Param2=value2");
  EXPECT_EQ(CanonicalQueryString("Param1=value2&Param1=Value1"), "Param1=Value1&Param1=value2");
  EXPECT_EQ(CanonicalQueryString("b&a="), "a=&b=");
  EXPECT_EQ(CanonicalQueryString("a=1&&b=2&"), "a=1&b=2");
  EXPECT_EQ(CanonicalQueryString("a=b c"), "a=b%20c");
  EXPECT_EQ(CanonicalQueryString("a=b%20c"), "a=b%20c");  // decoded, then encoded once
  EXPECT_EQ(CanonicalQueryString("a=1+1"), "a=1%2B1");    // '+' is a plus, not a space
  EXPECT_EQ(CanonicalQueryString("a=100%"), "a=100%25");
  EXPECT_EQ(CanonicalQueryString("k=v=w"), "k=v%3Dw");
  // Sorting is by encoded key: uppercase before lowercase, "%" before letters.
  EXPECT_EQ(CanonicalQueryString("b=1&B=2&%C3%A9=3"), "%C3%A9=3&B=2&b=1");
}

SigV4Request Minimal() {
  SigV4Request r;
  r.method = "POST";
  r.path = "/v2/email/outbound-emails";
  r.headers = {{"Host", "email.us-east-1.amazonaws.com"}};
  return r;
}

const SigV4Scope kScope{"us-east-1", "ses", "20240115T120000Z"};
const Credentials kCreds{kAkid, kSecret, ""};

TEST(SigV4, HeaderCanonicalisation) {
  SigV4Request r = Minimal();
  r.headers.push_back({"My-Header", "  a   b \t c  "});
  r.headers.push_back({"my-header", "second"});
  r.headers.push_back({"Expect", "100-continue"});
  r.headers.push_back({"X-Amzn-Trace-Id", "Root=1"});
  r.headers.push_back({"Empty", ""});
  auto sig = SignV4(r, kCreds, kScope);
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_NE(sig->canonical_request.find("\nempty:\nhost:email.us-east-1.amazonaws.com\n"
                                        "my-header:a b c,second\nx-amz-date:20240115T120000Z\n\n"),
            std::string::npos)
      << sig->canonical_request;
  EXPECT_EQ(sig->signed_headers, "empty;host;my-header;x-amz-date");
}

TEST(SigV4, RefusesUnusableInput) {
  auto fails = [](SigV4Request r, Credentials c = kCreds, SigV4Scope s = kScope) {
    return !SignV4(r, c, s).ok();
  };
  SigV4Request no_host = Minimal();
  no_host.headers.clear();
  EXPECT_TRUE(fails(no_host));
  SigV4Request crlf = Minimal();
  crlf.headers.push_back({"X-Evil", "a\r\nX-Injected: 1"});
  EXPECT_TRUE(fails(crlf));
  SigV4Request bad_name = Minimal();
  bad_name.headers.push_back({"Bad Name", "x"});
  EXPECT_TRUE(fails(bad_name));
  SigV4Request signed_already = Minimal();
  signed_already.headers.push_back({"Authorization", "AWS4-HMAC-SHA256 ..."});
  EXPECT_TRUE(fails(signed_already));
  SigV4Request other_date = Minimal();
  other_date.headers.push_back({"X-Amz-Date", "20240115T120001Z"});
  EXPECT_TRUE(fails(other_date));
  SigV4Request lower_method = Minimal();
  lower_method.method = "post";
  EXPECT_TRUE(fails(lower_method));
  SigV4Request bad_hash = Minimal();
  bad_hash.payload_sha256_hex = "ABC";
  EXPECT_TRUE(fails(bad_hash));
  EXPECT_TRUE(fails(Minimal(), kCreds, {"us-east-1", "ses", "2024-01-15T12:00:00Z"}));
  EXPECT_TRUE(fails(Minimal(), kCreds, {"us/east", "ses", "20240115T120000Z"}));
  EXPECT_TRUE(fails(Minimal(), kCreds, {"", "ses", "20240115T120000Z"}));
  EXPECT_TRUE(fails(Minimal(), {"", kSecret, ""}));
  EXPECT_TRUE(fails(Minimal(), {kAkid, "", ""}));
  EXPECT_TRUE(fails(Minimal(), {kAkid, kSecret, "tok\nen"}));
  // The secret never shows up in an error.
  auto r = SignV4(no_host, kCreds, kScope);
  EXPECT_EQ(r.status().message().find(kSecret), std::string::npos);
}

}  // namespace
}  // namespace mailrelay::ses
