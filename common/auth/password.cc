#include "common/auth/password.h"

#include <crypt.h>
#include <sodium.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "common/auth/sodium_ready.h"
#include "common/util/crypto.h"
#include "common/util/strings.h"

namespace mailrelay::auth {

namespace {

using util::InvalidArgument;
using util::Result;

constexpr size_t kMaxHashLength = 512;
constexpr std::string_view kArgon2idPrefix = "$argon2id$";
constexpr std::string_view kArgon2iPrefix = "$argon2i$";

// An argon2id hash at exactly kArgon2OpsLimit / kArgon2MemLimit of a random password nobody
// knows (made once with crypto_pwhash_str_alg). A test checks that its parameters still
// match the constants above, so the dummy keeps costing what a real user's check costs.
constexpr char kDummyHash[] =
    "$argon2id$v=19$m=49152,t=3,p=1$iGHWsWvqniytjZGk7hm0uw$"
    "2Jw3+tVyjT9Jd6pXlmovg4qRTPtTtbl6vfkAiRIMWw0";

util::Status Unsupported(std::string_view what) {
  return InvalidArgument("unsupported hash: " + std::string(what));
}

bool IsBcryptBase64(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '/';
}

// Consumes "<key>=<decimal>" from the front of `s`.
std::optional<uint64_t> TakeParam(std::string_view& s, std::string_view key, char terminator) {
  if (s.substr(0, key.size()) != key || s.size() <= key.size() || s[key.size()] != '=') {
    return std::nullopt;
  }
  s.remove_prefix(key.size() + 1);
  size_t end = s.find(terminator);
  if (end == std::string_view::npos) return std::nullopt;
  std::string_view digits = s.substr(0, end);
  s.remove_prefix(end + 1);
  // A leading zero is a different string for the same number; libsodium would refuse it.
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  return util::ParseUint(digits);
}

// Decoded length of an unpadded standard-base64 field, or nullopt if it is not one
// (libsodium is strict about the unused trailing bits, and so are we).
std::optional<size_t> Base64FieldLength(std::string_view field) {
  if (field.empty() || field.size() > 256) return std::nullopt;
  unsigned char buf[256];
  size_t len = 0;
  if (sodium_base642bin(buf, sizeof buf, field.data(), field.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0) {
    return std::nullopt;
  }
  return len;
}

util::Status CheckArgon2(std::string_view body, std::string_view scheme) {
  // body: "v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>"
  std::string bad = "malformed " + std::string(scheme) + " hash";
  if (body.substr(0, 2) != "v=") {
    return Unsupported(std::string(scheme) + " without v=19 (argon2 version 1.0 is not supported)");
  }
  auto version = TakeParam(body, "v", '$');
  if (!version) return Unsupported(bad + " (bad v=)");
  if (*version != 19)
    return Unsupported(std::string(scheme) + " version v=" + std::to_string(*version) +
                       " (only v=19 is supported)");
  auto mem = TakeParam(body, "m", ',');
  auto passes = TakeParam(body, "t", ',');
  auto lanes = TakeParam(body, "p", '$');
  if (!mem || !passes || !lanes) return Unsupported(bad + " (expected m=,t=,p=)");
  if (*lanes < 1 || *lanes > 255) return Unsupported(bad + " (p= out of range)");
  if (*passes < 1 || *passes > kMaxArgon2Passes) {
    return Unsupported(bad + " (t= must be 1.." + std::to_string(kMaxArgon2Passes) + ")");
  }
  if (*mem < 8 * *lanes || *mem > kMaxArgon2MemKiB) {
    return Unsupported(bad + " (m= must be 8*p.." + std::to_string(kMaxArgon2MemKiB) + " KiB)");
  }
  size_t dollar = body.find('$');
  if (dollar == std::string_view::npos) return Unsupported(bad + " (no hash field)");
  auto salt_len = Base64FieldLength(body.substr(0, dollar));
  auto hash_len = Base64FieldLength(body.substr(dollar + 1));
  if (!salt_len || *salt_len < 8) return Unsupported(bad + " (bad salt)");
  if (!hash_len || *hash_len < 16) return Unsupported(bad + " (bad hash field)");
  return util::Status::Ok();
}

util::Status CheckBcrypt(std::string_view hash) {
  // "$2b$" cost(2 digits) "$" salt(22) digest(31): always 60 characters.
  if (hash.size() != 60 || hash[3] != '$' || hash[6] != '$') {
    return Unsupported("malformed bcrypt hash (expected 60 characters: $2b$NN$...)");
  }
  auto cost = util::ParseUint(hash.substr(4, 2));
  if (!cost || *cost < 4 || *cost > static_cast<uint64_t>(kMaxBcryptCost)) {
    return Unsupported("bcrypt cost must be 04.." + std::to_string(kMaxBcryptCost));
  }
  for (char c : hash.substr(7)) {
    if (!IsBcryptBase64(c)) return Unsupported("malformed bcrypt hash (bad character)");
  }
  return util::Status::Ok();
}

Result<bool> VerifyArgon2(const std::string& hash, std::string_view password) {
  errno = 0;
  if (crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0) return true;
  // libsodium says "mismatch" by setting EINVAL; any other failure means it could not even
  // decode or compute the hash (parameters it refuses, out of memory).
  if (errno == EINVAL) return false;
  if (errno == ENOMEM) return util::ResourceExhausted("out of memory verifying an argon2 hash");
  return Unsupported("libsodium cannot verify this argon2 hash");
}

Result<bool> VerifyBcrypt(const std::string& hash, std::string_view password) {
  // crypt(3) takes a C string; a NUL inside would silently shorten the password.
  if (password.find('\0') != std::string_view::npos) return false;
  std::string phrase(password);
  // crypt_data is ~32 KiB: on the heap, one per call, so concurrent workers share nothing
  // (plain crypt() uses a static buffer and is not thread-safe).
  auto data = std::make_unique<crypt_data>();  // value-initialised: zeroed, as crypt_rn wants
  const char* out = crypt_rn(phrase.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
  Result<bool> result = Unsupported("libxcrypt cannot verify this bcrypt hash");
  if (out != nullptr && out[0] != '*') result = util::ConstantTimeEquals(out, hash);
  sodium_memzero(phrase.data(), phrase.size());
  sodium_memzero(data.get(), sizeof(crypt_data));
  return result;
}

}  // namespace

Result<HashScheme> CheckHashFormat(std::string_view hash) {
  if (hash.empty()) return Unsupported("empty hash");
  if (hash.size() > kMaxHashLength) return Unsupported("hash too long");
  for (char c : hash) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return Unsupported("hash contains whitespace, control or non-ASCII characters");
    }
  }
  if (hash.substr(0, kArgon2idPrefix.size()) == kArgon2idPrefix) {
    MR_RETURN_IF_ERROR(CheckArgon2(hash.substr(kArgon2idPrefix.size()), "argon2id"));
    return HashScheme::kArgon2id;
  }
  if (hash.substr(0, kArgon2iPrefix.size()) == kArgon2iPrefix) {
    MR_RETURN_IF_ERROR(CheckArgon2(hash.substr(kArgon2iPrefix.size()), "argon2i"));
    return HashScheme::kArgon2i;
  }
  if (hash.size() >= 4 && hash.substr(0, 2) == "$2" && hash[3] == '$') {
    if (hash[2] == 'a' || hash[2] == 'b' || hash[2] == 'y') {
      MR_RETURN_IF_ERROR(CheckBcrypt(hash));
      return HashScheme::kBcrypt;
    }
    return Unsupported("bcrypt variant $2" + std::string(1, hash[2]) +
                       "$ (only $2a$, $2b$ and $2y$ are accepted)");
  }
  if (hash.substr(0, 9) == "$argon2d$") return Unsupported("argon2d (use argon2id)");
  return Unsupported("unknown scheme (expected $argon2id$, $argon2i$ or bcrypt $2a$/$2b$/$2y$)");
}

Result<std::string> HashPassword(std::string_view password) {
  if (!SodiumReady()) return util::Internal("libsodium failed to initialise");
  if (password.size() > crypto_pwhash_PASSWD_MAX) return InvalidArgument("password too long");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), kArgon2OpsLimit, kArgon2MemLimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return util::ResourceExhausted("cannot hash password: out of memory");
  }
  return std::string(out);
}

Result<bool> VerifyPassword(std::string_view stored_hash, std::string_view password) {
  if (!SodiumReady()) return util::Internal("libsodium failed to initialise");
  MR_ASSIGN_OR_RETURN(HashScheme scheme, CheckHashFormat(stored_hash));
  std::string hash(stored_hash);  // both libraries want a NUL-terminated string
  if (scheme == HashScheme::kBcrypt) return VerifyBcrypt(hash, password);
  return VerifyArgon2(hash, password);
}

void VerifyDummy(std::string_view password) {
  if (!SodiumReady()) return;
  if (crypto_pwhash_str_verify(kDummyHash, password.data(), password.size()) == 0) {
    // Nobody knows the dummy's password; matching it changes nothing.
  }
}

bool NeedsRehash(std::string_view stored_hash) {
  auto scheme = CheckHashFormat(stored_hash);
  if (!scheme.ok() || *scheme != HashScheme::kArgon2id || !SodiumReady()) return true;
  std::string hash(stored_hash);
  return crypto_pwhash_str_needs_rehash(hash.c_str(), kArgon2OpsLimit, kArgon2MemLimit) != 0;
}

namespace internal {
std::string_view DummyHashForTest() { return kDummyHash; }
}  // namespace internal

}  // namespace mailrelay::auth
