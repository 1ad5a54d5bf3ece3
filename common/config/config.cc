#include "common/config/config.h"

#include <ini.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include "common/config/keys.h"
#include "common/json/json.h"
#include "common/util/file.h"
#include "common/util/strings.h"

extern char** environ;

namespace mailrelay::config {

using internal::AllKeys;
using internal::FindKey;
using internal::Kind;
using util::InvalidArgument;
using util::Status;

const char* BackendName(Backend b) {
  switch (b) {
    case Backend::kSmtp: return "smtp";
    case Backend::kAzure: return "azure";
    case Backend::kGraph: return "graph";
    case Backend::kSes: return "ses";
    case Backend::kFile: return "file";
  }
  return "?";
}

std::optional<Backend> ParseBackend(std::string_view name) {
  for (Backend b : kAllBackends) {
    if (util::EqualsIgnoreCase(util::Trim(name), BackendName(b))) return b;
  }
  return std::nullopt;
}

std::vector<Backend> Config::UsedBackends() const {
  std::set<Backend> used;
  if (route.default_backend) used.insert(*route.default_backend);
  for (const auto& [d, b] : route.domains) used.insert(b);
  for (const auto& s : route.senders) used.insert(s.backend);
  if (route.fallback) used.insert(*route.fallback);
  return std::vector<Backend>(used.begin(), used.end());
}

const BackendCommon& Config::Common(Backend b) const {
  switch (b) {
    case Backend::kSmtp: return smtp;
    case Backend::kAzure: return azure;
    case Backend::kGraph: return graph;
    case Backend::kSes: return ses;
    case Backend::kFile: return file;
  }
  return file;
}

std::string Config::ToJson() const {
  json::Value root = json::Value::MakeObject();
  root.Set("source", source);
  json::Value sections = json::Value::MakeObject();
  for (const auto& [section, keys] : raw) {
    json::Value s = json::Value::MakeObject();
    for (const auto& [key, rv] : keys) s.Set(key, rv.value);
    sections.Set(section, s);
  }
  root.Set("sections", sections);
  return root.Serialize();
}

util::Result<Override> ParseOverride(const std::string& arg) {
  size_t eq = arg.find('=');
  size_t dot = arg.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq || dot == 0 || dot + 1 == eq) {
    return InvalidArgument("-o " + arg + ": expected -o section.key=value");
  }
  Override o;
  o.section = util::ToLower(util::Trim(arg.substr(0, dot)));
  o.key = util::ToLower(util::Trim(arg.substr(dot + 1, eq - dot - 1)));
  o.value = std::string(util::Trim(arg.substr(eq + 1)));
  o.origin = "-o " + o.section + "." + o.key;
  return o;
}

namespace {

constexpr int kMaxIniLine = 200;  // INI_MAX_LINE of Debian's libinih
constexpr char kColonStandIn = '\x1f';

struct Entry {
  std::string value;
  std::string origin;
  bool continued = false;
};

// Collects raw values and every error, so one run reports all problems.
class Loader {
 public:
  explicit Loader(const LoadOptions& options) : options_(options) {
    cwd_ = options.cwd;
    if (cwd_.empty()) {
      char buf[4096];
      if (::getcwd(buf, sizeof buf)) cwd_ = buf;
    }
  }

  void Error(const std::string& msg) { errors_.push_back(msg); }

  // [route] takes domains and "sender:..." as keys, so it is checked apart.
  bool KnownKey(const std::string& section, const std::string& key) const {
    if (section == "route") return true;
    return FindKey(section, key) != nullptr;
  }

  void Set(const std::string& section, const std::string& key, std::string value,
           const std::string& origin, bool continuation) {
    if (!internal::IsKnownSection(section)) {
      Error(origin + ": unknown section [" + section + "]; known sections: " +
            util::Join(internal::SectionNames(), ", "));
      return;
    }
    if (!KnownKey(section, key)) {
      Error(origin + ": unknown key '" + key + "' in [" + section + "]");
      return;
    }
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    auto& slot = entries_[section][key];
    const internal::KeySpec* spec = FindKey(section, key);
    bool list = spec && spec->kind == Kind::kList;
    if (continuation && !slot.origin.empty()) {
      if (!list) {
        Error(origin + ": [" + section + "] " + key + " takes one value; it is continued on an indented line");
        return;
      }
      slot.value += ", " + value;  // long lists may be split over several lines
      return;
    }
    if (in_file_ && !slot.origin.empty()) {
      Error(origin + ": [" + section + "] " + key + " is given twice (first at " + slot.origin + ")");
      return;
    }
    slot.value = value;
    slot.origin = origin;
  }

  void LoadIni(const std::string& text, const std::string& source) {
    source_ = source;
    Reader reader{text, 0, 0, this, ""};
    in_file_ = true;
    int rc = ini_parse_stream(&Loader::ReadLine, &reader, &Loader::Handler, &reader);
    in_file_ = false;
    if (rc > 0 && !reader.reported_line_error) {
      Error(source + ":" + std::to_string(rc) + ": syntax error (expected [section] or key = value)");
    }
  }

  void LoadEnvironment() {
    for (char** e = environ; e && *e; ++e) {
      std::string var(*e);
      if (var.rfind("MAILRELAY_", 0) != 0) continue;
      size_t eq = var.find('=');
      if (eq == std::string::npos) continue;
      std::string name = var.substr(0, eq);
      std::string rest = name.substr(10);
      // Longest section name first: SMTPD_ must not be read as SMTP_ + D...
      std::string best;
      for (const auto& s : internal::SectionNames()) {
        std::string up = util::ToUpper(s) + "_";
        if (rest.rfind(up, 0) == 0 && up.size() > best.size()) best = s;
      }
      if (best.empty()) continue;  // not a configuration variable (e.g. MAILRELAY_BIN)
      std::string key = util::ToLower(rest.substr(best.size() + 1));
      std::string origin = "environment " + name;
      if (best == "route" && key != "default" && key != "fallback" && key != "fallback_after") {
        Error(origin + ": only MAILRELAY_ROUTE_DEFAULT, _FALLBACK and _FALLBACK_AFTER can be set "
              "from the environment; use -o route.DOMAIN=backend for domain routes");
        continue;
      }
      Set(best, key, var.substr(eq + 1), origin, false);
    }
  }

  void LoadJson(const json::Value& sections) {
    for (const auto& [section, keys] : sections.as_object()) {
      for (const auto& [key, v] : keys.as_object()) {
        Set(section, key, v.as_string(), "effective config", false);
      }
    }
  }

  util::Result<Config> Finish() {
    Config c;
    c.source = source_;
    // Defaults first, then user values, each through the same parser.
    for (const auto& spec : AllKeys()) {
      auto it = entries_.find(spec.section);
      const Entry* e = nullptr;
      if (it != entries_.end()) {
        auto kit = it->second.find(spec.key);
        if (kit != it->second.end()) e = &kit->second;
      }
      std::string value = e ? e->value : spec.default_value;
      if (e && value.empty()) value = spec.default_value;  // "key =" means the default
      if ((spec.kind == Kind::kPath || spec.kind == Kind::kSecretPath) && !value.empty() &&
          value[0] != '/') {
        value = cwd_ + "/" + value;
      }
      Status st = spec.set(c, value);
      if (!st.ok()) {
        std::string where = e ? e->origin : std::string("built-in default");
        Error(where + ": [" + spec.section + "] " + spec.key + " = \"" + util::Printable(value, 80) +
              "\": " + st.message());
        continue;
      }
      if (e) c.raw[spec.section][spec.key] = RawValue{value, e->origin};
    }
    LoadRoutes(&c);
    Validate(&c);
    if (!errors_.empty()) return InvalidArgument(util::Join(errors_, "\n"));
    return c;
  }

 private:
  struct Reader {
    const std::string& text;
    size_t pos;
    int line;
    Loader* loader;
    std::string section;
    bool continuation = false;
    bool reported_line_error = false;
  };

  // Feeds inih one line at a time, counting lines and seeing what inih will not tell us:
  // section headers (to catch unknown empty sections), indentation (continuations), and
  // lines too long for inih's fixed buffer.
  static char* ReadLine(char* str, int num, void* stream) {
    auto* r = static_cast<Reader*>(stream);
    if (r->pos >= r->text.size()) return nullptr;
    size_t end = r->text.find('\n', r->pos);
    size_t next = end == std::string::npos ? r->text.size() : end + 1;
    std::string line = r->text.substr(r->pos, next - r->pos);
    r->pos = next;
    ++r->line;
    std::string_view body = util::Trim(line);
    std::string where = r->loader->source_ + ":" + std::to_string(r->line);
    if (static_cast<int>(line.size()) >= num || line.size() >= kMaxIniLine) {
      r->loader->Error(where + ": line longer than " + std::to_string(kMaxIniLine - 1) +
                       " characters; continue a long list on indented lines");
      line = "; (skipped)\n";
    } else if (!body.empty() && body[0] == '[') {
      size_t close = body.find(']');
      if (close == std::string_view::npos) {
        r->loader->Error(where + ": expected [section]");
        r->reported_line_error = true;
        line = "; (skipped)\n";
      } else {
        std::string name = util::ToLower(util::Trim(body.substr(1, close - 1)));
        if (!internal::IsKnownSection(name)) {
          r->loader->Error(where + ": unknown section [" + name + "]; known sections: " +
                           util::Join(internal::SectionNames(), ", "));
          r->section = "\x01unknown";
        } else {
          r->section = name;
        }
      }
    } else if (!body.empty() && body[0] != ';' && body[0] != '#' &&
               body.find('=') == std::string_view::npos && body.find(':') == std::string_view::npos) {
      bool indented = line[0] == ' ' || line[0] == '\t';
      if (!indented) {
        r->loader->Error(where + ": expected key = value");
        r->reported_line_error = true;
        line = "; (skipped)\n";
      }
    }
    r->continuation = !line.empty() && (line[0] == ' ' || line[0] == '\t') && !body.empty() &&
                      body[0] != ';' && body[0] != '#';
    // inih splits "name: value" too; a ':' before the first '=' belongs to the key
    // ("sender:billing@example.com = ses"), so hide it from inih and restore it in Handler.
    size_t eq = line.find('=');
    if (eq != std::string::npos && !body.empty() && body[0] != '[' && body[0] != ';' && body[0] != '#') {
      for (size_t i = 0; i < eq; ++i) {
        if (line[i] == ':') line[i] = kColonStandIn;
      }
    }
    std::memcpy(str, line.data(), line.size());
    str[line.size()] = '\0';
    return str;
  }

  static int Handler(void* user, const char* section, const char* name, const char* value) {
    auto* r = static_cast<Reader*>(user);
    std::string where = r->loader->source_ + ":" + std::to_string(r->line);
    if (r->section == "\x01unknown") return 1;  // already reported once for the section
    std::string sec = util::ToLower(section);
    if (sec.empty()) {
      r->loader->Error(where + ": key '" + std::string(name) + "' outside any [section]");
      return 1;
    }
    std::string key = util::ToLower(util::Trim(name));
    for (char& ch : key) {
      if (ch == kColonStandIn) ch = ':';
    }
    r->loader->Set(sec, key, value, where, r->continuation);
    return 1;
  }

  void LoadRoutes(Config* c) {
    auto it = entries_.find("route");
    if (it == entries_.end()) return;
    for (const auto& [key, e] : it->second) {
      std::string where = e.origin + ": [route] " + key + " = \"" + util::Printable(e.value, 60) + "\": ";
      if (key == "fallback_after") {
        auto n = util::ParseUint(util::Trim(e.value));
        if (!n || *n < 1 || *n > 1000) {
          Error(where + "expected a whole number from 1 to 1000");
        } else {
          c->route.fallback_after = static_cast<int>(*n);
          c->raw["route"][key] = RawValue{e.value, e.origin};
        }
        continue;
      }
      auto backend = ParseBackend(e.value);
      if (!backend) {
        Error(where + "expected a backend: smtp | azure | graph | ses | file");
        continue;
      }
      c->raw["route"][key] = RawValue{e.value, e.origin};
      if (key == "default") {
        c->route.default_backend = backend;
      } else if (key == "fallback") {
        c->route.fallback = backend;
      } else if (key.rfind("sender:", 0) == 0) {
        std::string pattern(util::Trim(key.substr(7)));
        if (!pattern.empty() && pattern[0] == '@') {
          auto d = ParseDomain(pattern.substr(1), true);
          if (!d.ok()) {
            Error(where + "expected sender:user@domain or sender:@domain");
            continue;
          }
          pattern = "@" + *d;
        } else {
          auto a = ParseEmail(pattern);
          if (!a.ok()) {
            Error(where + "expected sender:user@domain or sender:@domain");
            continue;
          }
          pattern = util::ToLower(*a);
        }
        c->route.senders.push_back({pattern, *backend});
      } else {
        auto d = ParseDomain(key, true);
        if (!d.ok()) {
          Error(e.origin + ": [route] unknown key '" + key +
                "': expected default, fallback, fallback_after, a recipient domain or sender:ADDRESS");
          continue;
        }
        c->route.domains[*d] = *backend;
      }
    }
  }

  std::string Origin(const Config& c, const std::string& section, const std::string& key) const {
    auto s = c.raw.find(section);
    if (s != c.raw.end()) {
      auto k = s->second.find(key);
      if (k != s->second.end()) return k->second.origin + ": ";
    }
    return source_ + ": ";
  }

  void Require(const Config& c, const std::string& section, const std::string& key,
               const std::string& value, const std::string& why) {
    if (value.empty()) Error(Origin(c, section, key) + "[" + section + "] " + key + " is required " + why);
  }

  void Validate(Config* c) {
    auto& s = c->server;
    if (s.hostname.empty()) {
      char buf[256] = {};
      ::gethostname(buf, sizeof buf - 1);
      auto d = ParseDomain(buf, false);
      s.hostname = d.ok() ? *d : "localhost";
    }
    if (s.postmaster.empty()) s.postmaster = "postmaster@" + s.hostname;

    // Postfix security levels given as [smtp] tls imply tls_verify; an explicit
    // contradicting tls_verify is a mistake worth stopping for.
    auto tls_raw = c->raw["smtp"].find("tls");
    if (tls_raw != c->raw["smtp"].end()) {
      std::string level = util::ToLower(tls_raw->second.value);
      std::optional<bool> implied;
      if (level == "may" || level == "encrypt") implied = false;
      if (level == "verify" || level == "secure") implied = true;
      auto v_raw = c->raw["smtp"].find("tls_verify");
      if (implied && v_raw != c->raw["smtp"].end() && c->smtp.tls_verify != *implied) {
        Error(v_raw->second.origin + ": [smtp] tls_verify contradicts tls = " + level +
              " (which already means tls_verify = " + (*implied ? "yes" : "no") + ")");
      }
      if (implied) c->smtp.tls_verify = *implied;
    }

    const auto& d = c->smtpd;
    if (d.listen.empty() && d.listen_tls.empty()) {
      Error(Origin(*c, "smtpd", "listen") + "[smtpd] listen and listen_tls are both empty: nothing to serve");
    }
    if (d.tls_cert_file.empty() != d.tls_key_file.empty()) {
      Error(Origin(*c, "smtpd", d.tls_cert_file.empty() ? "tls_key_file" : "tls_cert_file") +
            "[smtpd] tls_cert_file and tls_key_file go together: set both or neither");
    }
    if (!d.listen_tls.empty() && !d.tls_enabled()) {
      Error(Origin(*c, "smtpd", "listen_tls") + "[smtpd] listen_tls needs tls_cert_file and tls_key_file");
    }
    if (d.require_tls && !d.tls_enabled()) {
      Error(Origin(*c, "smtpd", "require_tls") + "[smtpd] require_tls = yes needs tls_cert_file and tls_key_file");
    }
    bool passthrough = c->graph.passthrough_auth;
    if (d.auth == AuthMode::kRequired && d.users_file.empty() && !passthrough) {
      Error(Origin(*c, "smtpd", "auth") +
            "[smtpd] auth = required needs users_file (create users with relayctl user add)");
    }
    if (passthrough && d.auth == AuthMode::kNone) {
      Error(Origin(*c, "graph", "passthrough_auth") +
            "[graph] passthrough_auth = yes needs [smtpd] auth = optional or required");
    }
    if (c->policy.mode == RelayMode::kStrict && c->policy.recipient_domains.empty()) {
      Error(Origin(*c, "policy", "recipient_domains") +
            "[policy] recipient_domains is empty, so strict mode would refuse every recipient; "
            "list the domains mail may go to, or choose another mode");
    }
    if (c->queue.retry_delay > c->queue.max_retry_delay) {
      Error(Origin(*c, "queue", "retry_delay") + "[queue] retry_delay is longer than max_retry_delay");
    }

    if (!c->route.default_backend && c->route.domains.empty() && c->route.senders.empty()) {
      Error(Origin(*c, "route", "default") +
            "[route] default is not set: choose a backend (smtp | azure | graph | ses | file) "
            "and fill in its section");
      return;
    }
    if (!c->route.default_backend) {
      Error(Origin(*c, "route", "default") +
            "[route] default is required: it takes recipients no other rule matches");
    }
    if (c->route.fallback && c->route.default_backend && *c->route.fallback == *c->route.default_backend &&
        c->route.domains.empty() && c->route.senders.empty()) {
      Error(Origin(*c, "route", "fallback") + "[route] fallback is the same backend as default");
    }
    for (Backend b : c->UsedBackends()) ValidateBackend(*c, b);
  }

  void ValidateBackend(const Config& c, Backend b) {
    const std::string why = std::string("because [route] uses ") + BackendName(b);
    switch (b) {
      case Backend::kSmtp:
        Require(c, "smtp", "host", c.smtp.host, why);
        if (c.smtp.auth_mechanism == SmtpAuthMechanism::kXoauth2) {
          Require(c, "smtp", "tenant_id", c.smtp.tenant_id, "for auth_mechanism = xoauth2");
          Require(c, "smtp", "client_id", c.smtp.client_id, "for auth_mechanism = xoauth2");
          Require(c, "smtp", "client_secret_file", c.smtp.client_secret_file, "for auth_mechanism = xoauth2");
          Require(c, "smtp", "username", c.smtp.username, "for xoauth2 (the mailbox to send as)");
        } else if (!c.smtp.username.empty()) {
          Require(c, "smtp", "password_file", c.smtp.password_file, "when username is set");
        } else if (!c.smtp.password_file.empty()) {
          Require(c, "smtp", "username", c.smtp.username, "when password_file is set");
        }
        if (c.smtp.tls == SmtpTls::kNone && !c.smtp.username.empty()) {
          // Allowed, because tls = none was chosen explicitly; say so loudly in the log.
        }
        break;
      case Backend::kAzure: {
        Require(c, "azure", "endpoint", c.azure.endpoint, why);
        Require(c, "azure", "sender", c.azure.sender, why + " (a verified MailFrom address)");
        bool key = !c.azure.access_key_file.empty();
        bool sp = !c.azure.tenant_id.empty() || !c.azure.client_id.empty() ||
                  !c.azure.client_secret_file.empty();
        if (key && sp) {
          Error(Origin(c, "azure", "access_key_file") +
                "[azure] set either access_key_file or tenant_id/client_id/client_secret_file, not both");
        } else if (!key && !sp) {
          Error(Origin(c, "azure", "access_key_file") +
                "[azure] needs access_key_file, or tenant_id + client_id + client_secret_file " + why);
        } else if (sp) {
          Require(c, "azure", "tenant_id", c.azure.tenant_id, "for Entra ID authentication");
          Require(c, "azure", "client_id", c.azure.client_id, "for Entra ID authentication");
          Require(c, "azure", "client_secret_file", c.azure.client_secret_file, "for Entra ID authentication");
        }
        break;
      }
      case Backend::kGraph:
        if (!c.graph.passthrough_auth) {
          Require(c, "graph", "tenant_id", c.graph.tenant_id, why + " (or set passthrough_auth = yes)");
          Require(c, "graph", "client_id", c.graph.client_id, why);
          Require(c, "graph", "client_secret_file", c.graph.client_secret_file, why);
        }
        break;
      case Backend::kSes:
        if (!c.ses.access_key_id.empty()) {
          Require(c, "ses", "secret_access_key_file", c.ses.secret_access_key_file, "when access_key_id is set");
        } else if (!c.ses.secret_access_key_file.empty()) {
          Require(c, "ses", "access_key_id", c.ses.access_key_id, "when secret_access_key_file is set");
        }
        if (c.ses.rewrite_from) Require(c, "ses", "sender", c.ses.sender, "when rewrite_from = yes");
        break;
      case Backend::kFile:
        Require(c, "file", "dir", c.file.dir, why);
        break;
    }
  }

  const LoadOptions& options_;
  std::string cwd_;
  std::string source_;
  std::map<std::string, std::map<std::string, Entry>> entries_;
  std::vector<std::string> errors_;
  bool in_file_ = false;

 public:
  void ApplyOverrides() {
    if (options_.use_environment) LoadEnvironment();
    for (const auto& o : options_.overrides) Set(o.section, o.key, o.value, o.origin, false);
  }
};

}  // namespace

util::Result<Config> LoadFromString(const std::string& text, const std::string& source,
                                    const LoadOptions& options) {
  Loader loader(options);
  loader.LoadIni(text, source);
  loader.ApplyOverrides();
  return loader.Finish();
}

util::Result<Config> Load(const std::string& path, const LoadOptions& options) {
  auto text = util::ReadFile(path, 1 << 20);
  if (!text.ok()) return InvalidArgument(text.status().message());
  return LoadFromString(*text, path, options);
}

util::Result<Config> LoadFromJson(const std::string& json_text) {
  auto doc = json::Parse(json_text);
  if (!doc.ok()) return InvalidArgument("effective config: " + doc.status().message());
  LoadOptions options;
  options.use_environment = false;
  options.cwd = "/";
  Loader loader(options);
  loader.LoadJson((*doc)["sections"]);
  auto c = loader.Finish();
  if (c.ok()) c->source = (*doc)["source"].as_string();
  return c;
}

Status CheckFiles(const Config& c) {
  std::vector<std::string> errors;
  auto origin = [&](const std::string& section, const std::string& key) {
    auto s = c.raw.find(section);
    if (s != c.raw.end()) {
      auto k = s->second.find(key);
      if (k != s->second.end()) return k->second.origin + ": ";
    }
    return c.source + ": ";
  };
  std::set<std::string> used_sections = {"server", "smtpd", "policy", "queue"};
  for (Backend b : c.UsedBackends()) used_sections.insert(BackendName(b));
  for (const auto& spec : AllKeys()) {
    if (!used_sections.count(spec.section)) continue;
    if (spec.kind != Kind::kPath && spec.kind != Kind::kSecretPath) continue;
    auto s = c.raw.find(spec.section);
    if (s == c.raw.end()) continue;
    auto k = s->second.find(spec.key);
    if (k == s->second.end() || k->second.value.empty()) continue;
    const std::string& path = k->second.value;
    std::string key = spec.key;
    // Directories are created at start; only files must exist beforehand.
    if (key == "spool_dir" || key == "run_dir" || key == "dir") continue;
    if (spec.kind == Kind::kSecretPath) {
      auto r = util::ReadSecretFile(path);
      if (!r.ok()) errors.push_back(origin(spec.section, key) + "[" + spec.section + "] " + key + ": " + r.status().message());
      continue;
    }
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      if (key == "users_file") continue;  // relayctl user add creates it
      errors.push_back(origin(spec.section, key) + "[" + spec.section + "] " + key + ": " + path +
                       ": " + std::strerror(errno));
    } else if (key == "users_file" && (st.st_mode & 007)) {
      errors.push_back(origin(spec.section, key) + "[smtpd] users_file " + path +
                       " is readable by others; run: chmod 640 " + path);
    }
  }
  if (!errors.empty()) return InvalidArgument(util::Join(errors, "\n"));
  return Status::Ok();
}

std::string Describe() {
  // Keys shared by every backend are registered after the backend-specific ones; gather
  // each section's keys in one place, in the order of etc/mailrelay.ini, [route] after
  // [queue].
  std::vector<std::string> order;
  for (const auto& spec : AllKeys()) {
    if (std::find(order.begin(), order.end(), spec.section) == order.end()) order.push_back(spec.section);
  }
  auto queue = std::find(order.begin(), order.end(), "queue");
  order.insert(queue == order.end() ? order.end() : queue + 1, "route");
  std::string out;
  for (const auto& section : order) {
    out += "\n[" + section + "]\n";
    if (section == "route") {
      out += "default = BACKEND    ; smtp | azure | graph | ses | file\n"
             "DOMAIN = BACKEND    ; per recipient domain (.example.com: subdomains too)\n"
             "sender:ADDRESS = BACKEND    ; per envelope sender (user@domain or @domain); sender rules win\n"
             "fallback = BACKEND    ; after fallback_after deferrals on the primary\n"
             "fallback_after = N    ; default: [queue] max_attempts, or 3 when that is 0\n";
      continue;
    }
    for (const auto& spec : AllKeys()) {
      if (spec.section != section) continue;
      out += std::string(spec.key) + " = " + spec.default_value + "    ; " + spec.help + "\n";
    }
  }
  return out;
}

}  // namespace mailrelay::config
