#include "common/auth/password.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/util/crypto.h"

namespace mailrelay::auth {
namespace {

// Hashes made by other tools, so we know we interoperate rather than agree with ourselves.
struct Vector {
  const char* hash;
  const char* password;
  const char* origin;
};

// bcrypt. htpasswd (Debian apache2-utils 2.4.71, APR's own bcrypt): `htpasswd -bnBC N user pw`.
// python3-bcrypt 3.2.2 (pyca/bcrypt): bcrypt.hashpw(pw, bcrypt.gensalt(rounds, prefix)).
// The two $2a$05$CCC... hashes are the classic crypt_blowfish/OpenBSD test vectors.
// Each was cross-checked with the other tool (bcrypt.checkpw) before being pasted here.
const Vector kBcryptVectors[] = {
    {"$2y$10$5SBEQNQqXooI9MiT.KBYf.pASsQa.NTdXIMBIPpSfvTYR58yUHsSK", "correct horse battery staple",
     "htpasswd -bnBC 10"},
    {"$2y$10$zJDTt/89U1wnkAuZ580z5eg19o0W09a4F5asKr4awBNi0Kzm4Styy",
     "p\xc3\xa4ssw\xc3\xb6rd:with colon", "htpasswd -bnBC 10 (UTF-8 password)"},
    {"$2y$05$Sf2U5ssuinXw2gKRMf1gB./j7oe/DiFnktV.DDOrKwBkwv.1CD.zi", "x", "htpasswd -bnBC 5"},
    {"$2b$10$cgb.T2or5TR5n6rp47wTCOZJ8fx0LqK/LH3Omj/LOHAGx9q6oHVxy", "hunter2",
     "python3-bcrypt rounds=10"},
    {"$2a$06$sCzoG5LvMwVinE1fhtSf9ODQqRXcvu79t1TW1f8Ds.pjCeBYelRlC", "Tr0ub4dor&3",
     "python3-bcrypt rounds=6 prefix=2a"},
    {"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U",
     "crypt_blowfish test vector"},
    {"$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy", "",
     "crypt_blowfish test vector (empty password)"},
};

// argon2: the reference implementation's CLI (Debian package argon2, 0~20171227):
// `echo -n PW | argon2 saltsaltsalt1234 -id|-i -t T -m 12 -p P -e`.
const Vector kArgon2Vectors[] = {
    {"$argon2id$v=19$m=4096,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$"
     "581wYg7otUS40kewKaZ1tG3ScvzAbF/PUF5RlRTJVRU",
     "correct horse battery staple", "argon2 -id -t 2 -m 12 -p 1"},
    {"$argon2i$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0MTIzNA$"
     "/QOuO6re3LlEKzIqEohLELnTz4aHVbd7vicSFuR5P3I",
     "correct horse battery staple", "argon2 -i -t 3 -m 12 -p 1"},
    {"$argon2id$v=19$m=4096,t=2,p=4$c2FsdHNhbHRzYWx0MTIzNA$"
     "cvqsiIMWXJX0LVspd3KBPFtw5sMHS52x433+ZMpNqhw",
     "correct horse battery staple", "argon2 -id -t 2 -m 12 -p 4"},
};

TEST(Password, Argon2idRoundTrip) {
  auto t0 = std::chrono::steady_clock::now();
  auto hash = HashPassword("s3cret pass");
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(hash.ok()) << hash.status().ToString();
  RecordProperty(
      "hash_ms",
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
  EXPECT_EQ(hash->rfind("$argon2id$v=19$m=49152,t=3,p=1$", 0), 0u) << *hash;
  EXPECT_EQ(*CheckHashFormat(*hash), HashScheme::kArgon2id);

  auto ok = VerifyPassword(*hash, "s3cret pass");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(*ok);
  for (const char* wrong : {"s3cret pas", "s3cret pass ", "S3cret pass", ""}) {
    auto bad = VerifyPassword(*hash, wrong);
    ASSERT_TRUE(bad.ok()) << bad.status().ToString();
    EXPECT_FALSE(*bad) << wrong;
  }
  // A random salt every time.
  auto again = HashPassword("s3cret pass");
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*hash, *again);
  EXPECT_FALSE(NeedsRehash(*hash));
}

TEST(Password, Argon2idEmptyAndBinaryPasswords) {
  for (std::string pw : {std::string(), std::string("a\0b", 3), std::string(300, 'z')}) {
    auto hash = HashPassword(pw);
    ASSERT_TRUE(hash.ok());
    EXPECT_TRUE(*VerifyPassword(*hash, pw));
    EXPECT_FALSE(*VerifyPassword(*hash, pw + "x"));
  }
  // argon2 takes a length, so a NUL does not cut the password short.
  auto hash = HashPassword(std::string("a\0b", 3));
  ASSERT_TRUE(hash.ok());
  EXPECT_FALSE(*VerifyPassword(*hash, "a"));
}

TEST(Password, Argon2VectorsFromReferenceCli) {
  for (const Vector& v : kArgon2Vectors) {
    auto ok = VerifyPassword(v.hash, v.password);
    ASSERT_TRUE(ok.ok()) << v.origin << ": " << ok.status().ToString();
    EXPECT_TRUE(*ok) << v.origin;
    auto bad = VerifyPassword(v.hash, std::string(v.password) + "!");
    ASSERT_TRUE(bad.ok()) << v.origin;
    EXPECT_FALSE(*bad) << v.origin;
    EXPECT_TRUE(NeedsRehash(v.hash)) << v.origin;  // cheaper than our default
  }
  EXPECT_EQ(*CheckHashFormat(kArgon2Vectors[1].hash), HashScheme::kArgon2i);
}

TEST(Password, BcryptVectorsFromOtherTools) {
  for (const Vector& v : kBcryptVectors) {
    EXPECT_EQ(*CheckHashFormat(v.hash), HashScheme::kBcrypt) << v.origin;
    auto ok = VerifyPassword(v.hash, v.password);
    ASSERT_TRUE(ok.ok()) << v.origin << ": " << ok.status().ToString();
    EXPECT_TRUE(*ok) << v.origin;
    auto bad = VerifyPassword(v.hash, std::string(v.password) + "x");
    ASSERT_TRUE(bad.ok()) << v.origin;
    EXPECT_FALSE(*bad) << v.origin;
    EXPECT_TRUE(NeedsRehash(v.hash));
  }
}

TEST(Password, BcryptRefusesPasswordsWithNul) {
  // crypt(3) would see only "x": such a password must never match.
  auto r = VerifyPassword(kBcryptVectors[2].hash, std::string("x\0tail", 6));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
}

TEST(Password, BcryptTamperedDigestDoesNotMatch) {
  std::string h = kBcryptVectors[2].hash;
  h[40] = h[40] == 'A' ? 'B' : 'A';
  auto r = VerifyPassword(h, "x");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(*r);
}

TEST(Password, GarbageHashesAreUnsupportedNotCrashes) {
  const std::string argon_tail =
      "$c2FsdHNhbHRzYWx0MTIzNA$581wYg7otUS40kewKaZ1tG3ScvzAbF/PUF5RlRTJVRU";
  const std::vector<std::string> garbage = {
      "",
      "plaintext",
      "*",
      "!",
      "$",
      "$$$$",
      "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",  // md5-crypt
      "$5$rounds=5000$usesomesillystri$KqJWpanXZHKq2BOB43TSaYhEWsQ1Lr5QNyPCDH/Tp.6",
      "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/"
      "jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/",
      "{SSHA}abcdefgh",
      "$2$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
      "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",   // buggy variant
      "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe",    // 59 chars
      "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeWW",  // 61 chars
      "$2b$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",   // cost below 4
      "$2b$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",   // minutes per check
      "$2b$x5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
      "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyO!W",  // bad alphabet
      "$2b$05$",
      "$2b$",
      "$argon2id$",
      "$argon2id$v=19$",
      "$argon2id$v=19$m=4096,t=2,p=1$",
      "$argon2id$v=19$m=4096,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$",
      "$argon2id$v=19$m=4096,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$garbage!!",
      // Unused low bits set in the last base64 character: libsodium refuses to decode it.
      "$argon2id$v=19$m=4096,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$581wYg7otUS40kewKaZ1tG3ScvzAbF/"
      "PUF5RlRTJVRx",
      "$argon2id$v=16$m=4096,t=2,p=1" + argon_tail,         // version 1.0: libsodium has only 1.3
      "$argon2id$m=4096,t=2,p=1" + argon_tail,              // no version means 1.0
      "$argon2id$v=19$m=99999999999,t=2,p=1" + argon_tail,  // 93 TiB
      "$argon2id$v=19$m=4096,t=0,p=1" + argon_tail,
      "$argon2id$v=19$m=4096,t=100000,p=1" + argon_tail,
      "$argon2id$v=19$m=4096,t=2,p=0" + argon_tail,
      "$argon2id$v=19$m=4,t=2,p=1" + argon_tail,
      "$argon2id$v=19$m=04096,t=2,p=1" + argon_tail,
      "$argon2id$v=19$t=2,m=4096,p=1" + argon_tail,
      "$argon2id$v=19$m=-1,t=2,p=1" + argon_tail,
      "$argon2id$v=19$m=4096,t=2,p=1$c2FsdA$581wYg7otUS40kewKaZ1tG3ScvzAbF/PUF5RlRTJVRU",  // 4-byte
                                                                                           // salt
      "$argon2d$v=19$m=4096,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$"
      "HBjd05atO5eVkDjhMnkSwnnex3sQanCms04iC7x31bs",
      "$argon2$v=19$m=4096,t=2,p=1" + argon_tail,
      " $argon2id$v=19$m=4096,t=2,p=1" + argon_tail,
      "$argon2id$v=19$m=4096,t=2,p=1" + argon_tail + "\n",
      std::string("$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJK\0yOeW", 60),
      std::string(100000, '$'),
  };
  for (const std::string& g : garbage) {
    auto fmt = CheckHashFormat(g);
    EXPECT_FALSE(fmt.ok()) << g;
    auto r = VerifyPassword(g, "U*U");
    ASSERT_FALSE(r.ok()) << "accepted: " << g;
    EXPECT_EQ(r.status().code(), util::Code::kInvalidArgument) << g;
    EXPECT_EQ(r.status().message().rfind("unsupported hash", 0), 0u) << r.status().message();
    // The hash itself may be a secret-ish value from a file: never echo it.
    if (g.size() > 8) {
      EXPECT_EQ(r.status().message().find(g), std::string::npos);
    }
    EXPECT_TRUE(NeedsRehash(g));
  }
}

TEST(Password, RandomBytesNeverCrash) {
  for (int i = 0; i < 2000; ++i) {
    std::string h = util::RandomBytes(util::RandomU64() % 80);
    static const char* kPrefixes[] = {"", "$2b$05$", "$argon2id$v=19$m=8,t=1,p=1$", "$argon2i$"};
    h = kPrefixes[i % 4] + h;
    auto r = VerifyPassword(h, "pw");
    if (r.ok()) {
      EXPECT_FALSE(*r);
    }
  }
}

TEST(Password, DummyCostsWhatARealVerificationCosts) {
  // The dummy must be a hash at exactly today's parameters ...
  EXPECT_EQ(*CheckHashFormat(internal::DummyHashForTest()), HashScheme::kArgon2id);
  EXPECT_FALSE(NeedsRehash(internal::DummyHashForTest()));
  // ... so checking it takes as long as checking a user's hash. Compare the fastest of a few
  // runs each, which is robust against other work on a shared machine.
  auto hash = HashPassword("pw");
  ASSERT_TRUE(hash.ok());
  auto fastest = [](auto fn) {
    auto best = std::chrono::steady_clock::duration::max();
    for (int i = 0; i < 3; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      fn();
      best = std::min(best, std::chrono::steady_clock::now() - t0);
    }
    return std::chrono::duration<double, std::milli>(best).count();
  };
  double real_ms = fastest([&] { (void)VerifyPassword(*hash, "wrong"); });
  double dummy_ms = fastest([] { VerifyDummy("wrong"); });
  RecordProperty("verify_ms", static_cast<int>(real_ms));
  RecordProperty("dummy_ms", static_cast<int>(dummy_ms));
  EXPECT_GT(dummy_ms, real_ms * 0.5) << "real " << real_ms << " ms, dummy " << dummy_ms << " ms";
  EXPECT_LT(dummy_ms, real_ms * 2.0) << "real " << real_ms << " ms, dummy " << dummy_ms << " ms";
}

TEST(Password, ConcurrentVerification) {
  // smtpd verifies on a worker pool: crypt_rn with per-call crypt_data, libsodium stateless.
  struct Case {
    std::string hash;
    std::string password;
  };
  std::vector<Case> cases = {
      {kBcryptVectors[2].hash, kBcryptVectors[2].password},  // $2y$05
      {kBcryptVectors[5].hash, kBcryptVectors[5].password},  // $2a$05
      {kBcryptVectors[6].hash, kBcryptVectors[6].password},
      {kArgon2Vectors[0].hash, kArgon2Vectors[0].password},
      {kArgon2Vectors[1].hash, kArgon2Vectors[1].password},
  };
  std::atomic<int> failures{0};
  std::atomic<int> checks{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        const Case& c = cases[(t + i) % cases.size()];
        bool right = (i % 2) == 0;
        auto r = VerifyPassword(c.hash, right ? c.password : c.password + "?");
        if (!r.ok() || *r != right) ++failures;
        ++checks;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(checks.load(), 48);
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace mailrelay::auth
