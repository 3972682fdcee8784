// api/timed_socket: a connected Asio socket whose synchronous reads and writes give up after a
// timeout. It is the bottom layer of every server connection: Beast reads and writes it
// directly (unix socket, plain TCP) or through asio::ssl::stream (TLS).
//
// Why not SO_RCVTIMEO/SO_SNDTIMEO: Asio's synchronous operations on a blocking socket retry a
// recv/send that fails with EAGAIN by polling without a timeout, so the socket options never
// end a read. Here the socket is put in non-blocking mode, and every operation that would block
// waits in poll(2) for at most `io_timeout_ms`, and never past the deadline when one is set
// (the TLS handshake: a client that connects and says nothing is dropped after a few seconds,
// whatever it trickles). A timeout is reported as asio::error::timed_out.
//
// It models Asio's SyncReadStream and SyncWriteStream and exposes lowest_layer(), which is
// what asio::ssl::stream needs of its next layer for synchronous use.
//
// Thread safety: one thread at a time, as Asio sockets. shutdown(2) of the descriptor from
// another thread (Server::Stop) wakes a waiting read: the read then sees end of file.
#pragma once

#include <poll.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <cstdint>

#include "common/util.h"

namespace sbx::api {

template <typename Socket>
class TimedSocket {
 public:
  using next_layer_type = Socket;
  using lowest_layer_type = typename Socket::lowest_layer_type;
  using executor_type = typename Socket::executor_type;

  TimedSocket(Socket socket, int io_timeout_ms)
      : socket_(std::move(socket)), io_timeout_ms_(io_timeout_ms) {
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);
  }

  executor_type get_executor() { return socket_.get_executor(); }
  lowest_layer_type& lowest_layer() { return socket_.lowest_layer(); }
  const lowest_layer_type& lowest_layer() const { return socket_.lowest_layer(); }
  Socket& socket() { return socket_; }
  int native_handle() { return socket_.native_handle(); }

  // An absolute limit (MonotonicNs) on top of the per-operation timeout; 0 removes it.
  void SetDeadline(int64_t deadline_ns) { deadline_ns_ = deadline_ns; }
  void SetIoTimeout(int ms) { io_timeout_ms_ = ms; }
  // Another descriptor whose hang-up (POLLRDHUP, POLLHUP, POLLERR) ends every wait of this
  // socket with asio::error::connection_aborted: the E2B gateway's upstream watches its client
  // while an answer streams. -1: none.
  void WatchHangup(int fd) { hangup_fd_ = fd; }

  // Waits until the socket is ready for `events` (POLLIN, POLLOUT), an error or hang-up
  // counting as ready (the next operation reports it). False with ec = timed_out otherwise.
  bool Wait(short events, boost::system::error_code& ec) {
    for (;;) {
      int timeout_ms = io_timeout_ms_;
      if (deadline_ns_ > 0) {
        int64_t left_ms = (deadline_ns_ - MonotonicNs()) / 1000000;
        if (left_ms <= 0) {
          ec = boost::asio::error::timed_out;
          return false;
        }
        if (timeout_ms < 0 || left_ms < timeout_ms) timeout_ms = static_cast<int>(left_ms);
      }
      pollfd p[2] = {{socket_.native_handle(), events, 0}, {hangup_fd_, POLLRDHUP, 0}};
      int r = ::poll(p, hangup_fd_ >= 0 ? 2 : 1, timeout_ms);
      if (r > 0 && hangup_fd_ >= 0 && (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
        ec = boost::asio::error::connection_aborted;
        return false;
      }
      if (r > 0) return true;
      if (r == 0) {
        ec = boost::asio::error::timed_out;
        return false;
      }
      if (errno != EINTR) {
        ec = boost::system::error_code(errno, boost::system::system_category());
        return false;
      }
    }
  }

  template <typename MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    if (boost::asio::buffer_size(buffers) == 0) {
      ec = {};
      return 0;
    }
    for (;;) {
      std::size_t n = socket_.read_some(buffers, ec);
      if (ec != boost::asio::error::would_block && ec != boost::asio::error::try_again) return n;
      if (!Wait(POLLIN, ec)) return 0;
    }
  }

  template <typename ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    if (boost::asio::buffer_size(buffers) == 0) {
      ec = {};
      return 0;
    }
    for (;;) {
      std::size_t n = socket_.write_some(buffers, ec);
      if (ec != boost::asio::error::would_block && ec != boost::asio::error::try_again) return n;
      if (!Wait(POLLOUT, ec)) return 0;
    }
  }

  // The throwing forms complete the stream concepts; the server only uses the ones above.
  template <typename MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <typename ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    boost::system::error_code ec;
    std::size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  Socket socket_;
  int io_timeout_ms_;
  int64_t deadline_ns_ = 0;
  int hangup_fd_ = -1;
};

}  // namespace sbx::api
