// libFuzzer target: envelope addresses, domains and Punycode. The first byte picks the path
// kind and SMTPUTF8; whatever parses must re-parse from its own wire form to the same value,
// and a domain must come out as lowercase ASCII.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/smtp/address.h"
#include "common/smtp/punycode.h"
#include "common/smtp/utf8.h"

using namespace mailrelay::smtp;  // NOLINT: fuzz entry point

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const PathKind kind = selector % 3 == 0   ? PathKind::kReversePath
                        : selector % 3 == 1 ? PathKind::kForwardPath
                                            : PathKind::kMailbox;
  const bool smtputf8 = (selector & 0x10) != 0;

  ParseResult<Address> a = ParsePath(text, kind, smtputf8);
  if (a.ok()) {
    for (unsigned char c : a->domain) {
      if (c >= 0x80 || (c >= 'A' && c <= 'Z' && !a->domain_literal)) std::abort();
    }
    if (!a->null_path && !a->postmaster) {
      std::string wire = kind == PathKind::kMailbox ? a->Mailbox() : a->Path();
      ParseResult<Address> b = ParsePath(wire, kind, smtputf8);
      if (!b.ok() || b->domain != a->domain || b->local_part != a->local_part) std::abort();
    }
  } else {
    std::string reply = a.reply().Format();
    if (reply.find('\n') != reply.size() - 1) std::abort();
  }

  mailrelay::util::Result<std::string> d = NormalizeDomain(text, smtputf8);
  if (d.ok()) {
    mailrelay::util::Result<std::string> again = NormalizeDomain(*d, false);
    if (!again.ok() || *again != *d) std::abort();  // A-label form is a fixed point
  }

  mailrelay::util::Result<std::u32string> cps = PunycodeDecode(text);
  if (cps.ok()) {
    mailrelay::util::Result<std::string> enc = PunycodeEncode(*cps);
    if (!enc.ok()) std::abort();
    mailrelay::util::Result<std::u32string> back = PunycodeDecode(*enc);
    if (!back.ok() || *back != *cps) std::abort();
  }
  std::optional<std::u32string> u = DecodeUtf8(text);
  if (u && EncodeUtf8(*u) != text) std::abort();
  (void)DomainToUnicode(text);
  return 0;
}
