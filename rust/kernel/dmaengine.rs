// SPDX-License-Identifier: GPL-2.0

//! DMA engine providers.
//!
//! A driver of a DMA controller registers a [`Registration`] with one [`Chan`] per hardware
//! channel, or adds channels to it later, one at a time ([`Registration::add_chan`]), as they
//! come and go (a DSA work queue is a channel while it is enabled). Clients (`dmatest`, async_tx, any `dma_request_chan()` user) then prepare
//! descriptors through the driver's [`Channel`] methods, submit them, and are called back when
//! the driver completes them with [`Desc::complete`].
//!
//! The abstraction owns the parts of the C contract that are easy to get wrong: cookie
//! assignment in submission order, the completed cookie, `tx_status`, the client's callback
//! (with or without a result), the unmap data of the descriptor, and the lifetime of the
//! `struct dma_device`, which lives until the DMA engine core releases it, even after the driver
//! unregistered it.
//!
//! C header: [`include/linux/dmaengine.h`](srctree/include/linux/dmaengine.h)

use crate::{
    alloc::{Flags, KBox, KVec},
    bindings,
    device::Device,
    error::{from_result, to_result},
    prelude::*,
    sync::LockClassKey,
    sync::{Arc, Mutex, SpinLockIrq},
    types::Opaque,
    workqueue::{self, impl_has_work, Work, WorkItem},
};
use core::{
    marker::PhantomPinned,
    ptr::{addr_of, addr_of_mut},
    sync::atomic::{AtomicBool, Ordering},
};

// The lockdep names and classes of the generic types below. A lock class must have one name:
// defined here, both are in the kernel crate whichever crate instantiates the types, while a
// `new_spinlock!()` in generic code would pair the kernel crate's class with each
// instantiating module's copy of the name, which lockdep reports.
static CHAN_LOCK_CLASS: (&CStr, Pin<&LockClassKey>) =
    (c"dmaengine::Chan::lock", crate::static_lock_class!());
static DYN_CHANS_CLASS: (&CStr, Pin<&LockClassKey>) = (
    c"dmaengine::DmaDevice::dyn_chans",
    crate::static_lock_class!(),
);
static FREE_WORK_CLASS: (&CStr, Pin<&LockClassKey>) = (
    c"dmaengine::DmaDevice::free_work",
    crate::static_lock_class!(),
);

/// A bus address the device can access (`dma_addr_t`).
pub type DmaAddr = bindings::dma_addr_t;

/// The kinds of transactions a DMA device can do (`enum dma_transaction_type`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Caps(u64);

impl Caps {
    /// Memory to memory copy (`DMA_MEMCPY`): [`Channel::prep_memcpy`].
    pub const MEMCPY: Self = Self::bit(bindings::dma_transaction_type_DMA_MEMCPY);
    /// Memory fill (`DMA_MEMSET`): [`Channel::prep_memset`].
    pub const MEMSET: Self = Self::bit(bindings::dma_transaction_type_DMA_MEMSET);
    /// An interrupt after the preceding work (`DMA_INTERRUPT`): [`Channel::prep_interrupt`].
    pub const INTERRUPT: Self = Self::bit(bindings::dma_transaction_type_DMA_INTERRUPT);

    const fn bit(ty: u32) -> Self {
        Self(1 << ty)
    }

    const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for Caps {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// The flags a client passes to a prepare call (`enum dma_ctrl_flags`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PrepFlags(crate::ffi::c_ulong);

impl PrepFlags {
    /// Whether the client wants its callback called on completion (`DMA_PREP_INTERRUPT`).
    pub fn interrupt(self) -> bool {
        // CAST: `enum dma_ctrl_flags` values fit `unsigned long`.
        self.0 & bindings::dma_ctrl_flags_DMA_PREP_INTERRUPT as crate::ffi::c_ulong != 0
    }

    /// Whether the descriptor must wait for the completion of the preceding ones
    /// (`DMA_PREP_FENCE`).
    pub fn fence(self) -> bool {
        // CAST: As above.
        self.0 & bindings::dma_ctrl_flags_DMA_PREP_FENCE as crate::ffi::c_ulong != 0
    }
}

/// The outcome of a transaction, given to the client's callback (`enum dmaengine_tx_result`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TxResult {
    /// The transaction completed.
    NoError,
    /// The device failed to read the source.
    ReadFailed,
    /// The device failed to write the destination.
    WriteFailed,
    /// The transaction was aborted or never ran.
    Aborted,
}

impl TxResult {
    fn as_raw(self) -> bindings::dmaengine_tx_result {
        match self {
            Self::NoError => bindings::dmaengine_tx_result_DMA_TRANS_NOERROR,
            Self::ReadFailed => bindings::dmaengine_tx_result_DMA_TRANS_READ_FAILED,
            Self::WriteFailed => bindings::dmaengine_tx_result_DMA_TRANS_WRITE_FAILED,
            Self::Aborted => bindings::dmaengine_tx_result_DMA_TRANS_ABORTED,
        }
    }
}

/// The operations of a driver's DMA channel.
///
/// They are called by the DMA engine core on behalf of its clients. Each method says the
/// context it runs in: the clients' rules (`Documentation/driver-api/dmaengine/client.rst`)
/// let them prepare, submit, issue and terminate from atomic context, and from within a
/// completion callback, so only [`Channel::alloc_resources`], [`Channel::free_resources`] and
/// [`Channel::synchronize`] may sleep. The abstraction's own per-channel lock (cookies) is
/// not interrupt-safe: prepare, submit and status calls from a hard interrupt handler are not
/// supported yet; [`Channel::terminate_all`] takes no lock of the abstraction.
pub trait Channel: Send + Sync + Sized + 'static {
    /// The driver's part of a descriptor: what the hardware needs to run it.
    type Desc: Send;

    /// Prepares the channel for a client; returns the number of descriptors it may prepare at
    /// once (`device_alloc_chan_resources`).
    ///
    /// Process context, with the core's channel list mutex held: may sleep.
    fn alloc_resources(&self) -> Result<u32>;

    /// The client let the channel go (`device_free_chan_resources`).
    ///
    /// The core calls [`Channel::synchronize`] first, but the client may have left work in
    /// flight without terminating it: the driver must stop that work before it reuses
    /// whatever the work occupies. No callback may reach the departed client.
    ///
    /// Process context, with the core's channel list mutex held: may sleep.
    fn free_resources(&self);

    /// Prepares a copy of `len` bytes from `src` to `dst` (`device_prep_dma_memcpy`).
    ///
    /// May be called in atomic context.
    fn prep_memcpy(
        &self,
        dst: DmaAddr,
        src: DmaAddr,
        len: usize,
        flags: PrepFlags,
    ) -> Result<Self::Desc>;

    /// Prepares filling `len` bytes at `dst` with the byte `value` (`device_prep_dma_memset`).
    ///
    /// May be called in atomic context.
    fn prep_memset(
        &self,
        _dst: DmaAddr,
        _value: u8,
        _len: usize,
        _flags: PrepFlags,
    ) -> Result<Self::Desc> {
        Err(EOPNOTSUPP)
    }

    /// Prepares a descriptor that only raises the completion interrupt
    /// (`device_prep_dma_interrupt`).
    ///
    /// May be called in atomic context.
    fn prep_interrupt(&self, _flags: PrepFlags) -> Result<Self::Desc> {
        Err(EOPNOTSUPP)
    }

    /// Takes `desc`, whose cookie is assigned, to run it after the descriptors submitted
    /// before. The driver completes it later with [`Desc::complete`]; on error it drops it.
    ///
    /// Called with the channel's submission lock held, so it must not sleep, and it must not
    /// complete descriptors of this channel.
    fn submit(&self, desc: Pin<KBox<Desc<Self::Desc>>>) -> Result;

    /// Starts the submitted descriptors (`device_issue_pending`).
    ///
    /// May be called in atomic context.
    fn issue_pending(&self);

    /// Terminates every descriptor submitted so far (`device_terminate_all`): none of them
    /// completes through a callback any more, and the device stops them by the time
    /// [`Channel::synchronize`] returns. Descriptors submitted afterwards run as usual.
    ///
    /// May be called in any context, a hard interrupt handler included, and from within a
    /// completion callback of the channel: it must not sleep, must not take a lock that is
    /// held with interrupts enabled, and must not call callbacks. The termination itself may
    /// be asynchronous.
    fn terminate_all(&self) -> Result {
        Err(EOPNOTSUPP)
    }

    /// Finishes a termination (`device_synchronize`): when it returns, the device no longer
    /// touches the memory of the terminated descriptors, and no callback of the channel is
    /// running or will run for them.
    ///
    /// Process context, never from a completion callback: may sleep.
    fn synchronize(&self) {}
}

/// A descriptor: the C `struct dma_async_tx_descriptor` and the driver's data.
///
/// The client holds a pointer to `tx` from the prepare call to `tx_submit`; the driver owns the
/// descriptor from then until it completes it.
///
/// # Invariants
///
/// `tx` is initialized with `dma_async_tx_descriptor_init()` for a channel `Chan<T>` whose
/// `T::Desc` is `D`, and is not shared with the C side once the driver owns the descriptor
/// (except through the channel's cookie state).
#[pin_data(PinnedDrop)]
#[repr(C)]
pub struct Desc<D> {
    #[pin]
    tx: Opaque<bindings::dma_async_tx_descriptor>,
    data: D,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The C descriptor is only used by its owner: the client until `tx_submit`, the driver
// afterwards; its pointers (channel, callback parameter, unmap data) may be used from any
// thread, as the C DMA engine API allows.
unsafe impl<D: Send> Send for Desc<D> {}

impl<D> Desc<D> {
    /// The driver's data of this descriptor.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// The cookie `tx_submit` assigned to this descriptor.
    pub fn cookie(&self) -> i32 {
        // SAFETY: `tx` is initialized (type invariant); the driver owns the descriptor, so the
        // cookie does not change concurrently.
        unsafe { (*self.tx.get()).cookie }
    }

    /// The flags the client prepared this descriptor with.
    pub fn flags(&self) -> PrepFlags {
        // SAFETY: As above.
        PrepFlags(unsafe { (*self.tx.get()).flags } as crate::ffi::c_ulong)
    }

    /// Completes the descriptor with `result`: marks its cookie complete, calls the client's
    /// callback (which may submit more work), and frees it.
    ///
    /// Must not be called with the channel's submission lock held (that is, from
    /// [`Channel::submit`]).
    pub fn complete(self: Pin<KBox<Self>>, result: TxResult) {
        let tx = self.tx.get();

        // SAFETY: `tx` is initialized and its `chan` is the `Chan<T>` that prepared it (type
        // invariant); the channel outlives its descriptors (the DMA device is released only
        // after every client let its channels go, and clients wait for their descriptors).
        let lock = unsafe { &*Chan::<()>::lock_of((*tx).chan) };
        {
            let _guard = lock.lock();
            // SAFETY: The cookie state of the channel is protected by its submission lock.
            unsafe {
                (*(*tx).chan).completed_cookie = (*tx).cookie;
                (*tx).cookie = 0;
            }
        }

        let res = bindings::dmaengine_result {
            result: result.as_raw(),
            residue: 0,
        };
        // SAFETY: The callbacks were set by the client for this descriptor, which it no longer
        // touches; they are called once, outside the channel's lock, as the C drivers do.
        unsafe {
            if let Some(cb) = (*tx).callback_result {
                cb((*tx).callback_param, &res);
            } else if let Some(cb) = (*tx).callback {
                cb((*tx).callback_param);
            }
        }
        drop(self);
    }
}

#[pinned_drop]
impl<D> PinnedDrop for Desc<D> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `tx` is initialized (type invariant) and owned by us; this drops the client's
        // unmap data reference, if any (`dma_descriptor_unmap()`).
        unsafe { bindings::dma_descriptor_unmap(self.tx.get()) };
    }
}

/// A DMA channel of a [`Registration`]: the C `struct dma_chan` and the driver's [`Channel`].
///
/// # Invariants
///
/// `chan.device` points to the `dma_device` of the [`Registration`] that holds this channel.
/// The `lock` protects the cookie state of `chan` (`cookie`, `completed_cookie`); it is taken
/// with interrupts off, since clients submit from any context.
#[pin_data]
#[repr(C)]
pub struct Chan<T> {
    #[pin]
    chan: Opaque<bindings::dma_chan>,
    #[pin]
    lock: SpinLockIrq<()>,
    /// Whether a client holds the channel: set and cleared by the core's alloc and free
    /// callbacks, which it calls with its list mutex held.
    in_use: AtomicBool,
    inner: T,
    #[pin]
    _pin: PhantomPinned,
}

impl<T> Chan<T> {
    /// Returns the submission lock of the channel whose `struct dma_chan` is `chan`.
    ///
    /// # Safety
    ///
    /// `chan` must be the `chan` field of a live `Chan<U>` (for any `U`).
    unsafe fn lock_of(chan: *mut bindings::dma_chan) -> *const SpinLockIrq<()> {
        // `Chan` is `repr(C)` with `chan` first, and the offset of `lock` does not depend on
        // the type of `inner`, which comes after it.
        let this = chan.cast::<Chan<()>>();
        // SAFETY: `this` points to a live `Chan<U>` whose first fields are laid out as in
        // `Chan<()>` (function safety requirement).
        unsafe { addr_of!((*this).lock) }
    }

    /// The driver's channel.
    pub fn inner(&self) -> &T {
        &self.inner
    }
}

impl<T: Channel> Chan<T> {
    /// Returns the channel whose `struct dma_chan` is `chan`.
    ///
    /// # Safety
    ///
    /// `chan` must be the `chan` field of a live `Chan<T>`.
    unsafe fn from_raw<'a>(chan: *mut bindings::dma_chan) -> &'a Self {
        // SAFETY: `Chan` is `repr(C)` with `chan` first (function safety requirement).
        unsafe { &*chan.cast::<Self>() }
    }

    fn new(inner: T) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            // SAFETY: `dma_chan` is a C struct for which all zeroes is a valid value: the DMA
            // engine core fills it in when the device is registered.
            chan: Opaque::new(unsafe { core::mem::zeroed() }),
            lock <- SpinLockIrq::new((), CHAN_LOCK_CLASS.0, CHAN_LOCK_CLASS.1),
            in_use: AtomicBool::new(false),
            inner,
            _pin: PhantomPinned,
        }? Error)
    }

    /// Wraps the driver's descriptor data for the client.
    fn prepare(
        &self,
        data: Result<T::Desc>,
        flags: crate::ffi::c_ulong,
    ) -> *mut bindings::dma_async_tx_descriptor {
        let Ok(data) = data else {
            return core::ptr::null_mut();
        };
        let desc = KBox::pin_init(
            pin_init!(Desc {
                // SAFETY: All zeroes is a valid `dma_async_tx_descriptor`: no callbacks, no
                // unmap data.
                tx: Opaque::new(unsafe { core::mem::zeroed() }),
                data,
                _pin: PhantomPinned,
            }),
            GFP_NOWAIT,
        );
        let Ok(desc) = desc else {
            return core::ptr::null_mut();
        };
        let tx = desc.tx.get();
        // SAFETY: `tx` is valid and `self.chan` is a registered channel; the callee sets
        // `tx->chan`.
        unsafe {
            bindings::dma_async_tx_descriptor_init(tx, self.chan.get());
            (*tx).tx_submit = Some(tx_submit_callback::<T>);
            // CAST: `enum dma_ctrl_flags` values fit the C enum.
            (*tx).flags = flags as bindings::dma_ctrl_flags;
        }
        // INVARIANT: `tx` is initialized for this channel. The client owns the descriptor from
        // here until `tx_submit` (descriptors are single use: `desc_free` and reuse are not
        // supported).
        // SAFETY: The descriptor is not moved: `tx_submit_callback` pins it again.
        let _ = KBox::into_raw(unsafe { Pin::into_inner_unchecked(desc) });
        tx
    }
}

/// A channel added at run time, `None` once freed.
type DynChanBox<T> = Option<Pin<KBox<Chan<T>>>>;

/// The channels added to a device at run time.
///
/// A client may use a removed channel until it lets it go, so a removed channel stays here
/// until no client holds it ([`DynChans::reclaim`]).
struct DynChans<T> {
    /// Each channel (`None` once freed), and whether it is live: registered with the core and
    /// on the device's list.
    chans: KVec<(DynChanBox<T>, bool)>,
    /// Set when the [`Registration`] removed every live channel and unregistered the device.
    unregistered: bool,
}

impl<T: Channel> DynChans<T> {
    /// Frees the removed channels no client holds any more.
    fn reclaim(&mut self) {
        let idle = |c: &DynChanBox<T>| {
            c.as_ref()
                .is_some_and(|c| !c.in_use.load(Ordering::Acquire))
        };
        if !self.chans.iter().any(|(c, live)| !*live && idle(c)) {
            return;
        }
        // A client that just let a channel go may still be in the core, which touches the
        // channel until it drops its list mutex: wait for that. No client can take a removed
        // channel again, so an idle one stays idle.
        list_mutex_barrier();
        for (c, live) in self.chans.iter_mut() {
            if !*live && idle(c) {
                drop(c.take());
            }
        }
    }
}

/// Takes the live dynamic channel `chan` off `dma`: off the list first, so that the core's
/// list walkers (under its list mutex, or RCU) are done with it before it is unregistered.
///
/// # Safety
///
/// `chan` is a live dynamic channel of the registered device `dma`, and the caller holds the
/// device's `dyn_chans` lock.
unsafe fn remove_dyn_chan(dma: *mut bindings::dma_device, chan: *mut bindings::dma_chan) {
    // SAFETY: `chan` is on `dma`'s list (function safety requirement); walkers that already
    // stand on it may go on to the next entry, which `list_del_rcu` leaves in place.
    unsafe { bindings::list_del_rcu(addr_of_mut!((*chan).device_node)) };
    // SAFETY: Waits for the RCU walkers (`dma_issue_pending_all()`).
    unsafe { bindings::synchronize_rcu() };
    // The walkers under the list mutex.
    list_mutex_barrier();
    // SAFETY: `chan` is registered (function safety requirement) and no longer listed.
    unsafe { bindings::dma_async_device_channel_unregister(dma, chan) };
}

/// The DMA device of a [`Registration`]: the C `struct dma_device` and the channels.
///
/// # Invariants
///
/// `dma` is initialized by [`Registration::new`] and its `channels` list holds the `chan` of
/// every element of `chans`, and of each element of `dyn_chans` marked live (which is
/// registered with the core too).
#[pin_data]
#[repr(C)]
struct DmaDevice<T> {
    #[pin]
    dma: Opaque<bindings::dma_device>,
    chans: KVec<Pin<KBox<Chan<T>>>>,
    /// The channels added by [`Registration::add_chan`]; serialises adding and removing them.
    #[pin]
    dyn_chans: Mutex<DynChans<T>>,
    /// Frees the device after the DMA engine core released it (see [`release_callback`]).
    #[pin]
    free_work: Work<DmaDevice<T>>,
    #[pin]
    _pin: PhantomPinned,
}

impl_has_work! {
    impl{T} HasWork<Self> for DmaDevice<T> { self.free_work }
}

impl<T: Channel> WorkItem for DmaDevice<T> {
    type Pointer = Arc<Self>;

    fn run(this: Arc<Self>) {
        // The core released the device with `dma_list_mutex` held, and may still touch the
        // channel until it drops the mutex (`dma_release_channel()` does). Wait for that.
        list_mutex_barrier();
        drop(this);
    }
}

/// A channel nobody may take: its client count is never 0.
struct BarrierChan(Opaque<bindings::dma_chan>);

// SAFETY: The DMA engine core only reads the channel's client count, under its list mutex.
unsafe impl Sync for BarrierChan {}

static BARRIER_CHAN: BarrierChan = BarrierChan(Opaque::new({
    // SAFETY: All zeroes is a valid `dma_chan`.
    let mut chan: bindings::dma_chan = unsafe { core::mem::zeroed() };
    chan.client_count = 1;
    chan
}));

/// Waits until the DMA engine core's list mutex (`dma_list_mutex`) is free.
///
/// `dma_get_slave_channel()` takes the mutex and returns `NULL` without touching anything for
/// a channel that has clients, which [`BARRIER_CHAN`] always has.
fn list_mutex_barrier() {
    // SAFETY: `BARRIER_CHAN` is a valid channel that is never registered; with a non-zero
    // client count the callee only reads that count, under the list mutex.
    let chan = unsafe { bindings::dma_get_slave_channel(BARRIER_CHAN.0.get()) };
    debug_assert!(chan.is_null());
}

// SAFETY: The C parts are only touched by the DMA engine core with its own locking, and by the
// channel callbacks, which serialise on the channel's lock; `T` is `Send + Sync`.
unsafe impl<T: Channel> Send for DmaDevice<T> {}

// SAFETY: As above.
unsafe impl<T: Channel> Sync for DmaDevice<T> {}

/// A DMA device registered with the DMA engine core (`dma_async_device_register()`).
///
/// Dropping it unregisters the device; the memory of the device and its channels lives until
/// the core releases it (`device_release`), when the last client let its channel go.
///
/// # Invariants
///
/// `dev` is registered, and the core holds a reference to it (from `Arc::into_raw`) that
/// `device_release` takes back.
pub struct Registration<T: Channel> {
    dev: Arc<DmaDevice<T>>,
}

impl<T: Channel> Registration<T> {
    /// Registers a DMA device for `dev` with the capabilities `caps` and the channels `chans`.
    ///
    /// `dev` must be bound to the calling driver (this is called from probe or later).
    pub fn new(dev: &Device, caps: Caps, chans: KVec<T>, flags: Flags) -> Result<Self> {
        let mut boxed = KVec::with_capacity(chans.len(), flags)?;
        for inner in chans {
            boxed.push(KBox::pin_init(Chan::new(inner), flags)?, flags)?;
        }

        let this = Arc::pin_init(
            pin_init!(DmaDevice {
                // SAFETY: All zeroes is a valid `dma_device`: no callbacks, no channels.
                dma: Opaque::new(unsafe { core::mem::zeroed() }),
                chans: boxed,
                dyn_chans <- Mutex::new(
                    DynChans {
                        chans: KVec::new(),
                        unregistered: false,
                    },
                    DYN_CHANS_CLASS.0,
                    DYN_CHANS_CLASS.1
                ),
                free_work <- Work::new(FREE_WORK_CLASS.0, FREE_WORK_CLASS.1),
                _pin: PhantomPinned,
            }),
            flags,
        )?;

        let dma = this.dma.get();
        // SAFETY: `dma` is valid and not registered yet, so it is ours to fill in; the
        // channels are pinned in `this`, which the core keeps alive until `device_release`.
        unsafe {
            (*dma).dev = dev.as_raw();
            // Private, as the C idxd driver's: channels go only to clients that ask for one
            // (`dma_request_chan()`, dmatest), never to the core's public channel table, which
            // channels that come and go would leave stale.
            let private = Caps::bit(bindings::dma_transaction_type_DMA_PRIVATE);
            (*dma).cap_mask.bits[0] = (caps.0 | private.0) as usize;
            (*dma).directions = 1 << bindings::dma_transfer_direction_DMA_MEM_TO_MEM;
            (*dma).device_alloc_chan_resources = Some(alloc_chan_resources_callback::<T>);
            (*dma).device_free_chan_resources = Some(free_chan_resources_callback::<T>);
            if caps.contains(Caps::MEMCPY) {
                (*dma).device_prep_dma_memcpy = Some(prep_memcpy_callback::<T>);
            }
            if caps.contains(Caps::MEMSET) {
                (*dma).device_prep_dma_memset = Some(prep_memset_callback::<T>);
            }
            if caps.contains(Caps::INTERRUPT) {
                (*dma).device_prep_dma_interrupt = Some(prep_interrupt_callback::<T>);
            }
            (*dma).device_tx_status = Some(tx_status_callback::<T>);
            (*dma).device_issue_pending = Some(issue_pending_callback::<T>);
            (*dma).device_terminate_all = Some(terminate_all_callback::<T>);
            (*dma).device_synchronize = Some(synchronize_callback::<T>);
            (*dma).device_release = Some(release_callback::<T>);
            bindings::INIT_LIST_HEAD(addr_of_mut!((*dma).channels));
            for chan in this.chans.iter() {
                let c = chan.chan.get();
                (*c).device = dma;
                bindings::list_add_tail(
                    addr_of_mut!((*c).device_node),
                    addr_of_mut!((*dma).channels),
                );
            }
        }

        // The core's reference, taken back by `release_callback` (or below on failure).
        let raw = Arc::into_raw(this.clone());
        // SAFETY: `dma` is fully set up above; `dev` is bound to the calling driver.
        if let Err(e) = to_result(unsafe { bindings::dma_async_device_register(dma) }) {
            // SAFETY: Registration failed, so the core never calls `device_release`: the
            // reference is still ours.
            drop(unsafe { Arc::from_raw(raw) });
            return Err(e);
        }

        // INVARIANT: registered, with the core's reference in `raw`.
        Ok(Self { dev: this })
    }

    /// The channels given to [`Registration::new`], in registration order.
    pub fn chans(&self) -> impl Iterator<Item = &T> {
        self.dev.chans.iter().map(|c| &c.inner)
    }

    /// Adds the channel `inner` to the registered device
    /// (`dma_async_device_channel_register()`); it is removed when the returned [`DynChan`]
    /// is dropped, or with the device.
    ///
    /// The channel is registered before it joins the device's channel list, and leaves the
    /// list (then waits for the core's list walkers) before it is unregistered: the core
    /// walks the list under a mutex it does not export, or under RCU, and never sees a
    /// channel that is half set up or half torn down. The C idxd driver does the same
    /// without the wait.
    pub fn add_chan(&self, inner: T) -> Result<DynChan<T>> {
        let chan = KBox::pin_init(Chan::new(inner), GFP_KERNEL)?;
        let dma = self.dev.dma.get();
        let c = chan.chan.get();
        let mut st = self.dev.dyn_chans.lock();
        if st.unregistered {
            return Err(ENODEV);
        }
        st.reclaim();
        // Room first: once registered, the channel must be recorded.
        st.chans.reserve(1, GFP_KERNEL)?;
        // SAFETY: `c` is the `dma_chan` of `chan`, pinned, not yet known to the core; `dma` is
        // registered (type invariant). A NULL name makes the core name it `dma<N>chan<M>`.
        to_result(unsafe {
            (*c).device = dma;
            bindings::dma_async_device_channel_register(dma, c, core::ptr::null())
        })?;
        let index = st.chans.len();
        // Cannot fail: there is room (reserved above).
        if st.chans.push((Some(chan), true), GFP_KERNEL).is_err() {
            // SAFETY: `c` was registered above and is not on the list.
            unsafe { bindings::dma_async_device_channel_unregister(dma, c) };
            return Err(ENOMEM);
        }
        // SAFETY: `c` lives in `dyn_chans` as long as the device; the device's channel list is
        // initialised (`dma` is registered).
        unsafe {
            bindings::list_add_tail_rcu(
                addr_of_mut!((*c).device_node),
                addr_of_mut!((*dma).channels),
            )
        };
        // INVARIANT: channel `index` of `dyn_chans` is live.
        Ok(DynChan {
            dev: self.dev.clone(),
            index,
        })
    }
}

/// A channel added to a registered DMA device with [`Registration::add_chan`]: dropping it
/// removes the channel (`dma_async_device_channel_unregister()`), unless the device went first.
///
/// # Invariants
///
/// `index` names an entry of `dev.dyn_chans`, live (and so not freed) until this `DynChan` or
/// the device's [`Registration`] removes it.
pub struct DynChan<T: Channel> {
    dev: Arc<DmaDevice<T>>,
    index: usize,
}

impl<T: Channel> Drop for DynChan<T> {
    fn drop(&mut self) {
        let dma = self.dev.dma.get();
        let mut st = self.dev.dyn_chans.lock();
        if st.unregistered {
            return;
        }
        let (chan, live) = &mut st.chans[self.index];
        if let (Some(chan), true) = (chan.as_ref(), *live) {
            // SAFETY: The entry is live, so registered and listed on `dma`, which is still
            // registered (`unregistered` is false); we hold the lock.
            unsafe { remove_dyn_chan(dma, chan.chan.get()) };
            *live = false;
        }
        st.reclaim();
    }
}

impl<T: Channel> Drop for Registration<T> {
    fn drop(&mut self) {
        let dma = self.dev.dma.get();
        // Live dynamic channels go first, as a `DynChan` would remove them; those dropped
        // later find the device gone.
        {
            let mut st = self.dev.dyn_chans.lock();
            for (chan, live) in st.chans.iter_mut() {
                if let (Some(chan), true) = (chan.as_ref(), *live) {
                    // SAFETY: The entry is live and `dma` registered; we hold the lock.
                    unsafe { remove_dyn_chan(dma, chan.chan.get()) };
                    *live = false;
                }
            }
            st.unregistered = true;
            st.reclaim();
        }
        // SAFETY: `dev` is registered (type invariant); the core drops its reference through
        // `device_release` when the last client is gone.
        unsafe { bindings::dma_async_device_unregister(dma) };
        // Without clients the core released the device just now and queued its free work,
        // which runs the driver's code (`T`'s drop): wait for it while the driver's module is
        // certainly loaded (this drop runs in it). With clients, the core releases the device
        // when the last one lets go, and that client's module reference on the driver is
        // dropped only after the work is queued.
        // SAFETY: `free_work` is initialised and lives in `self.dev`, which we hold.
        unsafe { bindings::flush_work(Work::raw_get(addr_of!(self.dev.free_work))) };
    }
}

/// # Safety
///
/// Called by the DMA engine core with a channel of a `Registration<T>`.
unsafe extern "C" fn alloc_chan_resources_callback<T: Channel>(
    chan: *mut bindings::dma_chan,
) -> crate::ffi::c_int {
    // SAFETY: `chan` belongs to a `Chan<T>` (function safety requirement).
    let this = unsafe { Chan::<T>::from_raw(chan) };
    from_result(|| {
        let n = this.inner.alloc_resources()?;
        this.in_use.store(true, Ordering::Release);
        {
            let _guard = this.lock.lock();
            // SAFETY: The cookie state is protected by the lock (`dma_cookie_init()`).
            unsafe {
                (*chan).cookie = bindings::DMA_MIN_COOKIE as bindings::dma_cookie_t;
                (*chan).completed_cookie = bindings::DMA_MIN_COOKIE as bindings::dma_cookie_t;
            }
        }
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    })
}

/// # Safety
///
/// As for [`alloc_chan_resources_callback`].
unsafe extern "C" fn free_chan_resources_callback<T: Channel>(chan: *mut bindings::dma_chan) {
    // SAFETY: `chan` belongs to a `Chan<T>` (function safety requirement).
    let this = unsafe { Chan::<T>::from_raw(chan) };
    this.inner.free_resources();
    this.in_use.store(false, Ordering::Release);
}

/// # Safety
///
/// As for [`alloc_chan_resources_callback`].
unsafe extern "C" fn prep_memcpy_callback<T: Channel>(
    chan: *mut bindings::dma_chan,
    dst: DmaAddr,
    src: DmaAddr,
    len: usize,
    flags: crate::ffi::c_ulong,
) -> *mut bindings::dma_async_tx_descriptor {
    // SAFETY: `chan` belongs to a `Chan<T>` (function safety requirement).
    let this = unsafe { Chan::<T>::from_raw(chan) };
    this.prepare(
        this.inner.prep_memcpy(dst, src, len, PrepFlags(flags)),
        flags,
    )
}

/// # Safety
///
/// As for [`alloc_chan_resources_callback`].
unsafe extern "C" fn prep_memset_callback<T: Channel>(
    chan: *mut bindings::dma_chan,
    dst: DmaAddr,
    value: crate::ffi::c_int,
    len: usize,
    flags: crate::ffi::c_ulong,
) -> *mut bindings::dma_async_tx_descriptor {
    // SAFETY: `chan` belongs to a `Chan<T>` (function safety requirement).
    let this = unsafe { Chan::<T>::from_raw(chan) };
    // CAST: the C API passes the fill byte as an `int`; only its low byte counts.
    let desc = this
        .inner
        .prep_memset(dst, value as u8, len, PrepFlags(flags));
    this.prepare(desc, flags)
}

/// # Safety
///
/// As for [`alloc_chan_resources_callback`].
unsafe extern "C" fn prep_interrupt_callback<T: Channel>(
    chan: *mut bindings::dma_chan,
    flags: crate::ffi::c_ulong,
) -> *mut bindings::dma_async_tx_descriptor {
    // SAFETY: `chan` belongs to a `Chan<T>` (function safety requirement).
    let this = unsafe { Chan::<T>::from_raw(chan) };
    this.prepare(this.inner.prep_interrupt(PrepFlags(flags)), flags)
}

/// # Safety
///
/// Called by the DMA engine core with a descriptor prepared by [`Chan::prepare`] for a
/// `Chan<T>`, once.
unsafe extern "C" fn tx_submit_callback<T: Channel>(
    tx: *mut bindings::dma_async_tx_descriptor,
) -> bindings::dma_cookie_t {
    // SAFETY: `tx` is the first field of a `Desc<T::Desc>` leaked by `prepare`, whose ownership
    // comes back here (function safety requirement).
    let desc = unsafe { Pin::new_unchecked(KBox::from_raw(tx.cast::<Desc<T::Desc>>())) };
    // SAFETY: `tx->chan` is the `Chan<T>` that prepared it.
    let this = unsafe { Chan::<T>::from_raw((*tx).chan) };
    let chan = this.chan.get();

    let _guard = this.lock.lock();
    // SAFETY: The cookie state is protected by the lock (`dma_cookie_assign()`).
    let cookie = unsafe {
        let mut cookie = (*chan).cookie.wrapping_add(1);
        if cookie < bindings::DMA_MIN_COOKIE as bindings::dma_cookie_t {
            cookie = bindings::DMA_MIN_COOKIE as bindings::dma_cookie_t;
        }
        (*chan).cookie = cookie;
        (*tx).cookie = cookie;
        cookie
    };
    match this.inner.submit(desc) {
        Ok(()) => cookie,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// As for [`alloc_chan_resources_callback`]; `state` is null or valid for writes.
unsafe extern "C" fn tx_status_callback<T: Channel>(
    chan: *mut bindings::dma_chan,
    cookie: bindings::dma_cookie_t,
    state: *mut bindings::dma_tx_state,
) -> bindings::dma_status {
    // SAFETY: `chan` belongs to a `Chan<T>` (function safety requirement).
    let this = unsafe { Chan::<T>::from_raw(chan) };
    let (used, complete) = {
        let _guard = this.lock.lock();
        // SAFETY: The cookie state is protected by the lock.
        unsafe { ((*chan).cookie, (*chan).completed_cookie) }
    };
    if !state.is_null() {
        // SAFETY: `state` is valid for writes (function safety requirement).
        unsafe {
            (*state).last = complete;
            (*state).used = used;
            (*state).residue = 0;
            (*state).in_flight_bytes = 0;
        }
    }
    // `dma_async_is_complete()`: cookies wrap around.
    let done = if complete <= used {
        cookie <= complete || cookie > used
    } else {
        cookie <= complete && cookie > used
    };
    if done {
        bindings::dma_status_DMA_COMPLETE
    } else {
        bindings::dma_status_DMA_IN_PROGRESS
    }
}

/// # Safety
///
/// As for [`alloc_chan_resources_callback`].
unsafe extern "C" fn issue_pending_callback<T: Channel>(chan: *mut bindings::dma_chan) {
    // SAFETY: `chan` belongs to a `Chan<T>` (function safety requirement).
    unsafe { Chan::<T>::from_raw(chan) }.inner.issue_pending();
}

/// # Safety
///
/// As for [`alloc_chan_resources_callback`].
unsafe extern "C" fn terminate_all_callback<T: Channel>(
    chan: *mut bindings::dma_chan,
) -> crate::ffi::c_int {
    // SAFETY: `chan` belongs to a `Chan<T>` (function safety requirement).
    let this = unsafe { Chan::<T>::from_raw(chan) };
    from_result(|| this.inner.terminate_all().map(|()| 0))
}

/// # Safety
///
/// As for [`alloc_chan_resources_callback`].
unsafe extern "C" fn synchronize_callback<T: Channel>(chan: *mut bindings::dma_chan) {
    // SAFETY: `chan` belongs to a `Chan<T>` (function safety requirement).
    unsafe { Chan::<T>::from_raw(chan) }.inner.synchronize();
}

/// # Safety
///
/// Called by the DMA engine core once, when the last reference to a registered
/// `DmaDevice<T>`'s `dma` is gone.
unsafe extern "C" fn release_callback<T: Channel>(dma: *mut bindings::dma_device) {
    // SAFETY: `dma` is the first field of a `DmaDevice<T>` whose core reference came from
    // `Arc::into_raw` in `Registration::new` (type invariant of `Registration`).
    let this = unsafe { Arc::from_raw(dma.cast::<DmaDevice<T>>().cast_const()) };
    // The core calls this with its list mutex held and, in `dma_release_channel()`, uses the
    // channel after it: free the memory from a work item, once the mutex is released. The work
    // item is free: it is only ever queued here, once.
    let _ = workqueue::system().enqueue(this);
}
