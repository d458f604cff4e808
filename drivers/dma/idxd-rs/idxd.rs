// SPDX-License-Identifier: GPL-2.0

//! Intel Data Streaming Accelerator (DSA) driver, with work queue completions on IMS.
//!
//! The driver binds to DSA PCI functions (8086:0b25), resets them, takes MSI-X vector 0 for the
//! device's "misc" interrupt (software errors, halted work queues) and creates the function's
//! IMS domain with the IMS core (`kernel::irq::ims`). Each enabled work queue (WQ) gets one IMS
//! vector, allocated when the WQ is enabled and freed when it is disabled; its descriptors
//! request their completion interrupt on that vector. The WQs are DMA engine channels, so any
//! `dmaengine` client (`dmatest`, async_tx) can use them.
//!
//! Until the idxd sysfs ABI lands, the driver configures the device itself at probe: one group
//! with every engine and [`DEFAULT_WQS`] dedicated WQs.
//!
//! See `Documentation/driver-api/dmaengine/idxd-rs.rst`.

mod regs;

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::{
    c_str,
    delay::msleep,
    dev_err, dev_info, dev_warn, device,
    devres::Devres,
    dma::CoherentAllocation,
    dmaengine::{self, DmaAddr, PrepFlags, TxResult},
    io,
    irq::{
        self,
        ims::{self, ImsChip, ImsDomain},
        msi::MsiMsg,
    },
    new_mutex, new_spinlock, pci,
    prelude::*,
    sync::{Arc, Mutex, SpinLock},
    types::ARef,
};
use regs::{
    cmd, comp, off, CmdCap, CmdSts, Desc, EngCap, GenCap, GrpCap, Swerr, TableOffset, WqCap, WqCfg,
};

/// The number of dedicated WQs configured at probe (fewer if the device has fewer).
const DEFAULT_WQS: u32 = 2;
/// The size of each default WQ, in descriptors (less if the device has less room).
const DEFAULT_WQ_SIZE: u32 = 16;
/// The priority of the default WQs.
const DEFAULT_WQ_PRIORITY: u8 = 10;
/// How long a command may take before the driver gives up on the device, in milliseconds.
const CMD_TIMEOUT_MS: u32 = 2000;
/// How many software errors are logged before further ones are counted only.
const SWERR_LOG_BURST: u32 = 10;

kernel::pci_device_table!(
    PCI_TABLE,
    (),
    [(pci::DeviceId::from_id(0x8086, 0x0b25), ())]
);

/// The register file of one device, shared by the driver, its interrupt handlers, its IMS chip
/// and its DMA channels.
#[pin_data]
struct Hw {
    pdev: ARef<pci::Device>,
    bar: Devres<pci::Bar<{ regs::BAR0_SIZE }>>,
    portals: Devres<pci::Bar>,
    gencap: GenCap,
    wqcap: WqCap,
    grpcap: GrpCap,
    engcap: EngCap,
    cmdcap: CmdCap,
    table: TableOffset,
    /// Serialises commands: the device runs one at a time.
    #[pin]
    cmd_lock: Mutex<()>,
    /// Software errors seen, and how many of them were not logged.
    swerrs: AtomicU32,
    /// Set when the driver starts tearing the device down: no more WQ recovery.
    stopping: AtomicBool,
}

impl Hw {
    fn r32(&self, offset: usize) -> Result<u32> {
        self.bar.try_access().ok_or(ENODEV)?.try_read32(offset)
    }

    fn w32(&self, value: u32, offset: usize) -> Result {
        self.bar
            .try_access()
            .ok_or(ENODEV)?
            .try_write32(value, offset)
    }

    fn r64(&self, offset: usize) -> Result<u64> {
        self.bar.try_access().ok_or(ENODEV)?.try_read64(offset)
    }

    fn w64(&self, value: u64, offset: usize) -> Result {
        self.bar
            .try_access()
            .ok_or(ENODEV)?
            .try_write64(value, offset)
    }

    fn dev(&self) -> &device::Device {
        self.pdev.as_ref()
    }

    /// Runs the command `code` with `operand` and returns its 16-bit result.
    ///
    /// Sleeps while the device works; fails with `ETIMEDOUT` if it never finishes and `EIO` if
    /// it reports an error (logged).
    fn cmd(&self, code: u32, operand: u32) -> Result<u16> {
        let _guard = self.cmd_lock.lock();

        if CmdSts(self.r32(off::CMDSTS)?).active() {
            return Err(EBUSY);
        }
        self.w32(regs::cmd(code, operand, false), off::CMD)?;

        let mut waited = 0;
        let sts = loop {
            let sts = CmdSts(self.r32(off::CMDSTS)?);
            if !sts.active() {
                break sts;
            }
            if waited >= CMD_TIMEOUT_MS {
                dev_err!(self.dev(), "command {code} ({operand:#x}) timed out\n");
                return Err(ETIMEDOUT);
            }
            msleep(1);
            waited += 1;
        };

        match sts.err() {
            regs::cmdsts::SUCCESS => Ok(sts.result()),
            err => {
                dev_err!(
                    self.dev(),
                    "command {code} ({operand:#x}) failed: {err:#x} ({})\n",
                    regs::cmd_err_name(err)
                );
                Err(EIO)
            }
        }
    }

    fn wqcfg_offset(&self, wq: u32, dword: usize) -> usize {
        regs::wqcfg::offset(
            self.table.wqcfg_offset(),
            self.wqcap.wqcfg_bytes(),
            wq as usize,
            dword,
        )
    }

    fn write_wqcfg(&self, wq: u32, cfg: WqCfg) -> Result {
        for (i, word) in cfg.to_words().iter().enumerate() {
            self.w32(*word, self.wqcfg_offset(wq, i))?;
        }
        Ok(())
    }

    fn wq_state(&self, wq: u32) -> Result<u8> {
        let occup = self.r32(self.wqcfg_offset(wq, regs::wqcfg::OCCUP_IDX))?;
        // CAST: a 2-bit field.
        Ok((occup >> regs::wqcfg::STATE_SHIFT) as u8 & 0x3)
    }

    fn ims_offset(&self, index: u32, field: usize) -> usize {
        regs::ims::offset(self.table.ims_offset(), index as usize) + field
    }

    /// Reads, logs (rate-limited) and acknowledges a software error; returns it if there was
    /// one.
    fn take_swerr(&self) -> Result<Option<Swerr>> {
        let mut words = [0u64; 4];
        for (i, w) in words.iter_mut().enumerate() {
            *w = self.r64(off::swerr(i))?;
        }
        let err = Swerr(words);
        if !err.valid() {
            return Ok(None);
        }

        let n = self.swerrs.fetch_add(1, Ordering::Relaxed);
        if n < SWERR_LOG_BURST {
            dev_warn!(
                self.dev(),
                "software error {:#x} ({}), wq {} (valid {}), op {:#x}, pasid {:#x}, addr {:#x}{}\n",
                err.error(),
                regs::status_name(err.error()),
                err.wq_idx(),
                err.wq_idx_valid(),
                err.operation(),
                err.pasid(),
                err.fault_addr(),
                if err.overflow() { ", overflowed" } else { "" },
            );
        } else if n == SWERR_LOG_BURST {
            dev_warn!(self.dev(), "further software errors are only counted\n");
        }
        // Writing the valid and overflow bits back clears them.
        self.w64(regs::swerr::ACK, off::swerr(0))?;
        Ok(Some(err))
    }
}

/// The IMS slots of the device, for the IMS core.
struct DsaIms(Arc<Hw>);

impl ImsChip for DsaIms {
    fn write_msg(&self, index: u32, msg: &MsiMsg) {
        let hw = &self.0;
        let _ = hw.w32(msg.address_lo(), hw.ims_offset(index, regs::ims::ADDR_LO));
        let _ = hw.w32(msg.address_hi(), hw.ims_offset(index, regs::ims::ADDR_HI));
        let _ = hw.w32(msg.data(), hw.ims_offset(index, regs::ims::DATA));
    }

    fn mask(&self, index: u32, cookie: u64) {
        let hw = &self.0;
        let _ = hw.w32(
            ims::slot_ctrl(cookie, true),
            hw.ims_offset(index, regs::ims::CTRL),
        );
    }

    fn unmask(&self, index: u32, cookie: u64) {
        let hw = &self.0;
        let _ = hw.w32(
            ims::slot_ctrl(cookie, false),
            hw.ims_offset(index, regs::ims::CTRL),
        );
    }

    fn shutdown(&self, index: u32) {
        let hw = &self.0;
        let _ = hw.w32(
            regs::ims::CTRL_MASKED,
            hw.ims_offset(index, regs::ims::CTRL),
        );
        let _ = hw.w32(0, hw.ims_offset(index, regs::ims::DATA));
        let _ = hw.w32(0, hw.ims_offset(index, regs::ims::ADDR_HI));
        let _ = hw.w32(0, hw.ims_offset(index, regs::ims::ADDR_LO));
    }
}

/// The hardware part of a prepared descriptor: everything but the completion record and the
/// interrupt handle, which the WQ fills in at submission.
struct HwDesc(Desc);

type TxDesc = dmaengine::Desc<HwDesc>;

/// The submission state of a WQ.
struct WqState {
    /// Whether the WQ takes descriptors; false while it is disabled or recovering.
    enabled: bool,
    /// The interrupt handle of the WQ's IMS vector.
    int_handle: u16,
    /// The descriptor occupying each completion record slot.
    ring: KVec<Option<Pin<KBox<TxDesc>>>>,
    /// The oldest occupied slot.
    head: usize,
    /// The number of occupied slots, from `head` on.
    count: usize,
}

/// A dedicated work queue and its DMA channel.
#[pin_data]
struct Wq {
    id: u32,
    cfg: WqCfg,
    hw: Arc<Hw>,
    /// One 32-byte completion record per slot.
    crs: CoherentAllocation<u64>,
    #[pin]
    state: SpinLock<WqState>,
    completed: AtomicU64,
    failed: AtomicU64,
}

const CR_WORDS: usize = regs::COMP_RECORD_SIZE / 8;

impl Wq {
    fn new(hw: &Arc<Hw>, id: u32, cfg: WqCfg) -> Result<Arc<Self>> {
        let size = usize::from(cfg.size);
        let crs = CoherentAllocation::alloc_coherent(hw.dev(), size * CR_WORDS, GFP_KERNEL)?;
        let mut ring = KVec::with_capacity(size, GFP_KERNEL)?;
        for _ in 0..size {
            ring.push(None, GFP_KERNEL)?;
        }
        Arc::pin_init(
            pin_init!(Self {
                id,
                cfg,
                hw: hw.clone(),
                crs,
                state <- new_spinlock!(WqState {
                    enabled: false,
                    int_handle: 0,
                    ring,
                    head: 0,
                    count: 0,
                }, "Wq::state"),
                completed: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
            GFP_KERNEL,
        )
    }

    fn size(&self) -> usize {
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

    fn cr_status(&self, slot: usize) -> u8 {
        // CAST: the status is the low byte of the first word.
        self.crs.read(slot * CR_WORDS).map_or(0, |w| w as u8)
    }

    /// Writes `desc` to the WQ's portal.
    fn write_portal(&self, desc: &Desc) -> Result {
        let portals = self.hw.portals.try_access().ok_or(ENODEV)?;
        let base = regs::portal_offset(self.id as usize, regs::Portal::Limited);
        let words = desc.encode();
        if io::has_movdir64b() {
            return portals.try_movdir64b(&words, base);
        }
        // Without MOVDIR64B (TCG has none): eight ordered 8-byte stores, which the emulated
        // device assembles; real DSA needs the 64-byte store (see the driver documentation).
        for (i, word) in words.iter().enumerate() {
            portals.try_write64(*word, base + i * 8)?;
        }
        Ok(())
    }

    /// Takes the oldest descriptor if the device completed it (or unconditionally if `all`).
    fn pop_done(&self, all: bool) -> Option<(Pin<KBox<TxDesc>>, u8)> {
        let mut st = self.state.lock();
        if st.count == 0 {
            return None;
        }
        let slot = st.head;
        let status = self.cr_status(slot) & comp::STATUS_MASK;
        if status == comp::NONE && !all {
            return None;
        }
        let desc = st.ring[slot].take()?;
        st.head = self.next_slot(slot, 1);
        st.count -= 1;
        Some((desc, status))
    }

    /// Completes the descriptors the device is done with, oldest first; with `all`, completes
    /// every pending descriptor, those the device did not finish as aborted.
    fn reap(&self, all: bool) -> usize {
        let mut n = 0;
        while let Some((desc, status)) = self.pop_done(all) {
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
            n += 1;
        }
        n
    }

    fn set_enabled(&self, enabled: bool, int_handle: u16) {
        let mut st = self.state.lock();
        st.enabled = enabled;
        st.int_handle = int_handle;
    }

    /// Recovers a halted WQ: completes its descriptors with errors, resets it and enables it
    /// again with its configuration.
    fn recover(&self) -> Result {
        let handle = {
            let mut st = self.state.lock();
            st.enabled = false;
            st.int_handle
        };
        let lost = self.reap(true);
        dev_warn!(
            self.hw.dev(),
            "wq{} halted: {lost} descriptors failed, resetting it\n",
            self.id
        );
        self.hw.cmd(cmd::RESET_WQ, cmd::wq_operand(self.id))?;
        self.hw.write_wqcfg(self.id, self.cfg)?;
        // Unbind may have begun meanwhile: then the WQ stays down.
        if self.hw.stopping.load(Ordering::Acquire) {
            return Ok(());
        }
        self.hw.cmd(cmd::ENABLE_WQ, self.id)?;
        self.set_enabled(true, handle);
        Ok(())
    }
}

/// The completion interrupt of a WQ, on its IMS vector.
struct WqIrq(Arc<Wq>);

impl irq::ThreadedHandler for WqIrq {
    fn handle_threaded(&self) -> irq::IrqReturn {
        self.0.reap(false);
        irq::IrqReturn::Handled
    }
}

/// The DMA engine channel of a WQ.
struct WqChan(Arc<Wq>);

impl WqChan {
    fn prep(&self, desc: Desc, len: usize) -> Result<HwDesc> {
        if len == 0 || len as u64 > self.0.hw.gencap.max_xfer_bytes() {
            return Err(EINVAL);
        }
        Ok(HwDesc(desc))
    }
}

impl dmaengine::Channel for WqChan {
    type Desc = HwDesc;

    fn alloc_resources(&self) -> Result<u32> {
        // CAST: WQ sizes are 16-bit.
        Ok(self.0.size() as u32)
    }

    fn free_resources(&self) {
        // The client waited for or terminated its work; anything left is completed as aborted.
        self.0.reap(true);
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
        if st.count == wq.size() {
            // A dedicated WQ silently drops work beyond its size: never send more.
            return Err(EBUSY);
        }
        let slot = wq.next_slot(st.head, st.count);
        for i in 0..CR_WORDS {
            wq.crs.write(slot * CR_WORDS + i, 0)?;
        }
        let hw_desc = desc
            .data()
            .0
            .with_completion(wq.crs.dma_handle_with_offset(slot * CR_WORDS)?)
            .with_interrupt(st.int_handle);
        wq.write_portal(&hw_desc)?;
        st.ring[slot] = Some(desc);
        st.count += 1;
        Ok(())
    }

    fn issue_pending(&self) {
        // Descriptors go to the portal at submission.
    }

    fn terminate_all(&self) -> Result {
        let wq = &self.0;
        wq.hw.cmd(cmd::ABORT_WQ, cmd::wq_operand(wq.id))?;
        wq.reap(true);
        Ok(())
    }
}

/// The misc interrupt (MSI-X vector 0): software errors and halted WQs.
struct MiscIrq {
    hw: Arc<Hw>,
    wqs: KVec<Arc<Wq>>,
}

impl MiscIrq {
    fn handle(&self) -> Result {
        let hw = &self.hw;
        let cause = hw.r32(off::INTCAUSE)?;
        hw.w32(cause, off::INTCAUSE)?;

        if cause & regs::intcause::ERR != 0 {
            hw.take_swerr()?;
        }
        for wq in self.wqs.iter() {
            // A WQ being disabled for unbind is not brought back.
            if hw.stopping.load(Ordering::Acquire) {
                break;
            }
            if hw.wq_state(wq.id)? == regs::wqcfg::STATE_HALTED && wq.state.lock().enabled {
                wq.recover()?;
            }
        }
        Ok(())
    }
}

impl irq::ThreadedHandler for MiscIrq {
    fn handle_threaded(&self) -> irq::IrqReturn {
        if let Err(e) = self.handle() {
            dev_err!(self.hw.dev(), "misc interrupt: {:?}\n", e);
        }
        irq::IrqReturn::Handled
    }
}

/// An enabled WQ: its IMS vector and the interrupt registered on it.
struct WqVector {
    wq: Arc<Wq>,
    index: u32,
    irq: Pin<KBox<irq::ThreadedRegistration<WqIrq>>>,
}

/// The driver's data of a bound device.
struct Idxd {
    hw: Arc<Hw>,
    /// Dropped first, in `Drop`: no new work while the WQs are torn down.
    dma: Option<dmaengine::Registration<WqChan>>,
    vectors: KVec<WqVector>,
    ims: Pin<KBox<ImsDomain<DsaIms>>>,
    _misc: Pin<KBox<irq::ThreadedRegistration<MiscIrq>>>,
}

impl Idxd {
    fn read_hw(pdev: &pci::Device) -> Result<Arc<Hw>> {
        let bar = pdev.iomap_region_sized::<{ regs::BAR0_SIZE }>(regs::MMIO_BAR, c_str!("idxd"))?;
        let portals = pdev.iomap_region(regs::WQ_BAR, c_str!("idxd-portals"))?;
        let (gencap, wqcap, grpcap, engcap, cmdcap, table) = {
            let io = bar.try_access().ok_or(ENXIO)?;
            (
                GenCap(io.read64(off::GENCAP)),
                WqCap(io.read64(off::WQCAP)),
                GrpCap(io.read64(off::GRPCAP)),
                EngCap(io.read64(off::ENGCAP)),
                CmdCap(io.read32(off::CMDCAP)),
                TableOffset(io.read64(off::TABLE_OFFSET)),
            )
        };
        Arc::pin_init(
            pin_init!(Hw {
                pdev: pdev.into(),
                bar,
                portals,
                gencap,
                wqcap,
                grpcap,
                engcap,
                cmdcap,
                table,
                cmd_lock <- new_mutex!((), "Hw::cmd_lock"),
                swerrs: AtomicU32::new(0),
                stopping: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )
    }

    /// The default configuration: one group with every engine and up to [`DEFAULT_WQS`]
    /// dedicated WQs.
    fn default_wqs(hw: &Hw) -> Result<KVec<WqCfg>> {
        let n = DEFAULT_WQS.min(hw.wqcap.num_wqs());
        let size = DEFAULT_WQ_SIZE.min(hw.wqcap.total_wq_size() / n.max(1));
        if n == 0 || size == 0 || hw.engcap.num_engines() == 0 || hw.grpcap.num_groups() == 0 {
            dev_err!(hw.dev(), "no room for a work queue\n");
            return Err(ENODEV);
        }
        if !hw.wqcap.dedicated_mode() && hw.wqcap.shared_mode() {
            dev_err!(hw.dev(), "shared work queues only: not supported yet\n");
            return Err(EOPNOTSUPP);
        }
        let mut wqs = KVec::with_capacity(n as usize, GFP_KERNEL)?;
        for _ in 0..n {
            wqs.push(
                WqCfg {
                    // CAST: at most the 16-bit total WQ size.
                    size: size as u16,
                    dedicated: true,
                    priority: DEFAULT_WQ_PRIORITY,
                    // CAST: shifts are 5- and 4-bit fields.
                    max_xfer_shift: hw.gencap.max_xfer_shift() as u8,
                    max_batch_shift: hw.gencap.max_batch_shift() as u8,
                    ..Default::default()
                },
                GFP_KERNEL,
            )?;
        }
        Ok(wqs)
    }

    /// Writes the group and WQ configuration and enables the device.
    fn configure(hw: &Hw, wqs: &[WqCfg]) -> Result {
        let mut group = regs::GrpCfg::default();
        for i in 0..wqs.len() {
            group.add_wq(i);
        }
        for e in 0..hw.engcap.num_engines().min(64) {
            group.add_engine(e as usize);
        }
        for (i, q) in group.to_qwords().iter().enumerate() {
            hw.w64(*q, regs::grpcfg::offset(hw.table.grpcfg_offset(), 0, i * 8))?;
        }
        for (i, cfg) in wqs.iter().enumerate() {
            // CAST: fewer WQs than `WqCap::num_wqs`, an 8-bit field.
            hw.write_wqcfg(i as u32, *cfg)?;
        }
        hw.w32(
            regs::genctrl::SOFTERR_INT_EN | regs::genctrl::HALT_INT_EN,
            off::GENCTRL,
        )?;
        hw.cmd(cmd::ENABLE_DEVICE, 0)?;
        Ok(())
    }

    /// Enables `wq` with a fresh IMS vector carrying the device's default cookie.
    fn enable_wq(hw: &Hw, ims: &ImsDomain<DsaIms>, wq: &Arc<Wq>) -> Result<WqVector> {
        let map = ims.alloc(hw.dev(), None, None)?;
        let handle = if hw.cmdcap.request_int_handles() {
            // CAST: IMS indices are below the 2048 slots of the device, so fit `u16`.
            let op = cmd::int_handle_operand(map.index as u16, true);
            match hw.cmd(cmd::REQUEST_INT_HANDLE, op) {
                Ok(h) => h,
                Err(e) => {
                    let _ = ims.free(hw.dev(), map.index);
                    return Err(e);
                }
            }
        } else {
            // CAST: as above.
            regs::INT_HANDLE_IMS | map.index as u16
        };

        let irq = KBox::pin_init(
            irq::ThreadedRegistration::new(
                hw.dev(),
                map.virq,
                irq::Flags::ONESHOT,
                c_str!("idxd-wq"),
                WqIrq(wq.clone()),
            ),
            GFP_KERNEL,
        );
        let irq = match irq {
            Ok(irq) => irq,
            Err(e) => {
                Self::release_vector(hw, ims, map.index, handle);
                return Err(e);
            }
        };

        wq.set_enabled(true, handle);
        if let Err(e) = hw.cmd(cmd::ENABLE_WQ, wq.id) {
            wq.set_enabled(false, 0);
            drop(irq);
            Self::release_vector(hw, ims, map.index, handle);
            return Err(e);
        }
        Ok(WqVector {
            wq: wq.clone(),
            index: map.index,
            irq,
        })
    }

    fn release_vector(hw: &Hw, ims: &ImsDomain<DsaIms>, index: u32, handle: u16) {
        if hw.cmdcap.request_int_handles() {
            let _ = hw.cmd(
                cmd::RELEASE_INT_HANDLE,
                cmd::int_handle_operand(handle, true),
            );
        }
        let _ = ims.free(hw.dev(), index);
    }

    /// Disables the WQ of `v` (the device finishes its work first), completes what is left
    /// and frees its vector.
    fn disable_wq(&self, v: WqVector) {
        let WqVector { wq, index, irq } = v;
        let handle = wq.state.lock().int_handle;
        wq.set_enabled(false, 0);
        let _ = self.hw.cmd(cmd::DISABLE_WQ, cmd::wq_operand(wq.id));
        wq.reap(true);
        dev_info!(
            self.hw.dev(),
            "wq{}: {} completed, {} failed\n",
            wq.id,
            wq.completed.load(Ordering::Relaxed),
            wq.failed.load(Ordering::Relaxed)
        );
        drop(irq);
        Self::release_vector(&self.hw, &self.ims, index, handle);
    }
}

impl pci::Driver for Idxd {
    type IdInfo = ();
    const ID_TABLE: pci::IdTableRef<()> = &PCI_TABLE;

    fn probe(pdev: &pci::Device, _info: &()) -> Result<Pin<KBox<Self>>> {
        pdev.enable_device_managed()?;
        pdev.set_master();

        let hw = Self::read_hw(pdev)?;
        let dev = hw.dev();
        let version = hw.r32(off::VERSION)?;

        if regs::GenSts(hw.r32(off::GENSTS)?).is_enabled() {
            hw.cmd(cmd::DISABLE_DEVICE, 0)?;
        }
        hw.cmd(cmd::RESET_DEVICE, 0)?;

        pdev.alloc_irq_vectors(1, 1, pci::IrqTypes::MSIX)?;
        let cfgs = Self::default_wqs(&hw)?;
        let mut wqs = KVec::with_capacity(cfgs.len(), GFP_KERNEL)?;
        for (i, cfg) in cfgs.iter().enumerate() {
            // CAST: at most `DEFAULT_WQS` WQs.
            wqs.push(Wq::new(&hw, i as u32, *cfg)?, GFP_KERNEL)?;
        }
        let mut misc_wqs = KVec::with_capacity(wqs.len(), GFP_KERNEL)?;
        for wq in wqs.iter() {
            misc_wqs.push(wq.clone(), GFP_KERNEL)?;
        }
        let misc = KBox::pin_init(
            irq::ThreadedRegistration::new(
                dev,
                pdev.irq_vector(0)?,
                irq::Flags::ONESHOT,
                c_str!("idxd-misc"),
                MiscIrq {
                    hw: hw.clone(),
                    wqs: misc_wqs,
                },
            ),
            GFP_KERNEL,
        )?;

        let ims = ImsDomain::new(
            dev,
            c_str!("DSA-IMS"),
            DsaIms(hw.clone()),
            hw.gencap.ims_slots(),
        )?;

        Self::configure(&hw, &cfgs)?;

        // From here on, dropping `this` tears down whatever was set up.
        let mut this = Self {
            hw: hw.clone(),
            dma: None,
            vectors: KVec::new(),
            ims,
            _misc: misc,
        };

        let mut chans = KVec::with_capacity(wqs.len(), GFP_KERNEL)?;
        for wq in wqs.iter() {
            let v = Self::enable_wq(&hw, &this.ims, wq)?;
            this.vectors.push(v, GFP_KERNEL)?;
            chans.push(WqChan(wq.clone()), GFP_KERNEL)?;
        }

        let caps = dmaengine::Caps::MEMCPY | dmaengine::Caps::MEMSET | dmaengine::Caps::INTERRUPT;
        this.dma = Some(dmaengine::Registration::new(dev, caps, chans, GFP_KERNEL)?);

        dev_info!(
            dev,
            "DSA {:#x}: {} WQs of {} descriptors on IMS ({} slots), {} engines\n",
            version,
            wqs.len(),
            cfgs[0].size,
            hw.gencap.ims_slots(),
            hw.engcap.num_engines()
        );
        Ok(KBox::pin(this, GFP_KERNEL)?)
    }
}

impl Drop for Idxd {
    fn drop(&mut self) {
        // Clients lose the channels first, then each WQ is drained and its vector freed, then
        // the device is quiesced. The IMS domain, the misc interrupt and the BARs follow as the
        // fields are dropped, and the vectors and the device itself at unbind (devres).
        self.hw.stopping.store(true, Ordering::Release);
        self.dma = None;
        for v in core::mem::take(&mut self.vectors) {
            self.disable_wq(v);
        }
        let _ = self.hw.cmd(cmd::DISABLE_DEVICE, 0);
        let _ = self.hw.cmd(cmd::RESET_DEVICE, 0);
    }
}

kernel::module_pci_driver! {
    type: Idxd,
    name: "idxd",
    author: "IMS project",
    description: "Intel Data Streaming Accelerator, with IMS work queue completions",
    license: "GPL",
}
