#include "common/tls/tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include "common/util/file.h"

namespace mailrelay::tls {

namespace {

// https://ssl-config.mozilla.org/ guidelines v5.7, "intermediate" (TLS 1.2 part).
constexpr const char* kIntermediate =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
// "old" for printers and scanners stuck on TLS 1.0/1.1; OpenSSL 3 refuses their SHA-1
// handshakes unless the security level is lowered, so only when the operator asked for it.
constexpr const char* kOld =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:"
    "ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:"
    "DHE-RSA-AES128-SHA256:DHE-RSA-AES256-SHA256:AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:"
    "AES256-SHA256:AES128-SHA:AES256-SHA:DES-CBC3-SHA:@SECLEVEL=0";

int ProtoVersion(config::TlsVersion v) {
  switch (v) {
    case config::TlsVersion::k1_0: return TLS1_VERSION;
    case config::TlsVersion::k1_1: return TLS1_1_VERSION;
    case config::TlsVersion::k1_2: return TLS1_2_VERSION;
    case config::TlsVersion::k1_3: return TLS1_3_VERSION;
  }
  return TLS1_2_VERSION;
}

int PassphraseCb(char* buf, int size, int, void* userdata) {
  auto* pass = static_cast<std::string*>(userdata);
  int n = static_cast<int>(std::min<size_t>(pass->size(), static_cast<size_t>(size)));
  memcpy(buf, pass->data(), static_cast<size_t>(n));
  return n;
}

}  // namespace

std::string LastError() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown TLS error" : out;
}

util::Result<Context> MakeServerContext(const ServerOptions& o) {
  ERR_clear_error();
  Context ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return util::Internal("SSL_CTX_new: " + LastError());
  SSL_CTX_set_min_proto_version(ctx.get(), ProtoVersion(o.min_version));
  bool old = o.min_version == config::TlsVersion::k1_0 || o.min_version == config::TlsVersion::k1_1;
  std::string ciphers = !o.ciphers.empty() ? o.ciphers : (old ? kOld : kIntermediate);
  if (SSL_CTX_set_cipher_list(ctx.get(), ciphers.c_str()) != 1) {
    return util::InvalidArgument("[smtpd] tls_ciphers: no usable cipher in '" + ciphers + "'");
  }
  if (old) SSL_CTX_set_security_level(ctx.get(), 0);
  SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                                     SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_session_id_context(ctx.get(), reinterpret_cast<const unsigned char*>("mailrelay"), 9);
  // Session tickets stay on (OpenSSL's default): reconnecting devices resume cheaply.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);  // idle TLS sessions keep no 34 KB buffers
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), o.cert_file.c_str()) != 1) {
    return util::InvalidArgument("[smtpd] tls_cert_file " + o.cert_file + ": " + LastError());
  }
  std::string pass;
  if (!o.passphrase_file.empty()) {
    auto p = util::ReadSecretFile(o.passphrase_file);
    if (!p.ok()) return util::InvalidArgument("[smtpd] tls_key_passphrase_file: " + p.status().message());
    pass = *p;
  }
  SSL_CTX_set_default_passwd_cb(ctx.get(), &PassphraseCb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), &pass);
  int rc = SSL_CTX_use_PrivateKey_file(ctx.get(), o.key_file.c_str(), SSL_FILETYPE_PEM);
  SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), nullptr);
  OPENSSL_cleanse(pass.data(), pass.size());
  if (rc != 1) {
    std::string why = LastError();
    if (why.find("bad decrypt") != std::string::npos || why.find("maybe wrong password") != std::string::npos) {
      why = "cannot decrypt the key (wrong or missing tls_key_passphrase_file)";
    }
    return util::InvalidArgument("[smtpd] tls_key_file " + o.key_file + ": " + why);
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return util::InvalidArgument("[smtpd] tls_key_file " + o.key_file + " does not match tls_cert_file " + o.cert_file);
  }
  return ctx;
}

util::Result<Context> MakeClientContext(const ClientOptions& o) {
  ERR_clear_error();
  Context ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return util::Internal("SSL_CTX_new: " + LastError());
  SSL_CTX_set_min_proto_version(ctx.get(), ProtoVersion(o.min_version));
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    return util::Internal("cannot load the system CA store: " + LastError());
  }
  if (!o.ca_file.empty() && SSL_CTX_load_verify_locations(ctx.get(), o.ca_file.c_str(), nullptr) != 1) {
    return util::InvalidArgument("ca_file " + o.ca_file + ": " + LastError());
  }
  SSL_CTX_set_verify(ctx.get(), o.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  return ctx;
}

util::Status SetupClientSsl(SSL* ssl, const std::string& host, bool verify) {
  std::string name = host;
  bool literal = false;
  if (!name.empty() && name.front() == '[') {
    name = name.substr(1, name.size() - 2);
    if (name.rfind("IPv6:", 0) == 0) name = name.substr(5);
    literal = true;
  }
  unsigned char buf[16];
  literal |= inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
  if (!literal) SSL_set_tlsext_host_name(ssl, name.c_str());  // SNI takes names only
  if (!verify) return util::Status::Ok();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  int ok = literal ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) : X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
  if (ok != 1) return util::InvalidArgument("cannot set the name to verify: " + name);
  return util::Status::Ok();
}

std::string Describe(SSL* ssl) {
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl);
  int alg_bits = 0;
  int bits = c ? SSL_CIPHER_get_bits(c, &alg_bits) : 0;
  return std::string(SSL_get_version(ssl)) + " with cipher " + (c ? SSL_CIPHER_get_name(c) : "?") + " (" +
         std::to_string(bits) + "/" + std::to_string(alg_bits) + " bits)";
}

std::string VerifyError(SSL* ssl) {
  long rc = SSL_get_verify_result(ssl);
  if (rc == X509_V_OK) return "";
  std::string s = X509_verify_cert_error_string(rc);
  switch (rc) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return "host name mismatch: the certificate is not for this host (" + s + ")";
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "certificate has expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "certificate is not yet valid";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return "unknown CA: " + s + " (add the issuing CA with ca_file)";
    default:
      return s;
  }
}

}  // namespace mailrelay::tls
