// The pure rules of the E2B gateway (see gateway_rules.h).
#include "api/gateway_rules.h"

#include <cctype>

#include "digest/hmac.h"
#include "digest/sha256.h"
#include "protocol/base64.h"

namespace sbx::api::gateway {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsIdChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return 0;
}

std::string HexToBytes(std::string_view hex) {
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(HexValue(hex[i]) * 16 + HexValue(hex[i + 1])));
  return out;
}

bool HeaderEquals(const Request& req, const std::string& name, const std::string& expected) {
  auto it = req.headers.find(name);
  return it != req.headers.end() && !expected.empty() &&
         digest::ConstantTimeEquals(it->second, expected);
}

// At most max bytes of s with anything but printable ASCII as '?': client text quoted in an
// answer (JSON needs valid UTF-8).
std::string Printable(std::string_view s, size_t max) {
  std::string out(s.substr(0, max));
  for (char& c : out)
    if (c < 0x20 || c > 0x7e) c = '?';
  return out;
}

}  // namespace

std::optional<int> ParsePort(std::string_view text) {
  if (!AllDigits(text) || text.size() > 5) return std::nullopt;
  int port = std::stoi(std::string(text));
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

std::optional<HostRoute> ParseSandboxHost(std::string_view host, std::string_view domain) {
  if (host.empty() || host.size() > 255 || host.front() == '[') return std::nullopt;
  // Drop the listener's port.
  if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    if (!AllDigits(host.substr(colon + 1))) return std::nullopt;
    host = host.substr(0, colon);
  }
  std::string h = Lower(host);
  if (!h.empty() && h.back() == '.') h.pop_back();  // a fully qualified name
  size_t dot = h.find('.');
  if (dot == std::string::npos) return std::nullopt;
  std::string_view label(h.data(), dot);
  std::string_view rest(h.data() + dot + 1, h.size() - dot - 1);
  if (rest.empty()) return std::nullopt;
  if (!domain.empty() && rest != Lower(domain)) return std::nullopt;
  size_t dash = label.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::string_view port = label.substr(0, dash);
  std::string_view id = label.substr(dash + 1);
  if (!AllDigits(port) || id.empty() || id.size() > 64) return std::nullopt;
  for (char c : id)
    if (!IsIdChar(c)) return std::nullopt;
  HostRoute r;
  r.port = ParsePort(port).value_or(0);
  r.sandbox_id = std::string(id);
  return r;
}

std::optional<Route> Claim(const Request& req, std::string_view domain) {
  if (auto it = req.headers.find("e2b-sandbox-id"); it != req.headers.end()) {
    Route r;
    r.via = "header";
    r.sandbox_id = it->second;
    if (auto p = req.headers.find("e2b-sandbox-port"); p != req.headers.end()) {
      auto port = ParsePort(p->second);
      if (!port) {
        r.error = "E2b-Sandbox-Port must be a port number from 1 to 65535, got '" +
                  Printable(p->second, 32) + "'";
      } else {
        r.port = *port;
      }
    }
    return r;
  }
  if (auto host = ParseSandboxHost(req.Header("host"), domain)) {
    Route r;
    r.via = "host";
    r.sandbox_id = host->sandbox_id;
    r.port = host->port;
    if (r.port == 0) r.error = "the Host header's port must be a number from 1 to 65535";
    return r;
  }
  if (req.path == "/files" && req.query.count("signature")) {
    Route r;
    r.via = "signature";
    return r;
  }
  return std::nullopt;
}

std::string EnvdSignature(std::string_view path, std::string_view operation,
                          std::string_view user, std::string_view token,
                          std::optional<int64_t> expiration) {
  std::string raw(path);
  raw += ':';
  raw.append(operation);
  raw += ':';
  raw.append(user);
  raw += ':';
  raw.append(token);
  if (expiration) raw += ":" + std::to_string(*expiration);
  std::string b64 = protocol::Base64Encode(HexToBytes(digest::Sha256Hex(raw)));
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "v1_" + b64;
}

bool SignatureValid(const Request& req, std::string_view token, int64_t now_s) {
  std::string signature = req.Query("signature");
  if (signature.empty() || token.empty() || req.path != "/files") return false;
  std::string op;
  if (req.method == "GET")
    op = "read";
  else if (req.method == "POST")
    op = "write";
  else
    return false;
  std::optional<int64_t> expiration;
  if (auto it = req.query.find("signature_expiration"); it != req.query.end()) {
    if (!AllDigits(it->second) || it->second.size() > 18) return false;
    expiration = std::stoll(it->second);
    if (*expiration < now_s) return false;
  }
  std::string expected =
      EnvdSignature(req.Query("path"), op, req.Query("username"), token, expiration);
  return digest::ConstantTimeEquals(signature, expected);
}

Verdict Decide(const Request& req, int port, bool admin, KeyMatch key, const Expected& expected,
               int64_t now_s) {
  if (admin) return Verdict::kAllow;
  if (key == KeyMatch::kOtherTenant) return Verdict::kNotFound;
  if (key == KeyMatch::kInvalid) return Verdict::kUnauthorized;
  if (key == KeyMatch::kOwnTenant) return Verdict::kAllow;
  if (port == kEnvdPort) {
    if (req.method == "GET" && req.path == "/health") return Verdict::kAllow;
    if (HeaderEquals(req, "x-access-token", expected.envd_token)) return Verdict::kAllow;
    if (SignatureValid(req, expected.envd_token, now_s)) return Verdict::kAllow;
    return Verdict::kUnauthorized;
  }
  if (expected.public_traffic) return Verdict::kAllow;
  if (HeaderEquals(req, "e2b-traffic-access-token", expected.traffic_token))
    return Verdict::kAllow;
  return Verdict::kUnauthorized;
}

Response NotFound(const std::string& sandbox_id) {
  return JsonResponse(502, {{"sandboxId", Printable(sandbox_id, 64)},
                            {"message", "The sandbox was not found"},
                            {"code", 502}});
}

Response E2bError(int status, const std::string& message) {
  return JsonResponse(status, {{"code", status}, {"message", message}});
}

}  // namespace sbx::api::gateway
