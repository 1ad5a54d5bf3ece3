// CredentialCache on a real libevent loop with a FakeClock: sharing one fetch, refreshing
// before expiry, falling back to still-valid keys, never handing out expired ones.
#include <event2/event.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/util/clock.h"
#include "deliver-ses/credentials/cache.h"

namespace mailrelay::ses {
namespace {

constexpr int64_t kSecond = 1000000;

// Answers fetches when the test says so (or at once), with what the test queued.
class Manual : public CredentialProvider {
 public:
  std::string Name() const override { return "manual"; }
  void Fetch(CredentialsCallback done) override {
    ++fetches;
    pending.push_back(std::move(done));
    if (immediate) Answer();
  }
  void Answer() {
    ASSERT_FALSE(pending.empty());
    ASSERT_FALSE(answers.empty());
    CredentialsCallback done = std::move(pending.front());
    pending.erase(pending.begin());
    util::Result<AwsCredentials> r = answers.front();
    answers.erase(answers.begin());
    done(std::move(r));
  }
  int fetches = 0;
  bool immediate = true;
  std::vector<CredentialsCallback> pending;
  std::vector<util::Result<AwsCredentials>> answers;
};

AwsCredentials Temp(const std::string& id, int64_t expires_at_us) {
  AwsCredentials c;
  c.keys = {id, "secret-" + id, "token-" + id};
  c.expires_at_us = expires_at_us;
  c.source = "manual";
  return c;
}

class CacheTest : public ::testing::Test {
 protected:
  CacheTest() : base_(event_base_new()), clock_(int64_t{1700000000} * kSecond) {
    auto p = std::make_unique<Manual>();
    provider_ = p.get();
    cache_ = std::make_unique<CredentialCache>(base_, std::move(p), &clock_);
  }
  ~CacheTest() override {
    cache_.reset();
    event_base_free(base_);
  }

  int64_t Now() const { return clock_.NowMicros(); }
  void Run() { event_base_loop(base_, EVLOOP_NONBLOCK); }

  util::Result<AwsCredentials> Get() {
    std::optional<util::Result<AwsCredentials>> out;
    cache_->Get([&](util::Result<AwsCredentials> r) { out = std::move(r); });
    EXPECT_FALSE(out.has_value()) << "answered from inside Get()";
    for (int i = 0; i < 10 && !out; ++i) Run();
    EXPECT_TRUE(out.has_value());
    return out ? *out : util::Result<AwsCredentials>(util::Internal("no answer"));
  }

  event_base* base_;
  util::FakeClock clock_;
  Manual* provider_;
  std::unique_ptr<CredentialCache> cache_;
};

TEST_F(CacheTest, LongTermKeysAreFetchedOnce) {
  AwsCredentials forever = Temp("AKIA1", 0);
  forever.keys.session_token.clear();
  provider_->answers = {forever};
  for (int i = 0; i < 5; ++i) {
    auto r = Get();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->keys.access_key_id, "AKIA1");
    clock_.Advance(int64_t{86400} * kSecond);
  }
  EXPECT_EQ(provider_->fetches, 1);
}

TEST_F(CacheTest, ConcurrentGetsShareOneFetch) {
  provider_->immediate = false;
  provider_->answers = {Temp("ASIA1", Now() + 3600 * kSecond)};
  int answered = 0;
  for (int i = 0; i < 50; ++i) {
    cache_->Get([&](util::Result<AwsCredentials> r) {
      EXPECT_TRUE(r.ok());
      ++answered;
    });
  }
  EXPECT_EQ(provider_->fetches, 1);
  EXPECT_TRUE(cache_->fetching());
  provider_->Answer();
  Run();
  EXPECT_EQ(answered, 50);
  EXPECT_EQ(provider_->fetches, 1);
}

TEST_F(CacheTest, RefreshedFiveMinutesBeforeExpiry) {
  const int64_t expiry = Now() + 3600 * kSecond;
  provider_->answers = {Temp("ASIA1", expiry), Temp("ASIA2", expiry + 3600 * kSecond)};
  EXPECT_EQ(Get()->keys.access_key_id, "ASIA1");
  clock_.Set(expiry - 301 * kSecond);
  EXPECT_EQ(Get()->keys.access_key_id, "ASIA1");
  EXPECT_EQ(provider_->fetches, 1);
  clock_.Set(expiry - 299 * kSecond);  // inside the advisory window: refresh before use
  EXPECT_EQ(Get()->keys.access_key_id, "ASIA2");
  EXPECT_EQ(provider_->fetches, 2);
}

TEST_F(CacheTest, FailedRefreshKeepsUsingKeysThatStillWork) {
  const int64_t expiry = Now() + 3600 * kSecond;
  provider_->answers = {Temp("ASIA1", expiry), util::Unavailable("IMDS down"),
                        util::Unavailable("IMDS down"), Temp("ASIA3", expiry + 3600 * kSecond)};
  EXPECT_EQ(Get()->keys.access_key_id, "ASIA1");
  clock_.Set(expiry - 200 * kSecond);
  EXPECT_EQ(Get()->keys.access_key_id, "ASIA1");  // the refresh failed; the old keys still work
  EXPECT_EQ(provider_->fetches, 2);
  EXPECT_EQ(Get()->keys.access_key_id, "ASIA1");  // the failure is remembered a moment
  EXPECT_EQ(provider_->fetches, 2);
  // Past the mandatory window the old keys are never handed out again.
  clock_.Set(expiry - 30 * kSecond);
  auto r = Get();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "IMDS down");
  EXPECT_EQ(provider_->fetches, 3);
  EXPECT_FALSE(cache_->Cached().has_value());
  clock_.Advance(6 * kSecond);  // past error_ttl
  EXPECT_EQ(Get()->keys.access_key_id, "ASIA3");
}

TEST_F(CacheTest, ExpiredOrNearlyExpiredKeysFromASourceAreRefused) {
  provider_->answers = {Temp("ASIAOLD", Now() - kSecond), Temp("ASIASOON", Now() + 59 * kSecond),
                        Temp("ASIAOK", Now() + 3600 * kSecond)};
  auto r = Get();
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("too soon to use"), std::string::npos);
  clock_.Advance(6 * kSecond);
  r = Get();
  EXPECT_FALSE(r.ok());
  clock_.Advance(6 * kSecond);
  EXPECT_EQ(Get()->keys.access_key_id, "ASIAOK");
}

TEST_F(CacheTest, KeysInsideTheRefreshWindowAreUsedWithoutRefetchingEachTime) {
  provider_->answers = {Temp("ASIA1", Now() + 120 * kSecond),
                        Temp("ASIA2", Now() + 3600 * kSecond)};
  EXPECT_EQ(Get()->keys.access_key_id, "ASIA1");
  EXPECT_EQ(Get()->keys.access_key_id, "ASIA1");
  EXPECT_EQ(provider_->fetches, 1);
  clock_.Advance(6 * kSecond);
  EXPECT_EQ(Get()->keys.access_key_id, "ASIA2");
}

TEST_F(CacheTest, ErrorsAreRememberedBriefly) {
  provider_->answers = {util::NotFound("no AWS credentials found"),
                        Temp("ASIA1", Now() + 3600 * kSecond)};
  EXPECT_EQ(Get().status().code(), util::Code::kNotFound);
  EXPECT_EQ(Get().status().code(), util::Code::kNotFound);
  EXPECT_EQ(provider_->fetches, 1);
  clock_.Advance(5 * kSecond);
  EXPECT_TRUE(Get().ok());
  EXPECT_EQ(provider_->fetches, 2);
}

TEST_F(CacheTest, InvalidateForgetsOnlyTheRejectedKeys) {
  provider_->answers = {Temp("ASIA1", Now() + 3600 * kSecond),
                        Temp("ASIA2", Now() + 3600 * kSecond)};
  EXPECT_EQ(Get()->keys.access_key_id, "ASIA1");
  cache_->Invalidate("ASIAOTHER");  // a late rejection of keys no longer in use
  EXPECT_EQ(Get()->keys.access_key_id, "ASIA1");
  EXPECT_EQ(provider_->fetches, 1);
  cache_->Invalidate("ASIA1");
  EXPECT_EQ(Get()->keys.access_key_id, "ASIA2");
  EXPECT_EQ(provider_->fetches, 2);
}

TEST_F(CacheTest, DestroyingTheCacheDropsWaiters) {
  provider_->immediate = false;
  bool called = false;
  cache_->Get([&](util::Result<AwsCredentials>) { called = true; });
  cache_.reset();
  Run();
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace mailrelay::ses
