#include "deliver-ses/credentials/web_identity_provider.h"

#include <algorithm>
#include <cstdlib>

#include "common/http/url.h"
#include "common/util/strings.h"

namespace mailrelay::ses {

namespace {

bool ValidSessionName(std::string_view name) {
  if (name.size() < 2 || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("_+=,.@-").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

std::string DecodeEntities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out.push_back('&');
      continue;
    }
    std::string_view name = s.substr(i + 1, semi - i - 1);
    std::optional<uint32_t> cp;
    if (name == "amp")
      cp = '&';
    else if (name == "lt")
      cp = '<';
    else if (name == "gt")
      cp = '>';
    else if (name == "quot")
      cp = '"';
    else if (name == "apos")
      cp = '\'';
    else if (name.size() > 1 && name[0] == '#') {
      bool hex = name[1] == 'x' || name[1] == 'X';
      std::string digits(name.substr(hex ? 2 : 1));
      char* end = nullptr;
      unsigned long v = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      if (!digits.empty() && end && *end == '\0' && v > 0 && v < 0x80)
        cp = static_cast<uint32_t>(v);
    }
    if (!cp) {
      out.push_back('&');
      continue;
    }
    out.push_back(static_cast<char>(*cp));
    i = semi;
  }
  return out;
}

}  // namespace

std::optional<std::string> XmlElementText(std::string_view xml, std::string_view tag) {
  const std::string open = "<" + std::string(tag);
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    size_t after = pos + open.size();
    if (after < xml.size() && (xml[after] == '>' || xml[after] == '/' || xml[after] == ' ' ||
                               xml[after] == '\t' || xml[after] == '\r' || xml[after] == '\n')) {
      size_t gt = xml.find('>', after);
      if (gt == std::string_view::npos) return std::nullopt;
      if (xml[gt - 1] == '/') return std::string();  // <Tag/>
      size_t close = xml.find("</" + std::string(tag) + ">", gt + 1);
      if (close == std::string_view::npos) return std::nullopt;
      return DecodeEntities(util::Trim(xml.substr(gt + 1, close - gt - 1)));
    }
    pos = after;
  }
  return std::nullopt;
}

std::string StsEndpoint(const Environment& env, const std::string& region) {
  if (auto v = EnvValue(env, "AWS_ENDPOINT_URL_STS")) return *v;
  if (auto v = EnvValue(env, "AWS_ENDPOINT_URL")) return *v;
  return "https://sts." + region + ".amazonaws.com";
}

std::string AssumeRoleWithWebIdentityBody(const std::string& role_arn,
                                          const std::string& session_name,
                                          const std::string& token) {
  return http::FormEncode({{"Action", "AssumeRoleWithWebIdentity"},
                           {"Version", "2011-06-15"},
                           {"RoleArn", role_arn},
                           {"RoleSessionName", session_name},
                           {"WebIdentityToken", token}});
}

util::Result<AwsCredentials> ParseAssumeRoleWithWebIdentityResponse(const http::Response& r,
                                                                    const std::string& role_arn) {
  const std::string what = "STS AssumeRoleWithWebIdentity for " + util::Printable(role_arn, 120);
  if (!r.transport_ok()) {
    util::Status st = r.TransportStatus();
    if (st.code() == util::Code::kResourceExhausted) st = util::Unavailable(st.message());
    return st.WithContext(what + ": ");
  }
  if (r.status == 200) {
    std::optional<std::string> block = XmlElementText(r.body, "Credentials");
    if (!block) return util::Unavailable(what + " answered 200 without Credentials");
    AwsCredentials c;
    c.source = "web identity (role " + util::Printable(role_arn, 120) + ")";
    c.keys.access_key_id = XmlElementText(*block, "AccessKeyId").value_or("");
    c.keys.secret_access_key = XmlElementText(*block, "SecretAccessKey").value_or("");
    c.keys.session_token = XmlElementText(*block, "SessionToken").value_or("");
    MR_RETURN_IF_ERROR(ValidateKeys(c.keys).WithContext(what + ": "));
    if (c.keys.session_token.empty())
      return util::Unavailable(what + " answered without a SessionToken");
    std::optional<int64_t> exp = ParseIso8601(XmlElementText(*block, "Expiration").value_or(""));
    // As in ParseCredentialsJson: 0 would read as "never expires".
    if (!exp || *exp <= 0) {
      return util::Unavailable(what + " answered without a readable Expiration");
    }
    c.expires_at_us = *exp * 1000000;
    return c;
  }
  std::string code = XmlElementText(r.body, "Code").value_or("");
  std::string message = XmlElementText(r.body, "Message").value_or("");
  std::string text = what + " answered " + std::to_string(r.status);
  if (!code.empty()) text += " " + util::Printable(code, 80);
  if (!message.empty()) text += ": " + util::Printable(message, 300);
  const bool transient = r.status >= 500 || r.status == 429 || code == "Throttling" ||
                         code == "IDPCommunicationError" || code == "ServiceUnavailable";
  if (transient) return util::Unavailable(text);
  return util::PermissionDenied(text);
}

WebIdentityProvider::WebIdentityProvider(http::HttpClient* client, Environment env,
                                         std::string sts_endpoint, std::string ca_file,
                                         std::chrono::milliseconds timeout,
                                         const util::Clock* clock)
    : client_(client),
      env_(std::move(env)),
      endpoint_(std::move(sts_endpoint)),
      ca_file_(std::move(ca_file)),
      timeout_(timeout),
      clock_(clock ? clock : &util::Clock::System()) {}

WebIdentityProvider::~WebIdentityProvider() {
  if (inflight_ != 0) client_->Cancel(inflight_);
}

void WebIdentityProvider::Fetch(CredentialsCallback done) {
  std::optional<std::string> token_file = EnvValue(env_, "AWS_WEB_IDENTITY_TOKEN_FILE");
  std::optional<std::string> role = EnvValue(env_, "AWS_ROLE_ARN");
  if (!token_file && !role) return done(util::NotFound("AWS_WEB_IDENTITY_TOKEN_FILE is not set"));
  if (!token_file)
    return done(
        util::InvalidArgument("AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not"));
  if (!role)
    return done(
        util::InvalidArgument("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not"));
  std::string session = EnvValue(env_, "AWS_ROLE_SESSION_NAME")
                            .value_or("mailrelay-" + std::to_string(clock_->NowSeconds()));
  if (!ValidSessionName(session)) {
    return done(
        util::InvalidArgument("AWS_ROLE_SESSION_NAME must be 2 to 64 characters of "
                              "letters, digits and _+=,.@-"));
  }
  util::Result<std::string> token = ReadTokenFile(*token_file, "AWS_WEB_IDENTITY_TOKEN_FILE");
  if (!token.ok()) return done(token.status());
  if (inflight_ != 0) return done(util::Internal("web identity fetch already in flight"));

  http::Request req;
  req.method = "POST";
  req.url = endpoint_;
  if (req.url.find('/', req.url.find("://") + 3) == std::string::npos) req.url += "/";
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                 {"Accept", "text/xml"}};
  req.body = AssumeRoleWithWebIdentityBody(*role, session, *token);
  req.ca_file = ca_file_;
  req.timeout = timeout_;
  req.connect_timeout = std::min<std::chrono::milliseconds>(timeout_, std::chrono::seconds(10));
  req.max_response_size = 1 << 20;
  inflight_ =
      client_->Send(std::move(req), [this, role = *role, done = std::move(done)](http::Response r) {
        inflight_ = 0;
        done(ParseAssumeRoleWithWebIdentityResponse(r, role));
      });
}

}  // namespace mailrelay::ses
