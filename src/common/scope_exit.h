// ScopeExit: runs a callable when the scope ends, unless dismissed. Used for roll-back of
// partially created resources (a mount, a cgroup) on the error paths of a create.
#pragma once

#include <utility>

namespace sbx {

template <typename F>
class ScopeExit {
 public:
  explicit ScopeExit(F f) : f_(std::move(f)) {}
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;
  ~ScopeExit() {
    if (active_) f_();
  }
  void Dismiss() { active_ = false; }

 private:
  F f_;
  bool active_ = true;
};

}  // namespace sbx
