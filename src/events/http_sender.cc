// libcurl sender (see http_sender.h).
#include "events/http_sender.h"

#include <curl/curl.h>

#include <mutex>

#include "common/util.h"

namespace sbx::events {
namespace {

constexpr size_t kKeepBody = 256;  // bytes of an error answer kept for the delivery log

size_t Collect(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  size_t len = size * n;
  if (body->size() < kKeepBody) body->append(data, std::min(len, kKeepBody - body->size()));
  return len;  // read and discard the rest
}

}  // namespace

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HttpSender::HttpSender(SendTimeouts timeouts) : timeouts_(timeouts) {
  InitCurlOnce();
  curl_ = curl_easy_init();
}

HttpSender::~HttpSender() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

SendResult HttpSender::Send(const OutgoingRequest& req) {
  SendResult out;
  CURL* c = static_cast<CURL*>(curl_);
  if (!c) {
    out.error = "curl_easy_init failed";
    return out;
  }
  curl_easy_reset(c);  // keeps the connection cache
  std::string body;
  curl_slist* headers = nullptr;
  for (const auto& [k, v] : req.headers)
    headers = curl_slist_append(headers, (k + ": " + v).c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeouts_.connect_ms));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeouts_.total_ms));
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect is an answer, not a hop
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  int64_t t0 = MonotonicNs();
  CURLcode rc = curl_easy_perform(c);
  out.latency_ms = static_cast<double>(MonotonicNs() - t0) / 1e6;
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    out.error = curl_easy_strerror(rc);
    return out;
  }
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  out.status_code = static_cast<int>(code);
  if (!out.ok()) out.error = "HTTP " + std::to_string(code) + (body.empty() ? "" : ": " + body);
  return out;
}

}  // namespace sbx::events
