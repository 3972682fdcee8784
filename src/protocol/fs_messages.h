// filesystem.Filesystem messages (E2B-PROTOCOL.md 3.3): EntryInfo and its JSON, Go's
// os.FileMode.String() rendering of st_mode, and protobuf-JSON Timestamps (RFC 3339, UTC,
// 0/3/6/9 fraction digits).
//
// Thread safety: pure functions.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "protocol/json_fields.h"

namespace sbx::protocol {

enum class FileType { kUnspecified = 0, kFile = 1, kDirectory = 2, kSymlink = 3 };

const char* FileTypeName(FileType type);  // "FILE_TYPE_FILE", ...
FileType FileTypeFromMode(uint32_t st_mode);

// Go os.FileMode(st_mode converted).String(): "-rw-r--r--", "drwxr-xr-x", "Lrwxrwxrwx",
// "dtrwxrwxrwt"-style prefixes for setuid (u), setgid (g), sticky (t), devices (D, Dc),
// pipes (p) and sockets (S).
std::string FileModeString(uint32_t st_mode);

// protobuf JSON Timestamp: "2024-01-01T00:00:00Z", "...00.123Z", "...00.123456Z",
// "...00.123456789Z".
std::string Rfc3339Nanos(int64_t unix_sec, int64_t nsec);
// Parses an RFC 3339 timestamp (1-9 fraction digits, Z or +-hh:mm) into unix seconds and
// nanoseconds.
Result<std::pair<int64_t, int32_t>> ParseRfc3339(std::string_view text);

struct EntryInfo {
  std::string name;
  FileType type = FileType::kUnspecified;
  std::string path;
  int64_t size = 0;
  uint32_t mode = 0;  // permission bits only
  std::string permissions;
  std::string owner;
  std::string group;
  int64_t mtime_sec = 0;
  int64_t mtime_nsec = 0;
  std::optional<std::string> symlink_target;
  std::map<std::string, std::string> metadata;  // envd >= 0.6.2: user.e2b.* xattrs
};

// Fills everything but owner/group names from an lstat result.
EntryInfo EntryInfoFromStat(std::string name, std::string path, const struct stat& st);
Json EntryInfoJson(const EntryInfo& entry);
// {"entry": EntryInfoJson}
Json EntryResponseJson(const EntryInfo& entry);

// Request shapes.
struct ListDirRequest {
  std::string path;
  uint32_t depth = 1;
};
struct MoveRequest {
  std::string source;
  std::string destination;
};
// WatchDir and CreateWatcher: {path, recursive, includeEntry, allowNetworkMounts}.
struct WatchRequest {
  std::string path;
  bool recursive = false;
  bool include_entry = false;
  bool allow_network_mounts = false;
};
Result<WatchRequest> ParseWatchRequest(const Json& body);

enum class EventType { kUnspecified = 0, kCreate = 1, kWrite = 2, kRemove = 3, kRename = 4,
                       kChmod = 5 };
const char* EventTypeName(EventType type);  // "EVENT_TYPE_CREATE", ...

struct FilesystemEvent {
  std::string name;  // relative to the watched directory
  EventType type = EventType::kUnspecified;
  std::optional<EntryInfo> entry;
};
// {"name","type","entry"?}
Json FilesystemEventJson(const FilesystemEvent& event);

// Stat, MakeDir and Remove carry only {"path"}; the path must be non-empty.
Result<std::string> ParsePathRequest(const Json& body);
Result<ListDirRequest> ParseListDirRequest(const Json& body);
Result<MoveRequest> ParseMoveRequest(const Json& body);

// The `mode` query parameter of a file upload (a sandboxd extension of envd's POST /files):
// permission bits in octal, "755" or "0755". Only 0-0777: setuid, setgid and sticky are
// refused, so an upload can never make a set-id program. Errors are kInvalidArgument and name
// `param`.
Result<uint32_t> ParsePermissionMode(std::string_view text, std::string_view param = "mode");

}  // namespace sbx::protocol
