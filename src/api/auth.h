// Authentication of API callers: bearer tokens and the roles they grant.
//
// A tokens file has one line per token: `NAME ROLE SHA256-HEX-OF-TOKEN` (role viewer, operator or admin;
// blank lines and lines starting with # ignored). Only the token's SHA-256 is stored, never the token.
// `revive token new NAME --role ROLE` makes a token and its line (make_token below).
// TokenTable::find hashes the presented token and compares it with every entry in constant time
// (CRYPTO_memcmp), so neither the answer's timing nor its content tells how close a guess was.
// Errors never contain a token or a hash. Thread-safety: a TokenTable is immutable after it is built; find()
// may be called from any thread.
#pragma once

#include <array>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace revive::api {

// Who may call a route (x-revive-role in the OpenAPI document): viewer < operator < admin.
enum class Role { viewer, operator_, admin };
std::string_view to_string(Role role);  // "viewer", "operator", "admin"
std::optional<Role> parse_role(std::string_view text);

// A tokens file that cannot be read or has a bad line: the message is "FILE:LINE: what" (LINE 0 when the
// file itself cannot be read).
class TokenFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TokenEntry {
  std::string name;  // the caller's name, recorded with every change it makes
  Role role;
  std::array<unsigned char, 32> sha256;
};

class TokenTable {
 public:
  TokenTable() = default;
  // Reads a tokens file (`file` only names it in errors for parse()). Throws TokenFileError.
  static TokenTable load(const std::string& path);
  static TokenTable parse(std::string_view text, const std::string& file);

  // Adds a token by its plain text (tests, tools). Names must be unique.
  void add(const std::string& name, Role role, std::string_view token);
  // The entry whose hash is the token's, or nullptr. Compares against every entry (constant time each).
  const TokenEntry* find(std::string_view token) const;
  const std::vector<TokenEntry>& entries() const { return entries_; }

 private:
  std::vector<TokenEntry> entries_;
};

// SHA-256 of `text` as 64 lowercase hex digits.
std::string sha256_hex(std::string_view text);

// A new random token (32 bytes from OpenSSL's RAND_bytes, as 64 hex digits).
std::string make_token();
// The tokens-file line for `token`: "NAME ROLE SHA256-HEX".
std::string token_line(const std::string& name, Role role, std::string_view token);

}  // namespace revive::api
