#include "detect/heartbeat_receiver.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "detect/heartbeat_protocol.h"

namespace revive::detect {

// ------------------------------------------------------------------------------------------- receiver

HeartbeatReceiver::HeartbeatReceiver(env::EventLoop& loop, ReceiverOptions options, HostNames hosts,
                                     std::function<void(model::HostIndex)> on_heartbeat)
    : loop_(loop),
      options_(std::move(options)),
      hosts_(std::move(hosts)),
      delivery_(std::make_shared<Delivery>()) {
  delivery_->handler = std::move(on_heartbeat);
}

HeartbeatReceiver::~HeartbeatReceiver() {
  stop();
}

void HeartbeatReceiver::start() {
  socket_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (socket_ < 0) throw std::runtime_error(std::string("heartbeat socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(options_.port);
  if (::inet_pton(AF_INET, options_.bind_address.c_str(), &address.sin_addr) != 1) {
    ::close(socket_);
    socket_ = -1;
    throw std::runtime_error("heartbeat bind address is not an IPv4 address: " + options_.bind_address);
  }
  if (::bind(socket_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::string reason = std::strerror(errno);
    ::close(socket_);
    socket_ = -1;
    throw std::runtime_error("cannot listen for heartbeats on " + options_.bind_address + ":" +
                             std::to_string(options_.port) + ": " + reason);
  }
  socklen_t length = sizeof address;
  ::getsockname(socket_, reinterpret_cast<sockaddr*>(&address), &length);
  bound_port_ = ntohs(address.sin_port);
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void HeartbeatReceiver::stop() {
  delivery_->open = false;
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  if (socket_ >= 0) ::close(socket_);
  socket_ = -1;
}

void HeartbeatReceiver::run() {
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>, std::less<>> last_accepted;
  char buffer[1024];
  while (!stopping_) {
    pollfd descriptor{socket_, POLLIN, 0};
    if (::poll(&descriptor, 1, 100) <= 0) continue;
    sockaddr_in from{};
    socklen_t from_length = sizeof from;
    ssize_t got =
        ::recvfrom(socket_, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &from_length);
    if (got <= 0) continue;
    auto decoded =
        decode(std::string_view(buffer, static_cast<std::size_t>(got)), options_.key, MessageKind::heartbeat);
    if (decoded.error == DecodeError::malformed) {
      ++counters_.malformed;
      continue;
    }
    if (decoded.error == DecodeError::bad_signature) {
      ++counters_.bad_signature;
      continue;
    }
    const auto& message = decoded.message;
    auto known = hosts_.find(message.host);
    if (known == hosts_.end()) {
      ++counters_.unknown_host;
      continue;
    }
    if (std::abs(static_cast<double>(unix_now_ms() - message.unix_ms)) > options_.max_skew_s * 1000.0) {
      ++counters_.clock_skew;
      continue;
    }
    auto& last = last_accepted[message.host];
    if (std::make_pair(message.epoch, message.sequence) <= last) {
      ++counters_.replayed;
      continue;
    }
    last = {message.epoch, message.sequence};
    ++counters_.accepted;
    SignedMessage ack = message;
    ack.kind = MessageKind::ack;
    ack.unix_ms = unix_now_ms();
    std::string answer = encode(ack, options_.key);
    ::sendto(socket_, answer.data(), answer.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from),
             from_length);
    model::HostIndex host = known->second;
    loop_.post([delivery = delivery_, host] {
      if (delivery->open) delivery->handler(host);
    });
  }
}

// ---------------------------------------------------------------------------------------------- leases

LeaseWatcher::LeaseWatcher(env::EventLoop& loop, LeaseWatcherOptions options, HostNames hosts,
                           std::function<void(model::HostIndex)> on_read,
                           std::function<void(model::HostIndex)> on_renewal,
                           std::function<void(model::HostIndex, const SelfFence&)> on_self_fence)
    : loop_(loop),
      options_(std::move(options)),
      hosts_(std::move(hosts)),
      delivery_(std::make_shared<Delivery>()) {
  delivery_->on_read = std::move(on_read);
  delivery_->on_renewal = std::move(on_renewal);
  delivery_->on_self_fence = std::move(on_self_fence);
}

LeaseWatcher::~LeaseWatcher() {
  stop();
}

void LeaseWatcher::start() {
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void LeaseWatcher::stop() {
  delivery_->open = false;
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

namespace {

std::optional<LeaseRecords> read_lease_directory(const std::string& directory, const HostNames& hosts) {
  struct stat directory_status {};
  if (::stat(directory.c_str(), &directory_status) != 0 || !S_ISDIR(directory_status.st_mode))
    return std::nullopt;
  LeaseRecords records;
  for (const auto& [name, host] : hosts) {
    std::ifstream in(directory + "/" + name + ".lease");
    if (!in) continue;  // no lease yet
    std::string line;
    std::getline(in, line);
    records.emplace_back(name, line);
  }
  return records;
}

}  // namespace

void LeaseWatcher::run() {
  std::map<model::HostIndex, std::pair<std::uint64_t, std::uint64_t>> last_seen;
  auto next = std::chrono::steady_clock::now();
  while (!stopping_) {
    auto records = options_.reader ? options_.reader() : read_lease_directory(options_.directory, hosts_);
    if (records) {
      std::map<std::string, const std::string*, std::less<>> by_host;
      for (const auto& [name, line] : *records) by_host[name] = &line;
      for (const auto& [name, host] : hosts_) {
        bool renewed = false;
        std::optional<SelfFence> declared;  // from a validly signed record
        if (auto found = by_host.find(name); found != by_host.end()) {
          auto decoded = decode(*found->second, options_.key, MessageKind::lease);
          if (decoded.error != DecodeError::none || decoded.message.host != name) {
            ++bad_records_;
          } else {
            auto stamp = std::make_pair(decoded.message.epoch, decoded.message.sequence);
            auto seen = last_seen.find(host);
            if (seen == last_seen.end() || stamp > seen->second) {
              renewed = seen != last_seen.end();  // the first sighting is the baseline, not a renewal
              last_seen[host] = stamp;
            }
            // An older record than one already seen (restored, replayed) declares nothing.
            if (stamp >= last_seen[host]) declared = decoded.message.self_fence;
          }
        }
        loop_.post([delivery = delivery_, host, renewed, declared] {
          if (!delivery->open) return;
          if (declared && delivery->on_self_fence) delivery->on_self_fence(host, *declared);
          delivery->on_read(host);
          if (renewed) delivery->on_renewal(host);
        });
      }
    }
    next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(options_.poll_s));
    while (!stopping_ && std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

bool write_lease(const std::string& directory, const std::string& host, const std::string& record) {
  std::string final_path = directory + "/" + host + ".lease";
  std::string temporary = directory + "/." + host + ".lease.tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::string line = record + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(temporary.c_str(), final_path.c_str()) != 0) {
    ::unlink(temporary.c_str());
    return false;
  }
  return true;
}

}  // namespace revive::detect
