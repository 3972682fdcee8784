// Fuzzes the API's request decoders: the query string and percent-decoding of URLs, and the
// JSON bodies of create and exec (SandboxSpecFromJson, ExecRequestFromJson). Input layout:
// first byte selects the decoder, the rest is the input. Nothing may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "api/http.h"
#include "spec/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      std::map<std::string, std::string> q;
      (void)sbx::api::ParseQuery(input, &q);
      break;
    }
    case 1: {
      std::string out;
      (void)sbx::api::PercentDecode(input, &out);
      break;
    }
    case 2: {
      auto j = nlohmann::json::parse(input, nullptr, /*allow_exceptions=*/false);
      if (!j.is_discarded()) {
        auto s = sbx::spec::SandboxSpecFromJson(j);
        if (s.ok()) (void)sbx::spec::ToJson(*s).dump();
      }
      break;
    }
    case 3: {
      auto j = nlohmann::json::parse(input, nullptr, /*allow_exceptions=*/false);
      if (!j.is_discarded()) {
        auto r = sbx::spec::ExecRequestFromJson(j);
        if (r.ok()) (void)sbx::spec::InterpreterArgv(r->language, r->code);
      }
      break;
    }
  }
  return 0;
}
