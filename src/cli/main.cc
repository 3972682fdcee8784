// sbx: command-line client of sandboxd. Everything is in sbx_cli (app.h); this only binds the
// process's arguments, environment and standard streams.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/app.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string out, err;
  int code = sbx::cli::RunCli(
      args, [](const char* name) { return static_cast<const char*>(std::getenv(name)); }, &out,
      &err);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fwrite(err.data(), 1, err.size(), stderr);
  std::fflush(stdout);
  return code;
}
