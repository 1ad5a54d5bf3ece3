// Sealed boxes (libsodium crypto_box_seal) carrying the Graph passthrough secret.
// Thread-safe and stateless; the key-file functions block on file I/O.
// Every failure (wrong key, altered data, bad key file) is a Status; never half-decrypted.
//
// smtpd, which holds no secrets, seals the client secret a client sent in AUTH with the
// public key; only deliver-graph, holding the private key, can open it, so the spool and
// qmgr never see it in clear. X25519 + XSalsa20-Poly1305 with an ephemeral sender key.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/util/status.h"

namespace mailrelay::auth {

inline constexpr size_t kBoxKeySize = 32;    // X25519 public and secret keys
inline constexpr size_t kSealOverhead = 48;  // ephemeral public key + MAC
inline constexpr char kPassthroughKeyName[] = "passthrough";

struct BoxKeyPair {
  std::string public_key;  // kBoxKeySize raw bytes
  std::string secret_key;  // kBoxKeySize raw bytes
};

BoxKeyPair GenerateBoxKeyPair();

// Key files in `dir`: NAME.key holds the secret key (base64 + LF, mode 0600, read back with
// util::ReadSecretFile, which refuses it if group or others can read it); NAME.pub holds the
// public key (base64 + LF, mode 0644: it is not secret and smtpd must read it). Both are
// written with util::WriteFileAtomic, the public one first, so a crash leaves at worst a
// public key without its secret key, which Load refuses and Create overwrites.
//
// Creates a new pair. Refuses (kAlreadyExists) when NAME.key exists: replacing the key
// would make every sealed secret still in the queue unreadable.
util::Result<BoxKeyPair> CreateBoxKeyFiles(const std::string& dir,
                                           const std::string& name = kPassthroughKeyName);
// The public key alone (smtpd).
util::Result<std::string> LoadBoxPublicKey(const std::string& dir,
                                           const std::string& name = kPassthroughKeyName);
// Both keys (deliver-graph); fails if they do not belong together.
util::Result<BoxKeyPair> LoadBoxKeyPair(const std::string& dir,
                                        const std::string& name = kPassthroughKeyName);

// plaintext.size() + kSealOverhead bytes; each call uses a fresh ephemeral key, so sealing
// the same secret twice gives different ciphertexts.
util::Result<std::string> Seal(std::string_view plaintext, std::string_view public_key);
// kPermissionDenied if the ciphertext was not sealed to this key pair or was altered.
util::Result<std::string> Open(std::string_view ciphertext, std::string_view public_key,
                               std::string_view secret_key);

}  // namespace mailrelay::auth
