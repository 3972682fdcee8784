// Request routing and user resolution.
#include "agent/router.h"

#include <exception>

#include "agent/connect_io.h"
#include "agent/files_http.h"
#include "agent/filesystem_service.h"
#include "common/log.h"
#include "protocol/base64.h"
#include "protocol/connect_error.h"

namespace sbx::agent {
namespace {

bool IsProcessMethod(std::string_view m) {
  return m == "Start" || m == "Connect" || m == "List" || m == "SendSignal" ||
         m == "SendInput" || m == "CloseStdin" || m == "Update";
}

void SendUnimplemented(ResponseWriter& w, std::string_view what) {
  protocol::ConnectError ce{protocol::ConnectCode::kUnimplemented,
                            std::string(what) + " is not implemented"};
  (void)w.Send(protocol::HttpStatusForCode(ce.code), {{"Content-Type", "application/json"}},
               protocol::ErrorJson(ce));
}

}  // namespace

Result<std::string> BasicAuthUser(std::string_view auth) {
  if (auth.empty()) return std::string();
  if (auth.size() < 6 || (auth.substr(0, 6) != "Basic " && auth.substr(0, 6) != "basic ")) {
    return MakeError(ErrorCode::kUnauthenticated, "unsupported Authorization scheme");
  }
  auto decoded = protocol::Base64Decode(auth.substr(6));
  if (!decoded.ok()) return MakeError(ErrorCode::kUnauthenticated, "malformed Basic credentials");
  const std::string& s = decoded.value();
  return s.substr(0, s.find(':'));
}

Result<User> Router::ResolveUser(const std::string& explicit_name) const {
  const std::string& name = explicit_name.empty() ? config_.default_user : explicit_name;
  ASSIGN_OR_RETURN(UserDb db, UserDb::Load());
  auto user = db.Lookup(name);
  if (!user.ok()) return MakeError(ErrorCode::kUnauthenticated, "invalid username: '" + name + "'");
  return user;
}

void Router::Route(const HttpRequest& req, BodyReader& body, ResponseWriter& w) {
  try {
    RouteInner(req, body, w);
  } catch (const std::exception& e) {
    log::Error("handler_exception", {{"path", req.path}, {"what", e.what()}});
    if (!w.started()) (void)SendJsonError(w, 500, "internal error");
  }
}

void Router::RouteInner(const HttpRequest& req, BodyReader& body, ResponseWriter& w) {
  const std::string& path = req.path;
  log::Debug("request", {{"method", req.method}, {"path", path}});
  if (path == "/health") {
    if (req.method != "GET" && req.method != "HEAD") {
      (void)SendJsonError(w, 405, "method not allowed");
      return;
    }
    (void)w.Send(204, {}, "");
    return;
  }
  if (path == "/envs") {
    // envd's GET /envs: the sandbox-wide environment every process starts with.
    if (req.method != "GET") {
      (void)SendJsonError(w, 405, "method not allowed");
      return;
    }
    protocol::Json envs = protocol::Json::object();
    for (const auto& [k, v] : config_.sandbox_env) envs[k] = v;  // later entries win
    (void)w.Send(200, {{"Content-Type", "application/json"}}, protocol::DumpJson(envs));
    return;
  }
  if (path == "/files") {
    auto user = ResolveUser(req.Query("username"));
    if (!user.ok()) {
      (void)SendJsonError(w, 401, user.error().message);
      return;
    }
    if (req.method == "GET") return HandleGetFile(req, w, user.value());
    if (req.method == "POST") return HandlePostFiles(req, body, w, user.value());
    (void)SendJsonError(w, 405, "method not allowed");
    return;
  }
  const std::string_view kProcess = "/process.Process/";
  const std::string_view kFs = "/filesystem.Filesystem/";
  const bool is_process = path.rfind(kProcess, 0) == 0;
  const bool is_fs = path.rfind(kFs, 0) == 0;
  if (!is_process && !is_fs) {
    (void)SendJsonError(w, 404, "no route for " + req.method + " " + path);
    return;
  }
  const std::string_view method =
      std::string_view(path).substr(is_process ? kProcess.size() : kFs.size());
  const bool is_watch = is_fs && (method == "WatchDir" || IsWatcherMethod(method));
  if ((is_process && !IsProcessMethod(method)) ||
      (is_fs && !is_watch && !IsFilesystemMethod(method))) {
    return SendUnimplemented(w, path);
  }
  if (req.method != "POST") {
    (void)SendJsonError(w, 405, "Connect RPCs use POST");
    return;
  }
  const bool streaming =
      (is_process && ProcessService::IsStreaming(method)) || (is_fs && method == "WatchDir");
  auto name = BasicAuthUser(req.Header("authorization"));
  Result<User> user = name.ok() ? ResolveUser(name.value()) : Result<User>(name.error());
  if (!user.ok()) {
    if (streaming) {
      ConnectStream stream(w);
      (void)stream.Finish(&user.error());
    } else {
      (void)SendUnaryError(w, user.error());
    }
    return;
  }
  if (is_process) return processes_.Handle(method, req, body, w, user.value());
  if (method == "WatchDir") return ServeWatchDir(req, body, w, user.value());
  auto parsed = ReadUnaryRequest(req, body);
  Result<protocol::Json> result =
      !parsed.ok()      ? Result<protocol::Json>(parsed.error())
      : is_watch        ? watchers_.Call(method, parsed.value(), user.value())
                        : CallFilesystem(method, parsed.value(), user.value());
  if (result.ok()) {
    (void)SendUnary(w, result.value());
  } else {
    log::Info("fs_error", {{"method", method}, {"error", result.error().ToString()}});
    (void)SendUnaryError(w, result.error());
  }
}

}  // namespace sbx::agent
