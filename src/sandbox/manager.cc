#include "sandbox/manager.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>

#include "common/log.h"
#include "common/scope_exit.h"
#include "common/unique_fd.h"
#include "common/util.h"
#include "sandbox/live.h"

namespace sbx::sandbox {
namespace {

using nlohmann::json;

// Sandbox uid 0 of slot s is host uid id_base + s * 65536, within the daemon's range.
uint32_t HostIdBase(const ManagerOptions& o, int64_t slot) {
  return o.id_base + static_cast<uint32_t>(slot) * runtime::kIdRangeSize;
}

Result<void> MakeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return SysError("mkdir " + path);
  if (::chmod(path.c_str(), mode) != 0) return SysError("chmod " + path);
  return Ok();
}

Result<UniqueFd> ListenUnix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path))
    return MakeError(ErrorCode::kInvalidArgument,
                     "agent socket path " + path + " is too long for a unix socket");
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return SysError("socket(AF_UNIX)");
  addr.sun_family = AF_UNIX;
  std::copy(path.begin(), path.end(), addr.sun_path);
  ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return SysError("bind " + path);
  if (::chmod(path.c_str(), 0600) != 0) return SysError("chmod " + path);
  if (::listen(fd.get(), 256) != 0) return SysError("listen " + path);
  return fd;
}

json LimitsJson(const spec::Limits& l) {
  json j{{"cpus", l.cpus}, {"memory_bytes", l.memory_bytes}, {"pids_max", l.pids_max}};
  if (l.disk_bytes > 0) {
    j["disk_bytes"] = l.disk_bytes;
    j["inodes"] = l.inodes;
  }
  return j;
}

}  // namespace

json SandboxView::ToJson() const {
  const store::SandboxRecord& r = record;
  json j{{"success", true},
         {"sandbox_id", r.id},
         {"template", r.template_name},
         {"state", r.state},
         {"created_at", ToRfc3339(r.created_at_ms)},
         {"created_at_ms", r.created_at_ms},
         {"timeout", r.timeout_s}};
  if (r.expires_at_ms) j["expires_at"] = ToRfc3339(r.expires_at_ms);
  j["env"] = json::parse(r.env_json, nullptr, false);
  j["metadata"] = json::parse(r.metadata_json, nullptr, false);
  j["limits"] = json::parse(r.limits_json, nullptr, false);
  if (!r.reason.empty()) j["reason"] = r.reason;
  j["on_timeout"] = r.on_timeout;
  j["auto_resume"] = r.auto_resume;
  j["public_traffic"] = r.public_traffic;
  if (r.paused_at_ms) j["paused_at"] = ToRfc3339(r.paused_at_ms);
  if (r.state == kStateRunning) {
    j["uptime_seconds"] = static_cast<double>(NowUnixMs() - r.created_at_ms) / 1000.0;
  }
  return j;
}

SandboxManager::SandboxManager(ManagerOptions options, store::Store* store,
                               std::unique_ptr<runtime::CgroupDriver> cgroups)
    : options_(std::move(options)),
      store_(store),
      cgroups_(std::move(cgroups)),
      template_store_(std::make_unique<templates::TemplateStore>(options_.state_dir + "/templates")),
      builder_(std::make_unique<templates::Builder>(template_store_.get(), options_.build)) {
  template_configs_.push_back(std::move(options_.templates));
  templates_.store(&template_configs_.back());
}

Result<void> SandboxManager::ReloadTemplates(spec::TemplatesConfig config) {
  if (!config.templates.count(options_.default_template))
    return MakeError(ErrorCode::kInvalidArgument,
                     "default template '" + options_.default_template + "' is not defined");
  std::lock_guard<std::mutex> lock(templates_mu_);
  template_configs_.push_back(std::move(config));
  templates_.store(&template_configs_.back());
  log::Info("templates.reloaded",
            {{"templates", static_cast<int64_t>(template_configs_.back().templates.size())}});
  return Ok();
}

SandboxManager::~SandboxManager() { Shutdown(); }

std::string SandboxManager::SandboxDir(const std::string& id) const {
  return options_.state_dir + "/sandboxes/" + id;
}

std::string SandboxManager::SocketPath(int64_t slot) const {
  return options_.state_dir + "/a/" + std::to_string(slot) + ".sock";
}

Result<void> SandboxManager::Start() {
  if (::access(options_.agent_path.c_str(), X_OK) != 0)
    return SysError("agent binary " + options_.agent_path + " is not executable");
  RETURN_IF_ERROR(MakeDir(options_.state_dir, 0700));
  RETURN_IF_ERROR(MakeDir(options_.state_dir + "/sandboxes", 0700));
  RETURN_IF_ERROR(runtime::MakePrivateMountPoint(options_.state_dir + "/sandboxes"));
  RETURN_IF_ERROR(MakeDir(options_.state_dir + "/a", 0700));
  RETURN_IF_ERROR(MakeDir(options_.state_dir + "/templates", 0700));
  RETURN_IF_ERROR(MakeDir(options_.state_dir + "/templates/host", 0755));
  std::string probe = SocketPath(options_.id_slots);
  if (probe.size() >= sizeof(sockaddr_un{}.sun_path))
    return MakeError(ErrorCode::kInvalidArgument,
                     "state directory " + options_.state_dir +
                         " is too long: agent sockets under it would exceed 107 characters");
  host_base_dir_ = options_.state_dir + "/templates/host/rootfs";
  ASSIGN_OR_RETURN(host_base_binds_, runtime::EnsureHostBaseRootfs(host_base_dir_));
  RETURN_IF_ERROR(template_store_->Init());
  if (!templates().templates.count(options_.default_template))
    return MakeError(ErrorCode::kInvalidArgument,
                     "default template '" + options_.default_template + "' is not defined");
  RETURN_IF_ERROR(agent_logs_.Start());
  if (options_.disk_quota) {
    spec::Limits l = LimitsOf(templates().templates.at(options_.default_template));
    RETURN_IF_ERROR(runtime::CheckDiskSupport(DiskBlankDir(), {l.disk_bytes, l.inodes}));
  }
  ReconcileAtStart();
  // Versions that no kept sandbox uses any more (their sandboxes went while we were down).
  if (auto gc = template_store_->GarbageCollect(); !gc.ok())
    log::Warn("templates.gc_failed", {{"error", gc.error().ToString()}});
  supervisor_ = std::thread([this] { Supervise(); });
  log::Info("manager.started", {{"state_dir", options_.state_dir},
                                {"cgroups", cgroups_->Name()},
                                {"templates", static_cast<int64_t>(templates().templates.size())}});
  return Ok();
}

void SandboxManager::ReconcileAtStart() {
  if (auto n = store_->MarkInterruptedExecutions(
          "sandboxd stopped while this execution ran; its output after that was lost");
      n.ok() && *n > 0)
    log::Warn("reconcile.executions_interrupted", {{"count", static_cast<int64_t>(*n)}});
  auto rows = store_->ListSandboxes();
  if (!rows.ok()) {
    log::Error("reconcile.list_failed", {{"error", rows.error().ToString()}});
    return;
  }
  std::set<std::string> known;
  for (store::SandboxRecord& r : *rows) {
    known.insert(r.id);
    if (r.state == kStateRunning || r.state == kStatePaused) {
      // The init of a sandbox outlives a crashed or killed daemon: take it back if it is the
      // same process and (running) its agent answers; the sandbox then keeps running as it
      // was. A paused one's agent is frozen: it is adopted without a probe and stays paused.
      bool paused = r.state == kStatePaused;
      auto live = std::make_shared<Live>();
      live->rec = r;
      if (auto re = Reattach(*live); re.ok()) {
        RepinLowerLayer(*live);
        log::Info(paused ? "reconcile.adopted_paused" : "reconcile.reattached",
                  {{"sandbox_id", r.id}, {"pid", r.init_pid}});
        std::lock_guard<std::mutex> lock(mu_);
        used_slots_.insert(r.id_slot);
        sandboxes_[r.id] = live;
        continue;
      } else {
        log::Warn("reconcile.reattach_failed",
                  {{"sandbox_id", r.id}, {"state", r.state}, {"error", re.error().ToString()}});
      }
    }
    if (r.state == kStateRunning || r.state == kStateCreating || r.state == kStatePaused) {
      // Not re-attachable (its init is gone, or it never finished starting): end what is left
      // of it and keep the files.
      if (auto k = cgroups_->KillAll(r.id); !k.ok())
        log::Warn("reconcile.kill_failed", {{"sandbox_id", r.id}, {"error", k.error().ToString()}});
      (void)cgroups_->Thaw(r.id);  // a paused one's cgroup is frozen
      (void)cgroups_->Destroy(r.id);
      (void)runtime::ReleaseRootfs(SandboxDir(r.id));
      ::unlink(SocketPath(r.id_slot).c_str());
      r.reason = r.state == kStatePaused ? "daemon restarted and the paused sandbox's init was gone"
                                         : "daemon restarted while the sandbox was running";
      r.state = kStateStopped;
      r.paused_at_ms = 0;
      r.init_pid = 0;
      r.init_start_time = 0;
      (void)store_->UpdateSandbox(r);
      log::Info("reconcile.stopped", {{"sandbox_id", r.id}, {"reason", r.reason}});
    }
    auto live = std::make_shared<Live>();
    live->rec = r;
    RepinLowerLayer(*live);
    std::lock_guard<std::mutex> lock(mu_);
    used_slots_.insert(r.id_slot);
    sandboxes_[r.id] = live;
  }
  // Leftovers that the database does not know: cgroups and directories.
  if (auto ids = cgroups_->List(); ids.ok()) {
    for (const std::string& id : *ids) {
      bool running = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = sandboxes_.find(id);
        running = it != sandboxes_.end() && (it->second->rec.state == kStateRunning ||
                                             it->second->rec.state == kStatePaused);
      }
      if (running) continue;
      (void)cgroups_->KillAll(id);
      (void)cgroups_->Thaw(id);
      (void)cgroups_->Destroy(id);
      log::Info("reconcile.cgroup_removed", {{"sandbox_id", id}});
    }
  }
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(options_.state_dir + "/sandboxes", ec)) {
    std::string id = entry.path().filename().string();
    if (known.count(id)) continue;
    if (auto r = runtime::RemoveSandboxDir(entry.path().string()); !r.ok())
      log::Warn("reconcile.dir_failed", {{"sandbox_id", id}, {"error", r.error().ToString()}});
    else
      log::Info("reconcile.dir_removed", {{"sandbox_id", id}});
  }
}

void SandboxManager::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(supervisor_mu_);
    if (stopping_.exchange(true)) return;
  }
  supervisor_cv_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, live] : sandboxes_) ids.push_back(id);
  }
  for (const std::string& id : ids) {
    if (auto r = Remove(id, "shutdown"); !r.ok())
      log::Error("shutdown.remove_failed", {{"sandbox_id", id}, {"error", r.error().ToString()}});
  }
  // Removing the sandboxes ended their executions (the agents are gone): their threads only
  // record the outcome now.
  executions_.JoinAll();
  agent_logs_.Stop();
  if (auto r = cgroups_->RemoveInstance(); !r.ok())
    log::Warn("shutdown.cgroup_instance_left", {{"error", r.error().ToString()}});
  if (auto r = runtime::RemovePrivateMountPoint(options_.state_dir + "/sandboxes"); !r.ok())
    log::Warn("shutdown.unmount_failed", {{"error", r.error().ToString()}});
  log::Info("manager.stopped", {{"removed", static_cast<int64_t>(ids.size())}});
}

Result<std::shared_ptr<SandboxManager::Live>> SandboxManager::Find(const std::string& id) {
  RETURN_IF_ERROR(spec::ValidateSandboxId(id));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end())
    return MakeError(ErrorCode::kNotFound, "sandbox '" + id + "' does not exist");
  return it->second;
}

Result<std::shared_ptr<SandboxManager::Live>> SandboxManager::FindRunning(const std::string& id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Live> live, Find(id));
  std::lock_guard<std::mutex> lock(live->mu);
  RETURN_IF_ERROR(CheckRunningLocked(*live));
  return live;
}

Result<void> SandboxManager::CheckRunningLocked(const Live& live) {
  if (live.rec.state == kStateRunning) return Ok();
  if (live.rec.state == kStatePaused) return PausedError(live.rec.id);
  return MakeError(ErrorCode::kFailedPrecondition,
                   "sandbox '" + live.rec.id + "' is " + live.rec.state + ", not running" +
                       (live.rec.reason.empty() ? "" : " (" + live.rec.reason + ")"));
}

Result<SandboxView> SandboxManager::Create(const spec::SandboxSpec& spec,
                                           const std::string& request_id,
                                           const std::string& tenant) {
  int64_t started_ns = MonotonicNs();
  auto result = CreateUnobserved(spec, request_id, tenant);
  if (options_.on_create) {
    std::string tpl = result.ok() ? result->record.template_name
                                  : (spec.template_name.empty() ? options_.default_template
                                                                : spec.template_name);
    options_.on_create(tpl, result.ok() ? "ok" : ErrorCodeName(result.error().code),
                       static_cast<double>(MonotonicNs() - started_ns) / 1e9);
  }
  if (options_.on_event && result.ok())
    options_.on_event("sandbox_created", result->record.id, tenant,
                      {{"source", "sandbox"}, {"template", result->record.template_name}});
  return result;
}

Result<SandboxView> SandboxManager::CreateUnobserved(const spec::SandboxSpec& spec_in,
                                                     const std::string& request_id,
                                                     const std::string& tenant) {
  spec::SandboxSpec spec = spec_in;
  if (spec.template_name.empty()) spec.template_name = options_.default_template;
  const spec::TemplatesConfig& config = templates();  // one snapshot for the whole create
  const spec::Template* found = spec::FindTemplate(config, spec.template_name);  // or an alias
  if (found == nullptr) {
    std::string names;
    for (const auto& [k, t] : config.templates) names += (names.empty() ? "" : ", ") + k;
    return MakeError(ErrorCode::kNotFound, "template '" + spec.template_name +
                                               "' does not exist (available: " + names + ")");
  }
  const spec::Template& tpl = *found;
  spec.template_name = tpl.key;  // the record names the template, never the alias
  if (spec.id.empty()) spec.id = "sbx_" + RandomHex(8);
  RETURN_IF_ERROR(spec::ValidateSandboxId(spec.id));
  RETURN_IF_ERROR(spec::ValidateEnv(spec.env, "env"));

  auto live = std::make_shared<Live>();
  std::unique_lock<std::mutex> live_lock(live->mu);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return MakeError(ErrorCode::kUnavailable, "sandboxd is shutting down");
    if (sandboxes_.count(spec.id))
      return MakeError(ErrorCode::kAlreadyExists, "sandbox '" + spec.id + "' already exists");
    int64_t slot = 0;
    while (used_slots_.count(slot)) ++slot;
    if (slot >= options_.id_slots)
      return MakeError(ErrorCode::kResourceExhausted,
                       "no free sandbox slot: this daemon's host id range holds " +
                           std::to_string(options_.id_slots) + " sandboxes (--id-slots)");
    used_slots_.insert(slot);
    live->rec.id_slot = slot;
    sandboxes_[spec.id] = live;
  }
  auto forget = ScopeExit([&] {
    std::lock_guard<std::mutex> lock(mu_);
    used_slots_.erase(live->rec.id_slot);
    sandboxes_.erase(spec.id);
  });

  int64_t now = NowUnixMs();
  store::SandboxRecord& r = live->rec;
  r.id = spec.id;
  r.template_name = tpl.key;
  r.state = kStateCreating;
  r.created_at_ms = now;
  r.updated_at_ms = now;
  r.timeout_s = spec.timeout_s > 0 ? spec.timeout_s : tpl.timeout_s;
  r.expires_at_ms = now + r.timeout_s * 1000;
  r.env_json = json(spec.env).dump();
  r.metadata_json = spec.metadata.dump();
  r.limits_json = LimitsJson(LimitsOf(tpl)).dump();
  r.tenant = tenant;
  r.on_timeout = spec::OnTimeoutName(spec.on_timeout);
  r.auto_resume = spec.auto_resume;
  r.public_traffic = spec.public_traffic;
  RETURN_IF_ERROR(store_->InsertSandbox(r));
  auto unrecord = ScopeExit([&] { (void)store_->DeleteSandbox(r.id); });

  int64_t t0 = MonotonicNs();
  auto launched = Launch(*live, tpl, spec);
  if (!launched.ok()) {
    TearDownLocked(*live);
    (void)runtime::RemoveSandboxDir(SandboxDir(r.id));
    log::Error("sandbox.create_failed", {{"sandbox_id", r.id}, {"request_id", request_id},
                                         {"error", launched.error().ToString()}});
    return std::move(launched).error();
  }
  if (auto started = RunStartup(*live, tpl); !started.ok()) {
    TearDownLocked(*live);
    (void)runtime::RemoveSandboxDir(SandboxDir(r.id));
    log::Error("sandbox.startup_failed", {{"sandbox_id", r.id}, {"request_id", request_id},
                                          {"error", started.error().ToString()}});
    return std::move(started).error();
  }
  r.state = kStateRunning;
  RETURN_IF_ERROR(store_->UpdateSandbox(r));
  unrecord.Dismiss();
  forget.Dismiss();
  double ms = static_cast<double>(MonotonicNs() - t0) / 1e6;
  log::Info("sandbox.created", {{"sandbox_id", r.id}, {"request_id", request_id},
                                {"template", r.template_name}, {"pid", r.init_pid},
                                {"ms", ms}});
  return SandboxView{r};
}

Result<void> SandboxManager::Launch(Live& live, const spec::Template& tpl,
                                    const spec::SandboxSpec& spec) {
  store::SandboxRecord& r = live.rec;
  std::string dir = SandboxDir(r.id);
  uint32_t id_base = HostIdBase(options_, r.id_slot);
  spec::Limits limits = LimitsOf(tpl);
  runtime::RootfsConfig rootfs{dir, "", {}, id_base, {limits.disk_bytes, limits.inodes},
                               DiskBlankDir()};
  RETURN_IF_ERROR(ChooseLowerLayer(live, tpl, &rootfs.lower_dir, &rootfs.binds));
  RETURN_IF_ERROR(runtime::PrepareRootfs(rootfs));
  RETURN_IF_ERROR(RecordLowerLayer(live, dir));
  RETURN_IF_ERROR(cgroups_->Create(r.id, limits, {id_base, id_base}));
  // The delegated S/user directories, for the agent to nest its executions' cgroups in.
  std::vector<UniqueFd> user_cgroups;
  for (const std::string& d : cgroups_->UserDirs(r.id)) {
    UniqueFd fd(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return SysError("open cgroup directory " + d);
    user_cgroups.push_back(std::move(fd));
  }
  ASSIGN_OR_RETURN(UniqueFd listen_fd, ListenUnix(SocketPath(r.id_slot)));
  // The agent's stdout and stderr: a pipe to agent_logs_, never a host file it could reach.
  ASSIGN_OR_RETURN(auto log_pipe, AgentLogs::MakePipe());

  // The image's and the build's environment (ENV, NODE_PATH), then the template's, then the
  // request's: later ones win.
  live.env = live.lower.valid() ? live.lower.info().env : spec::Env{};
  for (const auto& [k, v] : tpl.environment) live.env[k] = v;
  for (const auto& [k, v] : spec.env) live.env[k] = v;
  runtime::LaunchConfig lc;
  lc.id = r.id;
  lc.root_dir = dir + "/root";
  lc.host_id_base = id_base;
  lc.limits = limits;
  lc.agent_path = options_.agent_path;
  lc.agent_args = {"--listen-fd", "3", "--default-user", "user"};
  for (const UniqueFd& fd : user_cgroups) {
    lc.agent_args.push_back("--cgroup-fd");
    lc.agent_args.push_back(
        std::to_string(runtime::kFirstAgentCgroupFd + static_cast<int>(lc.agent_cgroup_fds.size())));
    lc.agent_cgroup_fds.push_back(fd.get());
  }
  for (const auto& [k, v] : live.env) {
    lc.agent_args.push_back("--env");
    lc.agent_args.push_back(k + "=" + v);
  }
  lc.agent_env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                  "SBX_SANDBOX_ID=" + r.id};
  lc.agent_listen_fd = listen_fd.get();
  lc.log_fd = log_pipe.second.get();
  lc.network = false;
  lc.cgroup_procs_files = cgroups_->ProcsFiles(r.id);
  runtime::LaunchTimings timings;
  ASSIGN_OR_RETURN(live.container, runtime::Launch(lc, &timings));
  agent_logs_.Watch(r.id, std::move(log_pipe.first));
  r.init_pid = live.container->pid();
  RETURN_IF_ERROR(cgroups_->AfterLaunch(r.id, limits, static_cast<pid_t>(r.init_pid)));
  if (auto started = runtime::ProcessStartTime(r.init_pid); started.ok())
    r.init_start_time = *started;
  live.agent = std::make_shared<agentclient::AgentClient>(SocketPath(r.id_slot));
  return Ok();
}

Result<void> SandboxManager::Reattach(Live& live) {
  const store::SandboxRecord& r = live.rec;
  bool paused = r.state == kStatePaused;
  if (r.init_pid <= 0 || r.init_start_time == 0)
    return MakeError(ErrorCode::kNotFound, "no init was recorded for sandbox '" + r.id + "'");
  ASSIGN_OR_RETURN(live.container, runtime::AdoptContainer(static_cast<pid_t>(r.init_pid),
                                                           r.init_start_time));
  auto agent = std::make_shared<agentclient::AgentClient>(SocketPath(r.id_slot), 5000);
  // A paused sandbox's agent is frozen and cannot answer: it stays frozen (the freezer state
  // outlives the daemon; freezing again makes sure), and the first call after Resume finds
  // out whether the agent is well.
  Result<void> check = paused ? cgroups_->Freeze(r.id, kFreezeTimeoutMs) : agent->Health();
  if (!check.ok()) {
    live.container.reset();
    return MakeError(ErrorCode::kUnavailable,
                     std::string(paused ? "it could not be kept frozen: "
                                        : "its agent does not answer: ") +
                         check.error().ToString());
  }
  live.agent = std::move(agent);
  agent_logs_.WatchAdopted(r.id, live.container->pidfd());
  return Ok();
}

void SandboxManager::TearDownLocked(Live& live) {
  const std::string& id = live.rec.id;
  if (live.rec.state == kStatePaused) {
    // Frozen tasks take a SIGKILL only once thawed (v1): kill every task while frozen, so none
    // runs user code again, then thaw so the kills land and the init can be reaped.
    if (auto k = cgroups_->KillAll(id); !k.ok())
      log::Warn("sandbox.killall_failed", {{"sandbox_id", id}, {"error", k.error().ToString()}});
    if (auto t = cgroups_->Thaw(id); !t.ok())
      log::Warn("sandbox.thaw_failed", {{"sandbox_id", id}, {"error", t.error().ToString()}});
  }
  // SIGKILL to the init: the kernel kills every process of its pid namespace, and the init is
  // reapable only once they are all gone. KillAll is the backstop for anything left in the
  // cgroup (and the whole job when the init is not ours, after a daemon restart).
  if (live.container) {
    (void)live.container->Kill();
    int status = 0;
    (void)live.container->Reap(true, &status);
    live.container.reset();
  }
  agent_logs_.Forget(id);  // the agent's last lines
  if (auto k = cgroups_->KillAll(id); !k.ok())
    log::Warn("sandbox.killall_failed", {{"sandbox_id", id}, {"error", k.error().ToString()}});
  if (auto d = cgroups_->Destroy(id); !d.ok())
    log::Warn("sandbox.cgroup_destroy_failed",
              {{"sandbox_id", id}, {"error", d.error().ToString()}});
  if (auto m = runtime::ReleaseRootfs(SandboxDir(id)); !m.ok())
    log::Warn("sandbox.release_failed", {{"sandbox_id", id}, {"error", m.error().ToString()}});
  ::unlink(SocketPath(live.rec.id_slot).c_str());
  live.agent.reset();
  live.rec.init_pid = 0;
}

Result<SandboxView> SandboxManager::Get(const std::string& id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Live> live, Find(id));
  std::lock_guard<std::mutex> lock(live->mu);
  return SandboxView{live->rec};
}

Result<std::vector<SandboxView>> SandboxManager::List() {
  std::vector<std::shared_ptr<Live>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, live] : sandboxes_) all.push_back(live);
  }
  std::vector<SandboxView> out;
  for (const auto& live : all) {
    std::lock_guard<std::mutex> lock(live->mu);
    if (live->rec.state == kStateCreating) continue;
    out.push_back(SandboxView{live->rec});
  }
  return out;
}

size_t SandboxManager::RunningCount() {
  auto all = List();
  if (!all.ok()) return 0;
  return static_cast<size_t>(std::count_if(all->begin(), all->end(), [](const SandboxView& v) {
    return v.record.state == kStateRunning;
  }));
}

Result<SandboxView> SandboxManager::Stop(const std::string& id, const std::string& reason,
                                         const std::string& request_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Live> live, Find(id));
  std::lock_guard<std::mutex> lock(live->mu);
  if (live->rec.state == kStateStopped || live->rec.state == kStateError)
    return SandboxView{live->rec};
  RETURN_IF_ERROR(StopLocked(*live, reason, request_id));
  return SandboxView{live->rec};
}

Result<void> SandboxManager::StopLocked(Live& live, const std::string& reason,
                                        const std::string& request_id) {
  TearDownLocked(live);
  live.rec.state = kStateStopped;
  live.rec.paused_at_ms = 0;
  live.rec.reason = reason;
  RETURN_IF_ERROR(store_->UpdateSandbox(live.rec));
  log::Info("sandbox.stopped",
            {{"sandbox_id", live.rec.id}, {"request_id", request_id}, {"reason", reason}});
  return Ok();
}

Result<SandboxView> SandboxManager::SetTimeout(const std::string& id, int64_t seconds,
                                               const std::string& request_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Live> live, Find(id));
  std::lock_guard<std::mutex> lock(live->mu);
  // The supervisor checks expiry under this lock too, so a sandbox is either extended or
  // expired, never stopped after its extension was answered.
  RETURN_IF_ERROR(CheckRunningLocked(*live));
  store::SandboxRecord updated = live->rec;
  updated.timeout_s = seconds;
  updated.expires_at_ms = NowUnixMs() + seconds * 1000;
  RETURN_IF_ERROR(store_->UpdateSandbox(updated));
  live->rec = updated;
  log::Info("sandbox.timeout_set", {{"sandbox_id", id},
                                    {"request_id", request_id},
                                    {"timeout_s", seconds},
                                    {"expires_at", ToRfc3339(updated.expires_at_ms)}});
  return SandboxView{live->rec};
}

Result<void> SandboxManager::Remove(const std::string& id, const std::string& request_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Live> live, Find(id));
  std::string tenant;
  {
    std::lock_guard<std::mutex> lock(live->mu);
    tenant = live->rec.tenant;
    TearDownLocked(*live);
    RETURN_IF_ERROR(runtime::RemoveSandboxDir(SandboxDir(id)));
    RETURN_IF_ERROR(store_->DeleteSandbox(id));
    live->rec.state = "removed";
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    used_slots_.erase(live->rec.id_slot);
    sandboxes_.erase(id);
  }
  log::Info("sandbox.removed", {{"sandbox_id", id}, {"request_id", request_id}});
  if (options_.on_removed) options_.on_removed(id);
  if (options_.on_event) options_.on_event("on_cleanup", id, tenant, {{"source", "sandbox"}});
  return Ok();
}

void SandboxManager::Supervise() {
  std::unique_lock<std::mutex> lock(supervisor_mu_);
  while (!stopping_) {
    supervisor_cv_.wait_for(lock, std::chrono::milliseconds(options_.supervise_interval_ms));
    if (stopping_) break;
    lock.unlock();
    std::vector<std::shared_ptr<Live>> all;
    {
      std::lock_guard<std::mutex> g(mu_);
      for (const auto& [id, live] : sandboxes_) all.push_back(live);
    }
    int64_t now = NowUnixMs();
    for (const auto& live : all) {
      std::string expire_id, expire_tenant;
      bool paused = false;
      {
        std::unique_lock<std::mutex> g(live->mu, std::try_to_lock);
        if (!g.owns_lock() || live->rec.state != kStateRunning || !live->container) continue;
        int status = 0;
        auto reaped = live->container->Reap(false, &status);
        if (reaped.ok() && *reaped) {
          live->container.reset();
          TearDownLocked(*live);
          live->rec.state = kStateError;
          live->rec.reason = "the sandbox's init (sbx-agent) exited unexpectedly, wait status " +
                             std::to_string(status);
          (void)store_->UpdateSandbox(live->rec);
          log::Error("sandbox.init_exited", {{"sandbox_id", live->rec.id}, {"status", status}});
          continue;
        }
        if (live->rec.expires_at_ms && now >= live->rec.expires_at_ms) {
          // Paused or stopped under the lock the expiry was checked under: a SetTimeout that
          // got the lock first has moved expires_at, and one that comes later finds it so.
          if (live->rec.on_timeout == "pause") {
            auto p = PauseLocked(*live, "supervisor");
            paused = p.ok();
            if (!p.ok())
              log::Error("sandbox.expire_pause_failed",
                         {{"sandbox_id", live->rec.id}, {"error", p.error().ToString()}});
          }
          if (paused) {
            // Nothing to stop.
          } else if (auto u = StopLocked(*live, "timeout: the sandbox lifetime expired",
                                         "supervisor");
                     !u.ok())
            log::Error("sandbox.expire_failed",
                       {{"sandbox_id", live->rec.id}, {"error", u.error().ToString()}});
          expire_id = live->rec.id;
          expire_tenant = live->rec.tenant;
        }
      }
      if (!expire_id.empty() && options_.on_event)
        options_.on_event(paused ? "sandbox_paused" : "on_timeout", expire_id, expire_tenant,
                          {{"source", "sandbox"}, {"reason", "lifetime expired"}});
    }
    lock.lock();
  }
}

}  // namespace sbx::sandbox
