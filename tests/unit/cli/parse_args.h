// The CLI tests' way to parse a command line: a CommandLine kept alive with its result, since
// the parsed command refers into it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/app.h"

namespace sbx::cli::test_support {

struct Parsed {
  std::unique_ptr<CommandLine> cl = std::make_unique<CommandLine>();
  ParseResult result;
  const ParsedCommand& cmd() const { return cl->command(); }
};

inline Parsed ParseArgs(std::vector<std::string> args) {
  Parsed p;
  p.result = p.cl->Parse(args);
  return p;
}

}  // namespace sbx::cli::test_support
