// Templates in the manager: which lower layer a sandbox gets (the host base or the template's
// built root filesystem, pinned while the sandbox exists), the template's `startup` commands,
// and the template operations of the API (list, show, build, remove) over the TemplateStore
// and Builder.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "common/log.h"
#include "common/unique_fd.h"
#include "common/util.h"
#include "sandbox/live.h"
#include "sandbox/manager.h"
#include "templates/base_image.h"

namespace sbx::sandbox {
namespace {

bool IsHost(const spec::Template& t) {
  auto b = templates::ParseBaseImage(t.base_image);
  return b.ok() && b->kind == templates::BaseKind::kHost;
}

// The last `max` bytes of s, marked when cut.
std::string Tail(const std::string& s, size_t max = 2000) {
  if (s.size() <= max) return s;
  return "..." + s.substr(s.size() - max);
}

}  // namespace

Result<void> SandboxManager::ChooseLowerLayer(Live& live, const spec::Template& tpl,
                                              std::string* lower_dir,
                                              std::vector<runtime::BindMount>* binds) {
  if (IsHost(tpl)) {
    *lower_dir = host_base_dir_;
    *binds = host_base_binds_;
    return Ok();
  }
  ASSIGN_OR_RETURN(live.lower, template_store_->Acquire(tpl.key));
  *lower_dir = live.lower.info().rootfs_dir;
  binds->clear();
  return Ok();
}

Result<void> SandboxManager::RecordLowerLayer(const Live& live, const std::string& sandbox_dir) {
  if (!live.lower.valid()) return Ok();
  // No fsync (it would cost a millisecond per create): after a power loss the file may be
  // empty, and the sandbox's old version is then not re-pinned (logged at start).
  const templates::VersionInfo& v = live.lower.info();
  std::string path = sandbox_dir + "/lower";
  std::string data = v.name + "/" + v.version + "\n";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return SysError("open " + path);
  if (::write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size()))
    return SysError("write " + path);
  return Ok();
}

void SandboxManager::RepinLowerLayer(Live& live) {
  auto text = sbx::ReadFile(SandboxDir(live.rec.id) + "/lower");
  if (!text.ok()) return;  // the host base, or a sandbox from before templates were built
  std::string ref = Trim(*text);
  size_t slash = ref.find('/');
  if (slash == std::string::npos) return;
  auto lease = template_store_->AcquireVersion(ref.substr(0, slash), ref.substr(slash + 1));
  if (!lease.ok()) {
    log::Warn("reconcile.lower_gone", {{"sandbox_id", live.rec.id}, {"lower", ref},
                                       {"error", lease.error().ToString()}});
    return;
  }
  live.lower = std::move(lease).value();
}

Result<void> SandboxManager::RunStartup(Live& live, const spec::Template& tpl) {
  if (tpl.startup.empty()) return Ok();
  if (!live.agent) return MakeError(ErrorCode::kInternal, "startup: the agent is not connected");
  for (size_t i = 0; i < tpl.startup.size(); ++i) {
    const std::string& cmd = tpl.startup[i];
    // Admin-authored shell lines from templates.json; as the sandbox's root (which is no one on
    // the host), so they can prepare the file system for the user.
    agentclient::StartOptions opts;
    opts.argv = {"/bin/sh", "-c", cmd};
    opts.envs = live.env;
    opts.user = "root";
    opts.cwd = "/";
    opts.timeout_ms = static_cast<int64_t>(options_.startup_timeout_s * 1000);
    std::string out, err;
    agentclient::RunCallbacks cb;
    cb.on_stdout = [&](std::string_view d) { if (out.size() < (64 << 10)) out.append(d); };
    cb.on_stderr = [&](std::string_view d) { if (err.size() < (64 << 10)) err.append(d); };
    int64_t t0 = MonotonicNs();
    auto end = live.agent->Run(opts, cb);
    double ms = static_cast<double>(MonotonicNs() - t0) / 1e6;
    std::string what = "template '" + tpl.key + "' startup[" + std::to_string(i) + "] `" + cmd + "`";
    if (!end.ok())
      return MakeError(ErrorCode::kFailedPrecondition,
                       what + " did not complete: " + end.error().ToString() +
                           (err.empty() ? "" : "; stderr: " + Tail(err)));
    if (!end->exited || end->exit_code != 0)
      return MakeError(ErrorCode::kFailedPrecondition,
                       what + " failed (" + end->status + "); stdout: " + Tail(out) +
                           "; stderr: " + Tail(err));
    log::Info("sandbox.startup", {{"sandbox_id", live.rec.id}, {"index", static_cast<int64_t>(i)},
                                  {"ms", ms}});
  }
  return Ok();
}

Result<std::vector<TemplateView>> SandboxManager::ListTemplates() {
  std::vector<TemplateView> out;
  const spec::TemplatesConfig& config = templates();
  for (const auto& [name, t] : config.templates) {
    ASSIGN_OR_RETURN(TemplateView v, GetTemplate(name));
    out.push_back(std::move(v));
  }
  return out;
}

Result<TemplateView> SandboxManager::GetTemplate(const std::string& name) {
  const spec::TemplatesConfig& config = templates();
  auto it = config.templates.find(name);
  if (it == config.templates.end())
    return MakeError(ErrorCode::kNotFound, "template '" + name + "' is not defined");
  TemplateView v;
  v.definition = it->second;
  v.host = IsHost(it->second);
  if (v.host) return v;
  ASSIGN_OR_RETURN(v.wanted_hash, builder_->WantedHash(it->second));
  ASSIGN_OR_RETURN(v.current, template_store_->Current(name));
  return v;
}

Result<templates::BuildResult> SandboxManager::BuildTemplate(const std::string& name,
                                                             const templates::ProgressFn& progress,
                                                             bool force) {
  const spec::TemplatesConfig& config = templates();
  auto it = config.templates.find(name);
  if (it == config.templates.end())
    return MakeError(ErrorCode::kNotFound, "template '" + name + "' is not defined");
  if (stopping_) return MakeError(ErrorCode::kUnavailable, "sandboxd is shutting down");
  return builder_->Build(it->second, progress, force);
}

Result<void> SandboxManager::RemoveTemplate(const std::string& name) {
  RETURN_IF_ERROR(templates::TemplateStore::ValidateName(name));
  const spec::TemplatesConfig& config = templates();
  auto it = config.templates.find(name);
  if (it != config.templates.end() && IsHost(it->second))
    return MakeError(ErrorCode::kFailedPrecondition,
                     "template '" + name + "' runs on the host base; there is nothing to remove");
  return template_store_->Remove(name);
}

spec::Limits SandboxManager::LimitsOf(const spec::Template& tpl) const {
  spec::Limits l = tpl.ToLimits();
  if (!options_.disk_quota) l.disk_bytes = l.inodes = 0;
  return l;
}

}  // namespace sbx::sandbox
