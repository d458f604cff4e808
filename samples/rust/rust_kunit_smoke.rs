// SPDX-License-Identifier: GPL-2.0

//! KUnit smoke test for Rust modules.
//!
//! Proves the project's pipeline end to end: this file lives in the project tree, is laid over
//! the kernel source, built as a module, put in the test VM's initramfs and loaded there, and
//! its suite's results are read back from debugfs by the harness. The cases exercise the pieces
//! of the `kernel` crate that the IMS core and the drivers lean on first: allocation, shared
//! ownership behind a lock, and errno mapping.

use kernel::prelude::*;
use kernel::sync::{new_mutex, Arc, Mutex};
use kernel::{kunit_check, kunit_check_eq, kunit_test_suite};

module! {
    type: RustKunitSmoke,
    name: "rust_kunit_smoke",
    author: "IMS project",
    description: "KUnit smoke test for Rust modules",
    license: "GPL",
}

struct RustKunitSmoke;

impl kernel::Module for RustKunitSmoke {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(RustKunitSmoke)
    }
}

/// A vector grown one element at a time keeps every element in place.
fn kvec_grows() {
    let mut v = KVec::new();
    for i in 0..4096u32 {
        kunit_check!(v.push(i, GFP_KERNEL).is_ok());
    }
    kunit_check_eq!(v.len(), 4096);
    kunit_check!(v.iter().enumerate().all(|(i, &x)| x as usize == i));
}

/// Updates made through one `Arc<Mutex<_>>` handle are seen through another.
fn arc_mutex_shares() {
    let Ok(a) = Arc::pin_init(new_mutex!(0u64), GFP_KERNEL) else {
        kunit_check!(false);
        return;
    };
    let b: Arc<Mutex<u64>> = a.clone();
    for _ in 0..100 {
        *a.lock() += 1;
    }
    kunit_check_eq!(*b.lock(), 100);
}

/// Kernel error codes map to the C errno values drivers return to userspace.
fn errno_mapping() {
    kunit_check_eq!(EINVAL.to_errno(), -22);
    kunit_check_eq!(ENOSPC.to_errno(), -28);
    kunit_check_eq!(ENODEV.to_errno(), -19);
    kunit_check!(Error::from_errno(-16) == EBUSY);
}

kunit_test_suite!(
    rust_kunit_smoke,
    [kvec_grows, arc_mutex_shares, errno_mapping]
);
