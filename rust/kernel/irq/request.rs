// SPDX-License-Identifier: GPL-2.0

//! IRQ handler registration: `request_irq()`, `request_threaded_irq()` and `free_irq()`.
//!
//! A registration is tied to the device whose interrupt it handles: it is freed when the
//! registration is dropped or when the device is unbound from its driver, whichever comes first.
//! The handler's memory stays with the registration, so nothing dangles either way.
//!
//! C header: [`include/linux/interrupt.h`](srctree/include/linux/interrupt.h)

use crate::{
    bindings, device::Device, devres::Devres, error::to_result, prelude::*, str::CStr, types::ARef,
};
use core::{ffi::c_void, marker::PhantomPinned, ptr::addr_of};

/// Flags for [`Registration::new`] and [`ThreadedRegistration::new`] (`IRQF_*`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Flags(crate::ffi::c_ulong);

impl Flags {
    /// Use the trigger type the firmware or the IRQ chip configured.
    pub const TRIGGER_NONE: Self = Self::new(bindings::IRQF_TRIGGER_NONE);
    /// Trigger on the rising edge.
    pub const TRIGGER_RISING: Self = Self::new(bindings::IRQF_TRIGGER_RISING);
    /// Trigger on the falling edge.
    pub const TRIGGER_FALLING: Self = Self::new(bindings::IRQF_TRIGGER_FALLING);
    /// Trigger on a high level.
    pub const TRIGGER_HIGH: Self = Self::new(bindings::IRQF_TRIGGER_HIGH);
    /// Trigger on a low level.
    pub const TRIGGER_LOW: Self = Self::new(bindings::IRQF_TRIGGER_LOW);
    /// Allow sharing the IRQ among several devices.
    pub const SHARED: Self = Self::new(bindings::IRQF_SHARED);
    /// Keep the IRQ disabled after the hard handler until the thread handler has run.
    pub const ONESHOT: Self = Self::new(bindings::IRQF_ONESHOT);
    /// Do not balance the IRQ across CPUs.
    pub const NO_BALANCING: Self = Self::new(bindings::IRQF_NOBALANCING);
    /// Do not thread the hard handler under `threadirqs`.
    pub const NO_THREAD: Self = Self::new(bindings::IRQF_NO_THREAD);
    /// Do not enable the IRQ on request; the driver enables it explicitly.
    pub const NO_AUTOEN: Self = Self::new(bindings::IRQF_NO_AUTOEN);

    const fn new(value: u32) -> Self {
        // CAST: `IRQF_*` are `u32` values; `c_ulong` is at least 32 bits wide.
        Self(value as _)
    }

    /// The raw `IRQF_*` value.
    pub const fn as_raw(self) -> crate::ffi::c_ulong {
        self.0
    }
}

impl core::ops::BitOr for Flags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// The return value of [`Handler::handle`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum IrqReturn {
    /// The interrupt was not from this device or was not handled.
    None = bindings::irqreturn_IRQ_NONE,
    /// The interrupt was handled by this device.
    Handled = bindings::irqreturn_IRQ_HANDLED,
}

/// The return value of [`ThreadedHandler::handle`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum ThreadedIrqReturn {
    /// The interrupt was not from this device or was not handled.
    None = bindings::irqreturn_IRQ_NONE,
    /// The interrupt was handled by this device.
    Handled = bindings::irqreturn_IRQ_HANDLED,
    /// The handler wants the thread handler to run.
    WakeThread = bindings::irqreturn_IRQ_WAKE_THREAD,
}

/// A hard IRQ handler, called in interrupt context.
pub trait Handler: Sync {
    /// Handles the interrupt; must not sleep.
    fn handle(&self) -> IrqReturn;
}

/// A threaded IRQ handler: a hard part in interrupt context and a thread part that may sleep.
pub trait ThreadedHandler: Sync {
    /// The hard part; returns [`ThreadedIrqReturn::WakeThread`] to run
    /// [`ThreadedHandler::handle_threaded`]. By default it always wakes the thread.
    fn handle(&self) -> ThreadedIrqReturn {
        ThreadedIrqReturn::WakeThread
    }

    /// The thread part, in process context.
    fn handle_threaded(&self) -> IrqReturn;
}

/// An IRQ line requested with a registration's address as its cookie; freed on drop.
///
/// # Invariants
///
/// `irq` is requested with `cookie` as its `dev_id`, and the handlers registered for it read the
/// object at `cookie`, which stays valid until this is dropped.
struct RequestedIrq {
    irq: u32,
    cookie: *mut c_void,
}

// SAFETY: `cookie` is only passed back to `free_irq()`, which may be called from any thread.
unsafe impl Send for RequestedIrq {}

// SAFETY: `RequestedIrq` has no `&self` methods.
unsafe impl Sync for RequestedIrq {}

impl Drop for RequestedIrq {
    fn drop(&mut self) {
        // SAFETY: `irq` is requested with `cookie` (type invariant); `free_irq` waits for running
        // handlers (and the thread), so none uses the object at `cookie` afterwards.
        unsafe { bindings::free_irq(self.irq, self.cookie) };
    }
}

/// Requests `irq` for `handler` and `thread_fn` with `cookie`, freed at the latest when `dev` is
/// unbound.
///
/// # Safety
///
/// `handler` and `thread_fn` may dereference `cookie`, which must stay valid until the returned
/// [`Devres`] is revoked (dropped, or released by the unbinding of `dev`).
unsafe fn request(
    dev: &Device,
    irq: u32,
    handler: bindings::irq_handler_t,
    thread_fn: bindings::irq_handler_t,
    flags: Flags,
    name: &'static CStr,
    cookie: *mut c_void,
) -> Result<Devres<RequestedIrq>> {
    // SAFETY:
    // - the handlers may use `cookie` until the `Devres` is revoked (function safety
    //   requirement), which frees the IRQ first,
    // - `name` is a static NUL-terminated string.
    to_result(unsafe {
        bindings::request_threaded_irq(
            irq,
            handler,
            thread_fn,
            flags.as_raw(),
            name.as_char_ptr(),
            cookie,
        )
    })?;

    // INVARIANT: the IRQ is requested with `cookie`. If `Devres::new` fails, dropping the
    // `RequestedIrq` frees it again.
    Devres::new(dev, RequestedIrq { irq, cookie }, GFP_KERNEL)
}

/// Waits for running handlers (hard and threaded) of `irq` to complete (`synchronize_irq()`).
fn synchronize(irq: u32) {
    // SAFETY: `synchronize_irq()` accepts any IRQ number; it does nothing for a free one.
    unsafe { bindings::synchronize_irq(irq) };
}

/// The accessors and the drop of a registration type `$reg<T: $handler>`, the same for
/// [`Registration`] and [`ThreadedRegistration`].
macro_rules! impl_registration {
    ($reg:ident, $handler:ident) => {
        impl<T: $handler + 'static> $reg<T> {
            /// The handler.
            pub fn handler(&self) -> &T {
                &self.handler
            }

            /// The IRQ line.
            pub fn irq(&self) -> u32 {
                self.irq
            }

            /// Returns whether the IRQ is still requested, that is the device was not unbound.
            pub fn is_requested(&self) -> bool {
                self.inner.is_available()
            }

            /// Waits for running handlers (hard and threaded) of this IRQ line to complete
            /// (`synchronize_irq()`).
            pub fn synchronize(&self) {
                synchronize(self.irq);
            }
        }

        #[pinned_drop]
        impl<T: $handler + 'static> PinnedDrop for $reg<T> {
            fn drop(self: Pin<&mut Self>) {
                // Free the IRQ before `handler` is dropped; a no-op if the device was unbound.
                self.inner.revoke();
            }
        }
    };
}

/// A registration of the IRQ handler `T` for the IRQ line `irq` of a device (`request_irq()`).
///
/// The IRQ is freed (`free_irq()`, which waits for running handlers) when the registration is
/// dropped or when the device is unbound, whichever comes first.
///
/// # Invariants
///
/// `handler` is registered for `irq`, with the address of `self` as the cookie, until `inner` is
/// revoked; `inner` is revoked at the latest when `self` is dropped.
///
/// # Examples
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use kernel::{c_str, device::Device, irq};
///
/// struct Counter(AtomicU32);
///
/// impl irq::Handler for Counter {
///     fn handle(&self) -> irq::IrqReturn {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         irq::IrqReturn::Handled
///     }
/// }
///
/// # fn no_run(dev: &Device, irq_number: u32) -> Result {
/// let reg = KBox::pin_init(
///     irq::Registration::<Counter>::new(
///         dev,
///         irq_number,
///         irq::Flags::SHARED,
///         c_str!("my-device"),
///         Counter(AtomicU32::new(0)),
///     ),
///     GFP_KERNEL,
/// )?;
/// pr_info!("{} interrupts\n", reg.handler().0.load(Ordering::Relaxed));
/// # Ok(())
/// # }
/// ```
#[pin_data(PinnedDrop)]
pub struct Registration<T: Handler + 'static> {
    #[pin]
    handler: T,
    irq: u32,
    inner: Devres<RequestedIrq>,
    #[pin]
    _pin: PhantomPinned,
}

impl<T: Handler + 'static> Registration<T> {
    /// Requests `irq` of `dev` with `flags` under `name` and registers `handler` for it.
    // The `&this in` syntax of the 6.12 `try_pin_init!` expands to an `unsafe` block without a
    // safety comment (`NonNull::new_unchecked(slot)`, where `slot` is never null).
    #[allow(clippy::undocumented_unsafe_blocks)]
    pub fn new(
        dev: &Device,
        irq: u32,
        flags: Flags,
        name: &'static CStr,
        handler: impl PinInit<T, Error>,
    ) -> impl PinInit<Self, Error> {
        // Owned, so that the initializer does not borrow `dev`.
        let dev: ARef<Device> = dev.into();
        try_pin_init!(&this in Self {
            // The handler is initialized first: the IRQ may fire as soon as it is requested.
            handler <- handler,
            // SAFETY: `handle_irq_callback::<T>` only reads `handler`, initialized above; `this`
            // is pinned and stays valid until `drop`, which revokes `inner` first.
            inner: unsafe {
                request(
                    &dev,
                    irq,
                    Some(handle_irq_callback::<T>),
                    None,
                    flags,
                    name,
                    this.as_ptr().cast::<c_void>(),
                )?
            },
            irq,
            _pin: PhantomPinned,
        })
    }
}

impl_registration!(Registration, Handler);

/// # Safety
///
/// `ptr` must be the cookie of a [`Registration<T>`] whose `handler` is initialized.
unsafe extern "C" fn handle_irq_callback<T: Handler + 'static>(
    _irq: crate::ffi::c_int,
    ptr: *mut c_void,
) -> bindings::irqreturn_t {
    // SAFETY: `ptr` points to a `Registration<T>` with an initialized `handler`, valid until
    // `free_irq` returns (function safety requirement and `Registration` invariant).
    let handler = unsafe { &*addr_of!((*ptr.cast::<Registration<T>>()).handler) };
    handler.handle() as _
}

/// A registration of the threaded IRQ handler `T` for the IRQ line `irq` of a device
/// (`request_threaded_irq()`).
///
/// The IRQ is freed (`free_irq()`, which waits for running handlers and the thread) when the
/// registration is dropped or when the device is unbound, whichever comes first.
///
/// # Invariants
///
/// `handler` is registered for `irq`, with the address of `self` as the cookie, until `inner` is
/// revoked; `inner` is revoked at the latest when `self` is dropped.
///
/// # Examples
///
/// ```
/// use kernel::{c_str, device::Device, irq, sync::{new_mutex, Mutex}};
///
/// #[pin_data]
/// struct Data {
///     #[pin]
///     events: Mutex<u64>,
/// }
///
/// impl irq::ThreadedHandler for Data {
///     fn handle_threaded(&self) -> irq::IrqReturn {
///         *self.events.lock() += 1;
///         irq::IrqReturn::Handled
///     }
/// }
///
/// # fn no_run(dev: &Device, irq_number: u32) -> Result {
/// let reg = KBox::pin_init(
///     irq::ThreadedRegistration::<Data>::new(
///         dev,
///         irq_number,
///         irq::Flags::ONESHOT,
///         c_str!("my-device"),
///         try_pin_init!(Data { events <- new_mutex!(0) }? Error),
///     ),
///     GFP_KERNEL,
/// )?;
/// pr_info!("{} events\n", *reg.handler().events.lock());
/// # Ok(())
/// # }
/// ```
#[pin_data(PinnedDrop)]
pub struct ThreadedRegistration<T: ThreadedHandler + 'static> {
    #[pin]
    handler: T,
    irq: u32,
    inner: Devres<RequestedIrq>,
    #[pin]
    _pin: PhantomPinned,
}

impl<T: ThreadedHandler + 'static> ThreadedRegistration<T> {
    /// Requests `irq` of `dev` with `flags` under `name` and registers `handler` for it.
    // The `&this in` syntax of the 6.12 `try_pin_init!` expands to an `unsafe` block without a
    // safety comment (`NonNull::new_unchecked(slot)`, where `slot` is never null).
    #[allow(clippy::undocumented_unsafe_blocks)]
    pub fn new(
        dev: &Device,
        irq: u32,
        flags: Flags,
        name: &'static CStr,
        handler: impl PinInit<T, Error>,
    ) -> impl PinInit<Self, Error> {
        // Owned, so that the initializer does not borrow `dev`.
        let dev: ARef<Device> = dev.into();
        try_pin_init!(&this in Self {
            // The handler is initialized first: the IRQ may fire as soon as it is requested.
            handler <- handler,
            // SAFETY: the callbacks only read `handler`, initialized above; `this` is pinned and
            // stays valid until `drop`, which revokes `inner` first.
            inner: unsafe {
                request(
                    &dev,
                    irq,
                    Some(handle_threaded_irq_callback::<T>),
                    Some(thread_fn_callback::<T>),
                    flags,
                    name,
                    this.as_ptr().cast::<c_void>(),
                )?
            },
            irq,
            _pin: PhantomPinned,
        })
    }
}

impl_registration!(ThreadedRegistration, ThreadedHandler);

/// # Safety
///
/// `ptr` must be the cookie of a [`ThreadedRegistration<T>`] whose `handler` is initialized.
unsafe extern "C" fn handle_threaded_irq_callback<T: ThreadedHandler + 'static>(
    _irq: crate::ffi::c_int,
    ptr: *mut c_void,
) -> bindings::irqreturn_t {
    // SAFETY: `ptr` points to a `ThreadedRegistration<T>` with an initialized `handler`, valid
    // until `free_irq` returns (function safety requirement and type invariant).
    let handler = unsafe { &*addr_of!((*ptr.cast::<ThreadedRegistration<T>>()).handler) };
    handler.handle() as _
}

/// # Safety
///
/// `ptr` must be the cookie of a [`ThreadedRegistration<T>`] whose `handler` is initialized.
unsafe extern "C" fn thread_fn_callback<T: ThreadedHandler + 'static>(
    _irq: crate::ffi::c_int,
    ptr: *mut c_void,
) -> bindings::irqreturn_t {
    // SAFETY: `ptr` points to a `ThreadedRegistration<T>` with an initialized `handler`, valid
    // until `free_irq` returns (function safety requirement and type invariant).
    let handler = unsafe { &*addr_of!((*ptr.cast::<ThreadedRegistration<T>>()).handler) };
    handler.handle_threaded() as _
}
