// Fuzzes the templates.json parser and the byte-size parser: any input yields a config or an
// Error naming the field, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spec/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = sbx::spec::ParseTemplatesConfig(text, "fuzz.json");
  if (cfg.ok()) {
    for (const auto& [name, t] : cfg->templates) (void)t.ToLimits();
  } else if (cfg.error().message.empty()) {
    __builtin_trap();  // every rejection must say why
  }
  (void)sbx::spec::ParseByteSize(text.substr(0, 64));
  return 0;
}
