// "At most N deliveries in any window of P seconds" ([backend] rate_limit), exactly: a
// sliding log of the last N start times, not a token bucket that could let 2N through one
// window. Pure; times in microseconds.
#pragma once

#include <cstdint>
#include <deque>

#include "common/config/values.h"

namespace mailrelay::qmgr {

class RateWindow {
 public:
  void Configure(const config::Rate& rate);
  // How many may start now (SIZE_MAX-ish when unlimited).
  size_t Available(int64_t now_us);
  void Record(int64_t now_us);
  // Microseconds until one more may start (0 = now).
  int64_t WaitUs(int64_t now_us);

 private:
  void Expire(int64_t now_us);
  config::Rate rate_;
  std::deque<int64_t> starts_;
};

}  // namespace mailrelay::qmgr
