// Connect unary and streaming responses over ResponseWriter.
#include "agent/connect_io.h"

#include <charconv>

#include "protocol/connect_error.h"
#include "protocol/envelope.h"

namespace sbx::agent {

using protocol::Json;

namespace {
const HeaderList kJsonHeaders = {{"Content-Type", "application/json"}};
}

Result<void> SendUnary(ResponseWriter& w, const Json& message) {
  return w.Send(200, kJsonHeaders, protocol::DumpJson(message));
}

Result<void> SendUnaryError(ResponseWriter& w, const Error& error) {
  const auto ce = protocol::FromError(error);
  return w.Send(protocol::HttpStatusForCode(ce.code), kJsonHeaders, protocol::ErrorJson(ce));
}

Result<Json> ReadUnaryRequest(const HttpRequest&, BodyReader& body) {
  ASSIGN_OR_RETURN(std::string data, ReadAll(body, kMaxRequestBytes));
  return protocol::ParseJsonObject(data);
}

Result<Json> ReadStreamRequest(const HttpRequest& req, BodyReader& body) {
  ASSIGN_OR_RETURN(std::string data, ReadAll(body, kMaxRequestBytes + 5));
  const std::string ct = req.Header("content-type");
  if (ct.rfind("application/connect+json", 0) == 0 || ct.rfind("application/connect+", 0) == 0) {
    if (ct.rfind("application/connect+json", 0) != 0) {
      return MakeError(ErrorCode::kInvalidArgument, "unsupported codec '" + ct + "'");
    }
    ASSIGN_OR_RETURN(std::string payload, protocol::DecodeSingleEnvelope(data, kMaxRequestBytes));
    return protocol::ParseJsonObject(payload);
  }
  return protocol::ParseJsonObject(data);
}

Result<std::optional<int64_t>> ConnectTimeoutMs(const HttpRequest& req) {
  const std::string v = req.Header("connect-timeout-ms");
  if (v.empty()) return std::optional<int64_t>();
  int64_t ms = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
  if (ec != std::errc() || p != v.data() + v.size() || ms < 0 || v.size() > 10) {
    return MakeError(ErrorCode::kInvalidArgument, "bad Connect-Timeout-Ms '" + v + "'");
  }
  return std::optional<int64_t>(ms);
}

int64_t KeepaliveSeconds(const HttpRequest& req, int64_t fallback) {
  const std::string v = req.Header("keepalive-ping-interval");
  int64_t s = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), s);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || s <= 0) return fallback;
  return std::min<int64_t>(s, 24 * 3600);
}

Result<void> ConnectStream::EnsureBegun() {
  if (begun_) return Ok();
  begun_ = true;
  return w_.BeginChunked(200, {{"Content-Type", "application/connect+json"}});
}

Result<void> ConnectStream::Send(const Json& message) {
  RETURN_IF_ERROR(EnsureBegun());
  return w_.Write(protocol::EncodeData(protocol::DumpJson(message)));
}

Result<void> ConnectStream::Finish(const Error* error) {
  RETURN_IF_ERROR(EnsureBegun());
  std::string payload;
  if (error != nullptr) {
    const auto ce = protocol::FromError(*error);
    payload = protocol::EndStreamJson(&ce);
  } else {
    payload = protocol::EndStreamJson(nullptr);
  }
  RETURN_IF_ERROR(w_.Write(protocol::EncodeEndStream(payload)));
  return w_.End();
}

}  // namespace sbx::agent
