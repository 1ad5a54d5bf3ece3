// deliver-graph's passthrough key pair (X25519, common/auth/sealed_box.h): passthrough.key
// (mode 0600) and passthrough.pub in [graph] key_dir, by default spool_dir/graph-keys (mode
// 0700), both owned by the delivery user. Created on the first start with passthrough_auth;
// never replaced once it exists, because every passthrough message still queued is sealed to
// it. Start-up only (blocking file I/O, may run as root). A key file that exists but cannot
// be used is an error that stops the agent: regenerating it would strand queued mail.
#pragma once

#include <optional>
#include <string>

#include "common/auth/sealed_box.h"
#include "common/util/status.h"

namespace mailrelay::graph {

struct KeyPairState {
  std::optional<auth::BoxKeyPair> keys;  // nullopt: none exists and none was to be made
  bool created = false;                  // made by this call
};

// create: make the directory and the pair if they do not exist (passthrough_auth = yes).
// Without it an existing pair is still loaded, so mail sealed before passthrough_auth was
// turned off can be delivered. chown_to_deliver: running as root with privilege separation;
// a directory this call creates and the key files it writes go to the delivery user.
util::Result<KeyPairState> LoadOrCreateKeyPair(const std::string& dir, bool create,
                                               bool chown_to_deliver);

}  // namespace mailrelay::graph
