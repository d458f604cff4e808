// SPDX-License-Identifier: GPL-2.0

//! KUnit smoke test for Rust modules.
//!
//! Proves the project's pipeline end to end: this file lives in the project tree, is laid over
//! the kernel source, built as a module, put in the test VM's initramfs and loaded there, and
//! its suite's results are read back from debugfs by the harness. The cases exercise the pieces
//! of the `kernel` crate that the IMS core and the drivers lean on first: allocation, shared
//! ownership behind a lock, and errno mapping.

use kernel::prelude::*;

module! {
    type: RustKunitSmoke,
    name: "rust_kunit_smoke",
    authors: ["IMS project"],
    description: "KUnit smoke test for Rust modules",
    license: "GPL",
}

struct RustKunitSmoke;

impl kernel::Module for RustKunitSmoke {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(RustKunitSmoke)
    }
}

#[kunit_tests(rust_kunit_smoke)]
mod tests {
    use kernel::prelude::*;
    use kernel::sync::{new_mutex, Arc, Mutex};

    /// A vector grown one element at a time keeps every element in place.
    #[test]
    fn kvec_grows() -> Result {
        let mut v = KVec::new();
        for i in 0..4096u32 {
            v.push(i, GFP_KERNEL)?;
        }
        assert_eq!(v.len(), 4096);
        assert!(v.iter().enumerate().all(|(i, &x)| x as usize == i));
        Ok(())
    }

    /// Updates made through one `Arc<Mutex<_>>` handle are seen through another.
    #[test]
    fn arc_mutex_shares() -> Result {
        let a = Arc::pin_init(new_mutex!(0u64), GFP_KERNEL)?;
        let b: Arc<Mutex<u64>> = a.clone();
        for _ in 0..100 {
            *a.lock() += 1;
        }
        assert_eq!(*b.lock(), 100);
        Ok(())
    }

    /// Kernel error codes map to the C errno values drivers return to userspace.
    #[test]
    fn errno_mapping() {
        assert_eq!(EINVAL.to_errno(), -22);
        assert_eq!(ENOSPC.to_errno(), -28);
        assert_eq!(ENODEV.to_errno(), -19);
        assert!(Error::from_errno(-16) == EBUSY);
    }
}
