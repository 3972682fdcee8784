// Fuzzes the E2B gateway's rules on hostile headers and queries (src/api/gateway_rules.h): the
// Host form, the port header, the claim, the signature check, the decision and the 502's body
// (which quotes the id). Input layout: fields separated by '\n': host, E2b-Sandbox-Id,
// E2b-Sandbox-Port, path, signature, signature_expiration, X-Access-Token. Nothing may crash
// or throw (invalid UTF-8 in a JSON answer would).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "api/gateway_rules.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> f;
  size_t start = 0;
  while (f.size() < 7) {
    size_t nl = input.find('\n', start);
    f.push_back(input.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  f.resize(7);
  namespace gw = sbx::api::gateway;
  (void)gw::ParseSandboxHost(f[0], "");
  (void)gw::ParseSandboxHost(f[0], "sandbox.test");
  (void)gw::ParsePort(f[2]);
  sbx::api::Request req;
  req.method = size % 2 ? "GET" : "POST";
  req.path = f[3];
  req.headers["host"] = f[0];
  if (!f[1].empty()) req.headers["e2b-sandbox-id"] = f[1];
  if (!f[2].empty()) req.headers["e2b-sandbox-port"] = f[2];
  req.headers["x-access-token"] = f[6];
  req.query["signature"] = f[4];
  req.query["signature_expiration"] = f[5];
  req.query["path"] = f[3];
  auto route = gw::Claim(req, "");
  if (route) {
    (void)gw::E2bError(400, route->error);
    (void)gw::NotFound(route->sandbox_id);
  }
  gw::Expected expected{"envd", "traffic", size % 3 != 0};
  (void)gw::Decide(req, route ? route->port : gw::kEnvdPort, false, gw::KeyMatch::kNone,
                   expected, 1000);
  return 0;
}
