// SPDX-License-Identifier: GPL-2.0

//! A VFIO user's MSI-X vectors, backed on demand by IMS vectors of a sub-device.
//!
//! Every VFIO device whose interrupts come from a parent's IMS (a mediated device, a device
//! behind a platform-MSI front end) needs the same thing: a table of the user's vectors, some
//! emulated by the driver (a virtual device's "misc" vector, say), the others backed each by
//! one IMS vector of the sub-device's [`ImsUser`]. [`Vectors`] is that table:
//!
//! - An IMS-backed vector is allocated when the user gives it an eventfd
//!   (`VFIO_DEVICE_SET_IRQS` with `DATA_EVENTFD`), one at a time: the other live vectors are
//!   not touched, let alone freed and allocated again. It carries the sub-device's default
//!   MSI cookie (its PASID, say), which the IMS chip writes to the slot; the device raises it
//!   only for work of that cookie.
//! - Its interrupt signals the eventfd from the hard interrupt handler.
//! - A new eventfd for a live vector replaces the old one; the vector stays.
//! - An fd of -1 frees the vector; disabling the index (`count` 0) frees them all.
//! - `DATA_NONE` and `DATA_BOOL` triggers signal the eventfds as the device would.
//!
//! Clear `VFIO_IRQ_INFO_NORESIZE` in the index's information: with it clear, QEMU enables
//! each vector with its own `SET_IRQS` as the guest unmasks it.

use crate::{
    eventfd::EventFd,
    irq::{
        self,
        ims::{ImsChip, ImsIrq, ImsUser},
    },
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    vfio::{IrqAction, IrqData, IrqSet},
};

/// What the device needs to know as vectors gain and lose their IMS backing: a device that
/// hands out interrupt handles for its slots grants one here, and revokes it.
pub trait Hooks {
    /// Vector `k` is now backed by IMS slot `index`, its interrupt requested. An error undoes
    /// it: the vector is freed and the `SET_IRQS` fails with it.
    fn backed(&self, _k: u32, _index: u32) -> Result {
        Ok(())
    }

    /// Vector `k` is about to lose IMS slot `index`.
    fn unbacking(&self, _k: u32, _index: u32) {}
}

/// No hooks.
pub struct NoHooks;

impl Hooks for NoHooks {}

/// One vector of a [`Vectors`] table.
enum Slot<T: ImsChip> {
    /// No eventfd: the vector does not fire.
    Off,
    /// An emulated vector and its eventfd.
    Emulated(Arc<EventFd>),
    /// An IMS-backed vector, whose interrupt signals the eventfd.
    Ims(ImsIrq<T>, Arc<EventFd>),
}

impl<T: ImsChip> Slot<T> {
    fn eventfd(&self) -> Option<&Arc<EventFd>> {
        match self {
            Slot::Off => None,
            Slot::Emulated(e) | Slot::Ims(_, e) => Some(e),
        }
    }
}

/// The interrupt handler of an IMS-backed vector: it signals the user's eventfd, from the
/// hard interrupt, with no thread.
struct Signal(Arc<EventFd>);

impl irq::Handler for Signal {
    fn handle(&self) -> irq::IrqReturn {
        self.0.signal();
        irq::IrqReturn::Handled
    }
}

/// What [`Vectors::for_each`] reports of a live IMS-backed vector.
#[derive(Clone, Copy, Debug)]
pub struct Backing {
    /// The user's vector.
    pub vector: u32,
    /// The host interrupt number.
    pub virq: u32,
    /// The IMS slot.
    pub index: u32,
    /// The cookie the slot carries.
    pub cookie: u64,
}

/// A VFIO user's MSI-X vectors: `0..emulated` emulated, `emulated..count` backed by IMS.
#[pin_data]
pub struct Vectors<T: ImsChip> {
    user: ImsUser<T>,
    count: u32,
    emulated: u32,
    #[pin]
    slots: Mutex<KVec<Slot<T>>>,
}

impl<T: ImsChip> Vectors<T> {
    /// A table of `count` vectors, the first `emulated` of them emulated, the others backed by
    /// vectors of `user` (whose quota should be `count - emulated`). All start off.
    pub fn new(user: ImsUser<T>, count: u32, emulated: u32) -> Result<impl PinInit<Self>> {
        if emulated > count {
            return Err(EINVAL);
        }
        let mut slots = KVec::with_capacity(count as usize, GFP_KERNEL)?;
        for _ in 0..count {
            slots.push(Slot::Off, GFP_KERNEL)?;
        }
        Ok(pin_init!(Self {
            user,
            count,
            emulated,
            slots <- new_mutex!(slots),
        }))
    }

    /// The number of vectors.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The IMS user that backs the vectors.
    pub fn user(&self) -> &ImsUser<T> {
        &self.user
    }

    /// Carries out a `VFIO_DEVICE_SET_IRQS` on the MSI-X index.
    ///
    /// Eventfds are looked up before anything changes, so a bad one (`EBADF`, `EINVAL`) changes
    /// nothing. Vectors are then set in order; if an allocation fails (`ENOSPC` at the
    /// quota), the vectors before it keep their new setting. Masking is not supported
    /// (`ENOTTY`), as in `vfio-pci`.
    pub fn set_irqs(&self, set: &IrqSet<'_>, hooks: &impl Hooks) -> Result {
        match (set.action, set.data) {
            (IrqAction::Trigger, IrqData::None) if set.count == 0 => {
                self.disable(hooks);
                Ok(())
            }
            (IrqAction::Trigger, IrqData::EventFd(fds)) => self.set_eventfds(set.start, fds, hooks),
            (IrqAction::Trigger, IrqData::None) => {
                let slots = self.slots.lock();
                for k in set.start..set.start + set.count {
                    Self::signal(&slots, k);
                }
                Ok(())
            }
            (IrqAction::Trigger, IrqData::Bool(b)) => {
                let slots = self.slots.lock();
                for (k, &on) in (set.start..).zip(b.iter()) {
                    if on != 0 {
                        Self::signal(&slots, k);
                    }
                }
                Ok(())
            }
            (IrqAction::Mask | IrqAction::Unmask, _) => Err(ENOTTY),
        }
    }

    fn set_eventfds(&self, start: u32, fds: &[i32], hooks: &impl Hooks) -> Result {
        if start as usize + fds.len() > self.count as usize {
            return Err(EINVAL);
        }
        let mut ctxs = KVec::with_capacity(fds.len(), GFP_KERNEL)?;
        for &fd in fds {
            let ctx = if fd < 0 {
                if fd != -1 {
                    return Err(EINVAL);
                }
                None
            } else {
                Some(Arc::new(EventFd::from_fd(fd)?, GFP_KERNEL)?)
            };
            ctxs.push(ctx, GFP_KERNEL)?;
        }
        let mut slots = self.slots.lock();
        for (k, ctx) in (start..).zip(ctxs) {
            let slot = &mut slots[k as usize];
            let old = core::mem::replace(slot, Slot::Off);
            *slot = match (ctx, old) {
                (None, old) => {
                    Self::unback(k, old, hooks);
                    Slot::Off
                }
                (Some(e), _) if k < self.emulated => Slot::Emulated(e),
                // A live vector keeps its slot: only its handler changes.
                (Some(e), Slot::Ims(irq, _)) => {
                    let index = irq.vector().index();
                    match Self::request(irq.free_irq(), &e) {
                        Ok(irq) => Slot::Ims(irq, e),
                        Err(err) => {
                            hooks.unbacking(k, index);
                            return Err(err);
                        }
                    }
                }
                (Some(e), _) => {
                    let irq = Self::request(self.user.alloc(None, None)?, &e)?;
                    hooks.backed(k, irq.vector().index())?;
                    Slot::Ims(irq, e)
                }
            };
        }
        Ok(())
    }

    /// Drops what `old` holds, telling `hooks` first if it is an IMS vector.
    fn unback(k: u32, old: Slot<T>, hooks: &impl Hooks) {
        if let Slot::Ims(irq, _) = &old {
            hooks.unbacking(k, irq.vector().index());
        }
        drop(old);
    }

    fn request(vector: irq::ims::ImsVector<T>, e: &Arc<EventFd>) -> Result<ImsIrq<T>> {
        vector.request_irq(irq::Flags::TRIGGER_NONE, c"vfio-ims", Signal(e.clone()))
    }

    fn signal(slots: &[Slot<T>], k: u32) {
        if let Some(e) = slots.get(k as usize).and_then(Slot::eventfd) {
            e.signal();
        }
    }

    /// Signals vector `k`, if it has an eventfd: how the driver fires an emulated vector.
    pub fn trigger(&self, k: u32) {
        Self::signal(&self.slots.lock(), k);
    }

    /// Turns every vector off, freeing the IMS vectors: the index is disabled, or the user
    /// closed the device.
    pub fn disable(&self, hooks: &impl Hooks) {
        for (k, s) in (0..).zip(self.slots.lock().iter_mut()) {
            Self::unback(k, core::mem::replace(s, Slot::Off), hooks);
        }
    }

    /// The IMS slot behind vector `k`, if it is live and IMS-backed: the interrupt handle
    /// a device needs to raise it.
    pub fn ims_index(&self, k: u32) -> Option<u32> {
        self.with_backing(k, |index| index)
    }

    /// Calls `f` with the IMS slot behind vector `k` (`None` if the vector is off, emulated
    /// or out of range), with the table locked: the vector keeps that slot until `f`
    /// returns. A device can thus grant a handle for the slot on first use, rather than in
    /// [`Hooks::backed`], racing no `SET_IRQS`; [`Hooks::unbacking`] then revokes it.
    pub fn with_backing<R>(&self, k: u32, f: impl FnOnce(Option<u32>) -> R) -> R {
        let slots = self.slots.lock();
        f(match slots.get(k as usize) {
            Some(Slot::Ims(irq, _)) => Some(irq.vector().index()),
            _ => None,
        })
    }

    /// Whether vector `k` has an eventfd.
    pub fn is_on(&self, k: u32) -> bool {
        self.slots
            .lock()
            .get(k as usize)
            .is_some_and(|s| !matches!(s, Slot::Off))
    }

    /// Calls `f` for each live IMS-backed vector, in order, with the table locked.
    pub fn for_each(&self, mut f: impl FnMut(Backing)) {
        let slots = self.slots.lock();
        for (k, s) in (0..).zip(slots.iter()) {
            if let Slot::Ims(irq, _) = s {
                let v = irq.vector();
                f(Backing {
                    vector: k,
                    virq: v.virq(),
                    index: v.index(),
                    cookie: v.cookie(),
                });
            }
        }
    }
}
