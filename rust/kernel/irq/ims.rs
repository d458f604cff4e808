// SPDX-License-Identifier: GPL-2.0

//! IMS (Interrupt Message Store): device-managed MSI.
//!
//! A device with an Interrupt Message Store keeps each vector's address/data pair itself (in
//! MMIO slots, in queue memory) instead of in the PCI MSI-X table. [`ImsDomain`] is the
//! per-device MSI domain for such storage: it lives in the device's secondary MSI domain
//! slot, next to its PCI/MSI-X domain, under the device's interrupt-remapping parent, and
//! its interrupt chip calls an [`ImsChip`] to touch the slots.
//!
//! Vectors are allocated one at a time, at any point after probe, for the device itself or
//! for a sub-device (a work queue, an mdev), each within a quota the parent driver sets.
//! Each vector carries a cookie (a PASID, a VM id): the requesting device's default MSI
//! cookie, copied into the vector's MSI descriptor at allocation, unless the caller names
//! another. [`ImsChip::unmask`] writes it to the slot, so the device raises the vector only
//! for work of that cookie.
//!
//! IMS requires interrupt remapping: the driver, not the PCI core, writes the messages, and
//! only a remapping unit validates them. Without it, [`ImsDomain::new`] fails with
//! `EOPNOTSUPP`.
//!
//! C header: [`include/linux/ims.h`](srctree/include/linux/ims.h), which is the C API of
//! this module (the `ims_*` functions at the end of this file).

use crate::{
    alloc::{flags::GFP_KERNEL, KBox, KVec},
    bindings,
    device::{Bound, Device},
    error::{code::*, Error, Result, VTABLE_DEFAULT_ERROR},
    irq::{
        msi::{self, IrqData, MsiMap, MsiMsg},
        DevresRegistration, Flags, ThreadedHandler, ThreadedRegistration,
    },
    prelude::*,
    str::CStr,
    sync::{aref::ARef, LockClassKey, Mutex},
};
use core::{ffi::c_void, marker::PhantomPinned, pin::Pin};

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
pub trait ImsChip: Send + Sync {
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

/// The cookie of a vector that may be raised only for work of PASID `pasid`, in the
/// encoding [`slot_ctrl`] understands (`IMS_COOKIE_PASID()` in C).
pub const fn pasid_cookie(pasid: u32) -> u64 {
    COOKIE_PASID_VALID | (pasid as u64 & COOKIE_PASID_MASK)
}

// CAST: bindgen types the 64-bit C constants as it sees fit; these are their values.
const COOKIE_PASID_VALID: u64 = bindings::IMS_COOKIE_PASID_VALID as u64;
const COOKIE_PASID_MASK: u64 = bindings::IMS_COOKIE_PASID_MASK as u64;
const SLOT_CTRL_MASK: u32 = bindings::IMS_SLOT_CTRL_MASK;
const SLOT_CTRL_PASID_EN: u32 = bindings::IMS_SLOT_CTRL_PASID_EN;
const SLOT_CTRL_PASID_SHIFT: u32 = bindings::IMS_SLOT_CTRL_PASID_SHIFT;

/// Returns the control word of a 16-byte IMS slot (`{addr_lo, addr_hi, data, ctrl}`, the
/// format of Intel DSA) for a vector with `cookie`: the mask bit if `masked`, and PASID
/// enable with the PASID if `cookie` is a [`pasid_cookie`].
///
/// # Examples
///
/// ```
/// use kernel::irq::ims::{pasid_cookie, slot_ctrl};
///
/// assert_eq!(slot_ctrl(pasid_cookie(0x42), false), (0x42 << 12) | 0x8);
/// assert_eq!(slot_ctrl(pasid_cookie(0x42), true), (0x42 << 12) | 0x8 | 0x1);
/// assert_eq!(slot_ctrl(0, true), 0x1);
/// ```
pub const fn slot_ctrl(cookie: u64, masked: bool) -> u32 {
    let mut ctrl = 0;
    if masked {
        ctrl |= SLOT_CTRL_MASK;
    }
    if cookie & COOKIE_PASID_VALID != 0 {
        // CAST: the PASID is 20 bits wide (`pasid_cookie`), it fits bits 31:12.
        ctrl |=
            SLOT_CTRL_PASID_EN | (((cookie & COOKIE_PASID_MASK) as u32) << SLOT_CTRL_PASID_SHIFT);
    }
    ctrl
}

/// A device that may hold vectors of an [`ImsDomain`], and how many.
struct User {
    dev: ARef<Device>,
    quota: u32,
    used: u32,
}

/// Allocation state of an [`ImsDomain`].
///
/// # Invariants
///
/// `owner` has one entry per slot: 0 if the slot is free, else 1 + the index in `users` of
/// the device holding it; each user's `used` is the number of slots it holds.
struct State {
    users: KVec<User>,
    owner: KVec<u16>,
}

impl State {
    fn user(&self, dev: &Device) -> Option<usize> {
        self.users
            .iter()
            .position(|u| core::ptr::eq::<Device>(&*u.dev, dev))
    }
}

/// The IMS domain of a device.
///
/// Created on a device whose MSI parent is an interrupt-remapping domain; removed, with any
/// vector still allocated, when dropped. It must be dropped before the device's driver is
/// unbound (the MSI core keeps the domain in the device's devres-managed MSI data).
///
/// # Invariants
///
/// - `dev`'s secondary MSI domain is an IMS domain created by [`ImsDomain::new`] whose chip
///   data points to `self`, from construction until `drop`.
/// - `nr_slots` is the domain's size, in `1..=msi::MAX_INDEX + 1`.
///
/// # Examples
///
/// ```
/// use kernel::device::{Bound, Device};
/// use kernel::irq::ims::{pasid_cookie, slot_ctrl, ImsChip, ImsDomain};
/// use kernel::irq::msi::MsiMsg;
/// use kernel::prelude::*;
///
/// /// Slots in memory, for illustration; a real chip writes MMIO.
/// struct MemChip;
///
/// #[vtable]
/// impl ImsChip for MemChip {
///     fn write_msg(&self, _index: u32, _msg: &MsiMsg) {}
///     fn mask(&self, _index: u32, cookie: u64) {
///         let _ctrl = slot_ctrl(cookie, true);
///     }
///     fn unmask(&self, _index: u32, cookie: u64) {
///         let _ctrl = slot_ctrl(cookie, false);
///     }
///     fn shutdown(&self, _index: u32) {}
/// }
///
/// # #[allow(dead_code)]
/// fn probe_tail(dev: &Device<Bound>, wq: &Device) -> Result {
///     let ims = ImsDomain::new(dev, c"IMS", MemChip, 2048)?;
///     ims.set_quota(wq, 8)?;
///     let map = ims.alloc(wq, None, Some(pasid_cookie(5)))?;
///     ims.free(wq, map.index)?;
///     Ok(())
/// }
/// ```
#[pin_data(PinnedDrop)]
pub struct ImsDomain<T: ImsChip> {
    chip: T,
    dev: ARef<Device>,
    nr_slots: u32,
    #[pin]
    state: Mutex<State>,
    #[pin]
    _pin: PhantomPinned,
}

impl<T: ImsChip> ImsDomain<T> {
    /// Creates the IMS domain of `dev` with `nr_slots` slots stored by `chip`.
    ///
    /// `name` names the interrupt chip (`/proc/interrupts` shows it with the parent's prefix
    /// and the device name). The device itself may hold up to `nr_slots` vectors; other
    /// devices need a quota ([`ImsDomain::set_quota`]).
    ///
    /// Fails with `EOPNOTSUPP` if the device's MSI parent cannot serve IMS (no interrupt
    /// remapping), `EINVAL` for a slot count of 0 or above 65536, `EEXIST` if the device
    /// already has an IMS domain.
    pub fn new(
        dev: &Device<Bound>,
        name: &CStr,
        chip: T,
        nr_slots: u32,
    ) -> Result<Pin<KBox<Self>>> {
        if nr_slots == 0 || nr_slots > msi::MAX_INDEX + 1 {
            return Err(EINVAL);
        }
        build_assert!(
            T::HAS_BUS_LOCK == T::HAS_BUS_SYNC_UNLOCK,
            "an ImsChip implements both bus_lock and bus_sync_unlock, or neither"
        );
        check_parent(dev)?;
        if raw::has_ims_domain(dev) {
            return Err(EEXIST);
        }

        let mut owner = KVec::new();
        // CAST: `nr_slots` is at most 65536 (checked above).
        owner.extend_with(nr_slots as usize, 0u16, GFP_KERNEL)?;
        let mut users = KVec::new();
        users.push(
            User {
                dev: dev.into(),
                quota: nr_slots,
                used: 0,
            },
            GFP_KERNEL,
        )?;

        let this = KBox::pin_init(
            pin_init!(Self {
                chip,
                dev: dev.into(),
                nr_slots,
                state <- Mutex::new(State { users, owner }, STATE_CLASS.0, STATE_CLASS.1),
                _pin: PhantomPinned,
            }),
            GFP_KERNEL,
        )?;
        this.create_irq_domain(name)?;
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
    fn create_irq_domain(self: &Pin<KBox<Self>>, name: &CStr) -> Result {
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
        tmpl.info.bus_token = bindings::irq_domain_bus_token_DOMAIN_BUS_PCI_DEVICE_IMS;
        tmpl.info.flags = bindings::MSI_FLAG_USE_DEF_DOM_OPS
            | bindings::MSI_FLAG_USE_DEF_CHIP_OPS
            | bindings::MSI_FLAG_ALLOC_SIMPLE_MSI_DESCS
            | bindings::MSI_FLAG_FREE_MSI_DESCS;

        let chip_data: *const Self = &**self;
        // SAFETY: `chip_data` points to `self`, which is pinned and outlives the domain: `drop`
        // removes the domain before `self` is freed; the callbacks of `tmpl` expect it.
        if unsafe { raw::create(&self.dev, &tmpl, self.nr_slots, chip_data.cast_mut().cast()) } {
            Ok(())
        } else {
            Err(ENOMEM)
        }
    }

    /// Lets `subdev` hold up to `quota` vectors of this domain.
    ///
    /// Fails with `EBUSY` if `subdev` already holds more than `quota`.
    pub fn set_quota(&self, subdev: &Device, quota: u32) -> Result {
        let mut state = self.state.lock();
        match state.user(subdev) {
            Some(i) if state.users[i].used > quota => Err(EBUSY),
            Some(i) => {
                state.users[i].quota = quota;
                Ok(())
            }
            None if state.users.len() >= usize::from(u16::MAX) => Err(ENOSPC),
            None => {
                let user = User {
                    dev: subdev.into(),
                    quota,
                    used: 0,
                };
                state.users.push(user, GFP_KERNEL)?;
                Ok(())
            }
        }
    }

    /// Returns the number of vectors `subdev` holds.
    pub fn count(&self, subdev: &Device) -> u32 {
        let state = self.state.lock();
        state.user(subdev).map_or(0, |i| state.users[i].used)
    }

    /// Allocates one vector for `subdev`, at slot `index` or at any free slot.
    ///
    /// The vector's cookie is `cookie` if given, else `subdev`'s default MSI cookie as it is
    /// now. Vectors already allocated are not touched.
    ///
    /// Fails with `ENOSPC` when `subdev` is at its quota or no slot is free, `EBUSY` if slot
    /// `index` is taken, `EINVAL` if `index` is out of range.
    pub fn alloc(
        &self,
        subdev: &Device,
        index: Option<u32>,
        cookie: Option<u64>,
    ) -> Result<MsiMap> {
        let mut state = self.state.lock();
        // The caller's own mistakes (a bad or taken index) are reported before the quota.
        if let Some(i) = index {
            // CAST: `u32` to `usize` is lossless on every supported architecture.
            match state.owner.get(i as usize) {
                None => return Err(EINVAL),
                Some(0) => {}
                Some(_) => return Err(EBUSY),
            }
        }
        let user = state.user(subdev).ok_or(ENOSPC)?;
        if state.users[user].used >= state.users[user].quota {
            return Err(ENOSPC);
        }

        let cookie = cookie.unwrap_or_else(|| msi::default_cookie(subdev));
        let map = raw::alloc_irq_at(&self.dev, index.unwrap_or(msi::ANY_INDEX), cookie);
        let map = MsiMap::from_raw(map)?;
        // INVARIANT: the slot is recorded as held by `user`, whose count goes up by one.
        // CAST: `user` is below `u16::MAX` (checked when it was added); the slot is below
        // `nr_slots`.
        state.owner[map.index as usize] = user as u16 + 1;
        state.users[user].used += 1;
        Ok(map)
    }

    /// Requests the interrupt of `map`, a vector of this domain, for a threaded `handler`.
    ///
    /// The registration belongs to the device's devres list as well as to the caller: the
    /// handler is removed when the returned value is dropped, or when the device is unbound.
    /// Drop it before freeing the vector ([`Self::free`]).
    ///
    /// Fails with `EINVAL` if `map` is not a vector of this domain.
    pub fn request_threaded_irq<H: ThreadedHandler + Send + 'static, E>(
        &self,
        map: &MsiMap,
        flags: Flags,
        name: &'static CStr,
        handler: impl PinInit<H, E> + 'static,
    ) -> Result<DevresRegistration<H>>
    where
        Error: From<E>,
    {
        if raw::virq(&self.dev, map.index) != map.virq {
            return Err(EINVAL);
        }
        // SAFETY: An `ImsDomain` is created on a bound device and dropped before the device is
        // unbound (the domain's contract), and the reference does not outlive `self`.
        let dev = unsafe { self.dev.as_bound() };
        // SAFETY: `map.virq` is an interrupt of the IMS domain of `dev` (checked above).
        let request = unsafe { crate::irq::IrqRequest::new(dev, map.virq) };
        ThreadedRegistration::new_devres(dev, request, flags, name, handler)
    }

    /// Frees the vector in slot `index`, which `subdev` holds. Other vectors are not touched.
    ///
    /// Its interrupt must have been freed (`free_irq()`) first. Fails with `EINVAL` if
    /// `subdev` does not hold slot `index`.
    pub fn free(&self, subdev: &Device, index: u32) -> Result {
        let mut state = self.state.lock();
        let user = state.user(subdev).ok_or(EINVAL)?;
        // CAST: lossless, see `alloc`.
        match state.owner.get(index as usize) {
            Some(&o) if usize::from(o) == user + 1 => {}
            _ => return Err(EINVAL),
        }
        // SAFETY: The secondary domain of `self.dev` is ours; slot `index` holds an allocated
        // vector (checked above).
        unsafe { raw::free_irq(&self.dev, index) };
        // INVARIANT: the slot is free again and its holder's count goes down by one.
        state.owner[index as usize] = 0;
        state.users[user].used -= 1;
        Ok(())
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

#[pinned_drop]
impl<T: ImsChip> PinnedDrop for ImsDomain<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: The secondary domain of `self.dev` is ours (type invariant).
        unsafe { raw::remove(&self.dev) };
    }
}

/// The calls into the C MSI core.
///
/// They are kept out of the generic [`ImsDomain`], so that they are compiled once, into the
/// kernel crate: the MSI core does not export these functions to modules, and a driver module
/// instantiating `ImsDomain<T>` reaches them through the kernel crate instead.
mod raw {
    use super::*;

    /// Returns whether `dev` has an IMS domain.
    #[inline(never)]
    pub(super) fn has_ims_domain(dev: &Device) -> bool {
        // SAFETY: `dev` is valid. `msi_match_device_irq_domain()` takes the lock in the
        // device's MSI data, so it is only called once that data exists (a device that never
        // had an MSI domain has none, and then no IMS domain either).
        unsafe {
            !(*dev.as_raw()).msi.data.is_null()
                && bindings::msi_match_device_irq_domain(
                    dev.as_raw(),
                    msi::SECONDARY_DOMAIN,
                    bindings::irq_domain_bus_token_DOMAIN_BUS_PCI_DEVICE_IMS,
                )
        }
    }

    /// Creates the secondary MSI domain of `dev` from `tmpl` with `nr_slots` slots.
    ///
    /// # Safety
    ///
    /// `chip_data` must be what the callbacks of `tmpl` expect, valid until [`remove`].
    #[inline(never)]
    pub(super) unsafe fn create(
        dev: &Device,
        tmpl: &bindings::msi_domain_template,
        nr_slots: u32,
        chip_data: *mut c_void,
    ) -> bool {
        // SAFETY:
        // - `dev` is a valid device with an MSI parent domain (checked by the caller),
        // - the template is copied by the callee; the chip name only has to live until the
        //   call returns (it is copied into the domain's name storage),
        // - `chip_data` is valid for the domain's lifetime (function safety requirement).
        unsafe {
            bindings::msi_create_device_irq_domain(
                dev.as_raw(),
                msi::SECONDARY_DOMAIN,
                tmpl,
                nr_slots,
                core::ptr::null_mut(),
                chip_data,
            )
        }
    }

    /// Returns the interrupt number of the vector at `index` of the IMS domain of `dev`, 0 if
    /// there is none.
    #[inline(never)]
    pub(super) fn virq(dev: &Device, index: u32) -> u32 {
        // SAFETY: `dev` is valid; the callee looks the index up under the device's MSI lock.
        unsafe { bindings::msi_domain_get_virq(dev.as_raw(), msi::SECONDARY_DOMAIN, index) }
    }

    /// Allocates the vector at `index` (or any) of the IMS domain of `dev` with `cookie`.
    #[inline(never)]
    pub(super) fn alloc_irq_at(dev: &Device, index: u32, cookie: u64) -> bindings::msi_map {
        let mut icookie = bindings::msi_instance_cookie { value: cookie };
        // SAFETY: `dev` is valid; an IMS domain, if it has one, is in its secondary slot, and
        // the callee fails cleanly without one. It copies the cookie into the new MSI
        // descriptor.
        unsafe {
            bindings::msi_domain_alloc_irq_at(
                dev.as_raw(),
                msi::SECONDARY_DOMAIN,
                index,
                core::ptr::null(),
                &mut icookie,
            )
        }
    }

    /// Frees the vector at `index` of the IMS domain of `dev`.
    ///
    /// # Safety
    ///
    /// The secondary domain of `dev` is an IMS domain, and `index` holds a vector whose
    /// interrupt is not requested.
    #[inline(never)]
    pub(super) unsafe fn free_irq(dev: &Device, index: u32) {
        // SAFETY: Guaranteed by the function safety requirement.
        unsafe {
            bindings::msi_domain_free_irqs_range(dev.as_raw(), msi::SECONDARY_DOMAIN, index, index)
        };
    }

    /// Frees every vector of the IMS domain of `dev` and removes the domain.
    ///
    /// # Safety
    ///
    /// The secondary domain of `dev` is an IMS domain nobody uses any more.
    #[inline(never)]
    pub(super) unsafe fn remove(dev: &Device) {
        let dev = dev.as_raw();
        // SAFETY: `dev` is valid (the caller holds a reference). Its MSI data is gone only if
        // the device's devres were released while the domain still existed, which
        // `ImsDomain`'s contract forbids; then the domain went with it and there is nothing
        // left to remove.
        if unsafe { (*dev).msi.data }.is_null() {
            pr_warn!("ims: domain dropped after its device's MSI data was released\n");
            return;
        }
        // SAFETY: The secondary domain of `dev` is an IMS domain (function safety
        // requirement). Its vectors are freed first: removing a domain does not free them.
        unsafe {
            bindings::msi_domain_free_irqs_all(dev, msi::SECONDARY_DOMAIN);
            bindings::msi_remove_device_irq_domain(dev, msi::SECONDARY_DOMAIN);
        }
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
/// run in any context for the life of the domain (the contract of `ims_domain_create()`).
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
        // SAFETY: `ops` is valid (type invariant); `ims_domain_create()` checked that both bus
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

/// Returns the domain behind a C handle, or `EINVAL` for a NULL or `ERR_PTR()` handle (a
/// C caller may pass on what a failed `ims_domain_create()` returned), and the device behind
/// `subdev`, or `EINVAL` for NULL.
///
/// # Safety
///
/// `ims` must be NULL, an `ERR_PTR()`, or a pointer returned by `ims_domain_create()` and
/// not yet removed; `subdev` must be NULL or a valid device.
unsafe fn c_args<'a>(
    ims: *mut bindings::ims_domain,
    subdev: *mut bindings::device,
) -> Result<(&'a CDomain, &'a Device)> {
    // SAFETY: `IS_ERR()` only looks at the pointer's value.
    if ims.is_null() || subdev.is_null() || unsafe { bindings::IS_ERR(ims.cast()) } {
        return Err(EINVAL);
    }
    // SAFETY: By the function's contract the pointer came from `KBox::into_raw` of a pinned
    // `CDomain` that is still alive, and `subdev` is a valid device.
    Ok(unsafe { (&*ims.cast::<CDomain>(), Device::from_raw(subdev)) })
}

/// C API: creates the IMS domain of `dev` (see `include/linux/ims.h`).
///
/// Returns the domain or an `ERR_PTR()`.
///
/// # Safety
///
/// `dev` must be a valid device, bound to the caller's driver until `ims_domain_remove()`,
/// `name` a valid C string, and `ops`/`priv_` must satisfy the contract of
/// `struct ims_chip_ops` until `ims_domain_remove()`.
#[no_mangle]
pub unsafe extern "C" fn ims_domain_create(
    dev: *mut bindings::device,
    name: *const crate::ffi::c_char,
    ops: *const bindings::ims_chip_ops,
    priv_: *mut c_void,
    nr_slots: u32,
) -> *mut bindings::ims_domain {
    if dev.is_null() || name.is_null() || ops.is_null() {
        return EINVAL.to_ptr();
    }
    // SAFETY: `dev` is a valid device, bound until the domain is removed (the caller's
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
    match CDomain::new(dev, name, chip, nr_slots) {
        // SAFETY: The domain is never moved out of the box: C only holds the pointer and
        // gives it back to `ims_domain_remove()`, which rebuilds the pinned box.
        Ok(d) => KBox::into_raw(unsafe { Pin::into_inner_unchecked(d) }).cast(),
        Err(e) => e.to_ptr(),
    }
}

/// C API: removes an IMS domain and frees its remaining vectors.
///
/// # Safety
///
/// `ims` must come from `ims_domain_create()` and not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ims_domain_remove(ims: *mut bindings::ims_domain) {
    // SAFETY: `IS_ERR_OR_NULL` values are not domains; a C caller may pass them on error paths.
    if ims.is_null() || unsafe { bindings::IS_ERR(ims.cast()) } {
        return;
    }
    // SAFETY: The pointer came from `KBox::into_raw` of a pinned box (the caller's contract).
    drop(unsafe { Pin::new_unchecked(KBox::from_raw(ims.cast::<CDomain>())) });
}

/// C API: sets the quota of `subdev`; `-EINVAL` for a NULL or `ERR_PTR()` domain or a NULL
/// device.
///
/// # Safety
///
/// `ims` must be NULL, an `ERR_PTR()` or a live domain from `ims_domain_create()`, and
/// `subdev` NULL or a valid device.
#[no_mangle]
pub unsafe extern "C" fn ims_set_quota(
    ims: *mut bindings::ims_domain,
    subdev: *mut bindings::device,
    quota: u32,
) -> core::ffi::c_int {
    // SAFETY: The caller's contract.
    let res = unsafe { c_args(ims, subdev) }.and_then(|(ims, dev)| ims.set_quota(dev, quota));
    match res {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// C API: returns the number of vectors `subdev` holds; 0 for a NULL or `ERR_PTR()` domain
/// or a NULL device.
///
/// # Safety
///
/// As for [`ims_set_quota`].
#[no_mangle]
pub unsafe extern "C" fn ims_count(
    ims: *mut bindings::ims_domain,
    subdev: *mut bindings::device,
) -> u32 {
    // SAFETY: The caller's contract.
    unsafe { c_args(ims, subdev) }.map_or(0, |(ims, dev)| ims.count(dev))
}

/// C API: allocates one vector; on failure `index` is a negative errno and `virq` 0
/// (`-EINVAL` for a NULL or `ERR_PTR()` domain or a NULL device).
///
/// # Safety
///
/// As for [`ims_set_quota`]; `cookie` is null or points to a `u64`.
#[no_mangle]
pub unsafe extern "C" fn ims_alloc_irq(
    ims: *mut bindings::ims_domain,
    subdev: *mut bindings::device,
    index: u32,
    cookie: *const u64,
) -> bindings::msi_map {
    let fail = |e: Error| bindings::msi_map {
        index: e.to_errno(),
        virq: 0,
    };
    // SAFETY: The caller's contract.
    let (ims, subdev) = match unsafe { c_args(ims, subdev) } {
        Ok(args) => args,
        Err(e) => return fail(e),
    };
    // SAFETY: `cookie` is null or valid (the caller's contract).
    let cookie = unsafe { cookie.as_ref() }.copied();
    let index = (index != msi::ANY_INDEX).then_some(index);
    match ims.alloc(subdev, index, cookie) {
        Ok(map) => map.to_raw(),
        Err(e) => fail(e),
    }
}

/// Whether a rate-limited message may be printed now (`printk_ratelimit()`, the kernel's
/// shared limit).
fn printk_ratelimit() -> bool {
    // SAFETY: `__printk_ratelimit()` takes any C string, only to name the caller.
    unsafe { bindings::__printk_ratelimit(c"ims".as_char_ptr()) != 0 }
}

/// C API: frees the vector in slot `index` held by `subdev`. Anything else (a slot the
/// device does not hold, a NULL or `ERR_PTR()` domain, a NULL device) frees nothing and
/// logs one rate-limited line.
///
/// # Safety
///
/// As for [`ims_set_quota`].
#[no_mangle]
pub unsafe extern "C" fn ims_free_irq(
    ims: *mut bindings::ims_domain,
    subdev: *mut bindings::device,
    index: u32,
) {
    // SAFETY: The caller's contract.
    let res = unsafe { c_args(ims, subdev) }.and_then(|(ims, dev)| ims.free(dev, index));
    if res.is_err() && printk_ratelimit() {
        pr_warn!(
            "ims: not freeing slot {}: the device does not hold it\n",
            index
        );
    }
}

/// C API: the control word of a 16-byte slot, see [`slot_ctrl`].
#[no_mangle]
pub extern "C" fn ims_slot_ctrl(cookie: u64, masked: bool) -> u32 {
    slot_ctrl(cookie, masked)
}
