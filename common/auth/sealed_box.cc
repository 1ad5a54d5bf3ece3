#include "common/auth/sealed_box.h"

#include <sodium.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>

#include "common/auth/sodium_ready.h"
#include "common/util/base64.h"
#include "common/util/crypto.h"
#include "common/util/file.h"
#include "common/util/strings.h"

namespace mailrelay::auth {

namespace {

using util::InvalidArgument;
using util::Result;
using util::Status;

static_assert(kBoxKeySize == crypto_box_PUBLICKEYBYTES);
static_assert(kBoxKeySize == crypto_box_SECRETKEYBYTES);
static_assert(kSealOverhead == crypto_box_SEALBYTES);

Status CheckKeyName(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name[0] == '.') {
    return InvalidArgument("bad key name '" + util::Printable(name) + "'");
  }
  return Status::Ok();
}

// Decodes a key file's base64 text; `path` is only for the message.
Result<std::string> DecodeKey(std::string_view text, const std::string& path) {
  auto key = util::Base64Decode(util::Trim(text));
  if (!key || key->size() != kBoxKeySize) {
    return InvalidArgument(path + ": not a base64 " + std::to_string(kBoxKeySize) + "-byte key");
  }
  return *key;
}

}  // namespace

BoxKeyPair GenerateBoxKeyPair() {
  if (!SodiumReady()) std::abort();  // no randomness source: nothing sensible to do
  unsigned char pk[crypto_box_PUBLICKEYBYTES];
  unsigned char sk[crypto_box_SECRETKEYBYTES];
  crypto_box_keypair(pk, sk);
  BoxKeyPair pair{std::string(reinterpret_cast<char*>(pk), sizeof pk),
                  std::string(reinterpret_cast<char*>(sk), sizeof sk)};
  sodium_memzero(sk, sizeof sk);
  return pair;
}

Result<BoxKeyPair> CreateBoxKeyFiles(const std::string& dir, const std::string& name) {
  MR_RETURN_IF_ERROR(CheckKeyName(name));
  std::string key_path = dir + "/" + name + ".key";
  if (util::FileExists(key_path)) {
    return Status(util::Code::kAlreadyExists,
                  key_path +
                      " exists; remove it first if you really want a new key pair "
                      "(sealed secrets still queued will become unreadable)");
  }
  BoxKeyPair pair = GenerateBoxKeyPair();
  std::string pub_name = name + ".pub";
  MR_RETURN_IF_ERROR(
      util::WriteFileAtomic(dir, pub_name, util::Base64Encode(pair.public_key) + "\n", 0644));
  // The umask may have taken away the read bits smtpd needs on the public key.
  std::string pub_path = dir + "/" + pub_name;
  if (::chmod(pub_path.c_str(), 0644) != 0) {
    return util::ErrnoStatus("chmod 0644 " + pub_path, errno);
  }
  std::string secret_text = util::Base64Encode(pair.secret_key) + "\n";
  Status st = util::WriteFileAtomic(dir, name + ".key", secret_text, 0600);
  sodium_memzero(secret_text.data(), secret_text.size());
  MR_RETURN_IF_ERROR(st);
  return pair;
}

Result<std::string> LoadBoxPublicKey(const std::string& dir, const std::string& name) {
  MR_RETURN_IF_ERROR(CheckKeyName(name));
  std::string path = dir + "/" + name + ".pub";
  MR_ASSIGN_OR_RETURN(std::string text, util::ReadFile(path, 4096));
  return DecodeKey(text, path);
}

Result<BoxKeyPair> LoadBoxKeyPair(const std::string& dir, const std::string& name) {
  if (!SodiumReady()) return util::Internal("libsodium failed to initialise");
  MR_ASSIGN_OR_RETURN(std::string public_key, LoadBoxPublicKey(dir, name));
  std::string path = dir + "/" + name + ".key";
  MR_ASSIGN_OR_RETURN(std::string text, util::ReadSecretFile(path));
  auto secret_key = DecodeKey(text, path);
  sodium_memzero(text.data(), text.size());
  if (!secret_key.ok()) return secret_key.status();
  unsigned char derived[crypto_box_PUBLICKEYBYTES];
  if (crypto_scalarmult_base(derived, reinterpret_cast<const unsigned char*>(secret_key->data())) !=
          0 ||
      !util::ConstantTimeEquals(std::string_view(reinterpret_cast<char*>(derived), sizeof derived),
                                public_key)) {
    return InvalidArgument(path + " does not belong to " + dir + "/" + name + ".pub");
  }
  return BoxKeyPair{std::move(public_key), std::move(secret_key).value()};
}

Result<std::string> Seal(std::string_view plaintext, std::string_view public_key) {
  if (!SodiumReady()) return util::Internal("libsodium failed to initialise");
  if (public_key.size() != kBoxKeySize) return InvalidArgument("sealed box: bad public key size");
  std::string out(plaintext.size() + kSealOverhead, '\0');
  if (crypto_box_seal(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                      reinterpret_cast<const unsigned char*>(public_key.data())) != 0) {
    return util::Internal("crypto_box_seal failed");
  }
  return out;
}

Result<std::string> Open(std::string_view ciphertext, std::string_view public_key,
                         std::string_view secret_key) {
  if (!SodiumReady()) return util::Internal("libsodium failed to initialise");
  if (public_key.size() != kBoxKeySize || secret_key.size() != kBoxKeySize) {
    return InvalidArgument("sealed box: bad key size");
  }
  if (ciphertext.size() < kSealOverhead) {
    return util::PermissionDenied("sealed box: ciphertext too short");
  }
  std::string out(ciphertext.size() - kSealOverhead, '\0');
  if (crypto_box_seal_open(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(ciphertext.data()),
                           ciphertext.size(),
                           reinterpret_cast<const unsigned char*>(public_key.data()),
                           reinterpret_cast<const unsigned char*>(secret_key.data())) != 0) {
    sodium_memzero(out.data(), out.size());
    return util::PermissionDenied(
        "sealed box: cannot open (wrong key pair, or the data was altered)");
  }
  return out;
}

}  // namespace mailrelay::auth
