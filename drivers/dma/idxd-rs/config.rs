// SPDX-License-Identifier: GPL-2.0

//! The idxd configuration ABI: the `dsa` bus and its devices.
//!
//! Each DSA function gets a device `dsaN` on the `dsa` bus, and under it one device per group
//! (`groupN.M`), engine (`engineN.M`) and work queue (`wqN.M`), whose attributes hold the
//! configuration (`Documentation/ABI/stable/sysfs-driver-dma-idxd`). Binding `dsaN` to the
//! bus driver `idxd` writes the groups and WQ configuration to the device and enables it;
//! binding a WQ to `dmaengine` enables it as a DMA engine channel whose completions arrive on
//! an IMS vector, binding it to `user` enables it behind the character device
//! `/dev/dsa/wqN.M`. Unbinding disables, and disabling the device unbinds its WQs first.
//! This is what `accel-config` drives.

use crate::{
    cdev::{UserCdev, UserWq},
    regs::{self, cmd, GrpCfg, WqCfg},
    wq::{Wq, WqChan, WqIrq},
    DsaIms, Hw, IDXD_BUS,
};
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    bus::{self, Attr, AttrBuf, DeviceType, Input},
    dev_err, dev_info, dev_warn, device, dmaengine,
    irq::{
        self,
        ims::{ImsDomain, ImsIrq, ImsUser},
        msi,
    },
    kstrtox::Radix,
    miscdevice::{MiscDeviceRegistration, MISC_MAJOR},
    new_mutex, new_spinlock,
    prelude::*,
    str::{CStr, CString},
    sync::{aref::ARef, Arc, Mutex, SpinLock},
};

/// The name of the bus driver that enables a device.
pub(crate) const DRV_IDXD: &CStr = c"idxd";
/// The name of the bus driver that enables a kernel WQ as a DMA engine channel.
pub(crate) const DRV_DMAENGINE: &CStr = c"dmaengine";
/// The name of the bus driver that enables a user WQ behind its character device.
pub(crate) const DRV_USER: &CStr = c"user";
/// The bus driver of WQs reserved for VFIO users (mdevs).
pub(crate) const DRV_MDEV: &CStr = c"mdev";

/// The longest WQ name, in bytes (as the C driver).
const WQ_NAME_SIZE: usize = 1024;
/// The longest WQ driver name, in bytes (as the C driver).
const DRIVER_NAME_SIZE: usize = 128;
/// The highest WQ priority.
const MAX_PRIORITY: u8 = 0xf;

/// Software command status codes (`enum idxd_scmd_stat` in `uapi/linux/idxd.h`), reported in
/// `cmd_status` when the driver, not the device, refuses a request.
mod scmd {
    pub(crate) const DEV_ENABLED: u32 = 0x8000_0010;
    pub(crate) const DEV_NOT_ENABLED: u32 = 0x8000_0020;
    pub(crate) const WQ_ENABLED: u32 = 0x8000_0021;
    pub(crate) const WQ_NO_GRP: u32 = 0x8003_0000;
    pub(crate) const WQ_NO_SVM: u32 = 0x8005_0000;
    pub(crate) const WQ_NO_NAME: u32 = 0x8004_0000;
    pub(crate) const WQ_RES_ALLOC_ERR: u32 = 0x8008_0000;
    pub(crate) const DMA_CHAN_ERR: u32 = 0x800a_0000;
    pub(crate) const CDEV_ERR: u32 = 0x800b_0000;
    pub(crate) const WQ_NONE_CONFIGURED: u32 = 0x800d_0000;
    pub(crate) const WQ_NO_SIZE: u32 = 0x800e_0000;
    pub(crate) const WQ_IRQ_ERR: u32 = 0x8010_0000;
    pub(crate) const WQ_NO_DRV_NAME: u32 = 0x8020_0000;
}

/// What a WQ is for (`type`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum WqType {
    None,
    Kernel,
    User,
    /// Reserved for a mediated device (`mdev`).
    Mdev,
}

impl WqType {
    fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Kernel => "kernel",
            Self::User => "user",
            Self::Mdev => "mdev",
        }
    }
}

/// The configuration of a group.
#[derive(Clone, Copy, Default)]
struct GroupConf {
    rdbufs_reserved: u8,
    rdbufs_allowed: u8,
    use_rdbuf_limit: bool,
    tc_a: u8,
    tc_b: u8,
    desc_progress_limit: u8,
    batch_progress_limit: u8,
}

/// Where the completion interrupts of a kernel WQ come from.
enum WqVector {
    /// An IMS vector of the WQ's device, which is a user of the IMS domain.
    Ims {
        _user: ImsUser<DsaIms>,
        irq: ImsIrq<DsaIms>,
    },
    /// MSI-X vector `1 + id` of the PCI function, on a device without IMS (a virtual DSA).
    /// Its handler ([`crate::MsixWqIrq`]) was requested at probe and finds the WQ in
    /// [`Shared::active_wq`].
    Msix,
}

/// An enabled WQ, and what its enablement holds.
enum Active {
    /// Bound to `dmaengine`: a DMA engine channel completing on an IMS or MSI-X vector.
    Kernel {
        wq: Arc<Wq>,
        chan: dmaengine::DynChan<WqChan>,
        vector: WqVector,
    },
    /// Bound to `user`: the character device.
    User {
        wq: Arc<UserWq>,
        cdev: Pin<KBox<MiscDeviceRegistration<UserCdev>>>,
    },
    /// Bound to `mdev`: reserved for a mediated device, which enables the hardware WQ.
    #[cfg(CONFIG_INTEL_IDXD_RS_VDCM)]
    Mdev { wq: Arc<crate::vdcm::MdevWq> },
}

/// The configuration of a WQ.
struct WqConf {
    size: u16,
    threshold: u16,
    priority: u8,
    group: Option<u32>,
    dedicated: bool,
    bof: bool,
    ats_disable: bool,
    prs_disable: bool,
    ty: WqType,
    name: KVec<u8>,
    driver_name: KVec<u8>,
    /// Log2 of the maximum transfer size.
    max_xfer_shift: u8,
    /// Log2 of the maximum batch size.
    max_batch_shift: u8,
    /// The WQ's device (`wqN.M`), from probe until the instance shuts down.
    dev: Option<ARef<device::Device>>,
    active: Option<Active>,
}

/// The configuration of a device and its state.
struct Conf {
    /// The IMS domain, which goes with the PCI device's binding; `None` if the device has
    /// no IMS, and kernel WQs complete on MSI-X vectors.
    ims: Option<Arc<ImsDomain<DsaIms>>>,
    /// The DMA engine device, from probe until unbind: each enabled kernel WQ is one of its
    /// channels, `dma<K>chan<M>`.
    dma: Option<dmaengine::Registration<WqChan>>,
    enabled: bool,
    rdbuf_limit: u16,
    groups: KVec<GroupConf>,
    /// The group of each engine.
    engines: KVec<Option<u32>>,
    wqs: KVec<WqConf>,
}

/// The part of a device that its bus devices, interrupts and channels share.
#[pin_data]
pub(crate) struct Shared {
    pub(crate) hw: Arc<Hw>,
    /// The instance number: the `N` of `dsaN`.
    pub(crate) id: u32,
    /// Set once every bus device of the instance is added: until then no driver binds them,
    /// so that they stay disabled until user space enables them.
    ready: AtomicBool,
    #[pin]
    conf: Mutex<Conf>,
    /// The enabled kernel WQs, for the misc interrupt.
    #[pin]
    active: SpinLock<KVec<Option<Arc<Wq>>>>,
    /// The WQ bus devices, to unbind them when the device is disabled.
    #[pin]
    wq_devs: Mutex<KVec<ARef<device::Device>>>,
}

/// Whether two driver names are the same.
fn same(a: &CStr, b: &CStr) -> bool {
    a.to_bytes() == b.to_bytes()
}

// The parsers of the attributes, as the C driver's `store` callbacks parse their input: with
// `kstrto*()` in the base the C driver uses (10 for most, 0 for `threshold` and the maximum
// sizes), and, as the C driver does, `EINVAL` for any malformed or out-of-range number.

/// An unsigned decimal number (`kstrtoul(buf, 10)`).
fn dec(input: &Input<'_>) -> Result<u64> {
    input.parse(Radix::Dec).map_err(|_| EINVAL)
}

/// A signed decimal number (`kstrtol(buf, 10)`).
fn dec_signed(input: &Input<'_>) -> Result<i64> {
    input.parse(Radix::Dec).map_err(|_| EINVAL)
}

/// An unsigned number in decimal, `0x` hex or `0` octal (`kstrtou64(buf, 0)`).
fn any_base(input: &Input<'_>) -> Result<u64> {
    input.parse(Radix::Auto).map_err(|_| EINVAL)
}

/// A small field's value, `v` if it is in `0..=max`.
fn in_range(v: i64, max: u8) -> Result<u8> {
    u8::try_from(v).ok().filter(|v| *v <= max).ok_or(EINVAL)
}

/// A value that must fit the narrower type `T` once checked against its own bound.
fn narrow<T: TryFrom<u64>>(v: u64) -> Result<T> {
    T::try_from(v).map_err(|_| EINVAL)
}

/// A group ID: `-1` (none) or an index below `max` (`kstrtol(buf, 10)`).
fn parse_group(input: &Input<'_>, max: u32) -> Result<Option<u32>> {
    match dec_signed(input)? {
        -1 => Ok(None),
        g if (0..i64::from(max)).contains(&g) => Ok(Some(narrow(g.unsigned_abs())?)),
        _ => Err(EINVAL),
    }
}

/// A boolean that may be true only if the device has the feature (`EOPNOTSUPP`).
fn parse_feature(input: &Input<'_>, supported: bool) -> Result<bool> {
    let v = input.parse_bool()?;
    if v && !supported {
        return Err(EOPNOTSUPP);
    }
    Ok(v)
}

/// A size from 2 to `max`, in any base; returns log2 of it rounded up to a power of two.
fn parse_size(input: &Input<'_>, max: u64) -> Result<u8> {
    let v = any_base(input)?;
    if v < 2 || v > max {
        return Err(EINVAL);
    }
    Ok(order(v))
}

/// Log2 of `n` rounded up to a power of two.
fn order(n: u64) -> u8 {
    // CAST: at most 64.
    (64 - n.saturating_sub(1).leading_zeros()) as u8
}

/// A name of 1 to `max` bytes, without surrounding whitespace (as the C driver's `strim()`).
fn parse_name(input: &Input<'_>, max: usize) -> Result<KVec<u8>> {
    let s = input.text()?.trim();
    if s.is_empty() || s.len() > max {
        return Err(EINVAL);
    }
    let mut v = KVec::with_capacity(s.len(), GFP_KERNEL)?;
    v.extend_from_slice(s.as_bytes(), GFP_KERNEL)?;
    Ok(v)
}

fn write_group(out: &mut AttrBuf<'_>, g: Option<u32>) -> Result {
    match g {
        Some(g) => writeln!(out, "{g}")?,
        None => writeln!(out, "-1")?,
    }
    Ok(())
}

impl Shared {
    /// Makes the shared state of the device behind `hw`, instance `id`, owning `ims` (if the
    /// device has IMS).
    pub(crate) fn new(
        hw: Arc<Hw>,
        id: u32,
        ims: Option<Arc<ImsDomain<DsaIms>>>,
    ) -> Result<Arc<Self>> {
        let caps = dmaengine::Caps::MEMCPY | dmaengine::Caps::MEMSET | dmaengine::Caps::INTERRUPT;
        let dma = dmaengine::Registration::new(hw.dev(), caps, KVec::new(), GFP_KERNEL)?;
        let nwqs = usize::from(hw.wqcap.num_wqs());
        // WQs are dedicated unless the device has only shared ones.
        let dedicated = hw.wqcap.dedicated_mode() || !hw.wqcap.shared_mode();
        let mut groups = KVec::with_capacity(usize::from(hw.grpcap.num_groups()), GFP_KERNEL)?;
        for _ in 0..u32::from(hw.grpcap.num_groups()) {
            groups.push(GroupConf::default(), GFP_KERNEL)?;
        }
        let mut engines = KVec::with_capacity(usize::from(hw.engcap.num_engines()), GFP_KERNEL)?;
        for _ in 0..u32::from(hw.engcap.num_engines()) {
            engines.push(None, GFP_KERNEL)?;
        }
        let mut wqs = KVec::with_capacity(nwqs, GFP_KERNEL)?;
        let mut active = KVec::with_capacity(nwqs, GFP_KERNEL)?;
        for _ in 0..nwqs {
            wqs.push(
                WqConf {
                    size: 0,
                    threshold: 0,
                    priority: 0,
                    group: None,
                    dedicated,
                    bof: false,
                    ats_disable: false,
                    prs_disable: false,
                    ty: WqType::None,
                    name: KVec::new(),
                    driver_name: KVec::new(),
                    // CAST: 5- and 4-bit fields.
                    max_xfer_shift: u8::from(hw.gencap.max_xfer_shift()),
                    max_batch_shift: u8::from(hw.gencap.max_batch_shift()),
                    dev: None,
                    active: None,
                },
                GFP_KERNEL,
            )?;
            active.push(None, GFP_KERNEL)?;
        }
        Arc::pin_init(
            pin_init!(Self {
                hw,
                id,
                ready: AtomicBool::new(false),
                conf <- new_mutex!(Conf {
                    ims,
                    dma: Some(dma),
                    enabled: false,
                    rdbuf_limit: 0,
                    groups,
                    engines,
                    wqs,
                }, "idxd::Shared::conf"),
                active <- new_spinlock!(active, "idxd::Shared::active"),
                wq_devs <- new_mutex!(KVec::new(), "idxd::Shared::wq_devs"),
            }),
            GFP_KERNEL,
        )
    }

    fn dev(&self) -> &device::Device {
        self.hw.dev()
    }

    /// Lets the bus drivers bind the instance's devices (they are all added).
    pub(crate) fn set_ready(&self, wq_devs: KVec<ARef<device::Device>>) {
        for (w, dev) in self.conf.lock().wqs.iter_mut().zip(wq_devs.iter()) {
            w.dev = Some(dev.clone());
        }
        *self.wq_devs.lock() = wq_devs;
        self.ready.store(true, Ordering::Release);
    }

    /// Stops binding, and lets go of the DMA engine device and the WQ devices: the instance
    /// is going away. Every bus device is deleted (so unbound) by then.
    pub(crate) fn shut_down(&self) {
        self.ready.store(false, Ordering::Release);
        // Dropped outside the locks: the last reference releases the device.
        let devs = core::mem::take(&mut *self.wq_devs.lock());
        drop(devs);
        let dma = {
            let mut c = self.conf.lock();
            for w in c.wqs.iter_mut() {
                w.dev = None;
            }
            c.dma.take()
        };
        drop(dma);
    }

    /// The enabled kernel WQ `wq`, if any.
    pub(crate) fn active_wq(&self, wq: usize) -> Option<Arc<Wq>> {
        self.active.lock().get(wq).and_then(|w| w.clone())
    }

    /// The number of WQs of the device.
    pub(crate) fn num_wqs(&self) -> usize {
        usize::from(self.hw.wqcap.num_wqs())
    }

    fn fail(&self, status: u32, err: Error) -> Error {
        self.hw.set_cmd_status(status);
        err
    }

    /// Writes the configuration to the device and enables it (binding `dsaN` to `idxd`).
    fn enable_device(&self) -> Result {
        let hw = &self.hw;
        let mut c = self.conf.lock();
        if c.enabled {
            return Err(self.fail(scmd::DEV_ENABLED, EBUSY));
        }

        let mut grps = KVec::with_capacity(c.groups.len(), GFP_KERNEL)?;
        for g in c.groups.iter() {
            grps.push(
                GrpCfg {
                    flags: regs::GroupFlags {
                        tc_a: g.tc_a,
                        tc_b: g.tc_b,
                        use_rdbuf_limit: g.use_rdbuf_limit,
                        rdbufs_reserved: g.rdbufs_reserved,
                        rdbufs_allowed: g.rdbufs_allowed,
                        desc_progress_limit: g.desc_progress_limit,
                        batch_progress_limit: g.batch_progress_limit,
                    },
                    ..Default::default()
                },
                GFP_KERNEL,
            )?;
        }
        for (i, w) in c.wqs.iter().enumerate() {
            if let (Some(g), true) = (w.group, w.size > 0) {
                grps[g as usize].add_wq(i);
            }
        }
        for (e, g) in c.engines.iter().enumerate() {
            if let Some(g) = g {
                grps[*g as usize].add_engine(e);
            }
        }
        // As the C driver: something to run, and an engine for every group that has work.
        if grps.iter().all(|g| g.wqs == [0; 4]) {
            return Err(self.fail(scmd::WQ_NONE_CONFIGURED, EINVAL));
        }
        if let Some(g) = grps.iter().position(|g| g.wqs != [0; 4] && g.engines == 0) {
            dev_warn!(
                self.dev(),
                "dsa{}: group{}.{g} has WQs but no engine\n",
                self.id,
                self.id
            );
            return Err(self.fail(scmd::WQ_NO_GRP, EINVAL));
        }

        hw.write_gencfg(c.rdbuf_limit)?;
        for (g, grp) in grps.iter().enumerate() {
            for (i, q) in grp.to_qwords().iter().enumerate() {
                hw.w64(*q, regs::grpcfg::offset(hw.table.grpcfg_offset(), g, i * 8))?;
            }
        }
        for (i, w) in c.wqs.iter().enumerate() {
            // CAST: fewer WQs than `WQCAP::num_wqs`, an 8-bit field.
            hw.write_wqcfg(i as u32, w.hw_cfg(w.group.is_some()))?;
        }
        hw.w32(
            regs::genctrl::SOFTERR_INT_EN | regs::genctrl::HALT_INT_EN,
            regs::off::GENCTRL,
        )?;
        hw.cmd(cmd::ENABLE_DEVICE, 0)?;
        c.enabled = true;
        dev_info!(self.dev(), "dsa{} enabled\n", self.id);
        Ok(())
    }

    /// Unbinds the WQs and disables the device (unbinding `dsaN` from `idxd`).
    fn disable_device(&self) {
        self.conf.lock().enabled = false;
        // No WQ can be enabled now; unbind those that are. The WQ devices' locks come after
        // the device's, which the driver core holds here.
        {
            let devs = self.wq_devs.lock();
            for dev in devs.iter() {
                bus::release_driver(dev);
            }
        }
        let c = self.conf.lock();
        for (i, w) in c.wqs.iter().enumerate() {
            if w.active.is_some() {
                dev_warn!(self.dev(), "wq{}.{i} still enabled\n", self.id);
            }
        }
        let _ = self.hw.quiesce();
        dev_info!(self.dev(), "dsa{} disabled\n", self.id);
    }

    /// Enables WQ `id` for `driver` (binding `wqN.M` to `dmaengine` or `user`).
    fn enable_wq(&self, id: usize, driver: &CStr) -> Result {
        let hw = &self.hw;
        let mut c = self.conf.lock();
        if !c.enabled {
            return Err(self.fail(scmd::DEV_NOT_ENABLED, ENXIO));
        }
        let Conf { ims, dma, wqs, .. } = &mut *c;
        let w = &mut wqs[id];
        if w.active.is_some() {
            return Err(self.fail(scmd::WQ_ENABLED, EBUSY));
        }
        let want = if same(driver, DRV_DMAENGINE) {
            WqType::Kernel
        } else if same(driver, DRV_MDEV) {
            WqType::Mdev
        } else {
            WqType::User
        };
        // As the C driver: a WQ of another type or driver name is not this driver's (ENODEV).
        if w.ty != want {
            dev_warn!(
                self.dev(),
                "wq{}.{id}: type {} cannot bind to {}\n",
                self.id,
                w.ty.name(),
                driver
            );
            return Err(self.fail(scmd::WQ_NO_DRV_NAME, ENODEV));
        }
        if w.driver_name.as_slice() != driver.to_bytes() {
            return Err(self.fail(scmd::WQ_NO_DRV_NAME, ENODEV));
        }
        // Shared WQs take ENQCMD(S) with a PASID: without SVA the driver cannot use them.
        if !w.dedicated {
            return Err(self.fail(scmd::WQ_NO_SVM, EOPNOTSUPP));
        }
        if w.size == 0 {
            return Err(self.fail(scmd::WQ_NO_SIZE, EINVAL));
        }
        if w.group.is_none() {
            return Err(self.fail(scmd::WQ_NO_GRP, EINVAL));
        }
        if w.name.is_empty() {
            return Err(self.fail(scmd::WQ_NO_NAME, EINVAL));
        }
        let dma = dma.as_ref().ok_or(ENODEV)?;
        let wq_dev = w.dev.clone().ok_or(ENODEV)?;
        let cfg = w.hw_cfg(true);
        // CAST: WQ indices are below `WQCAP::num_wqs`, an 8-bit field.
        let wq_id = id as u32;
        hw.write_wqcfg(wq_id, cfg)?;

        let active = match want {
            WqType::Kernel => Self::enable_kernel_wq(self, ims.as_ref(), &wq_dev, dma, wq_id, cfg)?,
            #[cfg(CONFIG_INTEL_IDXD_RS_VDCM)]
            WqType::Mdev => {
                let name = CString::try_from_fmt(format_args!("wq{}.{id}", self.id))?;
                let wq = crate::vdcm::MdevWq::new(hw.clone(), wq_id, name, cfg)
                    .map_err(|e| self.fail(scmd::WQ_RES_ALLOC_ERR, e))?;
                Active::Mdev { wq }
            }
            #[cfg(not(CONFIG_INTEL_IDXD_RS_VDCM))]
            WqType::Mdev => return Err(self.fail(scmd::WQ_NO_DRV_NAME, EOPNOTSUPP)),
            _ => {
                // Everything that can fail for want of memory comes before the WQ is enabled:
                // from then on each failure must disable it again.
                let uwq = UserWq::new(hw.clone(), wq_id, cfg)
                    .map_err(|e| self.fail(scmd::WQ_RES_ALLOC_ERR, e))?;
                let name = CString::try_from_fmt(format_args!("dsa/wq{}.{id}", self.id))
                    .map_err(|e| self.fail(scmd::CDEV_ERR, e))?;
                hw.cmd(cmd::ENABLE_WQ, wq_id)?;
                uwq.set_enabled(true);
                match KBox::pin_init(
                    MiscDeviceRegistration::register_with(
                        name,
                        Some(self.dev()),
                        0o600,
                        uwq.clone(),
                    ),
                    GFP_KERNEL,
                ) {
                    Ok(cdev) => Active::User { wq: uwq, cdev },
                    Err(e) => {
                        uwq.set_enabled(false);
                        hw.disable_wq(wq_id);
                        return Err(self.fail(scmd::CDEV_ERR, e));
                    }
                }
            }
        };
        w.active = Some(active);
        dev_info!(self.dev(), "wq{}.{id} enabled ({})\n", self.id, driver);
        Ok(())
    }

    /// Enables a kernel WQ and registers its DMA engine channel. With `ims`, the WQ completes
    /// on a fresh IMS vector of its own user, the WQ's device, carrying that device's cookie;
    /// without, on MSI-X vector `1 + id`.
    ///
    /// A kernel WQ submits without a PASID, so its device's cookie is 0: a slot with no PASID
    /// enable, raised for the WQ's untagged work.
    fn enable_kernel_wq(
        &self,
        ims: Option<&Arc<ImsDomain<DsaIms>>>,
        wq_dev: &device::Device,
        dma: &dmaengine::Registration<WqChan>,
        id: u32,
        cfg: WqCfg,
    ) -> Result<Active> {
        let hw = &self.hw;
        let wq = Wq::new(hw, id, cfg).map_err(|e| self.fail(scmd::WQ_RES_ALLOC_ERR, e))?;
        let (vector, handle) = match ims {
            Some(ims) => self.ims_vector(ims, wq_dev, &wq)?,
            None => {
                // CAST: WQ indices are below 64 (probe).
                let index = id as u16 + 1;
                let handle = hw
                    .request_int_handle(index, false)
                    .map_err(|e| self.fail(scmd::WQ_IRQ_ERR, e))?;
                (WqVector::Msix, handle)
            }
        };

        // Before the WQ takes work: the MSI-X handler finds the WQ here.
        self.active.lock()[id as usize] = Some(wq.clone());
        wq.set_enabled(true, handle);
        if let Err(e) = hw.cmd(cmd::ENABLE_WQ, id) {
            wq.set_enabled(false, 0);
            self.active.lock()[id as usize] = None;
            Self::release_vector(hw, vector, handle);
            return Err(e);
        }

        match dma.add_chan(WqChan(wq.clone())) {
            Ok(chan) => Ok(Active::Kernel { wq, chan, vector }),
            Err(e) => {
                self.stop_kernel_wq(&wq, vector);
                Err(self.fail(scmd::DMA_CHAN_ERR, e))
            }
        }
    }

    /// Allocates an IMS vector for `wq` from its device `wq_dev`, as a new user of `ims`,
    /// requests its interrupt and its handle.
    fn ims_vector(
        &self,
        ims: &Arc<ImsDomain<DsaIms>>,
        wq_dev: &device::Device,
        wq: &Arc<Wq>,
    ) -> Result<(WqVector, u16)> {
        let hw = &self.hw;
        msi::set_default_cookie(wq_dev, 0);
        let user = ims
            .add_user(wq_dev, 1)
            .map_err(|e| self.fail(scmd::WQ_IRQ_ERR, e))?;
        let vector = user
            .alloc(None, None)
            .map_err(|e| self.fail(scmd::WQ_IRQ_ERR, e))?;
        dev_info!(
            vector.device(),
            "IMS slot {} (irq {}), cookie {:#x}\n",
            vector.index(),
            vector.virq(),
            vector.cookie()
        );
        // CAST: IMS indices are below the 2048 slots of the device, so fit `u16`.
        let index = vector.index() as u16;
        let handle = hw
            .request_int_handle(index, true)
            .map_err(|e| self.fail(scmd::WQ_IRQ_ERR, e))?;
        match vector.request_threaded_irq(irq::Flags::ONESHOT, c"idxd-wq", WqIrq(wq.clone())) {
            Ok(irq) => Ok((WqVector::Ims { _user: user, irq }, handle)),
            Err(e) => {
                hw.release_int_handle(handle, true);
                Err(self.fail(scmd::WQ_IRQ_ERR, e))
            }
        }
    }

    /// Frees a WQ's interrupt, then its handle `handle`, then its IMS slot, if it has one.
    fn release_vector(hw: &Hw, vector: WqVector, handle: u16) {
        match vector {
            WqVector::Ims { _user, irq } => {
                let slot = irq.free_irq();
                hw.release_int_handle(handle, true);
                drop((slot, _user));
            }
            WqVector::Msix => hw.release_int_handle(handle, false),
        }
    }

    /// Disables the kernel WQ `wq` (the device finishes its work first), completes what is
    /// left and frees its interrupt and vector.
    fn stop_kernel_wq(&self, wq: &Wq, vector: WqVector) {
        let handle = wq.int_handle();
        // No recovery or abort from here on: the hardware WQ may be enabled for someone else.
        wq.stop();
        self.active.lock()[wq.id as usize] = None;
        Self::release_vector(&self.hw, vector, handle);
    }

    /// Disables WQ `id` (unbinding `wqN.M` from its driver).
    fn disable_wq(&self, id: usize) {
        let mut c = self.conf.lock();
        let Some(active) = c.wqs[id].active.take() else {
            return;
        };
        match active {
            Active::Kernel { wq, chan, vector } => {
                // Clients lose the channel first, then the WQ drains.
                drop(chan);
                self.active.lock()[id] = None;
                self.stop_kernel_wq(&wq, vector);
                dev_info!(
                    self.dev(),
                    "wq{}.{id} disabled: {} completed, {} failed\n",
                    self.id,
                    wq.completed.load(Ordering::Relaxed),
                    wq.failed.load(Ordering::Relaxed)
                );
            }
            Active::User { wq, cdev } => {
                drop(cdev);
                wq.set_enabled(false);
                self.hw.disable_wq(wq.id);
                dev_info!(self.dev(), "wq{}.{id} disabled\n", self.id);
            }
            #[cfg(CONFIG_INTEL_IDXD_RS_VDCM)]
            Active::Mdev { wq } => {
                wq.retire();
                dev_info!(self.dev(), "wq{}.{id} disabled\n", self.id);
            }
        }
    }

    /// Takes an enabled `mdev` WQ that no mdev has, for a new one.
    #[cfg(CONFIG_INTEL_IDXD_RS_VDCM)]
    pub(crate) fn take_mdev_wq(&self) -> Option<Arc<crate::vdcm::MdevWq>> {
        let c = self.conf.lock();
        c.wqs.iter().find_map(|w| match &w.active {
            Some(Active::Mdev { wq }) if wq.try_take() => Some(wq.clone()),
            _ => None,
        })
    }

    /// The number of enabled `mdev` WQs that no mdev has.
    #[cfg(CONFIG_INTEL_IDXD_RS_VDCM)]
    pub(crate) fn mdev_available(&self) -> u32 {
        let c = self.conf.lock();
        let n = c
            .wqs
            .iter()
            .filter(|w| matches!(&w.active, Some(Active::Mdev { wq }) if !wq.is_taken()))
            .count();
        // CAST: at most 64 WQs.
        n as u32
    }
}

impl WqConf {
    /// The WQCFG entry of this configuration; `in_group` false gives the WQ no room.
    fn hw_cfg(&self, in_group: bool) -> WqCfg {
        WqCfg {
            size: if in_group { self.size } else { 0 },
            threshold: self.threshold,
            dedicated: self.dedicated,
            bof: self.bof,
            ats_disable: self.ats_disable,
            prs_disable: self.prs_disable,
            priority: self.priority,
            max_xfer_shift: self.max_xfer_shift,
            max_batch_shift: self.max_batch_shift,
            ..Default::default()
        }
    }

    fn is_enabled(&self) -> bool {
        self.active.is_some()
    }
}

/// What a device on the `dsa` bus is.
pub(crate) enum Node {
    Device(Arc<Shared>),
    Group(Arc<Shared>, u32),
    Engine(Arc<Shared>, u32),
    Wq(Arc<Shared>, u32),
}

/// The attributes of the devices, by number.
mod attr {
    // dsaN
    pub(crate) const VERSION: u32 = 0;
    pub(crate) const STATE: u32 = 1;
    pub(crate) const CONFIGURABLE: u32 = 2;
    pub(crate) const MAX_WQS: u32 = 3;
    pub(crate) const MAX_WQS_SIZE: u32 = 4;
    pub(crate) const MAX_ENGINES: u32 = 5;
    pub(crate) const MAX_GROUPS: u32 = 6;
    pub(crate) const MAX_RDBUFS: u32 = 7;
    pub(crate) const MAX_XFER: u32 = 8;
    pub(crate) const MAX_BATCH: u32 = 9;
    pub(crate) const OP_CAP: u32 = 10;
    pub(crate) const GEN_CAP: u32 = 11;
    pub(crate) const PASID_ENABLED: u32 = 12;
    pub(crate) const RDBUF_LIMIT: u32 = 13;
    pub(crate) const CMD_STATUS: u32 = 14;
    pub(crate) const ERRORS: u32 = 15;
    pub(crate) const CLIENTS: u32 = 16;
    pub(crate) const IMS_SIZE: u32 = 17;
    pub(crate) const NUMA_NODE: u32 = 18;
    pub(crate) const CDEV_MAJOR: u32 = 19;
    // groupN.M
    pub(crate) const G_ENGINES: u32 = 100;
    pub(crate) const G_WQS: u32 = 101;
    pub(crate) const G_RDBUFS_RESERVED: u32 = 102;
    pub(crate) const G_RDBUFS_ALLOWED: u32 = 103;
    pub(crate) const G_USE_RDBUF_LIMIT: u32 = 104;
    pub(crate) const G_TC_A: u32 = 105;
    pub(crate) const G_TC_B: u32 = 106;
    pub(crate) const G_DESC_PROGRESS: u32 = 107;
    pub(crate) const G_BATCH_PROGRESS: u32 = 108;
    // engineN.M
    pub(crate) const E_GROUP: u32 = 200;
    // wqN.M
    pub(crate) const W_STATE: u32 = 300;
    pub(crate) const W_CLIENTS: u32 = 301;
    pub(crate) const W_GROUP: u32 = 302;
    pub(crate) const W_MODE: u32 = 303;
    pub(crate) const W_SIZE: u32 = 304;
    pub(crate) const W_PRIORITY: u32 = 305;
    pub(crate) const W_BOF: u32 = 306;
    pub(crate) const W_THRESHOLD: u32 = 307;
    pub(crate) const W_TYPE: u32 = 308;
    pub(crate) const W_NAME: u32 = 309;
    pub(crate) const W_DRIVER_NAME: u32 = 310;
    pub(crate) const W_CDEV_MINOR: u32 = 311;
    pub(crate) const W_MAX_XFER: u32 = 312;
    pub(crate) const W_MAX_BATCH: u32 = 313;
    pub(crate) const W_ATS_DISABLE: u32 = 314;
    pub(crate) const W_PRS_DISABLE: u32 = 315;
    pub(crate) const W_OCCUPANCY: u32 = 316;
}

/// The attributes of `dsaN`.
const DEVICE_ATTRS: &[Attr] = &[
    Attr::ro(c"version", attr::VERSION),
    Attr::ro(c"state", attr::STATE),
    Attr::ro(c"configurable", attr::CONFIGURABLE),
    Attr::ro(c"max_work_queues", attr::MAX_WQS),
    Attr::ro(c"max_work_queues_size", attr::MAX_WQS_SIZE),
    Attr::ro(c"max_engines", attr::MAX_ENGINES),
    Attr::ro(c"max_groups", attr::MAX_GROUPS),
    Attr::ro(c"max_read_buffers", attr::MAX_RDBUFS),
    Attr::ro(c"max_tokens", attr::MAX_RDBUFS),
    Attr::ro(c"max_transfer_size", attr::MAX_XFER),
    Attr::ro(c"max_batch_size", attr::MAX_BATCH),
    Attr::ro(c"op_cap", attr::OP_CAP),
    Attr::ro(c"gen_cap", attr::GEN_CAP),
    Attr::ro(c"pasid_enabled", attr::PASID_ENABLED),
    Attr::rw(c"read_buffer_limit", attr::RDBUF_LIMIT),
    Attr::rw(c"token_limit", attr::RDBUF_LIMIT),
    Attr::rw(c"cmd_status", attr::CMD_STATUS),
    Attr::ro(c"errors", attr::ERRORS),
    Attr::ro(c"clients", attr::CLIENTS),
    Attr::ro(c"ims_size", attr::IMS_SIZE),
    Attr::ro(c"numa_node", attr::NUMA_NODE),
    Attr::ro(c"cdev_major", attr::CDEV_MAJOR),
];

/// The attributes of `groupN.M`.
const GROUP_ATTRS: &[Attr] = &[
    Attr::ro(c"engines", attr::G_ENGINES),
    Attr::ro(c"work_queues", attr::G_WQS),
    Attr::rw(c"read_buffers_reserved", attr::G_RDBUFS_RESERVED),
    Attr::rw(c"tokens_reserved", attr::G_RDBUFS_RESERVED),
    Attr::rw(c"read_buffers_allowed", attr::G_RDBUFS_ALLOWED),
    Attr::rw(c"tokens_allowed", attr::G_RDBUFS_ALLOWED),
    Attr::rw(c"use_read_buffer_limit", attr::G_USE_RDBUF_LIMIT),
    Attr::rw(c"use_token_limit", attr::G_USE_RDBUF_LIMIT),
    Attr::rw(c"traffic_class_a", attr::G_TC_A),
    Attr::rw(c"traffic_class_b", attr::G_TC_B),
    Attr::rw(c"desc_progress_limit", attr::G_DESC_PROGRESS),
    Attr::rw(c"batch_progress_limit", attr::G_BATCH_PROGRESS),
];

/// The attributes of `engineN.M`.
const ENGINE_ATTRS: &[Attr] = &[Attr::rw(c"group_id", attr::E_GROUP)];

/// The attributes of `wqN.M`.
const WQ_ATTRS: &[Attr] = &[
    Attr::ro(c"state", attr::W_STATE),
    Attr::ro(c"clients", attr::W_CLIENTS),
    Attr::rw(c"group_id", attr::W_GROUP),
    Attr::rw(c"mode", attr::W_MODE),
    Attr::rw(c"size", attr::W_SIZE),
    Attr::rw(c"priority", attr::W_PRIORITY),
    Attr::rw(c"block_on_fault", attr::W_BOF),
    Attr::rw(c"threshold", attr::W_THRESHOLD),
    Attr::rw(c"type", attr::W_TYPE),
    Attr::rw(c"name", attr::W_NAME),
    Attr::rw(c"driver_name", attr::W_DRIVER_NAME),
    Attr::ro(c"cdev_minor", attr::W_CDEV_MINOR),
    Attr::rw(c"max_transfer_size", attr::W_MAX_XFER),
    Attr::rw(c"max_batch_size", attr::W_MAX_BATCH),
    Attr::rw(c"ats_disable", attr::W_ATS_DISABLE),
    Attr::rw(c"prs_disable", attr::W_PRS_DISABLE),
    Attr::ro(c"occupancy", attr::W_OCCUPANCY),
];

/// The device types of the `dsa` bus.
pub(crate) struct Types {
    pub(crate) device: Arc<DeviceType<Node>>,
    pub(crate) group: Arc<DeviceType<Node>>,
    pub(crate) engine: Arc<DeviceType<Node>>,
    pub(crate) wq: Arc<DeviceType<Node>>,
}

impl Types {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            device: DeviceType::new(c"dsa", DEVICE_ATTRS)?,
            group: DeviceType::new(c"group", GROUP_ATTRS)?,
            engine: DeviceType::new(c"engine", ENGINE_ATTRS)?,
            wq: DeviceType::new(c"wq", WQ_ATTRS)?,
        })
    }
}

/// The bus devices of one instance: added at probe, deleted (WQs first) at unbind.
pub(crate) struct BusDevices {
    shared: Arc<Shared>,
    /// In the order they were added: `dsaN` first.
    devs: KVec<Option<bus::Registration<Node>>>,
}

impl BusDevices {
    /// Adds `dsaN` under the PCI device and its groups, engines and WQs under it.
    pub(crate) fn add(shared: &Arc<Shared>, types: &Types) -> Result<Self> {
        let hw = &shared.hw;
        let id = shared.id;
        let mut this = Self {
            shared: shared.clone(),
            devs: KVec::new(),
        };
        let top = bus::Registration::new(
            &IDXD_BUS,
            hw.dev(),
            &types.device,
            format_args!("dsa{id}"),
            Node::Device(shared.clone()),
        )?;
        let parent = top.device_ref();
        this.devs.push(Some(top), GFP_KERNEL)?;

        // Adds a child of `dsaN`; returns a reference to the new device.
        let mut add = |ty: &Arc<DeviceType<Node>>, kind: &str, n: u32, node: Node| {
            let r = bus::Registration::new(
                &IDXD_BUS,
                &parent,
                ty,
                format_args!("{kind}{id}.{n}"),
                node,
            )?;
            let dev = r.device_ref();
            this.devs.push(Some(r), GFP_KERNEL)?;
            Ok::<_, Error>(dev)
        };
        for g in 0..u32::from(hw.grpcap.num_groups()) {
            add(&types.group, "group", g, Node::Group(shared.clone(), g))?;
        }
        for e in 0..u32::from(hw.engcap.num_engines()) {
            add(&types.engine, "engine", e, Node::Engine(shared.clone(), e))?;
        }
        let mut wq_devs = KVec::new();
        for w in 0..u32::from(hw.wqcap.num_wqs()) {
            let dev = add(&types.wq, "wq", w, Node::Wq(shared.clone(), w))?;
            wq_devs.push(dev, GFP_KERNEL)?;
        }
        shared.set_ready(wq_devs);
        Ok(this)
    }
}

impl Drop for BusDevices {
    fn drop(&mut self) {
        // Children before their parent, WQs (added last) first.
        for dev in self.devs.iter_mut().rev() {
            drop(dev.take());
        }
        self.shared.shut_down();
    }
}

impl Node {
    fn shared(&self) -> &Shared {
        match self {
            Self::Device(s) | Self::Group(s, _) | Self::Engine(s, _) | Self::Wq(s, _) => s,
        }
    }

    fn show_device(s: &Shared, id: u32, out: &mut AttrBuf<'_>) -> Result {
        let hw = &s.hw;
        match id {
            attr::VERSION => writeln!(out, "{:#x}", hw.version)?,
            attr::STATE => {
                let enabled = s.conf.lock().enabled;
                let halted = hw.gensts().is_some_and(|s| s.is_halted());
                let state = match (halted, enabled) {
                    (true, _) => "halted",
                    (false, true) => "enabled",
                    (false, false) => "disabled",
                };
                writeln!(out, "{state}")?
            }
            attr::CONFIGURABLE => writeln!(out, "{}", u8::from(hw.gencap.config_en()))?,
            attr::MAX_WQS => writeln!(out, "{}", u32::from(hw.wqcap.num_wqs()))?,
            attr::MAX_WQS_SIZE => writeln!(out, "{}", u32::from(hw.wqcap.total_wq_size()))?,
            attr::MAX_ENGINES => writeln!(out, "{}", u32::from(hw.engcap.num_engines()))?,
            attr::MAX_GROUPS => writeln!(out, "{}", u32::from(hw.grpcap.num_groups()))?,
            attr::MAX_RDBUFS => writeln!(out, "{}", u32::from(hw.grpcap.total_rdbufs()))?,
            attr::MAX_XFER => writeln!(out, "{}", hw.gencap.max_xfer_bytes())?,
            attr::MAX_BATCH => writeln!(out, "{}", hw.gencap.max_batch_size())?,
            attr::OP_CAP => {
                // Four 64-bit words, bits 0-63 first: the format `accel-config` 3.5 parses
                // (`"%lx %lx %lx %lx"`), as the C driver printed it before 6.5.
                let o = &hw.opcap.0;
                writeln!(out, "{:#x} {:#x} {:#x} {:#x}", o[0], o[1], o[2], o[3])?
            }
            attr::GEN_CAP => writeln!(out, "{:#x}", hw.gencap.into_raw())?,
            attr::PASID_ENABLED => writeln!(out, "0")?,
            attr::RDBUF_LIMIT => writeln!(out, "{}", s.conf.lock().rdbuf_limit)?,
            attr::CMD_STATUS => writeln!(out, "{:#x}", hw.cmd_status())?,
            attr::ERRORS => {
                let e = hw.last_swerr();
                writeln!(
                    out,
                    "{:#018x} {:#018x} {:#018x} {:#018x}",
                    e[0], e[1], e[2], e[3]
                )?
            }
            attr::CLIENTS => {
                let c = s.conf.lock();
                let n: u32 = c.wqs.iter().map(|w| w.clients()).sum();
                writeln!(out, "{n}")?
            }
            attr::IMS_SIZE => writeln!(out, "{}", hw.gencap.ims_slots())?,
            attr::NUMA_NODE => match hw.pdev.numa_node() {
                Some(node) => writeln!(out, "{node}")?,
                None => writeln!(out, "-1")?,
            },
            attr::CDEV_MAJOR => writeln!(out, "{}", MISC_MAJOR)?,
            _ => return Err(EINVAL),
        }
        Ok(())
    }

    fn store_device(s: &Shared, id: u32, input: &Input<'_>) -> Result {
        let hw = &s.hw;
        match id {
            attr::CMD_STATUS => {
                hw.set_cmd_status(0);
                Ok(())
            }
            attr::RDBUF_LIMIT => {
                let v = dec(input)?;
                let mut c = s.conf.lock();
                if c.enabled || !hw.gencap.config_en() {
                    return Err(EPERM);
                }
                if v != 0 && !hw.grpcap.rdbuf_limit() {
                    return Err(EOPNOTSUPP);
                }
                if v > u64::from(hw.grpcap.total_rdbufs()) {
                    return Err(EINVAL);
                }
                c.rdbuf_limit = narrow(v)?;
                Ok(())
            }
            _ => Err(EACCES),
        }
    }

    fn show_group(s: &Shared, g: u32, id: u32, out: &mut AttrBuf<'_>) -> Result {
        let c = s.conf.lock();
        let grp = &c.groups[g as usize];
        match id {
            attr::G_ENGINES => {
                for (e, eg) in c.engines.iter().enumerate() {
                    if *eg == Some(g) {
                        write!(out, "engine{}.{e} ", s.id)?;
                    }
                }
                writeln!(out)?
            }
            attr::G_WQS => {
                for (w, wq) in c.wqs.iter().enumerate() {
                    if wq.group == Some(g) {
                        write!(out, "wq{}.{w} ", s.id)?;
                    }
                }
                writeln!(out)?
            }
            attr::G_RDBUFS_RESERVED => writeln!(out, "{}", grp.rdbufs_reserved)?,
            attr::G_RDBUFS_ALLOWED => writeln!(out, "{}", grp.rdbufs_allowed)?,
            attr::G_USE_RDBUF_LIMIT => writeln!(out, "{}", u8::from(grp.use_rdbuf_limit))?,
            attr::G_TC_A => writeln!(out, "{}", grp.tc_a)?,
            attr::G_TC_B => writeln!(out, "{}", grp.tc_b)?,
            attr::G_DESC_PROGRESS => writeln!(out, "{}", grp.desc_progress_limit)?,
            attr::G_BATCH_PROGRESS => writeln!(out, "{}", grp.batch_progress_limit)?,
            _ => return Err(EINVAL),
        }
        Ok(())
    }

    fn store_group(s: &Shared, g: u32, id: u32, input: &Input<'_>) -> Result {
        let hw = &s.hw;
        let mut c = s.conf.lock();
        if c.enabled || !hw.gencap.config_en() {
            return Err(EPERM);
        }
        let total = u64::from(hw.grpcap.total_rdbufs());
        let grp = &mut c.groups[g as usize];
        match id {
            attr::G_RDBUFS_RESERVED | attr::G_RDBUFS_ALLOWED => {
                let v = dec(input)?;
                if v > total {
                    return Err(EINVAL);
                }
                // `narrow`: the field is 8 bits wide, as the device's total.
                if id == attr::G_RDBUFS_RESERVED {
                    grp.rdbufs_reserved = narrow(v)?;
                } else {
                    grp.rdbufs_allowed = narrow(v)?;
                }
            }
            attr::G_USE_RDBUF_LIMIT => {
                grp.use_rdbuf_limit = match dec(input)? {
                    0 => false,
                    1 => true,
                    _ => return Err(EINVAL),
                }
            }
            attr::G_TC_A | attr::G_TC_B => {
                let tc = in_range(dec_signed(input)?, 7)?;
                if id == attr::G_TC_A {
                    grp.tc_a = tc;
                } else {
                    grp.tc_b = tc;
                }
            }
            attr::G_DESC_PROGRESS | attr::G_BATCH_PROGRESS => {
                let v = dec_signed(input)?;
                if !hw.grpcap.progress_limit() {
                    return Err(EOPNOTSUPP);
                }
                let limit = in_range(v, 3)?;
                if id == attr::G_DESC_PROGRESS {
                    grp.desc_progress_limit = limit;
                } else {
                    grp.batch_progress_limit = limit;
                }
            }
            _ => return Err(EACCES),
        }
        Ok(())
    }

    fn show_wq(s: &Shared, w: u32, id: u32, out: &mut AttrBuf<'_>) -> Result {
        let c = s.conf.lock();
        let wq = &c.wqs[w as usize];
        match id {
            attr::W_STATE => {
                let state = if wq.is_enabled() {
                    "enabled"
                } else {
                    "disabled"
                };
                writeln!(out, "{state}")?
            }
            attr::W_CLIENTS => writeln!(out, "{}", wq.clients())?,
            attr::W_GROUP => write_group(out, wq.group)?,
            attr::W_MODE => {
                let mode = if wq.dedicated { "dedicated" } else { "shared" };
                writeln!(out, "{mode}")?
            }
            attr::W_SIZE => writeln!(out, "{}", wq.size)?,
            attr::W_PRIORITY => writeln!(out, "{}", wq.priority)?,
            attr::W_BOF => writeln!(out, "{}", u8::from(wq.bof))?,
            attr::W_THRESHOLD => writeln!(out, "{}", wq.threshold)?,
            attr::W_TYPE => writeln!(out, "{}", wq.ty.name())?,
            attr::W_NAME => {
                out.write_str(core::str::from_utf8(&wq.name).map_err(|_| EINVAL)?)?;
                writeln!(out)?
            }
            attr::W_DRIVER_NAME => {
                out.write_str(core::str::from_utf8(&wq.driver_name).map_err(|_| EINVAL)?)?;
                writeln!(out)?
            }
            attr::W_CDEV_MINOR => match &wq.active {
                Some(Active::User { cdev, .. }) => writeln!(out, "{}", cdev.minor())?,
                _ => return Err(ENXIO),
            },
            attr::W_MAX_XFER => writeln!(out, "{}", regs::pow2(wq.max_xfer_shift))?,
            attr::W_MAX_BATCH => writeln!(out, "{}", regs::pow2(wq.max_batch_shift))?,
            attr::W_ATS_DISABLE => writeln!(out, "{}", u8::from(wq.ats_disable))?,
            attr::W_PRS_DISABLE => writeln!(out, "{}", u8::from(wq.prs_disable))?,
            attr::W_OCCUPANCY => {
                if !s.hw.wqcap.occupancy() {
                    return Err(EOPNOTSUPP);
                }
                writeln!(out, "{}", s.hw.wq_occupancy(w)?)?
            }
            _ => return Err(EINVAL),
        }
        Ok(())
    }

    fn store_wq(s: &Shared, w: u32, id: u32, input: &Input<'_>) -> Result {
        let hw = &s.hw;
        let mut c = s.conf.lock();
        if !hw.gencap.config_en() {
            return Err(EPERM);
        }
        let dev_enabled = c.enabled;
        // The room the other WQs take, for a new size.
        // At most 64 WQs (checked at probe) of 16-bit sizes: the sum cannot overflow.
        let others: u64 = if id == attr::W_SIZE {
            c.wqs
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != w as usize)
                .map(|(_, q)| u64::from(q.size))
                .sum()
        } else {
            0
        };
        let wq = &mut c.wqs[w as usize];
        if wq.is_enabled() {
            return Err(EPERM);
        }
        match id {
            attr::W_GROUP => {
                if dev_enabled {
                    return Err(EPERM);
                }
                wq.group = parse_group(input, u32::from(hw.grpcap.num_groups()))?;
            }
            attr::W_MODE => {
                if input.is("dedicated") {
                    wq.dedicated = true;
                    wq.threshold = 0;
                } else if input.is("shared") {
                    if !hw.wqcap.shared_mode() {
                        return Err(EOPNOTSUPP);
                    }
                    wq.dedicated = false;
                } else {
                    return Err(EINVAL);
                }
            }
            attr::W_SIZE => {
                if dev_enabled {
                    return Err(EPERM);
                }
                let v = dec(input)?;
                // `v` is any `u64`: the sum is checked, and so is the narrowing (the total
                // WQ size is a 16-bit field, but the device reports it).
                match v.checked_add(others) {
                    Some(sum) if sum <= u64::from(hw.wqcap.total_wq_size()) => {}
                    _ => return Err(EINVAL),
                }
                wq.size = narrow(v)?;
            }
            attr::W_PRIORITY => {
                let v = dec(input)?;
                if v > u64::from(MAX_PRIORITY) {
                    return Err(EINVAL);
                }
                wq.priority = narrow(v)?;
            }
            attr::W_BOF => wq.bof = parse_feature(input, hw.gencap.block_on_fault())?,
            attr::W_THRESHOLD => {
                // `kstrtouint(buf, 0)`, as the C driver.
                let v: u32 = input.parse(Radix::Auto).map_err(|_| EINVAL)?;
                if v > u32::from(wq.size) {
                    return Err(EINVAL);
                }
                // Only shared WQs use it; dedicated ones accept 0.
                if v != 0 && wq.dedicated {
                    return Err(EINVAL);
                }
                wq.threshold = narrow(u64::from(v))?;
            }
            attr::W_TYPE => {
                wq.ty = if input.is("none") {
                    WqType::None
                } else if input.is("kernel") {
                    WqType::Kernel
                } else if input.is("user") {
                    WqType::User
                } else if input.is("mdev") {
                    WqType::Mdev
                } else {
                    return Err(EINVAL);
                };
            }
            attr::W_NAME => wq.name = parse_name(input, WQ_NAME_SIZE)?,
            attr::W_DRIVER_NAME => wq.driver_name = parse_name(input, DRIVER_NAME_SIZE)?,
            attr::W_MAX_XFER => wq.max_xfer_shift = parse_size(input, hw.gencap.max_xfer_bytes())?,
            attr::W_MAX_BATCH => {
                wq.max_batch_shift = parse_size(input, u64::from(hw.gencap.max_batch_size()))?
            }
            attr::W_ATS_DISABLE => {
                wq.ats_disable = parse_feature(input, hw.wqcap.wq_ats_support())?
            }
            attr::W_PRS_DISABLE => {
                wq.prs_disable = parse_feature(input, hw.wqcap.wq_prs_support())?
            }
            _ => return Err(EACCES),
        }
        Ok(())
    }
}

impl WqConf {
    fn clients(&self) -> u32 {
        match &self.active {
            Some(Active::User { wq, .. }) => wq.clients(),
            Some(Active::Kernel { wq, .. }) => u32::from(wq.has_client()),
            #[cfg(CONFIG_INTEL_IDXD_RS_VDCM)]
            Some(Active::Mdev { wq }) => u32::from(wq.is_taken()),
            None => 0,
        }
    }
}

impl bus::Node for Node {
    fn matches(&self, driver: &CStr) -> bool {
        if !self.shared().ready.load(Ordering::Acquire) {
            return false;
        }
        match self {
            Self::Device(_) => same(driver, DRV_IDXD),
            Self::Wq(..) => {
                same(driver, DRV_DMAENGINE) || same(driver, DRV_USER) || same(driver, DRV_MDEV)
            }
            _ => false,
        }
    }

    fn probe(&self, driver: &CStr) -> Result {
        match self {
            Self::Device(s) => s.enable_device().inspect_err(|e| {
                dev_err!(s.dev(), "dsa{}: enable failed: {:?}\n", s.id, e);
            }),
            Self::Wq(s, w) => s.enable_wq(*w as usize, driver),
            _ => Err(ENODEV),
        }
    }

    fn remove(&self, _driver: &CStr) {
        match self {
            Self::Device(s) => s.disable_device(),
            Self::Wq(s, w) => s.disable_wq(*w as usize),
            _ => {}
        }
    }

    fn show(&self, id: u32, out: &mut AttrBuf<'_>) -> Result {
        match self {
            Self::Device(s) => Self::show_device(s, id, out),
            Self::Group(s, g) => Self::show_group(s, *g, id, out),
            Self::Engine(s, e) => {
                let g = s.conf.lock().engines[*e as usize];
                write_group(out, g)
            }
            Self::Wq(s, w) => Self::show_wq(s, *w, id, out),
        }
    }

    fn store(&self, id: u32, input: &Input<'_>) -> Result {
        match self {
            Self::Device(s) => Self::store_device(s, id, input),
            Self::Group(s, g) => Self::store_group(s, *g, id, input),
            Self::Engine(s, e) => {
                let mut c = s.conf.lock();
                if c.enabled || !s.hw.gencap.config_en() {
                    return Err(EPERM);
                }
                c.engines[*e as usize] = parse_group(input, u32::from(s.hw.grpcap.num_groups()))?;
                Ok(())
            }
            Self::Wq(s, w) => Self::store_wq(s, *w, id, input),
        }
    }
}
