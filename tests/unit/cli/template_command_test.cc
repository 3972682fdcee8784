// `sbx template list|show|build|rm` parsing.
#include <gtest/gtest.h>

#include "cli/app.h"
#include "parse_args.h"

namespace sbx::cli {
namespace {

using test_support::Parsed;
using test_support::ParseArgs;

TEST(TemplateCommand, Actions) {
  Parsed b = ParseArgs({"template", "build", "python", "--force"});
  ASSERT_EQ(b.result.kind, ParseResult::Kind::kRun) << b.result.text;
  EXPECT_EQ(b.cmd().verb, Verb::kTemplate);
  EXPECT_EQ(b.cmd().tmpl.action, "build");
  EXPECT_EQ(b.cmd().tmpl.name, "python");
  EXPECT_TRUE(b.cmd().tmpl.force);
  Parsed l = ParseArgs({"template", "list"});
  ASSERT_EQ(l.result.kind, ParseResult::Kind::kRun);
  EXPECT_EQ(l.cmd().tmpl.action, "list");
  Parsed s = ParseArgs({"template", "show", "node", "--compact"});
  ASSERT_EQ(s.result.kind, ParseResult::Kind::kRun);
  EXPECT_EQ(s.cmd().tmpl.action, "show");
  EXPECT_EQ(s.cmd().tmpl.name, "node");
  Parsed r = ParseArgs({"template", "rm", "node"});
  ASSERT_EQ(r.result.kind, ParseResult::Kind::kRun);
  EXPECT_EQ(r.cmd().tmpl.action, "rm");
  EXPECT_FALSE(r.cmd().tmpl.force);
}

TEST(TemplateCommand, UsageErrors) {
  EXPECT_EQ(ParseArgs({"template"}).result.kind, ParseResult::Kind::kUsageError);
  EXPECT_EQ(ParseArgs({"template", "build"}).result.kind, ParseResult::Kind::kUsageError);
  EXPECT_EQ(ParseArgs({"template", "frobnicate", "x"}).result.kind, ParseResult::Kind::kUsageError);
}

}  // namespace
}  // namespace sbx::cli
