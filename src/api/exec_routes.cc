// Exec and executions over HTTP (see exec_routes.h).
#include "api/exec_routes.h"

#include <chrono>
#include <csignal>

#include "api/auth_gate.h"
#include "common/log.h"
#include "common/util.h"

namespace sbx::api {
namespace {

using nlohmann::json;
using sandbox::Execution;

constexpr int64_t kMaxWaitS = 3600;

Response Invalid(const std::string& message) {
  return ErrorResponse(MakeError(ErrorCode::kInvalidArgument, message));
}

Response TooLarge(const std::string& what, size_t size) {
  return JsonResponse(413, {{"success", false},
                            {"error", {{"code", "resource_exhausted"},
                                       {"message", what + ": " + std::to_string(size) +
                                                       " bytes; at most " +
                                                       std::to_string(sandbox::kMaxStdinBytes)}}}});
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// The answer of a synchronous exec; also the "result" event of a stream.
json ExecAnswer(const spec::ExecResult& r, const std::string& sandbox_id,
                const std::string& execution_id, const std::string& language) {
  json j = spec::ToJson(r);
  j["sandbox_id"] = sandbox_id;
  j["execution_id"] = execution_id;
  j["language"] = language;
  return j;
}

// ---- streams ----

enum class Format { kNdjson, kSse };

// NDJSON: one JSON object per line. SSE: "event: TYPE\ndata: JSON\n\n" with the same object.
std::string Frame(Format f, const json& event) {
  if (f == Format::kNdjson) return Dump(event) + "\n";
  return "event: " + event.value("type", std::string("message")) + "\ndata: " + Dump(event) +
         "\n\n";
}

json PieceJson(const sandbox::OutputPiece& p) {
  if (p.truncated)
    return {{"type", "truncated"}, {"stream", sandbox::OutputStreamName(p.stream)}};
  return {{"type", sandbox::OutputStreamName(p.stream)}, {"data", p.data}};
}

json StartEvent(const std::string& execution_id, const std::string& sandbox_id,
                const std::string& language, int64_t started_at_ms) {
  return {{"type", "start"},
          {"execution_id", execution_id},
          {"sandbox_id", sandbox_id},
          {"language", language},
          {"timestamp", ToRfc3339(started_at_ms)}};
}

json ResultEvent(const spec::ExecResult& r, const std::string& sandbox_id,
                 const std::string& execution_id, const std::string& language) {
  // The fields of the synchronous answer, and the event type.
  json answer = ExecAnswer(r, sandbox_id, execution_id, language);
  answer["type"] = "result";
  return answer;
}

Response StreamHead(Format f) {
  Response r;
  r.content_type = f == Format::kSse ? "text/event-stream" : "application/x-ndjson";
  r.headers.push_back({"X-Accel-Buffering", "no"});
  return r;
}

// Events of an execution in memory: from the start of its log, then live until its result.
Response StreamLive(std::shared_ptr<Execution> ex, Format f, int heartbeat_ms) {
  Response r = StreamHead(f);
  r.stream = [ex, f, heartbeat_ms](const ChunkWriter& write) {
    const auto& info = ex->info();
    std::string out =
        (f == Format::kSse ? std::string("retry: 2000\n\n") : std::string()) +
        Frame(f, StartEvent(info.id, info.sandbox_id, info.language, info.started_at_ms));
    if (!write(out)) return;
    sandbox::ExecLog::Cursor cursor;
    auto last_write = std::chrono::steady_clock::now();
    while (true) {
      Execution::Update u = ex->Next(&cursor, std::chrono::milliseconds(heartbeat_ms));
      out.clear();
      for (const auto& p : u.pieces) out += Frame(f, PieceJson(p));
      if (u.result) {
        out += Frame(f, ResultEvent(*u.result, info.sandbox_id, info.id, info.language));
        write(out);
        return;
      }
      auto now = std::chrono::steady_clock::now();
      if (out.empty() && now - last_write >= std::chrono::milliseconds(heartbeat_ms))
        out = f == Format::kSse ? ": keep-alive\n\n" : Frame(f, {{"type", "keepalive"}});
      if (out.empty()) continue;
      // A gone client ends the stream, not the execution.
      if (!write(out)) return;
      last_write = now;
    }
  };
  return r;
}

// Events of an execution known only from history: its output as recorded (stdout, then
// stderr: the interleaving is not stored), then its result.
Response StreamRecord(const store::ExecutionRecord& rec, Format f) {
  Response r = StreamHead(f);
  std::string out = (f == Format::kSse ? std::string("retry: 2000\n\n") : std::string()) +
                    Frame(f, StartEvent(rec.id, rec.sandbox_id, rec.language, rec.started_at_ms));
  if (!rec.stdout_data.empty())
    out += Frame(f, {{"type", "stdout"}, {"data", rec.stdout_data}});
  if (rec.stdout_truncated) out += Frame(f, {{"type", "truncated"}, {"stream", "stdout"}});
  if (!rec.stderr_data.empty())
    out += Frame(f, {{"type", "stderr"}, {"data", rec.stderr_data}});
  if (rec.stderr_truncated) out += Frame(f, {{"type", "truncated"}, {"stream", "stderr"}});
  out += Frame(f, ResultEvent(sandbox::ResultFromRecord(rec), rec.sandbox_id, rec.id,
                              rec.language));
  r.stream = [out = std::move(out)](const ChunkWriter& write) { write(out); };
  return r;
}

// The stream format a request asks for: SSE by Accept, else NDJSON.
Format StreamFormat(const Request& req) {
  return req.Header("accept").find("text/event-stream") != std::string::npos ? Format::kSse
                                                                            : Format::kNdjson;
}

// A boolean body field (absent: false).
Result<bool> BoolField(const json& body, const char* name, const std::string& where) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return false;
  if (!it->is_boolean())
    return MakeError(ErrorCode::kInvalidArgument,
                     where + "." + name + ": expected true or false, got " + it->type_name());
  return it->get<bool>();
}

class ExecRoutes : public RouteGroup {
 public:
  ExecRoutes(sandbox::SandboxManager* m, ExecRouteOptions o) : m_(m), o_(o) {}

  std::vector<Route> Routes() override {
    using Fn = Response (ExecRoutes::*)(const Request&, const std::string&);
    // A route on one execution; an id longer than any we make is refused before the lookup.
    auto on_execution = [this](Fn fn) -> RouteHandler {
      return [this, fn](const Request& req, const PathParams& p) {
        const std::string& eid = p["eid"];
        if (eid.size() > 64)
          return Invalid("execution id: at most 64 characters, got " + std::to_string(eid.size()));
        return (this->*fn)(req, eid);
      };
    };
    return {
        {.method = "POST", .pattern = "/v1/sandboxes/{id}/exec",
         .handler = [this](const Request& req, const PathParams& p) { return Exec(p["id"], req); }},
        {.method = "GET", .pattern = "/v1/executions/{eid}", .handler = on_execution(&ExecRoutes::Show)},
        {.method = "GET", .pattern = "/v1/executions/{eid}/wait", .handler = on_execution(&ExecRoutes::Wait)},
        {.method = "GET", .pattern = "/v1/executions/{eid}/stream",
         .handler = on_execution(&ExecRoutes::Stream)},
        {.method = "POST", .pattern = "/v1/executions/{eid}/input",
         .handler = on_execution(&ExecRoutes::Input)},
        {.method = "POST", .pattern = "/v1/executions/{eid}/kill", .handler = on_execution(&ExecRoutes::Kill)},
    };
  }

 private:
  // An execution the request may see: in memory (live set) or from history (rec set).
  struct Found {
    std::shared_ptr<Execution> live;
    store::ExecutionRecord rec;
  };
  Result<Found> Lookup(const Request& req, const std::string& eid) {
    Found f;
    auth::Principal who = PrincipalOf(req);
    if ((f.live = m_->FindExecution(eid))) {
      if (!auth::CanAccess(who, f.live->info().tenant))
        return MakeError(ErrorCode::kNotFound, "execution '" + eid + "' does not exist");
      return f;
    }
    ASSIGN_OR_RETURN(auto rec, m_->LoadExecution(eid));
    if (!rec || !auth::CanAccess(who, rec->tenant))
      return MakeError(ErrorCode::kNotFound, "execution '" + eid + "' does not exist");
    f.rec = std::move(*rec);
    return f;
  }

  Response Exec(const std::string& id, const Request& req) {
    auto body = ParseJsonBody(req, false);
    if (!body.ok()) return ErrorResponse(body.error());
    // The fields of how to run it; the rest is the ExecRequest (spec/ checks it).
    auto stream = BoolField(*body, "stream", "request");
    auto background = BoolField(*body, "background", "request");
    auto stdin_open = BoolField(*body, "stdin_open", "request");
    for (const auto* r : {&stream, &background, &stdin_open})
      if (!r->ok()) return ErrorResponse(r->error());
    sandbox::ExecStdin in;
    in.keep_open = *stdin_open;
    if (auto it = body->find("stdin"); it != body->end() && !it->is_null()) {
      if (!it->is_string())
        return Invalid(std::string("request.stdin: expected a string, got ") + it->type_name());
      in.data = it->get<std::string>();
      if (in.data->size() > sandbox::kMaxStdinBytes) return TooLarge("request.stdin", in.data->size());
    }
    for (const char* k : {"stream", "background", "stdin", "stdin_open"}) body->erase(k);
    if (*stream && *background)
      return Invalid("request: \"stream\" and \"background\" exclude each other (a background "
                     "execution is streamed with GET /v1/executions/{id}/stream)");
    auto er = spec::ExecRequestFromJson(*body);
    if (!er.ok()) return ErrorResponse(er.error());
    if (!req.admin) {
      auto view = m_->Get(id);
      if (view.ok() && !auth::CanAccess(PrincipalOf(req), view->record.tenant))
        return SandboxNotFound(id);
    }
    const std::string accept = req.Header("accept");
    const bool sse = accept.find("text/event-stream") != std::string::npos;
    const bool ndjson = accept.find("application/x-ndjson") != std::string::npos;
    auto ex = m_->StartExec(id, *er, in, req.request_id);
    if (!ex.ok()) return ErrorResponse(ex.error());
    const std::string language = spec::LanguageName(er->language);
    if (*background)
      return JsonResponse(202, {{"success", true},
                                {"execution_id", (*ex)->info().id},
                                {"sandbox_id", id},
                                {"language", language},
                                {"status", "running"}});
    if (*stream || sse || ndjson)
      return StreamLive(*ex, sse ? Format::kSse : Format::kNdjson, o_.heartbeat_ms);
    spec::ExecResult result = (*ex)->WaitForResult();
    return JsonResponse(200, ExecAnswer(result, id, (*ex)->info().id, language));
  }

  Response Show(const Request& req, const std::string& eid) {
    auto f = Lookup(req, eid);
    if (!f.ok()) return ErrorResponse(f.error());
    json j = f->live ? ExecutionRecordJson(f->live->Record(), f->live->done())
                     : ExecutionRecordJson(f->rec, f->rec.status != "running");
    return JsonResponse(200, {{"success", true}, {"execution", j}});
  }

  Response Wait(const Request& req, const std::string& eid) {
    int64_t timeout_s = 30;
    if (std::string t = req.Query("timeout"); !t.empty()) {
      char* end = nullptr;
      long long v = std::strtoll(t.c_str(), &end, 10);
      if (end == t.c_str() || *end != 0 || v < 0 || v > kMaxWaitS)
        return Invalid("query parameter 'timeout' must be an integer from 0 to " +
                       std::to_string(kMaxWaitS) + " (seconds)");
      timeout_s = v;
    }
    auto f = Lookup(req, eid);
    if (!f.ok()) return ErrorResponse(f.error());
    if (!f->live)
      return JsonResponse(200, ExecAnswer(sandbox::ResultFromRecord(f->rec), f->rec.sandbox_id,
                                          eid, f->rec.language));
    const auto& info = f->live->info();
    auto result = f->live->Wait(std::chrono::seconds(timeout_s));
    if (result) return JsonResponse(200, ExecAnswer(*result, info.sandbox_id, eid, info.language));
    // 408: the wait timed out, not the execution; the client waits again.
    return JsonResponse(
        408, {{"success", false},
              {"error",
               {{"code", "deadline_exceeded"},
                {"message", "execution '" + eid + "' is still running after " +
                                std::to_string(timeout_s) + " s; wait again"}}},
              {"execution_id", eid},
              {"status", "running"}});
  }

  Response Stream(const Request& req, const std::string& eid) {
    auto f = Lookup(req, eid);
    if (!f.ok()) return ErrorResponse(f.error());
    if (f->live) return StreamLive(f->live, StreamFormat(req), o_.heartbeat_ms);
    return StreamRecord(f->rec, StreamFormat(req));
  }

  Response Input(const Request& req, const std::string& eid) {
    auto body = ParseJsonBody(req, false);
    if (!body.ok()) return ErrorResponse(body.error());
    for (auto it = body->begin(); it != body->end(); ++it)
      if (it.key() != "data" && it.key() != "eof")
        return Invalid("input." + it.key() + ": unknown field (allowed: data, eof)");
    std::string data;
    if (auto it = body->find("data"); it != body->end() && !it->is_null()) {
      if (!it->is_string())
        return Invalid(std::string("input.data: expected a string, got ") + it->type_name());
      data = it->get<std::string>();
      if (data.size() > sandbox::kMaxStdinBytes) return TooLarge("input.data", data.size());
    }
    auto eof = BoolField(*body, "eof", "input");
    if (!eof.ok()) return ErrorResponse(eof.error());
    if (data.empty() && !*eof) return Invalid("input: give \"data\" to write, \"eof\": true, or both");
    auto f = Lookup(req, eid);
    if (!f.ok()) return ErrorResponse(f.error());
    auto r = m_->SendExecutionInput(eid, data, *eof);
    if (!r.ok()) return ErrorResponse(r.error());
    return JsonResponse(200, {{"success", true},
                              {"execution_id", eid},
                              {"bytes", data.size()},
                              {"eof", *eof}});
  }

  Response Kill(const Request& req, const std::string& eid) {
    auto body = ParseJsonBody(req, true);
    if (!body.ok()) return ErrorResponse(body.error());
    for (auto it = body->begin(); it != body->end(); ++it)
      if (it.key() != "signal") return Invalid("kill." + it.key() + ": unknown field (allowed: signal)");
    int sig = SIGKILL;
    if (auto it = body->find("signal"); it != body->end() && !it->is_null()) {
      std::string s = it->is_string() ? it->get<std::string>() : "";
      if (s == "SIGKILL" || s == "KILL") {
        sig = SIGKILL;
      } else if (s == "SIGTERM" || s == "TERM") {
        sig = SIGTERM;
      } else {
        return Invalid("kill.signal: must be \"SIGKILL\" (default) or \"SIGTERM\"");
      }
    }
    auto f = Lookup(req, eid);
    if (!f.ok()) return ErrorResponse(f.error());
    auto r = m_->KillExecution(eid, sig, req.request_id);
    if (!r.ok()) return ErrorResponse(r.error());
    json j = {{"success", true},
              {"execution_id", eid},
              {"signal", sig == SIGKILL ? "SIGKILL" : "SIGTERM"}};
    // Usually over within milliseconds: answer with the result then.
    std::optional<spec::ExecResult> result;
    if (f->live) result = f->live->Wait(std::chrono::milliseconds(o_.kill_wait_ms));
    if (!result) {
      j["status"] = "running";
      j["done"] = false;
      return JsonResponse(202, j);
    }
    const auto& info = f->live->info();
    j["status"] = spec::ExecStatusName(result->status);
    j["done"] = true;
    j["result"] = ExecAnswer(*result, info.sandbox_id, eid, info.language);
    return JsonResponse(200, j);
  }

  sandbox::SandboxManager* m_;
  ExecRouteOptions o_;
};

}  // namespace

json ExecutionRecordJson(const store::ExecutionRecord& r, bool done) {
  json j = {{"execution_id", r.id},
            {"sandbox_id", r.sandbox_id},
            {"timestamp", ToRfc3339(r.started_at_ms)},
            {"language", r.language},
            {"command", r.code},
            {"status", r.status},
            {"done", done},
            {"exit_code", r.exit_code},
            {"execution_time", r.duration_s},
            {"stdout", r.stdout_data},
            {"stderr", r.stderr_data},
            {"stdout_truncated", r.stdout_truncated},
            {"stderr_truncated", r.stderr_truncated},
            {"cpu_time", static_cast<double>(r.cpu_ns) / 1e9},
            {"peak_memory_bytes", r.peak_memory_bytes}};
  if (done && r.finished_at_ms) j["finished_at"] = ToRfc3339(r.finished_at_ms);
  if (r.signal) j["signal"] = r.signal;
  if (!r.reason.empty()) j["reason"] = r.reason;
  return j;
}

std::unique_ptr<RouteGroup> MakeExecRoutes(sandbox::SandboxManager* manager,
                                           ExecRouteOptions options) {
  return std::make_unique<ExecRoutes>(manager, options);
}

}  // namespace sbx::api
