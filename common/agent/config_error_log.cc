#include "common/agent/config_error_log.h"

#include "common/log/log.h"
#include "common/util/clock.h"

namespace mailrelay::agent {

void ConfigErrorLog::Report(const std::string& queue_id, const std::string& text) {
  constexpr int64_t kEverySeconds = 30;
  constexpr size_t kMaxDistinct = 100;  // beyond this, forget and start over
  const int64_t now = util::Clock::System().MonotonicMicros() / 1000000;
  if (seen_.size() > kMaxDistinct) seen_.clear();
  Seen& seen = seen_[text];
  if (seen.logged_at != 0 && now - seen.logged_at < kEverySeconds) {
    ++seen.suppressed;
    return;
  }
  log::Line line(log::Level::kError);
  line.Id(queue_id);
  if (seen.suppressed) line.Kv("same_error_since", seen.suppressed);
  line.Text("CONFIGURATION ERROR talking to " + service_ + ": " + text +
            "; mail is deferred, not bounced, until it is fixed");
  seen.logged_at = now;
  seen.suppressed = 0;
}

}  // namespace mailrelay::agent
