// Derived per-sandbox tokens (see sandbox_tokens.h).
#include "auth/sandbox_tokens.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/unique_fd.h"
#include "common/util.h"
#include "digest/hmac.h"

namespace sbx::auth {
namespace {

constexpr size_t kSecretHexLen = 64;

bool IsHex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Result<std::string> ReadSecret(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return SysError("open " + path);
  char buf[kSecretHexLen + 2];
  ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n < 0) return SysError("read " + path);
  std::string s(buf, static_cast<size_t>(n));
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (s.size() != kSecretHexLen || !IsHex(s))
    return MakeError(ErrorCode::kInvalidArgument,
                     path + ": expected 64 lowercase hex digits (remove the file to make a new "
                            "secret; every sandbox's access tokens then change)");
  return s;
}

}  // namespace

Result<SandboxTokens> SandboxTokens::Load(const std::string& state_dir) {
  const std::string path = state_dir + "/e2b-secret";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd) {
    std::string secret = RandomHex(kSecretHexLen / 2) + "\n";
    if (::write(fd.get(), secret.data(), secret.size()) != static_cast<ssize_t>(secret.size()) ||
        ::fsync(fd.get()) != 0) {
      auto err = SysError("write " + path);
      ::unlink(path.c_str());
      return err;
    }
  } else if (errno != EEXIST) {
    return SysError("create " + path);
  }
  ASSIGN_OR_RETURN(std::string secret, ReadSecret(path));
  return SandboxTokens(std::move(secret));
}

std::string SandboxTokens::Derive(std::string_view kind, std::string_view sandbox_id,
                                  int64_t created_at_ms) const {
  std::string data(kind);
  data += '\n';
  data.append(sandbox_id);
  data += '\n';
  data += std::to_string(created_at_ms);
  return digest::HmacSha256Hex(secret_, data);
}

std::string SandboxTokens::EnvdToken(std::string_view sandbox_id, int64_t created_at_ms) const {
  return Derive("envd", sandbox_id, created_at_ms);
}

std::string SandboxTokens::TrafficToken(std::string_view sandbox_id,
                                        int64_t created_at_ms) const {
  return Derive("traffic", sandbox_id, created_at_ms);
}

}  // namespace sbx::auth
