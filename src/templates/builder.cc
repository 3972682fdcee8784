// Builder::Build: cache check, staging, the base step, packages, finalize, publish. Also the
// BuildContext and BuildLog every step shares.
#include "templates/builder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/scope_exit.h"
#include "common/util.h"
#include "runtime/fs_util.h"
#include "templates/base_image.h"
#include "templates/hash.h"
#include "templates/steps.h"

namespace sbx::templates {

nlohmann::json Progress::ToJson() const {
  nlohmann::json j{{"step", step}};
  if (!message.empty()) j["message"] = message;
  if (done >= 0) j["bytes_done"] = done;
  if (total >= 0) j["bytes_total"] = total;
  return j;
}

nlohmann::json BuildResult::ToJson() const {
  nlohmann::json j = info.ToJson();
  j["cached"] = cached;
  if (host) j["host"] = true;
  return j;
}

Result<BuildLog> BuildLog::Open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fd) return SysError("open build log " + path);
  return BuildLog(std::move(fd));
}

void BuildLog::Line(std::string_view text) {
  if (!fd_) return;
  std::string line = NowRfc3339() + " " + std::string(text) + "\n";
  (void)!::write(fd_.get(), line.data(), line.size());
}

void BuildContext::Step(const std::string& step, const std::string& message) {
  if (log) log->Line("[" + step + "] " + message);
  if (progress) progress(Progress{step, message});
}

void BuildContext::Output(const std::string& step, std::string_view line) {
  if (log) log->Line("[" + step + "] " + std::string(line));
  if (progress) progress(Progress{step, std::string(line)});
}

void BuildContext::Bytes(const std::string& step, int64_t done, int64_t total) {
  if (progress) progress(Progress{step, "", done, total});
}

Result<CommandResult> BuildContext::Run(const std::string& step,
                                        const std::vector<std::string>& argv,
                                        const std::vector<std::string>& env) {
  std::string cmd;
  for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  if (log) log->Line("[" + step + "] $ " + cmd);
  auto r = RunCommand(argv, env, [&](std::string_view line) { Output(step, line); });
  if (r.ok() && log) log->Line("[" + step + "] " + r->Describe());
  return r;
}

namespace {

// What identifies the content of a file-based base: size and mtime (a new archive rebuilds).
std::string SourceFingerprint(const BaseImage& base) {
  if (base.kind != BaseKind::kOciArchive && base.kind != BaseKind::kDockerArchive &&
      base.kind != BaseKind::kRootfs)
    return "";
  struct stat st;
  if (::stat(base.arg.c_str(), &st) != 0) return "missing";
  return std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

Result<void> RunSteps(BuildContext& ctx, const BaseImage& base) {
  const spec::Template& t = *ctx.tpl;
  std::vector<std::string> pip;
  if (base.kind == BaseKind::kDebian) {
    ASSIGN_OR_RETURN(pip, BuildDebianBase(ctx, base.arg));
  } else {
    if (!t.packages.empty())
      return MakeError(ErrorCode::kInvalidArgument,
                       "templates." + t.key + ".packages: Debian packages need a debian:<suite> "
                       "baseImage; install them into the image " + t.base_image + " instead");
    switch (base.kind) {
      case BaseKind::kOciArchive: RETURN_IF_ERROR(ImportOciArchive(ctx, base.arg)); break;
      case BaseKind::kDockerArchive: RETURN_IF_ERROR(ImportDockerArchive(ctx, base.arg)); break;
      case BaseKind::kRootfs: RETURN_IF_ERROR(ImportRootfs(ctx, base.arg)); break;
      case BaseKind::kRegistry: RETURN_IF_ERROR(PullRegistryImage(ctx, base.arg)); break;
      default: return MakeError(ErrorCode::kInternal, "unexpected base kind");
    }
    pip = t.python_packages;
  }
  RETURN_IF_ERROR(PipInstall(ctx, pip));
  RETURN_IF_ERROR(NpmInstall(ctx, t.npm_packages));
  return FinalizeRootfs(ctx);
}

}  // namespace

Builder::Builder(TemplateStore* store, BuildOptions options)
    : store_(store), options_(std::move(options)) {}

Result<std::string> Builder::WantedHash(const spec::Template& t) const {
  ASSIGN_OR_RETURN(BaseImage base, ParseBaseImage(t.base_image));
  if (base.kind == BaseKind::kHost) return std::string();
  return DefinitionHash(t, SourceFingerprint(base));
}

Result<BuildResult> Builder::Build(const spec::Template& t, const ProgressFn& progress,
                                   bool force) {
  RETURN_IF_ERROR(TemplateStore::ValidateName(t.key));
  auto parsed = ParseBaseImage(t.base_image);
  if (!parsed.ok())
    return MakeError(ErrorCode::kInvalidArgument,
                     "templates." + t.key + ".baseImage: " + parsed.error().message);
  BaseImage base = *parsed;
  if (base.kind == BaseKind::kHost) {
    BuildResult r;
    r.cached = true;
    r.host = true;
    r.info.name = t.key;
    r.info.version = "host";
    r.info.base_image = "host";
    if (progress) progress(Progress{"done", "template '" + t.key + "' runs on the host base; "
                                                "nothing to build"});
    return r;
  }
  std::string hash = DefinitionHash(t, SourceFingerprint(base));
  bool contended = false;
  if (progress) progress(Progress{"start", "template '" + t.key + "' definition " + ShortHash(hash)});
  auto build_lock = store_->LockBuild(t.key, &contended);
  if (contended && progress)
    progress(Progress{"wait", "waited for another build of '" + t.key + "' to finish"});
  ASSIGN_OR_RETURN(std::optional<VersionInfo> cur, store_->Current(t.key));
  if (!force && cur && cur->hash == hash) {
    if (progress) progress(Progress{"done", "up to date: version " + cur->version});
    BuildResult r;
    r.cached = true;
    r.info = *cur;
    return r;
  }

  int64_t t0 = MonotonicNs();
  ASSIGN_OR_RETURN(TemplateStore::Staging staging, store_->BeginBuild(t.key, hash));
  bool published = false;
  ScopeExit abandon([&] {
    if (!published) store_->Abandon(staging);
  });
  ASSIGN_OR_RETURN(BuildLog blog, BuildLog::Open(staging.log_path));
  BuildContext ctx;
  ctx.tpl = &t;
  ctx.options = &options_;
  ctx.rootfs_dir = staging.rootfs_dir;
  ctx.work_dir = staging.dir + "/work";
  ctx.log = &blog;
  ctx.progress = progress;
  if (::mkdir(ctx.work_dir.c_str(), 0700) != 0) return SysError("mkdir " + ctx.work_dir);
  blog.Line("build of template '" + t.key + "' (" + t.base_image + "), version " +
            staging.version + ", hash " + hash);
  log::Info("templates.build_started",
            {{"template", t.key}, {"version", staging.version}, {"base", t.base_image}});

  auto steps = RunSteps(ctx, base);
  if (!steps.ok()) {
    Error err = std::move(steps).error();
    blog.Line("FAILED: " + err.ToString());
    log::Error("templates.build_failed", {{"template", t.key}, {"version", staging.version},
                                          {"error", err.ToString()}});
    err.message = "building template '" + t.key + "' failed: " + err.message +
                  " (build log: " + staging.log_path + ")";
    if (progress) progress(Progress{"failed", err.message});
    return err;
  }
  // The scratch space (apt lists, npm cache, unpacked image) is not part of the version.
  RETURN_IF_ERROR(runtime::RemoveTree(ctx.work_dir));
  ctx.Step("measure", "measuring the root filesystem");
  ASSIGN_OR_RETURN(int64_t size, TreeSize(staging.rootfs_dir));

  VersionInfo info;
  info.hash = hash;
  info.base_image = t.base_image;
  info.built_at_ms = NowUnixMs();
  info.size_bytes = size;
  info.duration_s = static_cast<double>(MonotonicNs() - t0) / 1e9;
  info.env = ctx.env;
  info.debian_packages = ctx.debian_packages;
  info.pip_packages = ctx.pip_packages;
  info.npm_packages = ctx.npm_packages;
  blog.Line("built: " + std::to_string(size) + " bytes in " + std::to_string(info.duration_s) + " s");
  ASSIGN_OR_RETURN(VersionInfo done, store_->Publish(staging, std::move(info)));
  published = true;
  log::Info("templates.built", {{"template", t.key}, {"version", done.version},
                                {"bytes", done.size_bytes}, {"seconds", done.duration_s}});
  if (progress)
    progress(Progress{"done", "built version " + done.version + " (" +
                                  std::to_string(done.size_bytes >> 20) + " MiB in " +
                                  std::to_string(static_cast<int>(done.duration_s)) + " s)"});
  BuildResult r;
  r.info = std::move(done);
  return r;
}

}  // namespace sbx::templates
