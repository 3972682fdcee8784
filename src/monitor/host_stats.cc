// Parsers and readers of the host's /proc files and statvfs.
#include "monitor/host_stats.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "common/util.h"

namespace sbx::monitor {
namespace {

std::string_view FirstLine(std::string_view text) {
  size_t nl = text.find('\n');
  return nl == std::string_view::npos ? text : text.substr(0, nl);
}

}  // namespace

Result<CpuTimes> ParseProcStat(std::string_view text) {
  std::string_view line = FirstLine(text);
  if (line.substr(0, 4) != "cpu ")
    return MakeError(ErrorCode::kInternal, "/proc/stat: first line is not the cpu total");
  std::istringstream in{std::string(line.substr(4))};
  // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already
  // counted in user and nice, so it is not added again.
  std::vector<uint64_t> f;
  uint64_t v = 0;
  while (f.size() < 8 && in >> v) f.push_back(v);
  if (f.size() < 4)
    return MakeError(ErrorCode::kInternal, "/proc/stat: cpu line has fewer than 4 fields");
  f.resize(8, 0);
  CpuTimes t;
  uint64_t idle = f[3] + f[4];
  t.busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
  t.total = t.busy + idle;
  return t;
}

double HostCpuPercent(const CpuTimes& before, const CpuTimes& after) {
  if (after.total <= before.total || after.busy < before.busy) return 0;
  double pct = 100.0 * static_cast<double>(after.busy - before.busy) /
               static_cast<double>(after.total - before.total);
  return pct > 100 ? 100 : pct;
}

Result<MemInfo> ParseMeminfo(std::string_view text) {
  MemInfo m;
  int64_t free_kb = -1, buffers_kb = 0, cached_kb = 0, avail_kb = -1, total_kb = -1;
  std::istringstream in{std::string(text)};
  std::string key;
  int64_t kb = 0;
  std::string unit;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    if (!(ls >> key >> kb)) continue;
    if (key == "MemTotal:")
      total_kb = kb;
    else if (key == "MemFree:")
      free_kb = kb;
    else if (key == "MemAvailable:")
      avail_kb = kb;
    else if (key == "Buffers:")
      buffers_kb = kb;
    else if (key == "Cached:")
      cached_kb = kb;
  }
  if (total_kb < 0) return MakeError(ErrorCode::kInternal, "/proc/meminfo: no MemTotal");
  if (avail_kb < 0) {
    if (free_kb < 0) return MakeError(ErrorCode::kInternal, "/proc/meminfo: no MemFree");
    avail_kb = free_kb + buffers_kb + cached_kb;
  }
  m.total_bytes = total_kb * 1024;
  m.available_bytes = avail_kb * 1024;
  m.cached_bytes = cached_kb * 1024;
  return m;
}

Result<LoadAvg> ParseLoadavg(std::string_view text) {
  LoadAvg l;
  std::istringstream in{std::string(text)};
  if (!(in >> l.load1 >> l.load5 >> l.load15))
    return MakeError(ErrorCode::kInternal, "/proc/loadavg: expected three numbers");
  std::string runnable;  // "running/total"
  if (in >> runnable) {
    size_t slash = runnable.find('/');
    if (slash != std::string::npos) l.tasks = std::atoll(runnable.c_str() + slash + 1);
  }
  return l;
}

Result<FsUsage> StatFs(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return SysError("statvfs " + path);
  FsUsage u;
  auto frsize = static_cast<int64_t>(st.f_frsize ? st.f_frsize : st.f_bsize);
  u.total_bytes = static_cast<int64_t>(st.f_blocks) * frsize;
  u.used_bytes = static_cast<int64_t>(st.f_blocks - st.f_bfree) * frsize;
  u.avail_bytes = static_cast<int64_t>(st.f_bavail) * frsize;
  return u;
}

Result<CpuTimes> ReadCpuTimes(const std::string& proc_root) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(proc_root + "/stat"));
  return ParseProcStat(text);
}

Result<MemInfo> ReadMeminfo(const std::string& proc_root) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(proc_root + "/meminfo"));
  return ParseMeminfo(text);
}

Result<LoadAvg> ReadLoadavg(const std::string& proc_root) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(proc_root + "/loadavg"));
  return ParseLoadavg(text);
}

int OnlineCpus() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace sbx::monitor
