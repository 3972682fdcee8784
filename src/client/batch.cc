// batch: packing, sending, receiving and unpacking batches of files (see batch.h).
#include "client/batch.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <map>
#include <set>

#include "archive/local_extract.h"
#include "archive/tar_reader.h"
#include "archive/tar_writer.h"
#include "client/transfer.h"
#include "common/unique_fd.h"

namespace sbx::client {
namespace {

// A transfer in which no byte moves for this long is abandoned.
constexpr double kStallTimeoutS = 120;
constexpr int kMaxWalkDepth = 256;

double TransferTimeout(int64_t size) {
  return 600.0 + static_cast<double>(size) / (1 << 20);  // 10 min + 1 s per MiB
}

std::string StripSlashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

// The name a local path gets in the archive: its base name ("." and ".." by what they are).
std::string LocalBase(const std::string& local) {
  std::string p = StripSlashes(local);
  std::string base = BaseName(p);
  if (base == "." || base == ".." || base.empty()) {
    char real[PATH_MAX];
    if (::realpath(p.c_str(), real) != nullptr) base = BaseName(real);
  }
  return base;
}

struct LocalItem {
  std::string member;
  std::string local;
  bool dir = false;
  bool follow = false;  // named on the command line: a symlink is taken as its target
  uint32_t mode = 0644;
  int64_t mtime = 0;
};

Result<void> WalkDir(const std::string& local, const std::string& member, int depth,
                     std::vector<LocalItem>* items, std::vector<std::string>* skipped) {
  if (depth > kMaxWalkDepth)
    return MakeError(ErrorCode::kInvalidArgument, "'" + local +
                                                      "': directories nested deeper than " +
                                                      std::to_string(kMaxWalkDepth) + " levels");
  UniqueFd fd(::open(local.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return SysError("cannot read local directory '" + local + "'");
  DIR* d = ::fdopendir(fd.get());
  if (d == nullptr) return SysError("cannot read local directory '" + local + "'");
  const int dfd = fd.release();
  std::vector<std::string> names;
  while (dirent* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  std::sort(names.begin(), names.end());
  Result<void> result = Ok();
  for (const std::string& n : names) {
    struct stat st {};
    const std::string path = JoinPath(local, n);
    if (::fstatat(dfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      result = SysError("cannot stat local '" + path + "'");
      break;
    }
    const std::string m = member.empty() ? n : member + "/" + n;
    if (S_ISREG(st.st_mode)) {
      items->push_back({m, path, false, false, st.st_mode & 0777u, st.st_mtime});
    } else if (S_ISDIR(st.st_mode)) {
      items->push_back({m, path, true, false, st.st_mode & 0777u, st.st_mtime});
      result = WalkDir(path, m, depth + 1, items, skipped);
      if (!result.ok()) break;
    } else {
      skipped->push_back(path);  // symlinks are not followed, devices and pipes not sent
    }
  }
  ::closedir(d);
  return result;
}

Result<void> WriteAll(int fd, std::string_view data, const char* what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SysError(std::string("write ") + what);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Ok();
}

// An unnamed temporary file in `dir` (removed when closed).
Result<UniqueFd> TempFile(const std::string& dir) {
  std::string tmpl = JoinPath(dir.empty() ? "." : dir, ".sbx-batch-XXXXXX");
  UniqueFd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
  if (!fd) return SysError("cannot create a temporary file in '" + dir + "'");
  ::unlink(tmpl.c_str());
  return fd;
}

// Packs `item` (a regular file) into the writer: exactly the size fstat reported, hashed.
Result<std::string> PackFile(archive::TarWriter& writer, const LocalItem& item) {
  UniqueFd fd(
      ::open(item.local.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | (item.follow ? 0 : O_NOFOLLOW)));
  if (!fd) return SysError("cannot read local file '" + item.local + "'");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return SysError("fstat '" + item.local + "'");
  if (!S_ISREG(st.st_mode))
    return MakeError(ErrorCode::kInvalidArgument, "'" + item.local + "' is not a regular file");
  archive::Member m;
  m.name = item.member;
  m.size = st.st_size;
  m.mode = st.st_mode & 0777u;
  m.mtime = st.st_mtime;
  RETURN_IF_ERROR(writer.BeginFile(m));
  Sha256 hash;
  std::string buf(1 << 16, '\0');
  int64_t left = m.size;
  while (left > 0) {
    ssize_t n =
        ::read(fd.get(), buf.data(), std::min<int64_t>(left, static_cast<int64_t>(buf.size())));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SysError("read '" + item.local + "'");
    if (n == 0)
      return MakeError(ErrorCode::kInternal, "'" + item.local + "' shrank while it was packed");
    std::string_view chunk(buf.data(), static_cast<size_t>(n));
    hash.Update(chunk);
    RETURN_IF_ERROR(writer.WriteData(chunk));
    left -= n;
  }
  return hash.HexDigest();
}

int64_t JsonInt(const OJson& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

std::string JsonStr(const OJson& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<void> MakeDirs(const std::string& dir) {
  std::string p = StripSlashes(dir);
  for (size_t at = 1; at <= p.size(); ++at) {
    if (at != p.size() && p[at] != '/') continue;
    const std::string prefix = p.substr(0, at);
    if (::mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST)
      return SysError("cannot create local directory '" + prefix + "'");
  }
  return Ok();
}

}  // namespace

Result<BatchResult> UploadPaths(Client& client, const std::string& sandbox_id,
                                const std::vector<std::string>& locals,
                                const std::string& remote_dir, const std::string& user) {
  if (locals.empty()) return MakeError(ErrorCode::kInvalidArgument, "no local paths given");
  BatchResult out;
  out.sandbox_id = sandbox_id;
  std::vector<LocalItem> items;
  for (const std::string& local : locals) {
    struct stat st {};
    if (::stat(local.c_str(), &st) != 0) return SysError("cannot read local path '" + local + "'");
    const std::string base = LocalBase(local);
    if (S_ISREG(st.st_mode)) {
      items.push_back({base, local, false, true, st.st_mode & 0777u, st.st_mtime});
    } else if (S_ISDIR(st.st_mode)) {
      if (!base.empty())
        items.push_back({base, local, true, true, st.st_mode & 0777u, st.st_mtime});
      RETURN_IF_ERROR(WalkDir(local, base, 1, &items, &out.skipped));
    } else {
      return MakeError(ErrorCode::kInvalidArgument,
                       "local path '" + local + "' is not a regular file or a directory");
    }
  }
  // One regular file: the single-file endpoint, as `sbx cp` does.
  if (locals.size() == 1 && items.size() == 1 && !items[0].dir) {
    const std::string remote = JoinPath(remote_dir, items[0].member);
    ASSIGN_OR_RETURN(TransferResult t, UploadFile(client, sandbox_id, locals[0], remote, user));
    out.transferred_size = t.size;
    out.files.push_back({items[0].member, t.path, t.local_path, t.size, t.hash, false, t.size});
    return out;
  }
  std::map<std::string, const LocalItem*> by_member;
  for (const LocalItem& it : items) {
    auto [pos, fresh] = by_member.emplace(it.member, &it);
    if (!fresh)
      return MakeError(ErrorCode::kInvalidArgument, "'" + pos->second->local + "' and '" +
                                                        it.local + "' would both be '" + it.member +
                                                        "' in the sandbox; upload them separately");
  }
  const char* tmpdir = std::getenv("TMPDIR");
  ASSIGN_OR_RETURN(UniqueFd tmp, TempFile(tmpdir && *tmpdir ? tmpdir : "/tmp"));
  std::map<std::string, std::string> local_hash;  // member -> sha256
  {
    const int tfd = tmp.get();
    ASSIGN_OR_RETURN(auto writer, archive::TarWriter::Open(
                                      [tfd](std::string_view b) {
                                        return WriteAll(tfd, b, "the temporary archive");
                                      },
                                      /*gzip=*/true));
    for (const LocalItem& it : items) {
      if (it.dir) {
        RETURN_IF_ERROR(writer->AddDirectory(it.member, it.mode, it.mtime));
        continue;
      }
      ASSIGN_OR_RETURN(local_hash[it.member], PackFile(*writer, it));
    }
    RETURN_IF_ERROR(writer->Close());
  }
  struct stat tst {};
  if (::fstat(tmp.get(), &tst) != 0 || ::lseek(tmp.get(), 0, SEEK_SET) != 0)
    return SysError("rewind the temporary archive");

  HttpRequest req;
  req.method = "POST";
  req.target = "/v1/sandboxes/" + sandbox_id + "/files/batch";
  std::string q;
  if (!remote_dir.empty()) q += "dir=" + PercentEncode(remote_dir);
  if (!user.empty() && user != "user")
    q += (q.empty() ? "" : "&") + std::string("user=") + PercentEncode(user);
  if (!q.empty()) req.target += "?" + q;
  req.content_type = "application/gzip";
  req.source_size = tst.st_size;
  req.timeout_s = TransferTimeout(tst.st_size);
  req.stall_timeout_s = kStallTimeoutS;
  const int tfd = tmp.get();
  req.source = [tfd](char* buf, size_t cap) -> Result<size_t> {
    for (;;) {
      ssize_t n = ::read(tfd, buf, cap);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return SysError("read the temporary archive");
      return static_cast<size_t>(n);
    }
  };
  ASSIGN_OR_RETURN(HttpResponse resp, client.Send(req));
  if (resp.status < 200 || resp.status >= 300) return ErrorFromHttp(resp.status, resp.body);
  OJson j = OJson::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("files") || !j["files"].is_array())
    return MakeError(ErrorCode::kInternal, "sandboxd's batch answer is not the expected JSON: " +
                                               resp.body.substr(0, 300));
  out.batch = true;
  out.compressed = true;
  out.transferred_size = tst.st_size;
  for (const OJson& f : j["files"]) {
    BatchFile bf{JsonStr(f, "name"),       JsonStr(f, "path"), "",
                 JsonInt(f, "size"),       JsonStr(f, "hash"), f.value("compressed", true),
                 JsonInt(f, "stored_size")};
    auto known = local_hash.find(bf.name);
    if (known == local_hash.end())
      return MakeError(ErrorCode::kInternal,
                       "sandboxd reports a file '" + bf.name + "' that was not sent");
    if (known->second != bf.hash)
      return MakeError(ErrorCode::kInternal, "upload of '" + by_member[bf.name]->local + "' to " +
                                                 bf.path + " is corrupt: sent sha256 " +
                                                 known->second + ", sandboxd stored " + bf.hash);
    bf.local_path = by_member[bf.name]->local;
    out.files.push_back(std::move(bf));
  }
  if (out.files.size() != local_hash.size())
    return MakeError(ErrorCode::kInternal, "sent " + std::to_string(local_hash.size()) +
                                               " files, sandboxd reports " +
                                               std::to_string(out.files.size()));
  if (j.contains("directories") && j["directories"].is_array())
    for (const OJson& d : j["directories"]) out.directories.push_back(JsonStr(d, "path"));
  return out;
}

Result<BatchResult> DownloadPaths(Client& client, const std::string& sandbox_id,
                                  const std::vector<std::string>& remotes,
                                  const std::string& local_dir_in, const std::string& user) {
  if (remotes.empty()) return MakeError(ErrorCode::kInvalidArgument, "no remote paths given");
  const std::string local_dir = local_dir_in.empty() ? "." : local_dir_in;
  RETURN_IF_ERROR(MakeDirs(local_dir));
  BatchResult out;
  out.sandbox_id = sandbox_id;
  if (remotes.size() == 1) {
    // One path: a regular file takes the single-file GET. Whether it is a directory is only
    // known from the answer ("is a directory", 400), which then sends us to the archive.
    const std::string base = BaseName(StripSlashes(remotes[0]));
    if (!base.empty() && base != "." && base != "..") {
      auto r = DownloadFile(client, sandbox_id, remotes[0], JoinPath(local_dir, base), user);
      if (r.ok()) {
        out.transferred_size = r->size;
        out.files.push_back({base, r->path, r->local_path, r->size, r->hash, false, r->size});
        return out;
      }
      if (!(r.error().code == ErrorCode::kInvalidArgument &&
            r.error().message.find("is a directory") != std::string::npos))
        return r.error();
    }
  }
  ASSIGN_OR_RETURN(UniqueFd tmp, TempFile(local_dir));
  const int tfd = tmp.get();
  nlohmann::json body = {
      {"paths", remotes}, {"gzip", "auto"}, {"user", user.empty() ? "user" : user}};
  HttpRequest req;
  req.method = "POST";
  req.target = "/v1/sandboxes/" + sandbox_id + "/files/archive";
  req.content_type = "application/json";
  req.body = body.dump();
  req.timeout_s = 0;  // unknown size: no overall deadline, but one for a stalled transfer
  req.stall_timeout_s = kStallTimeoutS;
  int64_t received = 0;
  req.sink = [tfd, &received](std::string_view chunk) -> Result<void> {
    received += static_cast<int64_t>(chunk.size());
    return WriteAll(tfd, chunk, "the downloaded archive");
  };
  ASSIGN_OR_RETURN(HttpResponse resp, client.Send(req));
  if (resp.status < 200 || resp.status >= 300) return ErrorFromHttp(resp.status, resp.body);
  if (::lseek(tfd, 0, SEEK_SET) != 0) return SysError("rewind the downloaded archive");

  // The daemon says how much content it packed: that bounds the unpacking exactly.
  archive::ReadLimits limits;
  limits.max_member_bytes = limits.max_total_bytes = 1ull << 40;
  limits.max_members = 1000000;
  if (auto h = resp.headers.find("x-content-size"); h != resp.headers.end()) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(h->second.c_str(), &end, 10);
    if (end != h->second.c_str()) limits.max_member_bytes = limits.max_total_bytes = v;
  }
  ASSIGN_OR_RETURN(auto reader, archive::TarReader::OpenFd(tfd, limits));
  UniqueFd dir(::open(local_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return SysError("open local directory '" + local_dir + "'");
  ASSIGN_OR_RETURN(
      std::vector<archive::ExtractedMember> done,
      archive::ExtractToDirectory(*reader, dir.get(), local_dir, /*require_sha256=*/true));
  out.batch = true;
  out.compressed = reader->gzip();
  out.transferred_size = received;
  for (const archive::ExtractedMember& m : done) {
    const std::string local = JoinPath(local_dir, m.name);
    if (m.type == archive::MemberType::kDirectory) {
      out.directories.push_back(local);
      continue;
    }
    out.files.push_back({m.name, "", local, m.size, m.sha256, out.compressed, m.size});
  }
  if (auto h = resp.headers.find("x-files-count");
      h != resp.headers.end() && h->second != std::to_string(out.files.size()))
    return MakeError(ErrorCode::kInternal, "sandboxd announced " + h->second +
                                               " files, the archive held " +
                                               std::to_string(out.files.size()));
  return out;
}

}  // namespace sbx::client
