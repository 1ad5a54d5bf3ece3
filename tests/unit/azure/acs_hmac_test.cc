#include "deliver-azure/acs_hmac.h"

#include <time.h>

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/util/base64.h"
#include "common/util/clock.h"
#include "common/util/file.h"
#include "common/util/strings.h"

namespace mailrelay::azure {
namespace {

const std::string kDataDir = MAILRELAY_TESTDATA_DIR;

std::string Slurp(const std::string& path) {
  auto r = util::ReadFile(path);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::string();
}

// ---------------------------------------------------------------------------------------
// tests/data/acs-hmac-example.txt, made with the Azure SDK's HMACCredentialsPolicy.

struct Primitive {
  std::string expression;  // left of " = ", e.g. HMAC-SHA256(key=base64decode("pw=="), ...)
  std::string expected;    // base64
};

struct AcsVector {
  std::string method, path_and_query;  // from the section title
  std::string url;
  size_t body_size = 0;
  std::string body_inline;
  std::string string_to_sign, x_ms_date, x_ms_content_sha256, authorization;
};

struct AcsExample {
  std::vector<Primitive> primitives;
  std::map<std::string, std::string> common;  // each value without its "   (note)"
  std::vector<AcsVector> vectors;
};

// A value, without the explanatory note some lines carry after two or more spaces.
std::string ValueOf(std::string_view s) {
  s = util::Trim(s);
  return std::string(util::Trim(s.substr(0, s.find("  "))));
}

AcsExample ParseExample() {
  AcsExample ex;
  std::vector<std::string> lines =
      util::Split(Slurp(kDataDir + "/acs-hmac-example.txt"), '\n', /*trim=*/false);
  std::string section;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.empty() || l[0] == '#') continue;
    if (l[0] == '[') {
      section = l;
      if (l.rfind("[vector ", 0) == 0) {
        AcsVector v;
        std::string title = l.substr(8, l.size() - 9);  // "POST /emails:send?..."
        v.method = title.substr(0, title.find(' '));
        v.path_and_query = title.substr(title.find(' ') + 1);
        ex.vectors.push_back(v);
      }
      continue;
    }
    size_t eq = l.rfind(" = ");
    if (section.rfind("[primitive", 0) == 0 && eq != std::string::npos) {
      std::string lhs(util::Trim(l.substr(0, eq)));
      // "... base64" names the encoding of the result; the expression is before it.
      if (util::EndsWithIgnoreCase(lhs, " base64"))
        lhs = std::string(util::Trim(lhs.substr(0, lhs.size() - 7)));
      ex.primitives.push_back({lhs, std::string(util::Trim(l.substr(eq + 3)))});
      continue;
    }
    if (section == "[common inputs]") {
      size_t e = l.find(" = ");
      if (e != std::string::npos)
        ex.common[std::string(util::Trim(l.substr(0, e)))] = ValueOf(l.substr(e + 3));
      continue;
    }
    if (ex.vectors.empty()) continue;
    AcsVector& v = ex.vectors.back();
    if (l.rfind("url ", 0) == 0) v.url = ValueOf(l.substr(l.find(" = ") + 3));
    if (l.rfind("body (", 0) == 0) {
      v.body_size = std::stoul(l.substr(6));
      std::string value = l.substr(l.find(" = ") + 3);
      v.body_inline = value == "<empty>" ? "" : value;
    }
    if (l.rfind("--- string to sign", 0) == 0) {
      for (++i; i < lines.size() && lines[i] != "--- end string to sign ---"; ++i) {
        if (!v.string_to_sign.empty()) v.string_to_sign += '\n';
        v.string_to_sign += lines[i];
      }
    }
    if (l.rfind("x-ms-date: ", 0) == 0) v.x_ms_date = l.substr(11);
    if (l.rfind("x-ms-content-sha256: ", 0) == 0) v.x_ms_content_sha256 = l.substr(21);
    if (l.rfind("Authorization: ", 0) == 0) v.authorization = l.substr(15);
  }
  return ex;
}

// Evaluates utf8("text"), utf8(U+XXXX) or "empty body" to bytes.
std::string Utf8Argument(std::string_view arg) {
  if (arg == "empty body") return "";
  if (arg.rfind("utf8(\"", 0) == 0) return std::string(arg.substr(6, arg.size() - 8));
  if (arg.rfind("utf8(U+", 0) == 0) {
    uint32_t cp = static_cast<uint32_t>(std::stoul(std::string(arg.substr(7)), nullptr, 16));
    std::string out;
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
    return out;
  }
  ADD_FAILURE() << "cannot evaluate " << arg;
  return "";
}

int64_t ParseHttpDate(const std::string& s) {
  struct tm tm = {};
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  EXPECT_TRUE(end != nullptr && *end == '\0') << s;
  return static_cast<int64_t>(timegm(&tm));
}

TEST(AcsExample, FileParsesAsExpected) {
  AcsExample ex = ParseExample();
  EXPECT_EQ(ex.primitives.size(), 5u);
  EXPECT_EQ(ex.vectors.size(), 2u);
  for (const char* key :
       {"connection string", "endpoint", "host (signed)", "access key", "x-ms-date"}) {
    EXPECT_TRUE(ex.common.count(key)) << key;
  }
  for (const AcsVector& v : ex.vectors) {
    EXPECT_FALSE(v.url.empty());
    EXPECT_FALSE(v.string_to_sign.empty());
    EXPECT_FALSE(v.authorization.empty());
  }
}

TEST(AcsExample, MicrosoftPrimitiveVectors) {
  AcsExample ex = ParseExample();
  int hmacs = 0, digests = 0;
  for (const Primitive& p : ex.primitives) {
    SCOPED_TRACE(p.expression);
    const std::string hmac_prefix = "HMAC-SHA256(key=base64decode(\"";
    if (p.expression.rfind(hmac_prefix, 0) == 0) {
      size_t key_end = p.expression.find('"', hmac_prefix.size());
      std::string key = p.expression.substr(hmac_prefix.size(), key_end - hmac_prefix.size());
      size_t arg = p.expression.find(", ", key_end) + 2;
      std::string message =
          Utf8Argument(std::string_view(p.expression).substr(arg, p.expression.size() - arg - 1));
      auto sig = ComputeSignature(key, message);
      ASSERT_TRUE(sig.ok()) << sig.status().ToString();
      EXPECT_EQ(*sig, p.expected);
      ++hmacs;
    } else if (p.expression.rfind("SHA-256(", 0) == 0) {
      std::string_view arg = std::string_view(p.expression).substr(8, p.expression.size() - 9);
      EXPECT_EQ(ContentSha256(Utf8Argument(arg)), p.expected);
      ++digests;
    } else {
      ADD_FAILURE() << "unknown primitive";
    }
  }
  EXPECT_EQ(hmacs, 2);
  EXPECT_EQ(digests, 3);
  // Spelled out too, so a broken parser above cannot make this test vacuous.
  EXPECT_EQ(*ComputeSignature("pw==", "banana"), "88EC05aAS9iXnaimtNO78JLjiPtfWryQB/5QYEzEsu8=");
  EXPECT_EQ(*ComputeSignature("pw==", "\xf0\x9f\x98\x80"),
            "1rudJKjn2Zi+3hRrBG29wIF6pD6YyAeQR1ZcFtXoKAU=");
  EXPECT_EQ(ContentSha256("banana"), "tJPUg2Sv5E0RwBZc9HCkFk0eJgmRHvmYvoaNRq3j3k4=");
  EXPECT_EQ(ContentSha256("\xf0\x9f\x98\x80"), "8EQ6NCxe9UeDoRG1G6Vsk45HTDIyTZDDpgycjjo34tk=");
  EXPECT_EQ(ContentSha256(""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
}

TEST(AcsExample, ConnectionStringAndHost) {
  AcsExample ex = ParseExample();
  auto cs = ParseConnectionString(ex.common["connection string"]);
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  EXPECT_EQ(cs->endpoint, ex.common["endpoint"]);
  EXPECT_EQ(cs->access_key, ex.common["access key"]);
  EXPECT_EQ(util::Base64Decode(cs->access_key)->size(), 64u);
  auto target = ParseUrl(cs->endpoint);
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(target->host, ex.common["host (signed)"]);
}

TEST(AcsExample, EveryRequestVector) {
  AcsExample ex = ParseExample();
  std::string post_body = Slurp(kDataDir + "/acs-hmac-example-body.json");
  ASSERT_EQ(ex.vectors.size(), 2u);
  int64_t when = ParseHttpDate(ex.common["x-ms-date"]);
  EXPECT_EQ(util::HttpDate(when), ex.common["x-ms-date"]);
  auto cs = ParseConnectionString(ex.common["connection string"]);
  ASSERT_TRUE(cs.ok());

  for (const AcsVector& v : ex.vectors) {
    SCOPED_TRACE(v.method + " " + v.path_and_query);
    std::string body = v.method == "POST" ? post_body : "";
    EXPECT_EQ(body.size(), v.body_size);
    EXPECT_EQ(body, v.body_inline);
    EXPECT_EQ(v.url, cs->endpoint + v.path_and_query);

    auto target = ParseUrl(v.url);
    ASSERT_TRUE(target.ok()) << target.status().ToString();
    EXPECT_EQ(target->path_and_query, v.path_and_query);
    EXPECT_EQ(target->host, ex.common["host (signed)"]);

    auto sig = SignRequest(v.method, v.url, body, when, cs->access_key);
    ASSERT_TRUE(sig.ok()) << sig.status().ToString();
    EXPECT_EQ(sig->string_to_sign, v.string_to_sign);
    EXPECT_EQ(sig->x_ms_date, v.x_ms_date);
    EXPECT_EQ(sig->x_ms_content_sha256, v.x_ms_content_sha256);
    EXPECT_EQ(sig->host, ex.common["host (signed)"]);
    EXPECT_EQ(sig->authorization, v.authorization);
    EXPECT_EQ(
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=" + sig->signature,
        v.authorization);

    // The target overload and a lowercase method sign the same.
    auto again = SignRequest(util::ToLower(v.method), *target, body, when, cs->access_key);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->authorization, v.authorization);
  }
  // The published POST signature, spelled out.
  EXPECT_NE(
      ex.vectors[0].authorization.find("Signature=x+4Z2S7nWiPRhNcDKLIyESgTl1TyygI2ZqZG8kQd0q0="),
      std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Connection strings.

const char kKey[] =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";

TEST(ConnectionString, FormsThatMustParse) {
  const std::string ep = "https://contoso.unitedstates.communication.azure.com";
  const std::vector<std::string> forms = {
      "endpoint=" + ep + "/;accesskey=" + kKey,
      "endpoint=" + ep + ";accesskey=" + kKey,
      "accesskey=" + std::string(kKey) + ";endpoint=" + ep + "/",
      "Endpoint=" + ep + "/;AccessKey=" + kKey + ";",
      "ENDPOINT=" + ep + "/;ACCESSKEY=" + kKey + ";;",
      "  endpoint = " + ep + "/ ; accesskey = " + kKey + " ;\n",
      "endpoint=" + ep + "/;accesskey=" + kKey + ";futurekey=whatever",
  };
  for (const std::string& f : forms) {
    auto cs = ParseConnectionString(f);
    ASSERT_TRUE(cs.ok()) << f << ": " << cs.status().ToString();
    EXPECT_EQ(cs->endpoint, ep) << f;
    EXPECT_EQ(cs->access_key, kKey) << f;  // the '=' padding survives the split
  }
  auto local = ParseConnectionString("endpoint=http://127.0.0.1:8443/;accesskey=pw==");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->endpoint, "http://127.0.0.1:8443");
}

TEST(ConnectionString, FormsThatMustFailWithoutLeakingTheKey) {
  const std::string ep = "https://x.communication.azure.com/";
  const std::string secret = "c2VjcmV0LWtleS1ieXRlcw==";
  const std::vector<std::string> bad = {
      "",
      ";;",
      "endpoint=" + ep,
      "accesskey=" + secret,
      "endpoint=" + ep + ";accesskey=",
      "endpoint=" + ep + ";accesskey=not*base64!" + secret,
      "endpoint=" + ep + ";accesskey=" + secret + ";accesskey=" + secret,
      "endpoint=" + ep + ";endpoint=" + ep + ";accesskey=" + secret,
      "endpoint=" + ep + ";" + secret,
      "endpoint=ftp://x/;accesskey=" + secret,
      "endpoint=x.communication.azure.com;accesskey=" + secret,
      "endpoint=https://x.communication.azure.com/emails;accesskey=" + secret,
      "endpoint=https://;accesskey=" + secret,
  };
  for (const std::string& b : bad) {
    auto cs = ParseConnectionString(b);
    ASSERT_FALSE(cs.ok()) << "accepted: " << b;
    EXPECT_EQ(cs.status().code(), util::Code::kInvalidArgument);
    EXPECT_EQ(cs.status().message().find("c2VjcmV0"), std::string::npos) << cs.status().message();
  }
}

// ---------------------------------------------------------------------------------------
// URLs and request signing details.

TEST(AcsUrl, HostAndPathAsSigned) {
  struct Case {
    const char* url;
    const char* host;
    const char* path_and_query;
  };
  const Case cases[] = {
      {"https://a.communication.azure.com/emails:send?api-version=2025-09-01",
       "a.communication.azure.com", "/emails:send?api-version=2025-09-01"},
      {"https://a.communication.azure.com:443/emails:send", "a.communication.azure.com",
       "/emails:send"},
      {"HTTPS://a.communication.azure.com", "a.communication.azure.com", "/"},
      {"https://a.communication.azure.com?x=1", "a.communication.azure.com", "/?x=1"},
      {"https://a.communication.azure.com/p#frag", "a.communication.azure.com", "/p"},
      {"https://a.communication.azure.com:8443/p", "a.communication.azure.com:8443", "/p"},
      {"http://127.0.0.1:8080/emails:send", "127.0.0.1:8080", "/emails:send"},
      {"http://127.0.0.1:80/x", "127.0.0.1", "/x"},
      {"http://127.0.0.1:443/x", "127.0.0.1:443", "/x"},  // 443 is not http's default
      {"http://[::1]:8080/x?y", "[::1]:8080", "/x?y"},
      {"https://[::1]/", "[::1]", "/"},
  };
  for (const Case& c : cases) {
    auto t = ParseUrl(c.url);
    ASSERT_TRUE(t.ok()) << c.url << ": " << t.status().ToString();
    EXPECT_EQ(t->host, c.host) << c.url;
    EXPECT_EQ(t->path_and_query, c.path_and_query) << c.url;
  }
  for (const char* bad : {"", "ftp://a/", "a.com/x", "https://", "https:///x", "https://u:p@a/x",
                          "https://a:0/", "https://a:99999/", "https://a:x/", "https://a:/",
                          "https://[::1/", "https://[::1]x/", "https://a/b c", "https://a/\r\n"}) {
    EXPECT_FALSE(ParseUrl(bad).ok()) << bad;
  }
}

TEST(AcsSign, NonDefaultPortIsSignedOnce) {
  // The JS SDK can sign "host:port:port" against a local fake; we must not.
  auto sig = SignRequest("POST", "http://127.0.0.1:8443/emails:send?api-version=2025-09-01", "{}",
                         1705320000, kKey);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(sig->string_to_sign,
            "POST\n/emails:send?api-version=2025-09-01\nMon, 15 Jan 2024 12:00:00 GMT;"
            "127.0.0.1:8443;" +
                ContentSha256("{}"));
  EXPECT_EQ(sig->host, "127.0.0.1:8443");
}

TEST(AcsSign, RefusesBadInput) {
  AcsTarget t{"a.communication.azure.com", "/emails:send"};
  EXPECT_FALSE(SignRequest("", t, "", 0, kKey).ok());
  EXPECT_FALSE(SignRequest("PO ST", t, "", 0, kKey).ok());
  EXPECT_FALSE(SignRequest("POST", t, "", 0, "").ok());
  EXPECT_FALSE(SignRequest("POST", t, "", 0, "***").ok());
  EXPECT_FALSE(SignRequest("POST", AcsTarget{"", "/x"}, "", 0, kKey).ok());
  EXPECT_FALSE(SignRequest("POST", AcsTarget{"a", "x"}, "", 0, kKey).ok());
  EXPECT_FALSE(SignRequest("POST", AcsTarget{"a", "/x\n"}, "", 0, kKey).ok());
  EXPECT_FALSE(SignRequest("POST", "not a url", "", 0, kKey).ok());
  // Different bodies, dates and keys give different signatures.
  auto a = SignRequest("POST", t, "a", 0, kKey);
  auto b = SignRequest("POST", t, "b", 0, kKey);
  auto c = SignRequest("POST", t, "a", 1, kKey);
  auto d = SignRequest("POST", t, "a", 0, "pw==");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_NE(a->signature, b->signature);
  EXPECT_NE(a->signature, c->signature);
  EXPECT_NE(a->signature, d->signature);
}

}  // namespace
}  // namespace mailrelay::azure
