// GraphCache: graphs are cached per shape bucket. A model builds one executor per
// distinct shape key (e.g. {n_tokens bucket, n_kv bucket}) and re-runs it with new
// input data; this small LRU keeps the last `capacity` of them.
// Thread-safety: not thread-safe; one per session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <utility>

namespace nm {

template <class Value, class Key = uint64_t>
class GraphCache {
 public:
  explicit GraphCache(size_t capacity = 8) : capacity_(capacity < 1 ? 1 : capacity) {}

  // nullptr if absent; a hit becomes the most recently used.
  Value* find(const Key& key) {
    for (auto it = items_.begin(); it != items_.end(); ++it) {
      if (it->first == key) {
        items_.splice(items_.begin(), items_, it);
        return items_.front().second.get();
      }
    }
    return nullptr;
  }

  // Stores (replacing any entry with this key), evicting the least recently used.
  Value* insert(const Key& key, std::unique_ptr<Value> value) {
    items_.remove_if([&](const auto& kv) { return kv.first == key; });
    items_.emplace_front(key, std::move(value));
    while (items_.size() > capacity_) items_.pop_back();
    return items_.front().second.get();
  }

  size_t size() const { return items_.size(); }
  void clear() { items_.clear(); }

 private:
  size_t capacity_;
  std::list<std::pair<Key, std::unique_ptr<Value>>> items_;  // most recent first
};

}  // namespace nm
