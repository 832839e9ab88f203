// ThreadSanitizer support for Debian's (uninstrumented) Abseil.
//
// libabsl_synchronization.so is built without -fsanitize=thread, so TSan
// does not see absl::Mutex, CondVar, Notification, BlockingCounter or
// Barrier order anything, and every structure guarded by them would show
// false races. This file, linked only into the TSan build's test binaries
// (cmake/TesseraTest.cmake), defines the exported member functions itself:
// each forwards to the real one (dlsym(RTLD_NEXT, mangled name)) and tells
// TSan the happens-before edge it implies (__tsan_acquire / __tsan_release
// on the object's address). The executable's definitions interpose the
// library's for every caller, gRPC included.
//
// Mangled names are those of Abseil 20220623 as Debian builds it (inline
// namespace absl::debian3); `nm -D libabsl_synchronization.so` lists them.
// A name that does not resolve aborts at first use with a message.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/barrier.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

void* Real(const char* mangled) {
  void* fn = dlsym(RTLD_NEXT, mangled);
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s not found in the loaded Abseil\n", mangled);
    std::abort();
  }
  return fn;
}

#define TESSERA_REAL(type, mangled)                                        \
  static const auto real = reinterpret_cast<type>(Real(mangled))

// Notification's layout (mutable Mutex mutex_; std::atomic<bool>
// notified_yet_): HasBeenNotified() is an inline acquire load of
// notified_yet_, so Notify releases on that address too.
struct NotificationLayout {
  absl::Mutex mutex;
  std::atomic<bool> notified_yet;
};
static_assert(sizeof(NotificationLayout) == sizeof(absl::Notification));

void* NotifiedFlag(absl::Notification* n) {
  return reinterpret_cast<char*>(n) + offsetof(NotificationLayout, notified_yet);
}

// A Condition is evaluated with the mutex held, but inside the library:
// in the waiting thread before Await / LockWhen return, or in a thread
// that is unlocking. The wrapper orders each evaluation after the
// mutex's last release and before its next acquire.
struct GuardedCondition {
  const absl::Condition* condition;
  absl::Mutex* mu;
};

bool EvalGuarded(void* arg) {
  auto* guarded = static_cast<GuardedCondition*>(arg);
  __tsan_acquire(guarded->mu);
  const bool result = guarded->condition->Eval();
  __tsan_release(guarded->mu);
  return result;
}

}  // namespace

#define TESSERA_GUARD(cond)                         \
  GuardedCondition guarded_arg{&(cond), this};      \
  const Condition guarded(&EvalGuarded, &guarded_arg)

namespace absl {

// ---- Mutex: acquire after every lock, release before every unlock.
void Mutex::Lock() {
  TESSERA_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex4LockEv");
  real(this);
  __tsan_acquire(this);
}
void Mutex::ReaderLock() {
  TESSERA_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex10ReaderLockEv");
  real(this);
  __tsan_acquire(this);
}
bool Mutex::TryLock() {
  TESSERA_REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex7TryLockEv");
  bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}
bool Mutex::ReaderTryLock() {
  TESSERA_REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}
void Mutex::Unlock() {
  TESSERA_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex6UnlockEv");
  __tsan_release(this);
  real(this);
}
void Mutex::ReaderUnlock() {
  TESSERA_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  __tsan_release(this);
  real(this);
}
void Mutex::LockWhen(const Condition& cond) {
  TESSERA_REAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  TESSERA_GUARD(cond);
  real(this, guarded);
  __tsan_acquire(this);
}
void Mutex::ReaderLockWhen(const Condition& cond) {
  TESSERA_REAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  TESSERA_GUARD(cond);
  real(this, guarded);
  __tsan_acquire(this);
}
bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  TESSERA_REAL(bool (*)(Mutex*, const Condition&, Duration),
               "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  TESSERA_GUARD(cond);
  bool ok = real(this, guarded, timeout);
  __tsan_acquire(this);
  return ok;
}
bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  TESSERA_REAL(bool (*)(Mutex*, const Condition&, Duration),
               "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  TESSERA_GUARD(cond);
  bool ok = real(this, guarded, timeout);
  __tsan_acquire(this);
  return ok;
}
bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  TESSERA_REAL(bool (*)(Mutex*, const Condition&, Time),
               "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  TESSERA_GUARD(cond);
  bool ok = real(this, guarded, deadline);
  __tsan_acquire(this);
  return ok;
}
bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  TESSERA_REAL(bool (*)(Mutex*, const Condition&, Time),
               "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  TESSERA_GUARD(cond);
  bool ok = real(this, guarded, deadline);
  __tsan_acquire(this);
  return ok;
}
// Await* release the mutex while waiting and hold it again on return.
void Mutex::Await(const Condition& cond) {
  TESSERA_REAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  TESSERA_GUARD(cond);
  __tsan_release(this);
  real(this, guarded);
  __tsan_acquire(this);
}
bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  TESSERA_REAL(bool (*)(Mutex*, const Condition&, Duration),
               "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  TESSERA_GUARD(cond);
  __tsan_release(this);
  bool ok = real(this, guarded, timeout);
  __tsan_acquire(this);
  return ok;
}
bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  TESSERA_REAL(bool (*)(Mutex*, const Condition&, Time),
               "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  TESSERA_GUARD(cond);
  __tsan_release(this);
  bool ok = real(this, guarded, deadline);
  __tsan_acquire(this);
  return ok;
}

// ---- CondVar: the wait releases `mu` and holds it again on return.
void CondVar::Wait(Mutex* mu) {
  TESSERA_REAL(void (*)(CondVar*, Mutex*), "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  __tsan_release(mu);
  real(this, mu);
  __tsan_acquire(mu);
}
bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  TESSERA_REAL(bool (*)(CondVar*, Mutex*, Duration),
               "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  __tsan_release(mu);
  bool timed_out = real(this, mu, timeout);
  __tsan_acquire(mu);
  return timed_out;
}
bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  TESSERA_REAL(bool (*)(CondVar*, Mutex*, Time),
               "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  __tsan_release(mu);
  bool timed_out = real(this, mu, deadline);
  __tsan_acquire(mu);
  return timed_out;
}

// ---- Notification: Notify happens before every wait that returns true.
void Notification::Notify() {
  TESSERA_REAL(void (*)(Notification*), "_ZN4absl7debian312Notification6NotifyEv");
  __tsan_release(this);
  __tsan_release(NotifiedFlag(this));
  real(this);
}
void Notification::WaitForNotification() const {
  TESSERA_REAL(void (*)(const Notification*), "_ZNK4absl7debian312Notification19WaitForNotificationEv");
  real(this);
  __tsan_acquire(const_cast<Notification*>(this));
}
bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  TESSERA_REAL(bool (*)(const Notification*, Duration),
               "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  bool notified = real(this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}
bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  TESSERA_REAL(bool (*)(const Notification*, Time),
               "_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  bool notified = real(this, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

// ---- BlockingCounter and Barrier: every arrival happens before the release.
bool BlockingCounter::DecrementCount() {
  TESSERA_REAL(bool (*)(BlockingCounter*), "_ZN4absl7debian315BlockingCounter14DecrementCountEv");
  __tsan_release(this);
  bool zero = real(this);
  if (zero) __tsan_acquire(this);
  return zero;
}
void BlockingCounter::Wait() {
  TESSERA_REAL(void (*)(BlockingCounter*), "_ZN4absl7debian315BlockingCounter4WaitEv");
  real(this);
  __tsan_acquire(this);
}
bool Barrier::Block() {
  TESSERA_REAL(bool (*)(Barrier*), "_ZN4absl7debian37Barrier5BlockEv");
  __tsan_release(this);
  bool last = real(this);
  __tsan_acquire(this);
  return last;
}

}  // namespace absl
