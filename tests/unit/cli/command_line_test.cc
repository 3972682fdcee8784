// Tests of cli/app.h and the Plan* functions of cli/commands.h: command lines to requests,
// usage errors as JSON, connection settings, and the whole program without a daemon.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "cli/app.h"
#include "parse_args.h"
#include "cli/commands.h"

namespace sbx::cli {
namespace {

using nlohmann::json;

using test_support::Parsed;
using test_support::ParseArgs;

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

TEST(CommandLine, CreateFromTheGuideMapsToTheRequest) {
  Parsed p = ParseArgs({"create", "--template", "python", "--sandbox-id", "my_first_sandbox",
                        "--env", "CUSTOM_VAR=value", "-e", "DEBUG=1", "--file",
                        "local_file.py:/app/remote_file.py", "--timeout", "300"});
  ASSERT_EQ(p.result.kind, ParseResult::Kind::kRun) << p.result.text;
  EXPECT_EQ(p.cmd().verb, Verb::kCreate);
  auto plan = PlanCreate(p.cmd().create);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->request, json::parse(R"({"template": "python", "sandbox_id": "my_first_sandbox",
                                           "env": {"CUSTOM_VAR": "value", "DEBUG": "1"},
                                           "timeout": 300})"));
  ASSERT_EQ(plan->files.size(), 1u);
  EXPECT_EQ(plan->files[0].local, "local_file.py");
  EXPECT_EQ(plan->files[0].remote, "/app/remote_file.py");
  EXPECT_EQ(plan->file_user, "user");
}

TEST(CommandLine, CreateWithoutFlagsLetsTheDaemonChoose) {
  Parsed p = ParseArgs({"create"});
  ASSERT_EQ(p.result.kind, ParseResult::Kind::kRun);
  auto plan = PlanCreate(p.cmd().create);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->request, json::object());
}

TEST(CommandLine, RepeatedFlagsTakeOneValueEach) {
  Parsed p = ParseArgs({"create", "--env", "A=1", "--env", "B=2", "--file", "a:/a", "--file",
                        "b:/b", "--sandbox-id", "s1"});
  ASSERT_EQ(p.result.kind, ParseResult::Kind::kRun) << p.result.text;
  EXPECT_EQ(p.cmd().create.env, (std::vector<std::string>{"A=1", "B=2"}));
  EXPECT_EQ(p.cmd().create.files, (std::vector<std::string>{"a:/a", "b:/b"}));
  EXPECT_EQ(p.cmd().create.sandbox_id, "s1");
}

TEST(CommandLine, BadFormsAreUsageErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  for (const Case& c : std::vector<Case>{
           {{"create", "--env", "FOO"}, "NAME=VALUE"},
           {{"create", "--env", "1X=2"}, "not a valid environment variable name"},
           {{"create", "--file", "a.py"}, "LOCAL:REMOTE"},
           {{"create", "--file", "a.py:relative"}, "LOCAL:REMOTE"},
           {{"create", "--file-user", "admin"}, "admin"},
           {{"exec", "--sandbox-id", "s1"}, "--code"},
           {{"exec", "--code", "1"}, "--sandbox-id"},
           {{"exec", "--sandbox-id", "s1", "--code", "1", "--code-file", "x"}, "excludes"},
           {{"exec", "--sandbox-id", "s1", "--code", "1", "--timeout", "soon"}, "soon"},
           {{"exec", "--sandbox-id", "s1", "--code", "1", "--user", "admin"}, "admin"},
           {{"stop"}, "--sandbox-id"},
           {{"cleanup"}, "--sandbox-id"},
           {{"cp", "a.py"}, "dest"},
           {{"cp", "a.py", "b.py"}, "ID:PATH"},
           {{"cp", "s1:/a", "s2:/b"}, "ID:PATH"},
           {{"cp", "a.py", "s1:relative"}, "absolute"},
           {{"status", "--no-such-flag"}, "--no-such-flag"},
           {{"frobnicate"}, "frobnicate"},
           {{}, "no command given"},
           {{"status", "--pretty", "--compact"}, "excludes"},
       }) {
    Parsed p = ParseArgs(c.args);
    EXPECT_EQ(p.result.kind, ParseResult::Kind::kUsageError) << testing::PrintToString(c.args);
    EXPECT_NE(p.result.text.find(c.needle), std::string::npos)
        << testing::PrintToString(c.args) << " -> " << p.result.text;
  }
}

TEST(CommandLine, GlobalOptionsBeforeOrAfterTheVerb) {
  Parsed before = ParseArgs({"--socket", "/tmp/s.sock", "--compact", "status"});
  ASSERT_EQ(before.result.kind, ParseResult::Kind::kRun) << before.result.text;
  EXPECT_EQ(before.cmd().global.socket, "/tmp/s.sock");
  EXPECT_TRUE(before.cmd().global.compact);
  Parsed after = ParseArgs({"status", "--sandbox-id", "s1", "--url", "http://127.0.0.1:9",
                            "--api-key", "k", "--compact"});
  ASSERT_EQ(after.result.kind, ParseResult::Kind::kRun) << after.result.text;
  EXPECT_EQ(after.cmd().verb, Verb::kStatus);
  EXPECT_EQ(after.cmd().status.sandbox_id, "s1");
  EXPECT_EQ(after.cmd().global.url, "http://127.0.0.1:9");
  EXPECT_EQ(after.cmd().global.api_key, "k");
  EXPECT_TRUE(after.cmd().global.compact);
}

TEST(CommandLine, HelpIsPlainTextAndDocumentsExitStatus) {
  Parsed p = ParseArgs({"exec", "--help"});
  ASSERT_EQ(p.result.kind, ParseResult::Kind::kHelp);
  EXPECT_NE(p.result.text.find("Exit status"), std::string::npos);
  EXPECT_NE(p.result.text.find("--code"), std::string::npos);
  Parsed top = ParseArgs({"--help"});
  ASSERT_EQ(top.result.kind, ParseResult::Kind::kHelp);
  EXPECT_NE(top.result.text.find("cleanup"), std::string::npos);
}

TEST(CommandLine, CpPlansUploadAndDownload) {
  Parsed up = ParseArgs({"cp", "a.py", "s1:/home/user/", "--user", "root"});
  ASSERT_EQ(up.result.kind, ParseResult::Kind::kRun) << up.result.text;
  EXPECT_EQ(up.cmd().cp_plan.direction, CpPlan::Direction::kUpload);
  EXPECT_EQ(up.cmd().cp_plan.remote.path, "/home/user/a.py");
  EXPECT_EQ(up.cmd().cp.user, "root");
  Parsed down = ParseArgs({"cp", "s1:/home/user/out.csv", "results.csv"});
  ASSERT_EQ(down.result.kind, ParseResult::Kind::kRun) << down.result.text;
  EXPECT_EQ(down.cmd().cp_plan.direction, CpPlan::Direction::kDownload);
  EXPECT_EQ(down.cmd().cp_plan.local, "results.csv");
}

TEST(PlanCreate, ValuesAreValidatedLikeTheDaemonDoes) {
  CreateArgs bad_id;
  bad_id.sandbox_id = "My Sandbox";
  auto r = PlanCreate(bad_id);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("lowercase letters, digits and '_'"), std::string::npos);

  CreateArgs long_id;
  long_id.sandbox_id = std::string(65, 'a');
  EXPECT_FALSE(PlanCreate(long_id).ok());

  CreateArgs negative;
  negative.timeout = -1;
  auto t = PlanCreate(negative);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message.rfind("--timeout", 0), 0u) << t.error().message;
}

TEST(PlanExec, MapsFlagsToTheExecRequest) {
  ExecArgs a;
  a.sandbox_id = "s1";
  a.language = "py";
  a.timeout = 5;
  a.env = {"X=1"};
  a.cwd = "/tmp";
  a.user = "root";
  auto plan = PlanExec(a, "print(1)");
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->sandbox_id, "s1");
  EXPECT_EQ(plan->request, json::parse(R"j({"language": "python", "code": "print(1)", "timeout": 5,
                                           "env": {"X": "1"}, "cwd": "/tmp", "user": "root"})j"));
  EXPECT_DOUBLE_EQ(plan->http_timeout_s, 5 + kExecTimeoutMarginS);
}

TEST(PlanExec, HttpTimeoutExceedsTheDefaultExecTimeout) {
  ExecArgs a;
  a.sandbox_id = "s1";
  auto plan = PlanExec(a, "1");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->request, json::parse(R"({"language": "python", "code": "1"})"));
  EXPECT_GT(plan->http_timeout_s, spec::ExecRequest{}.timeout_s);
}

TEST(PlanExec, RejectsBadValues) {
  ExecArgs lang;
  lang.sandbox_id = "s1";
  lang.language = "ruby";
  auto r = PlanExec(lang, "1");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("unknown language 'ruby'"), std::string::npos);

  ExecArgs id;
  id.sandbox_id = "Bad!";
  EXPECT_FALSE(PlanExec(id, "1").ok());

  ExecArgs timeout;
  timeout.sandbox_id = "s1";
  timeout.timeout = 0;
  EXPECT_FALSE(PlanExec(timeout, "1").ok());
}

TEST(ExecExitCode, CompletedIsZeroOtherStatusesOne) {
  EXPECT_EQ(ExecExitCode(OJson::parse(R"({"status": "completed"})")), kExitOk);
  for (const char* s : {"failed", "timeout", "oom", "killed", "error"})
    EXPECT_EQ(ExecExitCode(OJson{{"status", s}}), kExitCodeFailed) << s;
  EXPECT_EQ(ExecExitCode(OJson::parse(R"({"stdout": ""})")), kExitError);
  EXPECT_EQ(ExecExitCode(OJson::parse(R"({"status": "weird"})")), kExitError);
}

TEST(PlanStatus, OneOrAll) {
  EXPECT_EQ(*PlanStatus(StatusArgs{}), "/v1/sandboxes");
  EXPECT_EQ(*PlanStatus(StatusArgs{"", "running"}), "/v1/sandboxes?state=running");
  EXPECT_EQ(*PlanStatus(StatusArgs{"s1", ""}), "/v1/sandboxes/s1");
  EXPECT_FALSE(PlanStatus(StatusArgs{"S 1", ""}).ok());
}

TEST(ResolveConnection, DefaultsToTheSystemSocket) {
  auto c = ResolveConnection(GlobalArgs{}, FakeEnv({}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->endpoint.socket_path, "/run/sandboxd/sandboxd.sock");
  EXPECT_EQ(c->endpoint.base_url, "");
  EXPECT_EQ(c->api_key, "");
}

TEST(ResolveConnection, EnvironmentAndFlags) {
  auto env = FakeEnv({{"SANDBOXD_SOCKET", "/env.sock"}, {"E2B_API_KEY", "e2b"}});
  auto c = ResolveConnection(GlobalArgs{}, env);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->endpoint.socket_path, "/env.sock");
  EXPECT_EQ(c->api_key, "e2b");

  auto both = FakeEnv(
      {{"SANDBOXD_API_KEY", "sbx"}, {"E2B_API_KEY", "e2b"}, {"SANDBOXD_URL", "127.0.0.1:8080/"}});
  auto u = ResolveConnection(GlobalArgs{}, both);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->endpoint.base_url, "http://127.0.0.1:8080");
  EXPECT_EQ(u->api_key, "sbx");

  GlobalArgs flags;
  flags.socket = "/flag.sock";
  flags.api_key = "flag";
  auto f = ResolveConnection(flags, both);  // a flag beats the environment
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->endpoint.socket_path, "/flag.sock");
  EXPECT_EQ(f->endpoint.base_url, "");
  EXPECT_EQ(f->api_key, "flag");
}

TEST(ResolveConnection, RejectsConflictsAndBadUrls) {
  GlobalArgs both;
  both.socket = "/s.sock";
  both.url = "http://127.0.0.1:1";
  EXPECT_FALSE(ResolveConnection(both, FakeEnv({})).ok());
  GlobalArgs ftp;
  ftp.url = "ftp://127.0.0.1:1";
  EXPECT_FALSE(ResolveConnection(ftp, FakeEnv({})).ok());
}

TEST(ResolveConnection, TlsOptionsGoWithHttpsOnly) {
  GlobalArgs flags;
  flags.url = "https://127.0.0.1:8443/";
  auto env = FakeEnv({{"SBX_CACERT", "/env/ca.pem"}});
  auto c = ResolveConnection(flags, env);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->endpoint.base_url, "https://127.0.0.1:8443");
  EXPECT_EQ(c->endpoint.ca_cert, "/env/ca.pem");
  EXPECT_FALSE(c->endpoint.insecure);
  flags.cacert = "/flag/ca.pem";
  flags.insecure = true;
  c = ResolveConnection(flags, env);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->endpoint.ca_cert, "/flag/ca.pem");
  EXPECT_TRUE(c->endpoint.insecure);

  // The variable is ignored on the socket; the flags there are a mistake.
  auto s = ResolveConnection(GlobalArgs{}, env);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->endpoint.ca_cert, "");
  GlobalArgs plain;
  plain.url = "http://127.0.0.1:8080";
  plain.insecure = true;
  auto bad = ResolveConnection(plain, FakeEnv({}));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("--insecure needs an https:// --url"), std::string::npos);
  GlobalArgs sock;
  sock.cacert = "/ca.pem";
  EXPECT_FALSE(ResolveConnection(sock, FakeEnv({})).ok());
}

TEST(RunCli, NoDaemonIsAnUnavailableErrorAsJson) {
  std::string out, err;
  int code = RunCli({"status", "--socket", "/nonexistent/sandboxd.sock"}, FakeEnv({}), &out, &err);
  EXPECT_EQ(code, kExitError);
  json j = json::parse(out);
  EXPECT_EQ(j["success"], false);
  EXPECT_EQ(j["error_code"], "unavailable");
  EXPECT_EQ(j["error"],
            "sandboxd is not running (no socket at /nonexistent/sandboxd.sock); start it with "
            "`sandboxd`");
  EXPECT_EQ(err.back(), '\n');
  EXPECT_EQ(err.find('\n'), err.size() - 1);  // one line
}

TEST(RunCli, UsageErrorsAreJsonAndExitTwo) {
  std::string out, err;
  int code = RunCli({"create", "--env", "FOO", "--compact"}, FakeEnv({}), &out, &err);
  EXPECT_EQ(code, kExitError);
  EXPECT_EQ(out.find('\n'), out.size() - 1);  // --compact: one line
  json j = json::parse(out);
  EXPECT_EQ(j["error_code"], "usage");
  EXPECT_NE(j["error"].get<std::string>().find("FOO"), std::string::npos);
}

TEST(RunCli, InvalidValuesAreRefusedBeforeConnecting) {
  std::string out, err;
  // The socket does not exist: an invalid_argument answer proves nothing was sent.
  int code = RunCli({"exec", "--sandbox-id", "s1", "--language", "cobol", "--code", "1", "--socket",
                     "/nonexistent/s.sock"},
                    FakeEnv({}), &out, &err);
  EXPECT_EQ(code, kExitError);
  EXPECT_EQ(json::parse(out)["error_code"], "invalid_argument");
}

TEST(RunCli, HelpExitsZeroWithPlainText) {
  std::string out, err;
  EXPECT_EQ(RunCli({"--help"}, FakeEnv({}), &out, &err), kExitOk);
  EXPECT_NE(out.find("Usage: sbx"), std::string::npos);
  EXPECT_TRUE(err.empty());
}

TEST(Transfer, Sha256KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Transfer, LocalFileChecksAndDownloadPaths) {
  char dir_tmpl[] = "/tmp/sbx_cli_test_XXXXXX";
  ASSERT_NE(::mkdtemp(dir_tmpl), nullptr);
  std::string dir = dir_tmpl;
  EXPECT_EQ(CheckReadableFile(dir).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(CheckReadableFile(dir + "/missing").error().code, ErrorCode::kNotFound);

  CpPlan into_dir;
  into_dir.direction = CpPlan::Direction::kDownload;
  into_dir.remote = {"s1", "/home/user/out.csv"};
  into_dir.local = dir;
  EXPECT_EQ(ResolveDownloadPath(into_dir), dir + "/out.csv");
  into_dir.local = dir + "/new.csv";
  EXPECT_EQ(ResolveDownloadPath(into_dir), dir + "/new.csv");
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace sbx::cli
