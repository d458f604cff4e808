// SPDX-License-Identifier: GPL-2.0

//! Direct memory access (DMA).
//!
//! C header: [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h)

use crate::{
    alloc::Flags,
    bindings, device,
    error::{code::*, Result},
    types::{ARef, AsBytes, FromBytes},
};

/// Possible attributes associated with a DMA mapping (`DMA_ATTR_*`).
///
/// They can be combined with `|`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Attrs(u32);

impl Attrs {
    /// No attribute.
    pub const NONE: Self = Self(0);
    /// Reads and writes to the mapping may be weakly ordered.
    pub const WEAK_ORDERING: Self = Self::new(bindings::DMA_ATTR_WEAK_ORDERING);
    /// Writes to the mapping may be buffered (write combining).
    pub const WRITE_COMBINE: Self = Self::new(bindings::DMA_ATTR_WRITE_COMBINE);
    /// The buffer should be allocated physically contiguous.
    pub const FORCE_CONTIGUOUS: Self = Self::new(bindings::DMA_ATTR_FORCE_CONTIGUOUS);
    /// Do not warn if the allocation fails.
    pub const NO_WARN: Self = Self::new(bindings::DMA_ATTR_NO_WARN);

    const fn new(value: u32) -> Self {
        Self(value)
    }

    /// The raw `DMA_ATTR_*` value.
    pub const fn as_raw(self) -> u32 {
        self.0
    }

    fn as_c_ulong(self) -> crate::ffi::c_ulong {
        // CAST: `c_ulong` is at least 32 bits wide.
        self.0 as _
    }
}

impl core::ops::BitOr for Attrs {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// A coherent DMA allocation of `count` elements of `T` for the device `dev`
/// (`dma_alloc_attrs()`), freed on drop (`dma_free_attrs()`).
///
/// The CPU and the device may access the memory at any time, so the CPU accesses it only by
/// value, with volatile reads and writes of single elements ([`CoherentAllocation::read`],
/// [`CoherentAllocation::write`]).
///
/// # Invariants
///
/// - `cpu_addr` points to `count` elements of `T` (`count * size_of::<T>()` bytes, without
///   overflow) of coherent memory allocated by `dma_alloc_attrs()` for `dev` with `dma_attrs`,
///   and `dma_handle` is its bus address,
/// - `count` is not 0.
///
/// # Examples
///
/// ```
/// use kernel::{device::Device, dma::{Attrs, CoherentAllocation}};
///
/// # fn no_run(dev: &Device) -> Result {
/// let ring = CoherentAllocation::<u64>::alloc_attrs(dev, 64, GFP_KERNEL, Attrs::NO_WARN)?;
/// ring.write(0, 0xdead_beef)?;
/// assert_eq!(ring.read(0)?, 0xdead_beef);
/// assert!(ring.read(64).is_err());
/// pr_info!("ring at {:#x}\n", ring.dma_handle());
/// # Ok(())
/// # }
/// ```
pub struct CoherentAllocation<T: AsBytes + FromBytes> {
    dev: ARef<device::Device>,
    dma_handle: bindings::dma_addr_t,
    count: usize,
    cpu_addr: *mut T,
    dma_attrs: Attrs,
}

impl<T: AsBytes + FromBytes> CoherentAllocation<T> {
    /// Allocates `count` elements of `T` of coherent memory for `dev`, with `dma_attrs`.
    ///
    /// Fails with [`EINVAL`] if `count` is 0 or the size overflows, [`ENOMEM`] if the
    /// allocation fails.
    pub fn alloc_attrs(
        dev: &device::Device,
        count: usize,
        gfp_flags: Flags,
        dma_attrs: Attrs,
    ) -> Result<Self> {
        crate::build_assert!(
            core::mem::size_of::<T>() > 0,
            "It doesn't make sense for the allocated type to be a ZST"
        );

        if count == 0 {
            return Err(EINVAL);
        }
        let size = count.checked_mul(core::mem::size_of::<T>()).ok_or(EINVAL)?;

        let mut dma_handle = 0;
        // SAFETY: `dev.as_raw()` is a valid `struct device`; `dma_handle` is valid for writes.
        let ret = unsafe {
            bindings::dma_alloc_attrs(
                dev.as_raw(),
                size,
                &mut dma_handle,
                gfp_flags.as_raw(),
                dma_attrs.as_c_ulong(),
            )
        };
        if ret.is_null() {
            return Err(ENOMEM);
        }

        // INVARIANT: `ret` is `size` bytes of coherent memory for `dev`, `count` is not 0.
        Ok(Self {
            dev: dev.into(),
            dma_handle,
            count,
            cpu_addr: ret.cast::<T>(),
            dma_attrs,
        })
    }

    /// Allocates `count` elements of `T` of coherent memory for `dev`, without attributes.
    pub fn alloc_coherent(dev: &device::Device, count: usize, gfp_flags: Flags) -> Result<Self> {
        Self::alloc_attrs(dev, count, gfp_flags, Attrs::NONE)
    }

    /// The number of elements of `T` in the allocation.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The size of the allocation in bytes.
    pub fn size(&self) -> usize {
        // INVARIANT: does not overflow (type invariant).
        self.count * core::mem::size_of::<T>()
    }

    /// The CPU address of the first element.
    pub fn start_ptr(&self) -> *const T {
        self.cpu_addr
    }

    /// The CPU address of the first element, for writes.
    pub fn start_ptr_mut(&mut self) -> *mut T {
        self.cpu_addr
    }

    /// The bus (device) address of the allocation.
    pub fn dma_handle(&self) -> bindings::dma_addr_t {
        self.dma_handle
    }

    /// The bus (device) address of the element `index`.
    pub fn dma_handle_with_offset(&self, index: usize) -> Result<bindings::dma_addr_t> {
        self.validate(index)?;
        // CAST: `index * size_of::<T>()` is below the allocation size, a `dma_addr_t` range.
        Ok(self.dma_handle + (index * core::mem::size_of::<T>()) as bindings::dma_addr_t)
    }

    fn validate(&self, index: usize) -> Result {
        if index >= self.count {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// Reads the element `index` (a volatile read); fails with [`EINVAL`] if it is out of
    /// bounds.
    pub fn read(&self, index: usize) -> Result<T> {
        self.validate(index)?;
        // SAFETY: `index < count`, so the element is inside the allocation (type invariant);
        // `T: FromBytes`, so whatever the device wrote is a valid `T`.
        Ok(unsafe { self.cpu_addr.add(index).read_volatile() })
    }

    /// Writes `value` to the element `index` (a volatile write); fails with [`EINVAL`] if it is
    /// out of bounds.
    pub fn write(&self, index: usize, value: T) -> Result {
        self.validate(index)?;
        // SAFETY: `index < count`, so the element is inside the allocation (type invariant);
        // the memory is shared with the device and only ever accessed by value.
        unsafe { self.cpu_addr.add(index).write_volatile(value) };
        Ok(())
    }
}

impl<T: AsBytes + FromBytes> Drop for CoherentAllocation<T> {
    fn drop(&mut self) {
        // SAFETY: `cpu_addr`, `size()` and `dma_handle` describe the allocation made for `dev`
        // with `dma_attrs` (type invariant).
        unsafe {
            bindings::dma_free_attrs(
                self.dev.as_raw(),
                self.size(),
                self.cpu_addr.cast(),
                self.dma_handle,
                self.dma_attrs.as_c_ulong(),
            )
        };
    }
}

// SAFETY: The allocation can be used and freed from any thread; `T: Send` for the values moved
// in and out.
unsafe impl<T: AsBytes + FromBytes + Send> Send for CoherentAllocation<T> {}

// SAFETY: Shared references only allow volatile reads and writes of whole elements by value
// (`read`, `write`), the equivalent of `READ_ONCE()`/`WRITE_ONCE()` on memory the device
// accesses concurrently anyway; no reference into the allocation is ever handed out.
unsafe impl<T: AsBytes + FromBytes + Send> Sync for CoherentAllocation<T> {}
