#include "api/route_table.h"

#include <algorithm>

#include "common/log.h"

namespace sbx::api {
namespace {

// The segments of a path, a query ("?...") left out.
std::vector<std::string_view> Segments(std::string_view path) {
  if (size_t q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  return PathSegments(path);
}

bool IsParam(std::string_view s) { return s.size() > 2 && s.front() == '{' && s.back() == '}'; }

std::string ParamName(std::string_view s) { return std::string(s.substr(1, s.size() - 2)); }

PathParams ParamsOf(const std::vector<std::string>& want, const std::vector<std::string_view>& got) {
  PathParams params;
  for (size_t s = 0; s < want.size() && s < got.size(); ++s)
    if (IsParam(want[s])) params.Set(ParamName(want[s]), std::string(got[s]));
  return params;
}

bool Matches(const std::vector<std::string>& want, const std::vector<std::string_view>& got) {
  if (want.size() != got.size()) return false;
  for (size_t i = 0; i < want.size(); ++i)
    if (!IsParam(want[i]) && want[i] != got[i]) return false;
  return true;
}

// Whether two patterns match the same paths (they differ in parameter names at most).
bool SameShape(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (IsParam(a[i]) != IsParam(b[i]) || (!IsParam(a[i]) && a[i] != b[i])) return false;
  return true;
}

// Whether pattern a is more specific than b (both matching the same path): a literal segment
// at the first place where they differ in kind.
bool MoreSpecific(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (IsParam(a[i]) != IsParam(b[i])) return !IsParam(a[i]);
  return false;
}

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

}  // namespace

std::vector<std::string_view> PathSegments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > pos) out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

const std::string& PathParams::operator[](std::string_view name) const {
  static const std::string kNone;
  for (const auto& [k, v] : v_)
    if (k == name) return v;
  return kNone;
}

Result<void> RouteTable::Add(Route route) {
  auto bad = [&](const std::string& why) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "route " + route.method + " " + route.pattern + ": " + why);
  };
  if (route.method.empty()) return bad("no method");
  if (!route.handler) return bad("no handler");
  if (route.pattern.empty() || route.pattern[0] != '/') return bad("pattern must start with '/'");
  std::vector<std::string> segs;
  for (std::string_view s : Segments(route.pattern)) {
    if (s.find_first_of("{}") != std::string_view::npos && !IsParam(s))
      return bad("malformed segment '" + std::string(s) + "' (a parameter is {name})");
    segs.emplace_back(s);
  }
  for (size_t i = 0; i < routes_.size(); ++i)
    if (routes_[i].method == route.method && SameShape(segments_[i], segs))
      return bad("already in the table (as " + routes_[i].pattern + ")");
  if (route.label.empty()) route.label = route.pattern;
  routes_.push_back(std::move(route));
  segments_.push_back(std::move(segs));
  return Ok();
}

Result<void> RouteTable::AddAll(std::vector<Route> routes) {
  for (Route& r : routes) RETURN_IF_ERROR(Add(std::move(r)));
  return Ok();
}

int RouteTable::MatchPattern(const std::vector<std::string_view>& parts) const {
  int best = -1;
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (!Matches(segments_[i], parts)) continue;
    if (best < 0 || MoreSpecific(segments_[i], segments_[best])) best = static_cast<int>(i);
  }
  return best;
}

const Route* RouteTable::Find(std::string_view method, std::string_view path,
                              PathParams* params) const {
  std::vector<std::string_view> parts = Segments(path);
  int best = MatchPattern(parts);
  if (best < 0) return nullptr;
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (!SameShape(segments_[i], segments_[best]) || routes_[i].method != method) continue;
    if (params != nullptr) *params = ParamsOf(segments_[i], parts);
    return &routes_[i];
  }
  return nullptr;
}

bool RouteTable::Keyless(std::string_view method, std::string_view path) const {
  const Route* r = Find(method, path);
  return r != nullptr && r->access == Access::kKeyless;
}

std::string RouteTable::Label(std::string_view path) const {
  int best = MatchPattern(Segments(path));
  return best < 0 ? "unmatched" : routes_[best].label;
}

Response RouteTable::Dispatch(const Request& req) const {
  std::vector<std::string_view> parts = Segments(req.path);
  int best = MatchPattern(parts);
  if (best < 0)
    return ErrorResponse(
        MakeError(ErrorCode::kNotFound, "no such endpoint: " + req.method + " " + req.path));
  // Over TCP, a path whose routes are all the administrator's is refused whatever the method.
  bool all_admin = true;
  const Route* route = nullptr;
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (!SameShape(segments_[i], segments_[best])) continue;
    all_admin = all_admin && routes_[i].access == Access::kAdmin;
    if (routes_[i].method == req.method) route = &routes_[i];
  }
  if (!req.admin && all_admin) return AdminRefusal(req, routes_[best]);
  if (route == nullptr) return MethodNotAllowed(req);
  if (!req.admin && route->access == Access::kAdmin) return AdminRefusal(req, *route);
  return route->handler(req, ParamsOf(segments_[route - routes_.data()], parts));
}

Response AdminRefusal(const Request& req, const Route& route) {
  log::Info("auth.admin_only", {{"request_id", req.request_id}, {"key_id", req.key_id},
                                {"tenant", req.tenant}, {"method", req.method}, {"path", req.path}});
  std::string message = route.refusal.empty()
                            ? "{method} {path} is only available to the administrator"
                            : route.refusal;
  message = ReplaceAll(ReplaceAll(std::move(message), "{method}", req.method), "{path}", req.path);
  return ErrorResponse(MakeError(ErrorCode::kPermissionDenied, message));
}

}  // namespace sbx::api
