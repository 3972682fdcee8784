// execution: executions by id (docs/api.md, "Streaming and background executions"), for
// `sbx exec --background` and for watching any execution from another terminal:
//
//   sbx execution show ID                 GET  /v1/executions/ID (running: the output so far)
//   sbx execution wait ID [--timeout S]   the result once it ends (exit status as sbx exec)
//   sbx execution stream ID               its output from the start, then live, to the terminal
//   sbx execution kill ID [--signal SIGTERM]
//   sbx execution input ID (--data TEXT | --data-file PATH) [--eof]
//
// Also the NDJSON reader shared with `sbx exec --stream`.
#include <cstdio>

#include "cli/commands.h"
#include "common/util.h"

namespace sbx::cli {

CLI::App* AddExecutionCommand(CLI::App& app, ExecutionArgs& args) {
  CLI::App* sub = app.add_subcommand(
      "execution", "An execution by id: show, wait, stream, kill, input");
  sub->require_subcommand(1, 1);
  auto id = [&args](CLI::App* c) {
    c->add_option("id", args.id, "Execution id (exec_..., from sbx exec or GET /v1/executions)")
        ->required();
  };
  CLI::App* show = sub->add_subcommand("show", "The execution: status, output so far or result");
  id(show);
  show->callback([&args] { args.action = "show"; });
  CLI::App* wait = sub->add_subcommand("wait", "Wait for its end and print the result");
  id(wait);
  wait->add_option("--timeout", args.timeout,
                   "Give up after this many seconds (error deadline_exceeded); default: wait "
                   "as long as it runs");
  wait->callback([&args] { args.action = "wait"; });
  CLI::App* stream = sub->add_subcommand(
      "stream", "Its stdout and stderr from the start, then as they arrive, until it ends");
  id(stream);
  stream->callback([&args] { args.action = "stream"; });
  CLI::App* kill = sub->add_subcommand("kill", "Kill it (SIGKILL, or --signal SIGTERM)");
  id(kill);
  kill->add_option("--signal", args.signal, "SIGKILL (default) or SIGTERM")
      ->check(CLI::IsMember({"SIGKILL", "SIGTERM"}));
  kill->callback([&args] { args.action = "kill"; });
  CLI::App* input = sub->add_subcommand(
      "input", "Write to its stdin (started with --stdin-open), --eof to close it");
  id(input);
  CLI::Option* data = input->add_option_function<std::string>(
      "--data", [&args](const std::string& v) { args.data = v; }, "Text to write");
  CLI::Option* file = input->add_option("--data-file", args.data_file,
                                        "Write this local file ('-': sbx's standard input)");
  data->excludes(file);
  input->add_flag("--eof", args.eof, "Close its stdin afterwards (it reads end-of-file)");
  input->callback([&args] { args.action = "input"; });
  return sub;
}

Result<OJson> ReadExecStream(Client& client, HttpRequest req, const StreamOut& io,
                             std::string* execution_id) {
  std::optional<OJson> result;
  req.sink = client::LineSink([&](std::string_view line) -> Result<void> {
    if (line.empty()) return Ok();
    OJson ev = OJson::parse(line, nullptr, false);
    if (ev.is_discarded() || !ev.is_object())
      return MakeError(ErrorCode::kInternal,
                       "sandboxd sent a stream line that is not a JSON object: " +
                           std::string(line.substr(0, 200)));
    const std::string type = StringField(ev, "type");
    if (type == "stdout") {
      if (io.out) io.out(StringField(ev, "data"));
    } else if (type == "stderr") {
      if (io.err) io.err(StringField(ev, "data"));
    } else if (type == "truncated") {
      if (io.err)
        io.err("\n[sbx: the execution's " + StringField(ev, "stream") +
               " reached sandboxd's output cap; the rest was dropped]\n");
    } else if (type == "start") {
      *execution_id = StringField(ev, "execution_id");
    } else if (type == "result") {
      ev.erase("type");
      result = std::move(ev);
    }
    // "keepalive" and types added later: nothing to show.
    return Ok();
  });
  ASSIGN_OR_RETURN(HttpResponse r, client.Send(req));
  if (r.status < 200 || r.status >= 300) return ErrorFromHttp(r.status, r.body);
  if (!result)
    return MakeError(ErrorCode::kUnavailable,
                     "the stream of execution " + *execution_id +
                         " ended before its result (did sandboxd stop?); `sbx execution wait " +
                         *execution_id + "` tells how it ended");
  return *result;
}

Outcome StreamedOutcome(const Result<OJson>& result, const std::string& execution_id) {
  if (!result.ok()) return ErrorOutcome(result.error());
  Outcome o;
  o.body = nullptr;  // the output went to the terminal; nothing more on stdout
  o.exit_code = ExecExitCode(*result);
  if (o.exit_code == kExitError)
    return FailureOutcome("internal", "sandboxd ended the stream with a result of no known "
                                      "status: " +
                                          result->dump(-1, ' ', false,
                                                       OJson::error_handler_t::replace)
                                              .substr(0, 300));
  if (o.exit_code != kExitOk) {
    std::string reason = StringField(*result, "reason");
    int exit_code = result->value("exit_code", -1);
    o.stderr_line = "sbx: execution " + execution_id + " " + StringField(*result, "status") +
                    (reason.empty() ? "" : ": " + reason) + " (exit code " +
                    std::to_string(exit_code) + ")";
  }
  return o;
}

namespace {

std::string Target(const ExecutionArgs& a, const std::string& tail) {
  return "/v1/executions/" + PercentEncode(a.id) + tail;
}

Outcome Wait(Client& client, const ExecutionArgs& args) {
  // Without --timeout: rounds of at most 5 minutes each (a 408 means "wait again").
  const bool bounded = args.timeout.has_value();
  const double total = bounded ? *args.timeout : 0;
  if (bounded && (total < 0 || total > 3600))
    return UsageOutcome("execution wait: --timeout must be from 0 to 3600 seconds");
  while (true) {
    const int64_t round = bounded ? static_cast<int64_t>(total) : 300;
    HttpRequest req;
    req.target = Target(args, "/wait?timeout=" + std::to_string(round));
    req.timeout_s = static_cast<double>(round) + kExecTimeoutMarginS;
    Result<HttpResponse> r = client.Send(req);
    if (!r.ok()) return ErrorOutcome(r.error());
    if (r->status == 408 && !bounded) continue;
    if (r->status < 200 || r->status >= 300) return ErrorOutcome(ErrorFromHttp(r->status, r->body));
    OJson body = OJson::parse(r->body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return FailureOutcome("internal", "sandboxd answered wait with something not JSON");
    Outcome out;
    out.body = std::move(body);
    out.exit_code = ExecExitCode(out.body);
    if (out.exit_code == kExitError)
      return FailureOutcome("internal", "sandboxd answered wait without a known status");
    return out;
  }
}

}  // namespace

Outcome RunExecution(Client& client, const ExecutionArgs& args, const StreamOut& io) {
  if (args.action == "wait") return Wait(client, args);
  if (args.action == "stream") {
    HttpRequest req;
    req.target = Target(args, "/stream");
    req.timeout_s = 0;         // as long as the execution runs
    req.stall_timeout_s = 60;  // the daemon sends a keep-alive line every 15 s
    std::string execution_id = args.id;
    Result<OJson> result = ReadExecStream(client, std::move(req), io, &execution_id);
    return StreamedOutcome(result, execution_id);
  }
  Result<OJson> r = MakeError(ErrorCode::kInvalidArgument, "execution: unknown action");
  if (args.action == "show") {
    r = client.CallJson("GET", Target(args, ""), nullptr, kDefaultTimeoutS);
  } else if (args.action == "kill") {
    r = client.CallJson("POST", Target(args, "/kill"), {{"signal", args.signal}},
                        kDefaultTimeoutS);
  } else if (args.action == "input") {
    std::string data;
    if (args.data) {
      data = *args.data;
    } else if (!args.data_file.empty()) {
      Result<std::string> text = args.data_file == "-" ? ReadAllStdin() : ReadFile(args.data_file);
      if (!text.ok())
        return FailureOutcome("invalid_argument",
                              "--data-file: cannot read '" + args.data_file + "'");
      data = std::move(text).value();
    } else if (!args.eof) {
      return UsageOutcome("execution input: give --data TEXT, --data-file PATH or --eof");
    }
    r = client.CallJson("POST", Target(args, "/input"), {{"data", data}, {"eof", args.eof}},
                        kDefaultTimeoutS);
  }
  if (!r.ok()) return ErrorOutcome(r.error());
  return SuccessOutcome(*r);
}

}  // namespace sbx::cli
