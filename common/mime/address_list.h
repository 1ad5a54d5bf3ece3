// RFC 5322 address lists (From, To, Cc, Bcc, Reply-To: names, encoded words, comments,
// angle-addr, addr-spec, groups) and formatting mailboxes back into a header value.
// Pure functions; any thread. Never fail: an item that is not a mailbox is skipped.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mailrelay::mime {

struct Mailbox {
  std::string name;     // decoded display name (UTF-8), "" if none
  std::string address;  // addr-spec as written, without comments and whitespace

  bool operator==(const Mailbox&) const = default;
};

struct Group {
  std::string name;  // decoded group name
  std::vector<Mailbox> members;
};

struct AddressList {
  std::vector<Mailbox> mailboxes;  // every mailbox in order, group members included
  std::vector<Group> groups;       // each group syntax, in order ("undisclosed-recipients:;")
};

// Parses an unfolded header value. A mailbox without a display name takes the text of a
// trailing comment ("user@example.com (Full Name)") as its name.
AddressList ParseAddressList(std::string_view unfolded);

// "name <address>" with the name quoted when it needs quoting and RFC 2047-encoded when it
// is not plain ASCII; just the address when there is no name; "<>" for an empty address.
// Control characters in the address are dropped so the result is safe in a header.
std::string FormatMailbox(const Mailbox& mailbox);
// Mailboxes joined with ", " (fold the field with FoldField before writing it).
std::string FormatMailboxList(const std::vector<Mailbox>& mailboxes);

}  // namespace mailrelay::mime
