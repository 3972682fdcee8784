// KeyManager over a real SQLite store in a temporary directory.
#include "auth/keys.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "common/log.h"
#include "common/util.h"
#include "store/store.h"

namespace sbx::auth {
namespace {

constexpr int64_t kHourMs = 3600LL * 1000;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int64_t kT0 = 1'780'000'000'000;  // 2026-05-28, unix ms

class KeyManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sbx-auth-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto s = store::Store::Open(dir_ + "/db");
    ASSERT_TRUE(s.ok()) << s.error().ToString();
    store_ = std::move(*s);
    keys_ = std::make_unique<KeyManager>(store_.get(), [this] { return now_; });
  }
  void TearDown() override {
    keys_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // Every byte the database has written (main file, WAL, shared memory).
  std::string DatabaseBytes() {
    std::string all;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      auto data = ReadFile(e.path().string());
      if (data.ok()) all += *data;
    }
    return all;
  }
  CreatedKey MustCreate(const std::string& tenant, const std::string& name = "ci") {
    auto k = keys_->Create(tenant, name);
    EXPECT_TRUE(k.ok()) << k.error().ToString();
    return k.ok() ? *k : CreatedKey{};
  }

  std::string dir_;
  int64_t now_ = kT0;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<KeyManager> keys_;
};

void ExpectUnauthenticated(const Result<Principal>& r, const std::string& fragment) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(r.error().message.find(fragment), std::string::npos) << r.error().message;
}

TEST_F(KeyManagerTest, CreateThenAuthenticate) {
  CreatedKey k = MustCreate("acme");
  ASSERT_EQ(k.plaintext.size(), 44u);
  EXPECT_EQ(k.plaintext.rfind("sbx_", 0), 0u);
  EXPECT_EQ(k.info.id.size(), 16u);
  EXPECT_EQ(k.info.id.rfind("key_", 0), 0u);
  EXPECT_EQ(k.info.prefix, k.plaintext.substr(0, 8));
  EXPECT_EQ(k.info.tenant, "acme");
  EXPECT_EQ(k.info.expires_at_ms, kT0 + 90 * kDayMs);

  auto p = keys_->Authenticate(k.plaintext, kT0 + 1000);
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  EXPECT_EQ(p->key_id, k.info.id);
  EXPECT_EQ(p->tenant, "acme");
  EXPECT_FALSE(p->admin);
  auto info = keys_->Get(k.info.id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->last_used_at_ms, kT0 + 1000);
}

TEST_F(KeyManagerTest, E2BFormatKeysAuthenticateAndKeepTheirFormWhenRotated) {
  auto k = keys_->Create("acme", "sdk", 30, KeyFormat::kE2B);
  ASSERT_TRUE(k.ok()) << k.error().ToString();
  // E2B's Python SDK checks ^e2b_[0-9a-f]+$ before it sends a key.
  ASSERT_EQ(k->plaintext.size(), 44u);
  EXPECT_EQ(k->plaintext.rfind("e2b_", 0), 0u);
  EXPECT_EQ(k->plaintext.find_first_not_of("0123456789abcdef", 4), std::string::npos);
  auto p = keys_->Authenticate(k->plaintext, kT0 + 1);
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  EXPECT_EQ(p->tenant, "acme");
  auto rotated = keys_->Rotate(k->info.id);
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ(rotated->plaintext.rfind("e2b_", 0), 0u);
  // Upper-case hex or a short key is not a key of either form.
  std::string upper = k->plaintext;
  upper[10] = 'A';
  ExpectUnauthenticated(keys_->Authenticate(upper, kT0 + 2), "malformed");
  ExpectUnauthenticated(keys_->Authenticate("e2b_abc", kT0 + 2), "malformed");
  EXPECT_FALSE(ParseKeyFormat("E2B").ok());
  EXPECT_EQ(*ParseKeyFormat("sbx"), KeyFormat::kSandboxd);
}

TEST_F(KeyManagerTest, KeysAreRandomAndDistinct) {
  std::set<std::string> seen, ids;
  for (int i = 0; i < 50; ++i) {
    CreatedKey k = MustCreate("acme");
    EXPECT_TRUE(seen.insert(k.plaintext).second);
    EXPECT_TRUE(ids.insert(k.info.id).second);
  }
}

TEST_F(KeyManagerTest, PlaintextNeverInDatabaseOrLog) {
  // Capture the log in a temporary file.
  std::string log_path = dir_ + "/../" + std::filesystem::path(dir_).filename().string() + ".log";
  int fd = ::open(log_path.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  log::SetFd(fd);
  CreatedKey a = MustCreate("acme");
  auto rotated = keys_->Rotate(a.info.id);
  ASSERT_TRUE(rotated.ok());
  ASSERT_TRUE(keys_->Authenticate(a.plaintext, kT0).ok());
  ASSERT_TRUE(keys_->Authenticate(rotated->plaintext, kT0).ok());
  log::SetFd(2);
  ::close(fd);

  std::string db = DatabaseBytes();
  ASSERT_FALSE(db.empty());
  for (const std::string& secret : {a.plaintext, rotated->plaintext}) {
    EXPECT_EQ(db.find(secret), std::string::npos);
    EXPECT_EQ(db.find(secret.substr(8)), std::string::npos);  // not even the random part
    EXPECT_NE(db.find(HashKey(secret)), std::string::npos);   // the hash is what is kept
  }
  auto log_text = ReadFile(log_path);
  std::filesystem::remove(log_path);
  ASSERT_TRUE(log_text.ok());
  EXPECT_NE(log_text->find("api_key_created"), std::string::npos);
  EXPECT_EQ(log_text->find(a.plaintext.substr(8)), std::string::npos);
  EXPECT_EQ(log_text->find(rotated->plaintext.substr(8)), std::string::npos);
}

TEST_F(KeyManagerTest, MissingMalformedAndUnknownKeys) {
  CreatedKey k = MustCreate("acme");
  ExpectUnauthenticated(keys_->Authenticate("", kT0), "no API key given");
  ExpectUnauthenticated(keys_->Authenticate("hunter2", kT0), "malformed API key");
  ExpectUnauthenticated(keys_->Authenticate(k.plaintext + "x", kT0), "malformed API key");
  // Right shape, one character changed: unknown. The message never echoes the key.
  std::string wrong = k.plaintext;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  auto r = keys_->Authenticate(wrong, kT0);
  ExpectUnauthenticated(r, "API key not recognised");
  EXPECT_EQ(r.error().message.find(wrong.substr(4, 8)), std::string::npos);
}

TEST_F(KeyManagerTest, RevokedKeyIsRefusedWithTime) {
  CreatedKey k = MustCreate("acme");
  now_ = kT0 + kHourMs;
  ASSERT_TRUE(keys_->Revoke(k.info.id).ok());
  now_ = kT0 + 2 * kHourMs;
  ASSERT_TRUE(keys_->Revoke(k.info.id).ok());  // idempotent, keeps the first time
  auto r = keys_->Authenticate(k.plaintext, kT0 + 3 * kHourMs);
  ExpectUnauthenticated(r, "API key " + k.info.id + " was revoked at " + ToRfc3339(kT0 + kHourMs));
  auto missing = keys_->Revoke("key_000000000000");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_F(KeyManagerTest, ExpiredKeyIsRefusedWithHowToFix) {
  auto k = keys_->Create("acme", "short", 1);
  ASSERT_TRUE(k.ok());
  const int64_t expiry = kT0 + kDayMs;
  EXPECT_TRUE(keys_->Authenticate(k->plaintext, expiry - 1).ok());
  auto r = keys_->Authenticate(k->plaintext, expiry);
  ExpectUnauthenticated(r, "API key " + k->info.id + " expired at " + ToRfc3339(expiry) +
                               "; create a new one with `sbx keys create` or rotate it");
  auto info = keys_->Get(k->info.id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->Status(expiry), "expired");
  EXPECT_EQ(info->Status(expiry - 1), "active");
}

TEST_F(KeyManagerTest, RotationKeepsOldKeyForTheOverlapOnly) {
  CreatedKey old_key = MustCreate("acme", "deploy");
  now_ = kT0 + 10 * kDayMs;
  auto fresh = keys_->Rotate(old_key.info.id, 24);
  ASSERT_TRUE(fresh.ok()) << fresh.error().ToString();
  EXPECT_NE(fresh->plaintext, old_key.plaintext);
  EXPECT_EQ(fresh->info.tenant, "acme");
  EXPECT_EQ(fresh->info.name, "deploy");
  EXPECT_EQ(fresh->info.rotated_from, old_key.info.id);
  EXPECT_EQ(fresh->info.expires_at_ms, now_ + 90 * kDayMs);

  const int64_t overlap_end = now_ + 24 * kHourMs;
  EXPECT_TRUE(keys_->Authenticate(old_key.plaintext, overlap_end - 1).ok());
  ExpectUnauthenticated(keys_->Authenticate(old_key.plaintext, overlap_end), "expired at");
  auto p = keys_->Authenticate(fresh->plaintext, overlap_end + 1);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->tenant, "acme");
  EXPECT_EQ(p->key_id, fresh->info.id);
}

TEST_F(KeyManagerTest, RotationNeverExtendsAnExpiry) {
  auto k = keys_->Create("acme", "", 1);
  ASSERT_TRUE(k.ok());
  now_ = kT0 + kDayMs - kHourMs;  // one hour before expiry; overlap 24 h would extend it
  auto fresh = keys_->Rotate(k->info.id, 24);
  ASSERT_TRUE(fresh.ok());
  auto old_info = keys_->Get(k->info.id);
  ASSERT_TRUE(old_info.ok());
  EXPECT_EQ(old_info->expires_at_ms, kT0 + kDayMs);
}

TEST_F(KeyManagerTest, RevokedKeyCannotBeRotated) {
  CreatedKey k = MustCreate("acme");
  ASSERT_TRUE(keys_->Revoke(k.info.id).ok());
  auto r = keys_->Rotate(k.info.id);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  auto missing = keys_->Rotate("key_ffffffffffff");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto bad_overlap = keys_->Rotate(k.info.id, -1);
  ASSERT_FALSE(bad_overlap.ok());
  EXPECT_EQ(bad_overlap.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(KeyManagerTest, ListIsPerTenantAndHidesSecrets) {
  CreatedKey a1 = MustCreate("acme", "one");
  now_ += 1;
  CreatedKey a2 = MustCreate("acme", "two");
  CreatedKey b = MustCreate("globex", "three");
  auto acme = keys_->List("acme");
  ASSERT_TRUE(acme.ok());
  ASSERT_EQ(acme->size(), 2u);
  EXPECT_EQ((*acme)[0].id, a1.info.id);
  EXPECT_EQ((*acme)[1].id, a2.info.id);
  auto all = keys_->List("");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);

  for (const KeyInfo& k : *all) {
    std::string json = KeyInfoToJson(k, now_).dump();
    EXPECT_EQ(json.find("hash"), std::string::npos) << json;
    for (const CreatedKey* c : {&a1, &a2, &b}) {
      EXPECT_EQ(json.find(c->plaintext.substr(8)), std::string::npos);
      EXPECT_EQ(json.find(HashKey(c->plaintext)), std::string::npos);
    }
    EXPECT_NE(json.find("\"prefix\":\"sbx_"), std::string::npos);
    EXPECT_NE(json.find("\"status\":\"active\""), std::string::npos);
  }
}

TEST_F(KeyManagerTest, TenantNamesAreValidated) {
  for (const char* good : {"a", "acme", "team_1", "a-b", "0"})
    EXPECT_TRUE(ValidateTenant(good).ok()) << good;
  for (std::string bad :
       {std::string(), std::string("Acme"), std::string("a b"), std::string("a/b"),
        std::string("a.b"), std::string(65, 'a'), std::string("t\xc3\xa9")}) {
    auto r = keys_->Create(bad, "x");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(ValidateTenant(std::string(64, 'a')).ok());
  EXPECT_FALSE(keys_->Create("acme", "x", 0).ok());
  EXPECT_FALSE(keys_->Create("acme", "line\nbreak").ok());
  EXPECT_FALSE(keys_->List("Bad Tenant").ok());
}

TEST_F(KeyManagerTest, LastUsedIsWrittenAtMostOnceAMinute) {
  CreatedKey k = MustCreate("acme");
  ASSERT_TRUE(keys_->Authenticate(k.plaintext, kT0).ok());
  ASSERT_TRUE(keys_->Authenticate(k.plaintext, kT0 + 30'000).ok());
  EXPECT_EQ(keys_->Get(k.info.id)->last_used_at_ms, kT0);
  ASSERT_TRUE(keys_->Authenticate(k.plaintext, kT0 + 61'000).ok());
  EXPECT_EQ(keys_->Get(k.info.id)->last_used_at_ms, kT0 + 61'000);
}

TEST(PrincipalTest, TenantsSeeOnlyTheirOwn) {
  Principal acme{"key_1", "acme", false};
  EXPECT_TRUE(CanAccess(acme, "acme"));
  EXPECT_FALSE(CanAccess(acme, "globex"));
  EXPECT_FALSE(CanAccess(acme, ""));  // administrator-created sandboxes
  EXPECT_TRUE(CanAccess(Principal::Admin(), "globex"));
  EXPECT_TRUE(CanAccess(Principal::Admin(), ""));
  EXPECT_FALSE(CanAccess(Principal{}, ""));  // an empty principal sees nothing
}

}  // namespace
}  // namespace sbx::auth
