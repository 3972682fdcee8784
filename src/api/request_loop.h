// The request loop of one connection, whatever its stream (a TimedSocket over a unix or TCP
// socket, or TLS over it): read a header within its deadline, let the gate decide, only then
// read the body (within its own deadline, against the byte budget), hand the request to the
// Router, write the answer; repeat while the connection is kept alive. Included by server.cc
// only; the non-template parts are in request_loop.cc.
//
// Per request:
//   1. idle: wait for the first byte (idle_timeout_s); the connection is pre-auth (evictable)
//   2. header: complete within header_timeout_s of that byte (of the accept or handshake for a
//      connection's first request), absolute, whatever the client trickles; 408 otherwise
//   3a. gateway: a request naming a sandbox (E2b-Sandbox-Id, Host <port>-<id>.<domain>, a
//      signed /files URL) is the E2B gateway's from here on: it authorises, relays the body
//      and the answer streamed, and says whether the connection goes on (gateway_relay.h)
//   3. gate: the connection stops being pre-auth (a complete header); Router::Admit (API key,
//      rate limit: 401/429), then one request slot of the key (or, for keyless routes, of the
//      peer address: 429)
//   4. limits: 413 when the Content-Length is above the limit (the keyless limit for requests
//      without a key), then the body's bytes are reserved from the ByteBudget (503 after
//      body_budget_wait_s); a chunked body reserves as it grows
//   5. body: `100 Continue` if asked for; read within body_timeout_s + length / body_min_rate of
//      the header's end (chunked: the deadline grows with what arrived at that rate); 408
//      otherwise
//   6. Router::Handle, then the body's memory and reservation are returned; the answer written
// A request refused before its body is read is answered with `Connection: close`; what the
// client sends of the body meanwhile is read and dropped (64 KiB at a time, never kept; at most
// the announced length within 30 s) so that a client writing the whole body before reading
// sees the answer, and the connection is pre-auth, evictable, while it does.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "api/byte_budget.h"
#include "api/connection_pool.h"
#include "api/e2b_json.h"
#include "api/gateway.h"
#include "api/http.h"
#include "api/routes.h"
#include "api/server.h"
#include "api/timed_socket.h"
#include "common/log.h"
#include "common/util.h"

namespace sbx::api {

// What every connection of a server shares. Pointers outlive the connections.
struct ServerContext {
  Router* router = nullptr;
  const ServerOptions* options = nullptr;
  ByteBudget* budget = nullptr;
  RequestSlots* slots = nullptr;  // TCP only; the administrator is not capped
  const std::atomic<bool>* stopping = nullptr;
  const RequestObserver* observer = nullptr;
  Gateway* gateway = nullptr;  // E2B's envd and port traffic (api/gateway.h); null: none
};

// One connection: its pool entry and where it comes from.
struct ConnectionInfo {
  ConnectionPool* pool = nullptr;
  uint64_t id = 0;
  bool admin = false;
  const char* transport = "";
  std::string peer;       // PeerKey, or "unix"
  int64_t ready_ns = 0;   // accepted (plain) or handshake done (TLS): the first header's start
};

namespace request_loop {

namespace beast = boost::beast;
namespace http = beast::http;

http::response<http::string_body> ToMessage(Response&& resp, const std::string& request_id,
                                             bool keep_alive);
// Method, decoded path, query and lower-cased headers of a parsed header; false on a
// malformed percent-escape in the URL.
bool FillFromHeader(const http::request_header<>& h, Request* req);
// The refusals of the loop, in the API's error shape.
Response TooLarge(uint64_t limit, bool keyless);
Response TooManyInFlight(const Request& req, const std::string& peer, size_t limit);
Response BudgetRefusal(const Error& e);
Response Timeout(const std::string& message);  // 408
Response BadRequest(const beast::error_code& ec);
bool IsEndOfStream(const beast::error_code& ec);
bool ExpectsContinue(const Request& req);

template <typename S>
TimedSocket<S>& TimedLayer(TimedSocket<S>& s) {
  return s;
}
template <typename S>
TimedSocket<S>& TimedLayer(boost::asio::ssl::stream<TimedSocket<S>&>& s) {
  return s.next_layer();
}

// Reads and drops up to max_bytes of what the client sends, by `deadline_ns` (at most 30 s
// from now), never holding more than one 64 KiB buffer.
template <typename Stream>
void Discard(Stream& stream, beast::flat_buffer& buffer, uint64_t max_bytes, int64_t deadline_ns) {
  auto& timed = TimedLayer(stream);
  timed.SetDeadline(std::min<int64_t>(deadline_ns, MonotonicNs() + 30'000'000'000LL));
  uint64_t total = buffer.size();
  buffer.consume(buffer.size());
  beast::error_code ec;
  char buf[64 << 10];
  while (total < max_bytes) {
    size_t n = stream.read_some(boost::asio::buffer(buf), ec);
    if (ec) break;
    total += n;
  }
  timed.SetDeadline(0);
}

// A streamed response: with resp.content_length, a body of exactly that length (never more is
// sent; a shorter stream closes the connection); otherwise chunked, ending with the trailer
// fields that resp.finish gives (an error from it cuts the body, so a transfer that failed
// midway never looks complete).
template <typename Stream>
bool WriteStreamed(Stream& stream, const Request& req, const Response& resp) {
  http::response<http::empty_body> head;
  head.version(11);
  head.result(static_cast<unsigned>(resp.status));
  head.set(http::field::server, "sandboxd");
  head.set(http::field::content_type, resp.content_type);
  head.set(http::field::cache_control, "no-cache");
  head.set("X-Request-Id", req.request_id);
  for (const auto& [k, v] : resp.headers) head.set(k, v);
  const bool fixed = resp.content_length.has_value();
  if (fixed) {
    head.content_length(*resp.content_length);
  } else {
    head.chunked(true);
  }
  http::response_serializer<http::empty_body> sr{head};
  beast::error_code ec;
  http::write_header(stream, sr, ec);
  if (ec) return false;
  bool alive = true;
  uint64_t left = resp.content_length.value_or(0);
  resp.stream([&](std::string_view chunk) {
    if (!alive || chunk.empty()) return alive;
    beast::error_code wec;
    if (fixed) {
      if (chunk.size() > left) return alive = false;  // more than announced: never sent
      boost::asio::write(stream, boost::asio::const_buffer(chunk.data(), chunk.size()), wec);
      left -= chunk.size();
    } else {
      boost::asio::write(
          stream, http::make_chunk(boost::asio::const_buffer(chunk.data(), chunk.size())), wec);
    }
    if (wec) alive = false;
    return alive;
  });
  if (!alive) return false;
  http::fields trailer;
  if (resp.finish) {
    auto fields = resp.finish();
    if (!fields.ok()) {
      log::Warn("http.stream_incomplete", {{"request_id", req.request_id},
                                           {"error", fields.error().ToString()}});
      return false;
    }
    for (const auto& [k, v] : *fields) trailer.set(k, v);
  }
  if (fixed) return left == 0;
  boost::asio::write(stream, http::make_chunk_last(trailer), ec);
  return !ec;
}

// Writes the answer and logs the request; false when the connection must close.
template <typename Stream>
bool Answer(Stream& stream, const ServerContext& ctx, const ConnectionInfo& conn,
            const Request& req, Response&& resp, bool keep_alive, int64_t t0) {
  // E2B's control plane answers errors as {"code", "message"}, refusals of this loop and the
  // gate included, and 204s without a body (e2b_json.h).
  if (e2b::IsE2bPath(req.path)) e2b::ToE2bShape(resp);
  double ms = static_cast<double>(MonotonicNs() - t0) / 1e6;
  int status = resp.status;
  auto log_request = [&] {
    log::Info("http.request", {{"request_id", req.request_id}, {"method", req.method},
                               {"path", req.path}, {"status", status}, {"ms", ms},
                               {"transport", conn.transport}});
    if (*ctx.observer) (*ctx.observer)(req, status, ms / 1000.0);
  };
  if (resp.stream) {
    bool ok = WriteStreamed(stream, req, resp);
    log_request();
    return ok && keep_alive && !*ctx.stopping;
  }
  auto out = ToMessage(std::move(resp), req.request_id, keep_alive && !*ctx.stopping);
  log_request();
  beast::error_code ec;
  http::write(stream, out, ec);
  return !ec && out.keep_alive();
}

// Reads the body into the parser (its limit already set), reserving it from the budget.
// nullopt when it arrived; otherwise the answer to give (408, 413, 503, 400), or a Response
// with status 0 when the connection is gone.
template <typename Stream>
std::optional<Response> ReadBody(Stream& stream, beast::flat_buffer& buffer,
                                 http::request_parser<http::string_body>& parser,
                                 const ServerContext& ctx, uint64_t limit,
                                 ByteBudget::Reservation& reservation) {
  const ServerOptions& o = *ctx.options;
  auto& timed = TimedLayer(stream);
  const int64_t start = MonotonicNs();
  const int64_t base_ns = int64_t{o.body_timeout_s} * 1'000'000'000;
  auto at_rate_ns = [&](uint64_t bytes) {
    return static_cast<int64_t>(static_cast<double>(bytes) * 1e9 / static_cast<double>(o.body_min_rate));
  };
  auto wait_until = [&] { return MonotonicNs() + int64_t{o.body_budget_wait_s} * 1'000'000'000; };
  auto content_length = parser.content_length();
  beast::error_code ec;
  if (content_length) {
    timed.SetDeadline(start + base_ns + at_rate_ns(*content_length));
    http::read(stream, buffer, parser, ec);
  } else {
    // Chunked: keep the body's capacity reserved ahead of what the next read can add (one
    // buffer), growing by half each time so that copies stay linear.
    std::string& body = parser.get().body();
    while (!ec && !parser.is_done()) {
      uint64_t need = body.size() + buffer.size() + (128 << 10);
      if (need > reservation.bytes()) {
        uint64_t target = std::max<uint64_t>(need, reservation.bytes() + reservation.bytes() / 2);
        target = std::min<uint64_t>(target, limit + (128 << 10));
        if (target > reservation.bytes()) {
          if (auto g = reservation.Grow(target - reservation.bytes(), wait_until()); !g.ok())
            return BudgetRefusal(g.error());
          body.reserve(target);
        }
      }
      timed.SetDeadline(start + base_ns + at_rate_ns(body.size()));
      http::read_some(stream, buffer, parser, ec);
    }
  }
  timed.SetDeadline(0);
  if (!ec) return std::nullopt;
  if (ec == http::error::body_limit) return TooLarge(limit, false);
  if (ec == boost::asio::error::timed_out)
    return Timeout("the request body did not arrive within " + std::to_string(o.body_timeout_s) +
                   " s plus its length at " + std::to_string(o.body_min_rate) + " bytes/s");
  if (IsEndOfStream(ec) || ec.category() != http::make_error_code(http::error::end_of_stream).category()) {
    Response gone;
    gone.status = 0;
    return gone;
  }
  return BadRequest(ec);
}

// A request the gateway claimed, from its header on (gateway_relay.h, included at the end).
// Returns whether the connection goes on with its next request.
template <typename Stream>
bool ServeGateway(Stream& stream, beast::flat_buffer& buffer,
                  http::request_parser<http::string_body>& parser, Request& req,
                  const gateway::Route& route, const ServerContext& ctx,
                  const ConnectionInfo& conn, int64_t t0);

template <typename Stream>
void ServeRequests(Stream& stream, const ServerContext& ctx, const ConnectionInfo& conn) {
  const ServerOptions& o = *ctx.options;
  auto& timed = TimedLayer(stream);
  beast::flat_buffer buffer;
  for (bool first = true;; first = false) {
    // 1. Idle until the request's first byte.
    int64_t header_start = conn.ready_ns;
    if (!first) {
      conn.pool->PreAuth(conn.id, MonotonicNs());
      if (buffer.size() == 0) {
        timed.SetDeadline(0);
        beast::error_code ec;
        size_t n = stream.read_some(buffer.prepare(4096), ec);
        if (ec) {
          if (!IsEndOfStream(ec))
            log::Debug("http.connection_closed", {{"transport", conn.transport}, {"reason", ec.message()}});
          return;
        }
        buffer.commit(n);
      }
      header_start = MonotonicNs();
    }
    // 2. The header, by its absolute deadline.
    timed.SetDeadline(header_start + int64_t{o.header_timeout_s} * 1'000'000'000);
    http::request_parser<http::string_body> parser;
    parser.header_limit(64 << 10);
    parser.body_limit(std::numeric_limits<uint64_t>::max());  // decided after the gate
    beast::error_code ec;
    http::read_header(stream, buffer, parser, ec);
    Request req;
    req.request_id = "req_" + RandomHex(6);
    req.admin = conn.admin;
    int64_t t0 = MonotonicNs();
    if (ec) {
      if (IsEndOfStream(ec) || *ctx.stopping) return;
      if (ec == boost::asio::error::timed_out) {
        log::Info("http.header_timeout", {{"transport", conn.transport}, {"peer", conn.peer},
                                          {"seconds", o.header_timeout_s}});
        timed.SetDeadline(MonotonicNs() + 1'000'000'000LL);
        Answer(stream, ctx, conn, req,
               Timeout("the request header did not arrive within " +
                       std::to_string(o.header_timeout_s) + " s"),
               false, t0);
        return;
      }
      if (ec.category() != http::make_error_code(http::error::end_of_stream).category()) {
        log::Debug("http.connection_closed", {{"transport", conn.transport}, {"reason", ec.message()}});
        return;
      }
      timed.SetDeadline(MonotonicNs() + 2'000'000'000LL);
      Answer(stream, ctx, conn, req, BadRequest(ec), false, t0);
      return;
    }
    timed.SetDeadline(0);
    // A complete header: no longer evictable (pre-auth again if the gate refuses it).
    if (!conn.pool->Activate(conn.id)) return;  // evicted while its header came
    bool has_body = parser.chunked() || parser.content_length().value_or(0) > 0;
    bool keep_alive = parser.get().keep_alive();
    std::optional<Response> refusal;
    const bool url_ok = FillFromHeader(parser.get(), &req);
    // 3a. The E2B gateway's requests (a sandbox named by header or Host) bypass the API's gate:
    // the gateway authorises, reads the body and answers them itself, streamed.
    if (ctx.gateway) {
      if (!url_ok) req.path.clear();  // no path-based exemption for a malformed URL
      if (auto route = ctx.gateway->Claim(req)) {
        if (!ServeGateway(stream, buffer, parser, req, *route, ctx, conn, t0)) return;
        continue;
      }
    }
    // 3. The gate, on the header alone.
    if (!url_ok)
      refusal = ErrorResponse(MakeError(ErrorCode::kInvalidArgument, "malformed percent-encoding in the URL"));
    if (!refusal) refusal = ctx.router->Admit(req);
    bool keyless = !conn.admin && req.key_id.empty();
    std::optional<RequestSlots::Slot> slot;
    if (!refusal && !conn.admin && ctx.slots) {
      slot = ctx.slots->TryAcquire(keyless ? "peer " + conn.peer : req.key_id);
      if (!slot) refusal = TooManyInFlight(req, conn.peer, ctx.slots->limit());
    }
    // 4. Limits and the budget, before any byte of the body.
    uint64_t limit = keyless ? o.max_keyless_body_bytes : o.max_body_bytes;
    ByteBudget::Reservation reservation;
    if (!refusal && parser.content_length().value_or(0) > limit) refusal = TooLarge(limit, keyless);
    if (!refusal && has_body) {
      parser.body_limit(limit);
      uint64_t first_bytes = parser.content_length().value_or(0);
      auto r = ctx.budget->Reserve(first_bytes,
                                   MonotonicNs() + int64_t{o.body_budget_wait_s} * 1'000'000'000);
      if (r.ok())
        reservation = std::move(*r);
      else
        refusal = BudgetRefusal(r.error());
    }
    if (refusal) {
      conn.pool->PreAuth(conn.id, MonotonicNs());
      slot.reset();
      timed.SetDeadline(MonotonicNs() + 2'000'000'000LL);
      Answer(stream, ctx, conn, req, std::move(*refusal), false, t0);
      if (has_body && !ExpectsContinue(req))
        Discard(stream, buffer,
                std::min<uint64_t>(parser.content_length().value_or(o.max_body_bytes), uint64_t{1} << 30),
                MonotonicNs() + int64_t{o.body_timeout_s} * 1'000'000'000);
      return;
    }
    // 5. The body.
    if (has_body) {
      if (ExpectsContinue(req)) {
        static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        boost::asio::write(stream, boost::asio::buffer(kContinue, sizeof kContinue - 1), ec);
        if (ec) return;
      }
      if (auto failed = ReadBody(stream, buffer, parser, ctx, limit, reservation)) {
        int status = failed->status;
        if (status == 0) return;  // the client is gone
        if (status == 408)
          log::Info("http.body_timeout", {{"request_id", req.request_id},
                                          {"transport", conn.transport}, {"peer", conn.peer}});
        conn.pool->PreAuth(conn.id, MonotonicNs());
        reservation.Release();
        slot.reset();
        timed.SetDeadline(MonotonicNs() + 2'000'000'000LL);
        Answer(stream, ctx, conn, req, std::move(*failed), false, t0);
        auto left = parser.content_length_remaining();
        if (status != 408 && left)  // 413 or 503 with a Content-Length: let the client finish
          Discard(stream, buffer, std::min<uint64_t>(*left, uint64_t{1} << 30),
                  MonotonicNs() + int64_t{o.body_timeout_s} * 1'000'000'000);
        return;
      }
      req.body = std::move(parser.get().body());
    }
    // 6. The route; the body's memory goes back before the answer is written.
    Response resp = ctx.router->Handle(req);
    std::string().swap(req.body);
    reservation.Release();
    if (!Answer(stream, ctx, conn, req, std::move(resp), keep_alive, t0)) return;
  }
}

}  // namespace request_loop
}  // namespace sbx::api

#include "api/gateway_relay.h"  // IWYU pragma: keep (ServeGateway's definition)
