// One line per event, as DESIGN.md "Logging" fixes it:
//   text: prog[pid]: QUEUEID: key=value key=value (free text)
//   json: {"time":...,"prog":...,"pid":...,"level":...,"queue_id":...,"key":"value",...,"text":...}
// Lines go to stderr in one write(2) each (journald, or mailrelayd's per-child pipe, picks
// them up). Thread-safe. Values of keys that name secrets are redacted; peer-supplied text is
// stripped of control characters so one event is always one line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mailrelay::log {

enum class Level { kDebug = 0, kInfo, kWarning, kError, kFatal };
enum class Format { kText, kJson };

// Called once per process before the first line; may be called again on reload.
void Init(std::string_view prog, Format format, Level min_level);
void SetLevel(Level min_level);
void SetFormat(Format format);
bool Enabled(Level level);
const std::string& Prog();

// Builds one event and writes it when destroyed:
//   log::Info().Id(qid).Kv("to", "<b@x>").Kv("status", "sent").Text("202 Accepted");
class Line {
 public:
  explicit Line(Level level);
  ~Line();
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;

  Line& Id(std::string_view queue_id);
  Line& Kv(std::string_view key, std::string_view value);
  Line& Kv(std::string_view key, const char* value) { return Kv(key, std::string_view(value)); }
  Line& Kv(std::string_view key, const std::string& value) { return Kv(key, std::string_view(value)); }
  Line& Kv(std::string_view key, int64_t value);
  Line& Kv(std::string_view key, int value) { return Kv(key, static_cast<int64_t>(value)); }
  Line& Kv(std::string_view key, uint64_t value) { return Kv(key, static_cast<int64_t>(value)); }
  Line& Kv(std::string_view key, double value);
  Line& Kv(std::string_view key, bool value) { return Kv(key, std::string_view(value ? "yes" : "no")); }
  Line& Text(std::string_view text);

 private:
  struct Field {
    std::string key;
    std::string value;
    bool number;
  };
  Level level_;
  bool enabled_;
  std::string id_;
  std::vector<Field> fields_;
  std::string text_;
};

inline Line Debug() { return Line(Level::kDebug); }
inline Line Info() { return Line(Level::kInfo); }
inline Line Warning() { return Line(Level::kWarning); }
inline Line Error() { return Line(Level::kError); }
inline Line Fatal() { return Line(Level::kFatal); }  // the caller exits afterwards

// mailrelayd in the background logs through syslog (facility mail) instead of stderr.
void UseSyslog(const std::string& ident);
// Writes an already formatted line (a child's stderr line forwarded by mailrelayd).
void WriteRaw(std::string_view line);

// Formats without writing (tests, and mailrelayd's failure reports).
std::string FormatText(std::string_view prog, int pid, Level level, std::string_view id,
                       const std::vector<std::pair<std::string, std::string>>& kv,
                       std::string_view text);

const char* LevelName(Level level);
bool ParseLevel(std::string_view name, Level* out);
bool ParseFormat(std::string_view name, Format* out);

}  // namespace mailrelay::log
