// SPDX-License-Identifier: GPL-2.0

//! Intel Data Streaming Accelerator (DSA) driver, with work queue completions on IMS.
//!
//! The driver binds to DSA PCI functions (8086:0b25), resets them, takes MSI-X vector 0 for the
//! device's "misc" interrupt (software errors, halted work queues) and creates the function's
//! IMS domain with the IMS core (`kernel::irq::ims`). Each enabled work queue (WQ) gets one IMS
//! vector, allocated when the WQ is enabled and freed when it is disabled; its descriptors
//! request their completion interrupt on that vector. The kernel WQs are channels of the
//! function's DMA engine device, which is private as the C driver's: clients that request a
//! channel (`dma_request_chan()`, `dmatest`) use them; async_tx's public channels do not.
//!
//! The device starts disabled and unconfigured. User space configures it through the idxd sysfs
//! ABI on the `dsa` bus (`config.rs`), as `accel-config` does, and enables the device and each
//! WQ by binding them to the bus's drivers: `idxd` for `dsaN`, `dmaengine` or `user` for WQs.
//!
//! See `Documentation/driver-api/dmaengine/idxd-rs.rst`.

mod cdev;
mod config;
mod regs;
#[cfg(CONFIG_INTEL_IDXD_RS_VDCM)]
mod vdcm;
mod wq;

use config::{BusDevices, Node, Shared, Types};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
#[cfg(CONFIG_INTEL_IDXD_RS_VDCM)]
use kernel::devres::Devres;
use kernel::{
    bus,
    device::{self, Core},
    dma::Coherent,
    driver,
    io::{movdir64b, poll::read_poll_timeout, Io},
    irq::{
        self,
        ims::{ImsChip, ImsDomain},
        msi::MsiMsg,
    },
    new_mutex, pci,
    prelude::*,
    sync::{aref::ARef, Arc, Mutex},
    time::{delay::udelay, Delta, Instant, Monotonic},
    InPlaceModule,
};
use regs::{
    cmd, off, CmdCap, OpCap, Swerr, WqCfg, CMDSTS, ENGCAP, GENCAP, GENSTS, GRPCAP, TABLE_OFFSET,
    WQCAP,
};

/// The `dsa` bus and its drivers.
pub(crate) static IDXD_BUS: bus::Bus<Node, 4> = bus::Bus::new(
    c"dsa",
    [
        config::DRV_IDXD,
        config::DRV_DMAENGINE,
        config::DRV_USER,
        config::DRV_MDEV,
    ],
);

/// The instance numbers in use (the `N` of `dsaN`), one bit each.
static INSTANCES: AtomicU64 = AtomicU64::new(0);
/// How long a command may take before the driver gives up on the device, in milliseconds.
const CMD_TIMEOUT_MS: i64 = 2000;
/// How many software errors are logged before further ones are counted only.
const SWERR_LOG_BURST: u32 = 10;
/// How long [`poll`] busy-waits before it sleeps between reads, in microseconds.
const POLL_SPIN_US: i64 = 200;
/// The pause between two reads while [`poll`] busy-waits, in microseconds.
const POLL_STEP_US: i64 = 2;

/// Reads with `op` until `cond` holds, for at most `timeout`: every [`POLL_STEP_US`] for
/// the first [`POLL_SPIN_US`], then sleeping `sleep` between reads.
///
/// Commands and mediated descriptors mostly finish within microseconds. A sleep is never
/// shorter than a scheduler tick on a kernel without high-resolution timers, so sleeping
/// from the first read made each of them cost a tick or two (4 to 8 ms at HZ=250). The
/// pause between reads leaves the device (an emulated one, above all) room to finish.
pub(crate) fn poll<T>(
    mut op: impl FnMut() -> Result<T>,
    mut cond: impl FnMut(&T) -> bool,
    sleep: Delta,
    timeout: Delta,
) -> Result<T> {
    let start = Instant::<Monotonic>::now();
    while start.elapsed() < Delta::from_micros(POLL_SPIN_US) {
        let val = op()?;
        if cond(&val) {
            return Ok(val);
        }
        udelay(Delta::from_micros(POLL_STEP_US));
    }
    read_poll_timeout(op, cond, sleep, timeout)
}

/// The register file of one device, shared by the driver, its interrupt handlers, its IMS chip
/// and its DMA channels.
#[pin_data]
struct Hw {
    pdev: ARef<pci::Device>,
    bar: pci::DevresBar<{ regs::BAR0_SIZE }>,
    portals: pci::DevresBar,
    /// The completion records of every WQ: [`wq::CR_SLOTS`] per WQ, allocated at probe, where
    /// the bound device is at hand, rather than at each WQ's enabling.
    crs: Coherent<[u64]>,
    version: u32,
    gencap: GENCAP,
    wqcap: WQCAP,
    grpcap: GRPCAP,
    engcap: ENGCAP,
    opcap: OpCap,
    cmdcap: CmdCap,
    table: TABLE_OFFSET,
    /// Serialises commands: the device runs one at a time.
    #[pin]
    cmd_lock: Mutex<()>,
    /// The status of the last failed command (`cmd_status`): the device's error code, or one
    /// of the driver's (`scmd`, bit 31 set).
    cmd_status: AtomicU32,
    /// The last software error (`errors`).
    last_swerr: [AtomicU64; 4],
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

        if CMDSTS::from_raw(self.r32(off::CMDSTS)?).active() {
            return Err(EBUSY);
        }
        self.w32(regs::cmd(code, operand, false), off::CMD)?;

        let sts = poll(
            || Ok(CMDSTS::from_raw(self.r32(off::CMDSTS)?)),
            |sts| !sts.active(),
            Delta::from_millis(1),
            Delta::from_millis(CMD_TIMEOUT_MS),
        )
        .inspect_err(|e| {
            if *e == ETIMEDOUT {
                dev_err!(self.dev(), "command {code} ({operand:#x}) timed out\n");
            }
        })?;

        match u8::from(sts.err()) {
            regs::cmdsts::SUCCESS => Ok(u16::from(sts.result())),
            err => {
                self.set_cmd_status(u32::from(err));
                dev_err!(
                    self.dev(),
                    "command {code} ({operand:#x}) failed: {err:#x} ({})\n",
                    regs::cmd_err_name(err)
                );
                Err(EIO)
            }
        }
    }

    /// Disables WQ `wq`, which drains it. If the device refuses or times out, the WQ's queue is
    /// aborted and the WQ reset, so that it ends disabled either way.
    fn disable_wq(&self, wq: u32) {
        let op = cmd::wq_operand(wq);
        if self.cmd(cmd::DISABLE_WQ, op).is_err() {
            dev_warn!(
                self.dev(),
                "wq{wq}: disable failed, aborting and resetting it\n"
            );
            let _ = self.cmd(cmd::ABORT_WQ, op);
            let _ = self.cmd(cmd::RESET_WQ, op);
        }
    }

    fn set_cmd_status(&self, status: u32) {
        self.cmd_status.store(status, Ordering::Relaxed);
    }

    fn cmd_status(&self) -> u32 {
        self.cmd_status.load(Ordering::Relaxed)
    }

    fn last_swerr(&self) -> [u64; 4] {
        let mut w = [0; 4];
        for (i, v) in w.iter_mut().enumerate() {
            *v = self.last_swerr[i].load(Ordering::Relaxed);
        }
        w
    }

    /// The device's state, if its registers can be read.
    fn gensts(&self) -> Option<GENSTS> {
        self.r32(off::GENSTS).ok().map(GENSTS::from_raw)
    }

    /// Brings the device to its reset state: disabled (if it was enabled; the device refuses
    /// to disable a disabled device), then reset.
    fn quiesce(&self) -> Result {
        if GENSTS::from_raw(self.r32(off::GENSTS)?).is_enabled() {
            self.cmd(cmd::DISABLE_DEVICE, 0)?;
        }
        self.cmd(cmd::RESET_DEVICE, 0)?;
        Ok(())
    }

    /// Writes the descriptor `words` to the limited portal of WQ `wq`.
    fn write_portal(&self, wq: u32, words: &[u64; 8]) -> Result {
        let portals = self.portals.try_access().ok_or(ENODEV)?;
        let base = regs::portal_offset(wq as usize, regs::Portal::Limited);
        if movdir64b::has_movdir64b() {
            return movdir64b::submit(&*portals, words, base);
        }
        // Without MOVDIR64B (TCG has none): eight ordered 8-byte stores, which the emulated
        // device assembles; real DSA needs the 64-byte store (see the driver documentation).
        for (i, word) in words.iter().enumerate() {
            portals.try_write64(*word, base + i * 8)?;
        }
        Ok(())
    }

    /// Writes GENCFG: the global read buffer limit (user interrupts stay off).
    fn write_gencfg(&self, rdbuf_limit: u16) -> Result {
        if !self.grpcap.rdbuf_limit() {
            return Ok(());
        }
        self.w32(
            u32::from(rdbuf_limit) & regs::gencfg::RDBUF_LIMIT_MASK,
            off::GENCFG,
        )
    }

    /// The number of descriptors queued in WQ `wq`.
    fn wq_occupancy(&self, wq: u32) -> Result<u32> {
        let occup = self.r32(self.wqcfg_offset(wq, regs::wqcfg::OCCUP_IDX))?;
        Ok(occup & regs::wqcfg::OCCUP_MASK)
    }

    /// The interrupt handle for descriptors that complete on vector `index`: IMS slot `index`
    /// if `ims`, else MSI-X vector `index`. Requested from the device if it hands them out.
    fn request_int_handle(&self, index: u16, ims: bool) -> Result<u16> {
        if self.cmdcap.request_int_handles() {
            return self.cmd(cmd::REQUEST_INT_HANDLE, cmd::int_handle_operand(index, ims));
        }
        Ok(if ims {
            regs::INT_HANDLE_IMS | index
        } else {
            index
        })
    }

    /// Gives back `handle`, from [`Hw::request_int_handle`] with the same `ims`.
    fn release_int_handle(&self, handle: u16, ims: bool) {
        if self.cmdcap.request_int_handles() {
            let _ = self.cmd(
                cmd::RELEASE_INT_HANDLE,
                cmd::int_handle_operand(handle, ims),
            );
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

    /// The message IMS slot `index` holds: address low and high, and data (0s if the
    /// registers cannot be read).
    #[cfg_attr(not(CONFIG_INTEL_IDXD_RS_VDCM), allow(dead_code))]
    fn ims_slot(&self, index: u32) -> (u32, u32, u32) {
        let r = |f| self.r32(self.ims_offset(index, f)).unwrap_or(0);
        (
            r(regs::ims::ADDR_LO),
            r(regs::ims::ADDR_HI),
            r(regs::ims::DATA),
        )
    }

    /// Reads, logs (rate-limited) and acknowledges a software error; returns it if there was
    /// one.
    fn take_swerr(&self) -> Result<Option<Swerr>> {
        let mut words = [0u64; 4];
        for (i, w) in words.iter_mut().enumerate() {
            *w = self.r64(off::swerr(i))?;
        }
        let err = Swerr(words);
        let status = err.status();
        if !status.valid() {
            return Ok(None);
        }

        for (i, w) in words.iter().enumerate() {
            self.last_swerr[i].store(*w, Ordering::Relaxed);
        }
        let n = self.swerrs.fetch_add(1, Ordering::Relaxed);
        if n < SWERR_LOG_BURST {
            dev_warn!(
                self.dev(),
                "software error {:#x} ({}), wq {} (valid {}), op {:#x}, pasid {:#x}, addr {:#x}{}\n",
                u8::from(status.error()),
                regs::status_name(u8::from(status.error())),
                u8::from(status.wq_idx()),
                status.wq_idx_valid(),
                u8::from(status.operation()),
                u32::from(status.pasid()),
                err.fault_addr(),
                if status.overflow() { ", overflowed" } else { "" },
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

#[vtable]
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
            regs::ims::cookie_ctrl(cookie, true),
            hw.ims_offset(index, regs::ims::CTRL),
        );
    }

    fn unmask(&self, index: u32, cookie: u64) {
        let hw = &self.0;
        let _ = hw.w32(
            regs::ims::cookie_ctrl(cookie, false),
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

/// The misc interrupt (MSI-X vector 0): software errors and halted WQs.
struct MiscIrq(Arc<Shared>);

impl MiscIrq {
    fn handle(&self) -> Result {
        let shared = &self.0;
        let hw = &shared.hw;
        let cause = hw.r32(off::INTCAUSE)?;
        hw.w32(cause, off::INTCAUSE)?;

        if cause & regs::intcause::ERR != 0 {
            hw.take_swerr()?;
        }
        for i in 0..shared.num_wqs() {
            // A WQ being disabled for unbind is not brought back.
            if hw.stopping.load(Ordering::Acquire) {
                break;
            }
            let Some(wq) = shared.active_wq(i) else {
                continue;
            };
            if hw.wq_state(wq.id)? == regs::wqcfg::STATE_HALTED && wq.is_enabled() {
                wq.recover()?;
            }
        }
        Ok(())
    }
}

impl irq::ThreadedHandler for MiscIrq {
    fn handle_threaded(&self) -> irq::IrqReturn {
        if let Err(e) = self.handle() {
            dev_err!(self.0.hw.dev(), "misc interrupt: {:?}\n", e);
        }
        irq::IrqReturn::Handled
    }
}

/// The completion interrupt of kernel WQ `wq` on a device without IMS: MSI-X vector
/// `1 + wq`, requested at probe. It completes the WQ's work while the WQ is enabled.
struct MsixWqIrq {
    shared: Arc<Shared>,
    wq: usize,
}

impl irq::ThreadedHandler for MsixWqIrq {
    fn handle_threaded(&self) -> irq::IrqReturn {
        match self.shared.active_wq(self.wq) {
            Some(wq) => {
                wq.reap(false);
                irq::IrqReturn::Handled
            }
            None => irq::IrqReturn::None,
        }
    }
}

/// A number from a pool of 64, one bit of `pool` each, given back when dropped.
pub(crate) struct PoolId {
    pool: &'static AtomicU64,
    pub(crate) id: u32,
}

impl PoolId {
    /// Takes the lowest free number of `pool`; `ENOSPC` if all 64 are taken.
    pub(crate) fn new(pool: &'static AtomicU64) -> Result<Self> {
        let mut cur = pool.load(Ordering::Relaxed);
        loop {
            let free = (!cur).trailing_zeros();
            if free >= 64 {
                return Err(ENOSPC);
            }
            match pool.compare_exchange(cur, cur | (1 << free), Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok(Self { pool, id: free }),
                Err(now) => cur = now,
            }
        }
    }
}

impl Drop for PoolId {
    fn drop(&mut self) {
        self.pool.fetch_and(!(1 << self.id), Ordering::AcqRel);
    }
}

/// The driver's data of a bound device.
///
/// The driver's objects (`Hw`, the bus devices, the DMA channels) are reference-counted and
/// `'static`, rather than borrowing `'bound` as upstream's model would have them: sysfs and
/// the DMA engine core call into them from contexts that hold no reference to the bound
/// device. What must not outlive the binding is device-managed instead: the BARs
/// ([`pci::DevresBar`]), the interrupt handlers ([`irq::DevresRegistration`]) and the IMS
/// domain, which `devices` tears down at unbind. Only the MSI-X vectors borrow the binding.
struct Idxd<'bound> {
    hw: Arc<Hw>,
    /// The mdev parent, dropped first: it removes the mdevs, each waiting for its user.
    #[cfg(CONFIG_INTEL_IDXD_RS_VDCM)]
    vdcm: Option<Devres<Pin<KBox<kernel::vfio::mdev::Parent<vdcm::VdcmDriver>>>>>,
    /// Dropped first, in `Drop`: the bus devices, so every WQ and the device are disabled.
    devices: Option<BusDevices>,
    _misc: irq::DevresRegistration<MiscIrq>,
    /// The completion interrupts of the WQs, on a device without IMS.
    _wq_irqs: KVec<irq::DevresRegistration<MsixWqIrq>>,
    _vectors: pci::IrqVectorRegistration<'bound>,
    _types: Types,
    _instance: PoolId,
}

impl Idxd<'_> {
    fn read_hw(pdev: &pci::Device<device::Bound>) -> Result<Arc<Hw>> {
        let bar = pdev
            .iomap_region_sized::<{ regs::BAR0_SIZE }>(regs::MMIO_BAR, c"idxd")?
            .into_devres()?;
        let portals = pdev
            .iomap_region(regs::WQ_BAR, c"idxd-portals")?
            .into_devres()?;
        let (version, gencap, wqcap, grpcap, engcap, opcap, cmdcap, table) = {
            let io = bar.access(pdev.as_ref())?;
            let mut opcap = [0u64; 4];
            for (i, w) in opcap.iter_mut().enumerate() {
                *w = io.try_read64(off::opcap(i))?;
            }
            (
                io.try_read32(off::VERSION)?,
                io.try_read(GENCAP)?,
                io.try_read(WQCAP)?,
                io.try_read(GRPCAP)?,
                io.try_read(ENGCAP)?,
                OpCap(opcap),
                CmdCap(io.try_read32(off::CMDCAP)?),
                io.try_read(TABLE_OFFSET)?,
            )
        };
        let slots = wq::cr_pool_words(wqcap).ok_or(ENODEV)?;
        let crs = Coherent::zeroed_slice(pdev.as_ref(), slots, GFP_KERNEL)?;
        Arc::pin_init(
            pin_init!(Hw {
                pdev: pdev.into(),
                bar,
                portals,
                crs,
                version,
                gencap,
                wqcap,
                grpcap,
                engcap,
                opcap,
                cmdcap,
                table,
                cmd_lock <- new_mutex!((), "Hw::cmd_lock"),
                cmd_status: AtomicU32::new(0),
                last_swerr: [const { AtomicU64::new(0) }; 4],
                swerrs: AtomicU32::new(0),
                stopping: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )
    }

    fn new<'bound>(pdev: &'bound pci::Device<Core<'_>>) -> Result<Idxd<'bound>> {
        pdev.enable_device_mem()?;
        pdev.set_master();
        let bound: &'bound pci::Device<device::Bound> = pdev;

        let hw = Self::read_hw(bound)?;
        let dev = hw.dev();

        hw.quiesce()?;

        if hw.wqcap.num_wqs() == 0 || hw.engcap.num_engines() == 0 || hw.grpcap.num_groups() == 0 {
            dev_err!(dev, "no work queue, engine or group\n");
            return Err(ENODEV);
        }
        if hw.wqcap.num_wqs() > 64 || hw.engcap.num_engines() > 64 {
            dev_err!(dev, "more than 64 work queues or engines: not supported\n");
            return Err(ENODEV);
        }

        let instance = PoolId::new(&INSTANCES)?;
        // Without IMS (a virtual DSA), WQ k completes on MSI-X vector 1 + k, as with the C
        // driver; vector 0 is the misc interrupt either way.
        let nwqs = u32::from(hw.wqcap.num_wqs());
        let has_ims = hw.gencap.ims_slots() > 0;
        let nvec = if has_ims { 1 } else { 1 + nwqs };
        let msix = pci::IrqTypes::default().with(pci::IrqType::MsiX);
        let vectors = bound.alloc_irq_vectors(nvec, nvec, msix)?;
        let ims = if has_ims {
            Some(ImsDomain::new(
                bound.as_ref(),
                c"DSA-IMS",
                DsaIms(hw.clone()),
                hw.gencap.ims_slots(),
            )?)
        } else {
            None
        };
        #[cfg(CONFIG_INTEL_IDXD_RS_VDCM)]
        let vdcm_ims = ims.clone();
        let shared = Shared::new(hw.clone(), instance.id, ims)?;
        let misc = irq::ThreadedRegistration::new_devres(
            bound.as_ref(),
            vectors.index(0)?.into(),
            irq::Flags::ONESHOT,
            c"idxd-misc",
            MiscIrq(shared.clone()),
        )?;
        let mut wq_irqs = KVec::new();
        if !has_ims {
            for wq in 0..usize::from(hw.wqcap.num_wqs()) {
                let irq = irq::ThreadedRegistration::new_devres(
                    bound.as_ref(),
                    vectors.index(1 + wq)?.into(),
                    irq::Flags::ONESHOT,
                    c"idxd-wq",
                    MsixWqIrq {
                        shared: shared.clone(),
                        wq,
                    },
                )?;
                wq_irqs.push(irq, GFP_KERNEL)?;
            }
        }
        // Errors and halts are reported before the device is enabled, too.
        hw.w32(
            regs::genctrl::SOFTERR_INT_EN | regs::genctrl::HALT_INT_EN,
            off::GENCTRL,
        )?;

        let types = Types::new()?;
        let mut this = Idxd {
            hw: hw.clone(),
            #[cfg(CONFIG_INTEL_IDXD_RS_VDCM)]
            vdcm: None,
            devices: None,
            _misc: misc,
            _wq_irqs: wq_irqs,
            _vectors: vectors,
            _types: types,
            _instance: instance,
        };
        this.devices = Some(BusDevices::add(&shared, &this._types)?);
        #[cfg(CONFIG_INTEL_IDXD_RS_VDCM)]
        {
            // Without the mdev parent the device still works for the host.
            // Mdevs' vectors are IMS slots: a device without IMS has no mdev parent.
            if let Some(ims) = vdcm_ims {
                match vdcm::VdcmParent::register(bound.as_ref(), shared.clone(), ims) {
                    Ok(parent) => this.vdcm = Some(parent),
                    Err(e) => dev_warn!(dev, "no mdev parent: {:?}\n", e),
                }
            }
        }

        dev_info!(
            dev,
            "DSA {:#x} as dsa{}: {} WQs ({} entries), {} engines, {} groups, {} IMS slots\n",
            hw.version,
            shared.id,
            u32::from(hw.wqcap.num_wqs()),
            u32::from(hw.wqcap.total_wq_size()),
            u32::from(hw.engcap.num_engines()),
            u32::from(hw.grpcap.num_groups()),
            hw.gencap.ims_slots(),
        );
        Ok(this)
    }
}

kernel::pci_device_table!(
    PCI_TABLE,
    <IdxdDriver as pci::Driver>::IdInfo,
    [(pci::DeviceId::from_id(pci::Vendor::INTEL, 0x0b25), ())]
);

struct IdxdDriver;

impl pci::Driver for IdxdDriver {
    type IdInfo = ();
    type Data<'bound> = Idxd<'bound>;
    const ID_TABLE: pci::IdTable<()> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound ()>,
    ) -> impl PinInit<Idxd<'bound>, Error> + 'bound {
        Idxd::new(pdev)
    }
}

impl Drop for Idxd<'_> {
    fn drop(&mut self) {
        // Deleting the bus devices unbinds them: each WQ is disabled and drained, its vector
        // freed, then the device is disabled. The misc interrupt handler and the MSI-X vector
        // follow as the fields are dropped, in that order, and the BARs at unbind (devres).
        self.hw.stopping.store(true, Ordering::Release);
        #[cfg(CONFIG_INTEL_IDXD_RS_VDCM)]
        {
            self.vdcm = None;
        }
        self.devices = None;
        let _ = self.hw.quiesce();
    }
}

/// The module: the `dsa` bus and the PCI driver.
#[pin_data]
struct IdxdModule {
    /// Dropped first: unbinding the PCI devices deletes every device on the bus.
    #[pin]
    _pci: driver::Registration<pci::Adapter<IdxdDriver>>,
    /// The mdev driver, after the PCI driver whose devices are its parents.
    #[cfg(CONFIG_INTEL_IDXD_RS_VDCM)]
    _mdev: kernel::vfio::mdev::DriverRegistration<vdcm::VdcmDriver>,
    _bus: bus::BusRegistration<Node, 4>,
}

impl InPlaceModule for IdxdModule {
    fn init(module: &'static kernel::ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            // The bus first: probing adds devices to it.
            _bus: IDXD_BUS.register(module)?,
            #[cfg(CONFIG_INTEL_IDXD_RS_VDCM)]
            _mdev: vdcm::MDEV_DRIVER.register(module)?,
            _pci <- driver::Registration::new(c"idxd", module),
        })
    }
}

module! {
    type: IdxdModule,
    name: "idxd",
    authors: ["IMS project"],
    description: "Intel Data Streaming Accelerator, with IMS work queue completions",
    license: "GPL",
}
