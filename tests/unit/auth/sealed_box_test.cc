#include "common/auth/sealed_box.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "common/util/base64.h"
#include "common/util/crypto.h"
#include "common/util/file.h"

namespace mailrelay::auth {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = std::filesystem::temp_directory_path() / "mr-box-XXXXXX";
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(SealedBox, RoundTrip) {
  BoxKeyPair kp = GenerateBoxKeyPair();
  ASSERT_EQ(kp.public_key.size(), kBoxKeySize);
  ASSERT_EQ(kp.secret_key.size(), kBoxKeySize);
  for (const std::string& plain :
       {std::string(), std::string("client secret ~Xq8Q~abc.DEF"), util::RandomBytes(5000)}) {
    auto sealed = Seal(plain, kp.public_key);
    ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
    EXPECT_EQ(sealed->size(), plain.size() + kSealOverhead);
    if (!plain.empty()) {
      EXPECT_EQ(sealed->find(plain), std::string::npos);
    }
    auto opened = Open(*sealed, kp.public_key, kp.secret_key);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(*opened, plain);
  }
  // A fresh ephemeral key every time.
  EXPECT_NE(*Seal("same", kp.public_key), *Seal("same", kp.public_key));
}

TEST(SealedBox, WrongKeyPairFails) {
  BoxKeyPair kp = GenerateBoxKeyPair();
  BoxKeyPair other = GenerateBoxKeyPair();
  auto sealed = Seal("secret", kp.public_key);
  ASSERT_TRUE(sealed.ok());
  auto r = Open(*sealed, other.public_key, other.secret_key);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), util::Code::kPermissionDenied);
  // The right secret key with the wrong public key: the nonce is derived from the public
  // key, so this fails too.
  EXPECT_FALSE(Open(*sealed, other.public_key, kp.secret_key).ok());
  EXPECT_FALSE(Open(*sealed, kp.public_key, other.secret_key).ok());
}

TEST(SealedBox, TamperedOrTruncatedDataFails) {
  BoxKeyPair kp = GenerateBoxKeyPair();
  std::string sealed = *Seal("the graph client secret", kp.public_key);
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string t = sealed;
    t[i] = static_cast<char>(t[i] ^ 0x01);
    auto r = Open(t, kp.public_key, kp.secret_key);
    EXPECT_FALSE(r.ok()) << "flipped byte " << i;
  }
  for (size_t len : {size_t{0}, size_t{1}, kSealOverhead - 1, kSealOverhead, sealed.size() - 1}) {
    auto r = Open(sealed.substr(0, len), kp.public_key, kp.secret_key);
    EXPECT_FALSE(r.ok()) << "truncated to " << len;
  }
  EXPECT_FALSE(Open(sealed + "x", kp.public_key, kp.secret_key).ok());
}

TEST(SealedBox, BadKeySizes) {
  BoxKeyPair kp = GenerateBoxKeyPair();
  EXPECT_EQ(Seal("x", "short").status().code(), util::Code::kInvalidArgument);
  EXPECT_EQ(Seal("x", kp.public_key + "x").status().code(), util::Code::kInvalidArgument);
  std::string sealed = *Seal("x", kp.public_key);
  EXPECT_EQ(Open(sealed, kp.public_key, "").status().code(), util::Code::kInvalidArgument);
  EXPECT_EQ(Open(sealed, "", kp.secret_key).status().code(), util::Code::kInvalidArgument);
}

TEST(SealedBox, KeyFilesModesAndReload) {
  TempDir dir;
  mode_t old_umask = ::umask(077);  // the public key must still come out 0644
  auto created = CreateBoxKeyFiles(dir.path());
  ::umask(old_umask);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::string key_path = dir.path() + "/passthrough.key";
  std::string pub_path = dir.path() + "/passthrough.pub";
  EXPECT_EQ(ModeOf(key_path), 0600u);
  EXPECT_EQ(ModeOf(pub_path), 0644u);
  EXPECT_EQ(*util::ReadFile(pub_path), util::Base64Encode(created->public_key) + "\n");

  auto pub = LoadBoxPublicKey(dir.path());
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  EXPECT_EQ(*pub, created->public_key);
  auto pair = LoadBoxKeyPair(dir.path());
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  EXPECT_EQ(pair->public_key, created->public_key);
  EXPECT_EQ(pair->secret_key, created->secret_key);

  // smtpd seals with the public key file; deliver-graph opens with the pair.
  auto sealed = Seal("s3cr3t", *pub);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(*Open(*sealed, pair->public_key, pair->secret_key), "s3cr3t");

  // Never silently replace a key pair.
  auto again = CreateBoxKeyFiles(dir.path());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), util::Code::kAlreadyExists);
  EXPECT_EQ(LoadBoxKeyPair(dir.path())->secret_key, created->secret_key);

  // Other names live side by side.
  auto other = CreateBoxKeyFiles(dir.path(), "other");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->public_key, created->public_key);
  EXPECT_FALSE(CreateBoxKeyFiles(dir.path(), "../escape").ok());
  EXPECT_FALSE(CreateBoxKeyFiles(dir.path(), "").ok());
}

TEST(SealedBox, KeyFileProblemsAreErrors) {
  TempDir dir;
  ASSERT_TRUE(CreateBoxKeyFiles(dir.path()).ok());
  ASSERT_TRUE(CreateBoxKeyFiles(dir.path(), "other").ok());
  std::string key_path = dir.path() + "/passthrough.key";

  // A group-readable secret key is refused (util::ReadSecretFile).
  ASSERT_EQ(::chmod(key_path.c_str(), 0640), 0);
  auto r = LoadBoxKeyPair(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), util::Code::kPermissionDenied);
  ASSERT_EQ(::chmod(key_path.c_str(), 0600), 0);
  ASSERT_TRUE(LoadBoxKeyPair(dir.path()).ok());

  // Public and secret key from two different pairs.
  std::filesystem::copy_file(dir.path() + "/other.pub", dir.path() + "/passthrough.pub",
                             std::filesystem::copy_options::overwrite_existing);
  r = LoadBoxKeyPair(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does not belong"), std::string::npos);

  // Garbage in the files.
  ASSERT_TRUE(util::WriteFileAtomic(dir.path(), "passthrough.pub", "not base64!\n", 0644).ok());
  EXPECT_FALSE(LoadBoxPublicKey(dir.path()).ok());
  ASSERT_TRUE(util::WriteFileAtomic(dir.path(), "passthrough.pub",
                                    util::Base64Encode(std::string(31, 'k')) + "\n", 0644)
                  .ok());
  EXPECT_FALSE(LoadBoxPublicKey(dir.path()).ok());
  ASSERT_TRUE(util::WriteFileAtomic(dir.path(), "other.key", "AAAA\n", 0600).ok());
  EXPECT_FALSE(LoadBoxKeyPair(dir.path(), "other").ok());

  // Missing files.
  EXPECT_EQ(LoadBoxPublicKey(dir.path(), "missing").status().code(), util::Code::kNotFound);
  EXPECT_FALSE(LoadBoxKeyPair(dir.path(), "missing").ok());
}

}  // namespace
}  // namespace mailrelay::auth
