#include "api/rfc3339.h"

#include <fmt/format.h>

#include <cstdio>
#include <ctime>

namespace revive::api {

std::string format_rfc3339(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  auto seconds = floor<std::chrono::seconds>(time);
  auto millis = duration_cast<milliseconds>(time - seconds).count();
  std::time_t t = system_clock::to_time_t(seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  std::string text = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", utc.tm_year + 1900, utc.tm_mon + 1,
                                 utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
  if (millis != 0) text += fmt::format(".{:03}", millis);
  return text + "Z";
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& text) {
  using namespace std::chrono;
  int year, month, day, hour, minute, second, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute, &second,
                  &consumed) != 6 ||
      consumed != 19) {
    return std::nullopt;
  }
  std::size_t at = 19;
  double fraction = 0;
  if (at < text.size() && text[at] == '.') {
    std::size_t end = at + 1;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    if (end == at + 1) return std::nullopt;
    fraction = std::stod("0" + text.substr(at, end - at));
    at = end;
  }
  int offset_minutes = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z') && at + 1 == text.size()) {
  } else if (at + 6 == text.size() && (text[at] == '+' || text[at] == '-') && text[at + 3] == ':') {
    int oh = std::stoi(text.substr(at + 1, 2)), om = std::stoi(text.substr(at + 4, 2));
    offset_minutes = (text[at] == '+' ? 1 : -1) * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  auto date = year_month_day{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                             std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return std::nullopt;
  auto time = sys_days{date} + hours{hour} + minutes{minute} + seconds{second} - minutes{offset_minutes};
  return time_point_cast<system_clock::duration>(time) +
         duration_cast<system_clock::duration>(duration<double>(fraction));
}

}  // namespace revive::api
