#include "common/log/log.h"

#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "common/json/json.h"
#include "common/util/clock.h"
#include "common/util/strings.h"

namespace mailrelay::log {

namespace {

struct State {
  std::mutex mu;
  std::string prog = "mailrelay";
  std::atomic<int> format{static_cast<int>(Format::kText)};
  std::atomic<int> level{static_cast<int>(Level::kInfo)};
  // Under systemd, journald stamps each line; elsewhere (make run, tests) we add the time.
  bool timestamps = std::getenv("JOURNAL_STREAM") == nullptr;
  std::atomic<bool> syslog{false};
};

State& S() {
  static State* s = new State();  // never destroyed: lines may be logged during exit
  return *s;
}

constexpr size_t kMaxLine = 4000;  // stays atomic through a pipe (PIPE_BUF is 4096)

bool IsSecretKey(std::string_view key) {
  std::string k = util::ToLower(key);
  for (const char* s : {"password", "secret", "token", "authorization", "passwd", "accesskey"}) {
    if (k.find(s) != std::string::npos) return true;
  }
  return false;
}

// Keeps UTF-8 but replaces control characters so a peer cannot forge a second log line.
std::string Clean(std::string_view s, size_t max_len) {
  std::string out;
  out.reserve(std::min(s.size(), max_len));
  for (char c : s) {
    if (out.size() >= max_len) {
      out += "...";
      break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  return out;
}

void WriteLine(std::string line) {
  if (S().syslog.load()) {
    syslog(LOG_MAIL | LOG_INFO, "%s", line.c_str());
    return;
  }
  if (line.size() > kMaxLine) {
    line.resize(kMaxLine - 4);
    line += "...";
  }
  line.push_back('\n');
  const char* p = line.data();
  size_t n = line.size();
  while (n) {
    ssize_t w = ::write(2, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to complain
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarning: return "warning";
    case Level::kError: return "error";
    case Level::kFatal: return "fatal";
  }
  return "info";
}

bool ParseLevel(std::string_view name, Level* out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarning, Level::kError}) {
    if (util::EqualsIgnoreCase(name, LevelName(l))) {
      *out = l;
      return true;
    }
  }
  return false;
}

bool ParseFormat(std::string_view name, Format* out) {
  if (util::EqualsIgnoreCase(name, "text")) { *out = Format::kText; return true; }
  if (util::EqualsIgnoreCase(name, "json")) { *out = Format::kJson; return true; }
  return false;
}

void Init(std::string_view prog, Format format, Level min_level) {
  State& s = S();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.prog = std::string(prog);
  }
  s.format = static_cast<int>(format);
  s.level = static_cast<int>(min_level);
}

void UseSyslog(const std::string& ident) {
  static std::string keep;  // openlog keeps the pointer
  keep = ident;
  openlog(keep.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
  S().syslog = true;
  S().timestamps = false;
}

void WriteRaw(std::string_view line) { WriteLine(std::string(line)); }

void SetLevel(Level min_level) { S().level = static_cast<int>(min_level); }
void SetFormat(Format format) { S().format = static_cast<int>(format); }
bool Enabled(Level level) { return static_cast<int>(level) >= S().level.load(); }
const std::string& Prog() { return S().prog; }

std::string FormatText(std::string_view prog, int pid, Level level, std::string_view id,
                       const std::vector<std::pair<std::string, std::string>>& kv,
                       std::string_view text) {
  std::string line;
  line.append(prog).append("[").append(std::to_string(pid)).append("]: ");
  if (level >= Level::kWarning) line.append(LevelName(level)).append(": ");
  // With a queue id the line is about a message: "ID: key=value ... (detail)", as in
  // DESIGN.md. Without one it is an event: "what happened key=value ...".
  bool event = id.empty() && !text.empty();
  if (!id.empty()) line.append(id).append(": ");
  if (event) line.append(text);
  bool first = !event;
  for (const auto& [k, v] : kv) {
    if (!first) line.push_back(' ');
    first = false;
    line.append(k).append("=").append(v);
  }
  if (!text.empty() && !event) {
    if (kv.empty()) {
      line.append(text);
    } else {
      line.append(" (").append(text).append(")");
    }
  }
  return line;
}

Line::Line(Level level) : level_(level), enabled_(Enabled(level)) {}

Line& Line::Id(std::string_view queue_id) {
  if (enabled_) id_ = Clean(queue_id, 64);
  return *this;
}

Line& Line::Kv(std::string_view key, std::string_view value) {
  if (enabled_) {
    fields_.push_back({std::string(key),
                       IsSecretKey(key) ? std::string("[redacted]") : Clean(value, 1000), false});
  }
  return *this;
}

Line& Line::Kv(std::string_view key, int64_t value) {
  if (enabled_) fields_.push_back({std::string(key), std::to_string(value), true});
  return *this;
}

Line& Line::Kv(std::string_view key, double value) {
  if (enabled_) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.2f", value);
    fields_.push_back({std::string(key), buf, true});
  }
  return *this;
}

Line& Line::Text(std::string_view text) {
  if (enabled_) text_ = Clean(text, 2000);
  return *this;
}

Line::~Line() {
  if (!enabled_) return;
  State& s = S();
  std::string prog;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    prog = s.prog;
  }
  int pid = static_cast<int>(::getpid());
  int64_t now = util::Clock::System().NowMicros();
  if (static_cast<Format>(s.format.load()) == Format::kJson) {
    json::Value v = json::Value::MakeObject();
    v.Set("time", util::IsoUtc(now));
    v.Set("prog", prog);
    v.Set("pid", pid);
    v.Set("level", LevelName(level_));
    if (!id_.empty()) v.Set("queue_id", id_);
    for (const auto& f : fields_) {
      if (f.number) {
        v.Set(f.key, json::Value(std::strtod(f.value.c_str(), nullptr)));
        if (f.value.find('.') == std::string::npos) {
          v.Set(f.key, json::Value(static_cast<int64_t>(std::strtoll(f.value.c_str(), nullptr, 10))));
        }
      } else {
        v.Set(f.key, f.value);
      }
    }
    if (!text_.empty()) v.Set("text", text_);
    WriteLine(v.Serialize());
    return;
  }
  std::vector<std::pair<std::string, std::string>> kv;
  kv.reserve(fields_.size());
  for (auto& f : fields_) kv.emplace_back(std::move(f.key), std::move(f.value));
  std::string line = FormatText(prog, pid, level_, id_, kv, text_);
  if (s.timestamps) line = util::IsoUtc(now) + " " + line;
  WriteLine(std::move(line));
}

}  // namespace mailrelay::log
