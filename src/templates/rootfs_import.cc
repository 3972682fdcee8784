// rootfs:<dir or tarball>, and registry images pulled with skopeo into an OCI archive.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "templates/base_image.h"
#include "templates/extract.h"
#include "templates/steps.h"

namespace sbx::templates {

Result<void> ImportRootfs(BuildContext& ctx, const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return SysError("rootfs " + path);
  if (S_ISDIR(st.st_mode)) {
    // cp -a: owners, modes, times, symlinks as symlinks, hardlinks kept; never dereferences.
    ctx.Step("copy", "copying directory " + path);
    ASSIGN_OR_RETURN(CommandResult r,
                     ctx.Run("copy", {"cp", "-a", "--no-target-directory", path, ctx.rootfs_dir}));
    if (!r.ok())
      return MakeError(ErrorCode::kInternal,
                       "copying " + path + " failed (" + r.Describe() + "):\n" + r.tail);
    return Ok();
  }
  if (!S_ISREG(st.st_mode))
    return MakeError(ErrorCode::kInvalidArgument,
                     "rootfs " + path + " is neither a directory nor a tarball");
  if (::mkdir(ctx.rootfs_dir.c_str(), 0755) != 0) return SysError("mkdir " + ctx.rootfs_dir);
  UniqueFd root(::open(ctx.rootfs_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root) return SysError("open " + ctx.rootfs_dir);
  ctx.Step("extract", "extracting " + path);
  ExtractOptions o;
  o.what = path;
  o.keep_owners = true;
  o.on_bytes = [&](int64_t d, int64_t t) { ctx.Bytes("extract", d, t); };
  ASSIGN_OR_RETURN(ExtractStats s, ExtractArchive(path, root.get(), o));
  ctx.log->Line("extract: " + std::to_string(s.entries) + " entries, " +
                std::to_string(s.bytes) + " bytes");
  return Ok();
}

Result<void> PullRegistryImage(BuildContext& ctx, const std::string& ref) {
  std::string skopeo = FindProgram("skopeo");
  if (skopeo.empty())
    return MakeError(ErrorCode::kFailedPrecondition,
                     "baseImage '" + ref + "' is a registry image and skopeo is not installed; " +
                         RegistryImportHelp(ref));
  std::string archive = ctx.work_dir + "/pulled.tar";
  ctx.Step("pull", "skopeo copy docker://" + ref);
  ASSIGN_OR_RETURN(CommandResult r,
                   ctx.Run("pull", {skopeo, "copy", "--retry-times", "1", "docker://" + ref,
                                    "oci-archive:" + archive}));
  if (!r.ok())
    return MakeError(ErrorCode::kUnavailable, "pulling '" + ref + "' failed (" + r.Describe() +
                                                  "), the registry did not answer or refused:\n" +
                                                  r.tail + RegistryImportHelp(ref));
  auto imported = ImportOciArchive(ctx, archive);
  ::unlink(archive.c_str());
  return imported;
}

}  // namespace sbx::templates
