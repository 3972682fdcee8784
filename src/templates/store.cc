// TemplateStore: versions on disk, the atomic `current` switch, leases and garbage collection.
#include "templates/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "common/log.h"
#include "common/util.h"
#include "runtime/fs_util.h"

namespace sbx::templates {
namespace {

using nlohmann::json;

Result<void> MakeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return SysError("mkdir " + path);
  return Ok();
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool IsHex(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

json VersionInfo::ToJson() const {
  return json{{"name", name},
              {"version", version},
              {"hash", hash},
              {"base_image", base_image},
              {"built_at", built_at_ms ? ToRfc3339(built_at_ms) : ""},
              {"built_at_ms", built_at_ms},
              {"size_bytes", size_bytes},
              {"duration_s", duration_s},
              {"env", env},
              {"debian_packages", debian_packages},
              {"pip_packages", pip_packages},
              {"npm_packages", npm_packages},
              {"current", current},
              {"in_use", pins},
              {"rootfs", rootfs_dir},
              {"log", log_path}};
}

Result<VersionInfo> VersionInfo::FromJson(const json& j) {
  if (!j.is_object()) return MakeError(ErrorCode::kInternal, "meta.json: not an object");
  VersionInfo v;
  try {
    v.name = j.value("name", "");
    v.version = j.value("version", "");
    v.hash = j.value("hash", "");
    v.base_image = j.value("base_image", "");
    v.built_at_ms = j.value("built_at_ms", int64_t{0});
    v.size_bytes = j.value("size_bytes", int64_t{0});
    v.duration_s = j.value("duration_s", 0.0);
    v.env = j.value("env", spec::Env{});
    v.debian_packages = j.value("debian_packages", std::vector<std::string>{});
    v.pip_packages = j.value("pip_packages", std::vector<std::string>{});
    v.npm_packages = j.value("npm_packages", std::vector<std::string>{});
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal, std::string("meta.json: ") + e.what());
  }
  return v;
}

Lease::Lease(Lease&& o) noexcept
    : store_(std::exchange(o.store_, nullptr)), info_(std::move(o.info_)) {}

Lease& Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    reset();
    store_ = std::exchange(o.store_, nullptr);
    info_ = std::move(o.info_);
  }
  return *this;
}

Lease::~Lease() { reset(); }

void Lease::reset() {
  if (store_ != nullptr) std::exchange(store_, nullptr)->Release(info_.name, info_.version);
}

TemplateStore::TemplateStore(std::string root) : root_(std::move(root)) {}

Result<void> TemplateStore::ValidateName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] != '.';
  for (char c : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
  if (!ok)
    return MakeError(ErrorCode::kInvalidArgument,
                     "template name '" + name +
                         "' must be 1-64 letters, digits, '-', '_' or '.', not starting with '.'");
  return Ok();
}

bool TemplateStore::IsVersionName(const std::string& s) {
  return s.size() == 16 + 1 + 8 && s[16] == '-' && IsHex(s.substr(0, 16)) && IsHex(s.substr(17));
}

Result<void> TemplateStore::Init() {
  RETURN_IF_ERROR(runtime::MakeDirs(root_, 0700));
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& name : ListDir(root_)) {
    for (const std::string& e : ListDir(Dir(name))) {
      if (e.rfind(".build-", 0) == 0 || e.rfind(".trash-", 0) == 0 || e.rfind(".current-", 0) == 0) {
        if (auto r = runtime::RemoveTree(Dir(name) + "/" + e); !r.ok())
          log::Warn("templates.leftover_failed", {{"path", Dir(name) + "/" + e},
                                                  {"error", r.error().ToString()}});
        else
          log::Info("templates.leftover_removed", {{"path", Dir(name) + "/" + e}});
      }
    }
  }
  return Ok();
}

Result<std::string> TemplateStore::CurrentVersionLocked(const std::string& name) {
  char buf[256];
  std::string link = Dir(name) + "/current";
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n < 0) {
    if (errno == ENOENT) return std::string();
    return SysError("readlink " + link);
  }
  std::string v(buf, static_cast<size_t>(n));
  if (!IsVersionName(v))
    return MakeError(ErrorCode::kInternal, link + " points at '" + v + "', not a version");
  return v;
}

Result<VersionInfo> TemplateStore::LoadLocked(const std::string& name, const std::string& version) {
  std::string dir = Dir(name) + "/" + version;
  ASSIGN_OR_RETURN(std::string text, ReadFile(dir + "/meta.json"));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return MakeError(ErrorCode::kInternal, dir + "/meta.json: not JSON");
  ASSIGN_OR_RETURN(VersionInfo v, VersionInfo::FromJson(j));
  v.name = name;
  v.version = version;
  v.rootfs_dir = dir + "/rootfs";
  v.log_path = Dir(name) + "/logs/" + version + ".log";
  auto p = pins_.find(Key(name, version));
  v.pins = p == pins_.end() ? 0 : p->second;
  auto cur = CurrentVersionLocked(name);
  v.current = cur.ok() && *cur == version;
  return v;
}

Result<Lease> TemplateStore::Acquire(const std::string& name) {
  RETURN_IF_ERROR(ValidateName(name));
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(std::string version, CurrentVersionLocked(name));
  if (version.empty())
    return MakeError(ErrorCode::kFailedPrecondition, "template '" + name +
                                                         "' is not built; run `sbx template "
                                                         "build " + name + "`");
  ASSIGN_OR_RETURN(VersionInfo v, LoadLocked(name, version));
  ++pins_[Key(name, version)];
  v.pins++;
  return Lease(this, std::move(v));
}

Result<Lease> TemplateStore::AcquireVersion(const std::string& name, const std::string& version) {
  RETURN_IF_ERROR(ValidateName(name));
  if (!IsVersionName(version))
    return MakeError(ErrorCode::kInvalidArgument, "'" + version + "' is not a template version");
  std::lock_guard<std::mutex> lock(mu_);
  auto v = LoadLocked(name, version);
  if (!v.ok())
    return MakeError(ErrorCode::kNotFound,
                     "template '" + name + "' version " + version + " is gone: " +
                         v.error().ToString());
  ++pins_[Key(name, version)];
  v->pins++;
  return Lease(this, std::move(v).value());
}

void TemplateStore::Release(const std::string& name, const std::string& version) {
  bool collect = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pins_.find(Key(name, version));
    if (it == pins_.end()) return;
    if (--it->second <= 0) {
      pins_.erase(it);
      auto cur = CurrentVersionLocked(name);
      collect = cur.ok() && *cur != version;
    }
  }
  if (collect) {
    if (auto r = GarbageCollect(name); !r.ok())
      log::Warn("templates.gc_failed", {{"template", name}, {"error", r.error().ToString()}});
  }
}

Result<std::optional<VersionInfo>> TemplateStore::Current(const std::string& name) {
  RETURN_IF_ERROR(ValidateName(name));
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(std::string version, CurrentVersionLocked(name));
  if (version.empty()) return std::optional<VersionInfo>();
  ASSIGN_OR_RETURN(VersionInfo v, LoadLocked(name, version));
  return std::optional<VersionInfo>(std::move(v));
}

Result<std::vector<VersionInfo>> TemplateStore::Versions(const std::string& name) {
  RETURN_IF_ERROR(ValidateName(name));
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<VersionInfo> out;
  for (const std::string& e : ListDir(Dir(name))) {
    if (!IsVersionName(e)) continue;
    auto v = LoadLocked(name, e);
    if (v.ok()) out.push_back(std::move(v).value());
  }
  std::stable_sort(out.begin(), out.end(), [](const VersionInfo& a, const VersionInfo& b) {
    if (a.current != b.current) return a.current;
    return a.built_at_ms > b.built_at_ms;
  });
  return out;
}

std::vector<std::string> TemplateStore::BuiltNames() {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& name : ListDir(root_)) {
    if (!ValidateName(name).ok()) continue;
    auto cur = CurrentVersionLocked(name);
    if (cur.ok() && !cur->empty()) out.push_back(name);
  }
  return out;
}

std::vector<std::string> TemplateStore::CollectLocked(const std::string& name,
                                                      std::vector<std::string>* gone) {
  std::vector<std::string> trash;
  auto cur = CurrentVersionLocked(name);
  if (!cur.ok()) return trash;  // unreadable `current`: remove nothing
  for (const std::string& e : ListDir(Dir(name))) {
    if (!IsVersionName(e) || e == *cur || pins_.count(Key(name, e))) continue;
    std::string from = Dir(name) + "/" + e;
    std::string to = Dir(name) + "/.trash-" + e;
    if (::rename(from.c_str(), to.c_str()) != 0) {
      log::Warn("templates.gc_rename_failed", {{"path", from}, {"errno", errno}});
      continue;
    }
    trash.push_back(to);
    ::unlink((Dir(name) + "/logs/" + e + ".log").c_str());
    gone->push_back(Key(name, e));
  }
  return trash;
}

Result<std::vector<std::string>> TemplateStore::GarbageCollect(const std::string& name) {
  std::vector<std::string> gone, trash;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> names = name.empty() ? ListDir(root_) : std::vector<std::string>{name};
    for (const std::string& n : names) {
      if (!ValidateName(n).ok()) continue;
      std::vector<std::string> t = CollectLocked(n, &gone);
      trash.insert(trash.end(), t.begin(), t.end());
    }
  }
  for (const std::string& t : trash) {
    if (auto r = runtime::RemoveTree(t); !r.ok()) return r.error();
  }
  for (const std::string& g : gone) log::Info("templates.version_removed", {{"version", g}});
  return gone;
}

Result<void> TemplateStore::Remove(const std::string& name) {
  RETURN_IF_ERROR(ValidateName(name));
  std::vector<std::string> trash;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (building_.count(name))
      return MakeError(ErrorCode::kFailedPrecondition,
                       "template '" + name + "' is being built; remove it when the build ends");
    for (const auto& [key, n] : pins_) {
      if (key.rfind(name + "/", 0) == 0)
        return MakeError(ErrorCode::kFailedPrecondition,
                         "template '" + name + "' is in use by " + std::to_string(n) +
                             " sandbox(es) (version " + key.substr(name.size() + 1) +
                             "); remove them first");
    }
    ASSIGN_OR_RETURN(std::string cur, CurrentVersionLocked(name));
    bool any = !cur.empty();
    std::string link = Dir(name) + "/current";
    if (::unlink(link.c_str()) != 0 && errno != ENOENT) return SysError("unlink " + link);
    for (const std::string& e : ListDir(Dir(name))) {
      if (!IsVersionName(e)) continue;
      any = true;
      std::string to = Dir(name) + "/.trash-" + e;
      if (::rename((Dir(name) + "/" + e).c_str(), to.c_str()) != 0)
        return SysError("rename " + Dir(name) + "/" + e);
      trash.push_back(to);
    }
    if (!any) return MakeError(ErrorCode::kNotFound, "template '" + name + "' is not built");
    trash.push_back(Dir(name) + "/logs");
  }
  for (const std::string& t : trash) RETURN_IF_ERROR(runtime::RemoveTree(t));
  ::rmdir(Dir(name).c_str());  // stays when something else lives there (the host base)
  log::Info("templates.removed", {{"template", name}});
  return Ok();
}

std::unique_lock<std::mutex> TemplateStore::LockBuild(const std::string& name, bool* contended) {
  std::mutex* m = nullptr;
  {
    std::lock_guard<std::mutex> lock(build_mu_map_mu_);
    auto& slot = build_mu_[name];
    if (!slot) slot = std::make_unique<std::mutex>();
    m = slot.get();
  }
  std::unique_lock<std::mutex> l(*m, std::try_to_lock);
  if (contended) *contended = !l.owns_lock();
  if (!l.owns_lock()) l.lock();
  return l;
}

Result<TemplateStore::Staging> TemplateStore::BeginBuild(const std::string& name,
                                                         const std::string& hash) {
  RETURN_IF_ERROR(ValidateName(name));
  if (hash.size() < 16 || !IsHex(hash.substr(0, 16)))
    return MakeError(ErrorCode::kInvalidArgument, "bad definition hash '" + hash + "'");
  RETURN_IF_ERROR(runtime::MakeDirs(root_, 0700));
  RETURN_IF_ERROR(MakeDir(Dir(name), 0755));
  RETURN_IF_ERROR(MakeDir(Dir(name) + "/logs", 0755));
  Staging s;
  s.name = name;
  s.version = hash.substr(0, 16) + "-" + RandomHex(4);
  s.dir = Dir(name) + "/.build-" + s.version;
  s.rootfs_dir = s.dir + "/rootfs";
  s.log_path = Dir(name) + "/logs/" + s.version + ".log";
  if (::mkdir(s.dir.c_str(), 0755) != 0) return SysError("mkdir " + s.dir);
  std::lock_guard<std::mutex> lock(mu_);
  building_.insert(name);
  return s;
}

Result<VersionInfo> TemplateStore::Publish(const Staging& s, VersionInfo info) {
  info.name = s.name;
  info.version = s.version;
  json meta = info.ToJson();
  for (const char* k : {"current", "in_use", "rootfs", "log"}) meta.erase(k);
  RETURN_IF_ERROR(WriteFileAtomic(s.dir + "/meta.json", meta.dump(2) + "\n", 0644));
  std::string final_dir = Dir(s.name) + "/" + s.version;
  std::string tmp_link = Dir(s.name) + "/.current-" + RandomHex(4);
  {
    std::lock_guard<std::mutex> lock(mu_);
    building_.erase(s.name);
    if (::rename(s.dir.c_str(), final_dir.c_str()) != 0)
      return SysError("rename " + s.dir + " to " + final_dir);
    if (::symlink(s.version.c_str(), tmp_link.c_str()) != 0) return SysError("symlink " + tmp_link);
    std::string link = Dir(s.name) + "/current";
    if (::rename(tmp_link.c_str(), link.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp_link.c_str());
      return SysError("rename " + tmp_link + " to " + link, err);
    }
  }
  auto gc = GarbageCollect(s.name);
  if (!gc.ok())
    log::Warn("templates.gc_failed", {{"template", s.name}, {"error", gc.error().ToString()}});
  std::lock_guard<std::mutex> lock(mu_);
  return LoadLocked(s.name, s.version);
}

void TemplateStore::Abandon(const Staging& s) {
  if (auto r = runtime::RemoveTree(s.dir); !r.ok())
    log::Warn("templates.abandon_failed", {{"path", s.dir}, {"error", r.error().ToString()}});
  std::lock_guard<std::mutex> lock(mu_);
  building_.erase(s.name);
}

}  // namespace sbx::templates
