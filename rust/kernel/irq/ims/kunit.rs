// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the IMS core's Rust API: `rust_ims`.
//!
//! They run at boot, on the emulated DSA of the test VM (PCI 8086:0b25, QEMU
//! `-device intel-dsa`): an IMS domain needs a real PCI device behind interrupt remapping. The
//! device is used only while no driver has it, and never touched: the test chips keep their
//! slots in memory. Every case takes what it adds to the device in a devres group and releases
//! the group at its end, which is what unbinding the device does. Without a free device each
//! case logs "no free DSA" and passes; `scripts/vm/suites/ims-kunit.sh` fails on that line.

use super::*;
use crate::{
    irq::{IrqReturn, ThreadedHandler},
    kunit,
    sync::atomic::{Atomic, Relaxed},
    task::might_sleep,
};

/// Slots of the test domains.
const SLOTS: u32 = 16;

/// A memory-backed chip: what the interrupt core asked of each slot.
///
/// With `SLEEPY`, it is a chip whose slots change only through a sleeping operation: the atomic
/// callbacks record into `shadow`, and `bus_sync_unlock` carries the records out (after
/// `might_sleep()`, which lockdep checks), counting the batches.
struct MemChip<const SLEEPY: bool> {
    /// Per slot: the data of the last message, the cookie the last unmask carried, masked.
    data: [Atomic<u32>; SLOTS as usize],
    cookie: [Atomic<u64>; SLOTS as usize],
    masked: [Atomic<bool>; SLOTS as usize],
    /// The sleeping chip's records since `bus_lock`: (slot + 1, or 0) of the last unmask,
    /// and its cookie.
    shadow_unmask: Atomic<u32>,
    shadow_cookie: Atomic<u64>,
    in_bus: Atomic<bool>,
    batches: Atomic<u32>,
    /// Callbacks of the sleeping chip that came without the bus lock.
    unlocked: Atomic<u32>,
}

impl<const SLEEPY: bool> MemChip<SLEEPY> {
    fn new() -> Self {
        Self {
            data: [const { Atomic::new(0) }; SLOTS as usize],
            cookie: [const { Atomic::new(0) }; SLOTS as usize],
            masked: [const { Atomic::new(true) }; SLOTS as usize],
            shadow_unmask: Atomic::new(0),
            shadow_cookie: Atomic::new(0),
            in_bus: Atomic::new(false),
            batches: Atomic::new(0),
            unlocked: Atomic::new(0),
        }
    }

    fn slot(index: u32) -> usize {
        // CAST: the domains have `SLOTS` slots; the core passes their indices.
        index as usize % SLOTS as usize
    }

    fn check_bus(&self) {
        if SLEEPY && !self.in_bus.load(Relaxed) {
            self.unlocked
                .store(self.unlocked.load(Relaxed) + 1, Relaxed);
        }
    }
}

#[vtable]
impl ImsChip for MemChip<false> {
    fn write_msg(&self, index: u32, msg: &MsiMsg) {
        self.data[Self::slot(index)].store(msg.data(), Relaxed);
    }

    fn mask(&self, index: u32, _cookie: u64) {
        self.masked[Self::slot(index)].store(true, Relaxed);
    }

    fn unmask(&self, index: u32, cookie: u64) {
        self.cookie[Self::slot(index)].store(cookie, Relaxed);
        self.masked[Self::slot(index)].store(false, Relaxed);
    }

    fn shutdown(&self, index: u32) {
        self.masked[Self::slot(index)].store(true, Relaxed);
        self.cookie[Self::slot(index)].store(0, Relaxed);
    }
}

#[vtable]
impl ImsChip for MemChip<true> {
    const FLAGS: ChipFlags = ChipFlags::ONESHOT_SAFE;

    fn write_msg(&self, index: u32, msg: &MsiMsg) {
        self.check_bus();
        self.data[Self::slot(index)].store(msg.data(), Relaxed);
    }

    fn mask(&self, index: u32, _cookie: u64) {
        self.check_bus();
        self.masked[Self::slot(index)].store(true, Relaxed);
    }

    fn unmask(&self, index: u32, cookie: u64) {
        self.check_bus();
        // CAST: slot indices are below `SLOTS`.
        self.shadow_unmask
            .store(Self::slot(index) as u32 + 1, Relaxed);
        self.shadow_cookie.store(cookie, Relaxed);
    }

    fn shutdown(&self, index: u32) {
        self.check_bus();
        self.masked[Self::slot(index)].store(true, Relaxed);
    }

    fn bus_lock(&self) {
        might_sleep();
        self.in_bus.store(true, Relaxed);
    }

    fn bus_sync_unlock(&self) {
        might_sleep();
        let slot = self.shadow_unmask.load(Relaxed);
        if slot != 0 {
            let i = (slot - 1) as usize;
            self.cookie[i].store(self.shadow_cookie.load(Relaxed), Relaxed);
            self.masked[i].store(false, Relaxed);
            self.shadow_unmask.store(0, Relaxed);
        }
        self.batches.store(self.batches.load(Relaxed) + 1, Relaxed);
        self.in_bus.store(false, Relaxed);
    }
}

/// A handler for vectors that never fire (the slots are memory).
struct Never;

impl ThreadedHandler for Never {
    fn handle_threaded(&self) -> IrqReturn {
        IrqReturn::None
    }
}

/// The emulated DSA while no driver has it, with a devres group open on it for the case.
///
/// # Invariants
///
/// `pdev` is a PCI device we hold a reference to, bound to no driver when the fixture was made;
/// `group` is an open devres group of its device.
struct Fixture {
    pdev: *mut bindings::pci_dev,
    group: *mut c_void,
}

impl Fixture {
    /// Takes the emulated DSA, or logs why not and returns `None`.
    fn new() -> Option<Self> {
        // SAFETY: Looking up a PCI device takes any IDs; a null `from` starts the search.
        let pdev = unsafe { bindings::pci_get_device(0x8086, 0x0b25, core::ptr::null_mut()) };
        if pdev.is_null() {
            kunit::info(format_args!(
                "rust_ims: no free DSA: no 8086:0b25 function\n"
            ));
            return None;
        }
        // SAFETY: `pdev` is a valid PCI device we hold a reference to.
        let dev = unsafe { &raw mut (*pdev).dev };
        // SAFETY: As above; `driver` is read once, to skip a device a driver has.
        let (bound, group) = if unsafe { (*dev).driver }.is_null() {
            // SAFETY: `dev` is valid.
            let group = unsafe {
                bindings::devres_open_group(dev, core::ptr::null_mut(), GFP_KERNEL.as_raw())
            };
            (false, group)
        } else {
            (true, core::ptr::null_mut())
        };
        if bound || group.is_null() {
            kunit::info(format_args!("rust_ims: no free DSA: bound to a driver\n"));
            // SAFETY: Drops the reference `pci_get_device()` gave.
            unsafe { bindings::pci_dev_put(pdev) };
            return None;
        }
        // INVARIANT: the device is unbound and the group open.
        Some(Self { pdev, group })
    }

    /// The device, as bound: for the duration of the case, the devres group stands for the
    /// binding, and releasing it for the unbinding.
    fn dev(&self) -> &Device<Bound> {
        // SAFETY: `pdev` is valid while we hold our reference (type invariant). No driver binds
        // the device meanwhile in the test VM, and everything the case adds with devres goes
        // into the group, released by `unbind`, so no devres outlives this "binding".
        unsafe { Device::<crate::device::Normal>::from_raw(&raw mut (*self.pdev).dev).as_bound() }
    }

    /// The device's reference count.
    fn refs(&self) -> i32 {
        // SAFETY: `pdev` is valid (type invariant); the counter is read once, like
        // `kref_read()`.
        unsafe { core::ptr::read_volatile(&raw const (*self.pdev).dev.kobj.kref.refcount.refs) }
            .counter
    }

    /// Releases everything the case added to the device with devres, as unbinding does.
    fn unbind(&mut self) {
        if !self.group.is_null() {
            // SAFETY: `group` is an open group of the device (type invariant).
            unsafe { bindings::devres_release_group(self.dev().as_raw(), self.group) };
            self.group = core::ptr::null_mut();
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.unbind();
        // SAFETY: Drops our reference (type invariant).
        unsafe { bindings::pci_dev_put(self.pdev) };
    }
}

/// Whether interrupt `virq` has a handler.
fn has_action(virq: u32) -> bool {
    // SAFETY: `irq_has_action()` takes any interrupt number.
    unsafe { bindings::irq_has_action(virq) }
}

#[macros::kunit_tests(rust_ims)]
mod tests {
    use super::*;

    /// A vector is requested only through itself, carries its user's default cookie to the
    /// chip's unmask, and frees its slot, and only its slot, when dropped.
    #[test]
    fn vector_owns_its_irq() -> Result {
        let Some(f) = Fixture::new() else {
            return Ok(());
        };
        let ims = ImsDomain::new(f.dev(), c"ims-rust-kunit", MemChip::<false>::new(), SLOTS)?;
        let user = ims.add_user(f.dev(), 4)?;
        // The default cookie is read at each allocation, as it is then.
        let old = msi::default_cookie(f.dev());
        msi::set_default_cookie(f.dev(), 0x1234);
        let keep = user.alloc(Some(7), None);
        msi::set_default_cookie(f.dev(), old);
        let keep = keep?;
        let vector = user.alloc(None, Some(0x77))?;
        assert_eq!(keep.index(), 7);
        assert_eq!(keep.cookie(), 0x1234);
        assert_eq!(vector.cookie(), 0x77);
        assert_eq!(ims.free_slots(), SLOTS - 2);
        assert_eq!(user.count(), 2);
        assert!(matches!(user.alloc(Some(7), None), Err(e) if e == EBUSY));
        assert!(matches!(user.alloc(Some(SLOTS), None), Err(e) if e == EINVAL));

        let (index, virq) = (vector.index(), vector.virq());
        let irq = vector.request_threaded_irq(Flags::ONESHOT, c"ims-rust-kunit", Never)?;
        assert!(has_action(virq));
        let slot = MemChip::<false>::slot(index);
        assert!(!ims.chip().masked[slot].load(Relaxed));
        assert_eq!(ims.chip().cookie[slot].load(Relaxed), 0x77);
        assert_eq!(irq.vector().index(), index);

        // Freeing the interrupt gives the vector back, shut down but allocated.
        let vector = irq.free_irq();
        assert!(!has_action(virq));
        assert!(ims.chip().masked[slot].load(Relaxed));
        assert_eq!(ims.free_slots(), SLOTS - 2);
        drop(vector);
        assert_eq!(ims.free_slots(), SLOTS - 1);
        assert_eq!(user.count(), 1);
        assert_eq!(msi::secondary::virq(f.dev(), keep.index()), keep.virq());
        assert!(user.set_quota(0).is_err());
        Ok(())
    }

    /// 1000 users of one device come and go, with vectors (every 50th with its interrupt
    /// requested) dropped before or after their user: the device's reference count and the
    /// domain's free slots come back, and a second user of a device is refused.
    #[test]
    fn users_come_and_go() -> Result {
        let Some(f) = Fixture::new() else {
            return Ok(());
        };
        let ims = ImsDomain::new(f.dev(), c"ims-rust-kunit", MemChip::<false>::new(), SLOTS)?;
        let refs = f.refs();
        for i in 0..1000 {
            let user = ims.add_user(f.dev(), 2)?;
            if i == 0 {
                assert!(matches!(ims.add_user(f.dev(), 1), Err(e) if e == EEXIST));
            }
            let vector = user.alloc(None, None)?;
            // Every 50th user requests its vector's interrupt; half of the users go before
            // their vectors.
            if i % 50 == 0 {
                let irq = vector.request_threaded_irq(Flags::ONESHOT, c"ims-rust-kunit", Never)?;
                drop(user);
                drop(irq);
            } else if i % 2 == 0 {
                drop(user);
                drop(vector);
            } else {
                drop(vector);
                drop(user);
            }
        }
        assert_eq!(f.refs(), refs);
        assert_eq!(ims.free_slots(), SLOTS);
        Ok(())
    }

    /// Unbinding with a user, vectors and a requested interrupt live frees them all; what
    /// outlives the binding fails with `ENODEV` or does nothing, and a domain can be made
    /// again.
    #[test]
    fn unbind_with_live_vectors() -> Result {
        let Some(mut f) = Fixture::new() else {
            return Ok(());
        };
        let refs = f.refs();
        let ims = ImsDomain::new(f.dev(), c"ims-rust-kunit", MemChip::<false>::new(), SLOTS)?;
        let user = ims.add_user(f.dev(), 4)?;
        let vector = user.alloc(None, None)?;
        let irq = user.alloc(None, None)?.request_threaded_irq(
            Flags::ONESHOT,
            c"ims-rust-kunit",
            Never,
        )?;
        let virq = irq.vector().virq();
        assert!(has_action(virq));

        f.unbind();
        assert!(!has_action(virq));
        assert_eq!(ims.free_slots(), SLOTS);
        assert!(matches!(user.alloc(None, None), Err(e) if e == ENODEV));
        assert!(matches!(ims.add_user(f.dev(), 1), Err(e) if e == ENODEV));
        drop(irq);
        drop(vector);
        drop(user);
        drop(ims);
        assert_eq!(f.refs(), refs);
        Ok(())
    }

    /// A chip that sleeps in `bus_sync_unlock` sees the message and the unmask with the cookie
    /// batched through the bus lock; lockdep checks the sleeps.
    #[test]
    fn sleeping_chip() -> Result {
        let Some(f) = Fixture::new() else {
            return Ok(());
        };
        let ims = ImsDomain::new(f.dev(), c"ims-rust-kunit", MemChip::<true>::new(), SLOTS)?;
        let user = ims.add_user(f.dev(), 1)?;
        let vector = user.alloc(None, Some(0x5a5a))?;
        let slot = MemChip::<true>::slot(vector.index());
        let batches = ims.chip().batches.load(Relaxed);
        let irq = vector.request_threaded_irq(Flags::ONESHOT, c"ims-rust-kunit", Never)?;
        assert!(ims.chip().batches.load(Relaxed) > batches);
        assert!(!ims.chip().masked[slot].load(Relaxed));
        assert_eq!(ims.chip().cookie[slot].load(Relaxed), 0x5a5a);
        drop(irq);
        assert!(ims.chip().masked[slot].load(Relaxed));
        assert_eq!(ims.chip().unlocked.load(Relaxed), 0);
        Ok(())
    }
}
