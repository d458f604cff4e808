// SPDX-License-Identifier: GPL-2.0

//! Buses of a driver's own devices, configured through sysfs attributes.
//!
//! Some drivers present the parts of one piece of hardware as devices on a bus of their own,
//! so that user space can configure each part through its sysfs attributes and then enable it
//! by binding it to one of the bus's drivers. The idxd `dsa` bus is the model: `dsa0`,
//! `wq0.0`, `group0.0` and `engine0.0` are devices on it, and writing `wq0.0` to
//! `/sys/bus/dsa/drivers/dmaengine/bind` enables that work queue as a DMA engine channel.
//!
//! A driver declares the bus as a `static` [`Bus`] with its drivers' names, registers it when
//! its module loads ([`Bus::register`]), and adds [`Registration`]s of devices to it. Every
//! device on the bus carries a value of one type, the bus's [`Node`], which answers the bus's
//! `match`, `probe` and `remove` callbacks and its devices' attributes. The attributes of a
//! kind of device are a [`DeviceType`]: a table of [`Attr`]s, each with a name, a mode and a
//! number the node's [`Node::show`] and [`Node::store`] receive.
//!
//! C header: [`include/linux/device/bus.h`](srctree/include/linux/device/bus.h)

use crate::{
    alloc::{KBox, KVec},
    bindings, container_of,
    device::Device,
    error::to_result,
    kstrtox,
    prelude::*,
    str::{CStr, CString},
    sync::aref::ARef,
    sync::Arc,
    types::Opaque,
    ThisModule,
};
use core::{
    fmt,
    marker::PhantomData,
    ptr::{addr_of, NonNull},
    sync::atomic::{AtomicU8, AtomicUsize, Ordering},
};

/// `Bus::state`: not registered.
const UNREGISTERED: u8 = 0;
/// `Bus::state`: being registered or unregistered; the C structures are being written.
const BUSY: u8 = 1;
/// `Bus::state`: registered.
const REGISTERED: u8 = 2;

/// The value every device on a bus carries: it decides which of the bus's drivers may bind
/// the device, binds and unbinds it, and implements the device's attributes.
///
/// The bus core calls [`Node::probe`] and [`Node::remove`] with the device lock held, and
/// [`Node::matches`] with or without it (automatic probing and `bind` files check the match
/// before taking it); [`Node::show`] and [`Node::store`] run without it, concurrently with
/// each other and with the other callbacks, as sysfs calls them. Deleting a device waits for
/// its running `show` and `store` callbacks, so they must not take a lock held by whoever
/// drops a [`Registration`]. The driver core gives device locks no lockdep class: a bus whose
/// `remove` unbinds other devices ([`release_driver`]) must keep its lock order by design.
pub trait Node: Send + Sync + Sized + 'static {
    /// Whether the driver named `driver` may bind this device (`bus_type.match`).
    ///
    /// It is asked both when a device or driver is added (automatic probing) and when user
    /// space writes the device's name to the driver's `bind` file.
    fn matches(&self, driver: &CStr) -> bool;

    /// Binds this device to the driver named `driver` (`bus_type.probe`).
    fn probe(&self, driver: &CStr) -> Result;

    /// Unbinds this device from the driver named `driver`, which it was bound to
    /// (`bus_type.remove`). It cannot fail: whatever the binding held must be released.
    fn remove(&self, driver: &CStr);

    /// Formats the attribute numbered `id` (an [`Attr::id`] of the device's type) into `out`.
    fn show(&self, id: u32, out: &mut AttrBuf<'_>) -> Result;

    /// Parses `input`, what user space wrote, into the attribute numbered `id`.
    ///
    /// An error is returned to the writer as the `write()`'s errno.
    fn store(&self, _id: u32, _input: &Input<'_>) -> Result {
        Err(EACCES)
    }
}

/// What user space wrote to an attribute, for [`Node::store`].
///
/// It is parsed the way C `store` callbacks parse their buffer, so that a Rust driver
/// implements an existing ABI exactly: integers and booleans with the kernel's own
/// `kstrto*()` functions ([`Input::parse`], [`Input::parse_bool`]), which accept one
/// trailing newline but no other whitespace and no trailing garbage; keywords as
/// `sysfs_streq()` compares them ([`Input::is`]); and text, up to the first NUL byte as C
/// sees it, with one trailing newline removed ([`Input::text`]).
///
/// # Invariants
///
/// `s` is what user space wrote, up to its first NUL byte (sysfs terminates the buffer).
pub struct Input<'a> {
    s: &'a CStr,
}

impl<'a> Input<'a> {
    /// The input as a C string: the bytes written, up to the first NUL.
    pub fn as_cstr(&self) -> &'a CStr {
        self.s
    }

    /// Parses the input as an integer, as the `kstrto*()` function of `T` does.
    ///
    /// Fails with `EINVAL` if it is malformed, `ERANGE` if it does not fit `T`.
    pub fn parse<T: kstrtox::FromKstr>(&self, radix: kstrtox::Radix) -> Result<T> {
        kstrtox::kstrto(self.s, radix)
    }

    /// Parses the input as a boolean, as `kstrtobool()` does.
    pub fn parse_bool(&self) -> Result<bool> {
        crate::str::kstrtobool(self.s)
    }

    /// Whether the input is `word`, with or without one trailing newline
    /// (`sysfs_streq()`).
    pub fn is(&self, word: &str) -> bool {
        let b = self.s.to_bytes();
        b.strip_suffix(b"\n").unwrap_or(b) == word.as_bytes()
    }

    /// The input as text, without one trailing newline.
    ///
    /// Fails with `EINVAL` if it is not UTF-8.
    pub fn text(&self) -> Result<&'a str> {
        let b = self.s.to_bytes();
        let b = b.strip_suffix(b"\n").unwrap_or(b);
        core::str::from_utf8(b).map_err(|_| EINVAL)
    }
}

/// A bus type (`struct bus_type`) with `N` drivers, all of whose devices carry a `T`.
///
/// It is meant to be a `static`, built with [`Bus::new`] and registered at module load with
/// [`Bus::register`].
///
/// # Invariants
///
/// - While `state` is `REGISTERED`, `bus` is registered with the driver core and so is each
///   of `drivers`, as a driver of `bus`; they are written only by the one thread that moved
///   `state` to `BUSY`.
/// - Every device on `bus` is the `dev` of an `Inner<T>` made by [`Registration::new`], and
///   `devices` counts those not released yet.
pub struct Bus<T: Node, const N: usize> {
    bus: Opaque<bindings::bus_type>,
    drivers: [Opaque<bindings::device_driver>; N],
    name: &'static CStr,
    names: [&'static CStr; N],
    state: AtomicU8,
    devices: AtomicUsize,
    _p: PhantomData<T>,
}

// SAFETY: The C structures are written only by the thread that claimed `state` (`BUSY`);
// otherwise the driver core owns and locks them.
unsafe impl<T: Node, const N: usize> Sync for Bus<T, N> {}

// SAFETY: As above.
unsafe impl<T: Node, const N: usize> Send for Bus<T, N> {}

impl<T: Node, const N: usize> Bus<T, N> {
    /// Declares the bus `name` with the drivers `drivers` (not registered yet).
    pub const fn new(name: &'static CStr, drivers: [&'static CStr; N]) -> Self {
        Self {
            bus: Opaque::uninit(),
            drivers: [const { Opaque::uninit() }; N],
            name,
            names: drivers,
            state: AtomicU8::new(UNREGISTERED),
            devices: AtomicUsize::new(0),
            _p: PhantomData,
        }
    }

    /// Registers the bus and its drivers on behalf of `module`; they stay registered until the
    /// returned guard is dropped.
    ///
    /// Fails with `EBUSY` if the bus is registered already, or still has devices from an
    /// earlier registration.
    pub fn register(&'static self, module: &'static ThisModule) -> Result<BusRegistration<T, N>> {
        self.state
            .compare_exchange(UNREGISTERED, BUSY, Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| EBUSY)?;
        if self.devices.load(Ordering::Acquire) != 0 {
            self.state.store(UNREGISTERED, Ordering::Release);
            return Err(EBUSY);
        }
        let ret = self.register_claimed(module);
        if ret.is_err() {
            self.state.store(UNREGISTERED, Ordering::Release);
        }
        ret
    }

    /// Registers the bus and its drivers; `state` is `BUSY`, claimed by the caller.
    fn register_claimed(
        &'static self,
        module: &'static ThisModule,
    ) -> Result<BusRegistration<T, N>> {
        // SAFETY: `bus_type` is a C struct for which all zeroes is a valid value.
        let mut bus: bindings::bus_type = unsafe { core::mem::zeroed() };
        bus.name = self.name.as_char_ptr();
        bus.match_ = Some(match_callback::<T>);
        bus.probe = Some(probe_callback::<T>);
        bus.remove = Some(remove_callback::<T>);
        // SAFETY: The caller claimed `state`, and the bus is not registered, so nothing else
        // accesses `self.bus`.
        unsafe { self.bus.get().write(bus) };
        // SAFETY: `self.bus` is initialised and lives forever (`'static`).
        to_result(unsafe { bindings::bus_register(self.bus.get()) })?;

        for (i, drv) in self.drivers.iter().enumerate() {
            // SAFETY: `device_driver` is a C struct for which all zeroes is a valid value.
            let mut raw: bindings::device_driver = unsafe { core::mem::zeroed() };
            raw.name = self.names[i].as_char_ptr();
            raw.bus = self.bus.get();
            raw.owner = module.as_ptr();
            // SAFETY: Driver `i` is not registered yet, so nothing else accesses it.
            unsafe { drv.get().write(raw) };
            // SAFETY: `drv` is initialised, for a registered bus, and lives forever.
            let ret = to_result(unsafe { bindings::driver_register(drv.get()) });
            if let Err(e) = ret {
                self.unregister(i);
                return Err(e);
            }
        }

        // INVARIANT: the bus and all its drivers are registered.
        self.state.store(REGISTERED, Ordering::Release);
        Ok(BusRegistration { bus: self })
    }

    /// Unregisters the first `n` drivers and the bus.
    fn unregister(&self, n: usize) {
        for drv in self.drivers[..n].iter().rev() {
            // SAFETY: The first `n` drivers are registered.
            unsafe { bindings::driver_unregister(drv.get()) };
        }
        // SAFETY: The bus is registered, and has no drivers any more; it has no devices, as
        // `BusRegistration` is dropped after them (see its documentation).
        unsafe { bindings::bus_unregister(self.bus.get()) };
    }

    fn is_registered(&self) -> bool {
        self.state.load(Ordering::Acquire) == REGISTERED
    }
}

/// Keeps a [`Bus`] registered: dropping it unregisters the bus's drivers and the bus.
///
/// Drop it only after every [`Registration`] of a device on the bus: keep it in the module
/// after the driver registrations whose devices add them, so that it drops last.
pub struct BusRegistration<T: Node, const N: usize> {
    bus: &'static Bus<T, N>,
}

impl<T: Node, const N: usize> Drop for BusRegistration<T, N> {
    fn drop(&mut self) {
        // No new device from now on; devices still added would be a bug of the driver.
        self.bus.state.store(BUSY, Ordering::Release);
        let left = self.bus.devices.load(Ordering::Acquire);
        if left != 0 {
            crate::pr_err!(
                "bus {}: unregistered with {} devices\n",
                self.bus.name,
                left
            );
        }
        self.bus.unregister(N);
        self.bus.state.store(UNREGISTERED, Ordering::Release);
    }
}

/// The `T` of the device `dev` on a bus of `T`s.
///
/// # Safety
///
/// `dev` is a device on a [`Bus<T, _>`], so the `dev` of an `Inner<T>` (type invariant of
/// [`Bus`]), with a reference held for the lifetime `'a`.
unsafe fn node<'a, T: Node>(dev: *mut bindings::device) -> &'a T {
    // SAFETY: `dev` is the `dev` field of a live `Inner<T>` (safety requirement).
    let inner = unsafe { &*container_of!(Opaque::cast_from(dev).cast_mut(), Inner<T>, dev) };
    &inner.data
}

/// The name of `drv`.
///
/// # Safety
///
/// `drv` is a valid `struct device_driver` with a name, for the lifetime `'a`.
unsafe fn driver_name<'a>(drv: *const bindings::device_driver) -> &'a CStr {
    // SAFETY: `drv` is valid and its name a NUL-terminated string (safety requirement).
    unsafe { CStr::from_char_ptr((*drv).name) }
}

/// # Safety
///
/// Called by the driver core with a device and a driver of a `Bus<T, _>`.
unsafe extern "C" fn match_callback<T: Node>(
    dev: *mut bindings::device,
    drv: *const bindings::device_driver,
) -> crate::ffi::c_int {
    // SAFETY: `dev` is a device on the bus, alive during the callback; `drv` is one of its
    // registered drivers.
    let (node, name) = unsafe { (node::<T>(dev), driver_name(drv)) };
    node.matches(name).into()
}

/// # Safety
///
/// Called by the driver core with a device of a `Bus<T, _>` whose `driver` is being bound.
unsafe extern "C" fn probe_callback<T: Node>(dev: *mut bindings::device) -> crate::ffi::c_int {
    // SAFETY: `dev` is a device on the bus, alive during the callback, and the driver core set
    // `dev->driver` to the driver being bound before calling `probe`.
    let (node, name) = unsafe { (node::<T>(dev), driver_name((*dev).driver)) };
    match node.probe(name) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the driver core with a device of a `Bus<T, _>` that is bound to `dev->driver`.
unsafe extern "C" fn remove_callback<T: Node>(dev: *mut bindings::device) {
    // SAFETY: As in `probe_callback`: `dev->driver` is the driver being unbound.
    let (node, name) = unsafe { (node::<T>(dev), driver_name((*dev).driver)) };
    node.remove(name);
}

/// Unbinds `dev` from its driver, if it has one (`device_release_driver()`).
///
/// Takes the device lock of `dev`: it must not be called from a callback of `dev` itself
/// (such as [`Node::remove`] of the same device), which would deadlock.
pub fn release_driver(dev: &Device) {
    // SAFETY: `dev.as_raw()` is a valid, registered or unregistered, `struct device`.
    unsafe { bindings::device_release_driver(dev.as_raw()) };
}

/// One attribute of a [`DeviceType`]: a file in the directory of each device of that type.
#[derive(Clone, Copy)]
pub struct Attr {
    /// The file's name.
    pub name: &'static CStr,
    /// The file's mode: 0o444 (read-only), 0o644 (read and write) or 0o200 (write-only).
    pub mode: u16,
    /// The number [`Node::show`] and [`Node::store`] receive for it.
    pub id: u32,
}

impl Attr {
    /// A read-only attribute.
    pub const fn ro(name: &'static CStr, id: u32) -> Self {
        Self {
            name,
            mode: 0o444,
            id,
        }
    }

    /// A read-write attribute: anyone reads, the owner (root) writes.
    pub const fn rw(name: &'static CStr, id: u32) -> Self {
        Self {
            name,
            mode: 0o644,
            id,
        }
    }

    /// A write-only attribute.
    pub const fn wo(name: &'static CStr, id: u32) -> Self {
        Self {
            name,
            mode: 0o200,
            id,
        }
    }
}

/// The C attribute of an [`Attr`], and its number.
#[repr(C)]
struct RawAttr {
    attr: bindings::device_attribute,
    id: u32,
}

/// A kind of device on a bus of `T`s (`struct device_type`): its name and its attributes.
///
/// # Invariants
///
/// `raw` is a `device_type` named `name` whose single attribute group lists each of `attrs`,
/// with `show_callback::<T>`/`store_callback::<T>` as their callbacks. Each structure lives in
/// its own allocation, which does not move while the `DeviceType` lives.
pub struct DeviceType<T: Node> {
    raw: KBox<Opaque<bindings::device_type>>,
    _groups: KBox<[*const bindings::attribute_group; 2]>,
    _group: KBox<Opaque<bindings::attribute_group>>,
    _ptrs: KVec<*mut bindings::attribute>,
    _attrs: KVec<RawAttr>,
    _name: &'static CStr,
    _p: PhantomData<T>,
}

// SAFETY: The C structures are not written after `new`; the driver core only reads them.
unsafe impl<T: Node> Send for DeviceType<T> {}

// SAFETY: As above.
unsafe impl<T: Node> Sync for DeviceType<T> {}

impl<T: Node> DeviceType<T> {
    /// Makes a device type named `name` with the attributes `attrs`.
    pub fn new(name: &'static CStr, attrs: &[Attr]) -> Result<Arc<Self>> {
        let mut raw_attrs = KVec::with_capacity(attrs.len(), GFP_KERNEL)?;
        for a in attrs {
            // SAFETY: `device_attribute` is a C struct for which all zeroes is a valid value.
            let mut attr: bindings::device_attribute = unsafe { core::mem::zeroed() };
            attr.attr.name = a.name.as_char_ptr();
            attr.attr.mode = a.mode;
            // What `sysfs_attr_init()` does for attributes that are not static: give lockdep
            // a static key for the file's active reference.
            #[cfg(CONFIG_DEBUG_LOCK_ALLOC)]
            {
                attr.attr.key = crate::static_lock_class!().as_ptr();
            }
            if a.mode & 0o444 != 0 {
                attr.__bindgen_anon_1.show = Some(show_callback::<T>);
            }
            if a.mode & 0o222 != 0 {
                attr.__bindgen_anon_2.store = Some(store_callback::<T>);
            }
            raw_attrs.push(RawAttr { attr, id: a.id }, GFP_KERNEL)?;
        }

        // The attribute pointers, NULL-terminated; `raw_attrs` does not grow any more, so its
        // elements stay where they are.
        let mut ptrs = KVec::with_capacity(attrs.len() + 1, GFP_KERNEL)?;
        for a in raw_attrs.iter_mut() {
            ptrs.push(core::ptr::addr_of_mut!(a.attr.attr), GFP_KERNEL)?;
        }
        ptrs.push(core::ptr::null_mut(), GFP_KERNEL)?;

        // SAFETY: `attribute_group` is a C struct for which all zeroes is a valid value.
        let mut group: bindings::attribute_group = unsafe { core::mem::zeroed() };
        group.__bindgen_anon_2.attrs = ptrs.as_mut_ptr();
        let group = KBox::new(Opaque::new(group), GFP_KERNEL)?;
        let groups = KBox::new([group.get().cast_const(), core::ptr::null()], GFP_KERNEL)?;

        // SAFETY: `device_type` is a C struct for which all zeroes is a valid value.
        let mut raw: bindings::device_type = unsafe { core::mem::zeroed() };
        raw.name = name.as_char_ptr();
        raw.groups = groups.as_ptr().cast_mut();
        let raw = KBox::new(Opaque::new(raw), GFP_KERNEL)?;

        // INVARIANT: each structure is in its own heap allocation and points only to the
        // others' allocations, which moving `Self` does not move.
        Ok(Arc::new(
            Self {
                raw,
                _groups: groups,
                _group: group,
                _ptrs: ptrs,
                _attrs: raw_attrs,
                _name: name,
                _p: PhantomData,
            },
            GFP_KERNEL,
        )?)
    }
}

/// The output of an attribute's [`Node::show`]: one page, written with `write!`.
///
/// # Invariants
///
/// `len <= buf.len()`.
pub struct AttrBuf<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for AttrBuf<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        // sysfs takes at most `PAGE_SIZE - 1` bytes (`buf.len()`).
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        // INVARIANT: `end <= buf.len()`, checked above.
        self.len = end;
        Ok(())
    }
}

/// # Safety
///
/// Called by sysfs with a device of a bus of `T`s, one of the attributes of its
/// [`DeviceType<T>`], and a buffer of `PAGE_SIZE` bytes.
unsafe extern "C" fn show_callback<T: Node>(
    dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *mut crate::ffi::c_char,
) -> isize {
    // SAFETY: `attr` is the `attr` of a `RawAttr` of the device's type, which outlives the
    // device's sysfs files.
    let id = unsafe { (*container_of!(attr, RawAttr, attr)).id };
    // SAFETY: `dev` is on a bus of `T`s; sysfs holds it while the callback runs.
    let node = unsafe { node::<T>(dev) };
    // sysfs rejects a full page as a bad count: leave room for its NUL.
    let len = crate::page::PAGE_SIZE - 1;
    // SAFETY: sysfs passes a buffer of `PAGE_SIZE` bytes, ours for the callback.
    let page = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
    let mut out = AttrBuf { buf: page, len: 0 };
    match node.show(id, &mut out) {
        // CAST: at most `PAGE_SIZE` (type invariant of `AttrBuf`).
        Ok(()) => out.len as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// Called by sysfs with a device of a bus of `T`s, one of the attributes of its
/// [`DeviceType<T>`], and `count` bytes at `buf`.
unsafe extern "C" fn store_callback<T: Node>(
    dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *const crate::ffi::c_char,
    count: usize,
) -> isize {
    // SAFETY: As in `show_callback`.
    let id = unsafe { (*container_of!(attr, RawAttr, attr)).id };
    // SAFETY: As in `show_callback`.
    let node = unsafe { node::<T>(dev) };
    // SAFETY: sysfs passes `count` bytes followed by a NUL (`kernfs_fop_write_iter()`
    // terminates the buffer), so `buf` is a valid C string that lives for the call.
    let s = unsafe { CStr::from_char_ptr(buf) };
    // INVARIANT: `s` is the input up to its first NUL byte.
    let input = Input { s };
    match node.store(id, &input) {
        // CAST: sysfs never writes more than `PAGE_SIZE` bytes at once.
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// A device and the `T` it carries, in one allocation that the device's last reference frees.
#[repr(C)]
struct Inner<T: Node> {
    dev: Opaque<bindings::device>,
    ty: Arc<DeviceType<T>>,
    /// The bus's count of devices, which this one is part of until it is released.
    count: &'static AtomicUsize,
    data: T,
}

/// # Safety
///
/// Called by the driver core when the last reference to the `dev` of an `Inner<T>` made by
/// [`Registration::new`] goes.
unsafe extern "C" fn release_callback<T: Node>(dev: *mut bindings::device) {
    // SAFETY: `dev` is the `dev` of an `Inner<T>` that `Registration::new` leaked from a
    // `KBox`, and nothing refers to it any more.
    let inner = unsafe { container_of!(Opaque::cast_from(dev).cast_mut(), Inner<T>, dev) };
    // SAFETY: As above: the allocation is ours to free.
    let inner = unsafe { KBox::from_raw(inner) };
    let count = inner.count;
    drop(inner);
    count.fetch_sub(1, Ordering::AcqRel);
}

/// A device on a [`Bus`], carrying a `T`: added at creation, deleted when dropped.
///
/// The device's name, attributes and binding are visible in `/sys/bus/<bus>/devices/` while
/// the `Registration` lives. The `T` lives until the device's last reference goes, which may
/// be later.
///
/// # Invariants
///
/// `inner` points to an `Inner<T>` whose `dev` is added to a registered `Bus<T, _>`, and this
/// `Registration` owns one reference to it.
pub struct Registration<T: Node> {
    inner: NonNull<Inner<T>>,
}

// SAFETY: The `Registration` only gives shared access to `T`, which is `Send + Sync`, and to
// the device, which the driver core synchronises.
unsafe impl<T: Node> Send for Registration<T> {}

// SAFETY: As above.
unsafe impl<T: Node> Sync for Registration<T> {}

impl<T: Node> Registration<T> {
    /// Adds the device `name`, a child of `parent`, of type `ty`, carrying `data`, to `bus`.
    ///
    /// Drivers of the bus may bind it as soon as it is added, if [`Node::matches`] says so.
    /// Fails with `ENODEV` if the bus is not registered.
    pub fn new<const N: usize>(
        bus: &'static Bus<T, N>,
        parent: &Device,
        ty: &Arc<DeviceType<T>>,
        name: fmt::Arguments<'_>,
        data: T,
    ) -> Result<Self> {
        if !bus.is_registered() {
            return Err(ENODEV);
        }
        let name = CString::try_from_fmt(name)?;
        let inner = KBox::new(
            Inner {
                // SAFETY: `struct device` is a C struct for which all zeroes is a valid value,
                // and the state `device_initialize()` expects.
                dev: Opaque::new(unsafe { core::mem::zeroed() }),
                ty: ty.clone(),
                count: &bus.devices,
                data,
            },
            GFP_KERNEL,
        )?;
        // Counted from here: `release_callback` uncounts it, even on the error paths below.
        bus.devices.fetch_add(1, Ordering::AcqRel);
        let inner = KBox::into_raw(inner);
        // SAFETY: `inner` is a valid allocation we own.
        let dev = Opaque::cast_into(unsafe { addr_of!((*inner).dev) });

        // SAFETY: `dev` is a zeroed `struct device`, not shared yet. Once initialised, its
        // reference count owns `inner`: `put_device()` frees it through `release_callback`.
        // `parent` is a live device, which the new device holds a reference to; the bus and
        // type outlive the device (the bus is static, `inner` holds the type).
        unsafe {
            bindings::device_initialize(dev);
            (*dev).parent = parent.as_raw();
            (*dev).bus = bus.bus.get();
            (*dev).type_ = ty.raw.get();
            (*dev).release = Some(release_callback::<T>);
        }

        // SAFETY: `dev` is initialised; the format takes one NUL-terminated string.
        let ret = unsafe { bindings::dev_set_name(dev, c"%s".as_char_ptr(), name.as_char_ptr()) };
        // SAFETY: `dev` is initialised.
        let ret = to_result(ret).and_then(|()| to_result(unsafe { bindings::device_add(dev) }));
        if let Err(e) = ret {
            // SAFETY: Drops the reference of `device_initialize()`, which frees `inner`.
            unsafe { bindings::put_device(dev) };
            return Err(e);
        }

        // INVARIANT: the device is added to `bus`, which is registered; we hold the reference
        // of `device_initialize()`.
        Ok(Self {
            // SAFETY: `inner` came from `KBox::into_raw`, so it is not null.
            inner: unsafe { NonNull::new_unchecked(inner) },
        })
    }

    /// The value the device carries.
    pub fn data(&self) -> &T {
        // SAFETY: `inner` is alive while we hold our reference (type invariant).
        unsafe { &self.inner.as_ref().data }
    }

    /// The device.
    pub fn device(&self) -> &Device {
        // SAFETY: `inner` is alive while we hold our reference (type invariant), and so is its
        // `dev`, a valid `struct device`.
        unsafe { Device::from_raw(self.inner.as_ref().dev.get()) }
    }

    /// A counted reference to the device, which keeps its `T` alive but not its registration.
    ///
    /// The last reference runs the driver's code (the `T`'s drop): drop every such reference
    /// before the module unloads.
    pub fn device_ref(&self) -> ARef<Device> {
        self.device().into()
    }
}

impl<T: Node> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: The device is added and we own a reference (type invariant): deleting it
        // unbinds its driver, removes its files, and drops our reference.
        unsafe { bindings::device_unregister(self.inner.as_ref().dev.get()) };
    }
}
