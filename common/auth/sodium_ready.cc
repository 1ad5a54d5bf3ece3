#include "common/auth/sodium_ready.h"

#include <sodium.h>

namespace mailrelay::auth {

bool SodiumReady() {
  // sodium_init() is itself thread-safe and idempotent; the static only saves the call.
  static const bool ready = sodium_init() >= 0;
  return ready;
}

}  // namespace mailrelay::auth
