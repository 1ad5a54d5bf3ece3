#include "common/auth/users_file.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/auth/password.h"
#include "common/util/file.h"

namespace mailrelay::auth {
namespace {

// Cheap but real hashes, made by other tools (see password_test.cc for their origin).
const char kBcryptX[] = "$2y$05$Sf2U5ssuinXw2gKRMf1gB./j7oe/DiFnktV.DDOrKwBkwv.1CD.zi";   // "x"
const char kBcryptUU[] = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";  // "U*U"
const char kArgonHorse[] =
    "$argon2id$v=19$m=4096,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$"
    "581wYg7otUS40kewKaZ1tG3ScvzAbF/PUF5RlRTJVRU";  // "correct horse battery staple"

class TempDir {
 public:
  TempDir() {
    std::string tmpl = std::filesystem::temp_directory_path() / "mr-auth-XXXXXX";
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::vector<std::string> Entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) {
      out.push_back(e.path().filename());
    }
    return out;
  }

 private:
  std::string path_;
};

class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t m) : old_(::umask(m)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::string Sample() {
  return std::string("# SMTP AUTH users: managed by relayctl user add|del\n") +
         "\n"
         "alice:" +
         kArgonHorse +
         "\n"
         "  # printers, bcrypt from the old relay\n"
         "printer-3f:" +
         kBcryptX +
         "\n"
         "Alice:" +
         kBcryptUU + "\n";
}

TEST(UsersFile, ParsesCommentsBlankLinesAndHashes) {
  auto f = UsersFile::Parse(Sample(), "users");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->size(), 3u);
  EXPECT_EQ(f->Names(), (std::vector<std::string>{"alice", "printer-3f", "Alice"}));
  ASSERT_NE(f->FindHash("alice"), nullptr);
  EXPECT_EQ(*f->FindHash("alice"), kArgonHorse);
  EXPECT_EQ(*f->FindHash("Alice"), kBcryptUU);  // case-sensitive: a different user
  EXPECT_EQ(f->FindHash("ALICE"), nullptr);
  EXPECT_EQ(f->FindHash("bob"), nullptr);
  EXPECT_EQ(f->FindHash(""), nullptr);
  // Unchanged, it serialises to exactly what it read.
  EXPECT_EQ(f->Serialize(), Sample());
}

TEST(UsersFile, CrlfTrailingBlanksAndNoFinalNewline) {
  std::string text = std::string("# c\r\n") + "alice:" + kBcryptX + " \t\r\n" + "bob:" + kBcryptUU;
  auto f = UsersFile::Parse(text, "users");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(*f->FindHash("alice"), kBcryptX);
  EXPECT_EQ(*f->FindHash("bob"), kBcryptUU);
  EXPECT_EQ(f->Serialize(), std::string("# c\nalice:") + kBcryptX + "\nbob:" + kBcryptUU + "\n");
}

TEST(UsersFile, EmptyFile) {
  auto f = UsersFile::Parse("", "users");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->size(), 0u);
  EXPECT_EQ(f->Serialize(), "");
}

struct BadLine {
  std::string line;
  std::string expect;  // substring of the error
};

TEST(UsersFile, EveryBadLineIsReportedWithFileAndLine) {
  const std::string good = std::string("ok:") + kBcryptX;
  const std::vector<BadLine> cases = {
      {"no colon here", "bad line: expected name:hash"},
      {":" + std::string(kBcryptX), "empty user name"},
      {"al ice:" + std::string(kBcryptX), "contains whitespace"},
      {"al\tice:" + std::string(kBcryptX), "contains whitespace"},
      {" alice:" + std::string(kBcryptX), "contains whitespace"},
      {std::string("al\x01ice:") + kBcryptX, "control character"},
      {std::string("al\x7f") + "ice:" + kBcryptX, "control character"},
      {std::string("al\x1bice:") + kBcryptX, "control character"},
      {"a:b:" + std::string(kBcryptX), "more than one ':'"},
      {"alice:" + std::string(kBcryptX) + ":", "more than one ':'"},
      {"alice:", "has no hash"},
      {"alice:   ", "has no hash"},
      {"alice:plaintext-password", "unsupported hash"},
      {"alice:$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "unsupported hash"},
      {"alice:$2b$05$short", "unsupported hash"},
      {"alice:$argon2id$v=19$m=4096,t=2,p=1$c2FsdA$x", "unsupported hash"},
      {std::string(kMaxUserNameLength + 1, 'n') + ":" + kBcryptX, "longer than"},
      {"ok:" + std::string(kBcryptUU), "duplicate user ok (first on line 2)"},
  };
  for (const BadLine& c : cases) {
    // The bad line is line 3, after a comment and a good entry.
    std::string text = "# users\n" + good + "\n" + c.line + "\n# after\n";
    auto f = UsersFile::Parse(text, "/etc/mailrelay/users");
    ASSERT_FALSE(f.ok()) << "accepted: " << c.line;
    EXPECT_EQ(f.status().code(), util::Code::kInvalidArgument);
    const std::string& msg = f.status().message();
    EXPECT_EQ(msg.rfind("/etc/mailrelay/users:3: ", 0), 0u) << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << "line " << c.line << " gave: " << msg;
    EXPECT_EQ(msg.find('\x01'), std::string::npos);  // control bytes are not echoed raw
  }
}

TEST(UsersFile, UserNameRules) {
  EXPECT_TRUE(CheckUserName("alice").ok());
  EXPECT_TRUE(CheckUserName("alice@example.com").ok());
  EXPECT_TRUE(CheckUserName("tenant\xe2\x80\xa2"
                            "client.x")
                  .ok());  // UTF-8 is fine
  EXPECT_TRUE(CheckUserName(std::string(kMaxUserNameLength, 'a')).ok());
  EXPECT_FALSE(CheckUserName("").ok());
  EXPECT_FALSE(CheckUserName("a:b").ok());
  EXPECT_FALSE(CheckUserName("a b").ok());
  EXPECT_FALSE(CheckUserName("a\nb").ok());
  EXPECT_FALSE(CheckUserName(std::string("a\0b", 3)).ok());
  EXPECT_FALSE(CheckUserName("#alice").ok());  // would read back as a comment
}

TEST(UsersFile, SetAndRemoveKeepCommentsAndOrder) {
  auto f = UsersFile::Parse(Sample(), "users");
  ASSERT_TRUE(f.ok());
  // Replace in place.
  auto replaced = f->SetUser("printer-3f", kBcryptUU);
  ASSERT_TRUE(replaced.ok());
  EXPECT_TRUE(*replaced);
  // Append.
  auto added = f->SetUser("bob", kArgonHorse);
  ASSERT_TRUE(added.ok());
  EXPECT_FALSE(*added);
  // Delete.
  ASSERT_TRUE(f->RemoveUser("alice").ok());
  EXPECT_EQ(f->RemoveUser("alice").code(), util::Code::kNotFound);
  EXPECT_EQ(f->RemoveUser("nobody").code(), util::Code::kNotFound);

  std::string expected = std::string("# SMTP AUTH users: managed by relayctl user add|del\n") +
                         "\n"
                         "  # printers, bcrypt from the old relay\n"
                         "printer-3f:" +
                         kBcryptUU +
                         "\n"
                         "Alice:" +
                         kBcryptUU +
                         "\n"
                         "bob:" +
                         kArgonHorse + "\n";
  EXPECT_EQ(f->Serialize(), expected);
  EXPECT_EQ(f->Names(), (std::vector<std::string>{"printer-3f", "Alice", "bob"}));
  EXPECT_EQ(*f->FindHash("bob"), kArgonHorse);
  EXPECT_EQ(f->FindHash("alice"), nullptr);
  // Lookups still work after the index was rebuilt.
  EXPECT_EQ(*f->FindHash("Alice"), kBcryptUU);
}

TEST(UsersFile, SetUserValidates) {
  UsersFile f;
  EXPECT_FALSE(f.SetUser("a:b", kBcryptX).ok());
  EXPECT_FALSE(f.SetUser("", kBcryptX).ok());
  EXPECT_FALSE(f.SetUser("a b", kBcryptX).ok());
  EXPECT_FALSE(f.SetUser("#a", kBcryptX).ok());
  auto r = f.SetUser("alice", "not-a-hash");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unsupported hash"), std::string::npos);
  auto nl = f.SetUser("alice", std::string(kBcryptX) + "\nmallory:" + kBcryptX);
  EXPECT_FALSE(nl.ok());  // no smuggling a second line in through the hash
  EXPECT_EQ(f.size(), 0u);
}

TEST(UsersFile, SaveLoadRoundTripAtomicAndMode0640) {
  TempDir dir;
  std::string path = dir.path() + "/users";
  EXPECT_EQ(UsersFile::Load(path).status().code(), util::Code::kNotFound);

  auto f = UsersFile::Parse(Sample(), path);
  ASSERT_TRUE(f.ok());
  {
    ScopedUmask umask(077);  // even a strict umask must leave the file group-readable
    ASSERT_TRUE(f->Save(path).ok());
  }
  EXPECT_EQ(ModeOf(path), 0640u);
  EXPECT_EQ(*util::ReadFile(path), Sample());
  EXPECT_EQ(dir.Entries(), std::vector<std::string>{"users"});  // no temp file left behind

  // relayctl user add / del as two separate processes would do it.
  auto loaded = UsersFile::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto hash = HashPassword("new password");
  ASSERT_TRUE(hash.ok());
  ASSERT_TRUE(loaded->SetUser("carol", *hash).ok());
  ASSERT_TRUE(loaded->RemoveUser("printer-3f").ok());
  ::chmod(path.c_str(), 0600);  // whatever the mode was, the rewrite restores 0640
  ASSERT_TRUE(loaded->Save(path).ok());
  EXPECT_EQ(ModeOf(path), 0640u);

  auto again = UsersFile::Load(path);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->Names(), (std::vector<std::string>{"alice", "Alice", "carol"}));
  EXPECT_EQ(again->Serialize(), loaded->Serialize());
  EXPECT_NE(again->Serialize().find("# printers, bcrypt from the old relay\n"), std::string::npos);
  EXPECT_TRUE(again->Authenticate("carol", "new password"));
  EXPECT_EQ(dir.Entries().size(), 1u);
}

TEST(UsersFile, LoadReportsBadLineWithPath) {
  TempDir dir;
  std::string path = dir.path() + "/users";
  ASSERT_TRUE(util::WriteFileAtomic(dir.path(), "users", "# x\nbroken\n").ok());
  auto f = UsersFile::Load(path);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(), path + ":2: bad line: expected name:hash");
}

TEST(UsersFile, SaveRefusesADirectoryOrNonRegularFile) {
  TempDir dir;
  UsersFile f;
  EXPECT_FALSE(f.Save(dir.path() + "/").ok());
  ASSERT_EQ(::mkdir((dir.path() + "/sub").c_str(), 0700), 0);
  EXPECT_FALSE(f.Save(dir.path() + "/sub").ok());
}

TEST(UsersFile, Authenticate) {
  auto f = UsersFile::Parse(Sample(), "users");
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->Authenticate("alice", "correct horse battery staple"));
  EXPECT_FALSE(f->Authenticate("alice", "correct horse battery stapl"));
  EXPECT_TRUE(f->Authenticate("printer-3f", "x"));
  EXPECT_TRUE(f->Authenticate("Alice", "U*U"));
  EXPECT_FALSE(f->Authenticate("ALICE", "U*U"));
  EXPECT_FALSE(f->Authenticate("nobody", "x"));
  EXPECT_FALSE(f->Authenticate("", ""));
}

}  // namespace
}  // namespace mailrelay::auth
