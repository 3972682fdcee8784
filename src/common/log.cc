#include "common/log.h"

#include <errno.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace sbx::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_fd{2};
std::atomic<uint64_t> g_dropped{0};
std::atomic<bool> g_cut{false};  // an earlier line was written only in part
std::mutex g_mu;
std::string g_component;  // guarded by g_mu

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

void AppendValue(std::string& out, std::string_view v) {
  bool quote = v.empty();
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      quote = true;
      break;
    }
  }
  if (!quote) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

}  // namespace

Field::Field(std::string_view k, double v) : key(k) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  value = buf;
}

void SetLevel(Level level) { g_level = static_cast<int>(level); }
Level GetLevel() { return static_cast<Level>(g_level.load()); }

bool ParseLevel(std::string_view name, Level* out) {
  std::string n;
  for (char c : name) n.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (n == "debug") *out = Level::kDebug;
  else if (n == "info") *out = Level::kInfo;
  else if (n == "warn" || n == "warning") *out = Level::kWarn;
  else if (n == "error") *out = Level::kError;
  else return false;
  return true;
}

void SetComponent(std::string_view component) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_component = component;
}

void SetFd(int fd) { g_fd = fd; }

std::string Format(Level level, std::string_view event, std::initializer_list<Field> fields) {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[96];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  std::string line;
  line.reserve(128);
  line += "ts=";
  line += ts;
  line += " level=";
  line += LevelName(level);
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (!g_component.empty()) {
      line += " comp=";
      AppendValue(line, g_component);
    }
  }
  line += " event=";
  AppendValue(line, event);
  for (const Field& f : fields) {
    line.push_back(' ');
    line.append(f.key);
    line.push_back('=');
    AppendValue(line, f.value);
  }
  return line;
}

bool Write(Level level, std::string_view event, std::initializer_list<Field> fields) {
  if (static_cast<int>(level) < g_level.load()) return true;
  std::string line;
  if (g_cut.exchange(false)) line.push_back('\n');
  line += Format(level, event, fields);
  line.push_back('\n');
  const char* p = line.data();
  size_t left = line.size();
  int fd = g_fd.load();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      // EAGAIN: the reader is behind and the fd is non-blocking; EPIPE: no reader at all.
      g_dropped.fetch_add(1);
      if (left < line.size()) g_cut = true;
      return false;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return true;
}

uint64_t DroppedLines() { return g_dropped.load(); }

}  // namespace sbx::log
