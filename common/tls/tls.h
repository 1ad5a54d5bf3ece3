// OpenSSL 3 contexts for mailrelay: the server side of smtpd (certificate chain, a key that
// may be encrypted with a passphrase file, minimum version, Mozilla "intermediate" ciphers,
// server preference, session tickets) and the client side of deliver-smtp (system CA store
// plus an extra bundle, host name verification, SNI). Contexts are built at start-up (as
// root, before the key becomes unreadable) and shared read-only by every connection on the
// process's loop. Failures name the file and what is wrong with it.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "common/config/config.h"
#include "common/util/status.h"

namespace mailrelay::tls {

struct CtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using Context = std::unique_ptr<SSL_CTX, CtxDeleter>;

struct ServerOptions {
  std::string cert_file;
  std::string key_file;
  std::string passphrase_file;  // optional
  config::TlsVersion min_version = config::TlsVersion::k1_2;
  std::string ciphers;  // empty: Mozilla intermediate (or "old" when min_version < 1.2)
};

util::Result<Context> MakeServerContext(const ServerOptions& options);

struct ClientOptions {
  bool verify = true;
  std::string ca_file;  // added to the system store
  config::TlsVersion min_version = config::TlsVersion::k1_2;
};

util::Result<Context> MakeClientContext(const ClientOptions& options);

// Prepares a client SSL for `host`: SNI (names only, not address literals) and, when
// verifying, the host name check.
util::Status SetupClientSsl(SSL* ssl, const std::string& host, bool verify);

// "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" for Received: and logs.
std::string Describe(SSL* ssl);
// Why verification failed, in words an operator acts on ("certificate has expired",
// "host name mismatch", "unable to get local issuer certificate (unknown CA)").
std::string VerifyError(SSL* ssl);
// The last OpenSSL error queue entries as one line (and clears the queue).
std::string LastError();

}  // namespace mailrelay::tls
