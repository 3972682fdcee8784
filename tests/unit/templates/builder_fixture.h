// A store and builder in a temporary directory, and the entries finalize adds to every tree.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "archive_writer.h"
#include "templates/builder.h"
#include "templates/store.h"

namespace sbx::templates::testing {

struct BuilderFixture {
  TempDir tmp;
  TemplateStore store{tmp.path() + "/templates"};
  Builder builder{&store, BuildOptions{}};
  std::vector<Progress> progress;

  BuilderFixture() { EXPECT_TRUE(store.Init().ok()); }

  spec::Template Tpl(const std::string& base, const std::string& key = "t") {
    spec::Template t;
    t.key = key;
    t.base_image = base;
    return t;
  }
  Result<BuildResult> Build(const spec::Template& t, bool force = false) {
    return builder.Build(t, [&](const Progress& p) { progress.push_back(p); }, force);
  }
};

// The tree of `rootfs` without what FinalizeRootfs adds when absent.
inline std::map<std::string, std::string> WithoutFinalize(std::map<std::string, std::string> t) {
  for (const char* k : {"proc", "dev", "sys", "tmp", "home", "home/user", "root", "run", "usr",
                        "usr/local", "etc", "etc/hosts", "etc/hostname", "etc/resolv.conf",
                        "etc/group", "etc/passwd"})
    t.erase(k);
  return t;
}

}  // namespace sbx::templates::testing
