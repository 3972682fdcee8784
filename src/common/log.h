// Structured logging: one line per event, logfmt (key=value), written with a single write(2)
// so lines from several threads never interleave. Every event names the sandbox and the
// request it belongs to when there is one (fields sandbox_id=, request_id=).
//
// Thread safety: all functions may be called from any thread. Not async-signal-safe: never call
// after fork (docs/error-handling.md).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace sbx::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v ? v : "") {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, int64_t v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, int v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, unsigned v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, uint64_t v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, double v);
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
  std::string_view key;
  std::string value;
};

void SetLevel(Level level);
Level GetLevel();
// Parses "debug", "info", "warn", "error" (any case); false if unknown.
bool ParseLevel(std::string_view name, Level* out);
// Sets the component name written as comp= on each line (e.g. "sandboxd", "agent").
void SetComponent(std::string_view component);
// Log to this fd instead of stderr (not owned).
void SetFd(int fd);

// Writes one line; false when it was dropped. A write that would block (a full pipe opened
// O_NONBLOCK), or fails (EPIPE when nobody reads; SIGPIPE must be ignored), drops the line and
// counts it: logging never waits for its reader. A line cut short by a partial write is ended
// before the next one, so a reader never sees two events on one line.
bool Write(Level level, std::string_view event, std::initializer_list<Field> fields);
// Lines dropped so far by Write.
uint64_t DroppedLines();

// Formats one logfmt line without the trailing newline (exposed for tests).
std::string Format(Level level, std::string_view event, std::initializer_list<Field> fields);

inline void Debug(std::string_view event, std::initializer_list<Field> f = {}) {
  Write(Level::kDebug, event, f);
}
inline void Info(std::string_view event, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, event, f);
}
inline void Warn(std::string_view event, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, event, f);
}
inline void Error(std::string_view event, std::initializer_list<Field> f = {}) {
  Write(Level::kError, event, f);
}

}  // namespace sbx::log
