// The agent <-> controller heartbeat protocol and the storage lease record, signed with a shared key.
//
// One line of text per UDP datagram (or lease file), fields separated by single spaces:
//   REVIVE-HB v1 HOST EPOCH SEQUENCE UNIX_MS HMAC     agent -> controller, every interval
//   REVIVE-ACK v1 HOST EPOCH SEQUENCE UNIX_MS HMAC    controller -> agent, answering a heartbeat
//   REVIVE-LEASE v2 HOST EPOCH SEQUENCE UNIX_MS SELF_FENCE HMAC
//                                                     the lease record the agent rewrites on shared storage
// HMAC = lowercase hex HMAC-SHA256 (shared key) of everything before it, single space included. EPOCH is the
// agent's start time in Unix milliseconds (it grows across agent restarts), SEQUENCE counts from 1 within an
// epoch. Against replay the receiver accepts a heartbeat only when (EPOCH, SEQUENCE) is above the last
// accepted pair for that host and UNIX_MS is within max_skew of its own clock. HOST: [A-Za-z0-9._-]+.
//
// SELF_FENCE (lease records only) is what the agent will do, as of this renewal, when it loses both the
// controller and its lease: `none`, or `watchdog:MS`, `command:MS`, `watchdog+command:MS` — a watchdog device
// it opened and pets (the kernel resets the host once it stops petting) and/or a configured self-fence
// command (powers the host off), MS being the most milliseconds from its decision until the host is off.
// The controller's lease fence level counts an expired lease as proof only when the host's last record
// declared a working self-fence (fence/levels.h). A `REVIVE-LEASE v1 ... UNIX_MS HMAC` record (older agents)
// is still a renewal but declares no self-fence.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace revive::detect {

enum class MessageKind { heartbeat, ack, lease };

// The agent's self-fence as its lease record declares it.
struct SelfFence {
  bool watchdog = false;       // a watchdog device opened and petted successfully
  bool command = false;        // a self-fence command configured
  std::int64_t within_ms = 0;  // the host is off at most this long after the agent decides to self-fence
  bool working() const { return watchdog || command; }
  bool operator==(const SelfFence&) const = default;
};
// "none", "watchdog:5000", "command:5000", "watchdog+command:5000".
std::string to_string(const SelfFence& self_fence);
std::optional<SelfFence> parse_self_fence(std::string_view text);

struct SignedMessage {
  MessageKind kind = MessageKind::heartbeat;
  std::string host;
  std::uint64_t epoch = 0;
  std::uint64_t sequence = 0;
  std::int64_t unix_ms = 0;
  SelfFence self_fence{};  // lease records only (encoded as v2); ignored for heartbeats and acks
};

std::string encode(const SignedMessage& message, std::string_view key);

enum class DecodeError { none, malformed, bad_signature };

struct Decoded {
  DecodeError error = DecodeError::none;
  SignedMessage message;
};
// Parses and checks the signature (constant-time compare). `expected` kind must match, else malformed.
Decoded decode(std::string_view text, std::string_view key, MessageKind expected);

// HMAC-SHA256 of `data` with `key`, lowercase hex.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

bool valid_host_name(std::string_view host);

// Reads a key file: its bytes without a trailing newline. Throws std::runtime_error naming the file when it
// is missing, unreadable or empty.
std::string read_key_file(const std::string& path);

std::int64_t unix_now_ms();

}  // namespace revive::detect
