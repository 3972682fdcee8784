// history: `sbx history [--limit 50] [--sandbox-id ID] [--status S]` -- the execution history
// (GET /v1/executions), newest first, each record in the guide's shape: timestamp, command,
// status, exit_code, execution_time first, then the rest of the record.
#include "cli/commands.h"
#include "client/sandbox_client.h"

namespace sbx::cli {

CLI::App* AddHistoryCommand(CLI::App& app, HistoryArgs& args) {
  CLI::App* sub = app.add_subcommand("history", "Past executions, newest first");
  sub->add_option("--limit", args.limit, "At most this many (1-1000, default 50)")
      ->check(CLI::Range(1, 1000));
  sub->add_option("--sandbox-id,--sandbox,--id", args.sandbox_id, "Only this sandbox's");
  sub->add_option("--status", args.status, "Only executions with this status")
      ->check(CLI::IsMember(
          {"running", "completed", "failed", "timeout", "oom", "killed", "error"}));
  return sub;
}

OJson HistoryRecordJson(const OJson& record) {
  OJson out = OJson::object();
  if (!record.is_object()) return out;
  for (const char* key : {"timestamp", "command", "status", "exit_code", "execution_time"})
    if (auto it = record.find(key); it != record.end()) out[key] = *it;
  for (auto it = record.begin(); it != record.end(); ++it)
    if (!out.contains(it.key())) out[it.key()] = *it;
  return out;
}

Outcome RunHistory(Client& client, const HistoryArgs& args) {
  client::HistoryQuery q;
  q.limit = args.limit;
  q.sandbox_id = args.sandbox_id;
  q.status = args.status;
  client::SandboxClient sandboxes(&client);
  Result<OJson> r = sandboxes.HistoryJson(q);
  if (!r.ok()) return ErrorOutcome(r.error());
  // Checked with the library's parser, so a malformed answer is an error here, not odd output.
  Result<std::vector<client::HistoryEntry>> parsed = client::ParseHistory(*r);
  if (!parsed.ok()) return ErrorOutcome(parsed.error());
  OJson list = OJson::array();
  for (const client::HistoryEntry& e : *parsed) list.push_back(HistoryRecordJson(e.raw));
  OJson out = OJson::object();
  out["success"] = true;
  out["executions"] = std::move(list);
  out["count"] = parsed->size();
  return SuccessOutcome(out);
}

}  // namespace sbx::cli
