#include "common/auth/users_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/auth/password.h"
#include "common/util/file.h"
#include "common/util/strings.h"

namespace mailrelay::auth {

namespace {

using util::InvalidArgument;
using util::Result;
using util::Status;

constexpr size_t kMaxUsersFileSize = 16 << 20;
// Group-readable for smtpd (it re-reads the file after dropping root), never world-readable.
constexpr mode_t kUsersFileMode = 0640;

bool IsBlank(std::string_view line) { return util::Trim(line).empty(); }
bool IsComment(std::string_view line) {
  std::string_view t = util::Trim(line);
  return !t.empty() && t[0] == '#';
}

}  // namespace

Status CheckUserName(std::string_view name) {
  if (name.empty()) return InvalidArgument("empty user name");
  if (name.size() > kMaxUserNameLength) {
    return InvalidArgument("user name longer than " + std::to_string(kMaxUserNameLength) +
                           " bytes");
  }
  if (name[0] == '#')
    return InvalidArgument("user name may not start with '#' (read as a comment)");
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c == ':') return InvalidArgument("user name " + util::Printable(name) + " contains ':'");
    if (c == ' ' || c == '\t') {
      return InvalidArgument("user name " + util::Printable(name) + " contains whitespace");
    }
    if (c < 0x20 || c == 0x7f) {
      return InvalidArgument("user name " + util::Printable(name) +
                             " contains a control character");
    }
  }
  return Status::Ok();
}

Result<UsersFile> UsersFile::Load(const std::string& path) {
  MR_ASSIGN_OR_RETURN(std::string content, util::ReadFile(path, kMaxUsersFileSize));
  return Parse(content, path);
}

Result<UsersFile> UsersFile::Parse(std::string_view content, const std::string& source) {
  UsersFile file;
  size_t line_no = 0;
  while (!content.empty()) {
    ++line_no;
    size_t nl = content.find('\n');
    std::string_view line = content.substr(0, nl);
    content.remove_prefix(nl == std::string_view::npos ? content.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto fail = [&](const std::string& what) -> Status {
      return InvalidArgument(source + ":" + std::to_string(line_no) + ": " + what);
    };

    if (IsBlank(line) || IsComment(line)) {
      file.lines_.push_back(Line{std::string(line), "", ""});
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return fail("bad line: expected name:hash");
    std::string_view name = line.substr(0, colon);
    // Trailing blanks after the hash are an editing slip, not part of the hash.
    std::string_view hash = line.substr(colon + 1);
    while (!hash.empty() && (hash.back() == ' ' || hash.back() == '\t')) hash.remove_suffix(1);

    Status st = CheckUserName(name);
    if (!st.ok()) return fail(st.message());
    if (hash.find(':') != std::string_view::npos) {
      return fail("bad line: more than one ':' (user names may not contain ':')");
    }
    if (hash.empty()) return fail("user " + util::Printable(name) + " has no hash");
    auto scheme = CheckHashFormat(hash);
    if (!scheme.ok())
      return fail("user " + util::Printable(name) + ": " + scheme.status().message());
    auto it = file.index_.find(name);
    if (it != file.index_.end()) {
      // Every line read so far is in lines_, so an index is its line number minus one.
      return fail("duplicate user " + util::Printable(name) + " (first on line " +
                  std::to_string(it->second + 1) + ")");
    }
    file.index_.emplace(std::string(name), file.lines_.size());
    file.lines_.push_back(Line{"", std::string(name), std::string(hash)});
  }
  return file;
}

void UsersFile::Reindex() {
  index_.clear();
  for (size_t i = 0; i < lines_.size(); ++i) {
    if (!lines_[i].name.empty()) index_.emplace(lines_[i].name, i);
  }
}

const std::string* UsersFile::FindHash(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &lines_[it->second].hash;
}

std::vector<std::string> UsersFile::Names() const {
  std::vector<std::string> names;
  for (const Line& l : lines_) {
    if (!l.name.empty()) names.push_back(l.name);
  }
  return names;
}

size_t UsersFile::size() const { return index_.size(); }

bool UsersFile::Authenticate(std::string_view name, std::string_view password) const {
  const std::string* hash = FindHash(name);
  if (hash == nullptr) {
    VerifyDummy(password);
    return false;
  }
  auto ok = VerifyPassword(*hash, password);
  return ok.ok() && *ok;
}

Result<bool> UsersFile::SetUser(std::string_view name, std::string_view hash) {
  MR_RETURN_IF_ERROR(CheckUserName(name));
  auto scheme = CheckHashFormat(hash);
  if (!scheme.ok()) return scheme.status();
  auto it = index_.find(name);
  if (it != index_.end()) {
    lines_[it->second].hash = std::string(hash);
    return true;
  }
  index_.emplace(std::string(name), lines_.size());
  lines_.push_back(Line{"", std::string(name), std::string(hash)});
  return false;
}

Status UsersFile::RemoveUser(std::string_view name) {
  auto it = index_.find(name);
  if (it == index_.end()) return util::NotFound("no user " + util::Printable(name));
  lines_.erase(lines_.begin() + static_cast<std::ptrdiff_t>(it->second));
  Reindex();
  return Status::Ok();
}

std::string UsersFile::Serialize() const {
  std::string out;
  for (const Line& l : lines_) {
    if (l.name.empty()) {
      out += l.text;
    } else {
      out += l.name;
      out += ':';
      out += l.hash;
    }
    out += '\n';
  }
  return out;
}

Status UsersFile::Save(const std::string& path) const {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty()) return InvalidArgument("users file path " + path + " names a directory");

  struct stat old_st;
  bool existed = ::lstat(path.c_str(), &old_st) == 0;
  if (existed && !S_ISREG(old_st.st_mode)) {
    return InvalidArgument("users file " + path + " is not a regular file");
  }
  MR_RETURN_IF_ERROR(util::WriteFileAtomic(dir, base, Serialize(), kUsersFileMode));

  // The new file was created with our umask applied and our own uid/gid: put back what
  // smtpd needs to read it (see the header).
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return util::ErrnoStatus("cannot open " + path + " after writing it", errno);
  Status st = Status::Ok();
  struct stat new_st;
  if (::fstat(fd, &new_st) != 0) st = util::ErrnoStatus("cannot stat " + path, errno);
  if (st.ok() && existed && (new_st.st_uid != old_st.st_uid || new_st.st_gid != old_st.st_gid) &&
      ::fchown(fd, old_st.st_uid, old_st.st_gid) != 0) {
    st = util::ErrnoStatus(path +
                               " was written but its owner/group could not be restored "
                               "(run as root, or fix with chown)",
                           errno);
  }
  // fchmod after fchown: chown may clear mode bits, and the umask may have narrowed them.
  if (st.ok() && ::fchmod(fd, kUsersFileMode) != 0) {
    st = util::ErrnoStatus("chmod 0640 " + path, errno);
  }
  ::close(fd);
  return st;
}

}  // namespace mailrelay::auth
