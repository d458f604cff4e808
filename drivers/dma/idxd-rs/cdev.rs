// SPDX-License-Identifier: GPL-2.0

//! User WQs: the character device `/dev/dsa/wqN.M` of a WQ bound to the `user` driver.
//!
//! A `write()` of whole 64-byte descriptors submits them to the WQ's portal, as the C driver's
//! `idxd_cdev_write()` does. The driver runs without PASIDs (no SVA), so the addresses in a
//! descriptor are I/O virtual addresses of the function's DMA domain, which user space cannot
//! safely name: opening the device needs `CAP_SYS_RAWIO`, as the C driver requires when PASID
//! is off. Descriptors that ask for a completion interrupt, or that the WQ cannot take (a bad
//! opcode, privileged or PASID fields, a full WQ), are refused before they reach the device.

use crate::{
    regs::{self, op_flag, opcode, WqCfg},
    Hw,
};
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{
    capability::{self, Cap},
    dev_warn,
    fs::{File, Kiocb},
    iov::IovIterSource,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    new_spinlock,
    prelude::*,
    sync::{Arc, SpinLock},
};

/// The descriptor fields a user may not set: PASID (bits 0-19) and privilege (bit 31) of the
/// first dword.
const PASID_PRIV_MASK: u64 = 0x800f_ffff;
/// Flags a user descriptor may not carry: a completion interrupt (the WQ has no vector).
const USER_FORBIDDEN_FLAGS: u32 = op_flag::RCI;
/// How many refused descriptors are logged per enablement of a WQ.
const REFUSED_LOG_BURST: u32 = 10;

/// A WQ enabled for user space.
#[pin_data]
pub(crate) struct UserWq {
    hw: Arc<Hw>,
    pub(crate) id: u32,
    cfg: WqCfg,
    /// Whether the WQ takes descriptors; held across each portal write, so that once it is
    /// cleared no write reaches the WQ (which may be enabled for the kernel next).
    #[pin]
    enabled: SpinLock<bool>,
    /// Open files.
    clients: AtomicU32,
    /// Descriptors submitted.
    pub(crate) submitted: AtomicU32,
    /// Descriptors refused.
    refused: AtomicU32,
}

impl UserWq {
    pub(crate) fn new(hw: Arc<Hw>, id: u32, cfg: WqCfg) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                hw,
                id,
                cfg,
                enabled <- new_spinlock!(false, "idxd::UserWq::enabled"),
                clients: AtomicU32::new(0),
                submitted: AtomicU32::new(0),
                refused: AtomicU32::new(0),
            }),
            GFP_KERNEL,
        )
    }

    /// Starts or stops taking descriptors; stopping waits for a write in progress.
    pub(crate) fn set_enabled(&self, enabled: bool) {
        *self.enabled.lock() = enabled;
    }

    fn is_enabled(&self) -> bool {
        *self.enabled.lock()
    }

    pub(crate) fn clients(&self) -> u32 {
        self.clients.load(Ordering::Relaxed)
    }

    /// Checks one user descriptor and returns it as the portal takes it, or why not.
    fn check(&self, mut words: [u64; 8]) -> core::result::Result<[u64; 8], &'static str> {
        // CAST: the opcode is the top byte of the first dword; flags its low 24 bits.
        let op = (words[0] >> 56) as u8;
        let flags = ((words[0] >> 32) as u32) & op_flag::MASK;
        if !self.hw.opcap.supports(op) || op == opcode::BATCH {
            return Err("opcode not supported");
        }
        if flags & USER_FORBIDDEN_FLAGS != 0 {
            return Err("completion interrupt requested");
        }
        if words[0] & PASID_PRIV_MASK != 0 {
            return Err("PASID or privilege set");
        }
        // A misaligned completion record confuses the device (as the C driver notes).
        if words[1] % regs::COMP_RECORD_ALIGN as u64 != 0 {
            return Err("misaligned completion record");
        }
        if op == opcode::MEMMOVE || op == opcode::MEMFILL {
            // CAST: the transfer size is the low dword of the fifth qword.
            let size = u64::from(words[4] as u32);
            if size > regs::pow2(self.cfg.max_xfer_shift) {
                return Err("transfer larger than max_transfer_size");
            }
        }
        words[0] &= !PASID_PRIV_MASK;
        Ok(words)
    }

    /// Logs why a descriptor was refused, for the first [`REFUSED_LOG_BURST`] refusals of
    /// this enablement; later ones are only counted.
    fn refused(&self, why: &str) -> Error {
        let n = self.refused.fetch_add(1, Ordering::Relaxed);
        if n < REFUSED_LOG_BURST {
            dev_warn!(
                self.hw.dev(),
                "wq{}: user descriptor refused: {why}\n",
                self.id
            );
        } else if n == REFUSED_LOG_BURST {
            dev_warn!(
                self.hw.dev(),
                "wq{}: further refusals are not logged\n",
                self.id
            );
        }
        EINVAL
    }

    fn submit(&self, words: &[u64; 8]) -> Result {
        let enabled = self.enabled.lock();
        if !*enabled {
            return Err(ENXIO);
        }
        // A dedicated WQ drops what it has no room for: refuse instead.
        if self.hw.wqcap.occupancy() && self.hw.wq_occupancy(self.id)? >= u32::from(self.cfg.size) {
            return Err(EAGAIN);
        }
        self.hw.write_portal(self.id, words)?;
        drop(enabled);
        self.submitted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// An open file of a user WQ.
pub(crate) struct UserFile(Arc<UserWq>);

impl Drop for UserFile {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The character device of a user WQ; its registration holds the WQ.
pub(crate) struct UserCdev;

#[vtable]
impl MiscDevice for UserCdev {
    type Ptr = KBox<UserFile>;
    type RegistrationData = Arc<UserWq>;

    fn open(_file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<KBox<UserFile>> {
        if !capability::capable(Cap::SYS_RAWIO) {
            return Err(EPERM);
        }
        let wq = misc.data();
        if !wq.is_enabled() {
            return Err(ENXIO);
        }
        let file = KBox::new(UserFile(wq.clone()), GFP_KERNEL)?;
        wq.clients.fetch_add(1, Ordering::Relaxed);
        Ok(file)
    }

    fn write_iter(kiocb: Kiocb<'_, KBox<UserFile>>, iov: &mut IovIterSource<'_>) -> Result<usize> {
        let wq = &kiocb.file().0;
        let len = iov.len();
        if len == 0 || len % regs::DESC_SIZE != 0 {
            return Err(EINVAL);
        }
        let mut done = 0;
        while done < len {
            let mut bytes = [0u8; regs::DESC_SIZE];
            let mut words = [0u64; 8];
            let res = if iov.copy_from_iter(&mut bytes) == regs::DESC_SIZE {
                // Indexing rather than `chunks_exact()`, whose panic path objtool does not
                // know.
                for (i, w) in words.iter_mut().enumerate() {
                    let mut le = [0u8; 8];
                    le.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
                    *w = u64::from_le_bytes(le);
                }
                wq.check(words)
                    .map_err(|why| wq.refused(why))
                    .and_then(|words| wq.submit(&words))
            } else {
                Err(EFAULT)
            };
            match res {
                Ok(()) => done += regs::DESC_SIZE,
                // What went before is submitted (even if the rest cannot be read): report
                // it, the caller retries the rest.
                Err(_) if done > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}
