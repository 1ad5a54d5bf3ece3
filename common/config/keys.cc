#include "common/config/keys.h"

#include "common/util/strings.h"

namespace mailrelay::config::internal {

namespace {

using util::InvalidArgument;
using util::Status;

Status Ok() { return Status::Ok(); }

template <typename T>
Status Store(T* dst, util::Result<T> parsed) {
  if (!parsed.ok()) return parsed.status();
  *dst = std::move(parsed).value();
  return Ok();
}

Status SetInt(int* dst, const std::string& v, int min, int max) {
  auto n = util::ParseInt(util::Trim(v));
  if (!n || *n < min || *n > max) {
    return InvalidArgument("expected a whole number from " + std::to_string(min) + " to " +
                           std::to_string(max));
  }
  *dst = static_cast<int>(*n);
  return Ok();
}

Status SetDuration(int64_t* dst, const std::string& v, int64_t min = 0) {
  auto d = ParseDuration(v);
  if (!d.ok()) return d.status();
  if (*d < min) return InvalidArgument("must be at least " + FormatDuration(min));
  *dst = *d;
  return Ok();
}

Status SetEmail(std::string* dst, const std::string& v) {
  if (v.empty()) {
    dst->clear();
    return Ok();
  }
  return Store(dst, ParseEmail(v));
}

Status SetUrl(std::string* dst, const std::string& v) {
  std::string url(util::Trim(v));
  while (!url.empty() && url.back() == '/') url.pop_back();
  bool https = util::StartsWithIgnoreCase(url, "https://");
  bool http = util::StartsWithIgnoreCase(url, "http://");
  if (!https && !http) return InvalidArgument("expected an https:// URL");
  std::string rest = url.substr(https ? 8 : 7);
  std::string hostport = rest.substr(0, rest.find('/'));
  if (hostport.empty()) return InvalidArgument("expected an https:// URL with a host");
  std::string host = hostport;
  if (host.front() == '[') {
    host = host.substr(1, host.find(']') == std::string::npos ? 0 : host.find(']') - 1);
  } else if (host.find(':') != std::string::npos) {
    host = host.substr(0, host.find(':'));
  }
  if (http && !(host == "localhost" || host == "::1" || util::StartsWithIgnoreCase(host, "127."))) {
    return InvalidArgument("http:// is accepted only for loopback hosts; use https://");
  }
  *dst = url;
  return Ok();
}

Status SetUuidish(std::string* dst, const std::string& v) {
  // Entra tenant ids may also be domain names (contoso.onmicrosoft.com).
  for (char c : v) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) {
      return InvalidArgument("expected a tenant or client id (a UUID or a domain name)");
    }
  }
  *dst = v;
  return Ok();
}

template <typename E>
Status SetEnum(E* dst, const std::string& v, std::initializer_list<std::pair<const char*, E>> opts) {
  std::string names;
  for (const auto& [name, val] : opts) {
    if (util::EqualsIgnoreCase(util::Trim(v), name)) {
      *dst = val;
      return Ok();
    }
    if (!names.empty()) names += " | ";
    names += name;
  }
  return InvalidArgument("expected one of: " + names);
}

Status SetRegex(Regex* dst, const std::string& v) {
  if (v.empty()) {
    *dst = Regex{};
    return Ok();
  }
  try {
    // ECMAScript syntax: close to the Go/RE2 syntax the SES seed's users bring.
    dst->re = std::make_shared<const std::regex>(v, std::regex::ECMAScript | std::regex::optimize);
    dst->pattern = v;
  } catch (const std::regex_error& e) {
    return InvalidArgument(std::string("expected a regular expression (") + e.what() + ")");
  }
  return Ok();
}

Status SetTags(std::vector<std::pair<std::string, std::string>>* dst, const std::string& v) {
  dst->clear();
  for (const auto& item : util::Split(v, ',')) {
    size_t eq = item.find('=');
    std::string name(util::Trim(item.substr(0, eq)));
    std::string value = eq == std::string::npos ? "" : std::string(util::Trim(item.substr(eq + 1)));
    if (eq == std::string::npos || name.empty() || value.empty()) {
      return InvalidArgument("expected name=value pairs separated by commas");
    }
    for (const std::string* s : {&name, &value}) {
      for (char c : *s) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) {
          return InvalidArgument("tag names and values may hold only letters, digits, _ and -");
        }
      }
    }
    dst->emplace_back(name, value);
  }
  return Ok();
}

#define SET(expr) [](Config& c, const std::string& v) -> Status { (void)c; (void)v; return expr; }
#define STR(field) SET((c.field = v, Ok()))

// Keys every backend section shares; `concurrency` default differs per backend.
void AddCommon(std::vector<KeySpec>* keys, const char* section, const char* concurrency,
               BackendCommon& (*pick)(Config&)) {
  keys->push_back({section, "concurrency", concurrency, "deliveries in flight at once", Kind::kOther,
                   [pick](Config& c, const std::string& v) {
                     return SetInt(&pick(c).concurrency, v, 1, 1000);
                   }});
  keys->push_back({section, "rate_limit", "", "at most N deliveries per period, e.g. 30/m",
                   Kind::kOther, [pick](Config& c, const std::string& v) {
                     if (v.empty()) {
                       pick(c).rate_limit = Rate{};
                       return Ok();
                     }
                     return Store(&pick(c).rate_limit, ParseRate(v));
                   }});
  keys->push_back({section, "timeout", "30s", "per-request timeout", Kind::kOther,
                   [pick](Config& c, const std::string& v) {
                     return SetDuration(&pick(c).timeout, v, 1);
                   }});
  keys->push_back({section, "ca_file", "", "extra CA bundle (private PKI, tests)", Kind::kPath,
                   [pick](Config& c, const std::string& v) {
                     pick(c).ca_file = v;
                     return Ok();
                   }});
}

std::vector<KeySpec> Build() {
  std::vector<KeySpec> k = {
      // [server]
      {"server", "hostname", "", "name in the greeting, Received: headers and DSNs (default: this host's name)",
       Kind::kOther,
       SET(v.empty() ? (c.server.hostname.clear(), Ok()) : Store(&c.server.hostname, ParseDomain(v, false)))},
      {"server", "spool_dir", "/var/spool/mailrelay", "where queue.db lives", Kind::kPath,
       STR(server.spool_dir)},
      {"server", "run_dir", "/run/mailrelay", "sockets between processes", Kind::kPath,
       STR(server.run_dir)},
      {"server", "restart_per_hour", "5", "restarts per process per hour before giving up",
       Kind::kOther, SET(SetInt(&c.server.restart_per_hour, v, 1, 1000))},
      {"server", "restart_email", "", "where failure reports go (optional)", Kind::kOther,
       SET(SetEmail(&c.server.restart_email, v))},
      {"server", "postmaster", "", "postmaster address (default postmaster@hostname)",
       Kind::kOther, SET(SetEmail(&c.server.postmaster, v))},
      {"server", "log_format", "text", "text | json", Kind::kOther,
       SET(SetEnum(&c.server.log_format, v, {{"text", log::Format::kText}, {"json", log::Format::kJson}}))},
      {"server", "log_level", "info", "debug | info | warning | error", Kind::kOther,
       SET(SetEnum(&c.server.log_level, v,
                   {{"debug", log::Level::kDebug}, {"info", log::Level::kInfo},
                    {"warning", log::Level::kWarning}, {"error", log::Level::kError}}))},
      {"server", "metrics_listen", "", "ADDRESS:PORT for /metrics and /healthz (optional)",
       Kind::kOther, [](Config& c, const std::string& v) -> Status {
         if (v.empty()) {
           c.server.metrics_listen.reset();
           return Ok();
         }
         auto hp = ParseHostPort(v, true);
         if (!hp.ok()) return hp.status();
         c.server.metrics_listen = *hp;
         return Ok();
       }},
      {"server", "shutdown_timeout", "30s", "how long SIGTERM waits for sessions and deliveries",
       Kind::kOther, SET(SetDuration(&c.server.shutdown_timeout, v, 1))},
      {"server", "privilege_separation", "yes",
       "started as root, run each process as its own system user (no: development only)",
       Kind::kOther, SET(Store(&c.server.privilege_separation, ParseBool(v)))},

      // [smtpd]
      {"smtpd", "listen", "127.0.0.1:25", "plain SMTP listeners (STARTTLS when a cert is set)",
       Kind::kList, SET(Store(&c.smtpd.listen, ParseHostPortList(v, true)))},
      {"smtpd", "listen_tls", "", "implicit-TLS listeners, e.g. 0.0.0.0:465", Kind::kList,
       SET(Store(&c.smtpd.listen_tls, ParseHostPortList(v, true)))},
      {"smtpd", "tls_cert_file", "", "PEM certificate chain", Kind::kPath, STR(smtpd.tls_cert_file)},
      {"smtpd", "tls_key_file", "", "PEM private key", Kind::kSecretPath, STR(smtpd.tls_key_file)},
      {"smtpd", "tls_key_passphrase_file", "", "passphrase of an encrypted private key",
       Kind::kSecretPath, STR(smtpd.tls_key_passphrase_file)},
      {"smtpd", "tls_ciphers", "", "OpenSSL cipher list for TLS <= 1.2 (default: Mozilla intermediate)",
       Kind::kString, STR(smtpd.tls_ciphers)},
      {"smtpd", "require_tls", "no", "refuse MAIL and AUTH before STARTTLS", Kind::kOther,
       SET(Store(&c.smtpd.require_tls, ParseBool(v)))},
      {"smtpd", "tls_min_version", "1.2", "1.0 | 1.1 | 1.2 | 1.3", Kind::kOther,
       SET(SetEnum(&c.smtpd.tls_min_version, v,
                   {{"1.0", TlsVersion::k1_0}, {"1.1", TlsVersion::k1_1},
                    {"1.2", TlsVersion::k1_2}, {"1.3", TlsVersion::k1_3}}))},
      {"smtpd", "auth", "optional", "none | optional | required", Kind::kOther,
       SET(SetEnum(&c.smtpd.auth, v,
                   {{"none", AuthMode::kNone}, {"optional", AuthMode::kOptional},
                    {"required", AuthMode::kRequired}}))},
      {"smtpd", "allow_plaintext_auth", "no",
       "AUTH without TLS: no | loopback | yes (yes exposes passwords on the wire)", Kind::kOther,
       SET(SetEnum(&c.smtpd.allow_plaintext_auth, v,
                   {{"no", PlaintextAuth::kNo}, {"loopback", PlaintextAuth::kLoopback},
                    {"yes", PlaintextAuth::kYes}}))},
      {"smtpd", "users_file", "", "name:hash lines (relayctl user add)", Kind::kPath,
       STR(smtpd.users_file)},
      {"smtpd", "max_connections", "1000", "concurrent sessions", Kind::kOther,
       SET(SetInt(&c.smtpd.max_connections, v, 1, 1000000))},
      {"smtpd", "max_connections_per_ip", "50", "concurrent sessions per client address",
       Kind::kOther, SET(SetInt(&c.smtpd.max_connections_per_ip, v, 1, 1000000))},
      {"smtpd", "max_message_size", "35M", "largest message accepted", Kind::kOther,
       [](Config& c, const std::string& v) -> Status {
         auto s = ParseSize(v);
         if (!s.ok()) return s.status();
         if (*s < 1024 || *s > (2ull << 30)) return InvalidArgument("expected a size from 1K to 2G");
         c.smtpd.max_message_size = *s;
         return Ok();
       }},
      {"smtpd", "max_recipients", "100", "recipients per message", Kind::kOther,
       SET(SetInt(&c.smtpd.max_recipients, v, 1, 100000))},
      {"smtpd", "timeout", "5m", "idle time before 421 4.4.2", Kind::kOther,
       SET(SetDuration(&c.smtpd.timeout, v, 1))},
      {"smtpd", "commit_timeout", "30s", "how long DATA waits for the queue before 451 4.3.0",
       Kind::kOther, SET(SetDuration(&c.smtpd.commit_timeout, v, 1))},
      {"smtpd", "proxy_protocol", "no", "expect a HAProxy PROXY v1/v2 header", Kind::kOther,
       SET(Store(&c.smtpd.proxy_protocol, ParseBool(v)))},
      {"smtpd", "greeting", "mailrelay", "text after 220 hostname ESMTP", Kind::kString,
       [](Config& c, const std::string& v) -> Status {
         for (char ch : v) {
           if (static_cast<unsigned char>(ch) < 0x20) return InvalidArgument("no control characters");
         }
         if (v.size() > 200) return InvalidArgument("at most 200 characters");
         c.smtpd.greeting = v;
         return Ok();
       }},

      // [policy]
      {"policy", "networks", "127.0.0.0/8, ::1/128", "clients allowed to relay without AUTH",
       Kind::kList, SET(Store(&c.policy.networks, ParseCidrList(v)))},
      {"policy", "mode", "strict", "strict | auth_any_domain | net_any_domain | any_domain",
       Kind::kOther,
       SET(SetEnum(&c.policy.mode, v,
                   {{"strict", RelayMode::kStrict}, {"auth_any_domain", RelayMode::kAuthAnyDomain},
                    {"net_any_domain", RelayMode::kNetAnyDomain},
                    {"any_domain", RelayMode::kAnyDomain}}))},
      {"policy", "recipient_domains", "", "where mail may go (strict mode)", Kind::kList,
       SET(Store(&c.policy.recipient_domains, ParseDomainList(v)))},
      {"policy", "sender_domains", "", "if set, the envelope sender must be in these", Kind::kList,
       SET(Store(&c.policy.sender_domains, ParseDomainList(v)))},
      {"policy", "sender_regex", "", "if set, the envelope sender must match", Kind::kString,
       SET(SetRegex(&c.policy.sender_regex, v))},
      {"policy", "recipient_deny_regex", "", "matching recipients are refused", Kind::kString,
       SET(SetRegex(&c.policy.recipient_deny_regex, v))},

      // [queue]
      {"queue", "max_messages", "10000", "queue size at which MAIL FROM gets 452 4.3.1",
       Kind::kOther, SET(SetInt(&c.queue.max_messages, v, 1, 100000000))},
      {"queue", "retry_delay", "5m", "first retry; doubles up to max_retry_delay", Kind::kOther,
       SET(SetDuration(&c.queue.retry_delay, v, 1))},
      {"queue", "max_retry_delay", "1h", "longest wait between attempts", Kind::kOther,
       SET(SetDuration(&c.queue.max_retry_delay, v, 1))},
      {"queue", "max_attempts", "0", "attempts before bouncing (0 = until max_age)", Kind::kOther,
       SET(SetInt(&c.queue.max_attempts, v, 0, 1000000))},
      {"queue", "max_age", "12h", "then bounce as expired", Kind::kOther,
       SET(SetDuration(&c.queue.max_age, v, 60))},
      {"queue", "delay_warning", "0", "send a delay notice after this long (0 = never)",
       Kind::kOther, SET(SetDuration(&c.queue.delay_warning, v, 0))},
      {"queue", "send_log", "yes", "keep a log of every delivery for relayctl log", Kind::kOther,
       SET(Store(&c.queue.send_log, ParseBool(v)))},
      {"queue", "send_log_days", "3", "days the send log is kept", Kind::kOther,
       SET(SetInt(&c.queue.send_log_days, v, 1, 3650))},

      // [smtp]
      {"smtp", "host", "", "smarthost name or [address]", Kind::kString,
       [](Config& c, const std::string& v) -> Status {
         std::string h(util::Trim(v));
         if (h.empty()) {
           c.smtp.host.clear();
           return Ok();
         }
         if (h.front() == '[') {
           if (h.back() != ']' || h.size() < 3) return InvalidArgument("expected [address]");
           std::string inner = h.substr(1, h.size() - 2);
           if (util::StartsWithIgnoreCase(inner, "IPv6:")) inner = inner.substr(5);
           auto ip = ParseCidr(inner);
           if (!ip.ok() || inner.find('/') != std::string::npos) {
             return InvalidArgument("expected a host name or [IP address]");
           }
           c.smtp.host = h;
           return Ok();
         }
         auto d = ParseDomain(h, false);
         if (!d.ok()) return InvalidArgument("expected a host name or [IP address]");
         c.smtp.host = *d;
         return Ok();
       }},
      {"smtp", "port", "587", "smarthost port", Kind::kOther, SET(SetInt(&c.smtp.port, v, 1, 65535))},
      {"smtp", "tls", "starttls",
       "none | starttls | implicit (Postfix levels: may, encrypt, verify, secure)", Kind::kOther,
       [](Config& c, const std::string& v) -> Status {
         std::string t = util::ToLower(util::Trim(v));
         // Postfix smtp_tls_security_level names, with the meaning Postfix gives them.
         if (t == "may") { c.smtp.tls = SmtpTls::kMay; c.smtp.tls_verify = false; return Ok(); }
         if (t == "encrypt") { c.smtp.tls = SmtpTls::kStartTls; c.smtp.tls_verify = false; return Ok(); }
         if (t == "verify" || t == "secure") {
           c.smtp.tls = SmtpTls::kStartTls;
           c.smtp.tls_verify = true;
           return Ok();
         }
         return SetEnum(&c.smtp.tls, t,
                        {{"none", SmtpTls::kNone}, {"starttls", SmtpTls::kStartTls},
                         {"implicit", SmtpTls::kImplicit}});
       }},
      {"smtp", "tls_verify", "yes", "verify the chain and the host name", Kind::kOther,
       SET(Store(&c.smtp.tls_verify, ParseBool(v)))},
      {"smtp", "username", "", "AUTH user name", Kind::kString, STR(smtp.username)},
      {"smtp", "password_file", "", "AUTH password", Kind::kSecretPath, STR(smtp.password_file)},
      {"smtp", "auth_mechanism", "auto", "auto | plain | login | xoauth2", Kind::kOther,
       SET(SetEnum(&c.smtp.auth_mechanism, v,
                   {{"auto", SmtpAuthMechanism::kAuto}, {"plain", SmtpAuthMechanism::kPlain},
                    {"login", SmtpAuthMechanism::kLogin}, {"xoauth2", SmtpAuthMechanism::kXoauth2}}))},
      {"smtp", "tenant_id", "", "Entra tenant (xoauth2)", Kind::kString, SET(SetUuidish(&c.smtp.tenant_id, v))},
      {"smtp", "client_id", "", "Entra application id (xoauth2)", Kind::kString,
       SET(SetUuidish(&c.smtp.client_id, v))},
      {"smtp", "client_secret_file", "", "Entra client secret (xoauth2)", Kind::kSecretPath,
       STR(smtp.client_secret_file)},
      {"smtp", "authority", "https://login.microsoftonline.com", "Entra authority", Kind::kString,
       SET(SetUrl(&c.smtp.authority, v))},
      {"smtp", "helo_name", "", "name sent in EHLO (default [server] hostname)", Kind::kString,
       SET(v.empty() ? (c.smtp.helo_name.clear(), Ok()) : Store(&c.smtp.helo_name, ParseDomain(v, false)))},
      {"smtp", "connect_timeout", "30s", "TCP connect timeout per address", Kind::kOther,
       SET(SetDuration(&c.smtp.connect_timeout, v, 1))},
      {"smtp", "data_timeout", "10m", "wait for the reply to the final dot (RFC 5321: 10m)",
       Kind::kOther, SET(SetDuration(&c.smtp.data_timeout, v, 1))},
      {"smtp", "idle_timeout", "60s", "close a pooled connection idle this long", Kind::kOther,
       SET(SetDuration(&c.smtp.idle_timeout, v, 1))},
      {"smtp", "max_messages_per_connection", "100", "then the connection is closed",
       Kind::kOther, SET(SetInt(&c.smtp.max_messages_per_connection, v, 1, 100000))},

      // [azure]
      {"azure", "endpoint", "", "https://NAME.communication.azure.com", Kind::kString,
       SET(v.empty() ? (c.azure.endpoint.clear(), Ok()) : SetUrl(&c.azure.endpoint, v))},
      {"azure", "access_key_file", "", "HMAC access key (or endpoint=...;accesskey=...)",
       Kind::kSecretPath, STR(azure.access_key_file)},
      {"azure", "tenant_id", "", "Entra tenant (service principal)", Kind::kString,
       SET(SetUuidish(&c.azure.tenant_id, v))},
      {"azure", "client_id", "", "Entra application id", Kind::kString, SET(SetUuidish(&c.azure.client_id, v))},
      {"azure", "client_secret_file", "", "Entra client secret", Kind::kSecretPath,
       STR(azure.client_secret_file)},
      {"azure", "sender", "", "verified MailFrom address; original From goes to Reply-To",
       Kind::kOther, SET(SetEmail(&c.azure.sender, v))},
      {"azure", "api_version", "2025-09-01", "2025-09-01 | 2023-03-31", Kind::kString,
       [](Config& c, const std::string& v) -> Status {
         std::string a(util::Trim(v));
         if (a.size() < 10 || !std::isdigit(static_cast<unsigned char>(a[0]))) {
           return InvalidArgument("expected an api-version like 2025-09-01");
         }
         c.azure.api_version = a;
         return Ok();
       }},
      {"azure", "authority", "https://login.microsoftonline.com", "Entra authority", Kind::kString,
       SET(SetUrl(&c.azure.authority, v))},
      {"azure", "engagement_tracking", "no", "let ACS track opens and clicks", Kind::kOther,
       SET(Store(&c.azure.engagement_tracking, ParseBool(v)))},
      {"azure", "poll_status", "no", "poll the send operation and bounce on Failed", Kind::kOther,
       SET(Store(&c.azure.poll_status, ParseBool(v)))},

      // [graph]
      {"graph", "tenant_id", "", "Entra tenant", Kind::kString, SET(SetUuidish(&c.graph.tenant_id, v))},
      {"graph", "client_id", "", "Entra application id", Kind::kString, SET(SetUuidish(&c.graph.client_id, v))},
      {"graph", "client_secret_file", "", "Entra client secret", Kind::kSecretPath,
       STR(graph.client_secret_file)},
      {"graph", "passthrough_auth", "no", "SMTP AUTH user tenant<d>client, password = secret",
       Kind::kOther, SET(Store(&c.graph.passthrough_auth, ParseBool(v)))},
      {"graph", "username_delimiter", "@", "@ | : | (pipe)", Kind::kOther,
       [](Config& c, const std::string& v) -> Status {
         std::string d(util::Trim(v));
         if (d != "@" && d != ":" && d != "|") return InvalidArgument("expected @, : or |");
         c.graph.username_delimiter = d[0];
         return Ok();
       }},
      {"graph", "sender", "", "mailbox to send as (default: the envelope sender)", Kind::kOther,
       SET(SetEmail(&c.graph.sender, v))},
      {"graph", "save_to_sent_items", "yes", "no: JSON form without a Sent Items copy",
       Kind::kOther, SET(Store(&c.graph.save_to_sent_items, ParseBool(v)))},
      {"graph", "endpoint", "https://graph.microsoft.com", "Graph endpoint", Kind::kString,
       SET(SetUrl(&c.graph.endpoint, v))},
      {"graph", "authority", "https://login.microsoftonline.com", "Entra authority", Kind::kString,
       SET(SetUrl(&c.graph.authority, v))},
      {"graph", "key_dir", "", "passthrough key pair directory (default: spool_dir/graph-keys)",
       Kind::kString,
       [](Config& c, const std::string& v) -> Status {
         std::string d(util::Trim(v));
         if (!d.empty() && d[0] != '/') return InvalidArgument("expected an absolute directory path");
         c.graph.key_dir = d;
         return Ok();
       }},

      // [ses]
      {"ses", "region", "us-east-1", "AWS region", Kind::kString,
       [](Config& c, const std::string& v) -> Status {
         std::string r(util::Trim(v));
         if (r.empty() || r.size() > 30) return InvalidArgument("expected an AWS region like eu-west-1");
         for (char ch : r) {
           if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-')) {
             return InvalidArgument("expected an AWS region like eu-west-1");
           }
         }
         c.ses.region = r;
         return Ok();
       }},
      {"ses", "endpoint", "", "default https://email.REGION.amazonaws.com", Kind::kString,
       SET(v.empty() ? (c.ses.endpoint.clear(), Ok()) : SetUrl(&c.ses.endpoint, v))},
      {"ses", "access_key_id", "", "static credentials (else the AWS credential chain)",
       Kind::kString, STR(ses.access_key_id)},
      {"ses", "secret_access_key_file", "", "secret for access_key_id", Kind::kSecretPath,
       STR(ses.secret_access_key_file)},
      {"ses", "configuration_set", "", "ConfigurationSetName", Kind::kString, STR(ses.configuration_set)},
      {"ses", "sender", "", "FromEmailAddress (default: the envelope sender)", Kind::kOther,
       SET(SetEmail(&c.ses.sender, v))},
      {"ses", "rewrite_from", "no", "rewrite From to sender, original into Reply-To", Kind::kOther,
       SET(Store(&c.ses.rewrite_from, ParseBool(v)))},
      {"ses", "tags", "", "EmailTags: name=value, ...", Kind::kList, SET(SetTags(&c.ses.tags, v))},

      // [file]
      {"file", "dir", "", "one .eml per message", Kind::kPath, STR(file.dir)},
  };
  AddCommon(&k, "smtp", "10", [](Config& c) -> BackendCommon& { return c.smtp; });
  AddCommon(&k, "azure", "8", [](Config& c) -> BackendCommon& { return c.azure; });
  AddCommon(&k, "graph", "4", [](Config& c) -> BackendCommon& { return c.graph; });
  AddCommon(&k, "ses", "8", [](Config& c) -> BackendCommon& { return c.ses; });
  AddCommon(&k, "file", "4", [](Config& c) -> BackendCommon& { return c.file; });
  // The SMTP client's per-command timeout is RFC 5321's 5 minutes, not an HTTP 30 s.
  for (auto& spec : k) {
    if (std::string(spec.section) == "smtp" && std::string(spec.key) == "timeout") {
      spec.default_value = "5m";
      spec.help = "per-command timeout (RFC 5321 4.5.3.2: 5m)";
    }
  }
  return k;
}

#undef SET
#undef STR

}  // namespace

const std::vector<KeySpec>& AllKeys() {
  static const std::vector<KeySpec> keys = Build();
  return keys;
}

const KeySpec* FindKey(const std::string& section, const std::string& key) {
  for (const auto& spec : AllKeys()) {
    if (section == spec.section && key == spec.key) return &spec;
  }
  return nullptr;
}

const std::vector<std::string>& SectionNames() {
  static const std::vector<std::string> names = {"server", "smtpd", "policy", "queue", "route",
                                                 "smtp",   "azure", "graph",  "ses",   "file"};
  return names;
}

bool IsKnownSection(const std::string& section) {
  for (const auto& s : SectionNames()) {
    if (s == section) return true;
  }
  return false;
}

}  // namespace mailrelay::config::internal
