// Principal: who is making a request, after authentication. The unix socket's peer is the
// administrator (sees every tenant); a TCP request carries an API key and acts for that key's
// tenant only.
//
// Thread safety: plain values.
#pragma once

#include <string>
#include <string_view>

namespace sbx::auth {

struct Principal {
  std::string key_id;  // "" for the administrator
  std::string tenant;  // "" for the administrator
  bool admin = false;

  static Principal Admin() { return Principal{"", "", true}; }
};

// Whether `p` may see a resource (sandbox, execution, file) owned by `resource_tenant`. The API
// answers 404 (not 403) when this is false, so ids of other tenants' resources are not confirmed.
inline bool CanAccess(const Principal& p, std::string_view resource_tenant) {
  return p.admin || (!p.tenant.empty() && p.tenant == resource_tenant);
}

}  // namespace sbx::auth
