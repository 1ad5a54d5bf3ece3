// Queue ids: 12 characters of Crockford base32 from microseconds since 2020 (50 bits) and a
// per-process counter (10 bits), so ids sort by arrival, are unique within one qmgr, and
// stay unique across restarts because time moves on. Single-threaded (qmgr's loop).
#pragma once

#include <cstdint>
#include <string>

#include "common/util/clock.h"

namespace mailrelay::qmgr {

class QueueIdGenerator {
 public:
  explicit QueueIdGenerator(const util::Clock& clock) : clock_(clock) {}
  std::string Next();

 private:
  const util::Clock& clock_;
  uint64_t last_ = 0;
};

bool IsValidQueueId(const std::string& id);

}  // namespace mailrelay::qmgr
