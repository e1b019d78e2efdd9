#include "detect/heartbeat_protocol.h"

#include <optional>

#include <gtest/gtest.h>

#include "detect/heartbeat_receiver.h"
#include "drivers/realtime/wall_clock_loop.h"
#include "lab/real_processes.h"
#include "support/test_support.h"

namespace revive::detect {
namespace {

TEST(HeartbeatProtocol, RoundTripsAndDetectsTampering) {
  SignedMessage message{MessageKind::heartbeat, "host-07", 1700000000000, 42, 1700000000123};
  std::string text = encode(message, "k3y");
  EXPECT_EQ(text.rfind("REVIVE-HB v1 host-07 1700000000000 42 1700000000123 ", 0), 0u) << text;
  auto decoded = decode(text, "k3y", MessageKind::heartbeat);
  ASSERT_EQ(decoded.error, DecodeError::none);
  EXPECT_EQ(decoded.message.host, "host-07");
  EXPECT_EQ(decoded.message.sequence, 42u);
  EXPECT_EQ(decoded.message.unix_ms, 1700000000123);

  EXPECT_EQ(decode(text, "other key", MessageKind::heartbeat).error, DecodeError::bad_signature);
  std::string tampered = text;
  tampered.replace(tampered.find(" 42 "), 4, " 43 ");
  EXPECT_EQ(decode(tampered, "k3y", MessageKind::heartbeat).error, DecodeError::bad_signature);
  EXPECT_EQ(decode(text, "k3y", MessageKind::ack).error, DecodeError::malformed);  // a heartbeat is no ack
  EXPECT_EQ(decode("REVIVE-HB v1 host 1 2", "k3y", MessageKind::heartbeat).error, DecodeError::malformed);
  EXPECT_EQ(decode("", "k3y", MessageKind::heartbeat).error, DecodeError::malformed);
  EXPECT_EQ(decode(text + "\n", "k3y", MessageKind::heartbeat).error, DecodeError::none);
}

TEST(HeartbeatProtocol, LeaseRecordsDeclareTheSelfFenceUnderTheSignature) {
  SignedMessage lease{MessageKind::lease, "h0", 7, 9, 1700000000123, {.watchdog = true, .within_ms = 5000}};
  std::string text = encode(lease, "k3y");
  EXPECT_EQ(text.rfind("REVIVE-LEASE v2 h0 7 9 1700000000123 watchdog:5000 ", 0), 0u) << text;
  auto decoded = decode(text, "k3y", MessageKind::lease);
  ASSERT_EQ(decoded.error, DecodeError::none);
  EXPECT_EQ(decoded.message.self_fence, lease.self_fence);
  // The declaration is signed: claiming a self-fence the agent did not declare breaks the signature.
  std::string forged = text;
  forged.replace(forged.find("watchdog:5000"), 13, "command:00001");
  EXPECT_EQ(decode(forged, "k3y", MessageKind::lease).error, DecodeError::bad_signature);
  for (const char* token : {"none", "command:0", "watchdog+command:12"}) {
    auto parsed = parse_self_fence(token);
    ASSERT_TRUE(parsed) << token;
    EXPECT_EQ(to_string(*parsed), token);
  }
  EXPECT_FALSE(parse_self_fence("watchdog"));
  EXPECT_FALSE(parse_self_fence("softdog:5"));
  EXPECT_FALSE(parse_self_fence("command:-1"));
  // An older agent's v1 record is still a renewal, declaring no self-fence.
  std::string body = "REVIVE-LEASE v1 h0 7 10 1700000000123";
  auto old = decode(body + " " + hmac_sha256_hex("k3y", body), "k3y", MessageKind::lease);
  ASSERT_EQ(old.error, DecodeError::none);
  EXPECT_FALSE(old.message.self_fence.working());
  // Heartbeats stay v1 and have no such field.
  EXPECT_EQ(
      encode({MessageKind::heartbeat, "h0", 7, 9, 1, {.command = true}}, "k3y").rfind("REVIVE-HB v1 ", 0),
      0u);
  EXPECT_EQ(decode(text, "k3y", MessageKind::heartbeat).error, DecodeError::malformed);
}

TEST(HeartbeatProtocol, HmacMatchesTheRfc4231Vector) {
  // RFC 4231 test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HeartbeatProtocol, HostNames) {
  EXPECT_TRUE(valid_host_name("host-0001.rack_2"));
  EXPECT_FALSE(valid_host_name(""));
  EXPECT_FALSE(valid_host_name("two words"));
  EXPECT_FALSE(valid_host_name("semi;colon"));
}

// Sends raw datagrams to a receiver and reads its answers.
class UdpClient {
 public:
  explicit UdpClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    to_.sin_family = AF_INET;
    to_.sin_port = htons(static_cast<std::uint16_t>(port));
    to_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval timeout{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~UdpClient() { ::close(fd_); }
  void send(const std::string& text) {
    ::sendto(fd_, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&to_), sizeof to_);
  }
  std::optional<std::string> receive() {
    char buffer[1024];
    ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
    if (got <= 0) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(got));
  }

 private:
  int fd_;
  sockaddr_in to_{};
};

TEST(HeartbeatReceiver, AcceptsSignedHeartbeatsAndRejectsReplaysForgeriesStrangersAndStaleOnes) {
  drivers::WallClockLoop loop;
  std::vector<model::HostIndex> heard;
  HeartbeatReceiver receiver(loop, {.bind_address = "127.0.0.1", .port = 0, .key = "k3y", .max_skew_s = 30.0},
                             {{"h0", 0}, {"h1", 1}}, [&](model::HostIndex host) { heard.push_back(host); });
  receiver.start();
  UdpClient client(receiver.port());
  std::uint64_t epoch = 1000;
  auto heartbeat = [&](const std::string& host, std::uint64_t sequence, std::int64_t at_ms) {
    return encode({MessageKind::heartbeat, host, epoch, sequence, at_ms}, "k3y");
  };
  std::string first = heartbeat("h1", 1, unix_now_ms());
  client.send(first);
  auto ack = client.receive();
  ASSERT_TRUE(ack);
  auto decoded = decode(*ack, "k3y", MessageKind::ack);
  EXPECT_EQ(decoded.error, DecodeError::none);
  EXPECT_EQ(decoded.message.host, "h1");
  EXPECT_EQ(decoded.message.sequence, 1u);

  client.send(first);                                                                     // replay
  client.send(encode({MessageKind::heartbeat, "h0", epoch, 5, unix_now_ms()}, "wrong"));  // forged
  client.send(heartbeat("stranger", 1, unix_now_ms()));                                   // unknown host
  client.send(heartbeat("h0", 1, unix_now_ms() - 3'600'000));                             // an hour old
  client.send("garbage");
  client.send(heartbeat("h0", 2, unix_now_ms()));  // fine
  ASSERT_TRUE(loop.run_until([&] { return heard.size() >= 2; }, 5.0));
  EXPECT_EQ(heard, (std::vector<model::HostIndex>{1, 0}));
  EXPECT_TRUE(lab::eventually([&] { return receiver.counters().malformed == 1; }, 2.0));
  EXPECT_EQ(receiver.counters().accepted, 2u);
  EXPECT_EQ(receiver.counters().replayed, 1u);
  EXPECT_EQ(receiver.counters().bad_signature, 1u);
  EXPECT_EQ(receiver.counters().unknown_host, 1u);
  EXPECT_EQ(receiver.counters().clock_skew, 1u);

  // A restarted agent has a newer epoch: accepted even though its sequence starts again.
  epoch = 2000;
  client.send(heartbeat("h1", 1, unix_now_ms()));
  ASSERT_TRUE(loop.run_until([&] { return heard.size() >= 3; }, 5.0));
  receiver.stop();
}

TEST(LeaseWatcher, ReportsReadsAndRenewals) {
  testing::TempDir dir;
  drivers::WallClockLoop loop;
  int reads = 0, renewals = 0;
  std::optional<SelfFence> declared;
  LeaseWatcher watcher(
      loop, {.directory = dir.path().string(), .reader = {}, .key = "k3y", .poll_s = 0.02}, {{"h0", 0}},
      [&](model::HostIndex) { ++reads; }, [&](model::HostIndex) { ++renewals; },
      [&](model::HostIndex, const SelfFence& self_fence) { declared = self_fence; });
  SelfFence watchdog{.watchdog = true, .within_ms = 500};
  ASSERT_TRUE(write_lease(dir.path().string(), "h0",
                          encode({MessageKind::lease, "h0", 1, 1, unix_now_ms(), watchdog}, "k3y")));
  watcher.start();
  ASSERT_TRUE(loop.run_until([&] { return reads >= 3; }, 5.0));
  EXPECT_EQ(renewals, 0);         // the first record seen is the baseline
  EXPECT_EQ(declared, watchdog);  // ... and declares the agent's self-fence
  ASSERT_TRUE(
      write_lease(dir.path().string(), "h0", encode({MessageKind::lease, "h0", 1, 2, unix_now_ms()}, "k3y")));
  ASSERT_TRUE(loop.run_until([&] { return renewals == 1; }, 5.0));
  EXPECT_EQ(declared, SelfFence{});  // that renewal declared none
  // A forged record is no renewal, and declares nothing.
  ASSERT_TRUE(write_lease(dir.path().string(), "h0",
                          encode({MessageKind::lease, "h0", 1, 3, unix_now_ms(), watchdog}, "bad")));
  int before = reads;
  ASSERT_TRUE(loop.run_until([&] { return reads >= before + 3; }, 5.0));
  EXPECT_EQ(renewals, 1);
  EXPECT_EQ(declared, SelfFence{});
  EXPECT_GT(watcher.bad_records(), 0u);
  watcher.stop();
  EXPECT_FALSE(write_lease((dir.path() / "missing").string(), "h0", "x"));
}

}  // namespace
}  // namespace revive::detect
