// SPDX-License-Identifier: GPL-2.0

//! IMS (Interrupt Message Store): device-managed MSI.
//!
//! A device with an Interrupt Message Store keeps each vector's address/data pair itself (in
//! MMIO slots, in queue memory) instead of in the PCI MSI-X table. [`ImsDomain`] is the
//! per-device MSI domain for such storage: it lives in the device's secondary MSI domain
//! slot, next to its PCI/MSI-X domain, under the device's interrupt-remapping parent, and
//! its interrupt chip calls an [`ImsChip`] to touch the slots.
//!
//! Lifetimes are types:
//!
//! - The domain is device-managed: [`ImsDomain::new`] takes a bound device and tears the
//!   domain down when that device is unbound, whatever its users still hold.
//! - Each sub-device that takes vectors (a work queue, an mdev, the device itself) is an
//!   [`ImsUser`], with its own quota, added by [`ImsDomain::add_user`]. Dropping the handle
//!   and the user's vectors drops the domain's reference to the sub-device.
//! - Each vector is an [`ImsVector`], allocated one at a time at any point after probe;
//!   dropping it frees its slot and touches no other. Its interrupt is requested through the
//!   vector only, which moves it into an [`ImsIrq`]: a vector whose interrupt is requested
//!   cannot be freed.
//!
//! Each vector carries a cookie (a PASID, a VM id): the user's device's default MSI cookie,
//! copied into the vector's MSI descriptor at allocation, unless the caller names another.
//! [`ImsChip::unmask`] writes it to the slot, so the device raises the vector only for work
//! of that cookie.
//!
//! IMS requires interrupt remapping: the driver, not the PCI core, writes the messages, and
//! only a remapping unit validates them. Without it, [`ImsDomain::new`] fails with
//! `EOPNOTSUPP`.
//!
//! C header: [`include/linux/ims.h`](srctree/include/linux/ims.h), which is the C API of
//! this module (the `ims_*` functions at the end of this file).

use crate::{
    alloc::{flags::GFP_KERNEL, KBox},
    bindings,
    device::{Bound, Device},
    devres,
    error::{code::*, Error, Result, VTABLE_DEFAULT_ERROR},
    irq::{
        msi::{self, IrqData, MsiMap, MsiMsg},
        Flags, Handler, IrqRequest, Registration, ThreadedHandler, ThreadedRegistration,
    },
    new_mutex,
    prelude::*,
    rbtree::{Entry, RBTree, RBTreeNodeReservation},
    str::CStr,
    sync::{aref::ARef, Arc, ArcBorrow, LockClassKey, Mutex},
};
use core::{ffi::c_void, pin::Pin};

#[cfg(CONFIG_KUNIT = "y")]
mod kunit;

/// The bus token of IMS domains.
const IMS_BUS_TOKEN: bindings::irq_domain_bus_token =
    bindings::irq_domain_bus_token_DOMAIN_BUS_PCI_DEVICE_IMS;

/// The lockdep name and class of [`ImsDomain`]'s state lock.
///
/// A lock class must have one name: defined here, outside the generic [`ImsDomain`], both are
/// in the kernel crate whichever crate instantiates the domain (a `new_mutex!()` in generic
/// code would pair the kernel crate's class with each instantiating module's copy of the name,
/// which lockdep reports).
static STATE_CLASS: (&CStr, Pin<&LockClassKey>) =
    (c"ImsDomain::state", crate::static_lock_class!());

/// Flags of an [`ImsChip`]: what the interrupt core may assume about its slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChipFlags(u32);

impl ChipFlags {
    /// No flag.
    pub const NONE: Self = Self(0);
    /// A threaded handler needs its vector neither masked nor unmasked around it
    /// (`IRQCHIP_ONESHOT_SAFE`): a slot whose mask is a sleeping command should say so.
    pub const ONESHOT_SAFE: Self = Self(bindings::IMS_CHIP_ONESHOT_SAFE);
    /// Mask the vectors that are not wakeup sources on suspend (`IRQCHIP_MASK_ON_SUSPEND`).
    pub const MASK_ON_SUSPEND: Self = Self(bindings::IMS_CHIP_MASK_ON_SUSPEND);

    /// Both `self` and `other`.
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Returns the flags of the C API's `struct ims_chip_ops`, or `None` if it has unknown
    /// ones.
    fn from_raw(raw: u32) -> Option<Self> {
        let known = Self::ONESHOT_SAFE.0 | Self::MASK_ON_SUSPEND.0;
        (raw & !known == 0).then_some(Self(raw))
    }

    /// The `IRQCHIP_*` flags of the domain's interrupt chip.
    fn irqchip_flags(self) -> crate::ffi::c_ulong {
        let mut flags = 0;
        if self.0 & Self::ONESHOT_SAFE.0 != 0 {
            flags |= bindings::IRQCHIP_ONESHOT_SAFE;
        }
        if self.0 & Self::MASK_ON_SUSPEND.0 != 0 {
            flags |= bindings::IRQCHIP_MASK_ON_SUSPEND;
        }
        // CAST: the `IRQCHIP_*` flags are bits below 13: `unsigned long` holds them.
        flags as crate::ffi::c_ulong
    }
}

/// How a device stores its IMS vectors.
///
/// `write_msg`, `mask`, `unmask` and `shutdown` run from interrupt chip callbacks, with the
/// interrupt descriptor's lock held and interrupts disabled: they must not sleep.
///
/// A chip whose slots change only through a sleeping operation (a device command, a write to
/// queue memory the device caches) implements [`ImsChip::bus_lock`] and
/// [`ImsChip::bus_sync_unlock`]. The interrupt core then brackets the management of a vector
/// (request, free, enable, disable) with them: it calls `bus_lock`, which may sleep, then the
/// atomic callbacks, whose writes the chip records, then `bus_sync_unlock`, which may sleep
/// and carries the recorded writes out. A chip implements both or neither.
/// `Documentation/driver-api/ims.rst` says when the atomic callbacks come without the bus
/// lock.
#[vtable]
pub trait ImsChip: Send + Sync + 'static {
    /// The chip's flags.
    const FLAGS: ChipFlags = ChipFlags::NONE;

    /// Writes the message (address/data) of the vector in slot `index`.
    fn write_msg(&self, index: u32, msg: &MsiMsg);

    /// Masks slot `index`. `cookie` is the vector's cookie: a chip that stores it in the
    /// slot keeps it while the slot is masked.
    fn mask(&self, index: u32, cookie: u64);

    /// Writes `cookie` into slot `index` and unmasks it.
    fn unmask(&self, index: u32, cookie: u64);

    /// Clears slot `index`: masked, no cookie, no message.
    fn shutdown(&self, index: u32);

    /// Takes the lock of the slow bus the slots are behind. May sleep.
    fn bus_lock(&self) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Carries out what the callbacks since [`ImsChip::bus_lock`] recorded, then releases the
    /// bus lock. May sleep.
    fn bus_sync_unlock(&self) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// The chip's flags, if they are known only at run time (the C API's chips); the default
    /// is [`ImsChip::FLAGS`].
    #[doc(hidden)]
    fn flags(&self) -> ChipFlags {
        Self::FLAGS
    }

    /// Whether the chip uses the bus lock, if that is known only at run time (the C API's
    /// chips); the default is whether it implements [`ImsChip::bus_lock`].
    #[doc(hidden)]
    fn uses_bus_lock(&self) -> bool {
        Self::HAS_BUS_LOCK
    }
}

/// What the domain knows of one of its users.
struct UserEntry {
    quota: u32,
    used: u32,
}

/// A type-erased interrupt handler registration, owned by the domain.
trait ErasedIrq: Send {}

impl<H: ThreadedHandler + Send + 'static> ErasedIrq for ThreadedRegistration<'static, H> {}
impl<H: Handler + Send + 'static> ErasedIrq for Registration<'static, H> {}

/// Allocation state of an [`ImsDomain`].
///
/// # Invariants
///
/// - `live` is true from the creation of the MSI domain until its removal.
/// - While `live`, `free` is the number of slots without a vector, and each user's `used` the
///   number of [`ImsVector`]s it has.
/// - `users` has one entry per [`User`], keyed by the address of its device.
/// - `irqs` holds the handler registration of each vector whose interrupt is requested, keyed
///   by the vector's slot, pinned in its box (never moved out, only dropped); it is empty
///   unless `live`.
struct State {
    live: bool,
    free: u32,
    users: RBTree<usize, UserEntry>,
    irqs: RBTree<u32, KBox<dyn ErasedIrq>>,
}

/// The IMS domain of a device: device-managed.
///
/// [`ImsDomain::new`] creates it on a bound device and hands it to the device's devres list:
/// when the device is unbound, the domain frees the interrupts still requested and the vectors
/// still allocated, and removes its MSI domain. [`ImsUser`]s, [`ImsVector`]s and [`ImsIrq`]s
/// that outlive that fail or do nothing. The driver keeps no lifetime rule by hand.
///
/// Vectors are allocated through users ([`ImsDomain::add_user`]), one per sub-device, each
/// with its own quota.
///
/// # Invariants
///
/// - While `state.live`, `dev`'s secondary MSI domain is an IMS domain made by
///   [`ImsDomain::new`] whose chip data points to `self`, and `dev` is bound: a [`Teardown`]
///   on its devres list clears `live` no later than its unbinding.
/// - `nr_slots` is the domain's size, in `1..=msi::MAX_INDEX + 1`.
///
/// # Examples
///
/// ```
/// use kernel::device::{Bound, Device};
/// use kernel::irq::{self, ims::{ImsChip, ImsDomain}, msi::MsiMsg, ThreadedHandler};
/// use kernel::prelude::*;
///
/// /// Slots in memory, for illustration; a real chip writes MMIO.
/// struct MemChip;
///
/// #[vtable]
/// impl ImsChip for MemChip {
///     fn write_msg(&self, _index: u32, _msg: &MsiMsg) {}
///     fn mask(&self, _index: u32, _cookie: u64) {}
///     fn unmask(&self, _index: u32, _cookie: u64) {}
///     fn shutdown(&self, _index: u32) {}
/// }
///
/// struct Handler;
///
/// impl ThreadedHandler for Handler {
///     fn handle_threaded(&self) -> irq::IrqReturn {
///         irq::IrqReturn::Handled
///     }
/// }
///
/// # #[allow(dead_code)]
/// fn probe_tail(dev: &Device<Bound>, wq: &Device) -> Result {
///     let ims = ImsDomain::new(dev, c"IMS", MemChip, 2048)?;
///     let user = ims.add_user(wq, 8)?;
///     let vector = user.alloc(None, None)?;
///     let irq = vector.request_threaded_irq(irq::Flags::ONESHOT, c"wq", Handler)?;
///     // Freeing the interrupt gives the vector back; dropping it frees the slot.
///     let vector = irq.free_irq();
///     drop(vector);
///     Ok(())
/// }
/// ```
#[pin_data]
pub struct ImsDomain<T: ImsChip> {
    chip: T,
    dev: ARef<Device>,
    nr_slots: u32,
    #[pin]
    state: Mutex<State>,
}

impl<T: ImsChip> ImsDomain<T> {
    /// Creates the IMS domain of `dev` with `nr_slots` slots stored by `chip`.
    ///
    /// `name` names the interrupt chip (`/proc/interrupts` shows it with the parent's prefix
    /// and the device name). The domain lives until `dev` is unbound; the returned reference
    /// and every user and vector keep its memory alive after that, not its MSI domain.
    ///
    /// Fails with `EOPNOTSUPP` if the device's MSI parent cannot serve IMS (no interrupt
    /// remapping), `EINVAL` for a slot count of 0 or above 65536, `EEXIST` if the device
    /// already has an IMS domain.
    pub fn new(dev: &Device<Bound>, name: &CStr, chip: T, nr_slots: u32) -> Result<Arc<Self>> {
        if nr_slots == 0 || nr_slots > msi::MAX_INDEX + 1 {
            return Err(EINVAL);
        }
        build_assert!(
            T::HAS_BUS_LOCK == T::HAS_BUS_SYNC_UNLOCK,
            "an ImsChip implements both bus_lock and bus_sync_unlock, or neither"
        );
        check_parent(dev)?;
        if msi::secondary::exists(dev, IMS_BUS_TOKEN) {
            return Err(EEXIST);
        }

        let state = State {
            live: false,
            free: nr_slots,
            users: RBTree::new(),
            irqs: RBTree::new(),
        };
        let this = Arc::pin_init(
            pin_init!(Self {
                chip,
                dev: dev.into(),
                nr_slots,
                state <- Mutex::new(state, STATE_CLASS.0, STATE_CLASS.1),
            }),
            GFP_KERNEL,
        )?;
        this.create_irq_domain(name)?;
        // INVARIANT: the MSI domain exists; the `Teardown` registered next removes it at the
        // latest when `dev` is unbound, or right away if it cannot be registered.
        this.state.lock().live = true;
        devres::register(dev, Teardown(this.clone()), GFP_KERNEL)?;
        Ok(this)
    }

    /// The bus callbacks of the interrupt chip, if `T` has them. Constants, so that a chip
    /// without them does not instantiate the callbacks (whose default bodies do not build).
    const BUS_LOCK: Option<unsafe extern "C" fn(*mut bindings::irq_data)> = if T::HAS_BUS_LOCK {
        Some(Self::irq_bus_lock_callback)
    } else {
        None
    };
    const BUS_SYNC_UNLOCK: Option<unsafe extern "C" fn(*mut bindings::irq_data)> =
        if T::HAS_BUS_SYNC_UNLOCK {
            Some(Self::irq_bus_sync_unlock_callback)
        } else {
            None
        };

    /// Creates the MSI device domain whose chip calls back into `self`.
    fn create_irq_domain(self: &Arc<Self>, name: &CStr) -> Result {
        // SAFETY: `msi_domain_template` is plain data (pointers, callbacks, integers) for
        // which all-zero bytes are valid: no callback, no flag.
        let mut tmpl: bindings::msi_domain_template = unsafe { core::mem::zeroed() };
        tmpl.chip.name = name.as_char_ptr();
        tmpl.chip.irq_mask = Some(Self::irq_mask_callback);
        tmpl.chip.irq_unmask = Some(Self::irq_unmask_callback);
        tmpl.chip.irq_shutdown = Some(Self::irq_shutdown_callback);
        tmpl.chip.irq_write_msi_msg = Some(Self::irq_write_msi_msg_callback);
        if self.chip.uses_bus_lock() {
            tmpl.chip.irq_bus_lock = Self::BUS_LOCK;
            tmpl.chip.irq_bus_sync_unlock = Self::BUS_SYNC_UNLOCK;
        }
        tmpl.chip.flags = self.chip.flags().irqchip_flags();
        tmpl.ops.set_desc = Some(set_desc_callback);
        tmpl.info.bus_token = IMS_BUS_TOKEN;
        tmpl.info.flags = bindings::MSI_FLAG_USE_DEF_DOM_OPS
            | bindings::MSI_FLAG_USE_DEF_CHIP_OPS
            | bindings::MSI_FLAG_ALLOC_SIMPLE_MSI_DESCS
            | bindings::MSI_FLAG_FREE_MSI_DESCS;

        let chip_data = core::ptr::from_ref::<Self>(self);
        // SAFETY: `chip_data` points to `self`, which the `Arc` pins, and which outlives the
        // MSI domain: `teardown` removes the domain, and the `Teardown` that calls it holds a
        // reference. The callbacks of `tmpl` expect it.
        unsafe {
            msi::secondary::create(&self.dev, &tmpl, self.nr_slots, chip_data.cast_mut().cast())
        }
    }

    /// Frees the interrupts still requested and the vectors still allocated, and removes the
    /// MSI domain. Runs when the device is unbound (or when [`ImsDomain::new`] fails after
    /// creating the MSI domain).
    fn teardown(&self) {
        let mut state = self.state.lock();
        if !state.live {
            return;
        }
        // Interrupts first, under the lock, so that no request races with the removal: each
        // registration's drop frees its interrupt and waits for its handler.
        drop(core::mem::take(&mut state.irqs));
        // SAFETY: The domain is live, so `dev`'s secondary domain is ours (type invariant),
        // and none of its interrupts is requested any more.
        unsafe { msi::secondary::remove(&self.dev) };
        // INVARIANT: the MSI domain is gone.
        state.live = false;
    }

    /// Adds `subdev` as a user of this domain: it may hold up to `quota` vectors.
    ///
    /// The user lives while the returned handle or one of its vectors does; then the domain
    /// forgets it and drops its reference to `subdev`. Finding a user costs O(log n) in the
    /// number of users.
    ///
    /// Fails with `EEXIST` if `subdev` is a user already, `ENODEV` once the device is
    /// unbound.
    pub fn add_user(self: &Arc<Self>, subdev: &Device, quota: u32) -> Result<ImsUser<T>> {
        let key = user_key(subdev);
        let reservation = RBTreeNodeReservation::new(GFP_KERNEL)?;
        {
            let mut state = self.state.lock();
            if !state.live {
                return Err(ENODEV);
            }
            match state.users.entry(key) {
                Entry::Occupied(_) => return Err(EEXIST),
                Entry::Vacant(v) => {
                    v.insert(UserEntry { quota, used: 0 }, reservation);
                }
            }
        }
        // INVARIANT: the entry just inserted is this user's; it removes it when dropped.
        let user = User {
            domain: self.clone(),
            dev: subdev.into(),
        };
        match Arc::new(user, GFP_KERNEL) {
            Ok(user) => Ok(ImsUser(user)),
            Err(e) => {
                // The `User` was dropped with the failed allocation, and its entry with it.
                Err(e.into())
            }
        }
    }

    /// The number of slots without a vector: all of them once the device is unbound.
    pub fn free_slots(&self) -> u32 {
        let state = self.state.lock();
        if state.live {
            state.free
        } else {
            self.nr_slots
        }
    }

    /// The number of slots.
    pub fn nr_slots(&self) -> u32 {
        self.nr_slots
    }

    /// The chip.
    pub fn chip(&self) -> &T {
        &self.chip
    }

    /// The device the domain belongs to.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// Frees the vector `vector`, about to be dropped: its slot, if the domain is live, and
    /// its place in its user's quota.
    fn free_vector(&self, vector: &ImsVector<T>) {
        let mut state = self.state.lock();
        if state.live {
            // SAFETY: The domain is live, so the secondary domain of `dev` is ours; slot
            // `vector.index` holds the vector (type invariant of `ImsVector`), whose interrupt
            // is not requested: only an `ImsIrq`, which owns the vector, requests it.
            unsafe { msi::secondary::free(&self.dev, vector.index) };
            state.free += 1;
        }
        if let Some(u) = state.users.get_mut(&user_key(&vector.user.dev)) {
            u.used -= 1;
        }
    }

    /// Recovers the domain and the interrupt from a chip callback's `irq_data`.
    ///
    /// # Safety
    ///
    /// `data` must be the `irq_data` of an interrupt of an IMS domain created by
    /// [`ImsDomain::new`] for this `T`, passed to one of its chip callbacks.
    unsafe fn from_irq_data<'a>(data: *mut bindings::irq_data) -> (&'a Self, &'a IrqData) {
        // SAFETY: Inside a chip callback the interrupt data is valid and, since the domain is
        // an MSI domain, has an MSI descriptor.
        let irqd = unsafe { IrqData::from_raw(data) };
        // SAFETY: The chip data of every interrupt of the domain is the `ImsDomain<T>` that
        // created it (type invariant), alive until the domain is removed.
        let this = unsafe { &*irqd.chip_data().cast::<Self>() };
        (this, irqd)
    }

    /// # Safety
    ///
    /// Called by the interrupt core only, with the `irq_data` of an interrupt of this domain.
    unsafe extern "C" fn irq_mask_callback(data: *mut bindings::irq_data) {
        // SAFETY: The interrupt core calls this chip callback for interrupts of our domain.
        let (this, irqd) = unsafe { Self::from_irq_data(data) };
        this.chip.mask(irqd.msi_index(), irqd.cookie());
    }

    /// # Safety
    ///
    /// As for [`Self::irq_mask_callback`].
    unsafe extern "C" fn irq_unmask_callback(data: *mut bindings::irq_data) {
        // SAFETY: As above.
        let (this, irqd) = unsafe { Self::from_irq_data(data) };
        this.chip.unmask(irqd.msi_index(), irqd.cookie());
    }

    /// # Safety
    ///
    /// As for [`Self::irq_mask_callback`].
    unsafe extern "C" fn irq_shutdown_callback(data: *mut bindings::irq_data) {
        // SAFETY: As above.
        let (this, irqd) = unsafe { Self::from_irq_data(data) };
        this.chip.shutdown(irqd.msi_index());
    }

    /// # Safety
    ///
    /// As for [`Self::irq_mask_callback`].
    unsafe extern "C" fn irq_bus_lock_callback(data: *mut bindings::irq_data) {
        // SAFETY: As above.
        let (this, _) = unsafe { Self::from_irq_data(data) };
        this.chip.bus_lock();
    }

    /// # Safety
    ///
    /// As for [`Self::irq_mask_callback`].
    unsafe extern "C" fn irq_bus_sync_unlock_callback(data: *mut bindings::irq_data) {
        // SAFETY: As above.
        let (this, _) = unsafe { Self::from_irq_data(data) };
        this.chip.bus_sync_unlock();
    }

    /// # Safety
    ///
    /// As for [`Self::irq_mask_callback`]; `msg` must point to a valid message.
    unsafe extern "C" fn irq_write_msi_msg_callback(
        data: *mut bindings::irq_data,
        msg: *mut bindings::msi_msg,
    ) {
        // SAFETY: As above.
        let (this, irqd) = unsafe { Self::from_irq_data(data) };
        // SAFETY: The interrupt core passes a valid message for the duration of the call.
        let msg = unsafe { MsiMsg::from_raw(msg) };
        this.chip.write_msg(irqd.msi_index(), msg);
    }
}

/// Tears an [`ImsDomain`] down when dropped: at the latest when its device is unbound.
///
/// It sits on the device's devres list, registered before any interrupt of the domain is
/// requested, so the driver core drops it after everything registered later.
struct Teardown<T: ImsChip>(Arc<ImsDomain<T>>);

impl<T: ImsChip> Drop for Teardown<T> {
    fn drop(&mut self) {
        self.0.teardown();
    }
}

/// The key of a user in its domain's `users`: the address of its device, which the user holds
/// a reference to, so that no other device has it meanwhile.
fn user_key(dev: &Device) -> usize {
    dev.as_raw() as usize
}

/// A user of an [`ImsDomain`], shared by its handle and its vectors.
///
/// # Invariants
///
/// `domain`'s `users` has an entry for `dev` for as long as `self` exists, and it is this
/// user's.
struct User<T: ImsChip> {
    domain: Arc<ImsDomain<T>>,
    dev: ARef<Device>,
}

impl<T: ImsChip> Drop for User<T> {
    fn drop(&mut self) {
        self.domain.state.lock().users.remove(&user_key(&self.dev));
    }
}

/// A sub-device (a work queue, an mdev) that holds vectors of an [`ImsDomain`], within its
/// quota: the handle [`ImsDomain::add_user`] returns.
///
/// The domain forgets the user, and drops its reference to the sub-device, when the handle
/// and every vector allocated through it are dropped.
pub struct ImsUser<T: ImsChip>(Arc<User<T>>);

impl<T: ImsChip> ImsUser<T> {
    /// The sub-device.
    pub fn device(&self) -> &Device {
        &self.0.dev
    }

    /// The domain.
    pub fn domain(&self) -> &Arc<ImsDomain<T>> {
        &self.0.domain
    }

    /// Runs `f` on the domain's entry for this user.
    fn with_entry<R>(&self, f: impl FnOnce(&mut UserEntry) -> R) -> R {
        let mut state = self.0.domain.state.lock();
        match state.users.get_mut(&user_key(&self.0.dev)) {
            Some(entry) => f(entry),
            // The entry exists while the user does (type invariant of `User`).
            None => f(&mut UserEntry { quota: 0, used: 0 }),
        }
    }

    /// Lets the user hold up to `quota` vectors. Fails with `EBUSY` if it holds more already.
    pub fn set_quota(&self, quota: u32) -> Result {
        self.with_entry(|u| {
            if u.used > quota {
                return Err(EBUSY);
            }
            u.quota = quota;
            Ok(())
        })
    }

    /// The number of vectors the user may hold.
    pub fn quota(&self) -> u32 {
        self.with_entry(|u| u.quota)
    }

    /// The number of vectors the user holds.
    pub fn count(&self) -> u32 {
        self.with_entry(|u| u.used)
    }

    /// Allocates one vector, at slot `index` or at any free slot.
    ///
    /// The vector's cookie is `cookie` if given, else the default MSI cookie of the user's
    /// device ([`msi::default_cookie`]) as it is now. Vectors already allocated are not
    /// touched.
    ///
    /// Fails with `EINVAL` if `index` is beyond the domain, `ENOSPC` when the user is at its
    /// quota or no slot is free, `EBUSY` if slot `index` is taken, `ENODEV` once the domain's
    /// device is unbound.
    pub fn alloc(&self, index: Option<u32>, cookie: Option<u64>) -> Result<ImsVector<T>> {
        let domain = &self.0.domain;
        let key = user_key(&self.0.dev);
        let mut state = domain.state.lock();
        if !state.live {
            return Err(ENODEV);
        }
        if index.is_some_and(|i| i >= domain.nr_slots) {
            return Err(EINVAL);
        }
        match state.users.get(&key) {
            Some(u) if u.used < u.quota => {}
            _ => return Err(ENOSPC),
        }
        // A full domain: the MSI core would say `EBUSY`, as for a taken slot.
        if index.is_none() && state.free == 0 {
            return Err(ENOSPC);
        }
        let cookie = cookie.unwrap_or_else(|| msi::default_cookie(&self.0.dev));
        let map = msi::secondary::alloc_at(&domain.dev, index, cookie)?;
        // INVARIANT: the slot holds the new vector, counted in the user's `used` and out of
        // `free`.
        if let Some(u) = state.users.get_mut(&key) {
            u.used += 1;
        }
        state.free -= 1;
        Ok(ImsVector {
            user: self.0.clone(),
            index: map.index,
            virq: map.virq,
            cookie,
        })
    }
}

/// One vector of an [`ImsDomain`], allocated by an [`ImsUser`]. Dropping it frees its slot
/// and its place in the user's quota; no other vector is touched.
///
/// Its interrupt can be requested only by [`ImsVector::request_threaded_irq`], which takes the
/// vector into the returned [`ImsIrq`]: a vector whose interrupt is requested cannot be freed.
///
/// # Invariants
///
/// While the domain is live, slot `index` holds this vector, whose interrupt is `virq` and
/// whose MSI descriptor carries `cookie`; no one else frees it.
pub struct ImsVector<T: ImsChip> {
    user: Arc<User<T>>,
    index: u32,
    virq: u32,
    cookie: u64,
}

impl<T: ImsChip> ImsVector<T> {
    /// The slot.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The Linux interrupt number.
    pub fn virq(&self) -> u32 {
        self.virq
    }

    /// The cookie the vector's MSI descriptor carries, which the chip's
    /// [`ImsChip::unmask`] receives.
    pub fn cookie(&self) -> u64 {
        self.cookie
    }

    /// The device of the user that holds the vector.
    pub fn device(&self) -> &Device {
        &self.user.dev
    }

    /// The slot and interrupt number.
    pub fn map(&self) -> MsiMap {
        MsiMap {
            index: self.index,
            virq: self.virq,
        }
    }

    /// Requests the vector's interrupt for a threaded `handler`, and returns the vector with
    /// its interrupt requested.
    ///
    /// The domain owns the registration: it is freed when the returned [`ImsIrq`] is dropped
    /// or freed ([`ImsIrq::free_irq`]), or when the device is unbound, whichever comes first.
    /// On failure the vector is freed. Fails with `ENODEV` once the device is unbound.
    ///
    /// Freeing the interrupt waits for the handler under the domain's lock: the handler must
    /// not call into this domain's API.
    pub fn request_threaded_irq<H: ThreadedHandler + Send + 'static, E: 'static>(
        self,
        flags: Flags,
        name: &'static CStr,
        handler: impl PinInit<H, E> + 'static,
    ) -> Result<ImsIrq<T>>
    where
        Error: From<E>,
    {
        let handler = super::devres::error_init(handler);
        self.request(|request| {
            // SAFETY: The registration goes into the domain's `irqs`, whose entries are
            // dropped, never forgotten.
            let reg = unsafe { ThreadedRegistration::new(request, flags, name, handler) };
            let reg = KBox::pin_init::<Error>(reg, GFP_KERNEL)?;
            // SAFETY: The registration is never moved out of its box: `irqs` only drops it.
            Ok(unsafe { Pin::into_inner_unchecked(reg) })
        })
    }

    /// Requests the vector's interrupt for a hard-interrupt-only `handler` (no thread), and
    /// returns the vector with its interrupt requested; otherwise as
    /// [`ImsVector::request_threaded_irq`].
    ///
    /// For handlers that only signal something (an eventfd, a completion): requesting one
    /// creates no kernel thread, so it is cheaper in time and memory.
    pub fn request_irq<H: Handler + Send + 'static, E: 'static>(
        self,
        flags: Flags,
        name: &'static CStr,
        handler: impl PinInit<H, E> + 'static,
    ) -> Result<ImsIrq<T>>
    where
        Error: From<E>,
    {
        let handler = super::devres::error_init(handler);
        self.request(|request| {
            // SAFETY: As in `request_threaded_irq`.
            let reg = unsafe { Registration::new(request, flags, name, handler) };
            let reg = KBox::pin_init::<Error>(reg, GFP_KERNEL)?;
            // SAFETY: As in `request_threaded_irq`.
            Ok(unsafe { Pin::into_inner_unchecked(reg) })
        })
    }

    /// Requests the vector's interrupt with `register`, which makes the registration, under
    /// the domain's lock; the domain keeps it.
    fn request<R: ErasedIrq + 'static>(
        self,
        register: impl FnOnce(IrqRequest<'static>) -> Result<KBox<R>>,
    ) -> Result<ImsIrq<T>> {
        let reservation = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let domain = self.user.domain.clone();
        let mut state = domain.state.lock();
        if !state.live {
            return Err(ENODEV);
        }
        // SAFETY: The domain is live, so its device is bound, and stays bound while the lock
        // is held: the `Teardown` that runs at its unbinding takes the lock first (type
        // invariant of `ImsDomain`).
        let dev: &Device<Bound> = unsafe { domain.dev.as_bound() };
        // SAFETY: The `'static` borrow is observed only by the registration below, which the
        // domain owns and drops before its `Teardown` returns, so no later than the unbinding.
        let dev: &'static Device<Bound> = unsafe { &*core::ptr::from_ref(dev) };
        // SAFETY: `self.virq` is the interrupt of a vector of `dev`'s IMS domain (type
        // invariant).
        let request = unsafe { IrqRequest::new(dev, self.virq) };
        let reg: KBox<dyn ErasedIrq> = register(request)?;
        state.irqs.insert(reservation.into_node(self.index, reg));
        drop(state);
        Ok(ImsIrq { vector: self })
    }
}

impl<T: ImsChip> Drop for ImsVector<T> {
    fn drop(&mut self) {
        self.user.domain.free_vector(self);
    }
}

/// A vector of an [`ImsDomain`] whose interrupt is requested.
///
/// Dropping it frees the interrupt, then the vector. [`ImsIrq::free_irq`] frees the interrupt
/// only and gives the vector back.
///
/// # Invariants
///
/// While the domain is live, its `irqs` holds the registration of `vector`'s interrupt.
pub struct ImsIrq<T: ImsChip> {
    vector: ImsVector<T>,
}

impl<T: ImsChip> ImsIrq<T> {
    /// The vector.
    pub fn vector(&self) -> &ImsVector<T> {
        &self.vector
    }

    /// Frees the interrupt (waiting for its handler to finish), and returns the vector.
    pub fn free_irq(self) -> ImsVector<T> {
        let this = core::mem::ManuallyDrop::new(self);
        this.release();
        // SAFETY: `this` is never used or dropped again: the vector is moved out once.
        unsafe { core::ptr::read(&this.vector) }
    }

    /// Drops the registration of the interrupt, if the domain still holds it.
    fn release(&self) {
        let domain = &self.vector.user.domain;
        let mut state = domain.state.lock();
        // Under the lock, so that the domain is not torn down meanwhile. Freeing the interrupt
        // waits for its handler, which does not take the lock.
        drop(state.irqs.remove(&self.vector.index));
    }
}

impl<T: ImsChip> Drop for ImsIrq<T> {
    fn drop(&mut self) {
        self.release();
    }
}

/// Checks that the MSI parent of `dev` can serve IMS, i.e. does interrupt remapping.
fn check_parent(dev: &Device) -> Result {
    // SAFETY: `dev` is valid; its MSI domain pointer is set when the device is added and
    // the parent domain, if any, lives as long as the remapping unit (for ever).
    let ok = unsafe {
        let parent = (*dev.as_raw()).msi.domain;
        !parent.is_null()
            && (*parent).flags & bindings::IRQ_DOMAIN_FLAG_MSI_PARENT != 0
            && !(*parent).msi_parent_ops.is_null()
            && (*(*parent).msi_parent_ops).supported_flags & bindings::MSI_FLAG_PCI_IMS != 0
    };
    if ok {
        return Ok(());
    }
    // SAFETY: The kobject name of a registered device is a valid C string.
    let name = unsafe { CStr::from_char_ptr((*dev.as_raw()).kobj.name) };
    pr_err!(
        "ims: {}: IMS needs interrupt remapping, which this device's MSI parent does not provide\n",
        name
    );
    Err(EOPNOTSUPP)
}

/// # Safety
///
/// Called by the MSI core only, with valid allocation info and descriptor.
unsafe extern "C" fn set_desc_callback(
    arg: *mut bindings::msi_alloc_info_t,
    desc: *mut bindings::msi_desc,
) {
    // SAFETY: The MSI core passes valid pointers. The hardware interrupt number of an IMS
    // vector is its slot, unique in the domain.
    unsafe {
        (*arg).desc = desc;
        (*arg).hwirq = (*desc).msi_index.into();
    }
}

// The C API (`include/linux/ims.h`).

/// An [`ImsChip`] implemented by a C driver's `struct ims_chip_ops`.
///
/// # Invariants
///
/// `ops` points to a valid `struct ims_chip_ops` whose callbacks, called with `priv_`, may
/// run in any context for the life of the domain (the contract of
/// `devm_ims_domain_create()`).
struct CChip {
    ops: *const bindings::ims_chip_ops,
    priv_: *mut c_void,
}

// SAFETY: The C API's contract (type invariant) makes the callbacks callable from any CPU.
unsafe impl Send for CChip {}
// SAFETY: As above: they may also run concurrently for different slots.
unsafe impl Sync for CChip {}

#[vtable]
impl ImsChip for CChip {
    fn flags(&self) -> ChipFlags {
        // SAFETY: `ops` is valid (type invariant).
        ChipFlags::from_raw(unsafe { (*self.ops).flags }).unwrap_or(ChipFlags::NONE)
    }

    fn uses_bus_lock(&self) -> bool {
        // SAFETY: `ops` is valid (type invariant); `devm_ims_domain_create()` checked that both bus
        // callbacks are set or neither is.
        unsafe { (*self.ops).bus_lock.is_some() }
    }

    fn bus_lock(&self) {
        // SAFETY: `ops` is valid (type invariant).
        if let Some(f) = unsafe { (*self.ops).bus_lock } {
            // SAFETY: The callback takes the pointer it was given at creation; it may sleep,
            // which the interrupt core allows here.
            unsafe { f(self.priv_) };
        }
    }

    fn bus_sync_unlock(&self) {
        // SAFETY: `ops` is valid (type invariant).
        if let Some(f) = unsafe { (*self.ops).bus_sync_unlock } {
            // SAFETY: As for `bus_lock`.
            unsafe { f(self.priv_) };
        }
    }

    fn write_msg(&self, index: u32, msg: &MsiMsg) {
        // SAFETY: `ops` is valid (type invariant).
        if let Some(f) = unsafe { (*self.ops).write_msg } {
            // SAFETY: The callback takes the pointer it was given at creation and a message
            // valid for the duration of the call.
            unsafe { f(self.priv_, index, core::ptr::from_ref(msg).cast()) };
        }
    }

    fn mask(&self, index: u32, cookie: u64) {
        // SAFETY: `ops` is valid (type invariant).
        if let Some(f) = unsafe { (*self.ops).mask } {
            // SAFETY: As for `write_msg`.
            unsafe { f(self.priv_, index, cookie) };
        }
    }

    fn unmask(&self, index: u32, cookie: u64) {
        // SAFETY: `ops` is valid (type invariant).
        if let Some(f) = unsafe { (*self.ops).unmask } {
            // SAFETY: As for `write_msg`.
            unsafe { f(self.priv_, index, cookie) };
        }
    }

    fn shutdown(&self, index: u32) {
        // SAFETY: `ops` is valid (type invariant).
        if let Some(f) = unsafe { (*self.ops).shutdown } {
            // SAFETY: As for `write_msg`.
            unsafe { f(self.priv_, index) };
        }
    }
}

type CDomain = ImsDomain<CChip>;

/// Drops the C API's reference to a domain when the device is unbound.
///
/// # Invariants
///
/// `0` came from [`Arc::into_raw`] of an `Arc<CDomain>`, whose reference this value owns.
struct CDomainRef(usize);

impl Drop for CDomainRef {
    fn drop(&mut self) {
        // SAFETY: The pointer came from `Arc::into_raw` and its reference is ours (type
        // invariant).
        drop(unsafe { Arc::from_raw(self.0 as *const CDomain) });
    }
}

/// A user of the C API (`struct ims_user`): the user and the vectors C allocated through it.
#[pin_data]
struct CUser {
    user: ImsUser<CChip>,
    #[pin]
    vectors: Mutex<RBTree<u32, ImsVector<CChip>>>,
}

impl CUser {
    /// Drops `vector`, unless C still has its interrupt requested: then it is leaked, with a
    /// warning, rather than freed under a live handler.
    fn drop_vector(vector: ImsVector<CChip>) {
        // SAFETY: `irq_has_action()` takes any interrupt number.
        if unsafe { bindings::irq_has_action(vector.virq()) } {
            pr_warn!(
                "ims: slot {} (irq {}) freed with its interrupt requested: leaked\n",
                vector.index(),
                vector.virq()
            );
            core::mem::forget(vector);
            return;
        }
        drop(vector);
    }
}

/// Returns the domain behind a C handle, or `EINVAL` for a NULL or `ERR_PTR()` handle (a C
/// caller may pass on what a failed `devm_ims_domain_create()` returned).
///
/// # Safety
///
/// `ims` must be NULL, an `ERR_PTR()`, or a pointer returned by `devm_ims_domain_create()`
/// whose device is still bound.
unsafe fn c_domain<'a>(ims: *mut bindings::ims_domain) -> Result<ArcBorrow<'a, CDomain>> {
    // SAFETY: `IS_ERR()` only looks at the pointer's value.
    if ims.is_null() || unsafe { bindings::IS_ERR(ims.cast()) } {
        return Err(EINVAL);
    }
    // SAFETY: By the function's contract the pointer came from `Arc::into_raw` and its
    // `CDomainRef` has not been dropped (the device is bound).
    Ok(unsafe { ArcBorrow::from_raw(ims.cast::<CDomain>()) })
}

/// Returns the user behind a C handle, or `EINVAL` for a NULL or `ERR_PTR()` handle.
///
/// # Safety
///
/// `user` must be NULL, an `ERR_PTR()`, or a pointer returned by `ims_user_add()` and not
/// removed yet.
unsafe fn c_user<'a>(user: *mut bindings::ims_user) -> Result<&'a CUser> {
    // SAFETY: `IS_ERR()` only looks at the pointer's value.
    if user.is_null() || unsafe { bindings::IS_ERR(user.cast()) } {
        return Err(EINVAL);
    }
    // SAFETY: By the function's contract the pointer came from `KBox::into_raw` of a pinned
    // `CUser` that is still alive.
    Ok(unsafe { &*user.cast::<CUser>() })
}

/// C API: creates the device-managed IMS domain of `dev` (see `include/linux/ims.h`).
///
/// Returns the domain or an `ERR_PTR()`.
///
/// # Safety
///
/// `dev` must be a valid device, bound to the caller's driver for the duration of the call,
/// `name` a valid C string, and `ops`/`priv_` must satisfy the contract of
/// `struct ims_chip_ops` until `dev` is unbound.
#[no_mangle]
pub unsafe extern "C" fn devm_ims_domain_create(
    dev: *mut bindings::device,
    name: *const crate::ffi::c_char,
    ops: *const bindings::ims_chip_ops,
    priv_: *mut c_void,
    nr_slots: u32,
) -> *mut bindings::ims_domain {
    if dev.is_null() || name.is_null() || ops.is_null() {
        return EINVAL.to_ptr();
    }
    // SAFETY: `dev` is a valid device, bound for the duration of the call (the caller's
    // contract).
    let dev = unsafe { Device::<crate::device::Normal>::from_raw(dev).as_bound() };
    // SAFETY: `name` is a valid C string (the caller's contract).
    let name = unsafe { CStr::from_char_ptr(name) };
    // SAFETY: `ops` is valid (the caller's contract).
    let ops_ref = unsafe { &*ops };
    if ops_ref.bus_lock.is_some() != ops_ref.bus_sync_unlock.is_some()
        || ChipFlags::from_raw(ops_ref.flags).is_none()
    {
        return EINVAL.to_ptr();
    }
    // INVARIANT: `ops` and `priv_` satisfy the C API contract (the caller's contract).
    let chip = CChip { ops, priv_ };
    let domain = match CDomain::new(dev, name, chip, nr_slots) {
        Ok(d) => d,
        Err(e) => return e.to_ptr(),
    };
    let ptr = Arc::into_raw(domain.clone());
    // INVARIANT: `ptr` came from `Arc::into_raw`; the `CDomainRef` owns its reference. If the
    // registration fails, it is dropped with it.
    match devres::register(dev, CDomainRef(ptr as usize), GFP_KERNEL) {
        Ok(()) => ptr.cast_mut().cast(),
        Err(e) => {
            // The caller gets no domain: remove it now rather than at unbind.
            domain.teardown();
            e.to_ptr()
        }
    }
}

/// C API: the number of free slots of a domain; 0 for a NULL or `ERR_PTR()` domain.
///
/// # Safety
///
/// `ims` must be NULL, an `ERR_PTR()` or a domain from `devm_ims_domain_create()` whose
/// device is bound.
#[no_mangle]
pub unsafe extern "C" fn ims_domain_free_slots(ims: *mut bindings::ims_domain) -> u32 {
    // SAFETY: The caller's contract.
    unsafe { c_domain(ims) }.map_or(0, |d| d.free_slots())
}

/// C API: adds `subdev` as a user of `ims` with `quota`; returns the user or an `ERR_PTR()`.
///
/// # Safety
///
/// As for [`ims_domain_free_slots`]; `subdev` is NULL or a valid device.
#[no_mangle]
pub unsafe extern "C" fn ims_user_add(
    ims: *mut bindings::ims_domain,
    subdev: *mut bindings::device,
    quota: u32,
) -> *mut bindings::ims_user {
    // SAFETY: The caller's contract.
    let domain = match unsafe { c_domain(ims) } {
        Ok(d) => Arc::from(d),
        Err(e) => return e.to_ptr(),
    };
    if subdev.is_null() {
        return EINVAL.to_ptr();
    }
    // SAFETY: `subdev` is a valid device (the caller's contract).
    let subdev = unsafe { Device::from_raw(subdev) };
    let user = match domain.add_user(subdev, quota) {
        Ok(u) => u,
        Err(e) => return e.to_ptr(),
    };
    let cuser = KBox::pin_init(
        pin_init!(CUser {
            user,
            vectors <- new_mutex!(RBTree::new(), "ims::CUser::vectors"),
        }),
        GFP_KERNEL,
    );
    match cuser {
        // SAFETY: The user is never moved out of the box: C only holds the pointer and gives
        // it back to `ims_user_remove()`, which rebuilds the pinned box.
        Ok(u) => KBox::into_raw(unsafe { Pin::into_inner_unchecked(u) }).cast(),
        Err(e) => e.to_ptr(),
    }
}

/// The lowest key of `tree`.
fn first_key<V>(tree: &RBTree<u32, V>) -> Option<u32> {
    tree.keys().next().copied()
}

/// C API: removes a user and frees the vectors it still holds.
///
/// # Safety
///
/// `user` must be NULL, an `ERR_PTR()`, or come from `ims_user_add()`, and not be used
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn ims_user_remove(user: *mut bindings::ims_user) {
    // SAFETY: `IS_ERR()` only looks at the pointer's value.
    if user.is_null() || unsafe { bindings::IS_ERR(user.cast()) } {
        return;
    }
    // SAFETY: The pointer came from `KBox::into_raw` of a pinned box (the caller's contract).
    let cuser = unsafe { Pin::new_unchecked(KBox::from_raw(user.cast::<CUser>())) };
    let mut vectors = core::mem::take(&mut *cuser.vectors.lock());
    while let Some(index) = first_key(&vectors) {
        if let Some(vector) = vectors.remove(&index) {
            CUser::drop_vector(vector);
        }
    }
    drop(cuser);
}

/// C API: sets the quota of a user; `-EINVAL` for a NULL or `ERR_PTR()` user.
///
/// # Safety
///
/// `user` must be NULL, an `ERR_PTR()` or a user from `ims_user_add()` not removed yet.
#[no_mangle]
pub unsafe extern "C" fn ims_user_set_quota(
    user: *mut bindings::ims_user,
    quota: u32,
) -> crate::ffi::c_int {
    // SAFETY: The caller's contract.
    match unsafe { c_user(user) }.and_then(|u| u.user.set_quota(quota)) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// C API: the number of vectors a user holds; 0 for a NULL or `ERR_PTR()` user.
///
/// # Safety
///
/// As for [`ims_user_set_quota`].
#[no_mangle]
pub unsafe extern "C" fn ims_user_count(user: *mut bindings::ims_user) -> u32 {
    // SAFETY: The caller's contract.
    unsafe { c_user(user) }.map_or(0, |u| u.user.count())
}

/// C API: allocates one vector for a user; on failure `index` is a negative errno and `virq`
/// 0 (`-EINVAL` for a NULL or `ERR_PTR()` user).
///
/// # Safety
///
/// As for [`ims_user_set_quota`]; `cookie` is null or points to a `u64`.
#[no_mangle]
pub unsafe extern "C" fn ims_user_alloc_irq(
    user: *mut bindings::ims_user,
    index: u32,
    cookie: *const u64,
) -> bindings::msi_map {
    let fail = |e: Error| bindings::msi_map {
        index: e.to_errno(),
        virq: 0,
    };
    // SAFETY: The caller's contract.
    let cuser = match unsafe { c_user(user) } {
        Ok(u) => u,
        Err(e) => return fail(e),
    };
    let reservation = match RBTreeNodeReservation::new(GFP_KERNEL) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    // SAFETY: `cookie` is null or valid (the caller's contract).
    let cookie = unsafe { cookie.as_ref() }.copied();
    let index = (index != msi::ANY_INDEX).then_some(index);
    match cuser.user.alloc(index, cookie) {
        Ok(vector) => {
            let map = vector.map().to_raw();
            cuser
                .vectors
                .lock()
                .insert(reservation.into_node(vector.index(), vector));
            map
        }
        Err(e) => fail(e),
    }
}

/// Whether a rate-limited message may be printed now (`printk_ratelimit()`, the kernel's
/// shared limit).
fn printk_ratelimit() -> bool {
    // SAFETY: `__printk_ratelimit()` takes any C string, only to name the caller.
    unsafe { bindings::__printk_ratelimit(c"ims".as_char_ptr()) != 0 }
}

/// C API: frees the vector in slot `index` held by `user`. Anything else (a slot the user does
/// not hold, a NULL or `ERR_PTR()` user) frees nothing and logs one rate-limited line.
///
/// # Safety
///
/// As for [`ims_user_set_quota`].
#[no_mangle]
pub unsafe extern "C" fn ims_user_free_irq(user: *mut bindings::ims_user, index: u32) {
    // SAFETY: The caller's contract.
    let vector = unsafe { c_user(user) }.map(|u| u.vectors.lock().remove(&index));
    match vector {
        Ok(Some(vector)) => CUser::drop_vector(vector),
        _ => {
            if printk_ratelimit() {
                pr_warn!(
                    "ims: not freeing slot {}: the user does not hold it\n",
                    index
                );
            }
        }
    }
}
