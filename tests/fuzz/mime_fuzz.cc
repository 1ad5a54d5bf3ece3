// libFuzzer target: the MIME parser on arbitrary bytes, then the header editor and the
// decoders on the same input. Besides crashes (ASan/UBSan) it aborts when an invariant
// breaks: output not UTF-8, a part outside the input, limits exceeded, an edit that changes
// body bytes or a no-op edit that changes anything.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/mime/address_list.h"
#include "common/mime/charset.h"
#include "common/mime/edit.h"
#include "common/mime/encoded_word.h"
#include "common/mime/parser.h"

using namespace mailrelay::mime;  // NOLINT: fuzz entry point

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const ParseLimits limits;
  ParsedMessage m = ParseMessage(input, limits);

  Check(!m.tree.entities.empty() && m.tree.entities.size() <= limits.max_parts);
  for (const Entity& e : m.tree.entities) {
    Check(static_cast<size_t>(e.depth) <= limits.max_depth);
    Check(e.offset <= e.body_offset && e.body_offset + e.body_size <= input.size());
  }
  Check(!m.text || IsValidUtf8(*m.text));
  Check(!m.html || IsValidUtf8(*m.html));
  Check(!m.subject || IsValidUtf8(*m.subject));
  for (const auto* list : {&m.from, &m.to, &m.cc, &m.bcc, &m.reply_to}) {
    for (const Mailbox& mb : *list) Check(IsValidUtf8(mb.name));
  }
  for (const Attachment& a : m.attachments) {
    Check(a.part >= 0 && static_cast<size_t>(a.part) < m.tree.entities.size());
    Check(!a.filename || IsValidUtf8(*a.filename));
  }
  (void)DescribeTree(m.tree);

  Check(HeaderEditor(input).Render() == input);
  HeaderEditor ed(input);
  ed.Remove("Bcc");
  Check(ed.Replace("From", FormatMailboxList(m.reply_to.empty() ? m.from : m.reply_to)).ok());
  Check(ed.Add("Subject", m.subject ? EncodeWords(*m.subject) : "").ok());
  std::string edited = ed.Render();
  Check(SplitMessage(edited).body == SplitMessage(input).body);
  ParsedMessage again = ParseMessage(edited, limits);
  Check(again.bcc.empty());
  return 0;
}
