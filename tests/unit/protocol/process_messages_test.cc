#include "protocol/process_messages.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>

namespace sbx::protocol {
namespace {

TEST(ProcessMessagesTest, StartRequestDefaultsAndValidation) {
  auto r = ParseStartRequest(Json::parse(
      R"({"process":{"cmd":"/bin/bash","args":["-l","-c","echo hi"],"envs":{"A":"b"}},"stdin":false})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->process.args.size(), 3u);
  EXPECT_FALSE(r->stdin_open);
  EXPECT_FALSE(r->pty.has_value());
  auto pty = ParseStartRequest(
      Json::parse(R"({"process":{"cmd":"bash"},"pty":{"size":{"cols":100,"rows":40}}})"));
  ASSERT_TRUE(pty.ok());
  EXPECT_TRUE(pty->stdin_open);  // absent means true
  EXPECT_EQ(pty->pty->cols, 100u);
  EXPECT_FALSE(ParseStartRequest(Json::parse(R"({"process":{}})")).ok());
  EXPECT_FALSE(ParseStartRequest(Json::parse(R"({"process":{"cmd":1}})")).ok());
  EXPECT_FALSE(ParseStartRequest(Json::parse(R"({"process":{"cmd":"x","args":"y"}})")).ok());
  EXPECT_FALSE(ParseStartRequest(Json::parse(R"({"process":{"cmd":"x","envs":{"A=B":"c"}}})")).ok());
  EXPECT_FALSE(ParseStartRequest(Json::parse(R"({"process":{"cmd":"x"},"stdin":"no"})")).ok());
}

TEST(ProcessMessagesTest, SelectorsInputsSignals) {
  EXPECT_EQ(*ParseSelector(Json::parse(R"({"process":{"pid":7}})"))->pid, 7u);
  EXPECT_EQ(*ParseSelector(Json::parse(R"({"process":{"pid":"7"}})"))->pid, 7u);
  EXPECT_EQ(*ParseSelector(Json::parse(R"({"process":{"tag":"t"}})"))->tag, "t");
  EXPECT_FALSE(ParseSelector(Json::parse(R"({"process":{}})")).ok());
  EXPECT_FALSE(ParseSelector(Json::parse(R"({"process":{"pid":-1}})")).ok());
  EXPECT_FALSE(ParseSelector(Json::parse(R"({"process":{"pid":99999999999}})")).ok());
  auto in = ParseInput(Json::parse(R"({"input":{"stdin":"aGkK"}})"));
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->data, "hi\n");
  EXPECT_EQ(ParseInput(Json::parse(R"({"input":{"pty":"aGk"}})"))->kind, InputKind::kPty);
  EXPECT_FALSE(ParseInput(Json::parse(R"({"input":{"stdin":"!!"}})")).ok());
  EXPECT_EQ(ParseSignal(Json::parse(R"({"signal":"SIGNAL_SIGKILL"})")).value(), SIGKILL);
  EXPECT_EQ(ParseSignal(Json::parse(R"({"signal":15})")).value(), SIGTERM);
  EXPECT_FALSE(ParseSignal(Json::parse(R"({"signal":"SIGNAL_UNSPECIFIED"})")).ok());
  EXPECT_STREQ(SignalEnumName(SIGKILL), "SIGNAL_SIGKILL");
}

TEST(ProcessMessagesTest, GoStyleEndStatus) {
  auto ok = EndInfoFromWaitStatus(0);
  EXPECT_EQ(ok.status, "exit status 0");
  EXPECT_FALSE(ok.error.has_value());
  auto three = EndInfoFromWaitStatus(3 << 8);
  EXPECT_EQ(three.exit_code, 3);
  EXPECT_EQ(*three.error, "exit status 3");
  auto killed = EndInfoFromWaitStatus(SIGKILL);
  EXPECT_EQ(killed.exit_code, -1);
  EXPECT_FALSE(killed.exited);
  EXPECT_EQ(killed.status, "signal: killed");
  EXPECT_EQ(EndInfoFromWaitStatus(SIGTERM).status, "signal: terminated");
}

TEST(ProcessMessagesTest, EventJson) {
  EXPECT_EQ(DumpJson(StartEventJson(1234)), R"({"event":{"start":{"pid":1234}}})");
  EXPECT_EQ(DumpJson(DataEventJson(OutputKind::kStdout, "hi\n")),
            R"({"event":{"data":{"stdout":"aGkK"}}})");
  EXPECT_EQ(DumpJson(KeepaliveEventJson()), R"({"event":{"keepalive":{}}})");
  EXPECT_EQ(DumpJson(EndEventJson(EndInfoFromWaitStatus(0))),
            R"({"event":{"end":{"exitCode":0,"exited":true,"status":"exit status 0"}}})");
}

}  // namespace
}  // namespace sbx::protocol
