// SPDX-License-Identifier: GPL-2.0

//! Message signalled interrupts: messages, descriptors and per-device domain ids.
//!
//! C header: [`include/linux/msi.h`](srctree/include/linux/msi.h).

use crate::{
    bindings,
    device::Device,
    error::{code::*, Error},
    prelude::Result,
    types::Opaque,
};
use core::ffi::c_void;

/// The secondary per-device MSI domain, which hosts a device's IMS vectors next to its
/// PCI/MSI-X vectors (`MSI_DEFAULT_DOMAIN`).
pub const SECONDARY_DOMAIN: u32 = bindings::msi_domain_ids_MSI_SECONDARY_DOMAIN;

/// Allocation at any free index.
pub const ANY_INDEX: u32 = u32::MAX;

/// The highest index a per-device MSI domain can hold.
pub const MAX_INDEX: u32 = u16::MAX as u32;

/// Sets the default MSI instance cookie of `dev` (a PASID, a VM id).
///
/// IMS vectors allocated for `dev` from now on carry `cookie` unless the allocation names
/// another one; vectors allocated before keep theirs. C: `dev_msi_set_default_cookie()`.
///
/// # Examples
///
/// ```
/// use kernel::device::Device;
/// use kernel::irq::msi;
///
/// /// The cookie encoding is the chip's: here a VM id in the low 32 bits.
/// # #[allow(dead_code)]
/// fn bind_vport_to_vm(vport: &Device, vm_id: u32) {
///     msi::set_default_cookie(vport, u64::from(vm_id));
///     assert_eq!(msi::default_cookie(vport), u64::from(vm_id));
/// }
/// ```
pub fn set_default_cookie(dev: &Device, cookie: u64) {
    // SAFETY: `dev` is a valid device; the helper writes one field with `WRITE_ONCE()`.
    unsafe { bindings::dev_msi_set_default_cookie(dev.as_raw(), cookie) }
}

/// Returns the default MSI instance cookie of `dev`, 0 if none was set.
///
/// C: `dev_msi_default_cookie()`.
pub fn default_cookie(dev: &Device) -> u64 {
    // SAFETY: `dev` is a valid device; the helper reads one field with `READ_ONCE()`.
    unsafe { bindings::dev_msi_default_cookie(dev.as_raw()) }
}

/// An MSI message: the address/data pair a device writes to raise an interrupt.
///
/// # Invariants
///
/// Wraps a `struct msi_msg` that the interrupt core owns for the duration of the borrow.
#[repr(transparent)]
pub struct MsiMsg(Opaque<bindings::msi_msg>);

impl MsiMsg {
    /// Creates a reference to an [`MsiMsg`] from a pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct msi_msg` that is neither written nor freed for the
    /// lifetime `'a`.
    pub unsafe fn from_raw<'a>(ptr: *const bindings::msi_msg) -> &'a Self {
        // SAFETY: `MsiMsg` is a transparent wrapper of `msi_msg`; the caller guarantees the
        // pointer is valid for `'a`.
        unsafe { &*ptr.cast() }
    }

    fn raw(&self) -> bindings::msi_msg {
        // SAFETY: By the type invariant the message is valid; it is plain data, copied out.
        unsafe { *self.0.get() }
    }

    /// The low 32 bits of the message address.
    pub fn address_lo(&self) -> u32 {
        // SAFETY: Each union member of `msi_msg` is a plain `u32` view of the same word.
        unsafe { self.raw().__bindgen_anon_1.address_lo }
    }

    /// The high 32 bits of the message address.
    pub fn address_hi(&self) -> u32 {
        // SAFETY: As above, for the second word.
        unsafe { self.raw().__bindgen_anon_2.address_hi }
    }

    /// The message data.
    pub fn data(&self) -> u32 {
        // SAFETY: As above, for the data word.
        unsafe { self.raw().__bindgen_anon_3.data }
    }
}

/// The result of allocating one vector of a per-device MSI domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsiMap {
    /// The index of the vector in its domain (for IMS: the slot).
    pub index: u32,
    /// The Linux interrupt number.
    pub virq: u32,
}

impl MsiMap {
    /// Converts what the C allocators (`msi_domain_alloc_irq_at()`, `pci_msix_alloc_irq_at()`)
    /// return: on failure `index` holds a negative errno.
    pub fn from_raw(map: bindings::msi_map) -> Result<Self> {
        if map.index < 0 {
            return Err(Error::from_errno(map.index));
        }
        // CAST: on success the index is non-negative and the interrupt number positive.
        Ok(Self {
            index: map.index as u32,
            virq: map.virq as u32,
        })
    }

    /// Returns the C representation, for the C API.
    pub fn to_raw(self) -> bindings::msi_map {
        // CAST: indexes are at most `MAX_INDEX` and interrupt numbers fit `int` (C types).
        bindings::msi_map {
            index: self.index as i32,
            virq: self.virq as i32,
        }
    }
}

/// Interrupt data of one interrupt of an MSI domain, as its chip callbacks see it.
///
/// # Invariants
///
/// Wraps a `struct irq_data` of an interrupt that belongs to an MSI domain, so that it has
/// an MSI descriptor, for the duration of the borrow.
#[repr(transparent)]
pub struct IrqData(Opaque<bindings::irq_data>);

impl IrqData {
    /// Creates a reference to an [`IrqData`] from a pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to the valid `struct irq_data` of an interrupt of an MSI domain (it
    /// has an MSI descriptor), which stays valid for the lifetime `'a`; the interrupt core
    /// guarantees that inside irq_chip callbacks.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::irq_data) -> &'a Self {
        // SAFETY: Transparent wrapper; validity is the caller's guarantee.
        unsafe { &*ptr.cast() }
    }

    fn msi_desc(&self) -> *mut bindings::msi_desc {
        // SAFETY: By the type invariant `self` is a valid `irq_data`.
        unsafe { bindings::irq_data_get_msi_desc(self.0.get()) }
    }

    /// The chip data pointer given when the domain was created.
    pub fn chip_data(&self) -> *mut core::ffi::c_void {
        // SAFETY: By the type invariant `self` is a valid `irq_data`.
        unsafe { bindings::irq_data_get_irq_chip_data(self.0.get()) }
    }

    /// The index of the interrupt in its per-device domain.
    pub fn msi_index(&self) -> u32 {
        // SAFETY: By the type invariant the interrupt has a valid MSI descriptor.
        u32::from(unsafe { (*self.msi_desc()).msi_index })
    }

    /// The instance cookie stored in the interrupt's MSI descriptor at allocation.
    pub fn cookie(&self) -> u64 {
        // SAFETY: By the type invariant the descriptor is valid; the cookie union is read as
        // its `u64` member, which every member (a u64 or a pointer) fits in.
        unsafe { (*self.msi_desc()).__bindgen_anon_1.data.icookie.value }
    }
}

/// A device's secondary per-device MSI domain ([`SECONDARY_DOMAIN`]): the operations a
/// device-MSI user (IMS, a platform device's own message store) needs on it.
///
/// The MSI core does not export these functions to modules; a module reaches them through the
/// kernel crate. Each is called without the device's MSI lock held: the MSI core takes it.
pub mod secondary {
    use super::*;

    /// Returns whether `dev` has a secondary MSI domain whose bus token is `bus_token`.
    #[inline(never)]
    pub fn exists(dev: &Device, bus_token: bindings::irq_domain_bus_token) -> bool {
        // SAFETY: `dev` is valid. `msi_match_device_irq_domain()` takes the lock in the
        // device's MSI data, so it is only called once that data exists (a device that never
        // had an MSI domain has none, and then no secondary domain either).
        unsafe {
            !(*dev.as_raw()).msi.data.is_null()
                && bindings::msi_match_device_irq_domain(dev.as_raw(), SECONDARY_DOMAIN, bus_token)
        }
    }

    /// Creates the secondary MSI domain of `dev` from `tmpl`, with `hwsize` vectors.
    ///
    /// Fails with `ENOMEM` if the MSI core refuses (no MSI parent, a secondary domain exists
    /// already, no memory).
    ///
    /// # Safety
    ///
    /// `chip_data` must be what the callbacks of `tmpl` expect, valid until [`remove`].
    #[inline(never)]
    pub unsafe fn create(
        dev: &Device,
        tmpl: &bindings::msi_domain_template,
        hwsize: u32,
        chip_data: *mut c_void,
    ) -> Result {
        // SAFETY:
        // - `dev` is a valid device; the callee fails cleanly without an MSI parent,
        // - the template is copied by the callee; the chip name only has to live until the
        //   call returns (it is copied into the domain's name storage),
        // - `chip_data` is valid for the domain's lifetime (function safety requirement).
        let ok = unsafe {
            bindings::msi_create_device_irq_domain(
                dev.as_raw(),
                SECONDARY_DOMAIN,
                tmpl,
                hwsize,
                core::ptr::null_mut(),
                chip_data,
            )
        };
        if ok {
            Ok(())
        } else {
            Err(ENOMEM)
        }
    }

    /// Returns the interrupt number of the vector at `index` of the secondary domain of
    /// `dev`, 0 if there is none.
    #[inline(never)]
    pub fn virq(dev: &Device, index: u32) -> u32 {
        // SAFETY: `dev` is valid; the callee looks the index up under the device's MSI lock.
        unsafe { bindings::msi_domain_get_virq(dev.as_raw(), SECONDARY_DOMAIN, index) }
    }

    /// Allocates the vector at `index` (any free one for `None`) of the secondary domain of
    /// `dev`, with `cookie` in its MSI descriptor. Vectors already allocated are not touched.
    ///
    /// Fails with `EBUSY` if `index` is taken, `ENOSPC` if no index is free, `ERANGE` for an
    /// index beyond the domain, `ENODEV` if `dev` has no secondary domain.
    #[inline(never)]
    pub fn alloc_at(dev: &Device, index: Option<u32>, cookie: u64) -> Result<MsiMap> {
        let mut icookie = bindings::msi_instance_cookie { value: cookie };
        // SAFETY: `dev` is valid; the callee fails cleanly without a secondary domain. It
        // copies the cookie into the new MSI descriptor.
        let map = unsafe {
            bindings::msi_domain_alloc_irq_at(
                dev.as_raw(),
                SECONDARY_DOMAIN,
                index.unwrap_or(ANY_INDEX),
                core::ptr::null(),
                &mut icookie,
            )
        };
        MsiMap::from_raw(map)
    }

    /// Frees the vector at `index` of the secondary domain of `dev`. Other vectors are not
    /// touched.
    ///
    /// # Safety
    ///
    /// `dev` has a secondary domain, and the interrupt of the vector at `index`, if it is
    /// allocated, is not requested.
    #[inline(never)]
    pub unsafe fn free(dev: &Device, index: u32) {
        // SAFETY: Guaranteed by the function safety requirement.
        unsafe {
            bindings::msi_domain_free_irqs_range(dev.as_raw(), SECONDARY_DOMAIN, index, index)
        };
    }

    /// Frees every vector of the secondary domain of `dev` and removes the domain.
    ///
    /// # Safety
    ///
    /// `dev` has a secondary domain nobody uses any more: no interrupt of it is requested and
    /// no callback will look for it.
    #[inline(never)]
    pub unsafe fn remove(dev: &Device) {
        let dev = dev.as_raw();
        // SAFETY: `dev` is valid. Its MSI data goes only at the release of the devres it was
        // set up in, with any domain it holds; then there is nothing left to remove.
        if unsafe { (*dev).msi.data }.is_null() {
            return;
        }
        // SAFETY: `dev` has a secondary domain nobody uses (function safety requirement). Its
        // vectors are freed first: removing a domain does not free them.
        unsafe {
            bindings::msi_domain_free_irqs_all(dev, SECONDARY_DOMAIN);
            bindings::msi_remove_device_irq_domain(dev, SECONDARY_DOMAIN);
        }
    }
}
