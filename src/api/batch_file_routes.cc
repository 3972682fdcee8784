// Batch file routes: tar / tar.gz in and out of a sandbox (see batch_file_routes.h).
#include "api/batch_file_routes.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "api/auth_gate.h"
#include "archive/tar_reader.h"
#include "archive/tar_writer.h"
#include "common/log.h"
#include "protocol/fs_messages.h"
#include "protocol/gzip.h"
#include "spec/spec.h"
#include "digest/sha256.h"

namespace sbx::api {
namespace {

using nlohmann::json;

// The guide's rule: compress only when it pays (gzip under 90% of the original), judged for
// "auto" on the archive's first 128 KiB (the archive is streamed: it cannot be compressed whole
// before the answer starts).
constexpr double kGzipPaysRatio = 0.9;
constexpr size_t kGzipSampleBytes = 128 << 10;
constexpr size_t kGzipMinBytes = 512;
// One read from the agent.
constexpr size_t kReadChunk = 64 << 10;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A limit of ours: 413, whatever kResourceExhausted maps to elsewhere (429 for rate limits).
Response TooLarge(const std::string& message) {
  return JsonResponse(
      413, {{"success", false}, {"error", {{"code", "resource_exhausted"}, {"message", message}}}});
}

Response Failure(const Error& e) {
  if (e.code == ErrorCode::kResourceExhausted) return TooLarge(e.message);
  return ErrorResponse(e);
}

std::string JoinRemote(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;  // relative: the agent puts it under the user's home
  if (name.empty()) return dir;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string BaseOf(const std::string& path) {
  size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') --end;
  size_t at = path.rfind('/', end - 1);
  return at == std::string::npos ? path.substr(0, end) : path.substr(at + 1, end - at - 1);
}

int64_t Int64Field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

std::string StringField(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t MtimeOf(const json& entry) {
  auto t = protocol::ParseRfc3339(StringField(entry, "modifiedTime"));
  return t.ok() ? t->first : 0;
}

// One member of a download, planned from the agent's listing.
struct Planned {
  std::string name;  // member name
  std::string path;  // in the sandbox
  archive::MemberType type = archive::MemberType::kFile;
  uint32_t mode = 0644;
  int64_t mtime = 0;
  int64_t listed_size = 0;
  // Set by the first pass over the content (files only).
  uint64_t size = 0;
  std::string sha256;
};

// Keeps the first bytes of what it is given (the gzip sample) and counts all of them.
struct SampleSink {
  std::string sample;
  uint64_t total = 0;
  Result<void> Take(std::string_view b) {
    if (sample.size() < kGzipSampleBytes)
      sample.append(b.substr(0, kGzipSampleBytes - sample.size()));
    total += b.size();
    return Ok();
  }
};

// Writes the planned members to `writer`, reading files through the agent 64 KiB at a time.
// A file's header needs its size and sha256 before its data, so an archive takes two passes:
// the first (second = false) learns each file's size and sha256 into the plan, checking the
// limits, and writes a placeholder of the same length for the sha256, so that the archive it
// makes has the final length; the second writes the real archive and stops at a file whose
// size or sha256 changed in between.
Result<void> WriteMembers(sandbox::SandboxManager* manager, const std::string& id,
                          const std::string& user, std::vector<Planned>* plan, uint64_t limit,
                          bool second, archive::TarWriter* writer) {
  uint64_t total = 0;
  std::vector<char> buf(kReadChunk);
  for (Planned& p : *plan) {
    if (p.type == archive::MemberType::kDirectory) {
      RETURN_IF_ERROR(writer->AddDirectory(p.name, p.mode, p.mtime));
      continue;
    }
    ASSIGN_OR_RETURN(std::unique_ptr<agentclient::FileStream> file,
                     manager->OpenFile(id, p.path, user));
    const uint64_t size = file->size();
    total += size;
    if (second && size != p.size)
      return MakeError(ErrorCode::kFailedPrecondition, "'" + p.path + "' changed while the archive was " +
                                                "sent: " + std::to_string(p.size) +
                                                " bytes, then " + std::to_string(size));
    if (size > limit || total > limit)
      return MakeError(ErrorCode::kResourceExhausted,
                       "'" + p.path + "' grew while the archive was made: over the limit of " +
                           std::to_string(limit) + " bytes (E2B_MAX_FILE_SIZE)");
    archive::Member m;
    m.name = p.name;
    m.mode = p.mode;
    m.mtime = p.mtime;
    m.size = static_cast<int64_t>(size);
    m.sha256 = second ? p.sha256 : std::string(64, '0');
    RETURN_IF_ERROR(writer->BeginFile(m));
    digest::Sha256 hash;
    for (;;) {
      ASSIGN_OR_RETURN(size_t n, file->Read(buf.data(), buf.size()));
      if (n == 0) break;
      const std::string_view piece(buf.data(), n);
      hash.Update(piece);
      RETURN_IF_ERROR(writer->WriteData(piece));
    }
    std::string digest = hash.HexDigest();
    if (second && digest != p.sha256)
      return MakeError(ErrorCode::kFailedPrecondition, "'" + p.path + "' changed while the archive was " +
                                                "sent: its sha256 was " + p.sha256 + ", then " +
                                                digest);
    p.size = size;
    p.sha256 = std::move(digest);
  }
  return Ok();
}

class BatchFileRoutes : public RouteGroup {
 public:
  BatchFileRoutes(sandbox::SandboxManager* manager, const ApiOptions& options)
      : manager_(manager), max_file_(options.max_file_bytes) {}

  std::vector<Route> Routes() override {
    return {
        {.method = "POST", .pattern = "/v1/sandboxes/{id}/files/batch",
         .handler = [this](const Request& req, const PathParams& p) { return Upload(p["id"], req); }},
        {.method = "POST", .pattern = "/v1/sandboxes/{id}/files/archive",
         .handler = [this](const Request& req, const PathParams& p) { return Download(p["id"], req); }},
    };
  }

 private:
  archive::ReadLimits Limits() const {
    archive::ReadLimits l;
    l.max_member_bytes = max_file_;
    l.max_total_bytes = max_file_;
    l.max_members = kMaxBatchMembers;
    return l;
  }

  // The 404 of a missing or another tenant's sandbox, before any work.
  std::optional<Response> CheckVisible(const Request& req, const std::string& id) {
    if (auto v = spec::ValidateSandboxId(id); !v.ok()) return ErrorResponse(v.error());
    auto view = manager_->Get(id);
    if (!view.ok()) return ErrorResponse(view.error());
    if (!req.admin && !auth::CanAccess(PrincipalOf(req), view->record.tenant))
      return SandboxNotFound(id);
    return std::nullopt;
  }

  // MakeDir that accepts an existing directory (and only a directory).
  Result<std::string> EnsureDir(const std::string& id, const std::string& path,
                                const std::string& user) {
    auto made = manager_->FilesystemCall(id, "MakeDir", {{"path", path}}, user);
    if (made.ok()) return StringField((*made)["entry"], "path");
    if (made.error().code != ErrorCode::kAlreadyExists) return made.error();
    ASSIGN_OR_RETURN(json st, manager_->FilesystemCall(id, "Stat", {{"path", path}}, user));
    const json& entry = st["entry"];
    if (StringField(entry, "type") != protocol::FileTypeName(protocol::FileType::kDirectory))
      return MakeError(ErrorCode::kAlreadyExists,
                       "'" + StringField(entry, "path") + "' exists and is not a directory");
    return StringField(entry, "path");
  }

  Response Upload(const std::string& id, const Request& req);
  Response Download(const std::string& id, const Request& req);
  Result<std::vector<Planned>> PlanDownload(const std::string& id, const json& paths,
                                            const std::string& user, int64_t* skipped);

  sandbox::SandboxManager* manager_;
  const size_t max_file_;
};

// ---- upload ----

Response BatchFileRoutes::Upload(const std::string& id, const Request& req) {
  if (auto denied = CheckVisible(req, id)) return *denied;
  const std::string encoding = Lower(req.Header("content-encoding"));
  std::string type = Lower(req.Header("content-type"));
  type = type.substr(0, type.find(';'));
  type.erase(std::remove(type.begin(), type.end(), ' '), type.end());
  bool declared_gzip = type == "application/gzip" || type == "application/x-gzip";
  if (encoding == "gzip" || encoding == "x-gzip") {
    declared_gzip = true;
  } else if (!encoding.empty() && encoding != "identity") {
    return ErrorResponse(
        MakeError(ErrorCode::kInvalidArgument,
                  "unsupported Content-Encoding '" + encoding + "' (send gzip or no encoding)"));
  }
  if (!type.empty() && !declared_gzip && type != "application/x-tar" && type != "application/tar" &&
      type != "application/octet-stream")
    return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                   "Content-Type '" + type +
                                       "': send a tar (application/x-tar) or a tar.gz "
                                       "(application/gzip, or Content-Encoding: gzip)"));
  if (req.body.empty())
    return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                   "empty body: send the files as a tar or tar.gz archive"));
  const std::string dir = req.Query("dir");
  const std::string user = req.Query("user", "user");

  // Pass 1: every member and limit checked, content hashed; nothing written yet.
  struct Checked {
    archive::Member member;
    std::string hash;
  };
  std::vector<Checked> checked;
  bool gzip = false;
  {
    auto reader = archive::TarReader::OpenMemory(req.body, Limits());
    if (!reader.ok()) return Failure(reader.error());
    gzip = (*reader)->gzip();
    if (declared_gzip && !gzip)
      return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                     "the request says gzip but the body is not gzip data"));
    std::set<std::string> seen;
    for (;;) {
      auto m = (*reader)->Next();
      if (!m.ok()) return Failure(m.error());
      if (!m->has_value()) break;
      archive::Member& member = **m;
      std::string content;
      auto data = (*reader)->ReadData([&content](std::string_view c) -> Result<void> {
        content.append(c);
        return Ok();
      });
      if (!data.ok()) return Failure(data.error());
      if (member.name.empty()) continue;  // "./": the target directory itself
      if (!seen.insert(member.name).second)
        return ErrorResponse(MakeError(
            ErrorCode::kInvalidArgument,
            "archive member '" + member.name + "' appears twice; each name may appear once"));
      std::string hash =
          member.type == archive::MemberType::kFile ? digest::Sha256Hex(content) : "";
      if (!member.sha256.empty() && member.sha256 != hash)
        return ErrorResponse(
            MakeError(ErrorCode::kInvalidArgument, "archive member '" + member.name +
                                                       "' is corrupt: its sha256 "
                                                       "record says " +
                                                       member.sha256 + ", its content hashes to " +
                                                       hash + "; nothing was written"));
      checked.push_back({std::move(member), std::move(hash)});
    }
  }
  if (checked.empty())
    return ErrorResponse(
        MakeError(ErrorCode::kInvalidArgument, "the archive holds no files or directories"));

  // Pass 2: write, in archive order. The first failure stops the batch; the answer lists what
  // was written, what failed and what was not attempted.
  json files = json::array(), dirs = json::array();
  std::optional<Error> failed;
  size_t next = 0;  // members of `checked` handled so far
  int64_t bytes = 0;
  bool dir_failed = false;
  if (!dir.empty()) {
    if (auto made = EnsureDir(id, dir, user); !made.ok()) {
      failed = made.error();
      dir_failed = true;
    }
  }
  auto reader = archive::TarReader::OpenMemory(req.body, Limits());
  if (!reader.ok()) return Failure(reader.error());  // cannot happen: pass 1 read it
  while (!failed && next < checked.size()) {
    auto m = (*reader)->Next();
    if (!m.ok()) return Failure(m.error());
    if (!m->has_value()) break;
    if ((*m)->name.empty()) continue;
    const Checked& c = checked[next];
    const std::string path = JoinRemote(dir, c.member.name);
    if (c.member.type == archive::MemberType::kDirectory) {
      auto made = EnsureDir(id, path, user);
      if (!made.ok()) {
        failed = made.error();
        break;
      }
      dirs.push_back({{"name", c.member.name}, {"path", *made}});
      ++next;
      continue;
    }
    std::string content;
    content.reserve(static_cast<size_t>(c.member.size));
    auto data = (*reader)->ReadData([&content](std::string_view chunk) -> Result<void> {
      content.append(chunk);
      return Ok();
    });
    if (!data.ok()) return Failure(data.error());
    // The member's permission bits (the reader keeps only 0777: set-id bits are dropped).
    auto w = manager_->WriteFile(id, path, content, user, c.member.mode & 0777u);
    if (!w.ok()) {
      failed = w.error();
      break;
    }
    bytes += w->size;
    files.push_back({{"name", c.member.name},
                     {"path", w->path},
                     {"size", w->size},
                     {"hash", w->sha256},
                     {"compressed", gzip},
                     {"stored_size", w->size}});
    ++next;
  }
  log::Info("files.batch_upload", {{"sandbox_id", id},
                                   {"request_id", req.request_id},
                                   {"files", static_cast<int64_t>(files.size())},
                                   {"directories", static_cast<int64_t>(dirs.size())},
                                   {"bytes", bytes},
                                   {"compressed", gzip},
                                   {"failed", failed ? failed->ToString() : std::string()}});
  json out = {{"success", !failed},
              {"sandbox_id", id},
              {"dir", dir.empty() ? std::string("~") : dir},
              {"compressed", gzip},
              {"transferred_size", req.body.size()},
              {"files", files},
              {"directories", dirs},
              {"count", files.size()}};
  if (!failed) return JsonResponse(200, out);
  // Which member failed and which were not attempted; the status is the failure's own.
  std::string where;
  if (dir_failed) {
    where = "target directory '" + dir + "'";
  } else {
    const std::string& name = checked[next].member.name;
    where = "member '" + name + "'";
    out["failed"] = {{"name", name}, {"path", JoinRemote(dir, name)}};
    ++next;
  }
  json not_written = json::array();
  for (size_t i = next; i < checked.size(); ++i) not_written.push_back(checked[i].member.name);
  out["not_written"] = not_written;
  out["error"] = {{"code", ErrorCodeName(failed->code)},
                  {"message", where + ": " + failed->ToString() + " (" +
                                  std::to_string(files.size()) + " files written before it)"}};
  return JsonResponse(HttpStatus(failed->code), out);
}

// ---- download ----

Result<std::vector<Planned>> BatchFileRoutes::PlanDownload(const std::string& id, const json& paths,
                                                           const std::string& user,
                                                           int64_t* skipped) {
  const std::string kFile = protocol::FileTypeName(protocol::FileType::kFile);
  const std::string kDir = protocol::FileTypeName(protocol::FileType::kDirectory);
  std::vector<Planned> plan;
  std::map<std::string, std::string> origin;  // member name -> requested path
  auto add = [&](Planned p, const std::string& requested) -> Result<void> {
    auto clean = archive::CleanMemberName(p.name);
    if (!clean.ok()) return clean.error();
    p.name = *clean;
    auto [it, fresh] = origin.emplace(p.name, requested);
    if (!fresh)
      return MakeError(ErrorCode::kInvalidArgument, "'" + requested + "' and '" + it->second +
                                                        "' both give the member '" + p.name +
                                                        "'; request them separately");
    if (plan.size() >= kMaxBatchMembers)
      return MakeError(ErrorCode::kResourceExhausted,
                       "more than " + std::to_string(kMaxBatchMembers) + " files and directories");
    plan.push_back(std::move(p));
    return Ok();
  };
  for (const json& jp : paths) {
    const std::string requested = jp.get<std::string>();
    ASSIGN_OR_RETURN(json st, manager_->FilesystemCall(id, "Stat", {{"path", requested}}, user));
    const json& entry = st["entry"];
    const std::string type = StringField(entry, "type");
    const std::string resolved = StringField(entry, "path");
    Planned top{BaseOf(resolved),
                resolved,
                archive::MemberType::kFile,
                static_cast<uint32_t>(Int64Field(entry, "mode")) & 0777,
                MtimeOf(entry),
                Int64Field(entry, "size")};
    if (type == kFile) {
      RETURN_IF_ERROR(add(top, requested));
      continue;
    }
    if (type != kDir)
      return MakeError(ErrorCode::kInvalidArgument,
                       "'" + requested + "' is " +
                           (type == protocol::FileTypeName(protocol::FileType::kSymlink)
                                ? "a symbolic link; links are not followed (ask for its target)"
                                : "not a regular file or a directory"));
    top.type = archive::MemberType::kDirectory;
    const std::string prefix = top.name;  // "" for "/": members are then named from the root
    if (!prefix.empty()) RETURN_IF_ERROR(add(top, requested));
    ASSIGN_OR_RETURN(json listing,
                     manager_->FilesystemCall(
                         id, "ListDir", {{"path", resolved}, {"depth", kArchiveListDepth}}, user));
    std::vector<Planned> below;
    const std::string base = resolved == "/" ? "/" : resolved + "/";
    for (const json& e : listing.value("entries", json::array())) {
      const std::string path = StringField(e, "path");
      const std::string etype = StringField(e, "type");
      if (path.rfind(base, 0) != 0 || path.size() == base.size()) continue;
      if (etype != kFile && etype != kDir) {
        ++*skipped;  // symlinks, devices, fifos, sockets are not archived
        continue;
      }
      const std::string rel = path.substr(base.size());
      below.push_back({prefix.empty() ? rel : prefix + "/" + rel, path,
                       etype == kDir ? archive::MemberType::kDirectory : archive::MemberType::kFile,
                       static_cast<uint32_t>(Int64Field(e, "mode")) & 0777, MtimeOf(e),
                       Int64Field(e, "size")});
    }
    // Name order: a directory comes before what it holds.
    std::sort(below.begin(), below.end(),
              [](const Planned& a, const Planned& b) { return a.name < b.name; });
    for (Planned& p : below) RETURN_IF_ERROR(add(std::move(p), requested));
  }
  uint64_t total = 0;
  for (const Planned& p : plan) {
    if (p.type != archive::MemberType::kFile) continue;
    if (static_cast<uint64_t>(p.listed_size) > max_file_)
      return MakeError(ErrorCode::kResourceExhausted,
                       "'" + p.path + "' has " + std::to_string(p.listed_size) +
                           " bytes, over the limit of " + std::to_string(max_file_) +
                           " bytes per file (E2B_MAX_FILE_SIZE)");
    total += static_cast<uint64_t>(p.listed_size);
    if (total > max_file_)
      return MakeError(ErrorCode::kResourceExhausted,
                       "the files add up to more than the limit of " + std::to_string(max_file_) +
                           " bytes per batch (E2B_MAX_FILE_SIZE); request fewer paths");
  }
  return plan;
}

Response BatchFileRoutes::Download(const std::string& id, const Request& req) {
  auto body = ParseJsonBody(req, false);
  if (!body.ok()) return ErrorResponse(body.error());
  if (auto denied = CheckVisible(req, id)) return *denied;
  auto bad = [](const std::string& msg) {
    return ErrorResponse(MakeError(ErrorCode::kInvalidArgument, msg));
  };
  const json& paths = (*body)["paths"];
  if (!paths.is_array() || paths.empty())
    return bad("'paths' must be a non-empty array of paths in the sandbox");
  if (paths.size() > kMaxArchivePaths)
    return bad("'paths' has more than " + std::to_string(kMaxArchivePaths) + " entries");
  for (const json& p : paths)
    if (!p.is_string() || p.get<std::string>().empty())
      return bad("'paths' must hold non-empty strings");
  std::string mode = "auto";
  if (body->contains("gzip")) {
    const json& g = (*body)["gzip"];
    if (g.is_boolean()) {
      mode = g.get<bool>() ? "true" : "false";
    } else if (!(g.is_string() && g.get<std::string>() == "auto")) {
      return bad("'gzip' must be true, false or \"auto\"");
    }
  }
  std::string user = "user";
  if (body->contains("user")) {
    if (!(*body)["user"].is_string()) return bad("'user' must be a string");
    user = (*body)["user"].get<std::string>();
  }

  int64_t skipped = 0;
  auto plan = PlanDownload(id, paths, user, &skipped);
  if (!plan.ok()) return Failure(plan.error());

  // First pass, before answering: every file read once (limits, sizes, sha256s; a file
  // missing or unreadable is still an error status), the archive's length counted and its
  // start kept as the gzip sample. Memory: one read buffer and the sample.
  auto members = std::make_shared<std::vector<Planned>>(std::move(*plan));
  SampleSink counted;
  {
    auto writer = archive::TarWriter::Open(
        [&counted](std::string_view b) { return counted.Take(b); }, /*gzip=*/false);
    if (!writer.ok()) return ErrorResponse(writer.error());
    auto wrote = WriteMembers(manager_, id, user, members.get(), max_file_, false, writer->get());
    if (wrote.ok()) wrote = (*writer)->Close();
    if (!wrote.ok()) return Failure(wrote.error());
  }
  int64_t files = 0, dirs = 0;
  uint64_t total = 0;
  for (const Planned& p : *members) {
    if (p.type == archive::MemberType::kDirectory) {
      ++dirs;
    } else {
      ++files;
      total += p.size;
    }
  }
  bool gz = mode == "true";
  if (mode == "auto" && counted.sample.size() >= kGzipMinBytes) {
    protocol::Deflater probe;
    auto compressed = probe.Compress(counted.sample, /*finish=*/true);
    gz = compressed.ok() && static_cast<double>(compressed->size()) <
                                kGzipPaysRatio * static_cast<double>(counted.sample.size());
  }

  // Second pass, while answering: the archive streamed as it is made, each file read again
  // and checked against the first pass. A plain tar has the length counted above.
  Response resp;
  resp.status = 200;
  resp.content_type = gz ? "application/gzip" : "application/x-tar";
  if (!gz) resp.content_length = counted.total;
  resp.headers.push_back({"X-Files-Count", std::to_string(files)});
  resp.headers.push_back({"X-Directories-Count", std::to_string(dirs)});
  resp.headers.push_back({"X-Skipped-Count", std::to_string(skipped)});
  resp.headers.push_back({"X-Content-Size", std::to_string(total)});
  auto outcome = std::make_shared<Result<void>>(
      MakeError(ErrorCode::kUnavailable, "the archive was not sent"));
  resp.stream = [manager = manager_, id, user, members, gz, limit = max_file_,
                 outcome](const ChunkWriter& write) {
    auto writer = archive::TarWriter::Open(
        [&write](std::string_view b) -> Result<void> {
          if (!write(b)) return MakeError(ErrorCode::kUnavailable, "the client stopped reading");
          return Ok();
        },
        gz);
    if (!writer.ok()) {
      *outcome = writer.error();
      return;
    }
    auto wrote = WriteMembers(manager, id, user, members.get(), limit, true, writer->get());
    if (wrote.ok()) wrote = (*writer)->Close();
    *outcome = wrote;
  };
  resp.finish = [outcome, id, request_id = req.request_id, files, dirs, skipped, total,
                 gz]() -> Result<std::vector<std::pair<std::string, std::string>>> {
    log::Info("files.batch_download", {{"sandbox_id", id},
                                       {"request_id", request_id},
                                       {"files", files},
                                       {"directories", dirs},
                                       {"skipped", skipped},
                                       {"bytes", total},
                                       {"compressed", gz},
                                       {"error", outcome->ok() ? std::string()
                                                               : outcome->error().ToString()}});
    if (!outcome->ok()) return outcome->error();
    return std::vector<std::pair<std::string, std::string>>{};
  };
  return resp;
}

}  // namespace

std::unique_ptr<RouteGroup> MakeBatchFileRoutes(sandbox::SandboxManager* manager,
                                                const ApiOptions& options) {
  return std::make_unique<BatchFileRoutes>(manager, options);
}

}  // namespace sbx::api
