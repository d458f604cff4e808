// SPDX-License-Identifier: GPL-2.0

//! Message signalled interrupts: messages, descriptors and per-device domain ids.
//!
//! C header: [`include/linux/msi.h`](srctree/include/linux/msi.h).

use crate::{bindings, device::Device, error::Error, prelude::Result, types::Opaque};

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
/// use kernel::irq::{ims, msi};
///
/// # #[allow(dead_code)]
/// fn bind_wq_to_pasid(wq: &Device, pasid: u32) {
///     msi::set_default_cookie(wq, ims::pasid_cookie(pasid));
///     assert_eq!(msi::default_cookie(wq), ims::pasid_cookie(pasid));
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
