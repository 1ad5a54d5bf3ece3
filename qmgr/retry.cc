#include "qmgr/retry.h"

#include <algorithm>

namespace mailrelay::qmgr {

int64_t RetryDelay(int attempts, int64_t retry_delay, int64_t max_retry_delay, int64_t retry_after,
                   double unit_random) {
  if (retry_after > 0) return std::min<int64_t>(retry_after, 86400);
  int shift = std::clamp(attempts - 1, 0, 30);
  double base = static_cast<double>(retry_delay) * static_cast<double>(int64_t{1} << shift);
  base = std::min(base, static_cast<double>(max_retry_delay));
  double jitter = 0.9 + 0.2 * unit_random;
  return std::max<int64_t>(static_cast<int64_t>(base * jitter), 1);
}

}  // namespace mailrelay::qmgr
