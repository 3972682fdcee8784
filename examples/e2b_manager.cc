// sbx-example: the E2B setup guide's E2BSandboxManager flow, written against the C++ client
// library (src/client/sandbox_client.h) instead of the guide's Python:
//
//   create a python sandbox (with an env var and a data file uploaded at create)
//   -> execute python that reads the file and writes a result
//   -> upload a script, execute it
//   -> download the result and check it
//   -> execution history of the sandbox, extend its lifetime, status
//   -> cleanup
//
// Prints one JSON document with what each step returned and exits 0, or prints
// {"success": false, "step": ..., "error": ..., "error_code": ...} and exits 1 (the sandbox is
// cleaned up either way). tests/integration/test_client_library.py runs it against a real
// daemon.
//
//   sbx-example [--socket PATH | --url URL [--api-key KEY]] [--template python] [--sandbox-id ID]
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include "client/sandbox_client.h"
#include "common/result.h"

namespace {

using sbx::Error;
using sbx::Result;
using sbx::client::OJson;

OJson InfoJson(const sbx::client::SandboxInfo& s) {
  OJson j{{"sandbox_id", s.sandbox_id}, {"template", s.template_name}, {"state", s.state},
          {"timeout", s.timeout_s},     {"expires_at", s.expires_at},  {"env", s.env}};
  if (!s.reason.empty()) j["reason"] = s.reason;
  return j;
}

OJson ExecJson(const sbx::client::ExecutionResult& e) {
  return OJson{{"success", e.success},        {"status", e.status},
               {"exit_code", e.exit_code},    {"stdout", e.stdout_data},
               {"stderr", e.stderr_data},     {"execution_time", e.execution_time},
               {"execution_id", e.execution_id}};
}

OJson FileJson(const sbx::client::TransferResult& t) {
  return OJson{{"path", t.path}, {"local_path", t.local_path}, {"size", t.size}, {"hash", t.hash}};
}

struct Failure {
  std::string step;
  Error error;
};

Result<std::string> ReadLocal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return sbx::SysError("open " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Result<void> WriteLocal(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!(out << data)) return sbx::SysError("write " + path);
  return sbx::Ok();
}

// The guide's flow; fills `out` step by step, returns the first failure.
std::optional<Failure> RunFlow(sbx::client::SandboxClient& sbx, const std::string& template_name,
                               const std::string& sandbox_id, const std::string& workdir,
                               OJson& out) {
  auto fail = [](std::string step, const Error& e) { return Failure{std::move(step), e}; };

  // Local inputs: a CSV uploaded at create (the guide's `files=[(local, remote)]`) and a script
  // uploaded afterwards (manager.file_handler.upload_file).
  const std::string csv = workdir + "/numbers.csv";
  const std::string script = workdir + "/report.py";
  if (auto w = WriteLocal(csv, "n\n1\n2\n3\n4\n"); !w.ok()) return fail("prepare", w.error());
  if (auto w = WriteLocal(script,
                          "import json, os\n"
                          "rows = open('/home/user/data/numbers.csv').read().split()[1:]\n"
                          "report = {'count': len(rows), 'sum': sum(int(r) for r in rows),\n"
                          "          'custom_var': os.environ.get('CUSTOM_VAR')}\n"
                          "json.dump(report, open('/home/user/report.json', 'w'))\n"
                          "print('report written')\n");
      !w.ok())
    return fail("prepare", w.error());

  sbx::client::CreateOptions create;
  create.template_name = template_name;
  create.sandbox_id = sandbox_id;
  create.env = {{"CUSTOM_VAR", "value"}};
  create.metadata = OJson{{"example", "e2b_manager"}};
  create.files = {{csv, "/home/user/data/numbers.csv"}};
  auto created = sbx.Create(create);
  if (!created.ok()) return fail("create", created.error());
  OJson c = InfoJson(*created);
  c["files_uploaded"] = created->files_uploaded;
  out["create"] = c;

  auto version = sbx.Execute(sandbox_id, "import sys; print(sys.version_info[0])");
  if (!version.ok()) return fail("execute", version.error());
  out["execute"] = ExecJson(*version);

  auto up = sbx.Upload(sandbox_id, script, "/home/user/report.py");
  if (!up.ok()) return fail("upload", up.error());
  out["upload"] = FileJson(*up);

  sbx::client::ExecuteOptions run_opts;
  run_opts.timeout_s = 30;
  auto ran = sbx.Execute(sandbox_id, "exec(open('/home/user/report.py').read())", run_opts);
  if (!ran.ok()) return fail("execute_script", ran.error());
  out["execute_script"] = ExecJson(*ran);

  // An execution that fails is a result, not an error.
  auto failing = sbx.Execute(sandbox_id, "import sys; sys.exit(3)");
  if (!failing.ok()) return fail("execute_failing", failing.error());
  out["execute_failing"] = ExecJson(*failing);

  const std::string local_report = workdir + "/report.json";
  auto down = sbx.Download(sandbox_id, "/home/user/report.json", local_report);
  if (!down.ok()) return fail("download", down.error());
  OJson d = FileJson(*down);
  auto text = ReadLocal(local_report);
  if (!text.ok()) return fail("download", text.error());
  d["content"] = OJson::parse(*text, nullptr, false);
  out["download"] = d;

  sbx::client::HistoryQuery q;
  q.limit = 50;
  q.sandbox_id = sandbox_id;
  auto history = sbx.History(q);
  if (!history.ok()) return fail("history", history.error());
  OJson h = OJson::array();
  for (const auto& e : *history)
    h.push_back(OJson{{"timestamp", e.timestamp},
                      {"command", e.command},
                      {"status", e.status},
                      {"exit_code", e.exit_code},
                      {"execution_time", e.execution_time}});
  out["history"] = h;
  q.status = "failed";
  auto failed = sbx.History(q);
  if (!failed.ok()) return fail("history_failed", failed.error());
  out["history_failed_count"] = failed->size();

  auto extended = sbx.ExtendTimeout(sandbox_id, 600);
  if (!extended.ok()) return fail("extend_timeout", extended.error());
  out["extend_timeout"] = InfoJson(*extended);

  auto status = sbx.Status(sandbox_id);
  if (!status.ok()) return fail("status", status.error());
  OJson s = InfoJson(*status);
  if (status->uptime_seconds) s["uptime_seconds"] = *status->uptime_seconds;
  out["status"] = s;

  auto listed = sbx.List("running");
  if (!listed.ok()) return fail("list", listed.error());
  bool found = false;
  for (const auto& x : *listed) found = found || x.sandbox_id == sandbox_id;
  out["listed_running"] = found;

  auto stopped = sbx.Stop(sandbox_id);
  if (!stopped.ok()) return fail("stop", stopped.error());
  out["stop"] = InfoJson(*stopped);

  // A stopped sandbox refuses code with the daemon's code and message.
  auto refused = sbx.Execute(sandbox_id, "print(1)");
  out["execute_after_stop"] =
      refused.ok() ? OJson{{"unexpected", "it ran"}}
                   : OJson{{"error_code", sbx::ErrorCodeName(refused.error().code)},
                           {"error", refused.error().message}};
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sbx-example: the E2B guide's sandbox manager flow through the C++ client library"};
  std::string socket_path = sbx::client::kDefaultSocket;
  if (const char* s = std::getenv("SANDBOXD_SOCKET"); s && *s) socket_path = s;
  std::string url, api_key, template_name = "python";
  std::string sandbox_id = "example_" + std::to_string(::getpid());
  if (const char* k = std::getenv("SANDBOXD_API_KEY"); k && *k) api_key = k;
  app.add_option("--socket", socket_path, "Unix socket of sandboxd (env SANDBOXD_SOCKET)");
  app.add_option("--url", url, "TCP URL of sandboxd instead, e.g. http://127.0.0.1:8080");
  app.add_option("--api-key", api_key, "API key for --url (env SANDBOXD_API_KEY)");
  app.add_option("--template", template_name, "Template of the sandbox (default python)");
  app.add_option("--sandbox-id", sandbox_id, "Id of the sandbox to create (default example_PID)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  sbx::client::Endpoint ep;
  if (url.empty()) {
    ep.socket_path = socket_path;
  } else {
    ep.base_url = url;
    while (!ep.base_url.empty() && ep.base_url.back() == '/') ep.base_url.pop_back();
  }
  sbx::client::SandboxClient client(ep, api_key);

  std::error_code ec;
  std::string workdir = (std::filesystem::temp_directory_path(ec) /
                         ("sbx-example-" + std::to_string(::getpid())))
                            .string();
  std::filesystem::create_directories(workdir, ec);

  OJson out = OJson::object();
  out["success"] = true;
  out["sandbox_id"] = sandbox_id;
  std::optional<Failure> failure = RunFlow(client, template_name, sandbox_id, workdir, out);

  // Cleanup runs whatever happened before (unless the create itself failed).
  bool created = out.contains("create");
  if (created) {
    auto cleaned = client.Cleanup(sandbox_id);
    if (cleaned.ok()) {
      out["cleanup"] = OJson{{"sandbox_id", cleaned->sandbox_id},
                             {"cleaned_up", cleaned->cleaned_up}};
      auto gone = client.Status(sandbox_id);
      out["status_after_cleanup"] =
          gone.ok() ? OJson{{"unexpected", gone->state}}
                    : OJson{{"error_code", sbx::ErrorCodeName(gone.error().code)}};
    } else if (!failure) {
      failure = Failure{"cleanup", cleaned.error()};
    }
  }
  std::filesystem::remove_all(workdir, ec);

  if (failure) {
    out["success"] = false;
    out["step"] = failure->step;
    out["error"] = failure->error.ToString();
    out["error_code"] = sbx::ErrorCodeName(failure->error.code);
  }
  std::cout << out.dump(2, ' ', false, OJson::error_handler_t::replace) << std::endl;
  return failure ? 1 : 0;
}
