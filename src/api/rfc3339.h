// RFC 3339 timestamps in UTC, as the API writes every time ("2024-05-01T12:00:00Z", "...:00.250Z").
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace revive::api {

// Whole seconds unless the time has a fraction, then milliseconds.
std::string format_rfc3339(std::chrono::system_clock::time_point time);
// Accepts "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"; nullopt if it is not one.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& text);

}  // namespace revive::api
