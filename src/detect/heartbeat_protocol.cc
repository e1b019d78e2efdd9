#include "detect/heartbeat_protocol.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace revive::detect {

namespace {

std::string_view tag_of(MessageKind kind) {
  switch (kind) {
    case MessageKind::heartbeat:
      return "REVIVE-HB";
    case MessageKind::ack:
      return "REVIVE-ACK";
    case MessageKind::lease:
      return "REVIVE-LEASE";
  }
  return "REVIVE-HB";
}

std::string body_of(const SignedMessage& message) {
  std::string body(tag_of(message.kind));
  body += message.kind == MessageKind::lease ? " v2 " : " v1 ";
  body += message.host;
  body += ' ';
  body += std::to_string(message.epoch);
  body += ' ';
  body += std::to_string(message.sequence);
  body += ' ';
  body += std::to_string(message.unix_ms);
  if (message.kind == MessageKind::lease) {
    body += ' ';
    body += to_string(message.self_fence);
  }
  return body;
}

template <typename Number>
bool parse_number(std::string_view text, Number& out) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string to_string(const SelfFence& self_fence) {
  if (!self_fence.working()) return "none";
  std::string text = self_fence.watchdog && self_fence.command ? "watchdog+command"
                     : self_fence.watchdog                     ? "watchdog"
                                                               : "command";
  return text + ":" + std::to_string(std::max<std::int64_t>(0, self_fence.within_ms));
}

std::optional<SelfFence> parse_self_fence(std::string_view text) {
  if (text == "none") return SelfFence{};
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view kinds = text.substr(0, colon);
  SelfFence result;
  if (kinds == "watchdog") {
    result.watchdog = true;
  } else if (kinds == "command") {
    result.command = true;
  } else if (kinds == "watchdog+command") {
    result.watchdog = result.command = true;
  } else {
    return std::nullopt;
  }
  if (!parse_number(text.substr(colon + 1), result.within_ms) || result.within_ms < 0) return std::nullopt;
  return result;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

bool valid_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string encode(const SignedMessage& message, std::string_view key) {
  std::string body = body_of(message);
  std::string signature = hmac_sha256_hex(key, body);
  body += ' ';
  body += signature;
  return body;
}

Decoded decode(std::string_view text, std::string_view key, MessageKind expected) {
  Decoded result;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (start <= text.size() && fields.size() < 9) {
    auto space = text.find(' ', start);
    if (space == std::string_view::npos) space = text.size();
    fields.push_back(text.substr(start, space - start));
    start = space + 1;
  }
  // v1 for every kind; v2 (one more field, SELF_FENCE) for lease records.
  bool v2 = expected == MessageKind::lease && fields.size() == 8 && fields[1] == "v2";
  bool v1 = fields.size() == 7 && fields[1] == "v1";
  if ((!v1 && !v2) || fields[0] != tag_of(expected) || !valid_host_name(fields[2])) {
    result.error = DecodeError::malformed;
    return result;
  }
  SignedMessage& message = result.message;
  message.kind = expected;
  message.host = std::string(fields[2]);
  const std::string_view signature_field = fields.back();
  if (!parse_number(fields[3], message.epoch) || !parse_number(fields[4], message.sequence) ||
      !parse_number(fields[5], message.unix_ms) || signature_field.size() != 64) {
    result.error = DecodeError::malformed;
    return result;
  }
  if (v2) {
    auto self_fence = parse_self_fence(fields[6]);
    if (!self_fence) {
      result.error = DecodeError::malformed;
      return result;
    }
    message.self_fence = *self_fence;
  }
  std::string_view body = text.substr(0, text.size() - 65);
  std::string signature = hmac_sha256_hex(key, body);
  if (CRYPTO_memcmp(signature.data(), signature_field.data(), 64) != 0) {
    result.error = DecodeError::bad_signature;
    message.self_fence = {};  // nothing of a forged record counts
  }
  return result;
}

std::string read_key_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read key file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  std::string key = text.str();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  if (key.empty()) throw std::runtime_error("key file " + path + " is empty");
  return key;
}

std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace revive::detect
