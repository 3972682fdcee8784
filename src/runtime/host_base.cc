// The "host base" lower layer: a skeleton root file system whose /usr is the host's, bound
// read-only. It lets templates run before real template root file systems exist. Built in a
// temporary directory and renamed into place, so a crash never leaves a half-built layer.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/util.h"
#include "runtime/fs_util.h"
#include "runtime/runtime.h"

namespace sbx::runtime {
namespace {

constexpr char kPasswd[] =
    "root:x:0:0:root:/root:/bin/bash\n"
    "user:x:1000:1000:user:/home/user:/bin/bash\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
constexpr char kGroup[] =
    "root:x:0:\n"
    "tty:x:5:\n"
    "user:x:1000:\n"
    "nogroup:x:65534:\n";
constexpr char kHosts[] =
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n";
constexpr char kNsswitch[] =
    "passwd: files\n"
    "group: files\n"
    "shadow: files\n"
    "hosts: files dns\n"
    "networks: files\n"
    "protocols: files\n"
    "services: files\n"
    "ethers: files\n"
    "rpc: files\n";
constexpr char kProfile[] =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    "export PATH\n";

struct DirSpec {
  const char* path;
  mode_t mode;
};
constexpr DirSpec kDirs[] = {
    {"usr", 0755},      {"home", 0755}, {"home/user", 0755}, {"root", 0700}, {"tmp", 01777},
    {"proc", 0555},     {"dev", 0755},  {"sys", 0555},       {"etc", 0755},  {"var", 0755},
    {"var/tmp", 01777}, {"run", 0755},  {"opt", 0755},       {"mnt", 0755},
};

Result<void> CopyHostFile(int etc_fd, const std::string& host_path, const std::string& name,
                          const std::string& where) {
  ASSIGN_OR_RETURN(std::string data, ReadFile(host_path));
  return WriteFileAt(etc_fd, name, data, 0644, where + "/" + name);
}

// Copies the regular files of a host directory (one level) into a new directory.
Result<void> CopyHostDirFiles(int etc_fd, const std::string& host_dir, const std::string& name,
                              const std::string& where) {
  ASSIGN_OR_RETURN(UniqueFd sub, EnsureDirAt(etc_fd, name, 0755, 0, 0, where + "/" + name));
  DIR* d = ::opendir(host_dir.c_str());
  if (d == nullptr) return SysError("opendir " + host_dir);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const std::string& n : names) {
    struct stat st;
    std::string src = host_dir + "/" + n;
    if (::stat(src.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    RETURN_IF_ERROR(CopyHostFile(sub.get(), src, n, where + "/" + name));
  }
  return Ok();
}

// /etc/alternatives holds the symlinks behind /usr/bin/awk, editor, ...: copied as symlinks.
Result<void> CopyAlternatives(int etc_fd, const std::string& where) {
  ASSIGN_OR_RETURN(UniqueFd sub,
                   EnsureDirAt(etc_fd, "alternatives", 0755, 0, 0, where + "/alternatives"));
  DIR* d = ::opendir("/etc/alternatives");
  if (d == nullptr)
    return errno == ENOENT ? Ok() : Result<void>(SysError("opendir /etc/alternatives"));
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const std::string& n : names) {
    char target[4096];
    std::string src = "/etc/alternatives/" + n;
    ssize_t len = ::readlink(src.c_str(), target, sizeof target - 1);
    if (len < 0) continue;  // README and other regular files
    target[len] = '\0';
    if (::symlinkat(target, sub.get(), n.c_str()) != 0) {
      return SysError("symlink " + where + "/alternatives/" + n + " -> " + target);
    }
  }
  return Ok();
}

Result<void> BuildEtc(int root_fd, const std::string& where) {
  UniqueFd etc(::openat(root_fd, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!etc) return SysError("open " + where + "/etc");
  std::string e = where + "/etc";
  RETURN_IF_ERROR(WriteFileAt(etc.get(), "passwd", kPasswd, 0644, e + "/passwd"));
  RETURN_IF_ERROR(WriteFileAt(etc.get(), "group", kGroup, 0644, e + "/group"));
  RETURN_IF_ERROR(WriteFileAt(etc.get(), "hosts", kHosts, 0644, e + "/hosts"));
  RETURN_IF_ERROR(WriteFileAt(etc.get(), "hostname", "sandbox\n", 0644, e + "/hostname"));
  RETURN_IF_ERROR(WriteFileAt(etc.get(), "nsswitch.conf", kNsswitch, 0644, e + "/nsswitch.conf"));
  RETURN_IF_ERROR(WriteFileAt(etc.get(), "profile", kProfile, 0644, e + "/profile"));
  RETURN_IF_ERROR(WriteFileAt(etc.get(), "resolv.conf", "", 0644, e + "/resolv.conf"));
  if (::symlinkat("../proc/self/mounts", etc.get(), "mtab") != 0) {
    return SysError("symlink " + e + "/mtab");
  }
  if (PathExists("/etc/os-release")) {
    RETURN_IF_ERROR(CopyHostFile(etc.get(), "/etc/os-release", "os-release", e));
  }
  if (PathExists("/etc/ld.so.cache")) {
    RETURN_IF_ERROR(CopyHostFile(etc.get(), "/etc/ld.so.cache", "ld.so.cache", e));
  }
  if (PathExists("/etc/ld.so.conf")) {
    RETURN_IF_ERROR(CopyHostFile(etc.get(), "/etc/ld.so.conf", "ld.so.conf", e));
  }
  if (PathExists("/etc/ld.so.conf.d")) {
    RETURN_IF_ERROR(CopyHostDirFiles(etc.get(), "/etc/ld.so.conf.d", "ld.so.conf.d", e));
  }
  return CopyAlternatives(etc.get(), e);
}

Result<void> BuildHostBase(const std::string& tmp) {
  if (::mkdir(tmp.c_str(), 0755) != 0) return SysError("mkdir " + tmp);
  if (::chmod(tmp.c_str(), 0755) != 0) return SysError("chmod " + tmp);
  UniqueFd root(::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root) return SysError("open " + tmp);
  for (const DirSpec& d : kDirs) {
    ASSIGN_OR_RETURN(UniqueFd fd,
                     EnsureDirAt(root.get(), d.path, d.mode, 0, 0, tmp + "/" + d.path));
  }
  std::vector<std::pair<const char*, const char*>> links = {
      {"bin", "usr/bin"}, {"sbin", "usr/sbin"}, {"lib", "usr/lib"}, {"lib64", "usr/lib64"}};
  if (PathExists("/usr/lib32")) links.emplace_back("lib32", "usr/lib32");
  if (PathExists("/usr/libx32")) links.emplace_back("libx32", "usr/libx32");
  for (const auto& [name, target] : links) {
    if (::symlinkat(target, root.get(), name) != 0) {
      return SysError("symlink " + tmp + "/" + name + " -> " + target);
    }
  }
  return BuildEtc(root.get(), tmp);
}

}  // namespace

Result<std::vector<BindMount>> EnsureHostBaseRootfs(const std::string& dir) {
  if (dir.empty() || dir[0] != '/') {
    return MakeError(ErrorCode::kInvalidArgument, "host base dir must be absolute: '" + dir + "'");
  }
  std::vector<BindMount> binds = {{"/usr", "/usr", true}};
  struct stat st;
  if (::lstat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return SysError("host base " + dir, ENOTDIR);
    return binds;
  }
  size_t slash = dir.find_last_of('/');
  if (slash > 0) RETURN_IF_ERROR(MakeDirs(dir.substr(0, slash), 0755));
  std::string tmp = dir + ".tmp." + RandomHex(4);
  auto built = BuildHostBase(tmp);
  if (!built.ok()) {
    (void)RemoveTree(tmp);
    return std::move(built).error();
  }
  if (::rename(tmp.c_str(), dir.c_str()) != 0) {
    int err = errno;
    (void)RemoveTree(tmp);
    // Someone else built it at the same time: theirs is as good as ours.
    if ((err == EEXIST || err == ENOTEMPTY) && ::lstat(dir.c_str(), &st) == 0) return binds;
    return SysError("rename " + tmp + " to " + dir, err);
  }
  return binds;
}

}  // namespace sbx::runtime
