// The E2B gateway's relay (see gateway.h): one claimed request, from the header the request
// loop has read to the end of the answer, streamed both ways through 64 KiB buffers with
// Beast's buffer_body parsers and serializers (chunked and Content-Length bodies alike), and a
// raw byte relay after a WebSocket 101. Included by request_loop.h only.
//
// Per request: the route's error (400), the peer's request slot (keyless limit, 429), the
// gateway's admission (502/401/429), the upstream (the agent's socket or a port tunnel: 502),
// then the request header (X-Access-Token, X-API-Key and E2B-Traffic-Access-Token removed;
// `Connection: close` upstream: one upstream connection per request, except an upgrade), its
// body, the answer's header and body. The client's connection is kept alive when both
// messages ended cleanly.
//
// Timeouts: the client side as any request (the per-operation idle timeout of the listener);
// the upstream side relay_idle_timeout_s per read or write, so a Start stream that is quiet
// for minutes (the agent's keepalives aside) lives on; a raw relay ends after that long with
// no byte either way, or when either side closes. A client that vanishes mid-stream ends the
// relay at its next write: the upstream connection closes and the process in the sandbox keeps
// running (envd semantics). A sandbox stopped mid-relay closes the upstream: the client's
// answer is cut (its connection closes), never completed with invented bytes.
#pragma once

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>

#include <limits>
#include <string>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "api/gateway.h"
#include "api/request_loop.h"
#include "api/timed_socket.h"
#include "common/log.h"
#include "common/util.h"

namespace sbx::api::request_loop {

namespace gw_detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Upstream = TimedSocket<asio::local::stream_protocol::socket>;

inline constexpr size_t kPiece = 64 << 10;

// Bytes the TLS layer holds that poll(2) on the socket cannot see: decrypted and not handed out
// yet (SSL_pending), or read from the socket and not decrypted yet (Asio feeds OpenSSL through
// a BIO pair; what it read past one record waits in that BIO, and what did not fit in the BIO
// only when the BIO is not empty).
template <typename S>
size_t Pending(TimedSocket<S>&) {
  return 0;
}
template <typename S>
size_t Pending(asio::ssl::stream<TimedSocket<S>&>& s) {
  SSL* ssl = s.native_handle();
  int decrypted = SSL_pending(ssl);
  size_t raw = BIO_ctrl_pending(SSL_get_rbio(ssl));
  return (decrypted > 0 ? static_cast<size_t>(decrypted) : 0) + raw;
}

enum class Relay { kDone, kReadFailed, kWriteFailed };

// Moves a message body from `in` (parser p, buffer buf) to `out` (serializer sr, whose
// header is written), piece by piece as it arrives.
template <typename In, typename Out, bool isRequest>
Relay RelayBody(In& in, beast::flat_buffer& buf, http::parser<isRequest, http::buffer_body>& p,
                Out& out, http::serializer<isRequest, http::buffer_body>& sr,
                beast::error_code& ec) {
  char data[kPiece];
  while (!p.is_done()) {
    p.get().body().data = data;
    p.get().body().size = sizeof data;
    http::read_some(in, buf, p, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return Relay::kReadFailed;
    size_t n = sizeof data - p.get().body().size;
    if (n == 0) continue;
    p.get().body().data = data;
    p.get().body().size = n;
    p.get().body().more = !p.is_done();
    http::write(out, sr, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return Relay::kWriteFailed;
  }
  if (!sr.is_done()) {
    p.get().body().data = nullptr;
    p.get().body().size = 0;
    p.get().body().more = false;
    http::write(out, sr, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return Relay::kWriteFailed;
  }
  return Relay::kDone;
}

template <typename Out>
bool WriteAll(Out& out, const char* data, size_t n) {
  beast::error_code ec;
  asio::write(out, asio::const_buffer(data, n), ec);
  return !ec;
}

// After a 101: bytes both ways until either side closes or nothing moves for idle_ms.
template <typename Stream>
void RawRelay(Stream& client, beast::flat_buffer& client_buf, Upstream& up,
              beast::flat_buffer& up_buf, int idle_ms) {
  if (client_buf.size() &&
      !WriteAll(up, static_cast<const char*>(client_buf.data().data()), client_buf.size()))
    return;
  client_buf.consume(client_buf.size());
  if (up_buf.size() &&
      !WriteAll(client, static_cast<const char*>(up_buf.data().data()), up_buf.size()))
    return;
  up_buf.consume(up_buf.size());
  char data[kPiece];
  beast::error_code ec;
  for (;;) {
    bool client_ready = Pending(client) > 0;
    bool up_ready = false;
    if (!client_ready) {
      pollfd fds[2] = {{TimedLayer(client).native_handle(), POLLIN, 0},
                       {up.native_handle(), POLLIN, 0}};
      int r = ::poll(fds, 2, idle_ms);
      if (r == 0) return;  // idle
      if (r < 0) {
        if (errno == EINTR) continue;
        return;
      }
      client_ready = fds[0].revents != 0;
      up_ready = fds[1].revents != 0;
    }
    if (client_ready) {
      size_t n = client.read_some(asio::buffer(data), ec);
      if (ec || !WriteAll(up, data, n)) return;
    }
    if (up_ready) {
      size_t n = up.read_some(asio::buffer(data), ec);
      if (ec || !WriteAll(client, data, n)) return;
    }
  }
}

}  // namespace gw_detail

// Serves one request the gateway claimed. Returns whether the client's connection goes on
// (keep-alive) with its next request.
template <typename Stream>
bool ServeGateway(Stream& stream, beast::flat_buffer& buffer,
                  http::request_parser<http::string_body>& parser, Request& req,
                  const gateway::Route& route, const ServerContext& ctx,
                  const ConnectionInfo& conn, int64_t t0) {
  namespace asio = boost::asio;
  using gw_detail::Relay;
  using gw_detail::Upstream;
  Gateway& gw = *ctx.gateway;
  const ServerOptions& o = *ctx.options;
  auto& timed = TimedLayer(stream);
  const bool has_body = parser.chunked() || parser.content_length().value_or(0) > 0;
  const bool keep_alive = parser.get().keep_alive();
  auto seconds = [&] { return static_cast<double>(MonotonicNs() - t0) / 1e9; };

  Gateway::Target target;
  target.sandbox_id = route.sandbox_id;
  target.port = route.port;
  target.kind = GatewayKind(req, route.port);
  std::optional<RequestSlots::Slot> peer_slot;
  // An answer of the gateway's own (a refusal); the connection closes when a body is unread.
  // The slots go first: a client that sends its next request as soon as it has read this
  // answer must find them free.
  // Writes an answer of the gateway's own within 2 s; false when it could not.
  auto write_own = [&](Response resp, bool again) {
    gw.Record(req, target, resp.status, seconds());
    timed.SetDeadline(MonotonicNs() + 2'000'000'000LL);
    auto out = ToMessage(std::move(resp), req.request_id, again);
    beast::error_code ec;
    http::write(stream, out, ec);
    return !ec;
  };
  auto refuse = [&](Response resp) {
    peer_slot.reset();
    target.slot.Release();
    bool again = keep_alive && !has_body && !*ctx.stopping;
    bool written = write_own(std::move(resp), again);
    if (written && has_body && !ExpectsContinue(req))
      Discard(stream, buffer,
              std::min<uint64_t>(parser.content_length().value_or(o.max_body_bytes),
                                 uint64_t{1} << 30),
              MonotonicNs() + int64_t{o.body_timeout_s} * 1'000'000'000);
    timed.SetDeadline(0);
    return again && written;
  };

  if (!conn.admin && ctx.slots) {
    peer_slot = ctx.slots->TryAcquire("peer " + conn.peer);
    if (!peer_slot) return refuse(TooManyInFlight(req, conn.peer, ctx.slots->limit()));
  }
  Gateway::Admission admission = gw.Admit(req, route, conn.admin);
  target = std::move(admission.target);
  if (admission.refusal) return refuse(std::move(*admission.refusal));
  Result<UniqueFd> fd = gw.Dial(target);
  if (!fd.ok()) return refuse(gateway::E2bError(502, fd.error().message));

  beast::error_code ec;
  asio::local::stream_protocol::socket raw(timed.socket().get_executor());
  raw.assign(asio::local::stream_protocol(), fd->get(), ec);
  if (ec) return refuse(gateway::E2bError(502, "the sandbox's agent: " + ec.message()));
  (void)fd->release();  // the socket owns it now
  const int idle_ms = gw.options().relay_idle_timeout_s * 1000;
  Upstream up(std::move(raw), idle_ms);
  Gateway::RelayGuard guard(&gw, up.native_handle());  // ended by Server::Stop

  // The request: header, then body as it comes.
  http::request_parser<http::buffer_body> rp{std::move(parser)};
  // Streamed: nothing of it is held. (Not boost::none: Boost 1.74 compares a Content-Length
  // with an empty optional as larger.)
  rp.body_limit(std::numeric_limits<uint64_t>::max());
  auto& rm = rp.get();
  rm.erase("x-access-token");  // credentials stay with sandboxd
  rm.erase("x-api-key");
  rm.erase("e2b-traffic-access-token");
  const bool upgrade = target.kind == "websocket";
  if (ExpectsContinue(req)) {
    // Answered here: the upstream never sees the Expect, so no interim answer comes back.
    rm.erase(http::field::expect);
    static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::write(stream, asio::buffer(kContinue, sizeof kContinue - 1), ec);
    if (ec) return false;
  }
  if (!upgrade) rm.keep_alive(false);
  http::request_serializer<http::buffer_body> rs{rm};
  http::write_header(up, rs, ec);
  Relay sent = ec ? Relay::kWriteFailed : gw_detail::RelayBody(stream, buffer, rp, up, rs, ec);
  if (sent == Relay::kReadFailed) {
    // The client vanished, stalled or sent a malformed body: nothing sensible to answer.
    if (ec == asio::error::timed_out)
      write_own(Timeout("the request body stopped arriving"), false);
    else if (IsEndOfStream(ec))
      gw.Record(req, target, 499, seconds());
    else
      write_own(BadRequest(ec), false);
    return false;
  }
  // An upstream that stopped reading may have answered already (an agent refusing an
  // oversized envelope): read its answer either way.
  const bool request_complete = sent == Relay::kDone;

  // The answer: header (interim 1xx other than 101 are dropped), then body as it comes.
  beast::flat_buffer up_buf;
  std::optional<http::response_parser<http::buffer_body>> pp;
  for (int interim = 0; interim < 8; ++interim) {
    pp.emplace();
    pp->header_limit(64 << 10);
    pp->body_limit(std::numeric_limits<uint64_t>::max());
    if (req.method == "HEAD") pp->skip(true);
    http::read_header(up, up_buf, *pp, ec);
    if (ec) break;
    int s = pp->get().result_int();
    if (s >= 200 || s == 101) break;
  }
  if (ec || (pp->get().result_int() < 200 && pp->get().result_int() != 101)) {
    log::Info("gateway.upstream_failed", {{"request_id", req.request_id},
                                          {"sandbox_id", target.sandbox_id},
                                          {"error", ec ? ec.message() : "no final answer"}});
    Response r = gateway::E2bError(
        502, target.port == gateway::kEnvdPort
                 ? "the sandbox's agent closed the connection without an answer (the sandbox "
                   "may have stopped)"
                 : "the server on port " + std::to_string(target.port) +
                       " closed the connection without an answer");
    if (!request_complete) {
      write_own(std::move(r), false);
      return false;
    }
    return refuse(std::move(r));
  }
  auto& pm = pp->get();
  const int status = pm.result_int();
  const bool switched = status == 101 && upgrade;
  bool again = keep_alive && request_complete && !*ctx.stopping && !switched;
  if (!switched) {
    if (rm.version() < 11) {
      // An HTTP/1.0 client knows no chunks: a body without a length ends with the close.
      if (pm.chunked()) pm.chunked(false);
      if (!pm.has_content_length()) again = false;
    } else if (!pp->is_done() && pp->need_eof()) {
      pm.chunked(true);  // a body that ends with the upstream's close: chunked instead
    }
    pm.keep_alive(again);
  }
  http::response_serializer<http::buffer_body> ps{pm};
  http::write_header(stream, ps, ec);
  if (ec) {
    gw.Record(req, target, 499, seconds());
    return false;
  }
  if (switched) {
    gw.Record(req, target, 101, seconds());
    gw_detail::RawRelay(stream, buffer, up, up_buf, idle_ms);
    return false;
  }
  Relay answered = gw_detail::RelayBody(up, up_buf, *pp, stream, ps, ec);
  // Cut by the upstream (the sandbox stopped): 502 in the log; by the client: 499.
  gw.Record(req, target,
            answered == Relay::kDone ? status : answered == Relay::kReadFailed ? 502 : 499,
            seconds());
  if (answered != Relay::kDone) return false;  // cut: the client must not see it complete
  if (!request_complete) {
    // The upstream answered before the body ended: let the client finish sending (bounded)
    // so that it reads the answer rather than a reset.
    Discard(stream, buffer, 64u << 20, MonotonicNs() + 5'000'000'000LL);
    return false;
  }
  return again;
}

}  // namespace sbx::api::request_loop
