// SPDX-License-Identifier: GPL-2.0

//! IRQ handler registrations owned by the device's devres list.
//!
//! [`ThreadedRegistration::new`] is `unsafe`: a registration that is forgotten stays installed
//! past the device binding its [`IrqRequest`] borrows. A registration that devres owns is
//! released when it is dropped or when the device is unbound, whichever comes first, whatever
//! its owner does with it. So it can be made safely, for a handler that owns its data
//! (`T: 'static`).

use super::{Flags, IrqRequest, ThreadedHandler, ThreadedRegistration};
use crate::{
    device::{Bound, Device},
    devres::Devres,
    prelude::*,
    str::CStr,
};

/// A threaded IRQ handler registration whose lifetime devres bounds.
///
/// The handler runs until the value is dropped or `dev` is unbound, whichever comes first.
/// [`Devres::try_access`] reaches the handler while it is installed.
///
/// # Invariants
///
/// The [`ThreadedRegistration`] inside is dropped no later than the unbinding of the device
/// its request belongs to.
pub type DevresRegistration<T> = Devres<ThreadedRegistration<'static, T>>;

/// Turns an initializer failing with `E` into one failing with [`Error`], as the
/// registrations take it.
pub(crate) fn error_init<T, E>(init: impl PinInit<T, E>) -> impl PinInit<T, Error>
where
    Error: From<E>,
{
    let init = move |slot: *mut T| {
        // SAFETY: `slot` is the pinned slot `pin_init_from_closure` hands over.
        unsafe { pin_init::raw_try_init(slot, init) }.map_err(Error::from)
    };
    // SAFETY: `init` initialises `slot` exactly when the inner initializer does, and fails
    // otherwise.
    unsafe { pin_init::pin_init_from_closure(init) }
}

impl<T: ThreadedHandler + Send + 'static> ThreadedRegistration<'static, T> {
    /// Registers `handler` for `request`, an interrupt of `dev`, and hands the registration to
    /// `dev`'s devres list.
    pub fn new_devres<E: 'static>(
        dev: &Device<Bound>,
        request: IrqRequest<'_>,
        flags: Flags,
        name: &'static CStr,
        handler: impl PinInit<T, E> + 'static,
    ) -> Result<DevresRegistration<T>>
    where
        Error: From<E>,
    {
        let handler = error_init(handler);
        let irq = request.irq();
        // SAFETY: `dev` is bound for the duration of this call. The `'static` borrow is
        // observed only by the registration, which `Devres` drops no later than `dev`'s
        // unbinding, even if the `Devres` itself is forgotten: at no time does the registration
        // outlive the binding. `irq` is the interrupt of `request`, hence of `dev`'s binding.
        let request = unsafe { IrqRequest::new(&*core::ptr::from_ref(dev), irq) };
        // SAFETY: The registration lives in the `Devres`, which drops it (see above); it is
        // never forgotten.
        let reg = unsafe { ThreadedRegistration::new(request, flags, name, handler) };
        Devres::new::<Error>(dev, reg)
    }
}
