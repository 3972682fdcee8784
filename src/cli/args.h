// args: pure parsers for the values of sbx's flags and arguments. No I/O here, so every rule
// about the forms users type is unit-tested (tests/unit/cli). Values that the daemon also checks
// (sandbox ids, env names, languages) are validated with spec/, never with rules of our own.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/http_client.h"
#include "common/result.h"
#include "spec/spec.h"

namespace sbx::cli {

// --env NAME=VALUE: the value may be empty and may contain '='. The name is checked with
// spec::ValidateEnv.
Result<std::pair<std::string, std::string>> ParseEnvAssignment(std::string_view text);
// All --env flags into one map; a name given twice keeps its last value.
Result<spec::Env> ParseEnvFlags(const std::vector<std::string>& flags);

// A path inside a sandbox as the API takes it: absolute, no NUL.
Result<void> ValidateRemotePath(std::string_view path);

// --file LOCAL:REMOTE. The split is at the first ":/", so REMOTE must be absolute and LOCAL may
// contain ':' when it is not followed by '/'. A REMOTE ending in '/' is a directory: the base
// name of LOCAL is appended ("data.csv:/home/user/" -> "/home/user/data.csv").
struct FileMapping {
  std::string local;
  std::string remote;
};
Result<FileMapping> ParseFileMapping(std::string_view text);

// An argument of `sbx cp` naming a file in a sandbox: "ID:PATH". An argument is remote when the
// part before its first ':' is a valid sandbox id (spec::ValidateSandboxId); anything else
// ("./a:b", "/tmp/x", "notes.txt") is a local path. Write "./NAME" for a local file whose
// name looks like ID:PATH.
struct RemoteRef {
  std::string sandbox_id;
  std::string path;
};
bool LooksRemote(std::string_view arg);
// The remote reference of an argument for which LooksRemote() is true; checks the path.
Result<RemoteRef> ParseRemoteRef(std::string_view arg);

// `sbx cp SOURCE DEST`: exactly one side is remote. For an upload to a path ending in '/' the
// local base name is appended. A download into an existing local directory is resolved at run
// time (cp.cc), as it depends on the file system.
struct CpPlan {
  enum class Direction { kUpload, kDownload };
  Direction direction = Direction::kUpload;
  RemoteRef remote;
  std::string local;
};
Result<CpPlan> ParseCpArgs(std::string_view source, std::string_view dest);

// From the client library: BaseName, PercentEncode, FilesTarget.
using client::BaseName;
using client::FilesTarget;
using client::PercentEncode;

}  // namespace sbx::cli
