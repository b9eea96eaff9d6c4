// ThreadSanitizer build only: tells TSan about absl::Mutex.
//
// Debian's Abseil is built without TSan, so its Mutex (futex-based, in libabsl_synchronization.so)
// is invisible to TSan: every access guarded by one looks like a data race (all of the
// scheduler's, for instance). This file, linked into the TSan test programs, interposes the Mutex
// entry points our code calls: each calls the real one (found with dlsym(RTLD_NEXT)) and marks the
// happens-before edge a mutex stands for: release before giving the lock up (Unlock, and Await,
// which gives it up while it waits), acquire after getting it, and both around every evaluation of
// a wait condition. Nothing is suppressed: a race on data not guarded by the same mutex is still
// reported.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"

namespace {

template <typename F>
F Real(const char* mangled) {
  void* f = dlsym(RTLD_NEXT, mangled);
  if (f == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex: %s not found in Abseil\n", mangled);
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

// A condition is evaluated under the mutex by whichever thread holds it, often not the waiter
// (Unlock evaluates waiters' conditions). Each evaluation is bracketed as a critical section of its
// own; the waiter publishes the condition (`Bracket` on its stack) before waiting.
struct Bracket {
  absl::Mutex* mu;
  const absl::Condition* condition;
};

bool EvalBracketed(Bracket* b) {
  __tsan_acquire(b);  // The pointer value itself needs no synchronisation.
  __tsan_acquire(b->mu);
  const bool result = b->condition->Eval();
  __tsan_release(b->mu);
  return result;
}

// The inline namespace of Debian's Abseil 20220623 is "debian3".
using Plain = void (*)(absl::Mutex*);
using Try = bool (*)(absl::Mutex*);
using WithCondition = void (*)(absl::Mutex*, const absl::Condition&);

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static const Plain real = Real<Plain>("_ZN4absl7debian35Mutex4LockEv");
  real(this);
  __tsan_acquire(this);
}

bool Mutex::TryLock() {
  static const Try real = Real<Try>("_ZN4absl7debian35Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

void Mutex::Unlock() {
  static const Plain real = Real<Plain>("_ZN4absl7debian35Mutex6UnlockEv");
  __tsan_release(this);
  real(this);
}

void Mutex::ReaderLock() {
  static const Plain real = Real<Plain>("_ZN4absl7debian35Mutex10ReaderLockEv");
  real(this);
  __tsan_acquire(this);
}

void Mutex::ReaderUnlock() {
  static const Plain real = Real<Plain>("_ZN4absl7debian35Mutex12ReaderUnlockEv");
  __tsan_release(this);
  real(this);
}

void Mutex::Await(const Condition& condition) {
  static const WithCondition real =
      Real<WithCondition>("_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  Bracket bracket{this, &condition};
  __tsan_release(&bracket);
  __tsan_release(this);
  real(this, Condition(&EvalBracketed, &bracket));
  __tsan_acquire(this);
}

void Mutex::LockWhen(const Condition& condition) {
  static const WithCondition real =
      Real<WithCondition>("_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  Bracket bracket{this, &condition};
  __tsan_release(&bracket);
  real(this, Condition(&EvalBracketed, &bracket));
  __tsan_acquire(this);
}

ABSL_NAMESPACE_END
}  // namespace absl
