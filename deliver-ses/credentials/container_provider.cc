#include "deliver-ses/credentials/container_provider.h"

#include <algorithm>

#include "common/http/url.h"
#include "common/json/json.h"
#include "common/util/strings.h"

namespace mailrelay::ses {

namespace {

bool AllowedPlainHost(const http::UrlParts& u) {
  if (u.loopback) return true;
  const std::string host = util::ToLower(u.host);
  return host == "169.254.170.2" || host == "169.254.170.23" || host == "[fd00:ec2::23]";
}

}  // namespace

util::Result<ContainerRequest> ContainerRequestFromEnvironment(const Environment& env) {
  ContainerRequest out;
  if (auto rel = EnvValue(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
    if ((*rel)[0] != '/') {
      return util::InvalidArgument("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with /");
    }
    std::string base =
        EnvValue(env, "MAILRELAY_AWS_CONTAINER_ENDPOINT").value_or(kEcsCredentialsHost);
    while (!base.empty() && base.back() == '/') base.pop_back();
    out.url = base + *rel;
  } else if (auto full = EnvValue(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
    out.url = *full;
  } else {
    return util::NotFound("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI are not set");
  }
  util::Result<http::UrlParts> u = http::ParseUrl(out.url);
  if (!u.ok()) return util::InvalidArgument("container credentials URL: " + u.status().message());
  if (u->scheme == "http" && !AllowedPlainHost(*u)) {
    return util::InvalidArgument("container credentials URL " + http::UrlForLog(out.url) +
                                 ": http:// only to loopback, 169.254.170.2 or 169.254.170.23");
  }
  if (auto file = EnvValue(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
    MR_ASSIGN_OR_RETURN(out.authorization,
                        ReadTokenFile(*file, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"));
  } else if (auto token = EnvValue(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
    if (token->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return util::InvalidArgument("AWS_CONTAINER_AUTHORIZATION_TOKEN contains a line break");
    }
    out.authorization = *token;
  }
  return out;
}

util::Result<AwsCredentials> ParseContainerResponse(const http::Response& r,
                                                    const std::string& url) {
  const std::string source = "container credentials at " + http::UrlForLog(url);
  if (!r.transport_ok()) {
    util::Status st = r.TransportStatus();
    if (st.code() == util::Code::kResourceExhausted) st = util::Unavailable(st.message());
    return st.WithContext(source + ": ");
  }
  if (r.status == 200) return ParseCredentialsJson(r.body, source);
  std::string text = source + " answered " + std::to_string(r.status);
  auto doc = json::Parse(r.body, {.max_depth = 8, .max_size = 1 << 20});
  if (doc.ok() && doc->is_object()) {
    std::string code = (*doc)["code"].as_string();
    std::string message = (*doc)["message"].as_string();
    if (message.empty()) message = (*doc)["Message"].as_string();
    if (!code.empty()) text += " " + util::Printable(code, 60);
    if (!message.empty()) text += ": " + util::Printable(message, 300);
  }
  if (r.status >= 500 || r.status == 429) return util::Unavailable(text);
  return util::PermissionDenied(text);
}

ContainerProvider::ContainerProvider(http::HttpClient* client, Environment env, std::string ca_file,
                                     std::chrono::milliseconds timeout)
    : client_(client), env_(std::move(env)), ca_file_(std::move(ca_file)), timeout_(timeout) {}

ContainerProvider::~ContainerProvider() {
  if (inflight_ != 0) client_->Cancel(inflight_);
}

void ContainerProvider::Fetch(CredentialsCallback done) {
  util::Result<ContainerRequest> where = ContainerRequestFromEnvironment(env_);
  if (!where.ok()) return done(where.status());
  if (inflight_ != 0) return done(util::Internal("container credentials fetch already in flight"));
  http::Request req;
  req.method = "GET";
  req.url = where->url;
  req.headers = {{"Accept", "application/json"}};
  if (!where->authorization.empty())
    req.headers.emplace_back("Authorization", where->authorization);
  req.ca_file = ca_file_;
  req.timeout = timeout_;
  req.connect_timeout = std::min<std::chrono::milliseconds>(timeout_, std::chrono::seconds(2));
  req.max_response_size = 1 << 20;
  req.metadata_service = true;  // http://169.254.170.2 is link-local, not loopback
  std::string url = where->url;
  inflight_ = client_->Send(std::move(req), [this, url, done = std::move(done)](http::Response r) {
    inflight_ = 0;
    done(ParseContainerResponse(r, url));
  });
}

}  // namespace mailrelay::ses
