// A map from short keys of 32-bit words to 32-bit values, for the placement engine's caches of candidate
// sets (src/plan/placement_engine.h): open addressing over one array of slots, the keys' words in one pool,
// so that a lookup reads one slot and, on a hash match, one key (a node-based map of vector keys costs a
// bucket, a node and the key's own allocation, each a cache miss once it outgrows the cache, and rehashing
// walks every node). No erasure. Thread-safety: none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace revive::plan {

class WordKeyMap {
 public:
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

  // The value stored for `key` (`size` words), or kNone.
  std::uint32_t find(const std::uint32_t* key, std::size_t size) const {
    if (slots_.empty()) return kNone;
    const std::uint64_t hash = hash_of(key, size);
    for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.value == kNone) return kNone;
      if (slot.hash == hash && same(slot, key, size)) return slot.value;
    }
  }
  // Stores `value` (not kNone) for `key`, which is not in the map yet.
  void insert(const std::uint32_t* key, std::size_t size, std::uint32_t value) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    Slot slot{hash_of(key, size), static_cast<std::uint32_t>(words_.size()), static_cast<std::uint32_t>(size),
              value};
    words_.insert(words_.end(), key, key + size);
    place(slot);
    ++count_;
  }
  std::size_t size() const { return count_; }
  void clear() {
    slots_.clear();
    words_.clear();
    count_ = 0;
    mask_ = 0;
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t offset = 0, size = 0;  // the key: words_[offset, offset + size)
    std::uint32_t value = kNone;         // kNone: an empty slot
  };
  static std::uint64_t hash_of(const std::uint32_t* key, std::size_t size) {
    std::uint64_t hash =
        1469598103934665603ull;  // FNV-1a over the words, then mixed (the slot is the low bits)
    for (std::size_t i = 0; i < size; ++i) hash = (hash ^ key[i]) * 1099511628211ull;
    hash ^= hash >> 29;
    hash *= 0xbf58476d1ce4e5b9ull;
    return hash ^ (hash >> 32);
  }
  bool same(const Slot& slot, const std::uint32_t* key, std::size_t size) const {
    return slot.size == size && std::memcmp(words_.data() + slot.offset, key, size * sizeof *key) == 0;
  }
  void place(const Slot& slot) {
    std::size_t i = slot.hash & mask_;
    while (slots_[i].value != kNone) i = (i + 1) & mask_;
    slots_[i] = slot;
  }
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 64 : 2 * old.size(), Slot{});
    mask_ = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.value != kNone) place(slot);
    }
  }

  std::vector<Slot> slots_;  // a power of two of them, at most half full
  std::vector<std::uint32_t> words_;
  std::size_t count_ = 0;
  std::size_t mask_ = 0;
};

}  // namespace revive::plan
