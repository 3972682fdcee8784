// Host readings for the monitor: CPU times (/proc/stat), memory (/proc/meminfo), load
// (/proc/loadavg) and the file system of the state directory (statvfs). Parsers are pure
// functions of the file text so tests feed them fixed inputs; Read* functions do the I/O.
//
// Thread safety: every function is reentrant; none keeps state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sbx::monitor {

// The aggregate "cpu" line of /proc/stat, in USER_HZ ticks.
struct CpuTimes {
  uint64_t busy = 0;   // user + nice + system + irq + softirq + steal
  uint64_t total = 0;  // busy + idle + iowait
};
Result<CpuTimes> ParseProcStat(std::string_view text);
// Host CPU use in percent of all CPUs between two readings (0 when no time passed).
double HostCpuPercent(const CpuTimes& before, const CpuTimes& after);

struct MemInfo {
  int64_t total_bytes = 0;
  int64_t available_bytes = 0;  // MemAvailable; MemFree+Buffers+Cached on old kernels
  int64_t cached_bytes = 0;     // Cached
};
Result<MemInfo> ParseMeminfo(std::string_view text);

struct LoadAvg {
  double load1 = 0, load5 = 0, load15 = 0;
  int64_t tasks = 0;  // scheduling entities (threads) on the host, the 4th field's total
};
Result<LoadAvg> ParseLoadavg(std::string_view text);

struct FsUsage {
  int64_t total_bytes = 0;
  int64_t used_bytes = 0;   // total - free (what df calls used, root's reserve counted as used)
  int64_t avail_bytes = 0;  // available to unprivileged users
};
Result<FsUsage> StatFs(const std::string& path);

// Reads and parses <proc_root>/stat, meminfo, loadavg ("/proc" on a real host).
Result<CpuTimes> ReadCpuTimes(const std::string& proc_root = "/proc");
Result<MemInfo> ReadMeminfo(const std::string& proc_root = "/proc");
Result<LoadAvg> ReadLoadavg(const std::string& proc_root = "/proc");
// Online CPUs (sysconf), at least 1.
int OnlineCpus();

}  // namespace sbx::monitor
