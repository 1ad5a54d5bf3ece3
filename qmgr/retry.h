// When a deferred recipient is tried again: retry_delay doubling per attempt up to
// max_retry_delay, with +-10% jitter so a burst of deferrals does not return as a burst.
// A backend's Retry-After (throttling) decides alone: the backend said when, and a throttled
// message is not a failing one. Pure.
#pragma once

#include <cstdint>

namespace mailrelay::qmgr {

// attempts: attempts made so far (>= 1). unit_random in [0, 1).
int64_t RetryDelay(int attempts, int64_t retry_delay, int64_t max_retry_delay, int64_t retry_after,
                   double unit_random);

}  // namespace mailrelay::qmgr
