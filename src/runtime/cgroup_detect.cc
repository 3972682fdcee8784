// MakeCgroupDriver: finds the daemon's own cgroup in each hierarchy (/proc/self/cgroup and
// /proc/self/mountinfo) and returns the driver for the host's layout, with sandbox cgroups
// under <own cgroup>/<instance>.
#include <unistd.h>
#include <linux/magic.h>
#include <sys/statfs.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/util.h"
#include "runtime/cgroup.h"
#include "runtime/fs_util.h"

namespace sbx::runtime {
namespace {

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

struct ProcCgroupLine {
  std::vector<std::string> controllers;  // empty for the v2 line "0::/path"
  std::string path;
};

Result<std::vector<ProcCgroupLine>> ReadProcSelfCgroup() {
  ASSIGN_OR_RETURN(std::string text, ReadFile("/proc/self/cgroup"));
  std::vector<ProcCgroupLine> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    ProcCgroupLine l;
    std::string ctl = line.substr(a + 1, b - a - 1);
    std::istringstream cs(ctl);
    std::string c;
    while (std::getline(cs, c, ',')) {
      if (!c.empty()) l.controllers.push_back(c);
    }
    l.path = line.substr(b + 1);
    out.push_back(std::move(l));
  }
  return out;
}

// <mount point> + (own path relative to the mount's root) + "/" + instance.
std::string BaseFor(const MountEntry& m, std::string own, const std::string& instance) {
  if (m.root != "/" && own.compare(0, m.root.size(), m.root) == 0) own = own.substr(m.root.size());
  std::string base = m.mount_point;
  if (!own.empty() && own != "/") base += own[0] == '/' ? own : "/" + own;
  return base + "/" + instance;
}

bool HasOption(const std::string& options, const std::string& name) {
  std::istringstream in(options);
  std::string o;
  while (std::getline(in, o, ',')) {
    if (o == name) return true;
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<CgroupDriver>> MakeCgroupDriver(const std::string& instance) {
  if (instance.empty() || instance == "." || instance == ".." ||
      instance.find('/') != std::string::npos) {
    return MakeError(ErrorCode::kInvalidArgument, "bad cgroup instance name '" + instance + "'");
  }
  ASSIGN_OR_RETURN(std::vector<ProcCgroupLine> own, ReadProcSelfCgroup());
  ASSIGN_OR_RETURN(std::vector<MountEntry> mounts, ReadMountInfo());

  struct statfs sfs;
  if (::statfs("/sys/fs/cgroup", &sfs) != 0) return SysError("statfs /sys/fs/cgroup");
  if (static_cast<unsigned long>(sfs.f_type) == CGROUP2_SUPER_MAGIC) {
    const ProcCgroupLine* line = nullptr;
    for (const ProcCgroupLine& l : own) {
      if (l.controllers.empty()) line = &l;
    }
    if (line == nullptr) {
      return MakeError(ErrorCode::kFailedPrecondition, "no cgroup v2 line in /proc/self/cgroup");
    }
    for (const MountEntry& m : mounts) {
      if (m.mount_point == "/sys/fs/cgroup" && m.fs_type == "cgroup2") {
        return MakeCgroupV2Driver(BaseFor(m, line->path, instance));
      }
    }
    return MakeCgroupV2Driver(
        BaseFor(MountEntry{0, 0, "/", "/sys/fs/cgroup", "cgroup2", "", ""}, line->path, instance));
  }

  std::map<std::string, std::string> bases;
  for (const char* controller : {"memory", "cpu", "cpuacct", "pids", "freezer"}) {
    const ProcCgroupLine* line = nullptr;
    for (const ProcCgroupLine& l : own) {
      for (const std::string& c : l.controllers) {
        if (c == controller) line = &l;
      }
    }
    const MountEntry* mount = nullptr;
    for (const MountEntry& m : mounts) {
      if (m.fs_type == "cgroup" && HasOption(m.super_options, controller)) {
        mount = &m;
        break;
      }
    }
    if (line == nullptr || mount == nullptr) {
      if (std::string(controller) == "cpuacct" || std::string(controller) == "freezer") continue;
      return MakeError(ErrorCode::kFailedPrecondition,
                       std::string("cgroup v1 controller '") + controller +
                           "' is not mounted (see /proc/self/mountinfo)");
    }
    bases[controller] = BaseFor(*mount, line->path, instance);
  }
  return MakeCgroupV1Driver(std::move(bases));
}

}  // namespace sbx::runtime

namespace sbx::runtime {

Result<void> CgroupDriver::RemoveInstance() {
  for (const std::string& base : BaseDirs()) {
    // rmdir only: a cgroup directory with child cgroups is never removed from under them.
    if (::rmdir(base.c_str()) != 0 && errno != ENOENT)
      return SysError("rmdir " + base + " (the daemon's cgroup instance directory)");
  }
  return Ok();
}

}  // namespace sbx::runtime
