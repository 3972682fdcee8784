// A temporary directory with a store path, removed at the end of the test.
#pragma once

#include <filesystem>
#include <string>

#include "common/util.h"

namespace sbx::testing {

struct TempDb {
  std::string dir = "/tmp/sbx-events-test-" + RandomHex(6);
  TempDb() { std::filesystem::create_directories(dir); }
  ~TempDb() { std::filesystem::remove_all(dir); }
  std::string path() const { return dir + "/sandboxd.db"; }
};

}  // namespace sbx::testing
