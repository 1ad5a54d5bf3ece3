// The SMTP AUTH users file ([smtpd] users_file), read by smtpd, rewritten by relayctl.
// Immutable once loaded: const methods on any thread; mutation and Save() on one thread.
// Errors name the file and line; a file with any bad line is refused whole.
//
// Format, one entry per line (LF or CRLF):
//   # comment              kept verbatim, with blank lines, when the file is rewritten
//   alice:$argon2id$v=19$m=49152,t=3,p=1$...
//   printer:$2y$10$...     bcrypt (htpasswd -B) is accepted
// User names are compared case-sensitively and byte for byte ("Alice" and "alice" are two
// users), as Postfix's SASL databases and htpasswd do: folding case would need a Unicode
// policy and could merge two existing entries. A name is 1..256 bytes with no ':', no
// whitespace, no control characters, and does not start with '#'.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/status.h"

namespace mailrelay::auth {

inline constexpr size_t kMaxUserNameLength = 256;

// OK if `name` may appear in a users file (see above); otherwise InvalidArgument saying why.
util::Status CheckUserName(std::string_view name);

class UsersFile {
 public:
  UsersFile() = default;  // empty: no users, no comments

  // Reads and parses `path`. A missing file is kNotFound (relayctl starts from an empty
  // UsersFile then); a bad line is kInvalidArgument "path:LINE: what is wrong".
  static util::Result<UsersFile> Load(const std::string& path);
  // Parses `content`; `source` names it in errors (usually the path).
  static util::Result<UsersFile> Parse(std::string_view content, const std::string& source);

  // The stored hash of `name`, or nullptr. Case-sensitive.
  const std::string* FindHash(std::string_view name) const;
  bool Contains(std::string_view name) const { return FindHash(name) != nullptr; }
  // Names in file order.
  std::vector<std::string> Names() const;
  size_t size() const;

  // SMTP AUTH check: true only if `name` exists and `password` matches its hash. Unknown
  // names cost one dummy verification, so timing does not tell which names exist. An
  // unusable hash (impossible after Load, which checks every hash) counts as a mismatch.
  bool Authenticate(std::string_view name, std::string_view password) const;

  // Adds `name` or replaces its hash in place (its line keeps its position). The hash must
  // pass CheckHashFormat(). Returns true if an existing user was replaced.
  util::Result<bool> SetUser(std::string_view name, std::string_view hash);
  // Removes `name`'s line; kNotFound if there is none. Comments stay where they are.
  util::Status RemoveUser(std::string_view name);

  // The file's text: comments and blank lines verbatim, LF line ends.
  std::string Serialize() const;

  // Writes the file atomically (util::WriteFileAtomic: temp file, fsync, rename) with mode
  // 0640. Not 0600: smtpd re-reads the file on reload after it has dropped root, so the file
  // is owned by root and group-readable by smtpd's group; never world-readable, since
  // password hashes invite offline guessing. When the file already exists its owner and
  // group are carried over to the new file (when we are allowed to: as root).
  util::Status Save(const std::string& path) const;

 private:
  struct Line {
    std::string text;  // comment or blank line, verbatim; empty for a user
    std::string name;  // empty for a comment or blank line
    std::string hash;
  };
  void Reindex();

  std::vector<Line> lines_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in lines_
};

}  // namespace mailrelay::auth
