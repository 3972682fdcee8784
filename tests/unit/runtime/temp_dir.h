// TempDir: a fresh directory under /tmp for one test, removed (without following symlinks)
// when the test ends.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "runtime/fs_util.h"

namespace sbx::runtime::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sbx-runtime-test-XXXXXX";
    char* p = ::mkdtemp(tmpl);
    EXPECT_NE(p, nullptr);
    path_ = p ? p : "";
  }
  ~TempDir() {
    if (!path_.empty()) {
      auto r = RemoveTree(path_);
      EXPECT_TRUE(r.ok()) << r.error().ToString();
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace sbx::runtime::testing
