// SPDX-License-Identifier: GPL-2.0

//! Revocable objects.
//!
//! The [`Revocable`] type wraps other types and allows access to them to be revoked. The existence
//! of a [`RevocableGuard`] ensures that objects remain valid.

use crate::{init, prelude::*, sync::rcu, types::Opaque};
use core::{
    marker::PhantomData,
    ops::Deref,
    ptr::{addr_of, addr_of_mut, drop_in_place},
    sync::atomic::{AtomicBool, Ordering},
};

/// An object that can become inaccessible at runtime.
///
/// Once access is revoked and all concurrent users complete (i.e., all existing instances of
/// [`RevocableGuard`] are dropped), the wrapped object is also dropped.
///
/// Access is protected by RCU: readers are cheap and may run in any context, including hard
/// interrupt handlers; [`Revocable::revoke`] waits for an RCU grace period and therefore sleeps.
///
/// # Invariants
///
/// - `data` is initialized while `is_available` is `true`.
/// - `data` is dropped exactly once, by whoever changes `is_available` from `true` to `false`
///   (or by `drop` if nobody did), and only after every RCU reader that could have seen `true`
///   has finished.
///
/// # Examples
///
/// ```
/// use kernel::revocable::Revocable;
///
/// struct Example {
///     a: u32,
///     b: u32,
/// }
///
/// fn add_two(v: &Revocable<Example>) -> Option<u32> {
///     let guard = v.try_access()?;
///     Some(guard.a + guard.b)
/// }
///
/// let v = KBox::pin_init(Revocable::new::<Error>(Example { a: 10, b: 20 }), GFP_KERNEL)?;
/// assert_eq!(add_two(&v), Some(30));
/// assert!(v.revoke());
/// assert_eq!(add_two(&v), None);
/// assert!(!v.revoke());
/// # Ok::<(), Error>(())
/// ```
#[pin_data(PinnedDrop)]
pub struct Revocable<T> {
    is_available: AtomicBool,
    #[pin]
    data: Opaque<T>,
}

// SAFETY: `Revocable` is `Send` if the wrapped object is also `Send`. This is because while the
// functionality exposed by `Revocable` can be accessed from any thread/CPU, it is possible that
// this isn't supported by the wrapped object.
unsafe impl<T: Send> Send for Revocable<T> {}

// SAFETY: `Revocable` is `Sync` if the wrapped object is both `Send` and `Sync`. We require `Send`
// from the wrapped object as well because of `Revocable::revoke`, which can trigger a call to
// `drop` on the wrapped object from any thread.
unsafe impl<T: Sync + Send> Sync for Revocable<T> {}

impl<T> Revocable<T> {
    /// Creates a new revocable instance of the given data.
    pub fn new<E>(data: impl PinInit<T, E>) -> impl PinInit<Self, E> {
        let init = move |slot: *mut Self| {
            // SAFETY: `slot` is valid for writes (guaranteed by `pin_init_from_closure`).
            let data_slot = Opaque::raw_get(unsafe { addr_of!((*slot).data) });
            // SAFETY: `data_slot` is valid for writes and pinned, since it is part of `slot`.
            unsafe { data.__pinned_init(data_slot) }?;
            // SAFETY: `slot` is valid for writes.
            unsafe { addr_of_mut!((*slot).is_available).write(AtomicBool::new(true)) };
            // INVARIANT: `data` is initialized and `is_available` is `true`.
            Ok(())
        };

        // SAFETY: On success the closure initializes every field; on failure `data` is left
        // uninitialized by its initializer and nothing else was written.
        unsafe { init::pin_init_from_closure(init) }
    }

    /// Tries to access the wrapped object.
    ///
    /// Returns `None` if the object has been revoked and is therefore no longer accessible.
    ///
    /// Returns a guard that gives access to the object otherwise; the object is guaranteed to
    /// remain accessible while the guard is alive. In such cases, callers are not allowed to sleep
    /// because another CPU may be waiting to complete the revocation of this object.
    pub fn try_access(&self) -> Option<RevocableGuard<'_, T>> {
        let guard = rcu::read_lock();
        if self.is_available.load(Ordering::Relaxed) {
            // Since `self.is_available` is true, data is initialised and has to remain valid
            // because the RCU read side lock prevents it from being dropped.
            Some(RevocableGuard::new(self.data.get(), guard))
        } else {
            None
        }
    }

    /// Tries to access the wrapped object within the RCU read-side critical section `guard`.
    ///
    /// Returns `None` if the object has been revoked. The returned reference cannot outlive the
    /// critical section.
    pub fn try_access_with_guard<'a>(&'a self, _guard: &'a rcu::Guard) -> Option<&'a T> {
        if self.is_available.load(Ordering::Relaxed) {
            // SAFETY: Since `self.is_available` is true, data is initialised and has to remain
            // valid because the RCU read side lock prevents it from being dropped.
            Some(unsafe { &*self.data.get() })
        } else {
            None
        }
    }

    /// Returns whether the wrapped object is still accessible.
    ///
    /// The answer may be stale by the time the caller looks at it.
    pub fn is_available(&self) -> bool {
        self.is_available.load(Ordering::Relaxed)
    }

    /// Revokes access to and drops the wrapped object.
    ///
    /// Access to the object is revoked immediately to new callers of [`Revocable::try_access`],
    /// then this waits for the RCU grace period that lets existing readers finish, and drops the
    /// object. It might sleep.
    ///
    /// Returns `true` if this call revoked the object, `false` if it was revoked already (possibly
    /// by a concurrent caller, which then drops it).
    pub fn revoke(&self) -> bool {
        let revoke = self.is_available.swap(false, Ordering::Relaxed);

        if revoke {
            rcu::synchronize();

            // SAFETY: We know `self.data` is valid because only one CPU can succeed the
            // `swap` above that takes `is_available` from `true` to `false`, and no RCU reader
            // that saw `true` is left after the grace period.
            unsafe { drop_in_place(self.data.get()) };
        }

        revoke
    }
}

#[pinned_drop]
impl<T> PinnedDrop for Revocable<T> {
    fn drop(self: Pin<&mut Self>) {
        // Drop only if the data hasn't been revoked yet (in which case it has already been
        // dropped).
        // SAFETY: We are not moving out of `p`, only dropping in place.
        let p = unsafe { self.get_unchecked_mut() };
        if *p.is_available.get_mut() {
            // SAFETY: We know `self.data` is valid because no other CPU has changed
            // `is_available` to `false` yet, and no other CPU can do it anymore because this CPU
            // holds the only reference (mutable) to `self` now.
            unsafe { drop_in_place(p.data.get()) };
        }
    }
}

/// A guard that allows access to a revocable object and keeps it alive.
///
/// CPUs may not sleep while holding on to [`RevocableGuard`] because it's in atomic context
/// holding the RCU read-side lock.
///
/// # Invariants
///
/// The RCU read-side lock is held while the guard is alive, and `data_ref` points to an
/// initialized object that is not dropped before the lock is released.
pub struct RevocableGuard<'a, T> {
    data_ref: *const T,
    _rcu_guard: rcu::Guard,
    _p: PhantomData<&'a ()>,
}

impl<T> RevocableGuard<'_, T> {
    fn new(data_ref: *const T, rcu_guard: rcu::Guard) -> Self {
        Self {
            data_ref,
            _rcu_guard: rcu_guard,
            _p: PhantomData,
        }
    }
}

impl<T> Deref for RevocableGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &Self::Target {
        // SAFETY: By the type invariants, we hold the rcu read-side lock, so the object is
        // guaranteed to remain valid.
        unsafe { &*self.data_ref }
    }
}
