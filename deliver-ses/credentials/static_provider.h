// The long-term keys of [ses] access_key_id and secret_access_key_file, read by main() while
// the agent may still be root. First in the chain. Runs on the agent's loop; answers at once.
// Fails only on malformed keys (kInvalidArgument).
#pragma once

#include <string>

#include "deliver-ses/credentials/provider.h"

namespace mailrelay::ses {

class StaticProvider : public CredentialProvider {
 public:
  explicit StaticProvider(Credentials keys) : keys_(std::move(keys)) {}
  std::string Name() const override { return "[ses] access_key_id"; }
  void Fetch(CredentialsCallback done) override;

 private:
  Credentials keys_;
};

}  // namespace mailrelay::ses
