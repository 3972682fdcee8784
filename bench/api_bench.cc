// API benchmark through the real daemon over HTTP (docs/benchmarks.md, "API"): the round trip of
// create, exec and cleanup as a client sees it (p50, p99) over the unix socket and over TCP with
// an API key; single-file upload and download throughput of 10 MiB, compressible and random,
// with and without gzip; requests per second of status and exec with N concurrent clients.
// Prints figures; asserts no time (exit status 1 only when a request failed).
//
// Usage (root): api_bench [--socket PATH] [--runs N] [--clients N] [--seconds S]
//                         [--template NAME] [--sandboxd PATH]
// Without --socket it starts its own sandboxd (next to this binary) on a temporary state dir
// with the host-base templates, the rate limit off and a TCP listener on loopback, and also
// measures TCP with a key. With --socket it measures that daemon over its unix socket only.
//
// JSON calls use the client library (client::Client, one per thread, a new connection per
// request as in the CLI), file transfers too (HttpRequest.headers carries Content-Encoding and
// Accept-Encoding).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/http_client.h"
#include "client/transfer.h"
#include "common/util.h"
#include "protocol/gzip.h"

namespace {

using sbx::client::Client;
using sbx::client::Endpoint;
using nlohmann::json;

constexpr size_t kFileBytes = 10u << 20;
std::atomic<int> g_failures{0};

void Fail(const std::string& what) {
  if (g_failures.fetch_add(1) < 10) std::fprintf(stderr, "failure: %s\n", what.c_str());
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

double SinceMs(int64_t t0) { return static_cast<double>(sbx::MonotonicNs() - t0) / 1e6; }

struct Stats {
  std::string name;
  std::vector<double> ms;
  void Print() const {
    std::printf("%-46s %6zu %9.3f %9.3f\n", name.c_str(), ms.size(), Percentile(ms, 0.5),
                Percentile(ms, 0.99));
  }
};

// ---- the daemon under test, when this program starts it ----

struct OwnDaemon {
  pid_t pid = -1;
  std::string dir, socket;
  int port = 0;
};

std::string SelfDir() {
  return std::filesystem::canonical("/proc/self/exe").parent_path().string();
}

bool MountedUnder(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    size_t pos = 0;
    for (int i = 0; i < 5 && pos != std::string::npos; ++i) {
      size_t sp = line.find(' ', pos);
      f.push_back(line.substr(pos, sp == std::string::npos ? sp : sp - pos));
      pos = sp == std::string::npos ? sp : sp + 1;
    }
    if (f.size() == 5 && (f[4] == dir || f[4].rfind(dir + "/", 0) == 0)) return true;
  }
  return false;
}

// Starts sandboxd and waits for "sandboxd ready socket=... port=N" on its stdout.
bool StartDaemon(const std::string& binary, OwnDaemon* d) {
  d->dir = "/tmp/sbx-apibench-" + sbx::RandomHex(4);
  d->socket = d->dir + "/api.sock";
  std::filesystem::create_directories(d->dir);
  auto text = sbx::ReadFile(std::string(SBX_SOURCE_DIR) + "/tests/integration/host_templates.json");
  if (!text.ok()) return std::fprintf(stderr, "%s\n", text.error().ToString().c_str()), false;
  json cfg = json::parse(*text);
  // The benchmark measures the daemon, not the limiter: 50 clients would be refused at once.
  cfg["security"]["rateLimit"]["enabled"] = false;
  std::string templates = d->dir + "/templates.json";
  std::ofstream(templates) << cfg.dump(1);
  int out[2];
  if (::pipe(out) != 0) return false;
  d->pid = ::fork();
  if (d->pid == 0) {
    ::dup2(out[1], 1);
    int log = ::open((d->dir + "/sandboxd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (log >= 0) ::dup2(log, 2);
    ::close(out[0]);
    ::setsid();
    std::string state = d->dir + "/state";
    ::execl(binary.c_str(), binary.c_str(), "--state-dir", state.c_str(), "--socket",
            d->socket.c_str(), "--templates", templates.c_str(), "--listen", "127.0.0.1:0",
            "--log-level", "warn", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string line;
  char c;
  while (::read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
  ::close(out[0]);  // sandboxd prints nothing else on stdout
  if (line.rfind("sandboxd ready", 0) != 0) {
    std::fprintf(stderr, "sandboxd did not start (see %s/sandboxd.log): '%s'\n", d->dir.c_str(),
                 line.c_str());
    return false;
  }
  if (size_t p = line.find(" port="); p != std::string::npos) d->port = std::atoi(line.c_str() + p + 6);
  return true;
}

void StopDaemon(OwnDaemon* d) {
  if (d->pid <= 0) return;
  ::kill(d->pid, SIGTERM);
  int status = 0;
  ::waitpid(d->pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Fail("sandboxd did not exit 0 on SIGTERM");
  // Never traverse a leaked mount: it could be a host directory.
  if (MountedUnder(d->dir)) Fail("mounts left under " + d->dir + "; not removed");
  else std::filesystem::remove_all(d->dir);
}

// ---- JSON calls through the client library ----

bool CallOk(Client& c, const char* method, const std::string& target, const json& body) {
  auto r = c.CallJson(method, target, body, 60);
  if (!r.ok()) Fail(std::string(method) + " " + target + ": " + r.error().ToString());
  return r.ok();
}

bool Exec(Client& c, const std::string& id, const char* language, const char* code) {
  auto r = c.CallJson("POST", "/v1/sandboxes/" + id + "/exec",
                      json{{"language", language}, {"code", code}, {"timeout", 30}}, 60);
  if (!r.ok()) return Fail("exec in " + id + ": " + r.error().ToString()), false;
  if ((*r)["status"] != "completed" || (*r)["exit_code"] != 0)
    return Fail("exec in " + id + ": " + r->dump()), false;
  return true;
}

double TimeMs(const std::function<void()>& f) {
  int64_t t0 = sbx::MonotonicNs();
  f();
  return SinceMs(t0);
}

void RoundTrips(Client& c, const std::string& label, const std::string& tmpl, int runs) {
  std::string tag = sbx::RandomHex(3);
  auto create = [&](const std::string& id) {
    CallOk(c, "POST", "/v1/sandboxes", json{{"template", tmpl}, {"sandbox_id", id}});
  };
  auto remove = [&](const std::string& id) { CallOk(c, "DELETE", "/v1/sandboxes/" + id, nullptr); };
  Stats cr{label + ": create"}, cl{label + ": cleanup"};
  Stats ex_true{label + ": exec sh -c true (running)"};
  Stats ex_py{label + ": exec python3 -c pass (running)"};
  Stats status{label + ": status GET /v1/sandboxes/ID"};
  Stats one{label + ": one-shot create+exec true+cleanup"};
  Stats one_cr{"  of which create"}, one_ex{"  of which exec true"}, one_cl{"  of which cleanup"};
  for (int i = 0; i < runs; ++i) {
    std::string id = "ab" + tag + "_" + std::to_string(i);
    cr.ms.push_back(TimeMs([&] { create(id); }));
    cl.ms.push_back(TimeMs([&] { remove(id); }));
  }
  std::string id = "ab" + tag + "_exec";
  create(id);
  for (int i = 0; i < runs; ++i) ex_true.ms.push_back(TimeMs([&] { Exec(c, id, "sh", "true"); }));
  for (int i = 0; i < runs; ++i) ex_py.ms.push_back(TimeMs([&] { Exec(c, id, "python", "pass"); }));
  for (int i = 0; i < runs; ++i)
    status.ms.push_back(TimeMs([&] { CallOk(c, "GET", "/v1/sandboxes/" + id, nullptr); }));
  remove(id);
  for (int i = 0; i < runs; ++i) {
    std::string oid = "ab" + tag + "_one_" + std::to_string(i);
    one.ms.push_back(TimeMs([&] {
      one_cr.ms.push_back(TimeMs([&] { create(oid); }));
      one_ex.ms.push_back(TimeMs([&] { Exec(c, oid, "sh", "true"); }));
      one_cl.ms.push_back(TimeMs([&] { remove(oid); }));
    }));
  }
  for (const Stats* s : {&cr, &ex_true, &ex_py, &status, &cl, &one, &one_cr, &one_ex, &one_cl})
    s->Print();
}

// ---- file transfer ----

struct Raw {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case
  double ms = 0;
};

// One request through the client library, timed; the body is streamed from `body` (not
// copied) so that the figures are the transfer's.
Raw Transfer(Client& c, const std::string& method, const std::string& target,
             const std::string* body, const std::vector<std::string>& headers) {
  sbx::client::HttpRequest req;
  req.method = method;
  req.target = target;
  req.timeout_s = 120;
  req.headers = headers;
  size_t off = 0;
  if (body) {
    req.content_type = "application/octet-stream";
    req.source_size = static_cast<int64_t>(body->size());
    req.source = [&](char* buf, size_t cap) -> sbx::Result<size_t> {
      size_t n = std::min(cap, body->size() - off);
      std::memcpy(buf, body->data() + off, n);
      off += n;
      return n;
    };
  }
  int64_t t0 = sbx::MonotonicNs();
  auto r = c.Send(req);
  Raw raw;
  raw.ms = SinceMs(t0);
  if (!r.ok()) {
    Fail(method + " " + target + ": " + r.error().ToString());
    return raw;
  }
  raw.status = r->status;
  raw.body = std::move(r->body);
  raw.headers = std::move(r->headers);
  return raw;
}

std::string Gzip(const std::string& data) {
  sbx::protocol::Deflater d;
  auto gz = d.Compress(data, true);
  return gz.ok() ? *gz : std::string();
}

std::string Gunzip(const std::string& gz) {
  std::string out;
  sbx::protocol::Inflater inf(1ull << 32);
  auto r = inf.Feed(gz, [&](std::string_view chunk) {
    out.append(chunk);
    return sbx::Ok();
  });
  if (!r.ok() || !inf.Finish().ok()) Fail("gunzip of a download failed");
  return out;
}

double MibPerS(double ms) { return ms > 0 ? (kFileBytes / 1048576.0) / (ms / 1000.0) : 0; }

void FileThroughput(Client& c, const std::string& tmpl, int reps) {
  std::string id = "abfiles_" + sbx::RandomHex(3);
  if (!CallOk(c, "POST", "/v1/sandboxes", json{{"template", tmpl}, {"sandbox_id", id}})) return;
  std::string text;
  for (int i = 0; text.size() < kFileBytes; ++i)
    text += "line " + std::to_string(i % 1000) + ": sandboxd moves files in and out of sandboxes\n";
  text.resize(kFileBytes);
  std::string random(kFileBytes, '\0');
  std::ifstream("/dev/urandom", std::ios::binary).read(random.data(), kFileBytes);

  std::printf("%-30s %10s %10s %12s %12s\n", "10 MiB file", "wire MiB", "p50 ms", "MiB/s (p50)",
              "best MiB/s");
  for (auto [kind, data] : {std::pair<const char*, const std::string*>{"compressible", &text},
                            {"random", &random}}) {
    std::string hash = sbx::client::Sha256Hex(*data);
    int64_t t0 = sbx::MonotonicNs();
    std::string gz = Gzip(*data);
    double gzip_ms = SinceMs(t0);
    std::string target = "/v1/sandboxes/" + id + "/files?path=/home/user/blob";
    auto row = [&](const std::string& what, double wire, std::vector<double> ms) {
      std::printf("%-30s %10.2f %10.1f %12.1f %12.1f\n", what.c_str(), wire / 1048576.0,
                  Percentile(ms, 0.5), MibPerS(Percentile(ms, 0.5)),
                  MibPerS(*std::min_element(ms.begin(), ms.end())));
    };
    std::vector<double> up, up_gz, down, down_gz;
    size_t down_gz_wire = 0;
    for (int i = 0; i < reps; ++i) {
      Raw r = Transfer(c, "PUT", target, data, {"X-Content-SHA256: " + hash});
      if (r.status != 200 || json::parse(r.body, nullptr, false).value("hash", "") != hash)
        Fail("upload " + std::string(kind) + ": " + std::to_string(r.status) + " " + r.body);
      up.push_back(r.ms);
      r = Transfer(c, "PUT", target, &gz, {"Content-Encoding: gzip", "X-Content-SHA256: " + hash});
      if (r.status != 200 || json::parse(r.body, nullptr, false).value("hash", "") != hash)
        Fail("gzip upload " + std::string(kind) + ": " + std::to_string(r.status) + " " + r.body);
      up_gz.push_back(r.ms);
      r = Transfer(c, "GET", target, nullptr, {});
      if (r.status != 200 || sbx::client::Sha256Hex(r.body) != hash)
        Fail("download " + std::string(kind));
      down.push_back(r.ms);
      // The sha256 comes as the trailer of a chunked body (docs/api.md), asked for here.
      r = Transfer(c, "GET", target, nullptr, {"Accept-Encoding: gzip", "TE: trailers"});
      bool encoded = r.headers["content-encoding"] == "gzip";
      if (r.status != 200 || r.headers["x-content-sha256"] != hash ||
          (i == 0 && sbx::client::Sha256Hex(encoded ? Gunzip(r.body) : r.body) != hash))
        Fail("gzip download " + std::string(kind));
      down_gz.push_back(r.ms);
      down_gz_wire = r.body.size();
    }
    std::printf("%s: client gzip -6 %.1f ms, %.3f of the size\n", kind, gzip_ms,
                static_cast<double>(gz.size()) / static_cast<double>(data->size()));
    row(std::string("  upload ") + kind, static_cast<double>(data->size()), up);
    row(std::string("  upload gzip ") + kind, static_cast<double>(gz.size()), up_gz);
    row(std::string("  download ") + kind, static_cast<double>(data->size()), down);
    row(std::string("  download Accept gzip ") + kind, static_cast<double>(down_gz_wire), down_gz);
  }
  CallOk(c, "DELETE", "/v1/sandboxes/" + id, nullptr);
}

// ---- requests per second with N clients, one Client each, each on its own sandbox ----

// keys[i % keys.size()] is client i's key ("" on the unix socket). A tenant may have at most
// 20 sandboxes running, so TCP clients are spread over several tenants' keys.
void Concurrent(const Endpoint& ep, const std::vector<std::string>& keys, const std::string& label,
                Client& admin, const std::string& tmpl, int clients, double seconds) {
  std::string tag = sbx::RandomHex(3);
  std::vector<std::string> ids;
  for (int i = 0; i < clients; ++i) {
    ids.push_back("abc" + tag + "_" + std::to_string(i));
    // Created with the client's own key: other tenants' sandboxes are invisible to a key.
    Client owner(ep, keys[i % keys.size()]);
    CallOk(owner, "POST", "/v1/sandboxes", json{{"template", tmpl}, {"sandbox_id", ids.back()}});
  }
  for (const char* what : {"status", "exec sh -c true"}) {
    bool exec = what[0] == 'e';
    std::vector<std::vector<double>> lat(clients);
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    int64_t end_ns = 0;
    for (int i = 0; i < clients; ++i) {
      threads.emplace_back([&, i] {
        Client c(ep, keys[i % keys.size()]);
        while (!go.load()) std::this_thread::yield();
        while (sbx::MonotonicNs() < end_ns) {
          int64_t t0 = sbx::MonotonicNs();
          bool ok = exec ? Exec(c, ids[i], "sh", "true")
                         : CallOk(c, "GET", "/v1/sandboxes/" + ids[i], nullptr);
          if (ok) lat[i].push_back(SinceMs(t0));
        }
      });
    }
    int64_t t0 = sbx::MonotonicNs();
    end_ns = t0 + static_cast<int64_t>(seconds * 1e9);
    go.store(true);
    for (auto& t : threads) t.join();
    double elapsed = SinceMs(t0) / 1000.0;
    std::vector<double> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    std::printf("%-14s %-18s %3d clients %6.1f s: %8.0f req/s   p50 %7.2f ms   p99 %7.2f ms\n",
                label.c_str(), what, clients, elapsed, static_cast<double>(all.size()) / elapsed,
                Percentile(all, 0.5), Percentile(all, 0.99));
  }
  for (const auto& id : ids) CallOk(admin, "DELETE", "/v1/sandboxes/" + id, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path, tmpl = "python", sandboxd = SelfDir() + "/sandboxd";
  int runs = 200, clients = 50;
  double seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--socket") socket_path = argv[i + 1];
    else if (k == "--runs") runs = std::atoi(argv[i + 1]);
    else if (k == "--clients") clients = std::atoi(argv[i + 1]);
    else if (k == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (k == "--template") tmpl = argv[i + 1];
    else if (k == "--sandboxd") sandboxd = argv[i + 1];
    else return std::fprintf(stderr, "unknown option %s\n", k.c_str()), 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  OwnDaemon own;
  if (socket_path.empty()) {
    if (!StartDaemon(sandboxd, &own)) return 1;
    socket_path = own.socket;
  }
  Endpoint unix_ep{socket_path, ""};
  Client admin(unix_ep, "");
  std::vector<std::string> keys;  // TCP: one key per tenant, 10 clients per tenant
  Endpoint tcp_ep;
  for (int t = 0; own.port > 0 && t < (clients + 9) / 10; ++t) {
    auto k = admin.CallJson("POST", "/v1/keys",
                            json{{"tenant", "bench" + std::to_string(t)}, {"name", "api_bench"}}, 10);
    if (k.ok()) keys.push_back((*k)["key"].get<std::string>());
    else Fail("key create: " + k.error().ToString());
    tcp_ep.base_url = "http://127.0.0.1:" + std::to_string(own.port);
  }
  std::printf("template %s, %d runs each, back to back; one new connection per request\n",
              tmpl.c_str(), runs);
  std::printf("%-46s %6s %9s %9s\n", "operation", "runs", "p50 ms", "p99 ms");
  RoundTrips(admin, "unix", tmpl, runs);
  if (!keys.empty()) {
    Client tcp(tcp_ep, keys[0]);
    RoundTrips(tcp, "tcp+key", tmpl, runs);
  }
  std::printf("\n");
  FileThroughput(admin, tmpl, 5);
  std::printf("\n");
  Concurrent(unix_ep, {""}, "unix", admin, tmpl, clients, seconds);
  if (!keys.empty()) Concurrent(tcp_ep, keys, "tcp+key", admin, tmpl, clients, seconds);
  StopDaemon(&own);
  std::printf("failures: %d\n", g_failures.load());
  return g_failures.load() == 0 ? 0 : 1;
}
