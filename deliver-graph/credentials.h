// Whose token a delivery uses: the [graph] application (tenant_id, client_id and the secret
// from client_secret_file, read at start-up while the agent may still be root), or the
// tenant/client/secret a client gave in passthrough AUTH, which travels with the message
// sealed to deliver-graph's key (libsodium crypto_box_seal) so the spool never holds it in
// clear. Pure functions apart from the file read; errors never quote a secret.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/auth/sealed_box.h"
#include "common/config/config.h"
#include "common/util/status.h"

namespace mailrelay::graph {

// Overwrites a secret in memory (sodium_memzero, which the compiler may not elide), then
// empties the string.
void WipeSecret(std::string* s);

struct Credentials {
  std::string tenant_id;
  std::string client_id;
  std::string client_secret;  // never logged, never in an error message

  Credentials() = default;
  Credentials(std::string tenant, std::string client, std::string secret)
      : tenant_id(std::move(tenant)),
        client_id(std::move(client)),
        client_secret(std::move(secret)) {}
  Credentials(const Credentials&) = default;
  Credentials& operator=(const Credentials&) = default;
  Credentials(Credentials&&) = default;
  Credentials& operator=(Credentials&&) = default;
  ~Credentials();  // wipes the secret
};

// The [graph] application, or nullopt when tenant_id/client_id/client_secret_file are not all
// set (passthrough only). Errors name the file and the problem.
util::Result<std::optional<Credentials>> LoadStaticCredentials(const config::GraphConfig& graph);

// The sealed plaintext: "mailrelay-graph-1\n" tenant "\n" client "\n" secret. The secret comes
// last so it may hold any byte; the ids are what passthrough AUTH checked, so the queue can
// never pair a secret with another application's ids.
std::string EncodeCredentials(const Credentials& credentials);
util::Result<Credentials> DecodeCredentials(std::string_view plaintext);

// Seal for the spool / open per job. Open fails (kPermissionDenied) for data sealed to another
// key pair or altered, and (kInvalidArgument) for a well-sealed blob that is not ours.
util::Result<std::string> SealCredentials(const Credentials& credentials,
                                          std::string_view public_key);
util::Result<Credentials> OpenCredentials(std::string_view sealed, const auth::BoxKeyPair& keys);

}  // namespace mailrelay::graph
