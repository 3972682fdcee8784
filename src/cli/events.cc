// events: `sbx events [--type T] [--sandbox-id ID] [--since-id N] [--limit N]` lists stored
// events (GET /v1/events); `sbx events --follow` streams live ones (GET /v1/events/stream,
// server-sent events) and prints each as one JSON line as it arrives, resuming after
// --since-id (sent as Last-Event-ID); it ends at --max-events or when the daemon stops, then
// prints {"success": true, "events": N, "last_event_id": ID}.
#include "cli/commands.h"

namespace sbx::cli {

CLI::App* AddEventsCommand(CLI::App& app, EventsArgs& args) {
  CLI::App* sub = app.add_subcommand("events", "Lifecycle and workflow events, stored or live");
  sub->add_option("--type", args.type, "Only this event type (execution_complete, ON_ERROR, ...)");
  sub->add_option("--sandbox-id,--id", args.sandbox_id, "Only events of this sandbox");
  sub->add_option("--since-id,--last-event-id", args.since_id,
                  "Only events after this id (the `seq` of an event); --follow resumes after it");
  sub->add_option("--limit", args.limit, "List: at most this many, newest (default 50)");
  sub->add_flag("--follow,-f", args.follow, "Stream live events, one JSON line each");
  sub->add_option("--max-events", args.max_events, "--follow: stop after this many events");
  return sub;
}

namespace {

std::string Query(const EventsArgs& a, bool list) {
  std::string q;
  auto add = [&](const std::string& k, const std::string& v) {
    q += (q.empty() ? "?" : "&") + k + "=" + PercentEncode(v);
  };
  if (!a.type.empty()) add("type", a.type);
  if (!a.sandbox_id.empty()) add("sandbox_id", a.sandbox_id);
  if (list) {
    add("limit", std::to_string(a.limit));
    if (a.since_id) add("since_id", std::to_string(*a.since_id));
  }
  return q;
}

}  // namespace

Outcome RunEvents(Client& client, const EventsArgs& args, const ProgressOut& out) {
  if (!args.follow) {
    auto r = client.CallJson("GET", "/v1/events" + Query(args, true), nullptr, kDefaultTimeoutS);
    if (!r.ok()) return ErrorOutcome(r.error());
    return SuccessOutcome(*r);
  }
  std::string data, id;
  int64_t count = 0, last_id = args.since_id.value_or(0);
  bool enough = false;
  HttpRequest req;
  req.target = "/v1/events/stream" + Query(args, false);
  req.timeout_s = 0;
  req.stall_timeout_s = 60;  // the daemon sends a keep-alive comment every 5 s
  // Last-Event-ID travels in the target too: the client sends no custom headers.
  if (args.since_id) req.target += std::string(req.target.find('?') == std::string::npos ? "?" : "&") +
                                   "since_id=" + std::to_string(*args.since_id);
  req.sink = client::LineSink([&](std::string_view line) -> Result<void> {
    if (line.empty()) {  // end of one event
      if (!data.empty()) {
        if (out) out(data + "\n");
        ++count;
        if (!id.empty()) last_id = std::strtoll(id.c_str(), nullptr, 10);
        if (args.max_events > 0 && count >= args.max_events) {
          enough = true;
          return MakeError(ErrorCode::kUnavailable, "enough events");
        }
      }
      data.clear();
      id.clear();
    } else if (line.rfind("data: ", 0) == 0) {
      data += line.substr(6);
    } else if (line.rfind("id: ", 0) == 0) {
      id = line.substr(4);
    }
    return Ok();
  });
  Result<HttpResponse> r = client.Send(req);
  if (!enough) {
    if (!r.ok()) return ErrorOutcome(r.error());
    if (r->status < 200 || r->status >= 300) return ErrorOutcome(ErrorFromHttp(r->status, r->body));
  }
  return SuccessOutcome(OJson{{"events", count}, {"last_event_id", last_id}});
}

}  // namespace sbx::cli
