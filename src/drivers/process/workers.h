// Workers: one thread per blocking call (an external command, a socket wait), joined when finished or at
// destruction. Drivers use it to keep blocking work off the engine's EventLoop; results go back through
// EventLoop::post. Thread-safety: run() may be called from any thread; the destructor waits for every call.
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

namespace revive::drivers {

class Workers {
 public:
  Workers() = default;
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;
  ~Workers() { join_all(); }

  void run(std::function<void()> work) {
    std::lock_guard lock(mutex_);
    reap_locked();
    auto slot = std::make_shared<Slot>();
    slot->thread = std::thread([slot, work = std::move(work)] {
      work();
      slot->finished = true;
    });
    slots_.push_back(slot);
  }

  void join_all() {
    std::list<std::shared_ptr<Slot>> slots;
    {
      std::lock_guard lock(mutex_);
      slots.swap(slots_);
    }
    for (auto& slot : slots) {
      if (slot->thread.joinable()) slot->thread.join();
    }
  }

 private:
  struct Slot {
    std::thread thread;
    std::atomic<bool> finished{false};
  };
  void reap_locked() {
    for (auto it = slots_.begin(); it != slots_.end();) {
      if ((*it)->finished) {
        (*it)->thread.join();
        it = slots_.erase(it);
      } else {
        ++it;
      }
    }
  }
  std::mutex mutex_;
  std::list<std::shared_ptr<Slot>> slots_;
};

}  // namespace revive::drivers
