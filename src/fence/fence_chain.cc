#include "fence/fence_chain.h"

#include <stdexcept>

namespace revive::fence {

struct FenceChain::Run {
  model::HostIndex host = model::kNoIndex;
  std::vector<std::string> levels;
  std::size_t next = 0;
  env::Completion done;
  FenceReport report;
  std::uint64_t level_serial = 0;  // which level's answer is awaited
  env::TimerId timeout = 0;
};

FenceChain::FenceChain(env::EventLoop& loop, double level_timeout_s)
    : loop_(loop), level_timeout_s_(level_timeout_s) {}

FenceChain::~FenceChain() {
  *alive_ = false;
}

void FenceChain::add_level(std::string name, env::Fencer& fencer) {
  fencers_[std::move(name)] = &fencer;
}

void FenceChain::check_names(const std::vector<std::string>& names) const {
  for (const auto& name : names) {
    if (!fencers_.contains(name)) throw std::invalid_argument("unknown fence level '" + name + "'");
  }
}

void FenceChain::set_default_levels(std::vector<std::string> names) {
  check_names(names);
  default_levels_ = std::move(names);
}

void FenceChain::set_host_levels(model::HostIndex host, std::vector<std::string> names) {
  check_names(names);
  host_levels_[host] = std::move(names);
}

const std::vector<std::string>& FenceChain::levels_for(model::HostIndex host) const {
  auto found = host_levels_.find(host);
  return found != host_levels_.end() ? found->second : default_levels_;
}

void FenceChain::forget_permanent_failures(model::HostIndex host) {
  permanent_failures_.erase(host);
}

void FenceChain::fence(model::HostIndex host, env::Completion done) {
  auto run = std::make_shared<Run>();
  run->host = host;
  run->levels = levels_for(host);
  run->done = std::move(done);
  run->report.host = host;
  std::weak_ptr<bool> alive = alive_;
  loop_.post([this, alive, run] {
    if (alive.expired()) return;
    run_level(run);
  });
}

void FenceChain::run_level(std::shared_ptr<Run> run) {
  auto& failed_for_good = permanent_failures_[run->host];
  while (run->next < run->levels.size()) {
    const auto& name = run->levels[run->next];
    auto known = failed_for_good.find(name);
    if (known == failed_for_good.end()) break;
    LevelAttempt skipped;
    skipped.level = name;
    skipped.skipped = true;
    skipped.permanent = true;
    skipped.error = known->second;
    skipped.started_s = skipped.finished_s = loop_.now_s();
    run->report.attempts.push_back(std::move(skipped));
    ++run->next;
  }
  if (run->next >= run->levels.size()) {
    env::OperationResult result;
    result.ok = false;
    if (run->levels.empty()) {
      result.error = "no fence level configured";
      result.permanent = true;
    } else {
      bool all_permanent = true;
      for (const auto& attempt : run->report.attempts) {
        if (!result.error.empty()) result.error += "; ";
        result.error += attempt.level + ": " + attempt.error;
        all_permanent = all_permanent && attempt.permanent;
      }
      result.permanent = all_permanent;
    }
    if (observer_) observer_(run->report);
    run->done(result);
    return;
  }
  const std::string name = run->levels[run->next];
  env::Fencer* fencer = fencers_.at(name);
  std::uint64_t serial = ++run->level_serial;
  double started = loop_.now_s();
  std::weak_ptr<bool> alive = alive_;
  auto finish = [this, alive, run, serial, name, started](const env::OperationResult& result) {
    if (alive.expired() || run->level_serial != serial) return;
    ++run->level_serial;  // later answers for this level are ignored
    loop_.cancel(run->timeout);
    LevelAttempt attempt;
    attempt.level = name;
    attempt.ok = result.ok;
    attempt.error = result.error;
    attempt.permanent = result.permanent;
    attempt.started_s = started;
    attempt.finished_s = loop_.now_s();
    run->report.attempts.push_back(attempt);
    if (result.ok) {
      run->report.ok = true;
      run->report.level = name;
      if (observer_) observer_(run->report);
      run->done(env::OperationResult::success());
      return;
    }
    if (result.permanent) permanent_failures_[run->host][name] = result.error;
    ++run->next;
    run_level(run);
  };
  run->timeout = loop_.schedule_after(level_timeout_s_, [finish, timeout = level_timeout_s_] {
    finish(env::OperationResult::failure("no answer within " + std::to_string(static_cast<int>(timeout)) +
                                         " s"));
  });
  fencer->fence(run->host, finish);
}

void FenceChain::host_recovered(model::HostIndex host) {
  std::set<env::Fencer*> told;
  for (auto& [name, fencer] : fencers_) {
    if (told.insert(fencer).second) fencer->host_recovered(host);
  }
}

void FenceChain::power_status(model::HostIndex host,
                              std::function<void(const env::OperationResult&, env::PowerState)> done) {
  status_from(host, 0, std::move(done));
}

void FenceChain::status_from(model::HostIndex host, std::size_t index,
                             std::function<void(const env::OperationResult&, env::PowerState)> done) {
  const auto& levels = levels_for(host);
  if (index >= levels.size()) {
    loop_.post([done] {
      done(env::OperationResult::failure("no level knows the power state"), env::PowerState::unknown);
    });
    return;
  }
  std::weak_ptr<bool> alive = alive_;
  fencers_.at(levels[index])
      ->power_status(
          host, [this, alive, host, index, done](const env::OperationResult& result, env::PowerState state) {
            if (alive.expired()) return;
            if (result.ok && state != env::PowerState::unknown) {
              done(result, state);
              return;
            }
            status_from(host, index + 1, done);
          });
}

}  // namespace revive::fence
