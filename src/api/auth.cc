#include "api/auth.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace revive::api {

std::string_view to_string(Role role) {
  switch (role) {
    case Role::viewer:
      return "viewer";
    case Role::operator_:
      return "operator";
    case Role::admin:
      return "admin";
  }
  return "admin";
}

std::optional<Role> parse_role(std::string_view text) {
  if (text == "viewer") return Role::viewer;
  if (text == "operator") return Role::operator_;
  if (text == "admin") return Role::admin;
  return std::nullopt;
}

namespace {

std::array<unsigned char, 32> sha256(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return digest;
}

std::string hex(const unsigned char* bytes, std::size_t size) {
  std::string out;
  for (std::size_t i = 0; i < size; ++i) out += fmt::format("{:02x}", bytes[i]);
  return out;
}

std::optional<std::array<unsigned char, 32>> parse_hash(std::string_view text) {
  if (text.size() != 64) return std::nullopt;
  std::array<unsigned char, 32> hash{};
  for (std::size_t i = 0; i < 32; ++i) {
    unsigned value = 0;
    for (char c : text.substr(2 * i, 2)) {
      int digit = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                  : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                              : -1;
      if (digit < 0) return std::nullopt;
      value = value * 16 + static_cast<unsigned>(digit);
    }
    hash[i] = static_cast<unsigned char>(value);
  }
  return hash;
}

bool valid_token_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '@';
  });
}

}  // namespace

TokenTable TokenTable::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TokenFileError(fmt::format("{}:0: cannot read: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw TokenFileError(fmt::format("{}:0: cannot read", path));
  return parse(text.str(), path);
}

TokenTable TokenTable::parse(std::string_view text, const std::string& file) {
  TokenTable table;
  int line_number = 0;
  while (!text.empty()) {
    ++line_number;
    auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    std::istringstream words{std::string(line)};
    std::vector<std::string> fields;
    for (std::string word; words >> word;) fields.push_back(word);
    if (fields.empty() || fields[0].starts_with("#")) continue;
    auto fail = [&](const std::string& message) {
      return TokenFileError(fmt::format("{}:{}: {}", file, line_number, message));
    };
    if (fields.size() != 3) throw fail("expected NAME ROLE SHA256-HEX (three words)");
    if (!valid_token_name(fields[0])) throw fail("the name must be 1-64 of A-Z a-z 0-9 . _ - @");
    auto role = parse_role(fields[1]);
    if (!role) throw fail("the role must be viewer, operator or admin, got '" + fields[1] + "'");
    auto hash = parse_hash(fields[2]);
    if (!hash) throw fail("the third word must be the token's SHA-256 (64 hex digits)");
    for (const auto& entry : table.entries_) {
      if (entry.name == fields[0]) throw fail("the name '" + fields[0] + "' is given twice");
    }
    table.entries_.push_back(TokenEntry{fields[0], *role, *hash});
  }
  return table;
}

void TokenTable::add(const std::string& name, Role role, std::string_view token) {
  entries_.push_back(TokenEntry{name, role, sha256(token)});
}

const TokenEntry* TokenTable::find(std::string_view token) const {
  auto digest = sha256(token);
  const TokenEntry* found = nullptr;
  for (const auto& entry : entries_) {
    // Every entry is compared, found or not: the time does not depend on which one matched.
    bool same = CRYPTO_memcmp(entry.sha256.data(), digest.data(), digest.size()) == 0;
    if (same && found == nullptr) found = &entry;
  }
  return found;
}

std::string sha256_hex(std::string_view text) {
  auto digest = sha256(text);
  return hex(digest.data(), digest.size());
}

std::string make_token() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("cannot make a token: OpenSSL's random generator failed");
  }
  return hex(bytes.data(), bytes.size());
}

std::string token_line(const std::string& name, Role role, std::string_view token) {
  return fmt::format("{} {} {}", name, to_string(role), sha256_hex(token));
}

}  // namespace revive::api
