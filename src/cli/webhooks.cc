// webhooks: `sbx webhooks create --url URL [--kind generic|zapier|github] [--events a,b]
// [--secret S] [--repository O/R --token T [--api-base URL]] [--description D]`, `list`,
// `show ID`, `rm ID`, `enable ID`, `disable ID`, `deliveries ID [--state S]`,
// `redeliver ID DELIVERY`, `stats` over /v1/webhooks (docs/events.md).
#include "cli/commands.h"

namespace sbx::cli {

CLI::App* AddWebhooksCommand(CLI::App& app, WebhooksArgs& args) {
  CLI::App* sub = app.add_subcommand("webhooks", "Outgoing webhook subscriptions and deliveries");
  sub->require_subcommand(1, 1);
  CLI::App* create = sub->add_subcommand("create", "Subscribe a URL (or a GitHub repository)");
  create->add_option("--kind", args.kind, "generic (default), zapier or github")
      ->check(CLI::IsMember({"generic", "zapier", "github"}));
  create->add_option("--url", args.url, "generic, zapier: where to POST");
  create->add_option("--events", args.events, "Event types (comma list; default all)")
      ->delimiter(',');
  create->add_option("--secret", args.secret, "HMAC key (default: generated, shown once)");
  create->add_option("--repository", args.repository, "github: owner/repo for repository_dispatch");
  create->add_option("--token", args.token, "github: token allowed to dispatch");
  create->add_option("--api-base", args.api_base, "github: API base (GitHub Enterprise)");
  create->add_option("--description", args.description, "A note");
  create->callback([&args] { args.action = "create"; });
  sub->add_subcommand("list", "Subscriptions")->callback([&args] { args.action = "list"; });
  sub->add_subcommand("stats", "Delivery statistics")->callback([&args] { args.action = "stats"; });
  for (auto [verb, help] : {std::pair{"show", "One subscription"},
                            std::pair{"rm", "Delete a subscription and its pending deliveries"},
                            std::pair{"enable", "Enable a subscription"},
                            std::pair{"disable", "Disable a subscription"},
                            std::pair{"deliveries", "Deliveries with every attempt, newest first"},
                            std::pair{"redeliver", "Send a dead or delivered delivery again"}}) {
    CLI::App* c = sub->add_subcommand(verb, help);
    c->add_option("id,--id", args.id, "Webhook id (whk_...)")->required();
    std::string v = verb;
    if (v == "deliveries") {
      c->add_option("--state", args.state, "pending, in_flight, delivered or dead");
      c->add_option("--limit", args.limit, "At most this many (default 50)");
    }
    if (v == "redeliver")
      c->add_option("delivery,--delivery", args.delivery_id, "Delivery id (from deliveries)")
          ->required();
    c->callback([&args, v] { args.action = v; });
  }
  return sub;
}

Result<nlohmann::json> PlanWebhookCreate(const WebhooksArgs& args) {
  nlohmann::json j = {{"kind", args.kind}};
  if (!args.url.empty()) j["url"] = args.url;
  if (!args.events.empty()) j["events"] = args.events;
  if (!args.secret.empty()) j["secret"] = args.secret;
  if (!args.repository.empty()) j["repository"] = args.repository;
  if (!args.token.empty()) j["token"] = args.token;
  if (!args.api_base.empty()) j["api_base"] = args.api_base;
  if (!args.description.empty()) j["description"] = args.description;
  if (args.kind != "github" && args.url.empty())
    return MakeError(ErrorCode::kInvalidArgument, "--url is required for a " + args.kind +
                                                      " webhook");
  return j;
}

Outcome RunWebhooks(Client& client, const WebhooksArgs& args) {
  std::string base = "/v1/webhooks/" + PercentEncode(args.id);
  Result<OJson> r = MakeError(ErrorCode::kInvalidArgument, "webhooks: unknown action");
  if (args.action == "create") {
    auto body = PlanWebhookCreate(args);
    if (!body.ok()) return ErrorOutcome(body.error());
    r = client.CallJson("POST", "/v1/webhooks", *body, kDefaultTimeoutS);
  } else if (args.action == "list") {
    r = client.CallJson("GET", "/v1/webhooks", nullptr, kDefaultTimeoutS);
  } else if (args.action == "stats") {
    r = client.CallJson("GET", "/v1/webhooks/stats", nullptr, kDefaultTimeoutS);
  } else if (args.action == "show") {
    r = client.CallJson("GET", base, nullptr, kDefaultTimeoutS);
  } else if (args.action == "rm") {
    r = client.CallJson("DELETE", base, nullptr, kDefaultTimeoutS);
  } else if (args.action == "enable" || args.action == "disable") {
    r = client.CallJson("PATCH", base, {{"enabled", args.action == "enable"}}, kDefaultTimeoutS);
  } else if (args.action == "deliveries") {
    std::string t = base + "/deliveries?limit=" + std::to_string(args.limit);
    if (!args.state.empty()) t += "&state=" + PercentEncode(args.state);
    r = client.CallJson("GET", t, nullptr, kDefaultTimeoutS);
  } else if (args.action == "redeliver") {
    r = client.CallJson("POST", base + "/deliveries/" + std::to_string(args.delivery_id) +
                                    "/redeliver", nlohmann::json::object(), kDefaultTimeoutS);
  }
  if (!r.ok()) return ErrorOutcome(r.error());
  return SuccessOutcome(*r);
}

}  // namespace sbx::cli
