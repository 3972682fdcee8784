// The envd version sandboxd's agent speaks, as E2B's control plane reports it (`envdVersion`).
// E2B's SDK switches features on it (E2B-PROTOCOL.md 3.5): it must be valid semver, and it
// must not name features the agent lacks. 0.6.4: watch `allowNetworkMounts` and everything
// before it.
#pragma once

namespace sbx::api {

inline constexpr char kEnvdVersion[] = "0.6.4";

}  // namespace sbx::api
