// filesystem.Filesystem message helpers.
#include "protocol/fs_messages.h"

#include <cstdio>
#include <ctime>

namespace sbx::protocol {

const char* FileTypeName(FileType type) {
  switch (type) {
    case FileType::kFile: return "FILE_TYPE_FILE";
    case FileType::kDirectory: return "FILE_TYPE_DIRECTORY";
    case FileType::kSymlink: return "FILE_TYPE_SYMLINK";
    case FileType::kUnspecified: break;
  }
  return "FILE_TYPE_UNSPECIFIED";
}

FileType FileTypeFromMode(uint32_t st_mode) {
  if (S_ISREG(st_mode)) return FileType::kFile;
  if (S_ISDIR(st_mode)) return FileType::kDirectory;
  if (S_ISLNK(st_mode)) return FileType::kSymlink;
  return FileType::kUnspecified;
}

std::string FileModeString(uint32_t st_mode) {
  // Go renders the type and special bits in the order of "dalTLDpSugct?" and then rwx x3.
  std::string out;
  const uint32_t fmt = st_mode & S_IFMT;
  if (fmt == S_IFDIR) out.push_back('d');
  if (fmt == S_IFLNK) out.push_back('L');
  if (fmt == S_IFBLK || fmt == S_IFCHR) out.push_back('D');
  if (fmt == S_IFIFO) out.push_back('p');
  if (fmt == S_IFSOCK) out.push_back('S');
  if (st_mode & S_ISUID) out.push_back('u');
  if (st_mode & S_ISGID) out.push_back('g');
  if (fmt == S_IFCHR) out.push_back('c');
  if (st_mode & S_ISVTX) out.push_back('t');
  if (fmt != 0 && fmt != S_IFREG && fmt != S_IFDIR && fmt != S_IFLNK && fmt != S_IFBLK &&
      fmt != S_IFCHR && fmt != S_IFIFO && fmt != S_IFSOCK) {
    out.push_back('?');
  }
  if (out.empty()) out.push_back('-');
  static const char kRwx[] = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) {
    out.push_back((st_mode & (1u << (8 - i))) ? kRwx[i] : '-');
  }
  return out;
}

std::string Rfc3339Nanos(int64_t unix_sec, int64_t nsec) {
  if (nsec < 0 || nsec >= 1000000000) {
    unix_sec += nsec / 1000000000;
    nsec %= 1000000000;
    if (nsec < 0) {
      nsec += 1000000000;
      --unix_sec;
    }
  }
  std::time_t secs = static_cast<std::time_t>(unix_sec);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out(buf, static_cast<size_t>(n));
  if (nsec != 0) {
    if (nsec % 1000000 == 0) {
      std::snprintf(buf, sizeof buf, ".%03lld", static_cast<long long>(nsec / 1000000));
    } else if (nsec % 1000 == 0) {
      std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(nsec / 1000));
    } else {
      std::snprintf(buf, sizeof buf, ".%09lld", static_cast<long long>(nsec));
    }
    out += buf;
  }
  out.push_back('Z');
  return out;
}

namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

}  // namespace

Result<std::pair<int64_t, int32_t>> ParseRfc3339(std::string_view s) {
  auto bad = [&] {
    return MakeError(ErrorCode::kInvalidArgument, "bad RFC 3339 timestamp '" + std::string(s) +
                                                      "'");
  };
  int year, mon, day, hour, min, sec;
  if (!Digits(s, 0, 4, &year) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, &mon) ||
      s[7] != '-' || !Digits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
      !Digits(s, 11, 2, &hour) || s[13] != ':' || !Digits(s, 14, 2, &min) || s[16] != ':' ||
      !Digits(s, 17, 2, &sec)) {
    return bad();
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
    return bad();
  }
  size_t pos = 19;
  int64_t nsec = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (++digits > 9) return bad();
      nsec = nsec * 10 + (s[pos] - '0');
      ++pos;
    }
    if (digits == 0) return bad();
    for (size_t i = digits; i < 9; ++i) nsec *= 10;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return bad();
    }
    offset = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) return bad();
  const int64_t secs = DaysFromCivil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec -
                       offset;
  return std::make_pair(secs, static_cast<int32_t>(nsec));
}

EntryInfo EntryInfoFromStat(std::string name, std::string path, const struct stat& st) {
  EntryInfo e;
  e.name = std::move(name);
  e.path = std::move(path);
  e.type = FileTypeFromMode(st.st_mode);
  e.size = static_cast<int64_t>(st.st_size);
  e.mode = st.st_mode & 0777;
  e.permissions = FileModeString(st.st_mode);
  e.mtime_sec = st.st_mtim.tv_sec;
  e.mtime_nsec = st.st_mtim.tv_nsec;
  return e;
}

Json EntryInfoJson(const EntryInfo& e) {
  Json j = Json::object();
  j["name"] = e.name;
  j["type"] = FileTypeName(e.type);
  j["path"] = e.path;
  j["size"] = std::to_string(e.size);  // int64 is a JSON string in protobuf JSON
  j["mode"] = e.mode;
  j["permissions"] = e.permissions;
  j["owner"] = e.owner;
  j["group"] = e.group;
  j["modifiedTime"] = Rfc3339Nanos(e.mtime_sec, e.mtime_nsec);
  if (e.symlink_target) j["symlinkTarget"] = *e.symlink_target;
  if (!e.metadata.empty()) j["metadata"] = e.metadata;
  return j;
}

Json EntryResponseJson(const EntryInfo& entry) {
  Json j = Json::object();
  j["entry"] = EntryInfoJson(entry);
  return j;
}

Result<std::string> ParsePathRequest(const Json& body) {
  ASSIGN_OR_RETURN(auto path, OptString(body, "path"));
  if (!path || path->empty()) return MakeError(ErrorCode::kInvalidArgument, "path is required");
  return std::move(*path);
}

Result<WatchRequest> ParseWatchRequest(const Json& body) {
  WatchRequest req;
  ASSIGN_OR_RETURN(req.path, ParsePathRequest(body));
  ASSIGN_OR_RETURN(auto recursive, OptBool(body, "recursive"));
  ASSIGN_OR_RETURN(auto include_entry, OptBool(body, "includeEntry", "include_entry"));
  ASSIGN_OR_RETURN(auto network, OptBool(body, "allowNetworkMounts", "allow_network_mounts"));
  req.recursive = recursive.value_or(false);
  req.include_entry = include_entry.value_or(false);
  req.allow_network_mounts = network.value_or(false);
  return req;
}

const char* EventTypeName(EventType type) {
  switch (type) {
    case EventType::kCreate: return "EVENT_TYPE_CREATE";
    case EventType::kWrite: return "EVENT_TYPE_WRITE";
    case EventType::kRemove: return "EVENT_TYPE_REMOVE";
    case EventType::kRename: return "EVENT_TYPE_RENAME";
    case EventType::kChmod: return "EVENT_TYPE_CHMOD";
    case EventType::kUnspecified: break;
  }
  return "EVENT_TYPE_UNSPECIFIED";
}

Json FilesystemEventJson(const FilesystemEvent& event) {
  Json j = {{"name", event.name}, {"type", EventTypeName(event.type)}};
  if (event.entry) j["entry"] = EntryInfoJson(*event.entry);
  return j;
}

Result<ListDirRequest> ParseListDirRequest(const Json& body) {
  ListDirRequest req;
  ASSIGN_OR_RETURN(req.path, ParsePathRequest(body));
  ASSIGN_OR_RETURN(auto depth, OptUint(body, "depth", UINT32_MAX));
  if (depth && *depth > 0) req.depth = static_cast<uint32_t>(*depth);
  return req;
}

Result<MoveRequest> ParseMoveRequest(const Json& body) {
  MoveRequest req;
  ASSIGN_OR_RETURN(auto src, OptString(body, "source"));
  ASSIGN_OR_RETURN(auto dst, OptString(body, "destination"));
  if (!src || src->empty() || !dst || dst->empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "source and destination are required");
  }
  req.source = std::move(*src);
  req.destination = std::move(*dst);
  return req;
}

Result<uint32_t> ParsePermissionMode(std::string_view text, std::string_view param) {
  const std::string name(param);
  auto bad = [&](const std::string& why) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "query parameter '" + name + "' " + why +
                         ": give permission bits in octal, 0 to 0777 (e.g. 755 or 0644)");
  };
  if (text.empty()) return bad("is empty");
  // Leading zeros are allowed ("0755", "00644"); more digits than 07777 needs are not.
  size_t at = 0;
  while (at + 1 < text.size() && text[at] == '0') ++at;
  if (text.size() - at > 4) return bad("'" + std::string(text) + "' is too long");
  uint32_t mode = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return bad("'" + std::string(text) + "' is not an octal number");
    mode = mode * 8 + static_cast<uint32_t>(c - '0');
  }
  if (mode & 07000) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "query parameter '" + name + "' " + std::string(text) +
                         " sets setuid, setgid or sticky bits, which uploads may not set; "
                         "give permission bits 0 to 0777");
  }
  return mode;
}

}  // namespace sbx::protocol
