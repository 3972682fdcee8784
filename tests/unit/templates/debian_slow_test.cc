// A real debian:bookworm build with mmdebstrap (needs the Debian mirror, about 30-60 s): a
// Debian package, a Python package mapped to its python3-* package, and a broken package name
// that fails its build with the package named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include "builder_fixture.h"
#include "runtime/fs_util.h"
#include "templates/command.h"

namespace sbx::templates {
namespace {

using testing::BuilderFixture;

TEST(TemplatesSlow, DebianBookwormWithAPythonPackageFromDebian) {
  if (FindProgram("mmdebstrap").empty()) GTEST_SKIP() << "mmdebstrap is not installed";
  BuilderFixture f;
  spec::Template t = f.Tpl("debian:bookworm", "mini");
  t.packages = {"jq"};
  t.python_packages = {"six"};
  auto r = f.Build(t);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  const std::string& root = r->info.rootfs_dir;
  EXPECT_TRUE(runtime::PathExists(root + "/usr/bin/jq"));
  EXPECT_TRUE(runtime::PathExists(root + "/usr/lib/python3/dist-packages/six.py"));
  EXPECT_FALSE(runtime::PathExists(root + "/usr/share/man/man1/jq.1.gz"));
  auto& deb = r->info.debian_packages;
  EXPECT_NE(std::find(deb.begin(), deb.end(), "python3-six"), deb.end());
  EXPECT_TRUE(r->info.pip_packages.empty());
  EXPECT_GT(r->info.size_bytes, 50 << 20);
  bool saw_mmdebstrap_line = false;
  for (const Progress& p : f.progress) saw_mmdebstrap_line |= p.step == "mmdebstrap";
  EXPECT_TRUE(saw_mmdebstrap_line);

}

// (Builder.FailedBuildKeepsTheOldVersionServing shows the old version surviving a failure.)
TEST(TemplatesSlow, BrokenDebianPackageIsNamed) {
  if (FindProgram("mmdebstrap").empty()) GTEST_SKIP() << "mmdebstrap is not installed";
  BuilderFixture f;
  spec::Template t = f.Tpl("debian:bookworm", "broken");
  t.packages = {"curl", "sbx-no-such-package"};
  auto b = f.Build(t);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("'sbx-no-such-package' not found in bookworm"),
            std::string::npos)
      << b.error().message;
  EXPECT_TRUE(f.store.BuiltNames().empty());
}

}  // namespace
}  // namespace sbx::templates
