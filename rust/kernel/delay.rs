// SPDX-License-Identifier: GPL-2.0

//! Delays and sleeps.
//!
//! C header: [`include/linux/delay.h`](srctree/include/linux/delay.h)

use crate::bindings;

/// Sleeps for at least `msecs` milliseconds (`msleep()`).
///
/// Must be called from process context: it sleeps.
pub fn msleep(msecs: u32) {
    // SAFETY: An FFI call with no additional requirements beyond being allowed to sleep, which
    // is the caller's duty as for any sleeping function.
    unsafe { bindings::msleep(msecs) };
}
