// A YAML document parsed (with libyaml, for speed: about 50 MB/s, 7x yaml-cpp's event parser) into a compact
// read-only tree that keeps the 1-based line of every node, for validators that report "FILE:LINE: field".
// Scalars are not interpreted: the validator decides what a scalar must be (integer, string...); the tree
// only tells whether it was quoted and folds the plain scalars "", "~", "null" into NodeKind::null. Aliases
// resolve to the anchored node (shared). Internal to the model library.
//
// Thread-safety: none inside; a parsed Document is immutable and may be read from several threads.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace revive::model::yaml {

using NodeId = std::uint32_t;
inline constexpr NodeId kNoNode = UINT32_MAX;

enum class NodeKind : std::uint8_t { null, scalar, sequence, mapping };

// The first syntax error of a text; `line` is 1-based.
class SyntaxError : public std::runtime_error {
 public:
  SyntaxError(int line, const std::string& message) : std::runtime_error(message), line_(line) {}
  int line() const { return line_; }

 private:
  int line_;
};

class Document {
 public:
  // Parses exactly one document (an empty text gives a null root). Throws SyntaxError, also for collections
  // nested more than 64 deep.
  static Document parse(std::string_view text);

  NodeId root() const { return root_; }
  NodeKind kind(NodeId node) const { return nodes_[node].kind; }
  int line(NodeId node) const { return static_cast<int>(nodes_[node].line); }
  // Scalars only: the text, and whether it was written quoted (or as a block scalar), i.e. is surely a
  // string.
  std::string_view text(NodeId node) const {
    return std::string_view(text_).substr(nodes_[node].first, nodes_[node].count);
  }
  bool quoted(NodeId node) const { return nodes_[node].quoted; }
  // Sequences: number of items and the i-th item. Mappings: number of entries and the i-th key and value.
  std::uint32_t size(NodeId node) const { return nodes_[node].count; }
  NodeId item(NodeId sequence, std::uint32_t i) const { return children_[nodes_[sequence].first + i]; }
  NodeId key(NodeId mapping, std::uint32_t i) const { return children_[nodes_[mapping].first + 2 * i]; }
  NodeId value(NodeId mapping, std::uint32_t i) const { return children_[nodes_[mapping].first + 2 * i + 1]; }

 private:
  struct Node {
    NodeKind kind = NodeKind::null;
    bool quoted = false;
    std::uint32_t line = 0;   // 1-based
    std::uint32_t first = 0;  // scalar: offset in text_; container: first index in children_
    std::uint32_t count = 0;  // scalar: length; sequence: items; mapping: entries (2 x count children)
  };
  friend class Builder;
  std::vector<Node> nodes_;
  std::vector<NodeId> children_;
  std::string text_;
  NodeId root_ = kNoNode;
};

// Shared wording of the parsers' diagnostics (the inventory, the daemon's config).
// 'TEXT' in single quotes, cut at 60 characters ("...").
std::string quote(std::string_view text);
// What a node is, for "expected X, got ...": "nothing (null)", "a list", "a mapping", or the scalar quoted
// (prefixed "the string " when it was written quoted).
std::string describe(const Document& document, NodeId node);

// An unquoted scalar's text read as an unsigned integer in [min, max] ("42", "+42", "-0"). On success `value`
// is set and the result is empty; otherwise the result is the diagnostic without its field: "expected an
// integer, got 'x'", "must be at least MIN, got TEXT", "too large: TEXT (at most MAX)".
std::string read_bounded_integer(std::string_view text, std::uint64_t min, std::uint64_t max,
                                 std::uint64_t& value);

}  // namespace revive::model::yaml
