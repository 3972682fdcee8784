// client/http_client: libcurl requests to sandboxd over its unix socket or TCP (see client.h).
#include "client/http_client.h"

#include <curl/curl.h>
#include <strings.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <memory>
#include <mutex>
#include <optional>

namespace sbx::client {
namespace {

#ifndef SBX_VERSION
#define SBX_VERSION "0.0.0"
#endif

// Error bodies and JSON answers are kept in memory up to this size.
constexpr size_t kMaxBufferedBody = 256u << 20;

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// State shared with the curl callbacks of one request.
struct Transfer {
  CURL* curl = nullptr;
  const HttpRequest* req = nullptr;
  HttpResponse* resp = nullptr;
  size_t body_offset = 0;        // of req->body, when there is no source
  std::optional<Error> failure;  // set by a callback that aborted the transfer
};

size_t OnWrite(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  long code = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
  if (t->req->sink && code >= 200 && code < 300) {
    Result<void> r = t->req->sink(std::string_view(data, len));
    if (!r.ok()) {
      t->failure = std::move(r).error();
      return 0;  // makes curl stop with CURLE_WRITE_ERROR
    }
    return len;
  }
  if (t->resp->body.size() + len > kMaxBufferedBody) {
    t->failure = MakeError(
        ErrorCode::kResourceExhausted,
        "the answer of sandboxd is larger than " + std::to_string(kMaxBufferedBody >> 20) + " MiB");
    return 0;
  }
  t->resp->body.append(data, len);
  return len;
}

size_t OnRead(char* buf, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t cap = size * n;
  if (t->req->source) {
    Result<size_t> r = t->req->source(buf, cap);
    if (!r.ok()) {
      t->failure = std::move(r).error();
      return CURL_READFUNC_ABORT;
    }
    return *r;
  }
  size_t left = t->req->body.size() - t->body_offset;
  size_t k = left < cap ? left : cap;
  t->req->body.copy(buf, k, t->body_offset);
  t->body_offset += k;
  return k;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  std::string_view line(data, len);
  if (line.substr(0, 5) == "HTTP/") {
    t->resp->headers.clear();  // a new response (after a 100 Continue)
    return len;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  std::string name(line.substr(0, colon));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  t->resp->headers[name] = std::string(value);
  return len;
}

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Seconds(double s) {
  std::string out = std::to_string(static_cast<long long>(s));
  return out + " s";
}

}  // namespace

Client::Client(Endpoint endpoint, std::string api_key)
    : endpoint_(std::move(endpoint)), api_key_(std::move(api_key)) {
  GlobalInitOnce();
}

Result<HttpResponse> Client::Send(const HttpRequest& req) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return MakeError(ErrorCode::kInternal, "curl_easy_init failed");
  CURL* c = curl.get();
  HttpResponse resp;
  Transfer t{c, &req, &resp};
  char errbuf[CURL_ERROR_SIZE] = {0};

  std::string url;
  if (endpoint_.base_url.empty()) {
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, endpoint_.socket_path.c_str());
    url = "http://localhost" + req.target;
  } else {
    url = endpoint_.base_url + req.target;
    // Never follow the URL into other schemes (file://, ...), whatever it was given as.
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (endpoint_.base_url.rfind("https://", 0) == 0) {
      curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
      if (!endpoint_.ca_cert.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, endpoint_.ca_cert.c_str());
      // curl verifies peer and host name by default; these say so, and the opt-out is explicit.
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, endpoint_.insecure ? 0L : 1L);
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, endpoint_.insecure ? 0L : 2L);
    }
  }
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_USERAGENT, "sbx/" SBX_VERSION);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout_s * 1000));
  if (req.stall_timeout_s > 0) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(req.stall_timeout_s));
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);

  bool has_body =
      req.source != nullptr || !req.body.empty() || req.method == "POST" || req.method == "PUT";
  if (has_body) {
    // UPLOAD streams the body through OnRead with a known length (no chunking); the verb is
    // then set with CUSTOMREQUEST.
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_off_t size = req.source ? static_cast<curl_off_t>(req.source_size)
                                 : static_cast<curl_off_t>(req.body.size());
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, size);
  }
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());

  curl_slist* raw = nullptr;
  raw = curl_slist_append(raw, "Expect:");  // no 100-continue round trip
  bool accept_given = false;
  for (const std::string& h : req.headers) {
    accept_given = accept_given || (h.size() > 7 && strncasecmp(h.c_str(), "accept:", 7) == 0);
    raw = curl_slist_append(raw, h.c_str());
  }
  if (!accept_given)
    raw = curl_slist_append(raw, req.sink ? "Accept: */*" : "Accept: application/json");
  if (!req.content_type.empty())
    raw = curl_slist_append(raw, ("Content-Type: " + req.content_type).c_str());
  if (!api_key_.empty()) raw = curl_slist_append(raw, ("X-API-Key: " + api_key_).c_str());
  std::unique_ptr<curl_slist, SlistDeleter> headers(raw);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  CURLcode rc = curl_easy_perform(c);
  if (t.failure) return std::move(*t.failure);
  if (rc != CURLE_OK) {
    long os_errno = 0;
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    std::string msg = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    double limit = req.timeout_s > 0 ? req.timeout_s : req.stall_timeout_s;
    return TransportError(endpoint_, rc, static_cast<int>(os_errno), msg, limit,
                          req.method + " " + req.target);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

Result<OJson> Client::CallJson(std::string_view method, std::string_view target,
                               const nlohmann::json& body, double timeout_s) {
  HttpRequest req;
  req.method = std::string(method);
  req.target = std::string(target);
  req.timeout_s = timeout_s;
  if (!body.is_null()) {
    req.content_type = "application/json";
    req.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  ASSIGN_OR_RETURN(HttpResponse resp, Send(req));
  if (resp.status < 200 || resp.status >= 300) return ErrorFromHttp(resp.status, resp.body);
  if (resp.body.empty()) return OJson::object();
  OJson j = OJson::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return MakeError(ErrorCode::kInternal, "sandboxd answered " + req.method + " " + req.target +
                                               " with HTTP " + std::to_string(resp.status) +
                                               " but a body that is not JSON");
  return j;
}

ErrorCode ErrorCodeFromName(std::string_view name, bool* known) {
  for (ErrorCode c :
       {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kAlreadyExists,
        ErrorCode::kFailedPrecondition, ErrorCode::kPermissionDenied, ErrorCode::kUnauthenticated,
        ErrorCode::kResourceExhausted, ErrorCode::kUnavailable, ErrorCode::kDeadlineExceeded,
        ErrorCode::kInternal}) {
    if (name == ErrorCodeName(c)) {
      if (known) *known = true;
      return c;
    }
  }
  if (known) *known = false;
  return ErrorCode::kInternal;
}

ErrorCode ErrorCodeFromHttpStatus(long status) {
  switch (status) {
    case 400:
      return ErrorCode::kInvalidArgument;
    case 401:
      return ErrorCode::kUnauthenticated;
    case 403:
      return ErrorCode::kPermissionDenied;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return ErrorCode::kAlreadyExists;
    case 413:
    case 429:
      return ErrorCode::kResourceExhausted;
    case 502:
    case 503:
      return ErrorCode::kUnavailable;
    case 504:
      return ErrorCode::kDeadlineExceeded;
    default:
      break;
  }
  if (status >= 400 && status < 500) return ErrorCode::kInvalidArgument;
  return ErrorCode::kInternal;
}

Error ErrorFromHttp(long status, std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    auto err = j.find("error");
    // The API's form: {"success": false, "error": {"code": "...", "message": "..."}}.
    if (err != j.end() && err->is_object()) {
      std::string code = err->value("code", "");
      std::string message = err->value("message", "");
      if (message.empty()) message = "sandboxd answered HTTP " + std::to_string(status);
      bool known = false;
      ErrorCode ec = ErrorCodeFromName(code, &known);
      if (!known) {
        ec = ErrorCodeFromHttpStatus(status);
        if (!code.empty()) message += " (" + code + ")";
      }
      return MakeError(ec, message);
    }
    // Tolerate {"error": "message", "error_code": "..."} too.
    if (err != j.end() && err->is_string()) {
      bool known = false;
      ErrorCode ec = ErrorCodeFromName(j.value("error_code", ""), &known);
      if (!known) ec = ErrorCodeFromHttpStatus(status);
      return MakeError(ec, err->get<std::string>());
    }
  }
  std::string excerpt(body.substr(0, 200));
  for (char& c : excerpt)
    if (c == '\n' || c == '\r') c = ' ';
  std::string message = "sandboxd answered HTTP " + std::to_string(status);
  if (!excerpt.empty()) message += ": " + excerpt;
  return MakeError(ErrorCodeFromHttpStatus(status), message);
}

Error TransportError(const Endpoint& ep, int curl_code, int os_errno, std::string_view curl_msg,
                     double timeout_s, std::string_view what) {
  const std::string where = ep.Describe();
  auto code = static_cast<CURLcode>(curl_code);
  if (code == CURLE_COULDNT_CONNECT) {
    if (ep.base_url.empty()) {
      int err = os_errno;
      struct stat st;
      if (err == 0 && ::stat(ep.socket_path.c_str(), &st) != 0) err = errno;
      if (err == ENOENT || err == ENOTDIR)
        return MakeError(ErrorCode::kUnavailable, "sandboxd is not running (no socket at " + where +
                                                      "); start it with `sandboxd`");
      if (err == EACCES || err == EPERM)
        return MakeError(ErrorCode::kPermissionDenied,
                         "permission denied on the socket " + where +
                             " (it is the administrator's): run sbx as the user that runs "
                             "sandboxd, e.g. with sudo");
      if (err == ECONNREFUSED && ::stat(ep.socket_path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
        return MakeError(ErrorCode::kUnavailable, "cannot connect to sandboxd: " + where +
                                                      " is not a socket (check --socket)");
      if (err == ECONNREFUSED)
        return MakeError(ErrorCode::kUnavailable,
                         "sandboxd is not running (" + where +
                             " exists but nothing accepts connections on it); start it with "
                             "`sandboxd`");
      return MakeError(ErrorCode::kUnavailable,
                       "cannot connect to sandboxd at " + where + ": " + std::string(curl_msg));
    }
    // "http://127.0.0.1:8080/x" -> "127.0.0.1:8080" for the hint.
    std::string hostport = ep.base_url.substr(ep.base_url.find("://") + 3);
    hostport = hostport.substr(0, hostport.find('/'));
    if (os_errno == ECONNREFUSED)
      return MakeError(ErrorCode::kUnavailable, "sandboxd is not running (connection refused at " +
                                                    where + "); start it with `sandboxd --listen " +
                                                    hostport + "`");
    return MakeError(ErrorCode::kUnavailable,
                     "cannot connect to sandboxd at " + where + ": " + std::string(curl_msg));
  }
  if (code == CURLE_PEER_FAILED_VERIFICATION)
    return MakeError(ErrorCode::kUnavailable,
                     "the TLS certificate of sandboxd at " + where + " is not trusted (" +
                         std::string(curl_msg) + "): pass --cacert FILE (env SBX_CACERT) with "
                         "the CA that signed it");
  if (code == CURLE_SSL_CACERT_BADFILE)
    return MakeError(ErrorCode::kInvalidArgument,
                     "cannot use the CA file '" + ep.ca_cert + "' (" + std::string(curl_msg) +
                         "): --cacert wants a readable PEM file");
  if (code == CURLE_SSL_CONNECT_ERROR)
    return MakeError(ErrorCode::kUnavailable,
                     "TLS handshake with sandboxd at " + where + " failed (" +
                         std::string(curl_msg) + "); does it serve TLS? (sandboxd --tls-cert "
                         "--tls-key; without them use an http:// URL)");
  if (code == CURLE_OPERATION_TIMEDOUT)
    return MakeError(ErrorCode::kDeadlineExceeded, "sandboxd did not answer " + std::string(what) +
                                                       " within " + Seconds(timeout_s) + " (" +
                                                       std::string(curl_msg) + ")");
  if (code == CURLE_GOT_NOTHING || code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR ||
      code == CURLE_PARTIAL_FILE)
    return MakeError(ErrorCode::kUnavailable,
                     "sandboxd at " + where + " closed the connection during " + std::string(what) +
                         " (" + std::string(curl_msg) + ")");
  if (code == CURLE_URL_MALFORMAT || code == CURLE_COULDNT_RESOLVE_HOST ||
      code == CURLE_UNSUPPORTED_PROTOCOL)
    return MakeError(ErrorCode::kInvalidArgument,
                     "bad sandboxd URL '" + where + "': " + std::string(curl_msg));
  return MakeError(ErrorCode::kUnavailable, std::string(what) + " to sandboxd at " + where +
                                                " failed: " + std::string(curl_msg));
}

std::string BaseName(std::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
    if (keep) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string FilesTarget(std::string_view sandbox_id, std::string_view path, std::string_view user) {
  std::string t = "/v1/sandboxes/" + std::string(sandbox_id) + "/files?path=" + PercentEncode(path);
  if (!user.empty() && user != "user") t += "&user=" + PercentEncode(user);
  return t;
}

Sink LineSink(std::function<Result<void>(std::string_view line)> on_line) {
  auto pending = std::make_shared<std::string>();
  return [pending, on_line = std::move(on_line)](std::string_view chunk) -> Result<void> {
    pending->append(chunk);
    size_t start = 0, nl;
    Result<void> r = Ok();
    while (r.ok() && (nl = pending->find('\n', start)) != std::string::npos) {
      std::string_view line(pending->data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      r = on_line(line);
      start = nl + 1;
    }
    pending->erase(0, start);
    return r;
  };
}

}  // namespace sbx::client
