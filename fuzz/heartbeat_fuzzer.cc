// libFuzzer target: the agent's heartbeat packets and lease records (detect::decode, parse_self_fence), as
// the controller's receiver and lease watcher read them from the network and shared storage. A decoded
// message, encoded again, must decode to the same message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "detect/heartbeat_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace revive::detect;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view kKey = "fuzz-key";
  for (auto kind : {MessageKind::heartbeat, MessageKind::ack, MessageKind::lease}) {
    auto decoded = decode(text, kKey, kind);
    if (decoded.error == DecodeError::none && decoded.message.kind != kind) std::abort();
  }
  (void)parse_self_fence(text);
  // Also with a valid signature, so that the fields behind it are reached: sign everything before the last
  // space and decode that.
  auto space = text.rfind(' ');
  if (space != std::string_view::npos) {
    std::string body(text.substr(0, space));
    std::string signed_text = body + " " + hmac_sha256_hex(kKey, body + " ");
    for (auto kind : {MessageKind::heartbeat, MessageKind::ack, MessageKind::lease}) {
      auto decoded = decode(signed_text, kKey, kind);
      if (decoded.error != DecodeError::none) continue;
      if (!valid_host_name(decoded.message.host)) std::abort();
      auto again = decode(encode(decoded.message, kKey), kKey, kind);
      const auto& a = decoded.message;
      const auto& b = again.message;
      if (again.error != DecodeError::none || a.host != b.host || a.epoch != b.epoch ||
          a.sequence != b.sequence || a.unix_ms != b.unix_ms || !(a.self_fence == b.self_fence)) {
        std::abort();
      }
    }
  }
  return 0;
}
