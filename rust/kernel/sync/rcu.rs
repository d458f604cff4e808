// SPDX-License-Identifier: GPL-2.0

//! RCU support.
//!
//! C header: [`include/linux/rcupdate.h`](srctree/include/linux/rcupdate.h)

use crate::bindings;
use core::marker::PhantomData;

/// An RCU read-side critical section, held while the guard lives.
///
/// The guard is neither `Send` nor `Sync`: the critical section must end on the CPU and in the
/// context that began it.
///
/// # Invariants
///
/// The RCU read lock is held from the creation of the guard until it is dropped.
#[must_use = "the RCU read-side critical section ends when the guard is dropped"]
pub struct Guard(PhantomData<*mut ()>);

impl Guard {
    /// Enters an RCU read-side critical section (`rcu_read_lock()`).
    pub fn new() -> Self {
        // SAFETY: An FFI call with no additional requirements.
        unsafe { bindings::rcu_read_lock() };
        // INVARIANT: The RCU read lock was acquired above.
        Self(PhantomData)
    }

    /// Leaves the critical section explicitly; the same as dropping the guard.
    pub fn unlock(self) {}
}

impl Default for Guard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: By the type invariants, the RCU read lock is held.
        unsafe { bindings::rcu_read_unlock() };
    }
}

/// Enters an RCU read-side critical section; it ends when the returned guard is dropped.
pub fn read_lock() -> Guard {
    Guard::new()
}

/// Waits for every RCU read-side critical section that began before the call to end
/// (`synchronize_rcu()`). Might sleep.
pub fn synchronize() {
    // SAFETY: An FFI call with no additional requirements; like every function that might
    // sleep, it must be called from process context, which is the caller's responsibility as
    // for any sleeping kernel function.
    unsafe { bindings::synchronize_rcu() };
}
