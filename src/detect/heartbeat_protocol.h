// The agent <-> controller heartbeat protocol and the storage lease record, signed with a shared key.
//
// One line of text per UDP datagram (or lease file), fields separated by single spaces:
//   REVIVE-HB v1 HOST EPOCH SEQUENCE UNIX_MS HMAC     agent -> controller, every interval
//   REVIVE-ACK v1 HOST EPOCH SEQUENCE UNIX_MS HMAC    controller -> agent, answering a heartbeat
//   REVIVE-LEASE v1 HOST EPOCH SEQUENCE UNIX_MS HMAC  the lease record the agent rewrites on shared storage
// HMAC = lowercase hex HMAC-SHA256 (shared key) of everything before it, single space included. EPOCH is the
// agent's start time in Unix milliseconds (it grows across agent restarts), SEQUENCE counts from 1 within an
// epoch. Against replay the receiver accepts a heartbeat only when (EPOCH, SEQUENCE) is above the last
// accepted pair for that host and UNIX_MS is within max_skew of its own clock. HOST: [A-Za-z0-9._-]+.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace revive::detect {

enum class MessageKind { heartbeat, ack, lease };

struct SignedMessage {
  MessageKind kind = MessageKind::heartbeat;
  std::string host;
  std::uint64_t epoch = 0;
  std::uint64_t sequence = 0;
  std::int64_t unix_ms = 0;
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
