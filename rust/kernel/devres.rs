// SPDX-License-Identifier: GPL-2.0

//! Devres abstraction.
//!
//! [`Devres`] represents an abstraction for the kernel devres (device resource management)
//! implementation: a resource whose lifetime is bound to the binding of a device to its driver.
//!
//! C header: [`include/linux/device/devres.h`](srctree/include/linux/device/devres.h)

use crate::{
    alloc::Flags, bindings, device::Device, prelude::*, revocable::Revocable, sync::Arc,
    types::ARef,
};
use core::{ffi::c_void, ops::Deref};

#[pin_data]
struct DevresInner<T> {
    #[pin]
    data: Revocable<T>,
}

/// The payload of the devres node that [`Devres`] adds to the device.
///
/// It holds one reference of the `Arc<DevresInner<T>>` and a type-erased function that takes
/// that reference back. Using one non-generic release function for every `T` gives the node a
/// release callback with a single, stable address, which `devres_remove()` compares.
#[repr(C)]
struct Node {
    inner: *const c_void,
    release: unsafe fn(*const c_void),
}

/// This abstraction is meant to be used by subsystems to containerize [`Device`] bound resources
/// to manage their lifetime.
///
/// [`Device`] bound resources should be freed when either the resource goes out of scope or the
/// [`Device`] is unbound respectively, depending on what happens first.
///
/// To achieve that [`Devres`] registers a devres node on the device when it is created. When the
/// device is unbound, the node's release callback revokes the wrapped data, which drops it (after
/// an RCU grace period, so that no reader still uses it). When the [`Devres`] is dropped first,
/// it removes its node from the device and revokes the data itself. Either way the data is
/// dropped exactly once, and the [`Devres`] keeps the memory of the wrapped [`Revocable`] alive
/// until both sides let go of it.
///
/// After the [`Devres`] has been unbound it is not possible to access the encapsulated resource
/// anymore: [`Revocable::try_access`] returns `None`.
///
/// # Invariants
///
/// While the data in `inner` is available, a devres node of `dev` whose payload is a [`Node`]
/// with a reference to `inner` is registered, or its release callback is about to revoke the
/// data.
///
/// # Examples
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use kernel::{device::Device, devres::Devres};
///
/// static RELEASED: AtomicU32 = AtomicU32::new(0);
///
/// struct Resource(u32);
///
/// impl Drop for Resource {
///     fn drop(&mut self) {
///         RELEASED.fetch_add(self.0, Ordering::Relaxed);
///     }
/// }
///
/// # fn no_run(dev: &Device) -> Result {
/// let res = Devres::new(dev, Resource(1), GFP_KERNEL)?;
/// assert_eq!(res.try_access().map(|r| r.0), Some(1));
///
/// // Dropping the `Devres` frees the resource at once.
/// drop(res);
/// assert_eq!(RELEASED.load(Ordering::Relaxed), 1);
///
/// // A foreign-owned resource is freed when the driver unbinds from `dev`.
/// Devres::new_foreign_owned(dev, Resource(2), GFP_KERNEL)?;
/// # Ok(())
/// # }
/// ```
pub struct Devres<T> {
    dev: ARef<Device>,
    inner: Arc<DevresInner<T>>,
}

/// The release callback of every node [`Devres`] adds.
///
/// # Safety
///
/// `res` is the payload of a devres node that [`Devres::register`] allocated: a [`Node`] that
/// owns one reference to its `inner`.
unsafe extern "C" fn devres_node_release(_dev: *mut bindings::device, res: *mut c_void) {
    // SAFETY: `res` points to an initialized `Node` (function safety requirement).
    let node = unsafe { res.cast::<Node>().read() };
    // SAFETY: `node.release` matches the type of `node.inner`, and the node owns the reference;
    // the devres core frees the node itself after this callback.
    unsafe { (node.release)(node.inner) };
}

/// The match callback for [`devres_node_release`] nodes: matches the node holding `data`.
///
/// # Safety
///
/// `res` is the payload of a node whose release callback is [`devres_node_release`].
unsafe extern "C" fn devres_node_match(
    _dev: *mut bindings::device,
    res: *mut c_void,
    data: *mut c_void,
) -> crate::ffi::c_int {
    // SAFETY: `res` points to an initialized `Node` (function safety requirement).
    let inner = unsafe { (*res.cast::<Node>()).inner };
    crate::ffi::c_int::from(inner == data.cast_const())
}

impl<T> DevresInner<T> {
    /// Takes back the node's reference to the `DevresInner<T>` at `ptr` and revokes its data.
    ///
    /// # Safety
    ///
    /// `ptr` comes from `Arc::<DevresInner<T>>::into_raw`, and the caller owns that reference.
    unsafe fn release(ptr: *const c_void) {
        // SAFETY: Guaranteed by the function safety requirement.
        let inner = unsafe { Arc::from_raw(ptr.cast::<Self>()) };
        inner.data.revoke();
    }
}

impl<T> Devres<T> {
    /// Creates a new [`Devres`] instance of the given `data`, bound to `dev`.
    ///
    /// `dev` should be bound to a driver (typically, this is called from `probe`): the data is
    /// dropped when the driver unbinds, or when the returned [`Devres`] is dropped.
    pub fn new(dev: &Device, data: impl PinInit<T, Error>, flags: Flags) -> Result<Self> {
        let inner = Self::new_inner(data, flags)?;

        Self::register(dev, &inner, flags)?;

        // INVARIANT: `register` added the node holding a reference to `inner`.
        Ok(Self {
            dev: dev.into(),
            inner,
        })
    }

    /// Same as [`Devres::new`], but does not return a [`Devres`] instance: the data lives until
    /// the driver unbinds from `dev`.
    pub fn new_foreign_owned(dev: &Device, data: impl PinInit<T, Error>, flags: Flags) -> Result {
        let inner = Self::new_inner(data, flags)?;

        // The node's reference is the only one left when `inner` goes out of scope.
        Self::register(dev, &inner, flags)
    }

    fn new_inner(data: impl PinInit<T, Error>, flags: Flags) -> Result<Arc<DevresInner<T>>> {
        Arc::pin_init(
            try_pin_init!(DevresInner {
                data <- Revocable::new(data),
            }),
            flags,
        )
    }

    /// Allocates and adds the devres node of `inner` to `dev`.
    fn register(dev: &Device, inner: &Arc<DevresInner<T>>, flags: Flags) -> Result {
        // SAFETY:
        // - `devres_node_release` is a valid release callback for nodes of this size,
        // - the name is a static NUL-terminated string.
        let res = unsafe {
            bindings::__devres_alloc_node(
                Some(devres_node_release),
                core::mem::size_of::<Node>(),
                flags.as_raw(),
                bindings::NUMA_NO_NODE,
                crate::c_str!("rust-devres").as_char_ptr(),
            )
        };
        if res.is_null() {
            return Err(ENOMEM);
        }

        let node = Node {
            inner: Arc::into_raw(inner.clone()).cast(),
            release: DevresInner::<T>::release,
        };

        // SAFETY:
        // - `res` is a fresh payload of `size_of::<Node>()` bytes, suitably aligned by the
        //   devres allocator (it aligns to `ARCH_KMALLOC_MINALIGN`, at least a pointer),
        // - `dev` is a valid device; from now on the node is released by the devres core, which
        //   drops the reference taken above.
        unsafe {
            res.cast::<Node>().write(node);
            bindings::devres_add(dev.as_raw(), res);
        }

        Ok(())
    }
}

impl<T> Deref for Devres<T> {
    type Target = Revocable<T>;

    fn deref(&self) -> &Self::Target {
        &self.inner.data
    }
}

impl<T> Drop for Devres<T> {
    fn drop(&mut self) {
        let key = core::ptr::from_ref::<DevresInner<T>>(&self.inner)
            .cast_mut()
            .cast::<c_void>();

        // SAFETY: `self.dev` is a valid device; the callbacks are ours and `key` identifies the
        // node added by `register` (the pointer its `inner` holds).
        let res = unsafe {
            bindings::devres_remove(
                self.dev.as_raw(),
                Some(devres_node_release),
                Some(devres_node_match),
                key,
            )
        };

        if !res.is_null() {
            // The node was still registered: it is ours now, with its reference.
            // SAFETY: `res` is the payload of our node, an initialized `Node`.
            let node = unsafe { res.cast::<Node>().read() };
            // SAFETY: `res` was removed from the device and is not used afterwards.
            unsafe { bindings::devres_free(res) };
            // SAFETY: `node.inner` is the reference `register` gave to the node, now owned here.
            drop(unsafe { Arc::from_raw(node.inner.cast::<DevresInner<T>>()) });
        }

        // Either we removed the node, or the device is unbinding and the node's callback revokes
        // the data too; only one of the two revocations drops it. If the callback does it, it
        // holds its own reference, so the memory stays valid until it is done.
        self.inner.data.revoke();
    }
}

// SAFETY: `Devres` only hands out the data through `Revocable`, which is `Send` when `T` is; the
// device reference is `Send`.
unsafe impl<T: Send> Send for Devres<T> {}

// SAFETY: `Devres` only hands out the data through `Revocable`, which is `Sync` when `T` is
// `Send + Sync`; the device reference is `Sync`.
unsafe impl<T: Send + Sync> Sync for Devres<T> {}
