// Image archives made by the test (two layers, a whiteout and an opaque directory) import to
// exactly the expected tree, through the whole Builder.
#include <gtest/gtest.h>

#include "builder_fixture.h"
#include "common/util.h"

namespace sbx::templates {
namespace {

using testing::BuilderFixture;
using testing::DumpTree;
using testing::MakeTar;
using testing::TarEntry;

std::vector<std::string> TwoLayers() {
  std::string l1 = MakeTar({{TarEntry::kDir, "etc"},
                            {TarEntry::kFile, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"},
                            {TarEntry::kFile, "etc/os-release", "ID=test\n"},
                            {TarEntry::kDir, "app"},
                            {TarEntry::kFile, "app/main.py", "print('v1')\n"},
                            {TarEntry::kFile, "app/secret.txt", "remove me"},
                            {TarEntry::kDir, "cache"},
                            {TarEntry::kFile, "cache/a", "a"},
                            {TarEntry::kFile, "cache/b", "b"}},
                           /*gzip=*/true);
  std::string l2 = MakeTar({{TarEntry::kFile, "app/.wh.secret.txt", ""},
                            {TarEntry::kFile, "app/main.py", "print('v2')\n"},
                            {TarEntry::kDir, "cache"},
                            {TarEntry::kFile, "cache/.wh..wh..opq", ""},
                            {TarEntry::kFile, "cache/c", "c"}});
  return {l1, l2};
}

const std::map<std::string, std::string> kExpected = {
    {"etc/os-release", "f 0644 ID=test\n"}, {"app", "d 0755"},
    {"app/main.py", "f 0644 print('v2')\n"}, {"cache", "d 0755"}, {"cache/c", "f 0644 c"}};

void CheckImported(BuilderFixture& f, const BuildResult& r) {
  EXPECT_FALSE(r.cached);
  auto lease = f.store.Acquire("t");
  ASSERT_TRUE(lease.ok()) << lease.error().ToString();
  std::string rootfs = lease->info().rootfs_dir;
  auto tree = DumpTree(rootfs);
  EXPECT_EQ(testing::WithoutFinalize(tree), kExpected);
  // Finalize kept root and appended the sandbox user.
  EXPECT_EQ(tree["etc/passwd"],
            "f 0644 root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  EXPECT_EQ(tree["tmp"], "d 1777");
  EXPECT_EQ(tree["home/user"], "d 0755");
  EXPECT_EQ(tree["proc"], "d 0555");
  EXPECT_EQ(lease->info().env.at("LANG"), "C.UTF-8");
  EXPECT_GT(lease->info().size_bytes, 0);
}

TEST(OciImport, TwoLayersWithWhiteouts) {
  BuilderFixture f;
  std::string archive = f.tmp.path() + "/image.tar";
  testing::WriteFileOrDie(archive, testing::MakeOciArchive(TwoLayers(), {"LANG=C.UTF-8", "A=b=c"}));
  auto r = f.Build(f.Tpl("oci-archive:" + archive));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  CheckImported(f, *r);
  EXPECT_EQ(r->info.env.at("A"), "b=c");
  bool saw_bytes = false, saw_layer2 = false;
  for (const Progress& p : f.progress) {
    saw_bytes = saw_bytes || p.total > 0;
    saw_layer2 = saw_layer2 || p.step == "layer 2/2";
  }
  EXPECT_TRUE(saw_bytes);
  EXPECT_TRUE(saw_layer2);
}

TEST(OciImport, DockerArchive) {
  BuilderFixture f;
  std::string archive = f.tmp.path() + "/image.tar";
  testing::WriteFileOrDie(archive, testing::MakeDockerArchive(TwoLayers(), {"LANG=C.UTF-8"}));
  auto r = f.Build(f.Tpl("docker-archive:" + archive));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  CheckImported(f, *r);
}

TEST(OciImport, CorruptBlobIsRefused) {
  BuilderFixture f;
  std::string good = testing::MakeOciArchive(TwoLayers());
  // Flip one byte of the first layer blob inside the outer tar (gzip magic stays intact).
  std::string l1 = TwoLayers()[0];
  size_t pos = good.find(l1.substr(0, 64));
  ASSERT_NE(pos, std::string::npos);
  good[pos + 40] ^= 0x55;
  std::string archive = f.tmp.path() + "/bad.tar";
  testing::WriteFileOrDie(archive, good);
  auto r = f.Build(f.Tpl("oci-archive:" + archive));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("corrupt"), std::string::npos) << r.error().message;
  EXPECT_FALSE(f.store.Acquire("t").ok());
}

TEST(OciImport, HostileLayerFailsTheBuild) {
  BuilderFixture f;
  std::string evil = MakeTar({{TarEntry::kSymlink, "etc", "/etc"},
                              {TarEntry::kFile, "etc/sbx-evil", "pwned"}});
  std::string archive = f.tmp.path() + "/evil.tar";
  testing::WriteFileOrDie(archive, testing::MakeOciArchive({evil}));
  auto r = f.Build(f.Tpl("oci-archive:" + archive));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("refused"), std::string::npos) << r.error().message;
  EXPECT_NE(::access("/etc/sbx-evil", F_OK), 0);
}

TEST(OciImport, MissingIndexIsAClearError) {
  BuilderFixture f;
  std::string archive = f.tmp.path() + "/x.tar";
  testing::WriteFileOrDie(archive, MakeTar({{TarEntry::kFile, "hello", "x"}}));
  auto r = f.Build(f.Tpl("oci-archive:" + archive));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("index.json"), std::string::npos) << r.error().message;
  auto d = f.Build(f.Tpl("docker-archive:" + archive));
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("manifest.json"), std::string::npos) << d.error().message;
}

}  // namespace
}  // namespace sbx::templates
