// Static and sealed Graph credentials (deliver-graph/credentials.h) and the key pair store
// (deliver-graph/key_store.h): never a secret in clear outside memory, never a new key pair
// over an old one.
#include "deliver-graph/credentials.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <string>

#include "common/util/file.h"
#include "deliver-graph/key_store.h"
#include "tests/fakes/fake_process.h"

namespace mailrelay::graph {
namespace {

constexpr char kTenant[] = "11111111-2222-3333-4444-555555555555";
constexpr char kClient[] = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

TEST(Credentials, SealedRoundTripKeepsAnySecretByte) {
  auth::BoxKeyPair keys = auth::GenerateBoxKeyPair();
  std::string secret("s3cr\n\x01t~with:odd=chars\n", 22);
  auto sealed = SealCredentials(Credentials(kTenant, kClient, secret), keys.public_key);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->find(secret), std::string::npos);
  EXPECT_EQ(sealed->find("s3cr"), std::string::npos);
  auto opened = OpenCredentials(*sealed, keys);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->tenant_id, kTenant);
  EXPECT_EQ(opened->client_id, kClient);
  EXPECT_EQ(opened->client_secret, secret);
}

TEST(Credentials, OtherKeysAndTamperingAreRefused) {
  auth::BoxKeyPair keys = auth::GenerateBoxKeyPair();
  auth::BoxKeyPair other = auth::GenerateBoxKeyPair();
  auto sealed = SealCredentials(Credentials(kTenant, kClient, "secret"), keys.public_key);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(OpenCredentials(*sealed, other).status().code(), util::Code::kPermissionDenied);
  std::string flipped = *sealed;
  flipped[flipped.size() - 1] ^= 1;
  EXPECT_EQ(OpenCredentials(flipped, keys).status().code(), util::Code::kPermissionDenied);
  EXPECT_FALSE(OpenCredentials("", keys).ok());
  // Well sealed, but not our format: somebody else's plaintext sealed to our public key.
  auto foreign = auth::Seal("tenant\nclient\nsecret", keys.public_key);
  ASSERT_TRUE(foreign.ok());
  EXPECT_EQ(OpenCredentials(*foreign, keys).status().code(), util::Code::kInvalidArgument);
}

TEST(Credentials, DecodeRefusesMalformedFields) {
  EXPECT_FALSE(DecodeCredentials("mailrelay-graph-1\n").ok());
  EXPECT_FALSE(DecodeCredentials("mailrelay-graph-1\nt\nc\n").ok());          // empty secret
  EXPECT_FALSE(DecodeCredentials("mailrelay-graph-1\n\nc\nsecret").ok());     // empty tenant
  EXPECT_FALSE(DecodeCredentials("mailrelay-graph-1\nt t\nc\nsecret").ok());  // space in an id
  EXPECT_FALSE(DecodeCredentials("mailrelay-graph-2\nt\nc\nsecret").ok());
  EXPECT_TRUE(DecodeCredentials("mailrelay-graph-1\nt\nc\nsecret\nwith newline").ok());
}

TEST(Credentials, StaticCredentialsFromTheSecretFile) {
  fakes::TempDir dir;
  config::GraphConfig g;
  auto none = LoadStaticCredentials(g);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  g.tenant_id = kTenant;
  g.client_id = kClient;
  g.client_secret_file = dir.path() + "/secret";
  ASSERT_TRUE(util::WriteFileAtomic(dir.path(), "secret", "the-secret\n", 0600).ok());
  auto loaded = LoadStaticCredentials(g);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->client_secret, "the-secret");
  ::chmod(g.client_secret_file.c_str(), 0644);
  auto loose = LoadStaticCredentials(g);
  ASSERT_FALSE(loose.ok());
  EXPECT_NE(loose.status().message().find("[graph] client_secret_file"), std::string::npos);
  EXPECT_EQ(loose.status().message().find("the-secret"), std::string::npos);
}

TEST(KeyStore, CreatedOnceThenLoadedNeverReplaced) {
  fakes::TempDir dir;
  const std::string keys_dir = dir.path() + "/spool/graph-keys";
  auto absent = LoadOrCreateKeyPair(keys_dir, /*create=*/false, false);
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->keys.has_value());
  EXPECT_FALSE(util::FileExists(keys_dir));

  auto first = LoadOrCreateKeyPair(keys_dir, true, false);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->keys.has_value());
  EXPECT_TRUE(first->created);
  struct stat st;
  ASSERT_EQ(::stat(keys_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((keys_dir + "/passthrough.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto second = LoadOrCreateKeyPair(keys_dir, true, false);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->keys->public_key, first->keys->public_key);
  EXPECT_EQ(second->keys->secret_key, first->keys->secret_key);
  // Loaded even with passthrough off, so mail sealed earlier can still go.
  auto off = LoadOrCreateKeyPair(keys_dir, false, false);
  ASSERT_TRUE(off.ok());
  EXPECT_TRUE(off->keys.has_value());
}

TEST(KeyStore, ABrokenKeyFileStopsTheAgentInsteadOfBeingReplaced) {
  fakes::TempDir dir;
  const std::string keys_dir = dir.path() + "/keys";
  ASSERT_TRUE(LoadOrCreateKeyPair(keys_dir, true, false).ok());
  ASSERT_TRUE(util::WriteFileAtomic(keys_dir, "passthrough.key", "garbage\n", 0600).ok());
  auto r = LoadOrCreateKeyPair(keys_dir, true, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("restore it from a backup"), std::string::npos);
  auto text = util::ReadFile(keys_dir + "/passthrough.key");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "garbage\n");  // untouched
  ::chmod((keys_dir + "/passthrough.key").c_str(), 0640);
  EXPECT_FALSE(LoadOrCreateKeyPair(keys_dir, true, false).ok());
}

}  // namespace
}  // namespace mailrelay::graph
