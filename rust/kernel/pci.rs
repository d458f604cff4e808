// SPDX-License-Identifier: GPL-2.0

//! Abstractions for the PCI bus.
//!
//! C header: [`include/linux/pci.h`](srctree/include/linux/pci.h)

use crate::{
    bindings, container_of, device,
    devres::Devres,
    error::{from_result, to_result},
    init,
    io::{Io, IoRaw},
    irq::msi,
    prelude::*,
    str::CStr,
    types::{ARef, ForeignOwnable, Opaque},
    ThisModule,
};
use core::{
    marker::PhantomData,
    ops::Deref,
    ptr::{addr_of_mut, NonNull},
};

/// The PCI device identifier (`struct pci_device_id`) of one entry of a driver's ID table.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct DeviceId(bindings::pci_device_id);

impl DeviceId {
    /// `PCI_ANY_ID`: matches any ID.
    const PCI_ANY_ID: u32 = !0;

    /// Matches a vendor and device ID, any subsystem vendor and device.
    ///
    /// Equivalent to the C `PCI_DEVICE` macro.
    pub const fn from_id(vendor: u32, device: u32) -> Self {
        Self(bindings::pci_device_id {
            vendor,
            device,
            subvendor: Self::PCI_ANY_ID,
            subdevice: Self::PCI_ANY_ID,
            class: 0,
            class_mask: 0,
            driver_data: 0,
            override_only: 0,
        })
    }

    /// Matches a class code under `class_mask`, any vendor and device.
    ///
    /// Equivalent to the C `PCI_DEVICE_CLASS` macro.
    pub const fn from_class(class: u32, class_mask: u32) -> Self {
        Self(bindings::pci_device_id {
            vendor: Self::PCI_ANY_ID,
            device: Self::PCI_ANY_ID,
            subvendor: Self::PCI_ANY_ID,
            subdevice: Self::PCI_ANY_ID,
            class,
            class_mask,
            driver_data: 0,
            override_only: 0,
        })
    }

    /// The vendor ID this entry matches.
    pub const fn vendor(&self) -> u32 {
        self.0.vendor
    }

    /// The device ID this entry matches.
    pub const fn device(&self) -> u32 {
        self.0.device
    }
}

/// The raw, zero-terminated ID table the C PCI core and `modpost` read.
///
/// # Invariants
///
/// `ids` is followed by an all-zero `sentinel` entry, as the C PCI core expects.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RawIdArray<const N: usize> {
    ids: [bindings::pci_device_id; N],
    sentinel: bindings::pci_device_id,
}

/// A zero-terminated array of [`DeviceId`]s, each with its driver-specific information `U`.
///
/// Built with [`pci_device_table!`](crate::pci_device_table); drivers refer to it through
/// [`IdTable`].
///
/// # Invariants
///
/// The `driver_data` of `raw.ids[i]` is `i`, the index of its information in `infos`.
#[repr(C)]
pub struct IdArray<U, const N: usize> {
    raw: RawIdArray<N>,
    infos: [U; N],
}

impl<U, const N: usize> IdArray<U, N> {
    const ZERO: bindings::pci_device_id = bindings::pci_device_id {
        vendor: 0,
        device: 0,
        subvendor: 0,
        subdevice: 0,
        class: 0,
        class_mask: 0,
        driver_data: 0,
        override_only: 0,
    };

    /// Creates a new ID array from `N` IDs and their `N` driver-specific informations.
    pub const fn new(ids: [DeviceId; N], infos: [U; N]) -> Self {
        let mut raw = [Self::ZERO; N];
        let mut i = 0;
        while i < N {
            raw[i] = ids[i].0;
            // CAST: `i < N`, an array length, which fits `kernel_ulong_t`.
            raw[i].driver_data = i as _;
            i += 1;
        }

        // INVARIANT: the sentinel is zeroed and `driver_data` holds the index of each entry.
        Self {
            raw: RawIdArray {
                ids: raw,
                sentinel: Self::ZERO,
            },
            infos,
        }
    }

    /// The raw table, for [`pci_device_table!`](crate::pci_device_table) to export to
    /// `modpost`.
    pub const fn raw_ids(&self) -> RawIdArray<N> {
        self.raw
    }
}

/// A PCI ID table as seen by a driver: the raw table for the C core and the information of each
/// entry.
pub trait IdTable<U> {
    /// A pointer to the first entry of the zero-terminated raw table.
    fn as_ptr(&self) -> *const bindings::pci_device_id;

    /// The driver-specific information of the entry `id` (an entry of this table).
    fn info(&self, id: &bindings::pci_device_id) -> &U;
}

impl<U, const N: usize> IdTable<U> for IdArray<U, N> {
    fn as_ptr(&self) -> *const bindings::pci_device_id {
        // The raw array is `repr(C)`: `ids` is followed by the sentinel.
        self.raw.ids.as_ptr()
    }

    fn info(&self, id: &bindings::pci_device_id) -> &U {
        // `driver_data` holds an index into `infos` (type invariant); `id` is an entry of this
        // table, passed back by the PCI core.
        &self.infos[id.driver_data]
    }
}

/// Declares a PCI ID table `$table_name` of type `IdArray<$id_info_type, N>`.
///
/// In a loadable module it also exports the raw table as
/// `__mod_pci__<table name>_device_table`, the symbol `MODULE_DEVICE_TABLE(pci, ...)` defines
/// in C, so that `modpost` writes the module's `pci:` aliases and the module autoloads.
///
/// # Examples
///
/// ```
/// use kernel::pci;
///
/// struct Info(u32);
///
/// kernel::pci_device_table!(
///     TABLE,
///     Info,
///     [
///         (pci::DeviceId::from_id(0x8086, 0x0b25), Info(1)),
///         (pci::DeviceId::from_class(0x088000, 0xffffff), Info(2)),
///     ]
/// );
///
/// let table: &'static pci::IdArray<Info, 2> = &TABLE;
/// let raw = pci::IdTable::as_ptr(table);
/// // SAFETY: the table has two entries before its sentinel.
/// let (second, sentinel) = unsafe { (&*raw.add(1), &*raw.add(2)) };
/// assert_eq!(second.vendor, !0);
/// assert_eq!(pci::IdTable::info(table, second).0, 2);
/// assert_eq!(sentinel.vendor, 0);
/// ```
#[macro_export]
macro_rules! pci_device_table {
    ($table_name:ident, $id_info_type:ty, [$(($id:expr, $info:expr)),* $(,)?]) => {
        const $table_name: $crate::pci::IdArray<
            $id_info_type,
            { [$(stringify!($id)),*].len() }
        > = $crate::pci::IdArray::new([$($id),*], [$($info),*]);

        #[cfg(MODULE)]
        const _: () = {
            #[export_name = concat!("__mod_pci__", stringify!($table_name), "_device_table")]
            static DEVICE_TABLE: $crate::pci::RawIdArray<
                { [$(stringify!($id)),*].len() }
            > = $table_name.raw_ids();
        };
    };
}

/// The PCI ID table type drivers declare in [`Driver::ID_TABLE`].
pub type IdTableRef<U> = &'static dyn IdTable<U>;

/// The PCI driver trait.
///
/// Drivers implement this trait and register with [`module_pci_driver!`](crate::module_pci_driver)
/// (or a [`Registration`] of their own).
///
/// # Examples
///
/// ```
/// use kernel::{pci, types::ARef};
///
/// struct MyDriver {
///     pdev: ARef<pci::Device>,
/// }
///
/// kernel::pci_device_table!(PCI_TABLE, (), [(pci::DeviceId::from_id(0x8086, 0x0b25), ())]);
///
/// impl pci::Driver for MyDriver {
///     type IdInfo = ();
///     const ID_TABLE: pci::IdTableRef<()> = &PCI_TABLE;
///
///     fn probe(pdev: &pci::Device, _info: &()) -> Result<Pin<KBox<Self>>> {
///         pdev.enable_device_mem()?;
///         pdev.set_master();
///         Ok(KBox::pin(Self { pdev: pdev.into() }, GFP_KERNEL)?)
///     }
/// }
///
/// # fn no_run(module: &'static ThisModule) -> Result {
/// let _reg = KBox::pin_init(
///     pci::Registration::<MyDriver>::new(kernel::c_str!("my_driver"), module),
///     GFP_KERNEL,
/// )?;
/// # Ok(())
/// # }
/// ```
pub trait Driver: Send + Sync + Sized + 'static {
    /// Driver-specific information attached to each entry of [`Driver::ID_TABLE`].
    type IdInfo: 'static;

    /// The table of device IDs this driver binds to.
    const ID_TABLE: IdTableRef<Self::IdInfo>;

    /// PCI driver probe.
    ///
    /// Called when a new device matching an entry of [`Driver::ID_TABLE`] is added or
    /// discovered. The returned driver data lives until the device is unbound; cleanup happens
    /// in its `Drop` (the C `remove` callback).
    fn probe(dev: &Device, id_info: &Self::IdInfo) -> Result<Pin<KBox<Self>>>;
}

/// The C callbacks of a PCI driver of type `T`.
pub struct Adapter<T: Driver>(PhantomData<T>);

impl<T: Driver> Adapter<T> {
    /// # Safety
    ///
    /// Called by the PCI core with a valid `pdev` that is being bound and `id`, the matching
    /// entry of `T::ID_TABLE`.
    unsafe extern "C" fn probe_callback(
        pdev: *mut bindings::pci_dev,
        id: *const bindings::pci_device_id,
    ) -> crate::ffi::c_int {
        // SAFETY: The PCI core passes a valid `pci_dev` that stays alive during the callback.
        let dev = unsafe { Device::as_ref(pdev) };
        // SAFETY: `id` points into `T::ID_TABLE` (the table we registered), valid for the
        // callback.
        let id = unsafe { &*id };
        let info = T::ID_TABLE.info(id);

        from_result(|| {
            let data = T::probe(dev, info)?;
            // SAFETY: `pdev` is valid; the pointer is taken back in `remove_callback`.
            unsafe { bindings::pci_set_drvdata(pdev, data.into_foreign() as _) };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the PCI core with a valid `pdev` that was successfully probed by
    /// `probe_callback`.
    unsafe extern "C" fn remove_callback(pdev: *mut bindings::pci_dev) {
        // SAFETY: `pdev` is valid (function safety requirement).
        let ptr = unsafe { bindings::pci_get_drvdata(pdev) };

        // SAFETY: `probe_callback` stored the result of `Pin<KBox<T>>::into_foreign` and this
        // callback runs once, after a successful probe; dropping it runs the driver's cleanup.
        drop(unsafe { <Pin<KBox<T>> as ForeignOwnable>::from_foreign(ptr) });
    }
}

/// The registration of a PCI driver of type `T` with the PCI core.
///
/// # Invariants
///
/// `drv` is registered with the PCI core (`__pci_register_driver`) from initialization until
/// drop.
#[pin_data(PinnedDrop)]
pub struct Registration<T: Driver> {
    #[pin]
    drv: Opaque<bindings::pci_driver>,
    _p: PhantomData<T>,
}

// SAFETY: `Registration` only gives access to `drv` in `new` and `drop`; the PCI core serialises
// its use of the driver structure, so it can be dropped from any thread.
unsafe impl<T: Driver> Send for Registration<T> {}

// SAFETY: `Registration` has no `&self` methods.
unsafe impl<T: Driver> Sync for Registration<T> {}

impl<T: Driver> Registration<T> {
    /// Registers `T` with the PCI core under `name`, on behalf of `module`.
    pub fn new(name: &'static CStr, module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let init = move |slot: *mut Self| {
            // SAFETY: `slot` is valid for writes (guaranteed by `pin_init_from_closure`).
            let drv = Opaque::raw_get(unsafe { core::ptr::addr_of!((*slot).drv) });

            // SAFETY: `pci_driver` is a C struct for which all zeroes is a valid value.
            let mut pdrv: bindings::pci_driver = unsafe { core::mem::zeroed() };
            pdrv.name = name.as_char_ptr();
            pdrv.probe = Some(Adapter::<T>::probe_callback);
            pdrv.remove = Some(Adapter::<T>::remove_callback);
            pdrv.id_table = T::ID_TABLE.as_ptr();

            // SAFETY: `drv` is valid for writes.
            unsafe { drv.write(pdrv) };

            // SAFETY:
            // - `drv` is valid and pinned (it is inside `slot`), and stays so until `drop`
            //   unregisters it,
            // - `module.0` is the module (or null for built-in code),
            // - `name` is a static NUL-terminated string.
            to_result(unsafe { bindings::__pci_register_driver(drv, module.0, name.as_char_ptr()) })
            // INVARIANT: on success `drv` is registered.
        };

        // SAFETY: the closure initializes `drv` (`_p` is a ZST) on success and leaves nothing to
        // clean up on failure.
        unsafe { init::pin_init_from_closure(init) }
    }
}

#[pinned_drop]
impl<T: Driver> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `drv` is registered (type invariant).
        unsafe { bindings::pci_unregister_driver(self.drv.get()) };
    }
}

/// The module type of [`module_pci_driver!`](crate::module_pci_driver): registers `T` on load.
pub struct Module<T: Driver> {
    _reg: Pin<KBox<Registration<T>>>,
}

impl<T: Driver> Module<T> {
    /// Registers the driver `T` as `name`.
    pub fn new(name: &'static CStr, module: &'static ThisModule) -> Result<Self> {
        Ok(Self {
            _reg: KBox::pin_init(Registration::new(name, module), GFP_KERNEL)?,
        })
    }
}

/// Declares a kernel module that registers the PCI driver `type`.
///
/// # Examples
///
/// ```ignore
/// // See drivers/dma/idxd-rs/idxd.rs for a driver that uses it.
/// kernel::module_pci_driver! {
///     type: MyDriver,
///     name: "my_pci_driver",
///     author: "IMS project",
///     description: "My PCI driver",
///     license: "GPL v2",
/// }
/// ```
#[macro_export]
macro_rules! module_pci_driver {
    (type: $type:ty, name: $name:tt, $($f:tt)*) => {
        struct __PciModule($crate::pci::Module<$type>);

        impl $crate::Module for __PciModule {
            fn init(module: &'static $crate::ThisModule) -> $crate::error::Result<Self> {
                Ok(Self($crate::pci::Module::new($crate::c_str!($name), module)?))
            }
        }

        $crate::prelude::module! {
            type: __PciModule,
            name: $name,
            $($f)*
        }
    };
}

/// The interrupt types [`Device::alloc_irq_vectors`] may allocate.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IrqTypes(u32);

impl IrqTypes {
    /// Legacy INTx interrupts.
    pub const INTX: Self = Self(bindings::PCI_IRQ_INTX);
    /// MSI interrupts.
    pub const MSI: Self = Self(bindings::PCI_IRQ_MSI);
    /// MSI-X interrupts.
    pub const MSIX: Self = Self(bindings::PCI_IRQ_MSIX);
    /// Any of INTx, MSI and MSI-X, best first.
    pub const ALL: Self =
        Self(bindings::PCI_IRQ_INTX | bindings::PCI_IRQ_MSI | bindings::PCI_IRQ_MSIX);

    /// The raw `PCI_IRQ_*` flags.
    pub const fn as_raw(self) -> u32 {
        self.0
    }
}

impl core::ops::BitOr for IrqTypes {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// A PCI device (`struct pci_dev`).
///
/// # Invariants
///
/// A [`Device`] instance represents a valid `struct pci_dev` created by the C portion of the
/// kernel.
#[repr(transparent)]
pub struct Device(Opaque<bindings::pci_dev>);

impl Device {
    /// Creates a reference to a [`Device`] from a valid pointer.
    ///
    /// # Safety
    ///
    /// Callers must ensure that `ptr` is valid, non-null, and has a non-zero reference count
    /// for the lifetime `'a`.
    pub unsafe fn as_ref<'a>(ptr: *mut bindings::pci_dev) -> &'a Self {
        // SAFETY: `Device` is a transparent wrapper of `Opaque<pci_dev>`; the caller guarantees
        // validity for `'a`.
        unsafe { &*ptr.cast() }
    }

    fn as_raw(&self) -> *mut bindings::pci_dev {
        self.0.get()
    }

    /// Returns the PCI vendor ID.
    pub fn vendor_id(&self) -> u16 {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev` (type invariant).
        unsafe { (*self.as_raw()).vendor }
    }

    /// Returns the PCI device ID.
    pub fn device_id(&self) -> u16 {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev` (type invariant).
        unsafe { (*self.as_raw()).device }
    }

    /// The NUMA node of the device, or -1 (`NUMA_NO_NODE`) if it has none.
    pub fn numa_node(&self) -> i32 {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev` (type invariant), so its `dev`
        // is a valid `struct device`.
        unsafe { bindings::dev_to_node(core::ptr::addr_of_mut!((*self.as_raw()).dev)) }
    }

    /// Enables memory resources for this device (`pci_enable_device_mem`).
    pub fn enable_device_mem(&self) -> Result {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev` (type invariant).
        to_result(unsafe { bindings::pci_enable_device_mem(self.as_raw()) })
    }

    /// Enables the device's I/O and memory resources, managed (`pcim_enable_device`).
    ///
    /// The device is disabled again when it is unbound, and the interrupt vectors allocated by
    /// [`Device::alloc_irq_vectors`] are then freed as well, after the driver's data is dropped.
    pub fn enable_device_managed(&self) -> Result {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev` (type invariant).
        to_result(unsafe { bindings::pcim_enable_device(self.as_raw()) })
    }

    /// Enables bus-mastering for this device (`pci_set_master`).
    pub fn set_master(&self) {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev` (type invariant).
        unsafe { bindings::pci_set_master(self.as_raw()) };
    }

    /// Returns the size of the given PCI BAR resource, 0 if there is none.
    pub fn resource_len(&self, bar: u32) -> Result<bindings::resource_size_t> {
        if !Bar::<0>::index_is_valid(bar) {
            return Err(EINVAL);
        }

        // SAFETY:
        // - `self.as_raw()` is a valid `struct pci_dev` (type invariant),
        // - `bar` is a valid BAR number, checked above.
        // CAST: `bar < PCI_STD_NUM_BARS`, which fits `c_int`.
        Ok(unsafe { bindings::pci_resource_len(self.as_raw(), bar as _) })
    }

    /// Requests and maps the PCI BAR `bar`, whose size must be at least `SIZE`, as `name`.
    ///
    /// Accesses within `SIZE` bytes are checked at compile time. The mapping is released when
    /// the returned [`Devres`] is dropped or when the device is unbound, whichever comes first;
    /// afterwards [`Revocable::try_access`](crate::revocable::Revocable::try_access) returns
    /// `None`.
    pub fn iomap_region_sized<const SIZE: usize>(
        &self,
        bar: u32,
        name: &'static CStr,
    ) -> Result<Devres<Bar<SIZE>>> {
        let bar = Bar::<SIZE>::new(self.into(), bar, name)?;
        Devres::new(self.as_ref(), bar, GFP_KERNEL)
    }

    /// Requests and maps the PCI BAR `bar` as `name`; all accesses are checked at run time.
    ///
    /// See [`Device::iomap_region_sized`] for the lifetime of the mapping.
    pub fn iomap_region(&self, bar: u32, name: &'static CStr) -> Result<Devres<Bar>> {
        self.iomap_region_sized::<0>(bar, name)
    }

    /// Allocates between `min_vecs` and `max_vecs` interrupt vectors of the given `types`.
    ///
    /// Returns the number of vectors allocated. Their Linux IRQ numbers are returned by
    /// [`Device::irq_vector`].
    pub fn alloc_irq_vectors(&self, min_vecs: u32, max_vecs: u32, types: IrqTypes) -> Result<u32> {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev` (type invariant).
        let ret = unsafe {
            bindings::pci_alloc_irq_vectors(self.as_raw(), min_vecs, max_vecs, types.as_raw())
        };
        to_result(ret)?;

        // CAST: `ret` is non-negative here.
        Ok(ret as u32)
    }

    /// Frees the interrupt vectors allocated by [`Device::alloc_irq_vectors`].
    ///
    /// # Safety
    ///
    /// No IRQ of these vectors may still be requested (see [`crate::irq::Registration`]).
    pub unsafe fn free_irq_vectors(&self) {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev` (type invariant); the caller
        // guarantees no vector is still in use.
        unsafe { bindings::pci_free_irq_vectors(self.as_raw()) };
    }

    /// Returns the Linux IRQ number of the interrupt vector `index`.
    pub fn irq_vector(&self, index: u32) -> Result<u32> {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev` (type invariant).
        // CAST: an index larger than `c_uint::MAX` is no vector: the C code returns `-EINVAL`.
        let ret = unsafe { bindings::pci_irq_vector(self.as_raw(), index) };
        to_result(ret)?;

        // CAST: `ret` is non-negative here.
        Ok(ret as u32)
    }

    /// Returns whether MSI-X vectors can be allocated one at a time after MSI-X is enabled
    /// ([`Device::msix_alloc_irq_at`]).
    pub fn msix_can_alloc_dyn(&self) -> bool {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev` (type invariant).
        unsafe { bindings::pci_msix_can_alloc_dyn(self.as_raw()) }
    }

    /// Allocates one MSI-X vector at table entry `index`, or at any free entry if `index` is
    /// [`msi::ANY_INDEX`], while MSI-X is enabled; the other vectors are not touched.
    ///
    /// Fails with the errno the MSI core returns (e.g. `ENOTSUPP` when dynamic allocation is
    /// not supported, `EBUSY` or `ENOSPC` when the entry is taken or none is free).
    pub fn msix_alloc_irq_at(&self, index: u32) -> Result<msi::MsiMap> {
        let no_affinity = core::ptr::null();
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev` (type invariant); no affinity
        // descriptor is passed.
        let map = unsafe { bindings::pci_msix_alloc_irq_at(self.as_raw(), index, no_affinity) };
        msi::MsiMap::from_raw(map)
    }

    /// Frees one MSI-X vector allocated by [`Device::msix_alloc_irq_at`].
    ///
    /// # Safety
    ///
    /// `map` came from [`Device::msix_alloc_irq_at`] on this device and was not freed yet, and
    /// no IRQ is requested on it any more.
    pub unsafe fn msix_free_irq(&self, map: msi::MsiMap) {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev`; the caller guarantees `map` is
        // an allocated vector without a requested IRQ.
        unsafe { bindings::pci_msix_free_irq(self.as_raw(), map.to_raw()) };
    }
}

macro_rules! define_config {
    ($read:ident, $write:ident, $c_read:ident, $c_write:ident, $ty:ty) => {
        /// Reads a value from the PCI configuration space at `offset`.
        pub fn $read(&self, offset: u32) -> Result<$ty> {
            let mut val: $ty = 0;
            // SAFETY:
            // - `self.as_raw()` is a valid `struct pci_dev` (type invariant),
            // - `val` is valid for writes.
            // CAST: `offset` larger than `c_int::MAX` is rejected by the C code.
            let ret = unsafe { bindings::$c_read(self.as_raw(), offset as _, &mut val) };
            // SAFETY: `pcibios_err_to_errno` has no safety requirements.
            to_result(unsafe { bindings::pcibios_err_to_errno(ret) })?;
            Ok(val)
        }

        /// Writes `val` to the PCI configuration space at `offset`.
        pub fn $write(&self, offset: u32, val: $ty) -> Result {
            // SAFETY: `self.as_raw()` is a valid `struct pci_dev` (type invariant).
            // CAST: `offset` larger than `c_int::MAX` is rejected by the C code.
            let ret = unsafe { bindings::$c_write(self.as_raw(), offset as _, val) };
            // SAFETY: `pcibios_err_to_errno` has no safety requirements.
            to_result(unsafe { bindings::pcibios_err_to_errno(ret) })
        }
    };
}

impl Device {
    define_config!(
        read_config_byte,
        write_config_byte,
        pci_read_config_byte,
        pci_write_config_byte,
        u8
    );
    define_config!(
        read_config_word,
        write_config_word,
        pci_read_config_word,
        pci_write_config_word,
        u16
    );
    define_config!(
        read_config_dword,
        write_config_dword,
        pci_read_config_dword,
        pci_write_config_dword,
        u32
    );
}

impl AsRef<device::Device> for Device {
    fn as_ref(&self) -> &device::Device {
        // SAFETY: By the type invariant of `Self`, `self.as_raw()` is a pointer to a valid
        // `struct pci_dev`.
        let dev = unsafe { addr_of_mut!((*self.as_raw()).dev) };

        // SAFETY: `dev` points to a valid `struct device`, alive as long as `self`.
        unsafe { device::Device::as_ref(dev) }
    }
}

// SAFETY: Instances of `Device` are always reference-counted.
unsafe impl crate::types::AlwaysRefCounted for Device {
    fn inc_ref(&self) {
        // SAFETY: The existence of a shared reference guarantees that the refcount is non-zero.
        unsafe { bindings::pci_dev_get(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The safety requirements guarantee that the refcount is non-zero.
        unsafe { bindings::pci_dev_put(obj.cast().as_ptr()) }
    }
}

// SAFETY: A `Device` is always reference-counted and can be released from any thread.
unsafe impl Send for Device {}

// SAFETY: `Device` can be shared among threads because all methods of `Device` are thread safe
// (the C functions they call do their own locking, or only read immutable fields).
unsafe impl Sync for Device {}

/// A PCI BAR, requested (`pci_request_region`) and mapped (`pci_iomap`), that derefs to
/// [`Io<SIZE>`].
///
/// Both are undone on drop.
///
/// # Invariants
///
/// `io.addr()` is the start of the mapping of BAR `num` of `pdev`, `io.maxsize()` bytes long,
/// and the region is requested.
pub struct Bar<const SIZE: usize = 0> {
    pdev: ARef<Device>,
    io: IoRaw<SIZE>,
    num: i32,
}

impl<const SIZE: usize> Bar<SIZE> {
    fn index_is_valid(num: u32) -> bool {
        num < bindings::PCI_STD_NUM_BARS
    }

    fn new(pdev: ARef<Device>, num: u32, name: &'static CStr) -> Result<Self> {
        let len = pdev.resource_len(num)?;
        if len == 0 {
            return Err(ENOMEM);
        }

        // CAST: `num < PCI_STD_NUM_BARS`, checked by `resource_len`.
        let num = num as i32;

        // SAFETY:
        // - `pdev` is valid by the type invariants of `Device`,
        // - `num` is checked for validity by `resource_len` above,
        // - `name` is a static NUL-terminated string.
        let ret = unsafe { bindings::pci_request_region(pdev.as_raw(), num, name.as_char_ptr()) };
        if ret != 0 {
            return Err(EBUSY);
        }

        // SAFETY: `pdev` is valid, `num` is a valid requested BAR; `0` maps the whole BAR.
        let ioptr = unsafe { bindings::pci_iomap(pdev.as_raw(), num, 0) };
        if ioptr.is_null() {
            // SAFETY: the region was requested above.
            unsafe { bindings::pci_release_region(pdev.as_raw(), num) };
            return Err(ENOMEM);
        }

        // CAST: a BAR mapped by `pci_iomap` fits the address space.
        let io = match IoRaw::new(ioptr as usize, len as usize) {
            Ok(io) => io,
            Err(err) => {
                // SAFETY: `ioptr` is the mapping and the region was requested above.
                unsafe { Self::do_release(&pdev, ioptr as usize, num) };
                return Err(err);
            }
        };

        // INVARIANT: `io` is the mapping of the requested BAR `num` of `pdev`.
        Ok(Self { pdev, io, num })
    }

    /// # Safety
    ///
    /// `ioptr` must be the mapping of BAR `num` of `pdev`, whose region is requested; both are
    /// invalid afterwards.
    unsafe fn do_release(pdev: &Device, ioptr: usize, num: i32) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            bindings::pci_iounmap(pdev.as_raw(), ioptr as _);
            bindings::pci_release_region(pdev.as_raw(), num);
        }
    }

    /// The index of this BAR.
    pub fn index(&self) -> u32 {
        // CAST: `num` is in `0..PCI_STD_NUM_BARS`.
        self.num as u32
    }
}

impl<const SIZE: usize> Drop for Bar<SIZE> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant, `io.addr()` maps BAR `num`, which is requested.
        unsafe { Self::do_release(&self.pdev, self.io.addr(), self.num) };
    }
}

impl<const SIZE: usize> Deref for Bar<SIZE> {
    type Target = Io<SIZE>;

    fn deref(&self) -> &Self::Target {
        // SAFETY: by the type invariant of `Self`, the MMIO range in `self.io` is properly
        // mapped while `self` lives.
        unsafe { Io::from_raw(&self.io) }
    }
}

/// Returns the PCI device of `dev`, if it is one.
impl<'a> TryFrom<&'a device::Device> for &'a Device {
    type Error = Error;

    fn try_from(dev: &'a device::Device) -> Result<Self> {
        // SAFETY: `dev.as_raw()` is a valid `struct device`.
        if !unsafe { bindings::dev_is_pci(dev.as_raw()) } {
            return Err(EINVAL);
        }

        // SAFETY: `dev` is embedded in a `struct pci_dev` (checked above).
        let pdev = unsafe { container_of!(dev.as_raw(), bindings::pci_dev, dev) };

        // SAFETY: `pdev` is valid as long as `dev` is.
        Ok(unsafe { Device::as_ref(pdev.cast_mut()) })
    }
}
