#include "api/connection_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>

namespace sbx::api {

std::string PeerKey(const boost::asio::ip::address& addr) {
  if (addr.is_v4()) return addr.to_v4().to_string();
  auto v6 = addr.to_v6();
  if (v6.is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

ConnectionPool::ConnectionPool(PoolLimits limits, Shutdown shutdown)
    : limits_(limits), shutdown_(std::move(shutdown)) {
  if (!shutdown_) shutdown_ = [](int fd, int how) { ::shutdown(fd, how); };
}

bool ConnectionPool::EvictOldestLocked(const std::set<Age>& among) {
  if (among.empty()) return false;
  uint64_t id = among.begin()->second;  // read before EraseLocked changes `among`
  ++evictions_;
  EraseLocked(id, /*shut_down=*/true);
  return true;
}

void ConnectionPool::LeavePreAuthLocked(uint64_t id, Entry& e) {
  if (!e.preauth) return;
  Age age{e.since, id};
  preauth_.erase(age);
  auto p = by_peer_.find(e.peer);
  if (p != by_peer_.end()) {
    p->second.erase(age);
    if (p->second.empty()) by_peer_.erase(p);
  }
  e.preauth = false;
}

void ConnectionPool::EraseLocked(uint64_t id, bool shut_down) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  LeavePreAuthLocked(id, e);
  if (shut_down) shutdown_(e.fd, SHUT_RDWR);
  entries_.erase(it);
}

ConnectionPool::Opened ConnectionPool::Open(const std::string& peer, int fd, int64_t now_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  Opened out;
  size_t max_preauth = limits_.max_preauth ? limits_.max_preauth : limits_.max_connections;
  if (limits_.max_preauth_per_peer) {
    // A loop: connections going back to pre-auth (PreAuth) may have taken the peer past it.
    for (auto p = by_peer_.find(peer);
         p != by_peer_.end() && p->second.size() >= limits_.max_preauth_per_peer;
         p = by_peer_.find(peer))
      out.evicted += EvictOldestLocked(p->second);
  }
  while (preauth_.size() >= max_preauth && EvictOldestLocked(preauth_)) ++out.evicted;
  while (entries_.size() >= limits_.max_connections) {
    if (!EvictOldestLocked(preauth_)) return out;  // refused: every connection is active
    ++out.evicted;
  }
  uint64_t id = next_id_++;
  entries_[id] = Entry{peer, fd, true, now_ns};
  preauth_.insert({now_ns, id});
  by_peer_[peer].insert({now_ns, id});
  out.id = id;
  return out;
}

bool ConnectionPool::Activate(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  LeavePreAuthLocked(id, it->second);
  return true;
}

void ConnectionPool::PreAuth(uint64_t id, int64_t now_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.preauth) return;
  it->second.preauth = true;
  it->second.since = now_ns;
  preauth_.insert({now_ns, id});
  by_peer_[it->second.peer].insert({now_ns, id});
}

void ConnectionPool::Close(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  EraseLocked(id, /*shut_down=*/false);
}

void ConnectionPool::ShutdownAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, e] : entries_) shutdown_(e.fd, SHUT_RD);
}

size_t ConnectionPool::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

size_t ConnectionPool::preauth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return preauth_.size();
}

uint64_t ConnectionPool::evictions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return evictions_;
}

RequestSlots::Slot& RequestSlots::Slot::operator=(Slot&& o) noexcept {
  if (this != &o) {
    Release();
    owner_ = o.owner_;
    key_ = std::move(o.key_);
    o.owner_ = nullptr;
  }
  return *this;
}

void RequestSlots::Slot::Release() {
  if (owner_ == nullptr) return;
  std::lock_guard<std::mutex> lock(owner_->mu_);
  auto it = owner_->in_flight_.find(key_);
  if (it != owner_->in_flight_.end() && --it->second == 0) owner_->in_flight_.erase(it);
  owner_ = nullptr;
}

std::optional<RequestSlots::Slot> RequestSlots::TryAcquire(const std::string& principal) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t& n = in_flight_[principal];
  if (limit_ && n >= limit_) {
    if (n == 0) in_flight_.erase(principal);
    return std::nullopt;
  }
  ++n;
  Slot s;
  s.owner_ = this;
  s.key_ = principal;
  return s;
}

size_t RequestSlots::InFlight(const std::string& principal) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = in_flight_.find(principal);
  return it == in_flight_.end() ? 0 : it->second;
}

}  // namespace sbx::api
