// SPDX-License-Identifier: GPL-2.0

//! VFIO devices.
//!
//! A VFIO device is what a VFIO user (QEMU's `vfio-pci`, a user-space driver) opens to drive a
//! device: regions it reads and writes, interrupts it gets through eventfds, and DMA into the
//! address space it maps. This module lets a driver provide an *emulated* VFIO device, one
//! whose DMA goes through the VFIO core's pinning API (`vfio_pin_pages()`, `vfio_dma_rw()`)
//! rather than through an IOMMU domain of its own, as mediated devices ([`mdev`]) do. Both of
//! the VFIO core's paths reach it: the legacy container and group (type1), and iommufd with the
//! device's character device (`/dev/vfio/devices/vfioN`).
//!
//! The ioctls a VFIO user sends are decoded here, once, with their `argsz` and flag checks:
//! a [`Driver`] sees typed requests ([`IrqSet`], region and IRQ indexes) and returns typed
//! answers ([`DeviceInfo`], [`RegionInfo`], [`IrqInfo`]). Region `i` sits at file offset
//! [`region_offset`]`(i)`, as in `vfio-pci`, and [`Driver::read`] and [`Driver::write`]
//! receive the region and the offset within it.
//!
//! C header: [`include/linux/vfio.h`](srctree/include/linux/vfio.h)

use crate::{
    bindings, container_of, device,
    error::{from_result, to_result},
    ioctl::_IO,
    prelude::*,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
    uaccess::{UserPtr, UserSlice},
};
use core::{marker::PhantomData, ops::Deref, ptr::NonNull};

#[cfg(CONFIG_IRQ_IMS)]
pub mod ims;
#[cfg(CONFIG_VFIO_MDEV = "y")]
pub mod mdev;

/// The bit at which the region index starts in a file offset of a VFIO device.
pub const REGION_SHIFT: u32 = 40;

/// The file offset at which region `index` starts.
pub const fn region_offset(index: u32) -> u64 {
    (index as u64) << REGION_SHIFT
}

const VFIO_TYPE: u32 = b';' as u32;
const VFIO_BASE: u32 = 100;
const GET_INFO: u32 = _IO(VFIO_TYPE, VFIO_BASE + 7);
const GET_IRQ_INFO: u32 = _IO(VFIO_TYPE, VFIO_BASE + 9);
const SET_IRQS: u32 = _IO(VFIO_TYPE, VFIO_BASE + 10);
const RESET: u32 = _IO(VFIO_TYPE, VFIO_BASE + 11);

/// The largest read or write of a region that one call passes to the driver.
const MAX_RW: usize = 4096;

/// The PCI layout of regions and interrupts, as `vfio-pci` numbers them (`VFIO_PCI_*_INDEX`).
pub mod pci {
    use crate::bindings;

    /// Region index of BAR `n` (0 to 5).
    pub const fn bar_region(n: u32) -> u32 {
        bindings::VFIO_PCI_BAR0_REGION_INDEX + n
    }
    /// Region index of the expansion ROM.
    pub const ROM_REGION: u32 = bindings::VFIO_PCI_ROM_REGION_INDEX;
    /// Region index of the configuration space.
    pub const CONFIG_REGION: u32 = bindings::VFIO_PCI_CONFIG_REGION_INDEX;
    /// Number of regions of a PCI device.
    pub const NUM_REGIONS: u32 = bindings::VFIO_PCI_NUM_REGIONS;
    /// IRQ index of INTx.
    pub const INTX_IRQ: u32 = bindings::VFIO_PCI_INTX_IRQ_INDEX;
    /// IRQ index of MSI.
    pub const MSI_IRQ: u32 = bindings::VFIO_PCI_MSI_IRQ_INDEX;
    /// IRQ index of MSI-X.
    pub const MSIX_IRQ: u32 = bindings::VFIO_PCI_MSIX_IRQ_INDEX;
    /// IRQ index of the error notification.
    pub const ERR_IRQ: u32 = bindings::VFIO_PCI_ERR_IRQ_INDEX;
    /// IRQ index of the device request (the host wants the device back).
    pub const REQ_IRQ: u32 = bindings::VFIO_PCI_REQ_IRQ_INDEX;
    /// Number of IRQ indexes of a PCI device.
    pub const NUM_IRQS: u32 = bindings::VFIO_PCI_NUM_IRQS;
}

/// Flags of [`DeviceInfo`] (`VFIO_DEVICE_FLAGS_*`).
pub mod device_flags {
    /// The device supports `VFIO_DEVICE_RESET`.
    pub const RESET: u32 = crate::bindings::VFIO_DEVICE_FLAGS_RESET;
    /// A PCI device: regions and IRQs follow [`super::pci`].
    pub const PCI: u32 = crate::bindings::VFIO_DEVICE_FLAGS_PCI;
}

/// Flags of [`RegionInfo`] (`VFIO_REGION_INFO_FLAG_*`).
pub mod region_flags {
    /// The region can be read.
    pub const READ: u32 = crate::bindings::VFIO_REGION_INFO_FLAG_READ;
    /// The region can be written.
    pub const WRITE: u32 = crate::bindings::VFIO_REGION_INFO_FLAG_WRITE;
}

/// Flags of [`IrqInfo`] (`VFIO_IRQ_INFO_*`).
pub mod irq_flags {
    /// The interrupts are signalled through eventfds.
    pub const EVENTFD: u32 = crate::bindings::VFIO_IRQ_INFO_EVENTFD;
    /// The interrupts can be masked.
    pub const MASKABLE: u32 = crate::bindings::VFIO_IRQ_INFO_MASKABLE;
    /// The interrupts are masked by the host when they fire.
    pub const AUTOMASKED: u32 = crate::bindings::VFIO_IRQ_INFO_AUTOMASKED;
    /// Vectors cannot be added while others are in use: the user must disable the index and
    /// enable it again with more. Leave it clear to get one `SET_IRQS` per new vector.
    pub const NORESIZE: u32 = crate::bindings::VFIO_IRQ_INFO_NORESIZE;
}

/// The answer to `VFIO_DEVICE_GET_INFO`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeviceInfo {
    /// [`device_flags`].
    pub flags: u32,
    /// The number of regions; indexes at and beyond it are refused with `EINVAL`.
    pub num_regions: u32,
    /// The number of IRQ indexes; indexes at and beyond it are refused with `EINVAL`.
    pub num_irqs: u32,
}

/// The answer to `VFIO_DEVICE_GET_REGION_INFO`, less the offset, which is
/// [`region_offset`] of the index.
#[derive(Clone, Copy, Debug, Default)]
pub struct RegionInfo {
    /// [`region_flags`].
    pub flags: u32,
    /// Size in bytes; 0 for a region the device does not have.
    pub size: u64,
}

/// The answer to `VFIO_DEVICE_GET_IRQ_INFO`.
#[derive(Clone, Copy, Debug, Default)]
pub struct IrqInfo {
    /// [`irq_flags`].
    pub flags: u32,
    /// The number of interrupts of the index; 0 if the device has none.
    pub count: u32,
}

/// What a `VFIO_DEVICE_SET_IRQS` does to its interrupts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqAction {
    /// Mask them.
    Mask,
    /// Unmask them.
    Unmask,
    /// Trigger them, or with [`IrqData::EventFd`], set what signals them.
    Trigger,
}

/// The data of a `VFIO_DEVICE_SET_IRQS`, one element per interrupt.
#[derive(Clone, Copy, Debug)]
pub enum IrqData<'a> {
    /// No data: the action applies to every interrupt of the range.
    None,
    /// The action applies to the interrupts whose byte is non-zero.
    Bool(&'a [u8]),
    /// One file descriptor per interrupt: the eventfd to signal it with, or -1 to stop
    /// signalling it.
    EventFd(&'a [i32]),
}

/// A checked `VFIO_DEVICE_SET_IRQS`: the index is below [`DeviceInfo::num_irqs`], the range
/// `start..start + count` lies within the index's [`IrqInfo::count`], and `data` holds
/// exactly `count` elements.
///
/// `count == 0` comes only with [`IrqData::None`] and [`IrqAction::Trigger`]: it turns the
/// whole index off.
#[derive(Clone, Copy, Debug)]
pub struct IrqSet<'a> {
    /// The IRQ index.
    pub index: u32,
    /// The first interrupt.
    pub start: u32,
    /// The number of interrupts.
    pub count: u32,
    /// What to do to them.
    pub action: IrqAction,
    /// With what.
    pub data: IrqData<'a>,
}

/// A capability chain of a region's information (`struct vfio_info_cap`).
///
/// The VFIO core places the chain after the `struct vfio_region_info` it copies out, and
/// reports the size it needs when the user's buffer is too small.
pub struct Caps<'a>(&'a mut bindings::vfio_info_cap);

impl Caps<'_> {
    /// Appends a capability: a `struct vfio_info_cap_header` with `id` and `version`,
    /// followed by `payload`.
    pub fn add(&mut self, id: u16, version: u16, payload: &[u8]) -> Result {
        let hdr = core::mem::size_of::<bindings::vfio_info_cap_header>();
        // SAFETY: `self.0` is the core's chain; `vfio_info_cap_add()` grows it by `hdr +
        // payload.len()` zeroed bytes (rounded up to 8) and returns their header.
        let cap = unsafe {
            crate::error::from_err_ptr(bindings::vfio_info_cap_add(
                self.0,
                hdr + payload.len(),
                id,
                version,
            ))?
        };
        // SAFETY: `cap` is followed by `payload.len()` bytes of the chain's buffer, which does
        // not overlap `payload`.
        unsafe {
            core::ptr::copy_nonoverlapping(
                payload.as_ptr(),
                cap.cast::<u8>().add(hdr),
                payload.len(),
            )
        };
        Ok(())
    }
}

/// The operations of an emulated VFIO device. The implementing type is the driver's
/// per-device state, which [`Device`] holds.
///
/// Every callback may sleep. The VFIO core serialises `open` and `close` with each other
/// (under the device's `dev_set` lock), not with the other callbacks, which may run
/// concurrently with each other once the device is open.
#[vtable]
pub trait Driver: Sized + Send + Sync + 'static {
    /// The device's name in the VFIO core (`vfio_device_ops::name`).
    const NAME: &'static CStr;

    /// The first user opens the device.
    fn open(_dev: &Device<Self>) -> Result {
        Ok(())
    }

    /// The last user closes the device. Everything the user set up (interrupts, pinned
    /// pages) must be gone when this returns.
    fn close(_dev: &Device<Self>) {}

    /// `VFIO_DEVICE_GET_INFO`.
    fn info(dev: &Device<Self>) -> DeviceInfo;

    /// `VFIO_DEVICE_GET_REGION_INFO` of region `index`, below [`DeviceInfo::num_regions`].
    /// Capabilities go into `caps`.
    fn region_info(dev: &Device<Self>, index: u32, caps: &mut Caps<'_>) -> Result<RegionInfo>;

    /// `VFIO_DEVICE_GET_IRQ_INFO` of IRQ index `index`, below [`DeviceInfo::num_irqs`].
    fn irq_info(dev: &Device<Self>, index: u32) -> Result<IrqInfo>;

    /// `VFIO_DEVICE_SET_IRQS`, checked as [`IrqSet`] says.
    fn set_irqs(dev: &Device<Self>, set: IrqSet<'_>) -> Result;

    /// `VFIO_DEVICE_RESET`.
    fn reset(_dev: &Device<Self>) -> Result {
        Err(ENOTTY)
    }

    /// Reads `buf.len()` bytes (at most 4096) of region `index` at `offset`. Returns how
    /// many bytes were read.
    fn read(_dev: &Device<Self>, _index: u32, _offset: u64, _buf: &mut [u8]) -> Result<usize> {
        Err(EINVAL)
    }

    /// Writes `buf` (at most 4096 bytes) to region `index` at `offset`. Returns how many
    /// bytes were written.
    fn write(_dev: &Device<Self>, _index: u32, _offset: u64, _buf: &[u8]) -> Result<usize> {
        Err(EINVAL)
    }

    /// The host wants the device back (its unregistration is waiting for the user to close
    /// it); `count` is how many times it has asked. Tell the user, e.g. by its REQ IRQ.
    fn request(_dev: &Device<Self>, _count: u32) {}

    /// The user unmapped `iova..iova + len`: unpin every page of it that is pinned, before
    /// returning.
    fn dma_unmap(_dev: &Device<Self>, _iova: u64, _len: u64) {}
}

/// An emulated VFIO device, with the driver's state `T`.
///
/// # Invariants
///
/// - `vdev` is a `struct vfio_device` initialised by `_vfio_alloc_device()`, at offset 0 of an
///   allocation of the VFIO core (freed by it when the device's last reference goes), with
///   `Self`'s vtable as its ops.
/// - `data` is initialised if and only if `live` is true; `live` never goes back to false
///   before the release callback.
#[repr(C)]
#[pin_data]
pub struct Device<T: Driver> {
    #[pin]
    vdev: Opaque<bindings::vfio_device>,
    live: bool,
    #[pin]
    data: T,
}

impl<T: Driver> Device<T> {
    /// Allocates a VFIO device for `dev` (the device a user sees, e.g. an mdev), with driver
    /// state from `init`.
    ///
    /// It is not visible to users before [`Registration::new`].
    pub fn new(dev: &device::Device, init: impl PinInit<T, Error>) -> Result<ARef<Self>> {
        const { assert!(core::mem::offset_of!(Self, vdev) == 0) };
        let ops = core::ptr::from_ref(&VTable::<T>::OPS);
        // SAFETY: `dev` is valid; `ops` is static; the size covers `Self`, whose first field
        // is the `struct vfio_device`, and kvzalloc() aligns to at least 8 bytes, which is
        // all `Self` needs (checked below).
        let raw = unsafe {
            crate::error::from_err_ptr(bindings::_vfio_alloc_device(
                core::mem::size_of::<Self>(),
                dev.as_raw(),
                ops,
            ))?
        };
        const { assert!(core::mem::align_of::<Self>() <= 8) };
        let this = raw.cast::<Self>();
        // SAFETY: `this` is the zeroed allocation just made: `live` is false, and `data` is
        // ours to initialise in place; it never moves.
        let res = unsafe { init.__init(&raw mut (*this).data) };
        // SAFETY: `this` is valid; on success, `data` is initialised.
        unsafe { (*this).live = res.is_ok() };
        // SAFETY: We own the allocation's one reference, handed to the `ARef` (type
        // invariant: dropping it puts the device, which frees it and, if live, drops `data`).
        let aref = unsafe { ARef::from_raw(NonNull::new_unchecked(this)) };
        res.map(|()| aref)
    }

    fn as_raw(&self) -> *mut bindings::vfio_device {
        self.vdev.get()
    }

    /// # Safety
    ///
    /// `ptr` must be the `struct vfio_device` of a live `Device<T>`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::vfio_device) -> &'a Self {
        // SAFETY: `vdev` is at offset 0 of `Self`, and the caller says it is a live `Self`.
        unsafe { &*container_of!(Opaque::cast_from(ptr), Self, vdev) }
    }

    /// The device users see (the one given to [`Device::new`]).
    pub fn device(&self) -> &device::Device {
        // SAFETY: `dev` was set by `_vfio_alloc_device()` and the VFIO device holds a
        // reference on it while it lives.
        unsafe { device::Device::from_raw((*self.as_raw()).dev) }
    }

    /// Reads `buf.len()` bytes of the user's DMA space at `iova`.
    ///
    /// Fails with `EFAULT` if a byte is not mapped, and `EINVAL` while no user has the device
    /// open with an address space.
    pub fn dma_read(&self, iova: u64, buf: &mut [u8]) -> Result {
        // SAFETY: `self` is a live VFIO device; `buf` is writable for its length.
        to_result(unsafe {
            bindings::vfio_dma_rw(
                self.as_raw(),
                iova,
                buf.as_mut_ptr().cast(),
                buf.len(),
                false,
            )
        })
    }

    /// Writes `buf` to the user's DMA space at `iova`. Fails as [`Device::dma_read`].
    pub fn dma_write(&self, iova: u64, buf: &[u8]) -> Result {
        // SAFETY: `self` is a live VFIO device; `vfio_dma_rw()` only reads `buf` when
        // `write` is true.
        to_result(unsafe {
            bindings::vfio_dma_rw(
                self.as_raw(),
                iova,
                buf.as_ptr().cast_mut().cast(),
                buf.len(),
                true,
            )
        })
    }

    /// Pins `npages` pages of the user's DMA space from the page-aligned `iova`, for the
    /// device to read (and to write if `write`).
    ///
    /// The pages stay pinned until the returned [`PinnedPages`] is dropped, which must
    /// happen before [`Driver::dma_unmap`] of a range covering them returns. Fails with
    /// `EINVAL` for an unaligned `iova` or `npages` of 0 or above 512, and with an error of
    /// the IOMMU backend (`EINVAL`, `EFAULT`, `ENOENT`) if a page is not mapped so.
    pub fn pin_pages(&self, iova: u64, npages: usize, write: bool) -> Result<PinnedPages<'_, T>> {
        // `VFIO_PIN_PAGES_MAX_ENTRIES`: a page of page pointers.
        let max = crate::page::PAGE_SIZE / core::mem::size_of::<usize>();
        if npages == 0 || npages > max {
            return Err(EINVAL);
        }
        let mut pages = KVec::with_capacity(npages, GFP_KERNEL)?;
        let prot = bindings::IOMMU_READ | if write { bindings::IOMMU_WRITE } else { 0 };
        // SAFETY: `self` is a live VFIO device; `pages` has room for `npages` pointers.
        let n = unsafe {
            bindings::vfio_pin_pages(
                self.as_raw(),
                iova,
                npages as i32,
                prot as i32,
                pages.as_mut_ptr(),
            )
        };
        to_result(n.min(0))?;
        if n as usize != npages {
            // Not expected from the backends, which pin all or nothing; unpin what was.
            if n > 0 {
                // SAFETY: `n` pages from `iova` were pinned just above.
                unsafe { bindings::vfio_unpin_pages(self.as_raw(), iova, n) };
            }
            return Err(EFAULT);
        }
        // SAFETY: `vfio_pin_pages()` filled `npages` entries.
        unsafe { pages.inc_len(npages) };
        // INVARIANT: the `npages` pages from `iova` are pinned, and listed in `pages`.
        Ok(PinnedPages {
            dev: self,
            iova,
            pages,
        })
    }
}

impl<T: Driver> Deref for Device<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // By the type invariant a device reachable by reference is live.
        &self.data
    }
}

// SAFETY: The reference count is the one of the embedded `struct device`, which
// `vfio_put_device()` drops.
unsafe impl<T: Driver> AlwaysRefCounted for Device<T> {
    fn inc_ref(&self) {
        // SAFETY: The device is valid, hence so is its embedded `struct device`.
        unsafe { bindings::get_device(&raw mut (*self.as_raw()).device) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up a reference; `vfio_put_device()` is `put_device()`.
        unsafe {
            bindings::put_device(&raw mut (*obj.as_ptr().cast::<bindings::vfio_device>()).device)
        };
    }
}

// SAFETY: The VFIO device may be used and released from any thread; `T` is `Send`.
unsafe impl<T: Driver> Send for Device<T> {}
// SAFETY: Shared references only reach `T`, which is `Sync`, and C functions that lock.
unsafe impl<T: Driver> Sync for Device<T> {}

/// Pages of a user's DMA space, pinned by [`Device::pin_pages`].
///
/// # Invariants
///
/// The `pages.len()` pages from `iova` are pinned on `dev`, and `pages` holds their
/// `struct page` pointers in order.
pub struct PinnedPages<'a, T: Driver> {
    dev: &'a Device<T>,
    iova: u64,
    pages: KVec<*mut bindings::page>,
}

impl<T: Driver> PinnedPages<'_, T> {
    /// The pinned pages, for a scatter-gather table. Valid while `self` lives.
    pub fn pages(&self) -> &[*mut bindings::page] {
        &self.pages
    }

    /// The first pinned IOVA.
    pub fn iova(&self) -> u64 {
        self.iova
    }
}

impl<T: Driver> PinnedPages<'_, T> {
    /// Maps `len` bytes of the pinned pages, from `offset` into the first page, for DMA by
    /// `dma_dev` (the device that does the transfer, e.g. an mdev's parent), for it to read
    /// (and to write if `write`).
    ///
    /// The mapping must be one contiguous range of bus addresses, as a descriptor names a
    /// single address: that is what an IOMMU in DMA mode gives page lists. Fails with
    /// `EFAULT` if the mapping comes out in several segments (no IOMMU), and with `EINVAL` if
    /// the range is empty or not within the pinned pages.
    pub fn map<'b>(
        &'b self,
        dma_dev: &'b device::Device<device::Bound>,
        offset: usize,
        len: usize,
        write: bool,
    ) -> Result<MappedPages<'b>> {
        let span = self.pages.len() * crate::page::PAGE_SIZE;
        if len == 0 || offset >= crate::page::PAGE_SIZE || offset + len > span {
            return Err(EINVAL);
        }
        let dir = if write {
            bindings::dma_data_direction::DMA_BIDIRECTIONAL
        } else {
            bindings::dma_data_direction::DMA_TO_DEVICE
        };
        // SAFETY: `sg_table` is a C struct for which all zeroes is a valid (empty) value.
        let empty: bindings::sg_table = unsafe { core::mem::zeroed() };
        let mut sgt = KBox::new(empty, GFP_KERNEL)?;
        // SAFETY: `sgt` is an empty table; `pages` holds `pages.len()` valid, pinned pages
        // that stay pinned while `self` lives, which outlives the mapping.
        to_result(unsafe {
            bindings::sg_alloc_table_from_pages_segment(
                &mut *sgt,
                self.pages.as_ptr().cast_mut(),
                self.pages.len() as u32,
                offset as c_uint,
                len,
                u32::MAX,
                GFP_KERNEL.as_raw(),
            )
        })?;
        // SAFETY: `sgt` is a valid table of valid pages; `dma_dev` is bound.
        let ret = unsafe { bindings::dma_map_sgtable(dma_dev.as_raw(), &mut *sgt, dir, 0) };
        let mut mapped = MappedPages {
            dev: dma_dev,
            sgt,
            dir,
            mapped: ret == 0,
        };
        to_result(ret)?;
        if mapped.sgt.nents != 1 {
            return Err(EFAULT);
        }
        mapped.mapped = true;
        Ok(mapped)
    }
}

/// A DMA mapping of [`PinnedPages`], made by [`PinnedPages::map`]; dropping it unmaps them.
///
/// # Invariants
///
/// `sgt` is an allocated table; if `mapped`, it is mapped for `dev` in direction `dir`.
pub struct MappedPages<'a> {
    dev: &'a device::Device<device::Bound>,
    sgt: KBox<bindings::sg_table>,
    dir: bindings::dma_data_direction,
    mapped: bool,
}

impl MappedPages<'_> {
    /// The bus address of the first byte.
    pub fn dma_addr(&self) -> u64 {
        // SAFETY: A mapped table has at least one segment (it is mapped in one, as `map`
        // checked), whose DMA address is set.
        unsafe { bindings::sg_dma_address(self.sgt.sgl) }
    }
}

impl Drop for MappedPages<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant: the table is allocated, and mapped for `dev` in `dir`
        // if `mapped`.
        unsafe {
            if self.mapped {
                bindings::dma_unmap_sgtable(self.dev.as_raw(), &mut *self.sgt, self.dir, 0);
            }
            bindings::sg_free_table(&mut *self.sgt);
        }
    }
}

impl<T: Driver> Drop for PinnedPages<'_, T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant these pages are pinned on `dev`.
        unsafe {
            bindings::vfio_unpin_pages(self.dev.as_raw(), self.iova, self.pages.len() as i32)
        };
    }
}

/// A registration of a [`Device`]: while it lives, users can open the device.
///
/// Dropping it unregisters the device, which waits until every user has closed it, calling
/// [`Driver::request`] meanwhile.
///
/// # Invariants
///
/// `dev` is registered with the VFIO core as an emulated-IOMMU device.
pub struct Registration<T: Driver> {
    dev: ARef<Device<T>>,
}

impl<T: Driver> Registration<T> {
    /// Makes `dev` visible to users: its group (`/dev/vfio/N`) and, with iommufd, its
    /// character device (`/dev/vfio/devices/vfioN`).
    pub fn new(dev: ARef<Device<T>>) -> Result<Self> {
        // SAFETY: `dev` is a live VFIO device that was never registered: `Registration`
        // takes the only `ARef` of its creator, and registers it once.
        to_result(unsafe { bindings::vfio_register_emulated_iommu_dev(dev.as_raw()) })?;
        Ok(Self { dev })
    }

    /// The registered device.
    pub fn device(&self) -> &ARef<Device<T>> {
        &self.dev
    }
}

impl<T: Driver> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `dev` is registered.
        unsafe { bindings::vfio_unregister_group_dev(self.dev.as_raw()) };
    }
}

/// Reads a native-endian `u32` at `off` of `b`.
fn le32(b: &[u8], off: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[off..off + 4]);
    u32::from_ne_bytes(v)
}

struct VTable<T: Driver>(PhantomData<T>);

impl<T: Driver> VTable<T> {
    const OPS: bindings::vfio_device_ops = bindings::vfio_device_ops {
        name: T::NAME.to_bytes_with_nul().as_ptr().cast_mut(),
        release: Some(Self::release),
        open_device: Some(Self::open_device),
        close_device: Some(Self::close_device),
        read: Some(Self::read),
        write: Some(Self::write),
        ioctl: Some(Self::ioctl),
        get_region_info_caps: Some(Self::get_region_info_caps),
        request: if T::HAS_REQUEST {
            Some(Self::request)
        } else {
            None
        },
        dma_unmap: Some(Self::dma_unmap),
        #[cfg(CONFIG_IOMMUFD)]
        bind_iommufd: Some(bindings::vfio_iommufd_emulated_bind),
        #[cfg(CONFIG_IOMMUFD)]
        unbind_iommufd: Some(bindings::vfio_iommufd_emulated_unbind),
        #[cfg(CONFIG_IOMMUFD)]
        attach_ioas: Some(bindings::vfio_iommufd_emulated_attach_ioas),
        #[cfg(CONFIG_IOMMUFD)]
        detach_ioas: Some(bindings::vfio_iommufd_emulated_detach_ioas),
        // SAFETY: The remaining members are optional callbacks and pointers, for which
        // NULL (all zeroes) means "none".
        ..unsafe { core::mem::zeroed() }
    };

    /// # Safety
    ///
    /// `vdev` is the `struct vfio_device` of a `Device<T>` whose last reference went.
    unsafe extern "C" fn release(vdev: *mut bindings::vfio_device) {
        let this = vdev.cast::<Device<T>>();
        // SAFETY: Nobody else uses the device any more; by the type invariant `data` is
        // initialised if `live`. The VFIO core frees the memory after this returns.
        unsafe {
            if (*this).live {
                core::ptr::drop_in_place(&raw mut (*this).data);
            }
        }
    }

    /// # Safety
    ///
    /// `vdev` is the `struct vfio_device` of a registered, hence live, `Device<T>`.
    unsafe extern "C" fn open_device(vdev: *mut bindings::vfio_device) -> c_int {
        // SAFETY: By the function's safety requirements.
        let dev = unsafe { Device::<T>::from_raw(vdev) };
        from_result(|| T::open(dev).map(|()| 0))
    }

    /// # Safety
    ///
    /// As [`Self::open_device`].
    unsafe extern "C" fn close_device(vdev: *mut bindings::vfio_device) {
        // SAFETY: By the function's safety requirements.
        T::close(unsafe { Device::<T>::from_raw(vdev) });
    }

    /// # Safety
    ///
    /// As [`Self::open_device`].
    unsafe extern "C" fn request(vdev: *mut bindings::vfio_device, count: c_uint) {
        // SAFETY: By the function's safety requirements.
        T::request(unsafe { Device::<T>::from_raw(vdev) }, count);
    }

    /// # Safety
    ///
    /// As [`Self::open_device`].
    unsafe extern "C" fn dma_unmap(vdev: *mut bindings::vfio_device, iova: u64, len: u64) {
        // SAFETY: By the function's safety requirements.
        T::dma_unmap(unsafe { Device::<T>::from_raw(vdev) }, iova, len);
    }

    /// Splits a file position into a region index and an offset, checking the index.
    fn position(dev: &Device<T>, pos: i64, len: usize) -> Result<(u32, u64, usize)> {
        let pos = u64::try_from(pos).map_err(|_| EINVAL)?;
        let index = u32::try_from(pos >> REGION_SHIFT).map_err(|_| EINVAL)?;
        if index >= T::info(dev).num_regions {
            return Err(EINVAL);
        }
        Ok((index, pos & ((1 << REGION_SHIFT) - 1), len.min(MAX_RW)))
    }

    /// Runs `f` on the region and offset at `*ppos`, with a kernel buffer of up to `count`
    /// bytes, and advances `*ppos` by the bytes `f` says it moved.
    ///
    /// # Safety
    ///
    /// As [`Self::open_device`]; `ppos` is a valid position.
    unsafe fn rw(
        vdev: *mut bindings::vfio_device,
        count: usize,
        ppos: *mut bindings::loff_t,
        f: impl FnOnce(&Device<T>, u32, u64, &mut KVec<u8>) -> Result<usize>,
    ) -> isize {
        // SAFETY: By the function's safety requirements.
        let dev = unsafe { Device::<T>::from_raw(vdev) };
        // SAFETY: `ppos` is valid.
        let pos = unsafe { *ppos };
        from_result(|| {
            let (index, offset, len) = Self::position(dev, pos, count)?;
            let mut kbuf = KVec::from_elem(0u8, len, GFP_KERNEL)?;
            let n = f(dev, index, offset, &mut kbuf)?.min(len);
            // SAFETY: `ppos` is valid.
            unsafe { *ppos = pos + n as i64 };
            Ok(n as isize)
        })
    }

    /// # Safety
    ///
    /// As [`Self::rw`]; `buf` is a user pointer.
    unsafe extern "C" fn read(
        vdev: *mut bindings::vfio_device,
        buf: *mut c_char,
        count: usize,
        ppos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: By the function's safety requirements.
        unsafe {
            Self::rw(vdev, count, ppos, |dev, index, offset, kbuf| {
                let n = T::read(dev, index, offset, kbuf)?.min(kbuf.len());
                UserSlice::new(UserPtr::from_ptr(buf.cast()), n)
                    .writer()
                    .write_slice(&kbuf[..n])?;
                Ok(n)
            })
        }
    }

    /// # Safety
    ///
    /// As [`Self::read`].
    unsafe extern "C" fn write(
        vdev: *mut bindings::vfio_device,
        buf: *const c_char,
        count: usize,
        ppos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: By the function's safety requirements.
        unsafe {
            Self::rw(vdev, count, ppos, |dev, index, offset, kbuf| {
                UserSlice::new(UserPtr::from_ptr(buf.cast_mut().cast()), kbuf.len())
                    .reader()
                    .read_slice(kbuf)?;
                T::write(dev, index, offset, kbuf)
            })
        }
    }

    /// # Safety
    ///
    /// As [`Self::open_device`]; `info` and `caps` are the core's.
    unsafe extern "C" fn get_region_info_caps(
        vdev: *mut bindings::vfio_device,
        info: *mut bindings::vfio_region_info,
        caps: *mut bindings::vfio_info_cap,
    ) -> c_int {
        // SAFETY: By the function's safety requirements.
        let dev = unsafe { Device::<T>::from_raw(vdev) };
        // SAFETY: The core passes its own `info` (argsz already checked) and chain.
        let (info, caps) = unsafe { (&mut *info, &mut *caps) };
        from_result(|| {
            if info.index >= T::info(dev).num_regions {
                return Err(EINVAL);
            }
            let r = T::region_info(dev, info.index, &mut Caps(caps))?;
            info.flags = r.flags;
            info.size = r.size;
            info.offset = region_offset(info.index);
            info.cap_offset = 0;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// As [`Self::open_device`]; `arg` is the user's ioctl argument.
    unsafe extern "C" fn ioctl(
        vdev: *mut bindings::vfio_device,
        cmd: c_uint,
        arg: c_ulong,
    ) -> c_long {
        // SAFETY: By the function's safety requirements.
        let dev = unsafe { Device::<T>::from_raw(vdev) };
        let user = UserPtr::from_addr(arg);
        from_result(|| {
            match cmd {
                GET_INFO => Self::get_info(dev, user)?,
                GET_IRQ_INFO => Self::get_irq_info(dev, user)?,
                SET_IRQS => Self::set_irqs(dev, user)?,
                RESET => T::reset(dev)?,
                _ => return Err(ENOTTY),
            }
            Ok(0)
        })
    }

    /// Reads the first `minsz` bytes of a uAPI structure whose first field is `argsz`, and
    /// checks `argsz`.
    fn read_hdr<const N: usize>(user: UserPtr, minsz: usize) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        UserSlice::new(user, minsz)
            .reader()
            .read_slice(&mut b[..minsz])?;
        if (le32(&b, 0) as usize) < minsz {
            return Err(EINVAL);
        }
        Ok(b)
    }

    fn get_info(dev: &Device<T>, user: UserPtr) -> Result {
        // argsz, flags, num_regions, num_irqs; later fields (caps) are not offered.
        const MINSZ: usize = 16;
        let mut b = Self::read_hdr::<MINSZ>(user, MINSZ)?;
        let info = T::info(dev);
        b[4..8].copy_from_slice(&info.flags.to_ne_bytes());
        b[8..12].copy_from_slice(&info.num_regions.to_ne_bytes());
        b[12..16].copy_from_slice(&info.num_irqs.to_ne_bytes());
        UserSlice::new(user, MINSZ).writer().write_slice(&b)
    }

    fn get_irq_info(dev: &Device<T>, user: UserPtr) -> Result {
        // argsz, flags, index, count.
        const MINSZ: usize = 16;
        let mut b = Self::read_hdr::<MINSZ>(user, MINSZ)?;
        let index = le32(&b, 8);
        if index >= T::info(dev).num_irqs {
            return Err(EINVAL);
        }
        let info = T::irq_info(dev, index)?;
        b[4..8].copy_from_slice(&info.flags.to_ne_bytes());
        b[12..16].copy_from_slice(&info.count.to_ne_bytes());
        UserSlice::new(user, MINSZ).writer().write_slice(&b)
    }

    fn set_irqs(dev: &Device<T>, user: UserPtr) -> Result {
        // argsz, flags, index, start, count, then the data.
        const MINSZ: usize = 20;
        let b = Self::read_hdr::<MINSZ>(user, MINSZ)?;
        let mut hdr = bindings::vfio_irq_set {
            argsz: le32(&b, 0),
            flags: le32(&b, 4),
            index: le32(&b, 8),
            start: le32(&b, 12),
            count: le32(&b, 16),
            ..Default::default()
        };
        let num_irqs = T::info(dev).num_irqs;
        if hdr.index >= num_irqs {
            return Err(EINVAL);
        }
        let count = T::irq_info(dev, hdr.index)?.count;
        let mut size = 0usize;
        // SAFETY: `hdr` is a valid header and `size` a valid out-pointer.
        to_result(unsafe {
            bindings::vfio_set_irqs_validate_and_prepare(
                &mut hdr,
                count as i32,
                num_irqs as i32,
                &mut size,
            )
        })?;
        let action = match hdr.flags & bindings::VFIO_IRQ_SET_ACTION_TYPE_MASK {
            bindings::VFIO_IRQ_SET_ACTION_MASK => IrqAction::Mask,
            bindings::VFIO_IRQ_SET_ACTION_UNMASK => IrqAction::Unmask,
            bindings::VFIO_IRQ_SET_ACTION_TRIGGER => IrqAction::Trigger,
            _ => return Err(EINVAL),
        };
        let data_type = hdr.flags & bindings::VFIO_IRQ_SET_DATA_TYPE_MASK;
        // `count == 0` is meaningful only to turn an index off (vfio-pci's rule).
        if hdr.count == 0
            && !(data_type == bindings::VFIO_IRQ_SET_DATA_NONE && action == IrqAction::Trigger)
        {
            return Err(EINVAL);
        }
        let mut raw = KVec::from_elem(0u8, size, GFP_KERNEL)?;
        if size > 0 {
            let mut r = UserSlice::new(user, MINSZ + size).reader();
            r.skip(MINSZ)?;
            r.read_slice(&mut raw)?;
        }
        let mut fds = KVec::new();
        let data = match data_type {
            bindings::VFIO_IRQ_SET_DATA_NONE => IrqData::None,
            bindings::VFIO_IRQ_SET_DATA_BOOL => IrqData::Bool(&raw),
            _ => {
                for c in raw.chunks_exact(4) {
                    fds.push(le32(c, 0) as i32, GFP_KERNEL)?;
                }
                IrqData::EventFd(&fds)
            }
        };
        T::set_irqs(
            dev,
            IrqSet {
                index: hdr.index,
                start: hdr.start,
                count: hdr.count,
                action,
                data,
            },
        )
    }
}
