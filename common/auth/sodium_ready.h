// libsodium must be initialised once before use; every user in common/auth asks here.
#pragma once

namespace mailrelay::auth {

// True once sodium_init() succeeded (thread-safe, idempotent; the answer is cached).
bool SodiumReady();

}  // namespace mailrelay::auth
