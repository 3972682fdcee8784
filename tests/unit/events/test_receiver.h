// A tiny HTTP/1.1 receiver on 127.0.0.1:<ephemeral> for webhook tests: one request per
// connection (answers with Connection: close), a handler deciding status and delay, and a
// record of every request received. Header-only, test use only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sbx::testing {

struct ReceivedRequest {
  std::string method, path, body;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

struct Answer {
  int status = 200;
  int delay_ms = 0;  // before answering
};

class TestReceiver {
 public:
  using Handler = std::function<Answer(const ReceivedRequest&, int index)>;

  explicit TestReceiver(Handler h) : handler_(std::move(h)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_, 128);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~TestReceiver() {
    stop_ = true;
    acceptor_.join();
    std::vector<std::thread> conns;
    {
      std::lock_guard<std::mutex> lock(mu_);
      conns.swap(conns_);
    }
    for (auto& t : conns) t.join();
    close(fd_);
  }

  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<ReceivedRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.size();
  }

 private:
  void Accept() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::lock_guard<std::mutex> lock(mu_);
      conns_.emplace_back([this, c] { Serve(c); });
    }
  }

  void Serve(int c) {
    std::string buf;
    char tmp[8192];
    size_t header_end = std::string::npos;
    size_t need = 0;
    while (true) {
      if (header_end == std::string::npos) {
        header_end = buf.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          need = header_end + 4 + ContentLength(buf.substr(0, header_end));
        }
      }
      if (header_end != std::string::npos && buf.size() >= need) break;
      ssize_t n = recv(c, tmp, sizeof(tmp), 0);
      if (n <= 0) {
        close(c);
        return;
      }
      buf.append(tmp, static_cast<size_t>(n));
    }
    ReceivedRequest r = Parse(buf.substr(0, header_end));
    r.body = buf.substr(header_end + 4, need - header_end - 4);
    int index;
    {
      std::lock_guard<std::mutex> lock(mu_);
      index = static_cast<int>(requests_.size());
      requests_.push_back(r);
    }
    Answer a = handler_(r, index);
    if (a.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(a.delay_ms));
    std::string resp = "HTTP/1.1 " + std::to_string(a.status) +
                       " X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    (void)send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
    close(c);
  }

  static size_t ContentLength(const std::string& head) {
    ReceivedRequest r = Parse(head);
    auto v = r.Header("content-length");
    return v.empty() ? 0 : std::stoul(v);
  }

  static ReceivedRequest Parse(const std::string& head) {
    ReceivedRequest r;
    size_t pos = head.find("\r\n");
    std::string line = head.substr(0, pos);
    size_t sp1 = line.find(' '), sp2 = line.find(' ', sp1 + 1);
    r.method = line.substr(0, sp1);
    r.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    while (pos != std::string::npos && pos + 2 < head.size()) {
      size_t next = head.find("\r\n", pos + 2);
      std::string h =
          head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      size_t colon = h.find(':');
      if (colon != std::string::npos) {
        std::string k = h.substr(0, colon);
        for (auto& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        size_t vstart = h.find_first_not_of(' ', colon + 1);
        r.headers[k] = vstart == std::string::npos ? "" : h.substr(vstart);
      }
      pos = next;
    }
    return r;
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> conns_;
  std::vector<ReceivedRequest> requests_;
};

}  // namespace sbx::testing
