// oci-archive and docker-archive import. The outer archive is unpacked into the staging
// directory (plain files only), its manifest is read, and each layer blob is applied in order
// with whiteouts by the safe extractor. OCI blobs are checked against their sha256 digest.
// The image config's Env becomes the template's base environment.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "runtime/fs_util.h"
#include "templates/extract.h"
#include "templates/hash.h"
#include "templates/steps.h"

namespace sbx::templates {
namespace {

using nlohmann::json;

Error Bad(const std::string& archive, const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument, "image archive " + archive + ": " + why);
}

Result<UniqueFd> OpenDir(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return SysError("open " + path);
  return fd;
}

Result<std::string> ReadInRoot(int dir_fd, const std::string& path, size_t max = 16 << 20) {
  ASSIGN_OR_RETURN(int raw, OpenInRoot(dir_fd, path, O_RDONLY));
  UniqueFd fd(raw);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SysError("read " + path);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max) return MakeError(ErrorCode::kInvalidArgument, path + " is too large");
  }
  return out;
}

Result<json> ReadJson(int dir_fd, const std::string& path, const std::string& archive) {
  auto text = ReadInRoot(dir_fd, path);
  if (!text.ok()) return Bad(archive, "no " + path + " (" + text.error().ToString() + ")");
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return Bad(archive, path + " is not valid JSON");
  return j;
}

// "sha256:<64 hex>" -> "blobs/sha256/<hex>".
Result<std::string> BlobPath(const std::string& digest, const std::string& archive) {
  size_t colon = digest.find(':');
  if (colon == std::string::npos) return Bad(archive, "bad digest '" + digest + "'");
  std::string algo = digest.substr(0, colon), hex = digest.substr(colon + 1);
  bool ok = (algo == "sha256" || algo == "sha512") && !hex.empty();
  for (char c : hex) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!ok) return Bad(archive, "bad digest '" + digest + "'");
  return "blobs/" + algo + "/" + hex;
}

std::string HostArch() {
  struct utsname u;
  std::string m = ::uname(&u) == 0 ? u.machine : "x86_64";
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  return m;
}

Result<UniqueFd> UnpackOuter(BuildContext& ctx, const std::string& archive) {
  std::string dir = ctx.work_dir + "/image";
  if (::mkdir(dir.c_str(), 0700) != 0) return SysError("mkdir " + dir);
  ASSIGN_OR_RETURN(UniqueFd fd, OpenDir(dir));
  ExtractOptions o;
  o.whiteouts = false;
  o.keep_owners = false;
  o.what = archive;
  o.on_bytes = [&](int64_t d, int64_t t) { ctx.Bytes("unpack", d, t); };
  ctx.Step("unpack", "unpacking image archive " + archive);
  auto st = ExtractArchive(archive, fd.get(), o);
  if (!st.ok()) return st.error();
  return fd;
}

struct Layer {
  std::string path;    // inside the unpacked image
  std::string digest;  // "sha256:..." for OCI (checked), "" for docker's layer.tar
};

Result<void> ApplyLayers(BuildContext& ctx, int image_fd, const std::vector<Layer>& layers,
                         const std::string& archive) {
  if (::mkdir(ctx.rootfs_dir.c_str(), 0755) != 0) return SysError("mkdir " + ctx.rootfs_dir);
  ASSIGN_OR_RETURN(UniqueFd root, OpenDir(ctx.rootfs_dir));
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string step = "layer " + std::to_string(i + 1) + "/" + std::to_string(layers.size());
    auto raw = OpenInRoot(image_fd, layers[i].path, O_RDONLY);
    if (!raw.ok()) return Bad(archive, "layer " + layers[i].path + " is missing");
    UniqueFd fd(*raw);
    if (!layers[i].digest.empty() && layers[i].digest.rfind("sha256:", 0) == 0) {
      ASSIGN_OR_RETURN(std::string got, Sha256OfFd(fd.get()));
      if ("sha256:" + got != layers[i].digest)
        return Bad(archive, "layer " + layers[i].digest + " is corrupt (its sha256 is " + got + ")");
    }
    struct stat st;
    (void)::fstat(fd.get(), &st);
    ctx.Step(step, "applying " + step + " " + (layers[i].digest.empty() ? layers[i].path
                                                                       : layers[i].digest.substr(0, 19)) +
                       " (" + std::to_string(st.st_size) + " bytes)");
    ExtractOptions o;
    o.whiteouts = true;
    o.keep_owners = true;
    o.what = archive + " " + step;
    o.on_bytes = [&](int64_t d, int64_t t) { ctx.Bytes(step, d, t); };
    ASSIGN_OR_RETURN(ExtractStats s, ExtractArchiveFd(fd.get(), root.get(), o));
    ctx.log->Line(step + ": " + std::to_string(s.entries) + " entries, " +
                  std::to_string(s.bytes) + " bytes, " + std::to_string(s.whiteouts) +
                  " whiteouts, " + std::to_string(s.skipped) + " skipped");
  }
  return Ok();
}

void RecordConfigEnv(BuildContext& ctx, const json& config) {
  const json* env = nullptr;
  if (auto c = config.find("config"); c != config.end() && c->is_object()) {
    if (auto e = c->find("Env"); e != c->end() && e->is_array()) env = &*e;
  }
  if (env == nullptr) return;
  for (const json& kv : *env) {
    if (!kv.is_string()) continue;
    std::string s = kv.get<std::string>();
    size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    ctx.env[s.substr(0, eq)] = s.substr(eq + 1);
  }
}

}  // namespace

Result<void> ImportOciArchive(BuildContext& ctx, const std::string& archive) {
  ASSIGN_OR_RETURN(UniqueFd image, UnpackOuter(ctx, archive));
  ASSIGN_OR_RETURN(json index, ReadJson(image.get(), "index.json", archive));
  // index.json -> a manifest, possibly through a nested index (multi-platform image).
  json manifest;
  std::string arch = HostArch();
  json list = index.value("manifests", json::array());
  for (int depth = 0; depth < 3 && manifest.is_null(); ++depth) {
    if (!list.is_array() || list.empty()) return Bad(archive, "index.json lists no manifest");
    const json* pick = nullptr;
    for (const json& m : list) {
      if (!m.is_object()) continue;
      auto p = m.find("platform");
      if (p == m.end() || !p->is_object() ||
          (p->value("architecture", "") == arch && p->value("os", "linux") == "linux")) {
        pick = &m;
        break;
      }
    }
    if (pick == nullptr) return Bad(archive, "no manifest for linux/" + arch);
    ASSIGN_OR_RETURN(std::string path, BlobPath(pick->value("digest", ""), archive));
    ASSIGN_OR_RETURN(json blob, ReadJson(image.get(), path, archive));
    std::string mt = pick->value("mediaType", blob.value("mediaType", ""));
    if (blob.contains("manifests")) {
      list = blob["manifests"];
    } else if (blob.contains("layers")) {
      manifest = blob;
    } else {
      return Bad(archive, "manifest " + path + " (" + mt + ") has no layers");
    }
  }
  if (manifest.is_null()) return Bad(archive, "index nesting too deep");
  std::vector<Layer> layers;
  for (const json& l : manifest["layers"]) {
    if (!l.is_object()) return Bad(archive, "malformed layer in manifest");
    std::string digest = l.value("digest", "");
    ASSIGN_OR_RETURN(std::string path, BlobPath(digest, archive));
    layers.push_back({path, digest});
  }
  if (auto c = manifest.find("config"); c != manifest.end() && c->is_object()) {
    auto cp = BlobPath(c->value("digest", ""), archive);
    if (cp.ok()) {
      auto cfg = ReadJson(image.get(), *cp, archive);
      if (cfg.ok()) RecordConfigEnv(ctx, *cfg);
    }
  }
  return ApplyLayers(ctx, image.get(), layers, archive);
}

Result<void> ImportDockerArchive(BuildContext& ctx, const std::string& archive) {
  ASSIGN_OR_RETURN(UniqueFd image, UnpackOuter(ctx, archive));
  ASSIGN_OR_RETURN(json manifest, ReadJson(image.get(), "manifest.json", archive));
  if (!manifest.is_array() || manifest.empty() || !manifest[0].is_object())
    return Bad(archive, "manifest.json lists no image");
  if (manifest.size() > 1)
    ctx.Step("unpack", "the archive holds " + std::to_string(manifest.size()) +
                           " images; importing the first");
  const json& img = manifest[0];
  std::vector<Layer> layers;
  for (const json& l : img.value("Layers", json::array())) {
    if (!l.is_string()) return Bad(archive, "malformed Layers in manifest.json");
    layers.push_back({l.get<std::string>(), ""});
  }
  if (layers.empty()) return Bad(archive, "the image has no layers");
  if (img.contains("Config") && img["Config"].is_string()) {
    auto cfg = ReadJson(image.get(), img["Config"].get<std::string>(), archive);
    if (cfg.ok()) RecordConfigEnv(ctx, *cfg);
  }
  return ApplyLayers(ctx, image.get(), layers, archive);
}

}  // namespace sbx::templates
