// Password hashes for SMTP AUTH users: argon2id (relayctl writes it), argon2i, bcrypt.
// Thread-safe and blocking (tens of ms a call): smtpd verifies on its worker pool.
// Fails with a Status ("unsupported hash: ..."); a malformed hash never crashes or matches.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/util/status.h"

namespace mailrelay::auth {

// Cost of the argon2id hashes HashPassword() writes. 48 MiB with 3 passes takes 70-110 ms
// on the 2-core development box: slow enough that an offline guesser gets only ~10 tries
// per core-second, quick enough that an AUTH burst from a printer fleet does not queue
// behind the pool. Memory is the real limit: every concurrent verification holds
// kArgon2MemLimit, so smtpd's pool of N workers peaks at N x 48 MiB. Above OWASP's floor
// for argon2id (19 MiB, t=2).
inline constexpr uint64_t kArgon2OpsLimit = 3;
inline constexpr size_t kArgon2MemLimit = size_t{48} << 20;

// Upper bounds for parameters read from a users file. A hash is input like any other: a
// typo'd "m=" or a bcrypt cost of 31 would pin a worker for minutes (or exhaust memory),
// so such hashes are refused when the file is loaded rather than tried.
inline constexpr uint64_t kMaxArgon2MemKiB = uint64_t{1} << 20;  // 1 GiB
inline constexpr uint64_t kMaxArgon2Passes = 64;
inline constexpr int kMaxBcryptCost = 18;

enum class HashScheme { kArgon2id, kArgon2i, kBcrypt };

// Checks that `stored_hash` is a hash this module can verify, without verifying anything
// (cheap). Errors are InvalidArgument and start with "unsupported hash" or "malformed ...";
// they never echo the hash itself.
util::Result<HashScheme> CheckHashFormat(std::string_view stored_hash);

// Hashes `password` with argon2id at kArgon2OpsLimit / kArgon2MemLimit and a random salt.
// Fails only if the password is longer than libsodium allows or memory is short.
util::Result<std::string> HashPassword(std::string_view password);

// true: the password matches; false: it does not. An error means the hash itself is
// unusable (unsupported scheme, malformed, out-of-bounds cost), which is a configuration
// problem, not a wrong password. bcrypt compares the whole crypt(3) output in constant time;
// a password containing NUL never matches a bcrypt hash (crypt(3) would truncate it).
util::Result<bool> VerifyPassword(std::string_view stored_hash, std::string_view password);

// Spends the time of one real verification of a default-cost hash, for user names that do
// not exist, so the reply time does not reveal which names are valid. Always "fails".
void VerifyDummy(std::string_view password);

// true when `stored_hash` is not an argon2id hash at today's cost (bcrypt, argon2i, older
// parameters), so a caller that has just verified the password may store a fresh hash.
bool NeedsRehash(std::string_view stored_hash);

namespace internal {
// The hash VerifyDummy() checks against (tests assert its cost matches the constants).
std::string_view DummyHashForTest();
}  // namespace internal

}  // namespace mailrelay::auth
