// Clang thread-safety annotations and the annotated mutexes they need.
//
// clang's -Wthread-safety checks at compile time that a field marked
// GUARDED_BY(mu_) is only touched with mu_ held and that a function marked
// REQUIRES(mu_) is only called with it held. It can only follow mutexes whose
// lock and unlock functions carry the attributes, and libstdc++'s
// std::mutex / std::shared_mutex carry none: hence Mutex and SharedMutex
// below, thin wrappers with the same cost, and their scoped guards
// MutexLock, WriterLock and ReaderLock. The TSan build (`make tsan`, clang)
// compiles with -Wthread-safety -Werror; under GCC every macro expands to
// nothing and the wrappers are plain mutexes.
//
// Thread safety: Mutex and SharedMutex are thread-safe (they are the locks);
// a MutexLock, WriterLock or ReaderLock belongs to the thread that made it.
#pragma once

#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define LIVEHUB_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define LIVEHUB_THREAD_ANNOTATION(x)
#endif

// A class that is a lock ("mutex", "shared_mutex": the name shows in warnings).
#define CAPABILITY(x) LIVEHUB_THREAD_ANNOTATION(capability(x))
// A class whose object holds a lock for its lifetime (RAII guard).
#define SCOPED_CAPABILITY LIVEHUB_THREAD_ANNOTATION(scoped_lockable)
// The field may be read or written only with the lock held (shared: read only).
#define GUARDED_BY(x) LIVEHUB_THREAD_ANNOTATION(guarded_by(x))
// The pointer may change freely; what it points to needs the lock.
#define PT_GUARDED_BY(x) LIVEHUB_THREAD_ANNOTATION(pt_guarded_by(x))
// The caller must hold the lock(s), exclusively / at least shared.
#define REQUIRES(...) LIVEHUB_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) LIVEHUB_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
// The function takes / gives back the lock(s) (no argument: `this`).
#define ACQUIRE(...) LIVEHUB_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) LIVEHUB_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) LIVEHUB_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) LIVEHUB_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
// The function takes the lock only when it returns `success`.
#define TRY_ACQUIRE(...) LIVEHUB_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// The caller must not hold the lock(s) (the function takes them, or must
// not be called under them).
#define EXCLUDES(...) LIVEHUB_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// The function returns a reference to the lock `x` (an accessor).
#define RETURN_CAPABILITY(x) LIVEHUB_THREAD_ANNOTATION(lock_returned(x))
// Turns the analysis off for one function. Always say why on the line above.
#define NO_THREAD_SAFETY_ANALYSIS LIVEHUB_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace livehub {

// std::mutex with annotated Lock/Unlock/TryLock. Lock it with a MutexLock;
// wait on a std::condition_variable_any with that MutexLock.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  // Returns true (and holds the lock) if it was free.
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  std::mutex mu_;
};

// std::shared_mutex: one writer (Lock) or any number of readers (ReaderLock).
class CAPABILITY("shared_mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  void ReaderLock() ACQUIRE_SHARED() { mu_.lock_shared(); }
  void ReaderUnlock() RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds a Mutex from construction to destruction, like std::lock_guard.
// unlock()/lock() let go of it and take it back within the scope (for a slow
// call that must not run under the lock), and make a MutexLock a
// BasicLockable that std::condition_variable_any can wait on: the wait
// unlocks it and locks it again before returning, so after the wait the
// analysis rightly still sees the lock held.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_.Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void unlock() RELEASE() {
    mu_.Unlock();
    held_ = false;
  }
  void lock() ACQUIRE() {
    mu_.Lock();
    held_ = true;
  }

 private:
  Mutex& mu_;
  bool held_ = true;
};

// Holds a SharedMutex exclusively for its lifetime.
class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~WriterLock() RELEASE() { mu_.Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mu_;
};

// Holds a SharedMutex shared (readers only) for its lifetime.
class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_.ReaderLock(); }
  ~ReaderLock() RELEASE() { mu_.ReaderUnlock(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mu_;
};

}  // namespace livehub
