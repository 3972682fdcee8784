// stats: `sbx stats` -- a live table of the running sandboxes' resource use, like
// `docker stats`, from GET /v1/stats (the monitor's overview, docs/monitoring.md).
//   sbx stats               refreshes the table every --interval seconds until interrupted
//   sbx stats --no-stream   prints the table once
//   sbx stats --json        the overview as JSON: one document with --no-stream, else one
//                           compact JSON line per refresh
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <thread>

#include "cli/commands.h"

namespace sbx::cli {
namespace {

double Num(const OJson& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0;
}

}  // namespace

std::string FormatBytes(double bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%.0f%s", bytes, kUnits[u]);
  else
    std::snprintf(buf, sizeof buf, bytes < 10 ? "%.2f%s" : bytes < 100 ? "%.1f%s" : "%.0f%s",
                  bytes, kUnits[u]);
  return buf;
}

std::string FormatStatsTable(const OJson& overview) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-24s %8s %23s %7s %6s %10s %7s\n", "SANDBOX ID", "CPU %",
                "MEM USAGE / LIMIT", "MEM %", "PIDS", "DISK", "DISK %");
  out += line;
  auto row = [&](const std::string& id, const OJson& c, bool host) {
    std::string mem = FormatBytes(Num(c, "memory_used")) + " / " + FormatBytes(Num(c, "memory_limit"));
    std::snprintf(line, sizeof line, "%-24s %7.2f%% %23s %6.2f%% %6s %10s %6.2f%%\n", id.c_str(),
                  Num(c, "cpu_percent"), mem.c_str(), Num(c, "memory_percent"),
                  host ? "-" : std::to_string(static_cast<int64_t>(Num(c, "pids"))).c_str(),
                  FormatBytes(Num(c, "disk_used")).c_str(), Num(c, "disk_percent"));
    out += line;
  };
  if (overview.is_object() && overview.contains("sandboxes") && overview["sandboxes"].is_array())
    for (const auto& s : overview["sandboxes"]) row(StringField(s, "sandbox_id", "?"), s, false);
  if (overview.is_object() && overview.contains("host") && overview["host"].is_object())
    row("(host)", overview["host"], true);
  return out;
}

CLI::App* AddStatsCommand(CLI::App& app, StatsArgs& args) {
  CLI::App* sub =
      app.add_subcommand("stats", "Live resource use of the running sandboxes (like docker stats)");
  sub->add_flag("--no-stream", args.no_stream, "Print once instead of refreshing");
  sub->add_flag("--json", args.json, "Print the overview as JSON (one line per refresh)");
  sub->add_option("--interval", args.interval_s, "Seconds between refreshes (default 1)")
      ->check(CLI::Range(0.1, 3600.0));
  return sub;
}

Outcome RunStats(Client& client, const StatsArgs& args, const ProgressOut& write) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  for (bool first = true;; first = false) {
    Result<OJson> r = client.CallJson("GET", "/v1/stats", nullptr, kDefaultTimeoutS);
    if (!r.ok()) {
      // A daemon that goes away while streaming ends the stream like an error.
      return ErrorOutcome(r.error());
    }
    OJson overview = *r;
    overview.erase("success");
    if (args.no_stream && args.json) return SuccessOutcome(overview);
    if (args.json) {
      write(overview.dump(-1, ' ', false, OJson::error_handler_t::replace) + "\n");
    } else {
      std::string text = FormatStatsTable(overview);
      if (!args.no_stream && tty && !first) text = "\033[H\033[2J" + text;
      else if (!args.no_stream && tty) text = "\033[2J\033[H" + text;
      else if (!args.no_stream && !first) text = "\n" + text;
      write(text);
    }
    if (args.no_stream) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(args.interval_s * 1000)));
  }
  Outcome done;  // already printed: a null body prints nothing more
  return done;
}

}  // namespace sbx::cli
