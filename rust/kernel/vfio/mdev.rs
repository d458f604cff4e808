// SPDX-License-Identifier: GPL-2.0

//! Mediated devices.
//!
//! A parent device (a PCI function, say) offers *types* of mediated devices: slices of itself
//! that a VFIO user can be given. User space creates one by writing a UUID to
//! `/sys/bus/pci/devices/<parent>/mdev_supported_types/<driver>-<type>/create`, as `mdevctl`
//! and libvirt do, and removes it with `/sys/bus/mdev/devices/<uuid>/remove`. Each creation
//! probes the parent's [`Driver`] on the new [`Device`], which typically registers an
//! emulated [`super::Device`] for it.
//!
//! A driver declares a static [`DriverType`], registers it once per module
//! ([`DriverType::register`]) and registers a [`Parent`] per parent device, which lists the
//! types and holds the state its mediated devices share.
//!
//! C header: [`include/linux/mdev.h`](srctree/include/linux/mdev.h)

use crate::{
    bindings, container_of,
    device::{self, Bound},
    devres::Devres,
    error::{from_result, to_result},
    new_mutex,
    prelude::*,
    sync::{aref::ARef, Arc, Mutex},
    types::{ForeignOwnable, Opaque},
    ThisModule,
};
use core::{
    marker::PhantomData,
    sync::atomic::{AtomicBool, Ordering},
};

/// A mediated device, during its driver's [`Driver::probe`] and [`Driver::remove`].
#[repr(transparent)]
pub struct Device(Opaque<bindings::mdev_device>);

impl Device {
    /// # Safety
    ///
    /// `ptr` is a valid `struct mdev_device` for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::mdev_device) -> &'a Self {
        // SAFETY: `Device` is a transparent wrapper of the C struct.
        unsafe { &*ptr.cast() }
    }

    fn as_raw(&self) -> *mut bindings::mdev_device {
        self.0.get()
    }

    /// The mediated device's UUID (its name in `/sys/bus/mdev/devices`).
    pub fn uuid(&self) -> [u8; 16] {
        // SAFETY: `uuid` is set before the device is added and never changes.
        unsafe { (*self.as_raw()).uuid.b }
    }
}

impl AsRef<device::Device> for Device {
    fn as_ref(&self) -> &device::Device {
        // SAFETY: The embedded `struct device` is valid while the mdev is.
        unsafe { device::Device::from_raw(&raw mut (*self.as_raw()).dev) }
    }
}

/// The parent device of mediated devices, for their drivers to reach while it is bound: to
/// map memory for its DMA, say.
///
/// # Invariants
///
/// While `live` is true, `dev` is bound to the driver that registered the [`Parent`]: the
/// parent sets it to false, under the lock, before its drop returns, and a [`Parent`] is
/// dropped at the latest when that driver is unbound (it lives in a [`Devres`]).
#[pin_data]
pub struct ParentDevice {
    dev: ARef<device::Device>,
    #[pin]
    live: Mutex<bool>,
}

impl ParentDevice {
    /// Runs `f` with the parent device, bound; fails with `ENODEV` once the parent is gone.
    ///
    /// The parent cannot go while `f` runs: its unregistration waits. `f` may sleep, but must
    /// not wait for the parent's unregistration (it would deadlock).
    pub fn with_bound<R>(&self, f: impl FnOnce(&device::Device<Bound>) -> Result<R>) -> Result<R> {
        let live = self.live.lock();
        if !*live {
            return Err(ENODEV);
        }
        // SAFETY: `live` is true and stays so while we hold the lock, so `dev` is bound (type
        // invariant).
        f(unsafe { self.dev.as_bound() })
    }
}

/// One type of mediated device a parent offers: the sysfs directory
/// `<driver name>-<sysfs_name>` with its `name` attribute `pretty_name`.
#[derive(Clone, Copy)]
pub struct Type {
    /// The type's sysfs name, after the parent driver's name and a dash.
    pub sysfs_name: &'static CStr,
    /// Its human-readable name.
    pub pretty_name: &'static CStr,
}

/// A driver of mediated devices.
#[vtable]
pub trait Driver: Send + Sync + 'static {
    /// What all mediated devices of one parent share: given to [`Parent::new`].
    type Parent: Send + Sync;

    /// What the driver keeps per mediated device, from probe to remove.
    type Data: ForeignOwnable + Send + Sync;

    /// A mediated device of type `type_index` (an index into the parent's types) is created.
    ///
    /// A failure fails the creation: the error goes to the writer of `create`. `dma_dev` is
    /// the parent device, for DMA on the mediated device's behalf; keep it as long as needed.
    fn probe(
        mdev: &Device,
        parent: &Self::Parent,
        type_index: usize,
        dma_dev: &Arc<ParentDevice>,
    ) -> Result<Self::Data>;

    /// The mediated device is removed. It is closed by then: its VFIO device's
    /// unregistration, when `data` is dropped, waits for that.
    fn remove(_mdev: &Device, data: Self::Data) {
        drop(data);
    }

    /// How many more devices of type `type_index` can be created now
    /// (`available_instances`).
    fn available(parent: &Self::Parent, type_index: usize) -> u32;
}

/// The `struct mdev_driver` of a [`Driver`], declared as a `static` and registered by the
/// module ([`DriverType::register`]).
///
/// # Invariants
///
/// `drv` is written only by the one caller of [`DriverType::register`] that set `registered`,
/// before registering it; it stays registered until the returned [`DriverRegistration`] is
/// dropped.
pub struct DriverType<T: Driver> {
    drv: Opaque<bindings::mdev_driver>,
    name: &'static CStr,
    registered: AtomicBool,
    _p: PhantomData<T>,
}

// SAFETY: The C structure is written once before registration; afterwards the driver core
// owns and locks it.
unsafe impl<T: Driver> Sync for DriverType<T> {}
// SAFETY: As above.
unsafe impl<T: Driver> Send for DriverType<T> {}

impl<T: Driver> DriverType<T> {
    /// Declares the driver `name` (not registered yet).
    pub const fn new(name: &'static CStr) -> Self {
        Self {
            drv: Opaque::uninit(),
            name,
            registered: AtomicBool::new(false),
            _p: PhantomData,
        }
    }

    /// Registers the driver on behalf of `module`, until the returned guard is dropped.
    ///
    /// Fails with `EBUSY` if it is registered already.
    pub fn register(&'static self, module: &'static ThisModule) -> Result<DriverRegistration<T>> {
        if self.registered.swap(true, Ordering::AcqRel) {
            return Err(EBUSY);
        }
        // SAFETY: `mdev_driver` is a C struct for which all zeroes is a valid value.
        let mut drv: bindings::mdev_driver = unsafe { core::mem::zeroed() };
        drv.device_api = c"vfio-pci".as_char_ptr();
        drv.probe = Some(probe_callback::<T>);
        drv.remove = Some(remove_callback::<T>);
        drv.get_available = Some(available_callback::<T>);
        drv.driver.name = self.name.as_char_ptr();
        drv.driver.owner = module.as_ptr();
        // SAFETY: We set `registered`, so nothing else accesses `drv` (type invariant).
        unsafe { self.drv.get().write(drv) };
        // SAFETY: `drv` is initialised and lives forever.
        if let Err(e) = to_result(unsafe { bindings::mdev_register_driver(self.drv.get()) }) {
            self.registered.store(false, Ordering::Release);
            return Err(e);
        }
        Ok(DriverRegistration { drv: self })
    }
}

/// Keeps a [`DriverType`] registered. Drop it after every [`Parent`] of the driver.
pub struct DriverRegistration<T: Driver> {
    drv: &'static DriverType<T>,
}

impl<T: Driver> Drop for DriverRegistration<T> {
    fn drop(&mut self) {
        // SAFETY: The driver is registered (type invariant of `DriverType`).
        unsafe { bindings::mdev_unregister_driver(self.drv.drv.get()) };
        self.drv.registered.store(false, Ordering::Release);
    }
}

/// A parent of mediated devices: its types appear in sysfs while it lives.
///
/// Dropping it removes every mediated device of the parent first (each one's
/// [`Driver::remove`], which waits for its user to close it), then the types.
///
/// # Invariants
///
/// Once `registered` is true, `parent` is registered with the mdev core for the types `types`
/// (pointed to by `ptrs`) and the driver `T`, whose `DriverType` outlives it.
#[pin_data(PinnedDrop)]
pub struct Parent<T: Driver> {
    #[pin]
    parent: Opaque<bindings::mdev_parent>,
    types: KVec<Opaque<bindings::mdev_type>>,
    ptrs: KVec<*mut bindings::mdev_type>,
    registered: AtomicBool,
    bound: Arc<ParentDevice>,
    data: T::Parent,
}

// SAFETY: The C structures are owned by the mdev core once registered; `data` is
// `Send + Sync`.
unsafe impl<T: Driver> Send for Parent<T> {}
// SAFETY: As above.
unsafe impl<T: Driver> Sync for Parent<T> {}

impl<T: Driver> Parent<T> {
    /// Registers `dev` as a parent of mediated devices of `types`, driven by `drv`, with the
    /// shared state `data`, until the returned object is dropped or `dev` is unbound,
    /// whichever comes first.
    ///
    /// `drv` must stay registered while the parent lives (keep the parent in the device's
    /// driver data, which is dropped before the module's registration).
    pub fn new(
        dev: &device::Device<Bound>,
        drv: &'static DriverType<T>,
        types: &[Type],
        data: T::Parent,
    ) -> Result<Devres<Pin<KBox<Self>>>> {
        if types.is_empty() || !drv.registered.load(Ordering::Acquire) {
            return Err(EINVAL);
        }
        let mut raw = KVec::with_capacity(types.len(), GFP_KERNEL)?;
        for t in types {
            // SAFETY: `mdev_type` is a C struct for which all zeroes is a valid value.
            let mut mt: bindings::mdev_type = unsafe { core::mem::zeroed() };
            mt.sysfs_name = t.sysfs_name.as_char_ptr();
            mt.pretty_name = t.pretty_name.as_char_ptr();
            raw.push(Opaque::new(mt), GFP_KERNEL)?;
        }
        let mut ptrs = KVec::with_capacity(types.len(), GFP_KERNEL)?;
        for t in raw.iter() {
            ptrs.push(t.get(), GFP_KERNEL)?;
        }
        let bound = Arc::pin_init(
            pin_init!(ParentDevice {
                dev: dev.into(),
                live <- new_mutex!(true),
            }),
            GFP_KERNEL,
        )?;
        let this = KBox::pin_init(
            try_pin_init!(Self {
                parent: Opaque::uninit(),
                types: raw,
                ptrs,
                registered: AtomicBool::new(false),
                bound,
                data,
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `parent` is pinned, `ptrs` points to the types in `types`, whose heap buffer
        // never moves or changes while `self` lives; `drv` is registered and outlives `self`.
        let ret = unsafe {
            bindings::mdev_register_parent(
                this.parent.get(),
                dev.as_raw(),
                drv.drv.get(),
                this.ptrs.as_ptr().cast_mut(),
                this.ptrs.len() as u32,
            )
        };
        to_result(ret)?;
        // INVARIANT: registered, so the drop unregisters it.
        this.registered.store(true, Ordering::Release);
        // INVARIANT (of `ParentDevice`): the parent goes no later than `dev`'s unbinding.
        Devres::new(dev, this)
    }

    /// The state given to [`Parent::new`].
    pub fn data(&self) -> &T::Parent {
        &self.data
    }

    /// # Safety
    ///
    /// `parent` is the `struct mdev_parent` of a live `Parent<T>`.
    unsafe fn from_raw<'a>(parent: *mut bindings::mdev_parent) -> &'a Self {
        // SAFETY: By the function's safety requirements.
        unsafe { &*container_of!(Opaque::cast_from(parent), Self, parent) }
    }

    fn type_index(&self, mtype: *mut bindings::mdev_type) -> usize {
        self.ptrs.iter().position(|&p| p == mtype).unwrap_or(0)
    }
}

#[pinned_drop]
impl<T: Driver> PinnedDrop for Parent<T> {
    fn drop(self: Pin<&mut Self>) {
        if self.registered.load(Ordering::Acquire) {
            // SAFETY: By the type invariant the parent is registered; this removes its
            // devices.
            unsafe { bindings::mdev_unregister_parent(self.parent.get()) };
        }
        // INVARIANT: the parent may be unbound from now on.
        *self.bound.live.lock() = false;
    }
}

/// # Safety
///
/// Called by the mdev core with a valid mdev of a registered `Parent<T>`.
unsafe extern "C" fn probe_callback<T: Driver>(mdev: *mut bindings::mdev_device) -> c_int {
    // SAFETY: `type_` and its `parent` are set by the mdev core before probing, and the
    // parent lives while it has devices (it removes them before it goes).
    let (parent, mtype) = unsafe {
        let mtype = (*mdev).type_;
        (Parent::<T>::from_raw((*mtype).parent), mtype)
    };
    // SAFETY: `mdev` is valid during probe.
    let dev = unsafe { Device::from_raw(mdev) };
    from_result(|| {
        let data = T::probe(dev, &parent.data, parent.type_index(mtype), &parent.bound)?;
        // SAFETY: The device is being probed: its driver data is ours, taken back at remove.
        unsafe { bindings::dev_set_drvdata(&raw mut (*mdev).dev, data.into_foreign().cast()) };
        Ok(0)
    })
}

/// # Safety
///
/// Called by the mdev core with a valid mdev that `probe_callback` accepted.
unsafe extern "C" fn remove_callback<T: Driver>(mdev: *mut bindings::mdev_device) {
    // SAFETY: `mdev` is valid; its driver data was set by `probe_callback` from
    // `T::Data::into_foreign()` and is taken back once, here.
    let data = unsafe {
        let ptr = bindings::dev_get_drvdata(&raw mut (*mdev).dev);
        bindings::dev_set_drvdata(&raw mut (*mdev).dev, core::ptr::null_mut());
        T::Data::from_foreign(ptr.cast())
    };
    // SAFETY: `mdev` is valid during remove.
    T::remove(unsafe { Device::from_raw(mdev) }, data);
}

/// # Safety
///
/// Called by the mdev core with a type of a registered `Parent<T>`.
unsafe extern "C" fn available_callback<T: Driver>(mtype: *mut bindings::mdev_type) -> c_uint {
    // SAFETY: A type's `parent` is set at registration; the parent lives while its types'
    // sysfs files do.
    let parent = unsafe { Parent::<T>::from_raw((*mtype).parent) };
    T::available(&parent.data, parent.type_index(mtype))
}
