#include "common/config/config.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "common/config/keys.h"
#include "common/util/strings.h"

namespace mailrelay::config {
namespace {

// Minimal valid configuration; tests append or override.
const char kBase[] =
    "[server]\nhostname = relay.example.com\nspool_dir = /tmp/spool\nrun_dir = /tmp/run\n"
    "[policy]\nrecipient_domains = example.com\n"
    "[route]\ndefault = file\n"
    "[file]\ndir = /tmp/outbox\n";

LoadOptions NoEnv() {
  LoadOptions o;
  o.use_environment = false;
  o.cwd = "/base";
  return o;
}

util::Result<Config> LoadText(const std::string& text, LoadOptions o = NoEnv()) {
  return LoadFromString(text, "test.ini", o);
}

// Asserts that loading fails and that the message mentions every fragment.
void ExpectError(const std::string& text, std::initializer_list<const char*> fragments,
                 LoadOptions o = NoEnv()) {
  auto c = LoadText(text, o);
  ASSERT_FALSE(c.ok()) << "loaded fine:\n" << text;
  for (const char* f : fragments) {
    EXPECT_NE(c.status().message().find(f), std::string::npos)
        << "missing '" << f << "' in:\n" << c.status().message();
  }
}

TEST(Config, DefaultsAndBaseValues) {
  auto c = LoadText(kBase);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server.hostname, "relay.example.com");
  EXPECT_EQ(c->server.postmaster, "postmaster@relay.example.com");
  EXPECT_EQ(c->smtpd.max_message_size, 35ull << 20);
  EXPECT_EQ(c->smtpd.timeout, 300);
  ASSERT_EQ(c->smtpd.listen.size(), 1u);
  EXPECT_EQ(c->smtpd.listen[0].port, 25);
  EXPECT_EQ(c->policy.networks.size(), 2u);
  EXPECT_EQ(c->queue.max_age, 12 * 3600);
  EXPECT_EQ(*c->route.default_backend, Backend::kFile);
  EXPECT_EQ(c->UsedBackends(), std::vector<Backend>{Backend::kFile});
  EXPECT_EQ(c->smtp.timeout, 300);  // SMTP's default differs from the HTTP backends'
  EXPECT_EQ(c->azure.timeout, 30);
}

TEST(Config, HostnameDefaultsToThisHost) {
  auto c = LoadText("[policy]\nrecipient_domains = example.com\n[route]\ndefault = file\n[file]\ndir = /x\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->server.hostname.empty());
  EXPECT_EQ(c->server.postmaster, "postmaster@" + c->server.hostname);
}

TEST(Config, TheShippedSampleExplainsWhatToFillIn) {
  auto c = config::Load(std::string(MAILRELAY_SOURCE_DIR) + "/etc/mailrelay.ini", NoEnv());
  ASSERT_FALSE(c.ok());
  // Only the missing backend is wrong with the sample as shipped.
  EXPECT_EQ(c.status().message().find('\n'), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("[route] default is not set"), std::string::npos);
  LoadOptions o = NoEnv();
  o.overrides.push_back(*ParseOverride("route.default=file"));
  o.overrides.push_back(*ParseOverride("file.dir=/tmp"));
  EXPECT_TRUE(config::Load(std::string(MAILRELAY_SOURCE_DIR) + "/etc/mailrelay.ini", o).ok());
}

TEST(Config, TheMakeRunConfigIsValid) {
  auto c = config::Load(std::string(MAILRELAY_SOURCE_DIR) + "/etc/dev.ini", NoEnv());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->smtpd.listen[0].ToString(), "127.0.0.1:2525");
  EXPECT_EQ(*c->route.default_backend, Backend::kFile);
  EXPECT_EQ(c->file.dir, "/base/run/outbox");  // relative to where make run starts it
}

TEST(Config, TheDesignSampleLoads) {
  // DESIGN.md's sample, with its inline comments and comment-continuation lines.
  const char sample[] = R"(
[server]
hostname = relay.example.com      ; greeting, Received: header, DSNs
spool_dir = /var/spool/mailrelay
run_dir = /run/mailrelay
restart_per_hour = 5
restart_email = admin@example.com ; failure reports (optional)
postmaster = postmaster@example.com
log_format = text                 ; text | json
log_level = info                  ; debug | info | warning | error
metrics_listen = 127.0.0.1:9525   ; Prometheus /metrics and /healthz (optional)

[smtpd]
listen = 0.0.0.0:25, [::]:25      ; plain, STARTTLS offered when a cert is set
require_tls = no                  ; yes: MAIL and AUTH refused until STARTTLS
tls_min_version = 1.2             ; 1.0 | 1.1 | 1.2 | 1.3 (old printers and scanners may need 1.0)
auth = optional                   ; none: not offered, only networks relay | optional: networks relay
                                  ;   without AUTH, others must AUTH | required: everyone must AUTH
max_connections = 1000
max_connections_per_ip = 50
max_message_size = 35M
max_recipients = 100
timeout = 5m
proxy_protocol = no               ; HAProxy PROXY v1/v2 from a load balancer
greeting = mailrelay              ; text after "220 hostname ESMTP"

[policy]
networks = 127.0.0.0/8, ::1/128   ; clients allowed to relay without AUTH
mode = strict                     ; strict | auth_any_domain | net_any_domain | any_domain
recipient_domains = example.com   ; where mail may go (strict mode)
sender_domains =                  ; if set, envelope sender must be in these
sender_regex =                    ; if set, envelope sender must match
recipient_deny_regex =            ; matching recipients are refused

[queue]
max_messages = 10000              ; when the queue holds this many: 452 4.3.1 at MAIL FROM
retry_delay = 5m                  ; first retry; doubles up to max_retry_delay
max_retry_delay = 1h
max_attempts = 0                  ; 0 = until max_age
max_age = 12h                     ; then bounce as expired
send_log = yes
send_log_days = 3

[route]
default = smtp                    ; smtp | azure | graph | ses | file
; example.org = graph             ; per recipient domain

[smtp]
host = smtp.example.com
port = 587
tls = starttls                    ; none | starttls | implicit
tls_verify = yes                  ; verify chain and host name
ca_file =                         ; extra CA bundle (tests, private PKI)
username =
password_file =
auth_mechanism = auto             ; auto | plain | login | xoauth2 (Entra client credentials, M365)
concurrency = 10
rate_limit =                      ; e.g. 30/m; every backend section takes concurrency and rate_limit

[azure]
endpoint = https://NAME.communication.azure.com
sender = DoNotReply@example.com   ; From is rewritten to this; original From -> Reply-To
api_version = 2025-09-01          ; 2023-03-31 also works (no inline images)
authority = https://login.microsoftonline.com
concurrency = 8
timeout = 30s

[graph]
passthrough_auth = no
username_delimiter = @
save_to_sent_items = yes
endpoint = https://graph.microsoft.com

[ses]
region = us-east-1

[file]
dir = /var/spool/mailrelay/outbox ; one .eml per message, exactly as queued (CRLF), dev default
)";
  auto c = LoadText(sample);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server.restart_email, "admin@example.com");
  ASSERT_TRUE(c->server.metrics_listen.has_value());
  EXPECT_EQ(c->server.metrics_listen->port, 9525);
  EXPECT_EQ(c->smtpd.listen.size(), 2u);
  EXPECT_EQ(c->smtpd.auth, AuthMode::kOptional);
  EXPECT_EQ(c->smtp.host, "smtp.example.com");
  EXPECT_EQ(c->smtp.concurrency, 10);
  EXPECT_FALSE(c->smtp.rate_limit.enabled());
  EXPECT_EQ(c->file.dir, "/var/spool/mailrelay/outbox");
}

TEST(Config, EveryErrorNamesFileLineSectionKeyAndExpectation) {
  ExpectError(std::string(kBase) + "[smtpd]\nmax_message_size = 35Q\n",
              {"test.ini:12", "[smtpd] max_message_size", "35Q", "expected a size"});
  ExpectError(std::string(kBase) + "[smtpd]\ntimeout = 5x\n", {"test.ini:12", "expected a duration"});
  ExpectError(std::string(kBase) + "[smtpd]\nproxy_protocol = maybe\n", {"expected yes or no"});
  ExpectError(std::string(kBase) + "[smtpd]\nlisten = 1.2.3.4\n", {"[smtpd] listen", "ADDRESS:PORT"});
  ExpectError(std::string(kBase) + "[smtpd]\nlisten = [::1:25\n", {"[smtpd] listen"});
  ExpectError(std::string(kBase) + "[policy]\nnetworks = 10.0.0.0/33\n", {"[policy] networks", "prefix"});
  ExpectError(std::string(kBase) + "[policy]\nnetworks = 10.1.0.0/8\n", {"host bits", "10.0.0.0/8"});
  ExpectError(std::string(kBase) + "[policy]\nmode = open\n", {"expected one of: strict"});
  ExpectError(std::string(kBase) + "[policy]\nsender_regex = ([a-z\n", {"[policy] sender_regex", "regular expression"});
  ExpectError(std::string(kBase) + "[policy]\nsender_domains = bad..domain\n", {"[policy] sender_domains", "expected a domain"});
  ExpectError(std::string(kBase) + "[smtpd]\nmax_recipients = 0\n", {"from 1 to"});
  ExpectError(std::string(kBase) + "[smtpd]\ntls_min_version = 1.4\n", {"1.0 | 1.1 | 1.2 | 1.3"});
  ExpectError(std::string(kBase) + "[server]\npostmaster = nobody\n", {"expected an address"});
  ExpectError(std::string(kBase) + "[server]\nmetrics_listen = localhost\n", {"metrics_listen"});
  ExpectError(std::string(kBase) + "[smtp]\nrate_limit = 30/y\n", {"expected a rate"});
  ExpectError(std::string(kBase) + "[azure]\nendpoint = http://acs.example.com\n",
              {"http:// is accepted only for loopback"});
  ExpectError(std::string(kBase) + "[graph]\nusername_delimiter = #\n", {"expected @, : or |"});
}

TEST(Config, UnknownSectionsAndKeysAreErrors) {
  ExpectError(std::string(kBase) + "[bogus]\nx = 1\n", {"test.ini:11", "unknown section [bogus]"});
  ExpectError(std::string(kBase) + "[bogus]\n", {"unknown section [bogus]"});
  ExpectError(std::string(kBase) + "[smtpd]\nlistn = 1.2.3.4:25\n", {"test.ini:12", "unknown key 'listn'"});
  ExpectError("orphan = 1\n" + std::string(kBase), {"test.ini:1", "outside any [section]"});
  ExpectError(std::string(kBase) + "[smtpd]\njust some words\n", {"test.ini:12", "expected key = value"});
  ExpectError(std::string(kBase) + "[route]\nexample.org = postfix\n", {"expected a backend"});
  ExpectError(std::string(kBase) + "[route]\nnot a domain = smtp\n", {"unknown key"});
}

TEST(Config, AllErrorsAreReportedOnePerLine) {
  auto c = LoadText(std::string(kBase) + "[smtpd]\ntimeout = x\nmax_recipients = y\n[queue]\nmax_age = z\n");
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 2) << m;
  EXPECT_NE(m.find("test.ini:12"), std::string::npos);
  EXPECT_NE(m.find("test.ini:13"), std::string::npos);
  EXPECT_NE(m.find("test.ini:15"), std::string::npos);
}

TEST(Config, RequiredKeysPerUsedBackend) {
  const std::string head =
      "[server]\nhostname = r.example.com\n[policy]\nrecipient_domains = example.com\n";
  ExpectError(head + "[route]\ndefault = smtp\n", {"[smtp] host is required because [route] uses smtp"});
  ExpectError(head + "[route]\ndefault = azure\n",
              {"[azure] endpoint is required", "[azure] sender is required", "access_key_file"});
  ExpectError(head + "[route]\ndefault = graph\n", {"[graph] tenant_id is required", "passthrough_auth"});
  ExpectError(head + "[route]\ndefault = file\n", {"[file] dir is required"});
  ExpectError(head + "[route]\ndefault = smtp\nexample.org = azure\n[smtp]\nhost = s.example.com\n",
              {"[azure] endpoint is required"});
  ExpectError(head, {"[route] default is not set"});
  ExpectError(head + "[route]\ndefault = ses\n[ses]\naccess_key_id = AKID\n",
              {"[ses] secret_access_key_file is required"});
  ExpectError(head + "[route]\ndefault = azure\n[azure]\nendpoint = https://x.communication.azure.com\n"
                     "sender = a@example.com\naccess_key_file = /k\ntenant_id = t\n",
              {"not both"});
  // An unused backend section may stay empty.
  EXPECT_TRUE(LoadText(head + "[route]\ndefault = file\n[file]\ndir = /x\n[smtp]\nport = 25\n").ok());
}

TEST(Config, CrossKeyRules) {
  ExpectError(std::string(kBase) + "[smtpd]\ntls_cert_file = /c.pem\n", {"set both or neither"});
  ExpectError(std::string(kBase) + "[smtpd]\nlisten_tls = 0.0.0.0:465\n", {"listen_tls needs"});
  ExpectError(std::string(kBase) + "[smtpd]\nrequire_tls = yes\n", {"require_tls = yes needs"});
  ExpectError(std::string(kBase) + "[smtpd]\nauth = required\n", {"needs users_file"});
  ExpectError(std::string(kBase) + "[queue]\nretry_delay = 2h\n", {"longer than max_retry_delay"});
  ExpectError("[server]\nhostname = r.example.com\n[route]\ndefault = file\n[file]\ndir = /x\n",
              {"recipient_domains is empty"});
  ExpectError(std::string(kBase) + "[smtp]\ntls = encrypt\ntls_verify = yes\n[route]\nexample.org = smtp\n"
              "[smtp]\nhost = s.example.com\n", {"contradicts"});
}

TEST(Config, PostfixSecurityLevelsAreAliases) {
  auto c = LoadText(std::string(kBase) + "[smtp]\nhost = s.example.com\ntls = encrypt\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->smtp.tls, SmtpTls::kStartTls);
  EXPECT_FALSE(c->smtp.tls_verify);
  c = LoadText(std::string(kBase) + "[smtp]\nhost = s.example.com\ntls = secure\n");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->smtp.tls_verify);
  c = LoadText(std::string(kBase) + "[smtp]\nhost = s.example.com\ntls = may\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->smtp.tls, SmtpTls::kMay);
}

TEST(Config, RoutesBySenderAndDomain) {
  auto c = LoadText(std::string(kBase) +
                    "[route]\nexample.org = smtp\n*.sub.example.net = smtp\nsender:Billing@Example.com = file\n"
                    "sender:@ops.example.com = smtp\nfallback = file\nfallback_after = 2\n"
                    "[smtp]\nhost = [192.0.2.1]\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->route.domains.at("example.org"), Backend::kSmtp);
  EXPECT_EQ(c->route.domains.at(".sub.example.net"), Backend::kSmtp);
  ASSERT_EQ(c->route.senders.size(), 2u);
  std::map<std::string, Backend> senders;
  for (const auto& s : c->route.senders) senders[s.pattern] = s.backend;
  EXPECT_EQ(senders.at("billing@example.com"), Backend::kFile);  // lowercased
  EXPECT_EQ(senders.at("@ops.example.com"), Backend::kSmtp);
  EXPECT_EQ(*c->route.fallback, Backend::kFile);
  EXPECT_EQ(c->route.fallback_after, 2);
  EXPECT_EQ(c->smtp.host, "[192.0.2.1]");
}

TEST(Config, PrecedenceCommandLineOverEnvironmentOverFile) {
  std::string text = std::string(kBase) + "[smtpd]\ngreeting = from-file\nmax_recipients = 7\n";
  setenv("MAILRELAY_SMTPD_GREETING", "from-env", 1);
  setenv("MAILRELAY_SMTPD_MAX_RECIPIENTS", "8", 1);
  setenv("MAILRELAY_BIN", "/not/config", 1);  // other MAILRELAY_ variables are not ours
  LoadOptions o = NoEnv();
  o.use_environment = true;
  o.overrides.push_back(*ParseOverride("smtpd.greeting=from-cli"));
  auto c = LoadText(text, o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->smtpd.greeting, "from-cli");
  EXPECT_EQ(c->smtpd.max_recipients, 8);
  EXPECT_EQ(c->raw["smtpd"]["max_recipients"].origin, "environment MAILRELAY_SMTPD_MAX_RECIPIENTS");

  setenv("MAILRELAY_SMTPD_MAX_RECIPIENTS", "lots", 1);
  ExpectError(text, {"environment MAILRELAY_SMTPD_MAX_RECIPIENTS", "[smtpd] max_recipients"}, o);
  setenv("MAILRELAY_SMTPD_MAX_RECIPIENTS", "8", 1);
  setenv("MAILRELAY_SMTPD_LISTN", "1.2.3.4:25", 1);
  ExpectError(text, {"environment MAILRELAY_SMTPD_LISTN", "unknown key 'listn'"}, o);
  unsetenv("MAILRELAY_SMTPD_LISTN");
  setenv("MAILRELAY_SMTP_HOST", "env.example.com", 1);  // SMTP_ vs SMTPD_ prefixes
  c = LoadText(text, o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->smtp.host, "env.example.com");
  unsetenv("MAILRELAY_SMTP_HOST");
  unsetenv("MAILRELAY_SMTPD_GREETING");
  unsetenv("MAILRELAY_SMTPD_MAX_RECIPIENTS");

  LoadOptions bad = NoEnv();
  bad.overrides.push_back(*ParseOverride("smtpd.timeout=soon"));
  ExpectError(kBase, {"-o smtpd.timeout", "expected a duration"}, bad);
  EXPECT_FALSE(ParseOverride("smtpd").ok());
  EXPECT_FALSE(ParseOverride("smtpd=1").ok());
  EXPECT_FALSE(ParseOverride(".x=1").ok());
}

TEST(Config, RelativePathsResolveAgainstTheWorkingDirectory) {
  auto c = LoadText("[server]\nhostname = r.example.com\nspool_dir = run/spool\n"
                    "[policy]\nrecipient_domains = example.com\n[route]\ndefault = file\n[file]\ndir = run/outbox\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server.spool_dir, "/base/run/spool");
  EXPECT_EQ(c->file.dir, "/base/run/outbox");
}

TEST(Config, ContinuationLinesExtendListsOnly) {
  auto c = LoadText(std::string(kBase) + "[policy]\nnetworks = 10.0.0.0/8,\n  192.168.0.0/16\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->policy.networks.size(), 2u);
  ExpectError(std::string(kBase) + "[smtpd]\ngreeting = a\ngreeting = b\n", {"test.ini:13", "given twice", "first at test.ini:12"});
  ExpectError(std::string(kBase) + "[smtpd]\ngreeting = " + std::string(250, 'x') + "\n",
              {"test.ini:12", "line longer than"});
}

TEST(Config, QuotedValuesAndEmptyMeansDefault) {
  auto c = LoadText(std::string(kBase) + "[smtpd]\ngreeting = \"Legacy relay\"\nmax_recipients =\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->smtpd.greeting, "Legacy relay");
  EXPECT_EQ(c->smtpd.max_recipients, 100);
}

TEST(Config, EffectiveJsonRoundTrips) {
  auto c = LoadText(std::string(kBase) + "[smtpd]\nlisten = 127.0.0.1:2525\n[policy]\nsender_regex = ^a.*; b$\n"
                    "[route]\nexample.org = file\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto back = LoadFromJson(c->ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->smtpd.listen[0].port, 2525);
  EXPECT_EQ(back->policy.sender_regex.pattern, "^a.*; b$");
  EXPECT_EQ(back->route.domains.at("example.org"), Backend::kFile);
  EXPECT_EQ(back->file.dir, "/tmp/outbox");
  EXPECT_EQ(back->source, "test.ini");
  EXPECT_EQ(back->ToJson(), c->ToJson());
}

TEST(Config, CheckFilesRefusesLooseSecretsAndMissingFiles) {
  char tmpl[] = "/tmp/mr-cfg-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/pw") << "secret\n";
  chmod((dir + "/pw").c_str(), 0644);
  auto c = LoadText(std::string(kBase) + "[route]\nexample.org = smtp\n[smtp]\nhost = s.example.com\n"
                    "username = u\npassword_file = " + dir + "/pw\nca_file = " + dir + "/missing.pem\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto st = CheckFiles(*c);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("chmod 600"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("missing.pem"), std::string::npos) << st.message();
  chmod((dir + "/pw").c_str(), 0600);
  std::ofstream(dir + "/missing.pem") << "x";
  EXPECT_TRUE(CheckFiles(*c).ok());
  std::system(("rm -rf " + dir).c_str());
}


// --help-config (and the mailrelay.ini(5) man page generated from it) lists each section
// once, with every key of that section under it exactly once.
TEST(Describe, EachSectionOnceWithAllItsKeys) {
  std::string text = Describe();
  std::map<std::string, std::vector<std::string>> listed;
  std::string section;
  for (const auto& line : util::Split(text, '\n', false)) {
    if (line.empty()) continue;
    if (line.front() == '[') {
      section = line.substr(1, line.size() - 2);
      EXPECT_EQ(listed.count(section), 0u) << "section [" << section << "] listed twice";
      listed[section];
      continue;
    }
    listed[section].push_back(line.substr(0, line.find(" = ")));
  }
  for (const auto& spec : internal::AllKeys()) {
    const auto& keys = listed[spec.section];
    EXPECT_EQ(std::count(keys.begin(), keys.end(), spec.key), 1) << "[" << spec.section << "] " << spec.key;
  }
  EXPECT_EQ(listed["route"].front(), "default");
}

}  // namespace
}  // namespace mailrelay::config
