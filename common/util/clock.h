// The clock seam: wall time for timestamps and queue ids, monotonic time for timeouts.
// Code that schedules takes a Clock& so tests can drive time by hand. Thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace mailrelay::util {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMicros() const = 0;       // wall clock, microseconds since the epoch
  virtual int64_t MonotonicMicros() const = 0;  // never goes back
  int64_t NowSeconds() const { return NowMicros() / 1000000; }
  static Clock& System();
};

class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t now_micros = 1700000000LL * 1000000) : now_(now_micros) {}
  int64_t NowMicros() const override { return now_; }
  int64_t MonotonicMicros() const override { return now_; }
  void Advance(int64_t micros) { now_ += micros; }
  void Set(int64_t micros) { now_ = micros; }

 private:
  int64_t now_;
};

// RFC 5322 date-time in local time, e.g. "Mon, 23 Nov 2026 13:09:00 +0100".
std::string Rfc5322Date(int64_t unix_seconds);
// ISO 8601 UTC with milliseconds, e.g. "2026-11-23T12:09:00.123Z" (logs, JSON).
std::string IsoUtc(int64_t unix_micros);
// RFC 7231 IMF-fixdate, e.g. "Mon, 23 Nov 2026 12:09:00 GMT" (HTTP, x-ms-date).
std::string HttpDate(int64_t unix_seconds);

}  // namespace mailrelay::util
