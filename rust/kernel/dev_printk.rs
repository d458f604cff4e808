// SPDX-License-Identifier: GPL-2.0

//! Printing messages about a device: [`dev_err!`](crate::dev_err) and friends.
//!
//! The message is prefixed with the driver and device names, as `dev_err()` does in C.
//!
//! C header: [`include/linux/dev_printk.h`](srctree/include/linux/dev_printk.h)

use crate::{bindings, c_str, device::Device};
use core::fmt;

/// Prints `msg` about `dev` at log level `level` (one of the `bindings::KERN_*` strings).
///
/// Public only for the macros of this module.
#[doc(hidden)]
pub fn printk(level: &'static [u8; 3], dev: &Device, msg: fmt::Arguments<'_>) {
    // SAFETY:
    // - `level` is a NUL-terminated `KERN_*` string,
    // - `dev` is a valid device,
    // - `%pA` prints the `fmt::Arguments` the pointer refers to, which outlives the call.
    unsafe {
        bindings::_dev_printk(
            level.as_ptr().cast(),
            dev.as_raw(),
            c_str!("%pA").as_char_ptr(),
            core::ptr::from_ref(&msg).cast::<crate::ffi::c_void>(),
        )
    };
}

/// Prints an error message about a device (`dev_err()`).
///
/// # Examples
///
/// ```
/// # use kernel::device::Device;
/// fn report(dev: &Device, errno: i32) {
///     kernel::dev_err!(dev, "command failed: {}\n", errno);
/// }
/// ```
#[macro_export]
macro_rules! dev_err {
    ($dev:expr, $($arg:tt)*) => {
        $crate::dev_printk::printk(
            $crate::bindings::KERN_ERR,
            ::core::convert::AsRef::<$crate::device::Device>::as_ref($dev),
            ::core::format_args!($($arg)*),
        )
    };
}

/// Prints a warning about a device (`dev_warn()`).
#[macro_export]
macro_rules! dev_warn {
    ($dev:expr, $($arg:tt)*) => {
        $crate::dev_printk::printk(
            $crate::bindings::KERN_WARNING,
            ::core::convert::AsRef::<$crate::device::Device>::as_ref($dev),
            ::core::format_args!($($arg)*),
        )
    };
}

/// Prints an informational message about a device (`dev_info()`).
#[macro_export]
macro_rules! dev_info {
    ($dev:expr, $($arg:tt)*) => {
        $crate::dev_printk::printk(
            $crate::bindings::KERN_INFO,
            ::core::convert::AsRef::<$crate::device::Device>::as_ref($dev),
            ::core::format_args!($($arg)*),
        )
    };
}

/// Lets the macros take a [`Device`] as well as a bus device such as `pci::Device`.
impl AsRef<Device> for Device {
    fn as_ref(&self) -> &Device {
        self
    }
}
