// A scripted env::Fencer for detector tests: records every fence() call and lets the test answer it.
#pragma once

#include <map>
#include <vector>

#include "env/event_loop.h"
#include "env/fencer.h"

namespace revive::detect::testing {

class ScriptedFencer final : public env::Fencer {
 public:
  explicit ScriptedFencer(env::EventLoop& loop) : loop_(loop) {}
  void fence(model::HostIndex host, env::Completion done) override {
    calls.push_back(host);
    pending[host] = std::move(done);
  }
  void power_status(model::HostIndex,
                    std::function<void(const env::OperationResult&, env::PowerState)> done) override {
    loop_.post([done] { done(env::OperationResult::success(), env::PowerState::unknown); });
  }
  void host_recovered(model::HostIndex host) override { recovered.push_back(host); }
  // Answers the pending fence of `host` on the loop.
  void answer(model::HostIndex host, env::OperationResult result) {
    auto done = std::move(pending.at(host));
    pending.erase(host);
    loop_.post([done, result] { done(result); });
  }

  std::vector<model::HostIndex> calls;
  std::map<model::HostIndex, env::Completion> pending;
  std::vector<model::HostIndex> recovered;  // host_recovered() calls

 private:
  env::EventLoop& loop_;
};

}  // namespace revive::detect::testing
