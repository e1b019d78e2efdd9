#include "daemon/decision_store.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "api/rfc3339.h"
#include "daemon/event_log.h"

namespace revive::daemon {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::string_view kPrefix = "decision-";
constexpr std::string_view kSuffix = ".json";

// decision-NNNNNN-KIND.json -> (number, kind); nullopt for any other name.
std::optional<std::pair<std::uint64_t, std::string>> parse_name(const std::string& name) {
  if (name.size() <= kPrefix.size() + kSuffix.size() || !name.starts_with(kPrefix) ||
      !name.ends_with(kSuffix))
    return std::nullopt;
  std::string_view middle(name.data() + kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  auto dash = middle.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == middle.size()) return std::nullopt;
  std::uint64_t number = 0;
  auto [end, error] = std::from_chars(middle.data(), middle.data() + dash, number);
  if (error != std::errc() || end != middle.data() + dash || number == 0) return std::nullopt;
  return std::pair{number, std::string(middle.substr(dash + 1))};
}

std::optional<std::string> read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The entry of a file found at start: its metadata from the file, the file's time when it has none.
DecisionEntry entry_of(const fs::path& path, std::uint64_t number, std::string kind) {
  DecisionEntry entry;
  entry.number = number;
  entry.kind = std::move(kind);
  entry.file = path.filename().string();
  std::error_code error;
  auto written = fs::last_write_time(path, error);
  if (!error) {
    auto system = std::chrono::file_clock::to_sys(written);
    entry.at_unix_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(system.time_since_epoch()).count();
  }
  auto text = read_text(path);
  auto saved = text ? json::parse(*text, nullptr, false) : json();
  if (!saved.is_object()) return entry;
  if (auto at = saved.find("at"); at != saved.end() && at->is_string()) {
    if (auto time = api::parse_rfc3339(at->get<std::string>()))
      entry.at_unix_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(time->time_since_epoch()).count();
  }
  if (auto op = saved.find("operation"); op != saved.end() && op->is_string()) entry.operation = *op;
  if (auto hosts = saved.find("hosts"); hosts != saved.end() && hosts->is_array()) {
    for (const auto& host : *hosts)
      if (host.is_string()) entry.hosts.push_back(host);
  }
  return entry;
}

}  // namespace

// A decision's inputs, owned: the engine's references live for its call only.
struct DecisionStore::Pending {
  DecisionEntry entry;
  std::string engine;
  std::string trigger;
  double at_s = 0.0;
  model::Cloud view;
  plan::PlanRequest request;
  plan::PlannerOptions options;
  plan::Plan plan;
};

DecisionStore::DecisionStore(std::string directory, std::size_t keep, std::size_t max_queued)
    : directory_(std::move(directory)), keep_(keep), max_queued_(std::max<std::size_t>(1, max_queued)) {
  std::error_code error;
  fs::create_directories(directory_, error);
  if (error) throw std::runtime_error(fmt::format("cannot create {}: {}", directory_, error.message()));
  for (const auto& file : fs::directory_iterator(directory_, error)) {
    auto name = file.path().filename().string();
    if (name.ends_with(".tmp")) {  // a write a crash cut short
      std::error_code ignored;
      fs::remove(file.path(), ignored);
      continue;
    }
    auto parsed = parse_name(name);
    if (!parsed || !file.is_regular_file()) continue;
    entries_.push_back(entry_of(file.path(), parsed->first, std::move(parsed->second)));
  }
  if (error) throw std::runtime_error(fmt::format("cannot list {}: {}", directory_, error.message()));
  std::sort(entries_.begin(), entries_.end(),
            [](const DecisionEntry& a, const DecisionEntry& b) { return a.number < b.number; });
  if (!entries_.empty()) next_ = entries_.back().number + 1;
  {
    std::lock_guard lock(mutex_);
    prune();
  }
  writer_ = std::thread([this] { write_loop(); });
}

DecisionStore::~DecisionStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  writer_.join();
}

std::optional<DecisionEntry> DecisionStore::save(const plan::Decision& decision, const std::string& operation,
                                                 const std::vector<std::string>& hosts,
                                                 std::int64_t at_unix_ms) {
  if (keep_ == 0) return std::nullopt;
  {
    std::lock_guard lock(mutex_);
    if (queued_.size() >= max_queued_) {
      ++dropped_;
      failure_ = fmt::format("{} decision(s) dropped: {} were waiting to be written", dropped_, max_queued_);
      return std::nullopt;
    }
  }
  // The copy outside the lock (a big cloud's takes milliseconds).
  auto pending = std::make_unique<Pending>(Pending{{},
                                                   std::string(decision.engine),
                                                   std::string(decision.trigger),
                                                   decision.at_s,
                                                   decision.view,
                                                   decision.request,
                                                   decision.options,
                                                   decision.plan});
  auto& entry = pending->entry;
  entry.kind = pending->engine;
  entry.at_unix_ms = at_unix_ms;
  entry.operation = operation;
  entry.hosts = hosts;
  std::lock_guard lock(mutex_);
  entry.number = next_++;
  entry.file = fmt::format("decision-{:06}-{}.json", entry.number, entry.kind);
  DecisionEntry answer = entry;
  queued_.push_back(std::move(pending));
  ++queued_count_;
  work_.notify_one();
  return answer;
}

void DecisionStore::write_loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    work_.wait(lock, [this] { return stopping_ || !queued_.empty(); });
    if (queued_.empty()) return;  // stopping, everything written
    auto pending = std::move(queued_.front());
    queued_.pop_front();
    lock.unlock();
    write(*pending);
    lock.lock();
    ++written_count_;
    written_.notify_all();
  }
}

void DecisionStore::write(const Pending& pending) {
  const auto& entry = pending.entry;
  plan::Decision decision{pending.engine,  pending.trigger, pending.at_s, pending.view,
                          pending.request, pending.options, pending.plan};
  nlohmann::ordered_json out;
  auto inputs = plan::decision_json(decision);
  out["version"] = inputs["version"];
  out["number"] = entry.number;
  out["engine"] = inputs["engine"];
  out["trigger"] = inputs["trigger"];
  out["at_s"] = inputs["at_s"];
  out["at"] = rfc3339(entry.at_unix_ms);
  out["operation"] =
      entry.operation.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(entry.operation);
  out["hosts"] = entry.hosts;
  for (auto& [key, value] : inputs.items()) {
    if (!out.contains(key)) out[key] = std::move(value);
  }
  auto path = fs::path(directory_) / entry.file;
  auto temporary = path;
  temporary += ".tmp";
  std::string failure;
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file << out.dump(1) << "\n";
    file.close();
    if (!file) failure = "cannot write " + temporary.string();
  }
  std::error_code error;
  if (failure.empty()) {
    fs::rename(temporary, path, error);
    if (error) failure = fmt::format("cannot rename {}: {}", temporary.string(), error.message());
  }
  if (!failure.empty()) fs::remove(temporary, error);
  std::lock_guard lock(mutex_);
  if (!failure.empty()) {
    failure_ = failure;
    return;
  }
  entries_.push_back(entry);
  prune();
}

std::unique_lock<std::mutex> DecisionStore::caught_up(bool forever) const {
  std::unique_lock lock(mutex_);
  auto queued = queued_count_;
  auto done = [this, queued] { return written_count_ >= queued; };
  if (forever) {
    written_.wait(lock, done);
  } else {
    written_.wait_for(lock, std::chrono::seconds(2), done);
  }
  return lock;
}

void DecisionStore::flush() const {
  caught_up(/*forever=*/true);
}

void DecisionStore::prune() {
  if (keep_ == 0 || entries_.size() <= keep_) return;
  auto excess = entries_.size() - keep_;
  for (std::size_t i = 0; i < excess; ++i) {
    std::error_code error;
    fs::remove(fs::path(directory_) / entries_[i].file, error);
    if (error) failure_ = fmt::format("cannot remove {}: {}", entries_[i].file, error.message());
  }
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(excess));
}

std::vector<DecisionEntry> DecisionStore::list() const {
  auto lock = caught_up(/*forever=*/false);
  return entries_;
}

std::optional<std::string> DecisionStore::read(std::uint64_t number) const {
  std::string file;
  {
    auto lock = caught_up(/*forever=*/false);
    auto found = std::lower_bound(entries_.begin(), entries_.end(), number,
                                  [](const DecisionEntry& e, std::uint64_t n) { return e.number < n; });
    if (found == entries_.end() || found->number != number) return std::nullopt;
    file = found->file;
  }
  // Removed meanwhile (pruned): none.
  return read_text(fs::path(directory_) / file);
}

std::string DecisionStore::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

std::string DecisionStore::take_failure() {
  std::lock_guard lock(mutex_);
  return std::exchange(failure_, std::string());
}

std::uint64_t DecisionStore::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

json DecisionStore::to_json(const DecisionEntry& entry) {
  return {{"number", entry.number},
          {"kind", entry.kind},
          {"at", rfc3339(entry.at_unix_ms)},
          {"operation", entry.operation.empty() ? json(nullptr) : json(entry.operation)},
          {"hosts", entry.hosts}};
}

}  // namespace revive::daemon
