// CgroupCleanup: at the end of a test that uses the machine's real cgroups, kills and removes
// the listed sandbox cgroups and the instance directories, even when an assertion failed.
#pragma once

#include <unistd.h>

#include <string>
#include <vector>

#include "runtime/cgroup.h"

namespace sbx::runtime::testing {

class CgroupCleanup {
 public:
  CgroupCleanup(CgroupDriver* driver, std::vector<std::string> ids)
      : driver_(driver), ids_(std::move(ids)) {}
  ~CgroupCleanup() {
    for (const std::string& id : ids_) {
      (void)driver_->KillAll(id);
      (void)driver_->Destroy(id);
    }
    for (const std::string& b : driver_->BaseDirs()) ::rmdir(b.c_str());
  }

 private:
  CgroupDriver* driver_;
  std::vector<std::string> ids_;
};

}  // namespace sbx::runtime::testing
