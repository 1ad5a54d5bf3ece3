// mailrelay.ini (DESIGN.md "Configuration") as typed structs, and the loader: defaults <
// file < environment (MAILRELAY_SECTION_KEY) < command line (-o section.key=value). Every
// error names where the value came from (file:line, env var, -o) and what was expected; all
// errors are collected, one per line. Pure: no process state beyond reading the file.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "common/config/values.h"
#include "common/log/log.h"
#include "common/util/status.h"

namespace mailrelay::config {

enum class Backend { kSmtp, kAzure, kGraph, kSes, kFile };
constexpr Backend kAllBackends[] = {Backend::kSmtp, Backend::kAzure, Backend::kGraph, Backend::kSes,
                                    Backend::kFile};
const char* BackendName(Backend b);  // "smtp", "azure", ...
std::optional<Backend> ParseBackend(std::string_view name);

enum class AuthMode { kNone, kOptional, kRequired };
enum class RelayMode { kStrict, kAuthAnyDomain, kNetAnyDomain, kAnyDomain };
enum class TlsVersion { k1_0, k1_1, k1_2, k1_3 };
enum class PlaintextAuth { kNo, kLoopback, kYes };
enum class SmtpTls { kNone, kMay, kStartTls, kImplicit };
enum class SmtpAuthMechanism { kAuto, kPlain, kLogin, kXoauth2 };

// A compiled regular expression plus its source (for messages and the effective config).
struct Regex {
  std::string pattern;
  std::shared_ptr<const std::regex> re;
  bool empty() const { return pattern.empty(); }
  bool Search(const std::string& s) const { return re && std::regex_search(s, *re); }
};

struct ServerConfig {
  std::string hostname;
  std::string spool_dir;
  std::string run_dir;
  int restart_per_hour = 5;
  std::string restart_email;
  std::string postmaster;
  log::Format log_format = log::Format::kText;
  log::Level log_level = log::Level::kInfo;
  std::optional<HostPort> metrics_listen;
  int64_t shutdown_timeout = 30;  // seconds SIGTERM waits for sessions and deliveries
  // Started as root: run children as mailrelay-smtpd / mailrelay / mailrelay-deliver.
  // "no" keeps everything as the invoking user (development checkouts under /root).
  bool privilege_separation = true;
};

struct SmtpdConfig {
  std::vector<HostPort> listen;
  std::vector<HostPort> listen_tls;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_key_passphrase_file;
  std::string tls_ciphers;  // TLS <= 1.2 cipher list; empty = Mozilla intermediate
  bool require_tls = false;
  TlsVersion tls_min_version = TlsVersion::k1_2;
  AuthMode auth = AuthMode::kOptional;
  PlaintextAuth allow_plaintext_auth = PlaintextAuth::kNo;
  std::string users_file;
  int max_connections = 1000;
  int max_connections_per_ip = 50;
  uint64_t max_message_size = 35ull << 20;
  int max_recipients = 100;
  int64_t timeout = 300;
  int64_t commit_timeout = 30;  // how long DATA waits for qmgr before 451 4.3.0
  bool proxy_protocol = false;
  std::string greeting = "mailrelay";
  bool tls_enabled() const { return !tls_cert_file.empty(); }
};

struct PolicyConfig {
  std::vector<Cidr> networks;
  RelayMode mode = RelayMode::kStrict;
  std::vector<std::string> recipient_domains;  // lowercase; ".example.com" = subdomains
  std::vector<std::string> sender_domains;
  Regex sender_regex;
  Regex recipient_deny_regex;
};

struct QueueConfig {
  int max_messages = 10000;
  int64_t retry_delay = 300;
  int64_t max_retry_delay = 3600;
  int max_attempts = 0;  // 0 = until max_age
  int64_t max_age = 12 * 3600;
  int64_t delay_warning = 0;  // 0 = no delay warning DSN
  bool send_log = true;
  int send_log_days = 3;
};

struct SenderRoute {
  std::string pattern;  // "user@example.com" or "@example.com"
  Backend backend;
};

struct RouteConfig {
  std::optional<Backend> default_backend;
  std::map<std::string, Backend> domains;  // recipient domain (lowercase, ".x" = subdomains)
  std::vector<SenderRoute> senders;        // an exact address beats @domain; sender rules win
  std::optional<Backend> fallback;
  int fallback_after = 0;  // deferrals on the primary before the fallback; 0 = from max_attempts or 3
};

// Keys every backend section takes.
struct BackendCommon {
  int concurrency = 4;
  Rate rate_limit;
  int64_t timeout = 30;
  std::string ca_file;
};

struct SmtpBackendConfig : BackendCommon {
  std::string host;  // name or [literal]
  int port = 587;
  SmtpTls tls = SmtpTls::kStartTls;
  bool tls_verify = true;
  std::string username;
  std::string password_file;
  SmtpAuthMechanism auth_mechanism = SmtpAuthMechanism::kAuto;
  std::string tenant_id;
  std::string client_id;
  std::string client_secret_file;
  std::string authority = "https://login.microsoftonline.com";
  std::string helo_name;  // default: [server] hostname
  int64_t connect_timeout = 30;
  int64_t data_timeout = 600;
  int64_t idle_timeout = 60;
  int max_messages_per_connection = 100;
};

struct AzureConfig : BackendCommon {
  std::string endpoint;
  std::string access_key_file;
  std::string tenant_id;
  std::string client_id;
  std::string client_secret_file;
  std::string sender;
  std::string api_version = "2025-09-01";
  std::string authority = "https://login.microsoftonline.com";
  bool engagement_tracking = false;  // false -> userEngagementTrackingDisabled = true
  bool poll_status = false;
};

struct GraphConfig : BackendCommon {
  std::string tenant_id;
  std::string client_id;
  std::string client_secret_file;
  bool passthrough_auth = false;
  char username_delimiter = '@';
  std::string sender;
  bool save_to_sent_items = true;
  std::string endpoint = "https://graph.microsoft.com";
  std::string authority = "https://login.microsoftonline.com";
  std::string key_dir;  // passthrough key pair; "" = spool_dir/graph-keys
};

struct SesConfig : BackendCommon {
  std::string region = "us-east-1";
  std::string endpoint;  // default https://email.REGION.amazonaws.com
  std::string access_key_id;
  std::string secret_access_key_file;
  std::string configuration_set;
  std::string sender;
  bool rewrite_from = false;
  std::vector<std::pair<std::string, std::string>> tags;  // EmailTags
};

struct FileConfig : BackendCommon {
  std::string dir;
};

// One raw value and where it came from, kept so the effective configuration can be printed
// and handed to child processes exactly.
struct RawValue {
  std::string value;
  std::string origin;  // "/etc/mailrelay/mailrelay.ini:12", "-o smtpd.listen", "environment X"
};

struct Config {
  ServerConfig server;
  SmtpdConfig smtpd;
  PolicyConfig policy;
  QueueConfig queue;
  RouteConfig route;
  SmtpBackendConfig smtp;
  AzureConfig azure;
  GraphConfig graph;
  SesConfig ses;
  FileConfig file;

  std::string source;  // the file it was loaded from
  // Effective values, section -> key -> raw; only keys set somewhere (not defaults).
  std::map<std::string, std::map<std::string, RawValue>> raw;

  // Backends [route] can send to (default, domains, senders, fallback), each once.
  std::vector<Backend> UsedBackends() const;
  const BackendCommon& Common(Backend b) const;
  // The effective configuration as JSON {section: {key: value}} (what children receive).
  std::string ToJson() const;
};

struct Override {
  std::string section;
  std::string key;
  std::string value;
  std::string origin;
};

struct LoadOptions {
  std::vector<Override> overrides;  // -o, in command-line order
  bool use_environment = true;      // MAILRELAY_SECTION_KEY
  std::string cwd;                  // relative paths are resolved against this ("" = getcwd)
};

// Parses "-o section.key=value".
util::Result<Override> ParseOverride(const std::string& arg);

// Loads the file, applies environment and overrides, validates. On failure the Status
// message holds every error found, one per line.
util::Result<Config> Load(const std::string& path, const LoadOptions& options);
// Loads from INI text (tests; `source` names it in errors).
util::Result<Config> LoadFromString(const std::string& text, const std::string& source,
                                    const LoadOptions& options);
// Rebuilds a Config from ToJson() output (child processes).
util::Result<Config> LoadFromJson(const std::string& json_text);

// Checks that the files the configuration names exist and, for secrets, have safe modes
// (used by --check and by mailrelayd at start, which runs as the user who can read them).
util::Status CheckFiles(const Config& config);

// A self-contained description of every key (for --help-config and docs).
std::string Describe();

}  // namespace mailrelay::config
