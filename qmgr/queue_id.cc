#include "qmgr/queue_id.h"

namespace mailrelay::qmgr {

namespace {
constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  // Crockford: no I L O U
constexpr int64_t kEpochMicros = 1577836800LL * 1000000;          // 2020-01-01T00:00:00Z
constexpr int kLength = 12;
}  // namespace

std::string QueueIdGenerator::Next() {
  uint64_t micros = static_cast<uint64_t>(clock_.NowMicros() - kEpochMicros) & ((1ull << 50) - 1);
  uint64_t value = micros << 10;
  if (value <= last_) value = last_ + 1;  // same microsecond, or the clock stepped back
  last_ = value;
  std::string id(kLength, '0');
  for (int i = kLength - 1; i >= 0; --i) {
    id[static_cast<size_t>(i)] = kAlphabet[value & 31];
    value >>= 5;
  }
  return id;
}

bool IsValidQueueId(const std::string& id) {
  if (id.size() != kLength) return false;
  for (char c : id) {
    bool ok = false;
    for (const char* a = kAlphabet; *a; ++a) ok |= (c == *a);
    if (!ok) return false;
  }
  return true;
}

}  // namespace mailrelay::qmgr
