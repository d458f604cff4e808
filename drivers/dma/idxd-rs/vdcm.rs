// SPDX-License-Identifier: GPL-2.0

//! Virtual DSA work queues for VFIO users: the mediated device (mdev) front end.
//!
//! A WQ of type `mdev`, enabled by binding it to the `mdev` driver of the `dsa` bus, is
//! reserved for a VFIO user. Writing a UUID to the parent's
//! `mdev_supported_types/idxd-dsa-1dwq/create` takes one such WQ and makes a mediated device
//! of it: a virtual DSA PCI function (8086:0b25) with one dedicated WQ, which QEMU's
//! `vfio-pci` hands to a guest and which a user-space driver can drive through VFIO directly.
//!
//! - Each mdev gets its own PASID, programmed as the host WQ's PASID and set as the mdev
//!   device's default MSI cookie before any of its vectors exists. The IMS core copies it
//!   into each vector; the device raises a slot only for work of that PASID.
//! - MSI-X vector 0 is emulated (command completion, software errors); vectors 1 to 7 are
//!   backed one at a time by IMS vectors of the parent, through `kernel::vfio::ims`, as the
//!   user enables them.
//! - BAR0 is emulated register by register. BAR2 is the WQ portal: each descriptor written to
//!   it is checked, its addresses translated from the user's IOVAs through pinned pages mapped
//!   for the parent, and submitted; the write returns when the device has completed it
//!   (the mediated, synchronous model: see `Documentation/driver-api/vfio-mdev-dsa.rst`).
//!
//! This module lives in the DSA driver, not in the kernel crate, because it needs the
//! driver's internals (the register file, the WQ configuration, the IMS domain and its slot
//! format); what every IMS-backed VFIO device needs is in `kernel::vfio`.

use crate::{
    config::Shared,
    poll,
    regs::{self, cmd, cmdsts, comp, op_flag, opcode, WqCfg},
    DsaIms, Hw, PoolId,
};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::{
    debugfs, dev_info, dev_warn,
    devres::Devres,
    eventfd::EventFd,
    irq::{ims::ImsDomain, msi},
    new_mutex,
    prelude::*,
    str::CString,
    sync::{aref::ARef, Arc, Mutex},
    time::Delta,
    vfio::{
        self, device_flags,
        ims::{Hooks, Vectors},
        irq_flags, mdev, pci as vpci, region_flags, Caps, DeviceInfo, IrqAction, IrqData, IrqInfo,
        IrqSet, RegionInfo,
    },
};

/// The one mdev type: a virtual DSA with one dedicated WQ.
pub(crate) const TYPES: [mdev::Type; 1] = [mdev::Type {
    sysfs_name: c"dsa-1dwq",
    pretty_name: c"DSA, 1 dedicated WQ",
}];

/// The mdev driver.
pub(crate) static MDEV_DRIVER: mdev::DriverType<VdcmDriver> = mdev::DriverType::new(c"idxd-vdcm");

/// MSI-X vectors of the virtual device: vector 0 emulated, 1 to 7 on IMS.
const NUM_VECTORS: u32 = 8;
/// Size of the virtual BAR0, as the physical one (the driver maps that much).
const VBAR0_SIZE: u64 = regs::BAR0_SIZE as u64;
/// Size of the virtual BAR2: the portals of WQ 0.
const VBAR2_SIZE: u64 = 0x4000;
/// Size of the virtual configuration space.
const CFG_SIZE: usize = 256;
/// Log2 of the largest transfer a virtual descriptor may ask for (64 KiB, 16 pinned pages).
const MAX_XFER_SHIFT: u64 = 16;
/// Where the MSI-X table and PBA sit in BAR0 (the user's VMM emulates them).
const MSIX_TABLE: u32 = 0x2000;
const MSIX_PBA: u32 = 0x3000;
/// Virtual table offsets, in units of [`regs::TABLE_MULT`].
const VT_MSIX_PERM: u64 = 3;
const VT_GRPCFG: u64 = 4;
const VT_WQCFG: u64 = 5;
/// How long a descriptor may take on the device.
const DESC_TIMEOUT_MS: i64 = 2000;
/// Refusals logged per mdev.
const LOG_BURST: u32 = 10;
/// Descriptor flags a virtual descriptor may carry.
const ALLOWED_FLAGS: u32 = op_flag::FENCE
    | op_flag::CRAV
    | op_flag::RCR
    | op_flag::RCI
    | op_flag::CRSTS
    | op_flag::CC
    | op_flag::STORD;

/// The PASIDs given to mdevs (bit `i`: PASID [`PASID_BASE`] + `i`).
static PASIDS: AtomicU64 = AtomicU64::new(0);
const PASID_BASE: u32 = 0x100;

/// A PASID of an mdev, given back when dropped.
struct Pasid(PoolId);

impl Pasid {
    fn new() -> Result<Self> {
        PoolId::new(&PASIDS).map(Self)
    }

    fn get(&self) -> u32 {
        PASID_BASE + self.0.id
    }
}

/// A host WQ enabled for mdevs (bound to the `mdev` driver of the `dsa` bus).
#[pin_data]
pub(crate) struct MdevWq {
    hw: Arc<Hw>,
    pub(crate) id: u32,
    /// The WQ's name on the bus (`wqN.M`).
    name: CString,
    cfg: WqCfg,
    /// Whether an mdev has it.
    taken: AtomicBool,
    /// Cleared when the WQ is disabled on the bus: its mdev, if any, is left without a WQ.
    #[pin]
    live: Mutex<bool>,
}

impl MdevWq {
    pub(crate) fn new(hw: Arc<Hw>, id: u32, name: CString, cfg: WqCfg) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                hw,
                id,
                name,
                cfg,
                taken: AtomicBool::new(false),
                live <- new_mutex!(true, "idxd::MdevWq::live"),
            }),
            GFP_KERNEL,
        )
    }

    pub(crate) fn is_taken(&self) -> bool {
        self.taken.load(Ordering::Acquire)
    }

    pub(crate) fn try_take(&self) -> bool {
        !self.taken.swap(true, Ordering::AcqRel)
    }

    /// Disables the WQ on the bus: an mdev that has it loses it (its portal refuses work).
    pub(crate) fn retire(&self) {
        let mut live = self.live.lock();
        if *live && self.is_taken() {
            self.hw.disable_wq(self.id);
        }
        *live = false;
    }

    /// Enables the host WQ for work of `pasid`.
    fn start(&self, pasid: u32) -> Result {
        let live = self.live.lock();
        if !*live {
            return Err(ENODEV);
        }
        let cfg = WqCfg {
            pasid,
            pasid_en: true,
            ..self.cfg
        };
        self.hw.write_wqcfg(self.id, cfg)?;
        // ENABLE_WQ names the WQ by index; the others by bitmap.
        self.hw.cmd(cmd::ENABLE_WQ, self.id)?;
        drop(live);
        Ok(())
    }

    /// Disables the host WQ (draining it) and gives it back for another mdev.
    fn stop(&self) {
        let live = self.live.lock();
        if *live {
            self.hw.disable_wq(self.id);
        }
        drop(live);
        self.taken.store(false, Ordering::Release);
    }
}

/// The state an mdev parent (a DSA function) shares with its mdevs.
pub(crate) struct VdcmParent {
    pub(crate) shared: Arc<Shared>,
    pub(crate) ims: Arc<ImsDomain<DsaIms>>,
    /// `/sys/kernel/debug/vdcm-dsaN`: one file per mdev, and `ims_free`.
    debug: debugfs::Dir,
    _ims_free: Pin<KBox<debugfs::File<Arc<ImsDomain<DsaIms>>>>>,
}

impl VdcmParent {
    /// Registers the DSA function behind `dev` as an mdev parent.
    pub(crate) fn register(
        dev: &kernel::device::Device<kernel::device::Bound>,
        shared: Arc<Shared>,
        ims: Arc<ImsDomain<DsaIms>>,
    ) -> Result<Devres<Pin<KBox<mdev::Parent<VdcmDriver>>>>> {
        let name = CString::try_from_fmt(fmt!("vdcm-dsa{}", shared.id))?;
        let debug = debugfs::Dir::new(&name);
        let ims_free = KBox::pin_init(
            debug.read_callback_file(
                c"ims_free",
                ims.clone(),
                &|ims: &Arc<ImsDomain<DsaIms>>, f| writeln!(f, "{}", ims.free_slots()),
            ),
            GFP_KERNEL,
        )?;
        mdev::Parent::new(
            dev,
            &MDEV_DRIVER,
            &TYPES,
            VdcmParent {
                shared,
                ims,
                debug,
                _ims_free: ims_free,
            },
        )
    }
}

/// What an mdev holds from probe to remove. Dropped in order: the debugfs file, then the
/// VFIO registration (which waits for the user to close the device).
pub(crate) struct MdevData {
    _debug: Pin<KBox<debugfs::File<ARef<vfio::Device<Vdcm>>>>>,
    _reg: vfio::Registration<Vdcm>,
}

/// The mdev driver of DSA functions.
pub(crate) struct VdcmDriver;

#[vtable]
impl mdev::Driver for VdcmDriver {
    type Parent = VdcmParent;
    type Data = KBox<MdevData>;

    fn probe(
        mdev: &mdev::Device,
        parent: &VdcmParent,
        _type_index: usize,
        dma_dev: &Arc<mdev::ParentDevice>,
    ) -> Result<KBox<MdevData>> {
        let dev = mdev.as_ref();
        let wq = parent.shared.take_mdev_wq().ok_or(ENOSPC)?;
        // From here on, dropping `vdcm` (or what is built of it) gives the WQ back.
        let taken = TakenWq(wq.clone());
        let pasid = Pasid::new()?;
        // The cookie of every vector of the mdev: set before the first exists.
        msi::set_default_cookie(dev, regs::ims::COOKIE_PASID_VALID | u64::from(pasid.get()));
        let user = parent.ims.add_user(dev, NUM_VECTORS - 1)?;
        wq.start(pasid.get())?;
        let started = StartedWq(taken);
        let hw = parent.shared.hw.clone();
        let vdev = vfio::Device::new(
            dev,
            try_pin_init!(Vdcm {
                hw,
                wq: started,
                pasid,
                dma_dev: dma_dev.clone(),
                vectors <- Vectors::new(user, NUM_VECTORS, 1)?,
                state <- new_mutex!(VState::new(), "idxd::Vdcm::state"),
                handles <- new_mutex!([None; NUM_VECTORS as usize], "idxd::Vdcm::handles"),
                notify <- new_mutex!(Notify::default(), "idxd::Vdcm::notify"),
                partial <- new_mutex!((0, [0; 8], 0), "idxd::Vdcm::partial"),
                submit <- new_mutex!((), "idxd::Vdcm::submit"),
                refused: AtomicU32::new(0),
                completed: AtomicU32::new(0),
            }),
        )?;
        let reg = vfio::Registration::new(vdev.clone())?;
        let uuid = mdev.uuid();
        let text = uuid_text(&uuid);
        let name =
            CString::try_from_fmt(fmt!("{}", core::str::from_utf8(&text).map_err(|_| EINVAL)?))?;
        let debug = KBox::pin_init(
            parent
                .debug
                .read_callback_file(&name, vdev.clone(), &Vdcm::show),
            GFP_KERNEL,
        )?;
        dev_info!(
            dev,
            "mdev on {} (host wq {}), PASID {:#x}\n",
            vdev.wq.0 .0.name.to_str().unwrap_or("?"),
            vdev.wq.0 .0.id,
            vdev.pasid.get()
        );
        Ok(KBox::new(
            MdevData {
                _debug: debug,
                _reg: reg,
            },
            GFP_KERNEL,
        )?)
    }

    fn available(parent: &VdcmParent, _type_index: usize) -> u32 {
        parent.shared.mdev_available()
    }
}

/// A UUID as the mdev core names the device (`%pUl`): `8-4-4-4-12` lower-case hex digits,
/// the first three groups from little-endian fields.
fn uuid_text(uuid: &[u8; 16]) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const ORDER: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    let mut out = [b'-'; 36];
    let mut o = 0;
    for (i, &j) in ORDER.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            o += 1;
        }
        let b = uuid[j];
        out[o] = HEX[usize::from(b >> 4)];
        out[o + 1] = HEX[usize::from(b & 0xf)];
        o += 2;
    }
    out
}

/// A WQ taken by an mdev, given back when dropped.
struct TakenWq(Arc<MdevWq>);

impl Drop for TakenWq {
    fn drop(&mut self) {
        self.0.taken.store(false, Ordering::Release);
    }
}

/// A WQ taken and enabled for an mdev, disabled and given back when dropped.
struct StartedWq(TakenWq);

impl Drop for StartedWq {
    fn drop(&mut self) {
        self.0 .0.stop();
    }
}

/// Eventfds of the error and request interrupts.
#[derive(Default)]
struct Notify {
    err: Option<EventFd>,
    req: Option<EventFd>,
}

/// The emulated registers and configuration space.
struct VState {
    cfg: [u8; CFG_SIZE],
    bar0: u64,
    bar2: u64,
    enabled: bool,
    wq_enabled: bool,
    gencfg: u32,
    genctrl: u32,
    intcause: u32,
    cmdsts: u32,
    swerr: [u64; 4],
    msix_perm: [u32; NUM_VECTORS as usize],
    grpcfg: [u32; 16],
    wqcfg: [u32; regs::wqcfg::DWORDS],
    /// Interrupt handles granted (bit `k`: the handle of vector `k`).
    granted: u32,
}

impl VState {
    fn new() -> Self {
        let mut s = Self {
            cfg: [0; CFG_SIZE],
            bar0: 0,
            bar2: 0,
            enabled: false,
            wq_enabled: false,
            gencfg: 0,
            genctrl: 0,
            intcause: 0,
            cmdsts: 0,
            swerr: [0; 4],
            msix_perm: [0; NUM_VECTORS as usize],
            grpcfg: [0; 16],
            wqcfg: [0; regs::wqcfg::DWORDS],
            granted: 0,
        };
        s.init_cfg();
        s
    }

    /// Resets the device registers (a device reset or an FLR); the configuration space keeps
    /// its BARs and command register.
    fn reset(&mut self) {
        let cfg = self.cfg;
        let (bar0, bar2) = (self.bar0, self.bar2);
        *self = Self::new();
        self.cfg = cfg;
        self.bar0 = bar0;
        self.bar2 = bar2;
        // MSI-X is off after a reset.
        self.cfg[CAP_MSIX + 3] &= !0xc0;
    }

    fn put16(&mut self, off: usize, v: u16) {
        self.cfg[off..off + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn put32(&mut self, off: usize, v: u32) {
        self.cfg[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn init_cfg(&mut self) {
        self.put16(0x00, 0x8086);
        self.put16(0x02, 0x0b25);
        // Status: capability list.
        self.put16(0x06, 0x0010);
        // Class: system peripheral, other (as DSA).
        self.put32(0x08, 0x0880_0000);
        // BAR0 and BAR2: 64-bit memory BARs.
        self.put32(0x10, 0x4);
        self.put32(0x18, 0x4);
        self.put16(0x2c, 0x8086);
        self.put16(0x2e, 0x0000);
        self.cfg[0x34] = CAP_PCIE as u8;
        // PCI Express capability v2, endpoint, function-level reset.
        self.cfg[CAP_PCIE] = 0x10;
        self.cfg[CAP_PCIE + 1] = CAP_MSIX as u8;
        self.put16(CAP_PCIE + 2, 0x0002);
        self.put32(CAP_PCIE + 4, 1 << 28);
        // MSI-X: NUM_VECTORS vectors, table and PBA in BAR0.
        self.cfg[CAP_MSIX] = 0x11;
        self.cfg[CAP_MSIX + 1] = 0;
        self.put16(CAP_MSIX + 2, (NUM_VECTORS - 1) as u16);
        self.put32(CAP_MSIX + 4, MSIX_TABLE);
        self.put32(CAP_MSIX + 8, MSIX_PBA);
    }

    fn cfg_write(&mut self, off: usize, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            let o = off + i;
            match o {
                // Command: memory space, bus master, INTx disable.
                0x04 => self.cfg[o] = b & 0x06,
                0x05 => self.cfg[o] = b & 0x04,
                0x10..=0x13 => Self::bar_byte(&mut self.bar0, o - 0x10, b),
                0x14..=0x17 => Self::bar_byte(&mut self.bar0, o - 0x10, b),
                0x18..=0x1f => Self::bar_byte(&mut self.bar2, o - 0x18, b),
                // MSI-X message control: enable and function mask.
                _ if o == CAP_MSIX + 3 => self.cfg[o] = b & 0xc0,
                // PCIe device control (FLR, bit 15, is handled by the VMM through RESET).
                _ if (CAP_PCIE + 8..CAP_PCIE + 10).contains(&o) => self.cfg[o] = b,
                _ => {}
            }
        }
        let size0 = !(VBAR0_SIZE - 1);
        let size2 = !(VBAR2_SIZE - 1);
        let b0 = (self.bar0 & size0) | 0x4;
        let b2 = (self.bar2 & size2) | 0x4;
        self.put32(0x10, b0 as u32);
        self.put32(0x14, (b0 >> 32) as u32);
        self.put32(0x18, b2 as u32);
        self.put32(0x1c, (b2 >> 32) as u32);
    }

    fn bar_byte(bar: &mut u64, i: usize, b: u8) {
        let shift = 8 * i as u32;
        *bar = (*bar & !(0xffu64 << shift)) | (u64::from(b) << shift);
    }
}

/// Configuration space offsets of the capabilities.
const CAP_PCIE: usize = 0x40;
const CAP_MSIX: usize = 0x80;

/// The virtual device of one mdev: the VFIO device's driver state.
#[pin_data]
pub(crate) struct Vdcm {
    hw: Arc<Hw>,
    wq: StartedWq,
    pasid: Pasid,
    dma_dev: Arc<mdev::ParentDevice>,
    #[pin]
    vectors: Vectors<DsaIms>,
    #[pin]
    state: Mutex<VState>,
    /// The host interrupt handle of each IMS-backed vector a descriptor has named: taken
    /// under the vector table's lock, and held across the host command that grants one.
    #[pin]
    handles: Mutex<[Option<u16>; NUM_VECTORS as usize]>,
    #[pin]
    notify: Mutex<Notify>,
    /// A descriptor being assembled from 8-byte portal writes (how a VMM forwards a guest's
    /// 64-byte store): its slot offset, the qwords so far and which of them have arrived.
    #[pin]
    partial: Mutex<(u64, [u64; 8], u8)>,
    /// Held across each descriptor's execution, and by `dma_unmap`, which thereby waits for
    /// the pages of a descriptor in flight to be unpinned.
    #[pin]
    submit: Mutex<()>,
    refused: AtomicU32,
    completed: AtomicU32,
}

/// The vector hooks of an mdev: the host interrupt handle of an IMS-backed vector, granted
/// when the first descriptor names the vector ([`Vdcm::host_handle`]), goes with its slot.
///
/// Granting at first use rather than when the vector is backed keeps a host command (an
/// MMIO round trip to the device) out of `SET_IRQS`, which QEMU sends as the guest unmasks
/// each vector, and spares it for vectors no descriptor uses.
struct HandleHooks<'a>(&'a Vdcm);

impl Hooks for HandleHooks<'_> {
    fn unbacking(&self, k: u32, _index: u32) {
        if let Some(h) = self.0.handles.lock()[k as usize].take() {
            self.0.hw.release_int_handle(h, true);
        }
    }
}

/// A descriptor as the user wrote it.
struct UserDesc {
    flags: u32,
    op: u8,
    cr: u64,
    src: u64,
    dst: u64,
    size: u32,
    handle: u16,
    words: [u64; 8],
}

impl UserDesc {
    fn parse(words: [u64; 8]) -> Self {
        // CAST: fields of the descriptor's qwords.
        Self {
            flags: ((words[0] >> 32) as u32) & op_flag::MASK,
            op: (words[0] >> 56) as u8,
            cr: words[1],
            src: words[2],
            dst: words[3],
            size: words[4] as u32,
            handle: (words[4] >> 32) as u16,
            words,
        }
    }
}

/// How a descriptor ended before reaching the device.
enum Outcome {
    /// Report this status in the user's completion record (and interrupt if asked).
    Status(u8, u64),
    /// No completion record can be written: a software error.
    Swerr(u8, u64),
    /// The WQ is not enabled: the device drops what its portal gets.
    Dropped,
}

impl Vdcm {
    fn show(dev: &ARef<vfio::Device<Vdcm>>, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let v: &Vdcm = dev;
        writeln!(f, "pasid {}", v.pasid.get())?;
        writeln!(f, "wq {}", v.wq.0 .0.name.to_str().unwrap_or("?"))?;
        writeln!(f, "completed {}", v.completed.load(Ordering::Relaxed))?;
        writeln!(f, "refused {}", v.refused.load(Ordering::Relaxed))?;
        let mut res = Ok(());
        v.vectors.for_each(|b| {
            let (lo, hi, data) = v.hw.ims_slot(b.index);
            if res.is_ok() {
                res = writeln!(
                    f,
                    "vector {} irq {} ims {} addr {:#x} data {:#x} pasid {}",
                    b.vector,
                    b.virq,
                    b.index,
                    (u64::from(hi) << 32) | u64::from(lo),
                    data,
                    b.cookie & regs::ims::COOKIE_PASID_MASK
                );
            }
        });
        res
    }

    fn hooks(&self) -> HandleHooks<'_> {
        HandleHooks(self)
    }

    fn log(&self, why: &str) {
        let n = self.refused.fetch_add(1, Ordering::Relaxed);
        if n < LOG_BURST {
            dev_warn!(self.hw.dev(), "mdev pasid {:#x}: {why}\n", self.pasid.get());
        }
    }

    /// Records a software error and raises the misc vector.
    fn swerr(&self, st: &mut VState, code: u8, op: u8, addr: u64) {
        if st.swerr[0] & regs::swerr::VALID != 0 {
            st.swerr[0] |= regs::swerr::OVERFLOW;
        } else {
            // Valid, descriptor fields valid, WQ index valid (WQ 0).
            st.swerr[0] = regs::swerr::VALID | 0xc | (u64::from(code) << 8) | (u64::from(op) << 32);
            st.swerr[1] = 0;
            st.swerr[2] = addr;
            st.swerr[3] = 0;
        }
        st.intcause |= regs::intcause::ERR;
        if st.genctrl & regs::genctrl::SOFTERR_INT_EN != 0 {
            self.vectors.trigger(0);
        }
    }

    // ---- BAR0 ----

    fn gencap(&self) -> u64 {
        let batch = u64::from(self.hw.gencap.max_batch_shift());
        // Overlapping copy, CMDCAP, the maximum transfer and batch, configurable; no IMS.
        (1 << 1) | (1 << 4) | (MAX_XFER_SHIFT << 16) | (batch << 21) | (1 << 31)
    }

    fn wqcap(&self) -> u64 {
        // Size, one WQ, 32-byte WQCFG, dedicated mode, priority, occupancy.
        u64::from(self.wq.0 .0.cfg.size) | (1 << 16) | (1 << 49) | (1 << 51) | (1 << 52)
    }

    fn rd32(&self, st: &VState, off: usize) -> u32 {
        let q = |v: u64| {
            if off % 8 == 0 {
                v as u32
            } else {
                (v >> 32) as u32
            }
        };
        let wqcfg = (VT_WQCFG as usize) * regs::TABLE_MULT;
        let grpcfg = (VT_GRPCFG as usize) * regs::TABLE_MULT;
        let perm = (VT_MSIX_PERM as usize) * regs::TABLE_MULT;
        match off & !7 {
            regs::off::VERSION => q(u64::from(self.hw.version)),
            regs::off::GENCAP => q(self.gencap()),
            regs::off::WQCAP => q(self.wqcap()),
            regs::off::GRPCAP => q(1),
            regs::off::ENGCAP => q(1),
            // NOOP, DRAIN, MEMMOVE, MEMFILL.
            regs::off::OPCAP => q(0x1d),
            regs::off::TABLE_OFFSET => q(VT_GRPCFG | (VT_WQCFG << 16) | (VT_MSIX_PERM << 32)),
            regs::off::GENCFG => q(u64::from(st.gencfg)),
            regs::off::GENCTRL => q(u64::from(st.genctrl)),
            regs::off::GENSTS => q(u64::from(st.enabled)),
            regs::off::INTCAUSE => q(u64::from(st.intcause)),
            regs::off::CMDSTS => q(u64::from(st.cmdsts)),
            // Commands 1 to 14.
            regs::off::CMDCAP => q(0x7ffe),
            o if (regs::off::SWERR..regs::off::SWERR + 32).contains(&o) => {
                q(st.swerr[(o - regs::off::SWERR) / 8])
            }
            _ if (perm..perm + 4 * NUM_VECTORS as usize).contains(&off) => {
                st.msix_perm[(off - perm) / 4]
            }
            _ if (grpcfg..grpcfg + 64).contains(&off) => st.grpcfg[(off - grpcfg) / 4],
            _ if (wqcfg..wqcfg + regs::wqcfg::SIZE).contains(&off) => {
                let i = (off - wqcfg) / 4;
                if i == regs::wqcfg::OCCUP_IDX {
                    u32::from(st.wq_enabled) << regs::wqcfg::STATE_SHIFT
                } else {
                    st.wqcfg[i]
                }
            }
            _ => 0,
        }
    }

    fn wr32(&self, st: &mut VState, off: usize, v: u32) {
        let wqcfg = (VT_WQCFG as usize) * regs::TABLE_MULT;
        let grpcfg = (VT_GRPCFG as usize) * regs::TABLE_MULT;
        let perm = (VT_MSIX_PERM as usize) * regs::TABLE_MULT;
        match off {
            regs::off::GENCFG if !st.enabled => st.gencfg = v,
            regs::off::GENCTRL => st.genctrl = v & 0x7,
            regs::off::INTCAUSE => st.intcause &= !v,
            regs::off::CMD => self.command(st, v),
            o if o == regs::off::SWERR => {
                st.swerr[0] &= !(u64::from(v) & regs::swerr::ACK);
            }
            _ if (perm..perm + 4 * NUM_VECTORS as usize).contains(&off) => {
                st.msix_perm[(off - perm) / 4] = v;
            }
            _ if (grpcfg..grpcfg + 64).contains(&off) && !st.enabled => {
                st.grpcfg[(off - grpcfg) / 4] = v;
            }
            _ if (wqcfg..wqcfg + regs::wqcfg::SIZE).contains(&off) && !st.wq_enabled => {
                let i = (off - wqcfg) / 4;
                if i != regs::wqcfg::OCCUP_IDX {
                    st.wqcfg[i] = v;
                }
            }
            // Read-only or unknown registers, and writes in the wrong state, are ignored, as
            // the device ignores them.
            _ => {}
        }
    }

    /// Runs a command written to CMD; every command completes at once.
    fn command(&self, st: &mut VState, v: u32) {
        let code = (v >> cmd::CODE_SHIFT) & cmd::CODE_MASK;
        let operand = v & cmd::OPERAND_MASK;
        let (err, result): (u8, u16) = match code {
            cmd::ENABLE_DEVICE if st.enabled => (cmdsts::ERR_DEV_ENABLED, 0),
            cmd::ENABLE_DEVICE => {
                st.enabled = true;
                (cmdsts::SUCCESS, 0)
            }
            cmd::DISABLE_DEVICE | cmd::RESET_DEVICE => {
                self.release_handles(st);
                if code == cmd::RESET_DEVICE {
                    st.reset();
                } else {
                    st.enabled = false;
                    st.wq_enabled = false;
                }
                (cmdsts::SUCCESS, 0)
            }
            // ENABLE_WQ names the WQ by index, the others by a bitmap (WQ 0 only).
            cmd::ENABLE_WQ if operand != 0 => (cmdsts::INVAL_WQIDX, 0),
            cmd::DISABLE_WQ | cmd::DRAIN_WQ | cmd::ABORT_WQ | cmd::RESET_WQ
                if operand != cmd::wq_operand(0) =>
            {
                (cmdsts::INVAL_WQIDX, 0)
            }
            cmd::ENABLE_WQ => self.enable_wq(st),
            cmd::DISABLE_WQ | cmd::RESET_WQ => {
                st.wq_enabled = false;
                (cmdsts::SUCCESS, 0)
            }
            // Descriptors run synchronously: nothing is ever in flight.
            cmd::DRAIN_WQ | cmd::ABORT_WQ | cmd::DRAIN_ALL | cmd::ABORT_ALL => (cmdsts::SUCCESS, 0),
            cmd::DRAIN_PASID | cmd::ABORT_PASID => (cmdsts::SUCCESS, 0),
            cmd::REQUEST_INT_HANDLE => {
                let k = operand & 0xffff;
                if operand & cmd::INT_HANDLE_IMS != 0 || k >= NUM_VECTORS {
                    (cmdsts::ERR_INVAL_INT_IDX, 0)
                } else {
                    st.granted |= 1 << k;
                    // CAST: below `NUM_VECTORS`.
                    (cmdsts::SUCCESS, k as u16)
                }
            }
            cmd::RELEASE_INT_HANDLE => {
                let k = operand & 0xffff;
                if operand & cmd::INT_HANDLE_IMS != 0 || k >= NUM_VECTORS {
                    (cmdsts::ERR_INVAL_INT_IDX, 0)
                } else {
                    st.granted &= !(1 << k);
                    (cmdsts::SUCCESS, 0)
                }
            }
            _ => (cmdsts::INVAL_CMD, 0),
        };
        st.cmdsts = u32::from(err) | (u32::from(result) << cmdsts::RES_SHIFT);
        if v & cmd::INT_REQ != 0 {
            st.intcause |= regs::intcause::CMD;
            self.vectors.trigger(0);
        }
    }

    fn enable_wq(&self, st: &mut VState) -> (u8, u16) {
        if !st.enabled {
            return (cmdsts::ERR_DEV_NOTEN, 0);
        }
        if st.wq_enabled {
            return (cmdsts::ERR_WQ_ENABLED, 0);
        }
        let cfg = regs::WqCfg::from_words(st.wqcfg);
        if cfg.size == 0 || cfg.size > self.wq.0 .0.cfg.size {
            return (cmdsts::ERR_WQ_SIZE, 0);
        }
        if !cfg.dedicated {
            return (cmdsts::ERR_WQ_MODE, 0);
        }
        if st.grpcfg[0] & 1 == 0 {
            return (cmdsts::ERR_GRP_CONFIG, 0);
        }
        st.wq_enabled = true;
        (cmdsts::SUCCESS, 0)
    }

    fn release_handles(&self, st: &mut VState) {
        st.granted = 0;
    }

    /// The host interrupt handle that raises guest vector `k`: `None` if the vector has no
    /// IMS backing (no eventfd, or the emulated vector 0), so the descriptor raises
    /// nothing. Granted by the host device on the vector's first use.
    fn host_handle(&self, k: u16) -> Result<Option<u16>> {
        self.vectors.with_backing(u32::from(k), |slot| {
            let mut handles = self.handles.lock();
            let (Some(slot), Some(handle)) = (slot, handles.get_mut(usize::from(k))) else {
                return Ok(None);
            };
            if handle.is_none() {
                // CAST: IMS slots are below 2048.
                *handle = Some(self.hw.request_int_handle(slot as u16, true)?);
            }
            Ok(*handle)
        })
    }

    // ---- BAR2: descriptors ----

    /// Executes one descriptor written to the portal.
    fn execute(&self, dev: &vfio::Device<Vdcm>, words: [u64; 8]) {
        let _submit = self.submit.lock();
        let d = UserDesc::parse(words);
        let (ready, granted) = {
            let st = self.state.lock();
            (st.enabled && st.wq_enabled, st.granted)
        };
        let outcome = if !ready {
            Some(Outcome::Dropped)
        } else {
            self.check(&d, granted).err()
        };
        let outcome = match outcome {
            Some(o) => Some(o),
            None => self.run(dev, &d).err(),
        };
        match outcome {
            None => {
                self.completed.fetch_add(1, Ordering::Relaxed);
            }
            Some(Outcome::Status(status, addr)) => {
                self.log("descriptor failed before the device");
                self.complete(dev, &d, status, addr);
            }
            Some(Outcome::Dropped) => self.log("descriptor to a disabled WQ dropped"),
            Some(Outcome::Swerr(code, addr)) => {
                self.log("software error");
                let mut st = self.state.lock();
                self.swerr(&mut st, code, d.op, addr);
            }
        }
    }

    /// Checks what the device would check before it starts.
    fn check(&self, d: &UserDesc, granted: u32) -> core::result::Result<(), Outcome> {
        if d.flags & (op_flag::CRAV | op_flag::RCR) != op_flag::CRAV | op_flag::RCR {
            return Err(Outcome::Swerr(comp::INVALID_FLAGS, 0));
        }
        if d.cr % regs::COMP_RECORD_ALIGN as u64 != 0 {
            return Err(Outcome::Swerr(comp::CRA_ALIGN, d.cr));
        }
        // Flags that name further addresses (destination readback, ...) or that the mediated
        // model does not offer (block on fault, batch continuation) are refused.
        let bad = d.flags & !ALLOWED_FLAGS;
        if bad != 0 {
            return Err(Outcome::Status(comp::INVALID_FLAGS, u64::from(bad)));
        }
        if d.flags & op_flag::RCI != 0
            && (u32::from(d.handle) >= NUM_VECTORS || granted & (1 << d.handle) == 0)
        {
            return Err(Outcome::Status(comp::INT_HANDLE_INVAL, 0));
        }
        match d.op {
            opcode::NOOP | opcode::DRAIN => Ok(()),
            opcode::MEMMOVE | opcode::MEMFILL => {
                if d.size == 0 || u64::from(d.size) > 1 << MAX_XFER_SHIFT {
                    Err(Outcome::Status(comp::XFER_ERANGE, 0))
                } else {
                    Ok(())
                }
            }
            _ => Err(Outcome::Status(comp::BAD_OPCODE, 0)),
        }
    }

    /// Writes a completion record with `status` and raises the completion interrupt, for a
    /// descriptor that never reached the device.
    fn complete(&self, dev: &vfio::Device<Vdcm>, d: &UserDesc, status: u8, addr: u64) {
        let mut rec = [0u8; 32];
        rec[0] = status;
        rec[8..16].copy_from_slice(&addr.to_le_bytes());
        if dev.dma_write(d.cr, &rec).is_err() {
            let mut st = self.state.lock();
            self.swerr(&mut st, comp::CRA_XLAT, d.op, d.cr);
            return;
        }
        if d.flags & op_flag::RCI != 0 {
            self.vectors.trigger(u32::from(d.handle));
        }
    }

    /// Pins, maps and submits a checked descriptor, and waits for the device to complete it.
    fn run(&self, dev: &vfio::Device<Vdcm>, d: &UserDesc) -> core::result::Result<(), Outcome> {
        const PAGE: u64 = kernel::page::PAGE_SIZE as u64;
        let pin = |iova: u64, len: u64, write: bool| {
            // A range that wraps around the address space is mapped nowhere.
            let end = iova.checked_add(len - 1).ok_or(EFAULT)?;
            let first = iova & !(PAGE - 1);
            let last = end & !(PAGE - 1);
            // CAST: at most 17 pages (64 KiB and an offset), checked by `check`.
            let n = ((last - first) / PAGE + 1) as usize;
            dev.pin_pages(first, n, write)
        };
        // The completion record: the device writes it; if it cannot be pinned there is no
        // record to report in.
        let cr = pin(d.cr, 32, true).map_err(|_| Outcome::Swerr(comp::CRA_XLAT, d.cr))?;
        let (src, dst) = match d.op {
            opcode::MEMMOVE => {
                let len = u64::from(d.size);
                let s = pin(d.src, len, false)
                    .map_err(|_| Outcome::Status(comp::PAGE_FAULT_NOBOF, d.src))?;
                let t = pin(d.dst, len, true)
                    .map_err(|_| Outcome::Status(comp::PAGE_FAULT_NOBOF, d.dst))?;
                (Some(s), Some(t))
            }
            opcode::MEMFILL => {
                let len = u64::from(d.size);
                let t = pin(d.dst, len, true)
                    .map_err(|_| Outcome::Status(comp::PAGE_FAULT_NOBOF, d.dst))?;
                (None, Some(t))
            }
            _ => (None, None),
        };
        let handle = if d.flags & op_flag::RCI != 0 {
            self.host_handle(d.handle)
                .map_err(|_| Outcome::Swerr(comp::HW_ERR1, 0))?
        } else {
            None
        };
        // The record's status byte is the completion signal: clear it first.
        dev.dma_write(d.cr, &[0])
            .map_err(|_| Outcome::Swerr(comp::CRA_XLAT, d.cr))?;
        let res = self.dma_dev.with_bound(|pdev| {
            let off = |iova: u64| (iova & (PAGE - 1)) as usize;
            let cr_map = cr.map(pdev, off(d.cr), 32, true)?;
            let len = d.size as usize;
            let src_map = src
                .as_ref()
                .map(|p| p.map(pdev, off(d.src), len, false))
                .transpose()?;
            let dst_map = dst
                .as_ref()
                .map(|p| p.map(pdev, off(d.dst), len, true))
                .transpose()?;
            let mut w = d.words;
            // The WQ's PASID applies (dedicated); no privilege.
            w[0] &= !0x800f_ffffu64;
            let mut flags = d.flags;
            if handle.is_none() {
                flags &= !op_flag::RCI;
            }
            w[0] = (w[0] & !(u64::from(op_flag::MASK) << 32)) | (u64::from(flags) << 32);
            w[1] = cr_map.dma_addr();
            if let Some(m) = &src_map {
                w[2] = m.dma_addr();
            }
            if let Some(m) = &dst_map {
                w[3] = m.dma_addr();
            }
            w[4] = u64::from(d.size) | (u64::from(handle.unwrap_or(0)) << 32);
            // Only the fields of the supported operations go through: a drain's readback
            // addresses, say, are never handed to the device untranslated.
            match d.op {
                opcode::MEMMOVE => w[5..].fill(0),
                opcode::MEMFILL => w[6..].fill(0),
                _ => {
                    w[2..4].fill(0);
                    w[4] &= !0xffff_ffff;
                    w[5..].fill(0);
                }
            }
            self.hw.write_portal(self.wq.0 .0.id, &w)?;
            let done = poll(
                || {
                    let mut b = [0u8; 1];
                    dev.dma_read(d.cr, &mut b).map(|()| b[0])
                },
                |s| *s != comp::NONE,
                Delta::from_micros(20),
                Delta::from_millis(DESC_TIMEOUT_MS),
            );
            if done.is_err() {
                // Never unmap under a device still at work: abort the WQ's queue first.
                let _ = self.hw.cmd(cmd::ABORT_WQ, cmd::wq_operand(self.wq.0 .0.id));
            }
            done.map(|_| ())
        });
        res.map_err(|e| {
            if e == EFAULT {
                Outcome::Status(comp::TRANSLATION_FAIL, d.src)
            } else {
                Outcome::Swerr(comp::HW_ERR1, 0)
            }
        })
    }
}

#[vtable]
impl vfio::Driver for Vdcm {
    const NAME: &'static CStr = c"idxd-vdcm";

    fn close(dev: &vfio::Device<Self>) {
        dev.vectors.disable(&dev.hooks());
        *dev.notify.lock() = Notify::default();
        let mut st = dev.state.lock();
        dev.release_handles(&mut st);
        st.reset();
    }

    fn info(_dev: &vfio::Device<Self>) -> DeviceInfo {
        DeviceInfo {
            flags: device_flags::PCI | device_flags::RESET,
            num_regions: vpci::NUM_REGIONS,
            num_irqs: vpci::NUM_IRQS,
        }
    }

    fn region_info(
        _dev: &vfio::Device<Self>,
        index: u32,
        _caps: &mut Caps<'_>,
    ) -> Result<RegionInfo> {
        let rw = region_flags::READ | region_flags::WRITE;
        Ok(match index {
            i if i == vpci::bar_region(0) => RegionInfo {
                flags: rw,
                size: VBAR0_SIZE,
            },
            i if i == vpci::bar_region(2) => RegionInfo {
                flags: region_flags::WRITE,
                size: VBAR2_SIZE,
            },
            vpci::CONFIG_REGION => RegionInfo {
                flags: rw,
                size: CFG_SIZE as u64,
            },
            _ => RegionInfo::default(),
        })
    }

    fn irq_info(_dev: &vfio::Device<Self>, index: u32) -> Result<IrqInfo> {
        Ok(match index {
            vpci::MSIX_IRQ => IrqInfo {
                flags: irq_flags::EVENTFD,
                count: NUM_VECTORS,
            },
            vpci::ERR_IRQ | vpci::REQ_IRQ => IrqInfo {
                flags: irq_flags::EVENTFD,
                count: 1,
            },
            _ => IrqInfo::default(),
        })
    }

    fn set_irqs(dev: &vfio::Device<Self>, set: IrqSet<'_>) -> Result {
        match set.index {
            vpci::MSIX_IRQ => dev.vectors.set_irqs(&set, &dev.hooks()),
            vpci::ERR_IRQ | vpci::REQ_IRQ => {
                let mut n = dev.notify.lock();
                let slot = if set.index == vpci::ERR_IRQ {
                    &mut n.err
                } else {
                    &mut n.req
                };
                match (set.action, set.data) {
                    (IrqAction::Trigger, IrqData::None) if set.count == 0 => *slot = None,
                    (IrqAction::Trigger, IrqData::EventFd(fds)) => {
                        *slot = match fds[0] {
                            -1 => None,
                            fd => Some(EventFd::from_fd(fd)?),
                        };
                    }
                    (IrqAction::Trigger, IrqData::None) => {
                        if let Some(e) = slot {
                            e.signal();
                        }
                    }
                    (IrqAction::Trigger, IrqData::Bool(b)) => {
                        if let (Some(e), true) = (slot.as_ref(), b[0] != 0) {
                            e.signal();
                        }
                    }
                    _ => return Err(ENOTTY),
                }
                Ok(())
            }
            _ => Err(EINVAL),
        }
    }

    fn reset(dev: &vfio::Device<Self>) -> Result {
        let mut st = dev.state.lock();
        dev.release_handles(&mut st);
        st.reset();
        Ok(())
    }

    fn read(dev: &vfio::Device<Self>, index: u32, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let st = dev.state.lock();
        match index {
            vpci::CONFIG_REGION => {
                let off = usize::try_from(offset).map_err(|_| EINVAL)?;
                let end = off
                    .checked_add(buf.len())
                    .filter(|&e| e <= CFG_SIZE)
                    .ok_or(EINVAL)?;
                buf.copy_from_slice(&st.cfg[off..end]);
                Ok(buf.len())
            }
            i if i == vpci::bar_region(0) => {
                let off = mmio_offset(offset, buf.len(), VBAR0_SIZE)?;
                let lo = dev.rd32(&st, off);
                buf[..4].copy_from_slice(&lo.to_le_bytes());
                if buf.len() == 8 {
                    let hi = dev.rd32(&st, off + 4);
                    buf[4..].copy_from_slice(&hi.to_le_bytes());
                }
                Ok(buf.len())
            }
            _ => Err(EINVAL),
        }
    }

    fn write(dev: &vfio::Device<Self>, index: u32, offset: u64, buf: &[u8]) -> Result<usize> {
        match index {
            vpci::CONFIG_REGION => {
                let off = usize::try_from(offset).map_err(|_| EINVAL)?;
                off.checked_add(buf.len())
                    .filter(|&e| e <= CFG_SIZE)
                    .ok_or(EINVAL)?;
                dev.state.lock().cfg_write(off, buf);
                Ok(buf.len())
            }
            i if i == vpci::bar_region(0) => {
                let off = mmio_offset(offset, buf.len(), VBAR0_SIZE)?;
                let mut st = dev.state.lock();
                let mut w = [0u8; 4];
                w.copy_from_slice(&buf[..4]);
                dev.wr32(&mut st, off, u32::from_le_bytes(w));
                if buf.len() == 8 {
                    w.copy_from_slice(&buf[4..]);
                    dev.wr32(&mut st, off + 4, u32::from_le_bytes(w));
                }
                Ok(buf.len())
            }
            i if i == vpci::bar_region(2) => {
                if offset >= VBAR2_SIZE {
                    return Err(EINVAL);
                }
                let le = |b: &[u8]| {
                    let mut q = [0u8; 8];
                    q.copy_from_slice(b);
                    u64::from_le_bytes(q)
                };
                let slot = offset & !(regs::DESC_SIZE as u64 - 1);
                let words = match buf.len() {
                    // A whole descriptor in one write.
                    regs::DESC_SIZE if offset == slot => {
                        let mut words = [0u64; 8];
                        for (i, w) in words.iter_mut().enumerate() {
                            *w = le(&buf[i * 8..i * 8 + 8]);
                        }
                        Some(words)
                    }
                    // One qword of it, as a VMM forwards a guest's 64-byte store; the
                    // descriptor goes to the device when its eight qwords are in.
                    8 if offset % 8 == 0 => {
                        let mut p = dev.partial.lock();
                        if p.2 != 0 && p.0 != slot {
                            // A new slot: the partial descriptor is dropped, as a device
                            // drops a torn 64-byte store.
                            p.2 = 0;
                        }
                        let q = ((offset - slot) / 8) as usize;
                        p.0 = slot;
                        p.1[q] = le(buf);
                        p.2 |= 1 << q;
                        if p.2 == 0xff {
                            p.2 = 0;
                            Some(p.1)
                        } else {
                            None
                        }
                    }
                    _ => return Err(EINVAL),
                };
                if let Some(words) = words {
                    dev.execute(dev, words);
                }
                Ok(buf.len())
            }
            _ => Err(EINVAL),
        }
    }

    fn request(dev: &vfio::Device<Self>, count: u32) {
        match &dev.notify.lock().req {
            Some(e) => e.signal(),
            None if count == 0 => {
                dev_info!(
                    dev.device(),
                    "no REQ eventfd: waiting for the user to close\n"
                )
            }
            None => {}
        }
    }

    fn dma_unmap(dev: &vfio::Device<Self>, _iova: u64, _len: u64) {
        // Pages are pinned only while a descriptor runs: wait for it.
        drop(dev.submit.lock());
    }
}

/// Checks a BAR0 access: 4 or 8 bytes, naturally aligned, within the BAR.
fn mmio_offset(offset: u64, len: usize, size: u64) -> Result<usize> {
    if (len != 4 && len != 8) || offset % len as u64 != 0 || offset + len as u64 > size {
        return Err(EINVAL);
    }
    usize::try_from(offset).map_err(|_| EINVAL)
}
