// SPDX-License-Identifier: GPL-2.0

//! Dynamic MSI-X vectors and the device's NUMA node.
//!
//! A PCI function whose MSI-X capability allows it can gain vectors one at a time after
//! [`Device::alloc_irq_vectors`], without freeing the ones in use.
//!
//! C header: [`include/linux/pci.h`](srctree/include/linux/pci.h)

use super::{IrqType, IrqVectorRegistration};
use crate::pci::Device;
use crate::{
    bindings, device,
    irq::{
        msi::{self, MsiMap},
        IrqRequest,
    },
    prelude::*,
};

/// One MSI-X vector allocated at run time, on top of an [`IrqVectorRegistration`].
///
/// Dropping it frees the vector; the vectors of the registration are not touched.
///
/// # Invariants
///
/// `map` is a vector allocated with `pci_msix_alloc_irq_at()` for `reg`'s device, and not
/// freed yet.
pub struct DynIrqVector<'a> {
    reg: &'a IrqVectorRegistration<'a>,
    map: MsiMap,
}

impl<'a> IrqVectorRegistration<'a> {
    /// Returns whether vectors can be added one at a time with [`Self::alloc_at`]: the
    /// allocation is MSI-X and the device's MSI domain supports dynamic allocation.
    pub fn can_alloc_dyn(&self) -> bool {
        if !matches!(self.irq_type(), IrqType::MsiX) {
            return false;
        }
        // SAFETY: `self.dev` is a valid, bound PCI device.
        unsafe { bindings::pci_msix_can_alloc_dyn(self.dev.as_raw()) }
    }

    /// Allocates one MSI-X vector at `index`, or at the first free index if `index` is `None`.
    ///
    /// Fails with [`ENOTSUPP`] if the device cannot add vectors (see [`Self::can_alloc_dyn`]),
    /// and with [`ENOSPC`] or [`EBUSY`] if the index is beyond the table or taken.
    pub fn alloc_at(&'a self, index: Option<u32>) -> Result<DynIrqVector<'a>> {
        if !self.can_alloc_dyn() {
            return Err(ENOTSUPP);
        }
        let index = index.unwrap_or(msi::ANY_INDEX);
        let dev = self.dev.as_raw();
        // SAFETY: `dev` is a valid, bound PCI device with MSI-X enabled (checked above); a null
        // affinity descriptor asks for the default affinity.
        let map = unsafe { bindings::pci_msix_alloc_irq_at(dev, index, core::ptr::null()) };
        // INVARIANT: `map` was allocated for `self.dev` just now.
        Ok(DynIrqVector {
            reg: self,
            map: MsiMap::from_raw(map)?,
        })
    }
}

impl<'a> DynIrqVector<'a> {
    /// The index of the vector in the MSI-X table.
    pub fn index(&self) -> u32 {
        self.map.index
    }

    /// The request for the vector's interrupt, for [`crate::irq::Registration`].
    pub fn request(&self) -> IrqRequest<'_> {
        // SAFETY: `map.virq` is an interrupt of `reg`'s device (type invariant), which is bound
        // for `'a`; the request borrows `self`, so the vector outlives any registration made
        // from it.
        unsafe { IrqRequest::new(self.reg.dev.as_ref(), self.map.virq) }
    }
}

impl Drop for DynIrqVector<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `map` is allocated for `reg`'s device and not freed; no
        // registration can be left on it, as each borrows `self`.
        unsafe { bindings::pci_msix_free_irq(self.reg.dev.as_raw(), self.map.to_raw()) };
    }
}

impl<Ctx: device::DeviceContext> Device<Ctx> {
    /// Returns the NUMA node of the device, or `None` if it has none (`NUMA_NO_NODE`).
    pub fn numa_node(&self) -> Option<u32> {
        // SAFETY: `self` is a valid PCI device; the helper reads its `struct device`'s node.
        let node = unsafe { bindings::dev_to_node(core::ptr::addr_of_mut!((*self.as_raw()).dev)) };
        u32::try_from(node).ok()
    }
}
