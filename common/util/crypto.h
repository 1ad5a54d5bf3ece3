// Digests, HMAC and randomness on OpenSSL 3 / libsodium. Thread-safe, no state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mailrelay::util {

std::string Sha256(std::string_view data);                          // 32 raw bytes
std::string HmacSha256(std::string_view key, std::string_view data);  // 32 raw bytes

// Incremental SHA-256 for streamed message bodies.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  Sha256Stream(Sha256Stream&& other) noexcept : ctx_(other.ctx_) { other.ctx_ = nullptr; }
  Sha256Stream& operator=(Sha256Stream&& other) noexcept;
  void Update(std::string_view data);
  std::string Finish();  // 32 raw bytes; the object is reset afterwards

 private:
  void* ctx_;  // EVP_MD_CTX
};

std::string RandomBytes(size_t n);  // cryptographically secure
uint64_t RandomU64();
// Random UUID version 4, lowercase 8-4-4-4-12.
std::string UuidV4();
// Name-based UUID (version 5 layout, SHA-256 truncated) of `name`: stable across retries.
std::string UuidFromName(std::string_view name);

// Constant-time comparison (libsodium sodium_memcmp); false when lengths differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace mailrelay::util
