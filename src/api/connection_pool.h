// ConnectionPool: how many connections one listener holds, and which one goes when it is full
// (docs/security.md, "API input and what it may cost the daemon"). One pool per listener: the
// administrator's unix socket and the TCP port never share a budget.
//
// A connection is *pre-auth* from its accept until the header of a request has arrived
// complete, and again from the end of each response until its next header has (an idle
// keep-alive connection), and while a request the gate refused is answered and its body
// drained. Otherwise it is *active*: a request that sent its whole header is being checked,
// read, handled or answered.
//
// Opening a connection makes room, in this order:
//   1. its peer already has max_preauth_per_peer pre-auth connections: the peer's oldest
//      pre-auth connection is evicted;
//   2. max_preauth pre-auth connections in all: the oldest pre-auth connection is evicted;
//   3. max_connections in all: the oldest pre-auth connection is evicted; when every one is
//      active, the new connection is refused.
// "Oldest" is by the time the connection became pre-auth. So a flood of connections that never
// finish a header (slowloris) only pushes out older unauthenticated connections, its own
// first, and a client that sends its header at once is served even from the same address:
// it is evicted only if max_preauth_per_peer (or max_preauth) newer connections arrive before
// its header does. Active requests are never evicted; they are bounded per API key by
// RequestSlots instead. Evicting shuts the socket down (SHUT_RDWR): the connection's thread
// sees end of file and ends.
//
// Peers are addresses: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 addresses by their /64
// prefix (one subscriber's allocation); PeerKey() makes them.
//
// Thread safety: every method may be called from any thread. A connection's thread must call
// Close() before it closes the descriptor, so that an eviction never shuts down a reused one.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

#include <boost/asio/ip/address.hpp>

namespace sbx::api {

struct PoolLimits {
  size_t max_connections = 512;
  size_t max_preauth = 256;          // 0: same as max_connections
  size_t max_preauth_per_peer = 0;   // 0: no per-peer cap (the unix socket: all root)
};

// The key under which a peer's connections are counted (see above).
std::string PeerKey(const boost::asio::ip::address& addr);

class ConnectionPool {
 public:
  // Shuts a socket down: how = SHUT_RDWR for an eviction, SHUT_RD at Stop(). Tests record.
  using Shutdown = std::function<void(int fd, int how)>;

  explicit ConnectionPool(PoolLimits limits, Shutdown shutdown = nullptr);

  struct Opened {
    uint64_t id = 0;  // 0: refused (every connection is active)
    size_t evicted = 0;
  };
  // A new pre-auth connection of `peer` on descriptor fd; evicts as above to make room.
  Opened Open(const std::string& peer, int fd, int64_t now_ns);
  // Its request's header is complete: not evictable until PreAuth(). False if it was evicted
  // already (its socket is shut down: the caller ends the connection).
  bool Activate(uint64_t id);
  // Waiting for the next request, or answering a refused one: evictable, as of now_ns.
  void PreAuth(uint64_t id, int64_t now_ns);
  // The connection ends (evicted or not). Before its descriptor is closed.
  void Close(uint64_t id);
  // Server stop: SHUT_RD on every connection (answers in progress can still be written).
  void ShutdownAll();

  size_t size() const;
  size_t preauth() const;
  uint64_t evictions() const;

 private:
  struct Entry {
    std::string peer;
    int fd = -1;
    bool preauth = true;
    int64_t since = 0;  // when it became pre-auth
  };
  using Age = std::pair<int64_t, uint64_t>;  // (since, id): ordered oldest first

  bool EvictOldestLocked(const std::set<Age>& among);
  void LeavePreAuthLocked(uint64_t id, Entry& e);
  void EraseLocked(uint64_t id, bool shut_down);

  const PoolLimits limits_;
  Shutdown shutdown_;
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  uint64_t evictions_ = 0;
  std::unordered_map<uint64_t, Entry> entries_;
  std::set<Age> preauth_;                       // every pre-auth connection
  std::map<std::string, std::set<Age>> by_peer_;  // pre-auth connections per peer
};

// RequestSlots: at most `limit` requests in flight at once per principal (an API key, or for
// the few routes that take no key, the peer address). A slot is held from the gate to the
// end of the response, streamed responses included.
class RequestSlots {
 public:
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& o) noexcept : owner_(o.owner_), key_(std::move(o.key_)) { o.owner_ = nullptr; }
    Slot& operator=(Slot&& o) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { Release(); }
    void Release();

   private:
    friend class RequestSlots;
    RequestSlots* owner_ = nullptr;
    std::string key_;
  };

  explicit RequestSlots(size_t limit) : limit_(limit) {}  // 0: no limit
  // nullopt when the principal already has `limit` requests in flight.
  std::optional<Slot> TryAcquire(const std::string& principal);
  size_t limit() const { return limit_; }
  size_t InFlight(const std::string& principal) const;

 private:
  const size_t limit_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, size_t> in_flight_;  // no zero entries
};

}  // namespace sbx::api
