// SPDX-License-Identifier: GPL-2.0

//! Eventfd contexts.
//!
//! An eventfd is a 64-bit counter that user space creates with `eventfd(2)` and hands to the
//! kernel by file descriptor, for the kernel to add to when something happens: a VFIO user's
//! interrupt (`VFIO_DEVICE_SET_IRQS`), a KVM irqfd. [`EventFd`] holds a reference to the
//! context behind such a descriptor; the descriptor itself may be closed afterwards.
//!
//! C header: [`include/linux/eventfd.h`](srctree/include/linux/eventfd.h)

use crate::{
    bindings,
    error::{code::EINVAL, from_err_ptr, Result},
};
use core::ptr::NonNull;

/// A reference to an eventfd context, taken from a file descriptor of the current process.
///
/// Dropping it drops the reference; the context goes when its last reference does.
///
/// # Invariants
///
/// `ctx` points to a valid `struct eventfd_ctx` on which this object holds one reference.
pub struct EventFd {
    ctx: NonNull<bindings::eventfd_ctx>,
}

// SAFETY: An eventfd context is not tied to the thread that looked it up: it may be
// signalled and its reference dropped from any thread.
unsafe impl Send for EventFd {}

// SAFETY: The only operation through a shared reference, `signal`, takes the context's
// wait-queue lock on the C side, so concurrent calls are safe.
unsafe impl Sync for EventFd {}

impl EventFd {
    /// Takes a reference to the eventfd context behind file descriptor `fd` of the current
    /// process.
    ///
    /// Fails with `EBADF` if `fd` is not an open descriptor and with `EINVAL` if it is not an
    /// eventfd.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{error::code::EBADF, eventfd::EventFd};
    ///
    /// assert_eq!(EventFd::from_fd(-1).err(), Some(EBADF));
    /// ```
    pub fn from_fd(fd: i32) -> Result<Self> {
        // SAFETY: `eventfd_ctx_fdget()` takes any integer and returns either a context with a
        // reference for the caller or an error pointer.
        let ctx = from_err_ptr(unsafe { bindings::eventfd_ctx_fdget(fd) })?;
        // INVARIANT: a pointer that is no error is a valid context with our reference.
        Ok(Self {
            ctx: NonNull::new(ctx).ok_or(EINVAL)?,
        })
    }

    /// Adds one to the counter and wakes up its readers and pollers.
    ///
    /// Callable from any context, hard interrupt handlers included.
    pub fn signal(&self) {
        // SAFETY: By the type invariant `ctx` is valid. A mask of 0 is `eventfd_signal()`.
        unsafe { bindings::eventfd_signal_mask(self.ctx.as_ptr(), 0) };
    }

    /// Returns the raw pointer to the context, for C code that signals it.
    ///
    /// The pointer is valid while `self` lives.
    pub fn as_raw(&self) -> *mut bindings::eventfd_ctx {
        self.ctx.as_ptr()
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `ctx` is valid and we hold a reference on it, which
        // is given up here.
        unsafe { bindings::eventfd_ctx_put(self.ctx.as_ptr()) };
    }
}
