#include "model/yaml_document.h"

#include <yaml.h>

#include <charconv>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>

namespace revive::model::yaml {

namespace {

struct ParserDeleter {
  void operator()(yaml_parser_t* parser) const {
    yaml_parser_delete(parser);
    delete parser;
  }
};

struct EventGuard {
  yaml_event_t event{};
  ~EventGuard() { yaml_event_delete(&event); }
};

bool is_null_text(std::string_view text) {
  return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
}

std::string describe_error(const yaml_parser_t& parser) {
  std::string message = parser.problem ? parser.problem : "YAML syntax error";
  if (parser.context) message += std::string(" (") + parser.context + ")";
  return message;
}

}  // namespace

class Builder {
 public:
  explicit Builder(std::string_view text) {
    if (text.size() >= std::numeric_limits<std::uint32_t>::max()) throw SyntaxError(0, "file too large");
    // Inventories hold about one node per 7-8 bytes of text; reserving that avoids doubling the largest
    // vectors.
    document_.text_.reserve(text.size() / 2);
    document_.nodes_.reserve(text.size() / 7);
    document_.children_.reserve(text.size() / 7);
  }

  Document build(std::string_view text) {
    std::unique_ptr<yaml_parser_t, ParserDeleter> parser(new yaml_parser_t{});
    if (!yaml_parser_initialize(parser.get())) throw SyntaxError(0, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(parser.get(), reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    int documents = 0;
    while (true) {
      EventGuard guard;
      if (!yaml_parser_parse(parser.get(), &guard.event)) {
        throw SyntaxError(static_cast<int>(parser->problem_mark.line) + 1, describe_error(*parser));
      }
      const yaml_event_t& event = guard.event;
      auto line = static_cast<std::uint32_t>(event.start_mark.line + 1);
      switch (event.type) {
        case YAML_STREAM_END_EVENT:
          finish();
          return std::move(document_);
        case YAML_DOCUMENT_START_EVENT:
          if (++documents > 1) throw SyntaxError(static_cast<int>(line), "more than one YAML document");
          break;
        case YAML_SCALAR_EVENT: {
          std::string_view value(reinterpret_cast<const char*>(event.data.scalar.value),
                                 event.data.scalar.length);
          bool quoted = event.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
          NodeId id = add_node(!quoted && is_null_text(value) ? NodeKind::null : NodeKind::scalar, line);
          auto& node = document_.nodes_[id];
          node.quoted = quoted;
          node.first = static_cast<std::uint32_t>(document_.text_.size());
          node.count = static_cast<std::uint32_t>(value.size());
          document_.text_.append(value);
          remember_anchor(event.data.scalar.anchor, id);
          pending_.push_back(id);
          break;
        }
        case YAML_ALIAS_EVENT: {
          auto found = anchors_.find(reinterpret_cast<const char*>(event.data.alias.anchor));
          if (found == anchors_.end())
            throw SyntaxError(static_cast<int>(line), "alias to an unknown anchor");
          pending_.push_back(found->second);
          break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
          // libyaml's scanner does work proportional to the nesting depth for every token, so a text of
          // nothing but `[[[[...` takes time quadratic in its size (80 KB: 14 s); no inventory or config
          // nests deeper than a few levels.
          if (open_.size() >= kMaxDepth) {
            throw SyntaxError(static_cast<int>(line),
                              "nested deeper than " + std::to_string(kMaxDepth) + " levels");
          }
          bool mapping = event.type == YAML_MAPPING_START_EVENT;
          NodeId id = add_node(mapping ? NodeKind::mapping : NodeKind::sequence, line);
          remember_anchor(mapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor, id);
          pending_.push_back(id);
          open_.push_back({id, pending_.size()});
          break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
          close_container();
          break;
        default:
          break;
      }
    }
  }

 private:
  static constexpr std::size_t kMaxDepth = 64;
  struct Open {
    NodeId node;
    std::size_t first_pending;
  };

  NodeId add_node(NodeKind kind, std::uint32_t line) {
    auto id = static_cast<NodeId>(document_.nodes_.size());
    document_.nodes_.push_back({kind, false, line, 0, 0});
    return id;
  }

  void remember_anchor(const yaml_char_t* anchor, NodeId id) {
    if (anchor) anchors_[reinterpret_cast<const char*>(anchor)] = id;
  }

  void close_container() {
    Open open = open_.back();
    open_.pop_back();
    auto& node = document_.nodes_[open.node];
    node.first = static_cast<std::uint32_t>(document_.children_.size());
    std::size_t children = pending_.size() - open.first_pending;
    node.count = static_cast<std::uint32_t>(node.kind == NodeKind::mapping ? children / 2 : children);
    document_.children_.insert(document_.children_.end(),
                               pending_.begin() + static_cast<long>(open.first_pending), pending_.end());
    pending_.resize(open.first_pending);
  }

  void finish() {
    if (pending_.empty()) {
      document_.root_ = add_node(NodeKind::null, 1);
    } else {
      document_.root_ = pending_.front();
    }
  }

  Document document_;
  std::vector<NodeId> pending_;  // children of the open containers, innermost last
  std::vector<Open> open_;
  std::unordered_map<std::string, NodeId> anchors_;
};

Document Document::parse(std::string_view text) {
  Builder builder(text);
  return builder.build(text);
}

std::string quote(std::string_view text) {
  constexpr std::size_t kMax = 60;
  if (text.size() > kMax) return "'" + std::string(text.substr(0, kMax)) + "...'";
  return "'" + std::string(text) + "'";
}

std::string describe(const Document& document, NodeId node) {
  switch (document.kind(node)) {
    case NodeKind::null:
      return "nothing (null)";
    case NodeKind::sequence:
      return "a list";
    case NodeKind::mapping:
      return "a mapping";
    case NodeKind::scalar:
      break;
  }
  return (document.quoted(node) ? "the string " : "") + quote(document.text(node));
}

std::string read_bounded_integer(std::string_view text, std::uint64_t min, std::uint64_t max,
                                 std::uint64_t& value) {
  std::string_view digits = text;
  bool negative = false;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  std::uint64_t parsed = 0;
  auto [end, status] = std::from_chars(digits.data(), digits.data() + digits.size(), parsed);
  if (digits.empty() || end != digits.data() + digits.size() ||
      (status != std::errc() && status != std::errc::result_out_of_range)) {
    return "expected an integer, got " + quote(text);
  }
  if ((negative && parsed != 0) || parsed < min) {
    return "must be at least " + std::to_string(min) + ", got " + std::string(text);
  }
  if (status == std::errc::result_out_of_range || parsed > max) {
    return "too large: " + std::string(text) + " (at most " + std::to_string(max) + ")";
  }
  value = parsed;
  return {};
}

}  // namespace revive::model::yaml
