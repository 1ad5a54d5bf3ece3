#include "deliver-ses/credentials/static_provider.h"

namespace mailrelay::ses {

void StaticProvider::Fetch(CredentialsCallback done) {
  util::Status st = ValidateKeys(keys_);
  if (!st.ok()) {
    done(util::InvalidArgument("[ses] access_key_id / secret_access_key_file: " + st.message()));
    return;
  }
  AwsCredentials c;
  c.keys = keys_;
  c.source = Name();
  done(std::move(c));
}

}  // namespace mailrelay::ses
