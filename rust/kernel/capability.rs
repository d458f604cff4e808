// SPDX-License-Identifier: GPL-2.0

//! POSIX capabilities of the current task.
//!
//! C header: [`include/linux/capability.h`](srctree/include/linux/capability.h)

use crate::bindings;

/// A capability (`CAP_*`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cap(u32);

impl Cap {
    /// `CAP_SYS_RAWIO`: raw I/O, including DMA the kernel does not check.
    pub const SYS_RAWIO: Self = Self(bindings::CAP_SYS_RAWIO);
    /// `CAP_SYS_ADMIN`.
    pub const SYS_ADMIN: Self = Self(bindings::CAP_SYS_ADMIN);
}

/// Whether the current task has `cap` in its effective set, for the initial user namespace
/// (`capable()`); with `CONFIG_MULTIUSER`, records its use (`PF_SUPERPRIV`) when it does.
///
/// Without `CONFIG_MULTIUSER` every task has every capability, as in C.
pub fn capable(cap: Cap) -> bool {
    #[cfg(CONFIG_MULTIUSER)]
    {
        // SAFETY: `capable()` only reads the current task's credentials; any value is
        // checked.
        // CAST: capability numbers are below 64.
        unsafe { bindings::capable(cap.0 as crate::ffi::c_int) }
    }
    #[cfg(not(CONFIG_MULTIUSER))]
    {
        let _ = cap;
        true
    }
}
