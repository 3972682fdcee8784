// DefinitionHash: canonical JSON of the content-determining fields, hashed with sha256.
#include "templates/hash.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

namespace sbx::templates {

std::string DefinitionHash(const spec::Template& t, std::string_view source_fingerprint) {
  // Debian packages are a set (apt resolves them together): order and duplicates do not matter.
  std::vector<std::string> packages = t.packages;
  std::sort(packages.begin(), packages.end());
  packages.erase(std::unique(packages.begin(), packages.end()), packages.end());
  // pip and npm install in the order given; keep it.
  nlohmann::json j{{"builder", kBuilderVersion},
                   {"baseImage", t.base_image},
                   {"packages", packages},
                   {"pythonPackages", t.python_packages},
                   {"npmPackages", t.npm_packages},
                   {"source", std::string(source_fingerprint)}};
  return Sha256Hex(j.dump());
}

std::string ShortHash(std::string_view hash) { return std::string(hash.substr(0, 16)); }

}  // namespace sbx::templates
