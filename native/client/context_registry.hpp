// The objects of one execution context that hold handlers themselves, not
// queued in the context: ~io_context does not destroy those as it destroys
// Asio's own pending handlers, so a handler holding its object's owner (a
// coroutine frame waiting in async_next, a session captured by its client's
// on_event) kept both alive, socket and all (Asio and API probes). At the
// context's shutdown this service calls `release` on every object still
// alive, which lets go of them.
#pragma once

#include <boost/asio/execution_context.hpp>
#include <list>
#include <memory>
#include <mutex>
#include <vector>

namespace ssekit::detail {

// T: std::enable_shared_from_this<T>; `release`: what the shutdown calls.
template <class T, void (T::*release)()>
class context_registry : public boost::asio::execution_context::service {
 public:
  static inline boost::asio::execution_context::id id;
  explicit context_registry(boost::asio::execution_context& context) : service(context) {}

  typename std::list<T*>::iterator add(T* object) {
    std::lock_guard lock(mutex_);
    return objects_.insert(objects_.end(), object);
  }
  void remove(typename std::list<T*>::iterator at) {
    std::lock_guard lock(mutex_);
    objects_.erase(at);
  }

 private:
  void shutdown() override {
    // Locked copies first: an object whose last owner is going away (its
    // destructor waits on mutex_ to remove itself) is skipped. What the
    // released handlers hold may destroy objects, so they go after the lock.
    std::vector<std::shared_ptr<T>> live;
    {
      std::lock_guard lock(mutex_);
      live.reserve(objects_.size());
      for (T* object : objects_) {
        if (auto held = object->weak_from_this().lock()) live.push_back(std::move(held));
      }
    }
    for (const auto& object : live) ((*object).*release)();
  }

  std::mutex mutex_;
  std::list<T*> objects_;
};

}  // namespace ssekit::detail
