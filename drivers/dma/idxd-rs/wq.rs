// SPDX-License-Identifier: GPL-2.0

//! Kernel work queues: submission through the portal, completion on the WQ's IMS vector, and
//! the DMA engine channel of each enabled kernel WQ.

use crate::{
    regs::{self, cmd, comp, Desc, WqCfg, WQCAP},
    Hw,
};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::{
    dev_err, dev_warn,
    dmaengine::{self, DmaAddr, PrepFlags, TxResult},
    io::{io_project, io_read, io_write},
    irq, new_mutex, new_spinlock_irq,
    prelude::*,
    sync::{Arc, Mutex, SpinLockIrq},
};

/// The hardware part of a prepared descriptor: everything but the completion record and the
/// interrupt handle, which the WQ fills in at submission.
pub(crate) struct HwDesc(Desc);

type TxDesc = dmaengine::Desc<HwDesc>;

/// The submission state of a WQ.
///
/// # Invariants
///
/// `ring` holds `count` descriptors from slot `head` on, in submission order (the order in
/// which the device runs them), each with its submission number; the numbers increase from
/// `head` on.
struct WqState {
    /// Whether the WQ takes descriptors; false while it is disabled or recovering.
    enabled: bool,
    /// Set while an abort runs: a descriptor written now might or might not be dropped.
    aborting: bool,
    /// The interrupt handle of the WQ's IMS vector.
    int_handle: u16,
    /// The descriptor occupying each completion record slot, and its submission number.
    ring: KVec<Option<(Pin<KBox<TxDesc>>, u64)>>,
    /// The oldest occupied slot.
    head: usize,
    /// The number of occupied slots, from `head` on.
    count: usize,
}

/// One enablement of a dedicated kernel WQ: its completion records and what it has in
/// flight. A WQ enabled again gets a new `Wq`, so a channel a client kept from before only
/// ever sees a disabled WQ.
#[pin_data]
pub(crate) struct Wq {
    pub(crate) id: u32,
    pub(crate) cfg: WqCfg,
    pub(crate) hw: Arc<Hw>,
    /// The WQ's first word in [`Hw::crs`], where it has one 32-byte completion record per
    /// slot.
    cr_base: usize,
    /// Taken with interrupts off: a DMA engine client may submit from any context.
    #[pin]
    state: SpinLockIrq<WqState>,
    pub(crate) completed: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// The number the next submitted descriptor gets; written under `state`.
    submitted: AtomicU64,
    /// Descriptors numbered below this were terminated by a client: they leave the ring once
    /// the device is done with them (or dropped them), without a callback. Only grows.
    terminate_below: AtomicU64,
    /// Whether a DMA engine client holds the channel.
    client: AtomicBool,
    /// False once the WQ is disabled for good. Held across every command that concerns this
    /// enablement of the hardware WQ (recovery, abort, disable), so that none of them reaches
    /// the WQ after [`Wq::stop`], when it may be enabled again for someone else.
    #[pin]
    live: Mutex<bool>,
    /// Held while descriptors are completed, callbacks included: taking it waits for the
    /// callbacks in progress, and completions never overtake one another.
    #[pin]
    reaping: Mutex<()>,
}

const CR_WORDS: usize = regs::COMP_RECORD_SIZE / 8;

/// The number of words of completion records the device's WQs need: any WQ may take the whole
/// WQ size, so each gets room for that many. `None` if that is nothing, or too much.
pub(crate) fn cr_pool_words(cap: WQCAP) -> Option<usize> {
    const MAX_WORDS: usize = (4 << 20) / 8;
    let words = usize::from(cap.num_wqs())
        .checked_mul(usize::from(cap.total_wq_size()))?
        .checked_mul(CR_WORDS)?;
    (words > 0 && words <= MAX_WORDS).then_some(words)
}

impl Wq {
    pub(crate) fn new(hw: &Arc<Hw>, id: u32, cfg: WqCfg) -> Result<Arc<Self>> {
        let size = usize::from(cfg.size);
        let per_wq = usize::from(hw.wqcap.total_wq_size());
        if size > per_wq {
            return Err(EINVAL);
        }
        let cr_base = usize::try_from(id)? * per_wq * CR_WORDS;
        let mut ring = KVec::with_capacity(size, GFP_KERNEL)?;
        for _ in 0..size {
            ring.push(None, GFP_KERNEL)?;
        }
        Arc::pin_init(
            pin_init!(Self {
                id,
                cfg,
                hw: hw.clone(),
                cr_base,
                state <- new_spinlock_irq!(WqState {
                    enabled: false,
                    aborting: false,
                    int_handle: 0,
                    ring,
                    head: 0,
                    count: 0,
                }, "Wq::state"),
                completed: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                submitted: AtomicU64::new(0),
                terminate_below: AtomicU64::new(0),
                client: AtomicBool::new(false),
                live <- new_mutex!(true, "idxd::Wq::live"),
                reaping <- new_mutex!((), "idxd::Wq::reaping"),
            }),
            GFP_KERNEL,
        )
    }

    pub(crate) fn size(&self) -> usize {
        usize::from(self.cfg.size)
    }

    /// The slot `n` after `slot` in the ring (`n` at most the ring size).
    fn next_slot(&self, slot: usize, n: usize) -> usize {
        let next = slot + n;
        if next >= self.size() {
            next - self.size()
        } else {
            next
        }
    }

    /// Word `word` of the WQ's completion records.
    fn cr_read(&self, word: usize) -> Result<u64> {
        Ok(io_read!(&self.hw.crs, [try: self.cr_base + word]))
    }

    fn cr_write(&self, word: usize, value: u64) -> Result {
        io_write!(&self.hw.crs, [try: self.cr_base + word], value);
        Ok(())
    }

    /// The bus address of word `word` of the WQ's completion records.
    fn cr_dma(&self, word: usize) -> Result<DmaAddr> {
        Ok(io_project!(&self.hw.crs, [try: self.cr_base + word]).dma_address())
    }

    fn cr_status(&self, slot: usize) -> u8 {
        // CAST: the status is the low byte of the first word.
        self.cr_read(slot * CR_WORDS).map_or(0, |w| w as u8)
    }

    /// Writes `desc` to the WQ's portal.
    fn write_portal(&self, desc: &Desc) -> Result {
        self.hw.write_portal(self.id, &desc.encode())
    }

    /// Takes the oldest descriptor if the device completed it (or unconditionally if `all`),
    /// with its status and whether a client terminated it.
    fn pop_done(&self, all: bool) -> Option<(Pin<KBox<TxDesc>>, u8, bool)> {
        let mut st = self.state.lock();
        if st.count == 0 {
            return None;
        }
        let slot = st.head;
        let status = self.cr_status(slot) & comp::STATUS_MASK;
        if status == comp::NONE && !all {
            return None;
        }
        let (desc, seq) = st.ring[slot].take()?;
        st.head = self.next_slot(slot, 1);
        st.count -= 1;
        Some((
            desc,
            status,
            seq < self.terminate_below.load(Ordering::Acquire),
        ))
    }

    /// Completes the descriptors the device is done with, oldest first; with `all`, completes
    /// every pending descriptor, those the device did not finish as aborted. `all` is only
    /// for when the device has stopped working on the WQ (disabled, reset or aborted).
    ///
    /// Descriptors a client terminated are freed without a callback. Returns how many
    /// descriptors left the ring.
    pub(crate) fn reap(&self, all: bool) -> usize {
        let _reaping = self.reaping.lock();
        let mut n = 0;
        while let Some((desc, status, terminated)) = self.pop_done(all) {
            n += 1;
            if terminated {
                // Dropping it gives back its unmap data; the client hears nothing.
                drop(desc);
                continue;
            }
            let result = match status {
                comp::SUCCESS => TxResult::NoError,
                comp::NONE => TxResult::Aborted,
                _ => TxResult::ReadFailed,
            };
            if result == TxResult::NoError {
                self.completed.fetch_add(1, Ordering::Relaxed);
            } else {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
            desc.complete(result);
        }
        n
    }

    /// The interrupt handle the WQ's descriptors carry.
    pub(crate) fn int_handle(&self) -> u16 {
        self.state.lock().int_handle
    }

    /// Whether a DMA engine client holds the WQ's channel.
    pub(crate) fn has_client(&self) -> bool {
        self.client.load(Ordering::Relaxed)
    }

    /// Whether the WQ takes descriptors.
    pub(crate) fn is_enabled(&self) -> bool {
        self.state.lock().enabled
    }

    /// The largest transfer the WQ takes, in bytes.
    pub(crate) fn max_xfer_bytes(&self) -> u64 {
        match self.cfg.max_xfer_shift {
            0 => self.hw.gencap.max_xfer_bytes(),
            shift => regs::pow2(shift),
        }
    }

    pub(crate) fn set_enabled(&self, enabled: bool, int_handle: u16) {
        let mut st = self.state.lock();
        st.enabled = enabled;
        st.int_handle = int_handle;
    }

    /// Recovers a halted WQ: resets it, completes its descriptors with errors once the reset
    /// confirmed that the device stopped, and enables it again with its configuration.
    ///
    /// If the reset fails, the descriptors stay pending: the device might still write to
    /// their buffers. They complete when the WQ is disabled ([`Wq::stop`]).
    pub(crate) fn recover(&self) -> Result {
        let live = self.live.lock();
        if !*live {
            return Ok(());
        }
        let handle = {
            let mut st = self.state.lock();
            st.enabled = false;
            st.int_handle
        };
        if let Err(e) = self.hw.cmd(cmd::RESET_WQ, cmd::wq_operand(self.id)) {
            dev_err!(
                self.hw.dev(),
                "wq{} halted and cannot be reset: its work stays pending until it is disabled\n",
                self.id
            );
            return Err(e);
        }
        let lost = self.reap(true);
        dev_warn!(
            self.hw.dev(),
            "wq{} halted: {lost} descriptors failed, the WQ was reset\n",
            self.id
        );
        self.hw.write_wqcfg(self.id, self.cfg)?;
        // Unbind may have begun meanwhile: then the WQ stays down.
        if self.hw.stopping.load(Ordering::Acquire) {
            return Ok(());
        }
        self.hw.cmd(cmd::ENABLE_WQ, self.id)?;
        self.set_enabled(true, handle);
        drop(live);
        Ok(())
    }

    /// Disables the WQ for good: the device finishes or drops its work (see
    /// [`Hw::disable_wq`]), then what is left completes as aborted. No recovery or abort
    /// reaches the hardware WQ once this returns, and a channel a client kept sees a disabled
    /// WQ.
    pub(crate) fn stop(&self) {
        let mut live = self.live.lock();
        *live = false;
        self.set_enabled(false, 0);
        self.hw.disable_wq(self.id);
        self.reap(true);
    }

    /// Whether the ring holds a descriptor a client terminated (the oldest has the lowest
    /// number).
    fn has_terminated(&self, st: &WqState) -> bool {
        st.count > 0
            && st.ring[st.head]
                .as_ref()
                .is_some_and(|(_, seq)| *seq < self.terminate_below.load(Ordering::Acquire))
    }

    /// Aborts the descriptors clients terminated: the device drops those it has not started,
    /// and every descriptor leaves the ring, the terminated ones without a callback (those
    /// submitted after them complete as aborted). Sleeps.
    fn abort_terminated(&self) {
        let live = self.live.lock();
        // A stopped WQ was drained under `live`: nothing is left.
        if !*live {
            return;
        }
        {
            let mut st = self.state.lock();
            if !self.has_terminated(&st) {
                return;
            }
            st.aborting = true;
        }
        match self.hw.cmd(cmd::ABORT_WQ, cmd::wq_operand(self.id)) {
            Ok(_) => {
                self.reap(true);
            }
            // They leave the ring as the device completes them, or when the WQ stops.
            Err(e) => dev_warn!(
                self.hw.dev(),
                "wq{}: abort failed ({:?}): terminated work completes in the background\n",
                self.id,
                e
            ),
        }
        self.state.lock().aborting = false;
        drop(live);
    }
}

/// The completion interrupt of a WQ, on its IMS vector.
pub(crate) struct WqIrq(pub(crate) Arc<Wq>);

impl irq::ThreadedHandler for WqIrq {
    fn handle_threaded(&self) -> irq::IrqReturn {
        self.0.reap(false);
        irq::IrqReturn::Handled
    }
}

/// The DMA engine channel of a WQ.
pub(crate) struct WqChan(pub(crate) Arc<Wq>);

impl WqChan {
    fn prep(&self, desc: Desc, len: usize) -> Result<HwDesc> {
        if len == 0 || len as u64 > self.0.max_xfer_bytes() {
            return Err(EINVAL);
        }
        Ok(HwDesc(desc))
    }
}

impl dmaengine::Channel for WqChan {
    type Desc = HwDesc;

    fn alloc_resources(&self) -> Result<u32> {
        self.0.client.store(true, Ordering::Relaxed);
        Ok(u32::from(self.0.cfg.size))
    }

    fn free_resources(&self) {
        // A client may let the channel go with work in flight: that work is terminated and
        // aborted, and its slots stay taken until the device is done with them.
        let _ = self.terminate_all();
        self.synchronize();
        self.0.client.store(false, Ordering::Relaxed);
    }

    fn prep_memcpy(&self, dst: DmaAddr, src: DmaAddr, len: usize, _: PrepFlags) -> Result<HwDesc> {
        // CAST: `prep` checks `len` against the maximum transfer size, which fits `u32`.
        self.prep(Desc::memmove(src, dst, len as u32), len)
    }

    fn prep_memset(&self, dst: DmaAddr, value: u8, len: usize, _: PrepFlags) -> Result<HwDesc> {
        let pattern = u64::from_ne_bytes([value; 8]);
        // CAST: as above.
        self.prep(Desc::memfill(pattern, dst, len as u32), len)
    }

    fn prep_interrupt(&self, _: PrepFlags) -> Result<HwDesc> {
        Ok(HwDesc(Desc::noop()))
    }

    fn submit(&self, desc: Pin<KBox<TxDesc>>) -> Result {
        let wq = &self.0;
        let mut st = wq.state.lock();
        if !st.enabled {
            return Err(ENODEV);
        }
        if st.count == wq.size() || st.aborting {
            // A dedicated WQ silently drops work beyond its size: never send more.
            return Err(EBUSY);
        }
        let slot = wq.next_slot(st.head, st.count);
        for i in 0..CR_WORDS {
            wq.cr_write(slot * CR_WORDS + i, 0)?;
        }
        let hw_desc = desc
            .data()
            .0
            .with_completion(wq.cr_dma(slot * CR_WORDS)?)
            .with_interrupt(st.int_handle);
        wq.write_portal(&hw_desc)?;
        let seq = wq.submitted.load(Ordering::Relaxed);
        st.ring[slot] = Some((desc, seq));
        st.count += 1;
        // Published after the descriptor is in the ring; `terminate_all` reads it.
        wq.submitted.store(seq + 1, Ordering::Release);
        Ok(())
    }

    fn issue_pending(&self) {
        // Descriptors go to the portal at submission.
    }

    fn terminate_all(&self) -> Result {
        // Any context, even a hard interrupt that interrupted a holder of `state`: no lock,
        // only a mark on the work submitted so far. The device still runs it until
        // `synchronize` aborts it, but no callback reports it.
        let wq = &self.0;
        let submitted = wq.submitted.load(Ordering::Acquire);
        wq.terminate_below.fetch_max(submitted, Ordering::AcqRel);
        Ok(())
    }

    fn synchronize(&self) {
        let wq = &self.0;
        wq.abort_terminated();
        // Wait for the callbacks in progress.
        drop(wq.reaping.lock());
    }
}
