// How each request to ACS is authorized: signed with the access key (HMAC-SHA256 over
// x-ms-date, host and x-ms-content-sha256) or carrying an Entra ID bearer token for
// https://communication.azure.com//.default (cached until shortly before expiry, fetched again
// after a 401). Runs on the agent's loop. Failures arrive in the callback as a Status that never
// contains the key, secret or token; IsPermanentTokenError() tells configuration from outage.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/http/http_client.h"
#include "common/http/token.h"
#include "common/util/clock.h"
#include "common/util/status.h"

namespace mailrelay::azure {

class Authorizer {
 public:
  using Done = std::function<void(util::Result<http::Request>)>;
  virtual ~Authorizer() = default;

  // Adds the auth headers to `request` (method, URL and body must be final) and hands it back.
  // May call `done` before returning (access key) or later on the loop (token). Pending
  // callbacks are dropped when the Authorizer is destroyed.
  virtual void Authorize(http::Request request, Done done) = 0;
  // ACS answered 401 to a request that carried `authorization` (its Authorization header): true
  // if sending it again may help, in which case that token is forgotten so the next Authorize()
  // fetches a fresh one. False for the access key (a wrong key stays wrong).
  virtual bool RefreshAfter401(std::string_view authorization) = 0;
  // "access key" or "Entra ID client <id> in tenant <tenant>", for the start-up log.
  virtual std::string Describe() const = 0;
};

// `clock` nullptr = Clock::System().
std::unique_ptr<Authorizer> MakeAccessKeyAuthorizer(std::string access_key,
                                                    const util::Clock* clock = nullptr);
// `client` must outlive the Authorizer.
std::unique_ptr<Authorizer> MakeEntraAuthorizer(http::HttpClient* client, http::TokenConfig config);

}  // namespace mailrelay::azure
