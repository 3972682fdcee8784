// ParseBaseImage: the prefixes of `baseImage` and Debian's suite aliases.
#include "templates/base_image.h"

#include <cctype>
#include <map>

namespace sbx::templates {
namespace {

Error Invalid(std::string m) { return MakeError(ErrorCode::kInvalidArgument, std::move(m)); }

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

Result<std::string> AbsolutePath(std::string_view text, std::string_view prefix) {
  std::string path(text.substr(prefix.size()));
  if (path.empty() || path[0] != '/')
    return Invalid("baseImage '" + std::string(text) + "': the path after '" +
                   std::string(prefix) + "' must be absolute");
  return path;
}

}  // namespace

const char* BaseKindName(BaseKind k) {
  switch (k) {
    case BaseKind::kHost: return "host";
    case BaseKind::kDebian: return "debian";
    case BaseKind::kOciArchive: return "oci-archive";
    case BaseKind::kDockerArchive: return "docker-archive";
    case BaseKind::kRootfs: return "rootfs";
    case BaseKind::kRegistry: return "registry";
  }
  return "host";
}

Result<BaseImage> ParseBaseImage(std::string_view text) {
  if (text.empty()) return Invalid("baseImage must not be empty");
  if (text == "host") return BaseImage{BaseKind::kHost, ""};
  if (StartsWith(text, "debian:")) {
    std::string suite(text.substr(7));
    if (suite.size() > 5 && suite.substr(suite.size() - 5) == "-slim")
      suite.resize(suite.size() - 5);
    static const std::map<std::string, std::string> kNumbers = {
        {"10", "buster"}, {"11", "bullseye"}, {"12", "bookworm"}, {"13", "trixie"},
        {"latest", "bookworm"}, {"stable", "bookworm"}};
    if (auto it = kNumbers.find(suite); it != kNumbers.end()) suite = it->second;
    if (suite.empty()) return Invalid("baseImage '" + std::string(text) + "': no Debian suite");
    for (char c : suite)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
        return Invalid("baseImage '" + std::string(text) + "': '" + suite +
                       "' is not a Debian suite name");
    return BaseImage{BaseKind::kDebian, suite};
  }
  if (StartsWith(text, "oci-archive:")) {
    ASSIGN_OR_RETURN(std::string p, AbsolutePath(text, "oci-archive:"));
    return BaseImage{BaseKind::kOciArchive, p};
  }
  if (StartsWith(text, "docker-archive:")) {
    ASSIGN_OR_RETURN(std::string p, AbsolutePath(text, "docker-archive:"));
    return BaseImage{BaseKind::kDockerArchive, p};
  }
  if (StartsWith(text, "rootfs:")) {
    ASSIGN_OR_RETURN(std::string p, AbsolutePath(text, "rootfs:"));
    return BaseImage{BaseKind::kRootfs, p};
  }
  std::string ref(text);
  if (StartsWith(ref, "docker://")) ref = ref.substr(9);
  if (ref.empty()) return Invalid("baseImage '" + std::string(text) + "': empty image reference");
  for (char c : ref)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::string_view("._-/:@").find(c) !=
                                                             std::string_view::npos))
      return Invalid("baseImage '" + std::string(text) + "' is not an image reference");
  return BaseImage{BaseKind::kRegistry, ref};
}

std::string RegistryImportHelp(const std::string& ref) {
  return "to use image '" + ref +
         "' without a registry, save it on a machine that has it and import the archive: "
         "`docker save " + ref + " -o image.tar` (or `skopeo copy docker://" + ref +
         " docker-archive:image.tar`), copy image.tar here and set \"baseImage\": "
         "\"docker-archive:/path/to/image.tar\" (or save with `skopeo copy docker://" + ref +
         " oci-archive:image.tar` and use \"oci-archive:/path/to/image.tar\")";
}

}  // namespace sbx::templates
