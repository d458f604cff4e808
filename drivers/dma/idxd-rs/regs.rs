// SPDX-License-Identifier: GPL-2.0

//! Intel DSA hardware interface: MMIO register map, register bit fields, work descriptor and
//! completion record layouts.
//!
//! The facts come from Linux 6.12 (architecture registers and commands in
//! [`drivers/dma/idxd/registers.h`](srctree/drivers/dma/idxd/registers.h), descriptor and
//! completion record in [`include/uapi/linux/idxd.h`](srctree/include/uapi/linux/idxd.h)) and,
//! for IMS slots, interrupt handles, portals and the debug block, from the project's emulated
//! device (`tools/testing/qemu/docs/dsa.rst`).
//!
//! Everything here is plain data: offsets, bit-field getters over raw register values and
//! encoders producing the raw values to write. All multi-byte fields are little-endian; the
//! register accessors of [`kernel::io::Io`] do the byte order, so values here are native integers.

// This module mirrors the hardware ABI in full; not every item has a user in the driver.
#![allow(dead_code)]

use kernel::io::register;

/// Extracts `width` bits of `v` starting at bit `shift`.
const fn field(v: u64, shift: u32, width: u32) -> u64 {
    (v >> shift) & ((1u64 << width) - 1)
}

/// Returns bit `n` of `v`.
const fn bit(v: u64, n: u32) -> bool {
    (v >> n) & 1 != 0
}

/// `2^shift`, saturated at `u64::MAX` for a shift of 64 or more (a size field's log2).
pub(crate) const fn pow2(shift: u8) -> u64 {
    match 1u64.checked_shl(shift as u32) {
        Some(v) => v,
        None => u64::MAX,
    }
}

/// Returns `1 << n` if `set`, else 0.
const fn flag(set: bool, n: u32) -> u64 {
    (set as u64) << n
}

/// PCI BAR holding the MMIO registers, configuration tables, MSI-X and IMS tables.
pub(crate) const MMIO_BAR: u32 = 0;
/// PCI BAR holding the work queue portals.
pub(crate) const WQ_BAR: u32 = 2;
/// Size of BAR0 on the emulated device.
pub(crate) const BAR0_SIZE: usize = 0x1_0000;

/// VERSION register value of DSA 1.0 devices.
pub(crate) const DEVICE_VERSION_1: u32 = 0x100;
/// VERSION register value of DSA 2.0 devices.
pub(crate) const DEVICE_VERSION_2: u32 = 0x200;

/// Unit of the fields of the TABLE_OFFSET register, in bytes.
pub(crate) const TABLE_MULT: usize = 0x100;
/// Number of operation bits in OPCAP.
pub(crate) const MAX_OPCAP_BITS: u32 = 256;

/// Byte offsets of the BAR0 registers.
pub(crate) mod off {
    /// Version (32 bits, read-only).
    pub(crate) const VERSION: usize = 0x00;
    /// General capabilities (64 bits), see [`super::GENCAP`].
    pub(crate) const GENCAP: usize = 0x10;
    /// Work queue capabilities (64 bits), see [`super::WQCAP`].
    pub(crate) const WQCAP: usize = 0x20;
    /// Group capabilities (64 bits), see [`super::GRPCAP`].
    pub(crate) const GRPCAP: usize = 0x30;
    /// Engine capabilities (64 bits), see [`super::ENGCAP`].
    pub(crate) const ENGCAP: usize = 0x38;
    /// Operation capabilities: a 256-bit opcode bitmap in four 64-bit registers.
    pub(crate) const OPCAP: usize = 0x40;
    /// Number of 64-bit OPCAP registers.
    pub(crate) const OPCAP_COUNT: usize = 4;
    /// Table offsets, low qword (64 bits), see [`super::TABLE_OFFSET`].
    pub(crate) const TABLE_OFFSET: usize = 0x60;
    /// Table offsets, high qword: perfmon offset in bits 15:0.
    pub(crate) const TABLE_OFFSET_HI: usize = 0x68;
    /// General configuration (32 bits), see [`super::gencfg`].
    pub(crate) const GENCFG: usize = 0x80;
    /// General control (32 bits), see [`super::genctrl`].
    pub(crate) const GENCTRL: usize = 0x88;
    /// General status (32 bits), see [`super::GENSTS`].
    pub(crate) const GENSTS: usize = 0x90;
    /// Interrupt cause (32 bits, write 1 to clear), see [`super::intcause`].
    pub(crate) const INTCAUSE: usize = 0x98;
    /// Command (32 bits), see [`super::cmd()`].
    pub(crate) const CMD: usize = 0xa0;
    /// Command status (32 bits), see [`super::CMDSTS`].
    pub(crate) const CMDSTS: usize = 0xa8;
    /// Command capabilities (32 bits), see [`super::CmdCap`].
    pub(crate) const CMDCAP: usize = 0xb0;
    /// Software error: four 64-bit registers, see [`super::Swerr`].
    pub(crate) const SWERR: usize = 0xc0;
    /// Number of 64-bit SWERR registers.
    pub(crate) const SWERR_COUNT: usize = 4;

    /// Emulated device only: debug block identifier (32 bits), reads [`super::dbg::ID_VALUE`].
    pub(crate) const DBG_ID: usize = 0x1000;
    /// Emulated device only: fault injection (32 bits, write-only), see [`super::dbg::inject`].
    pub(crate) const DBG_INJECT: usize = 0x1008;
    /// Emulated device only: per-descriptor latency in microseconds (32 bits).
    pub(crate) const DBG_LATENCY: usize = 0x1010;
    /// Emulated device only: injected failures not yet consumed (32 bits, read-only).
    pub(crate) const DBG_FAIL_PENDING: usize = 0x1018;

    /// Offset of OPCAP register `i` (0..4).
    pub(crate) const fn opcap(i: usize) -> usize {
        OPCAP + 8 * i
    }

    /// Offset of SWERR register `i` (0..4).
    pub(crate) const fn swerr(i: usize) -> usize {
        SWERR + 8 * i
    }
}

register! {
    /// General capabilities (GENCAP).
    pub(crate) GENCAP(u64) @ 0x10 {
        /// Block on fault is supported.
        0:0 block_on_fault => bool;
        /// Overlapping memory move is supported.
        1:1 overlap_copy => bool;
        /// Cache control (destination written to memory) is supported.
        2:2 cache_control_mem => bool;
        /// Cache control (destination written to cache) is supported.
        3:3 cache_control_cache => bool;
        /// The CMDCAP register is implemented.
        4:4 cmd_cap => bool;
        /// Destination readback is supported.
        8:8 dest_readback => bool;
        /// Drain descriptor readback is supported.
        9:9 drain_readback => bool;
        /// Event log support.
        14:13 evl_support;
        /// Batch continuation is supported.
        15:15 batch_continuation => bool;
        /// Log2 of the maximum transfer size in bytes.
        20:16 max_xfer_shift;
        /// Log2 of the maximum number of descriptors in a batch.
        24:21 max_batch_shift;
        /// IMS size in units of [`ims::SLOTS_PER_MULT`] slots.
        30:25 max_ims_mult;
        /// Groups, engines and work queues are software-configurable.
        31:31 config_en => bool;
    }

    /// Work queue capabilities (WQCAP).
    pub(crate) WQCAP(u64) @ 0x20 {
        /// Total number of WQ entries shared by all work queues.
        15:0 total_wq_size;
        /// Number of work queues.
        23:16 num_wqs;
        /// Raw WQCFG size field; see [`WQCAP::wqcfg_bytes`].
        27:24 wqcfg_size;
        /// Shared work queues are supported.
        48:48 shared_mode => bool;
        /// Dedicated work queues are supported.
        49:49 dedicated_mode => bool;
        /// Per-WQ ATS disable is supported.
        50:50 wq_ats_support => bool;
        /// Work queue priority is supported.
        51:51 priority => bool;
        /// WQ occupancy is reported in WQCFG.
        52:52 occupancy => bool;
        /// WQ occupancy interrupt is supported.
        53:53 occupancy_int => bool;
        /// Per-WQ operation configuration is supported.
        54:54 op_config => bool;
        /// Per-WQ PRS disable is supported.
        55:55 wq_prs_support => bool;
    }

    /// Group capabilities (GRPCAP).
    pub(crate) GRPCAP(u64) @ 0x30 {
        /// Number of groups.
        7:0 num_groups;
        /// Total number of read buffers.
        15:8 total_rdbufs;
        /// Read buffer controls are supported.
        16:16 rdbuf_ctrl => bool;
        /// The global read buffer limit (GENCFG) is supported.
        17:17 rdbuf_limit => bool;
        /// Descriptor and batch progress limits are supported.
        18:18 progress_limit => bool;
    }

    /// Engine capabilities (ENGCAP).
    pub(crate) ENGCAP(u64) @ 0x38 {
        /// Number of engines.
        7:0 num_engines;
    }

    /// Table offsets (TABLE_OFFSET, low qword); each field counts units of [`TABLE_MULT`]
    /// bytes.
    pub(crate) TABLE_OFFSET(u64) @ 0x60 {
        /// GRPCFG table offset.
        15:0 grpcfg;
        /// WQCFG table offset.
        31:16 wqcfg;
        /// MSI-X permission table offset.
        47:32 msix_perm;
        /// IMS table offset.
        63:48 ims;
    }

    /// General status (GENSTS).
    pub(crate) GENSTS(u32) @ 0x90 {
        /// Device state, see [`gensts`].
        1:0 state;
        /// The kind of reset that last took place, see [`gensts`].
        3:2 reset_type;
    }

    /// Command status (CMDSTS).
    pub(crate) CMDSTS(u32) @ 0xa8 {
        /// Error code of the last command, see [`cmdsts`].
        7:0 err;
        /// Result of the last command (REQUEST_INT_HANDLE: the handle).
        23:8 result;
        /// A command is running.
        31:31 active => bool;
    }
}

impl GENCAP {
    /// Maximum transfer size in bytes.
    pub(crate) fn max_xfer_bytes(self) -> u64 {
        1u64 << self.max_xfer_shift().get()
    }

    /// Maximum number of descriptors in a batch.
    pub(crate) fn max_batch_size(self) -> u32 {
        1u32 << self.max_batch_shift().get()
    }

    /// Number of IMS slots.
    pub(crate) fn ims_slots(self) -> u32 {
        u32::from(self.max_ims_mult()) * ims::SLOTS_PER_MULT
    }
}

impl WQCAP {
    /// Size in bytes of one WQCFG entry: `1 << (wqcfg_size + 5)`.
    pub(crate) fn wqcfg_bytes(self) -> usize {
        1usize << (u32::from(self.wqcfg_size()) + wqcfg::MIN_SHIFT)
    }
}

impl TABLE_OFFSET {
    /// Byte offset of the GRPCFG table.
    pub(crate) fn grpcfg_offset(self) -> usize {
        usize::from(self.grpcfg()) * TABLE_MULT
    }

    /// Byte offset of the WQCFG table.
    pub(crate) fn wqcfg_offset(self) -> usize {
        usize::from(self.wqcfg()) * TABLE_MULT
    }

    /// Byte offset of the MSI-X permission table.
    pub(crate) fn msix_perm_offset(self) -> usize {
        usize::from(self.msix_perm()) * TABLE_MULT
    }

    /// Byte offset of the IMS table.
    pub(crate) fn ims_offset(self) -> usize {
        usize::from(self.ims()) * TABLE_MULT
    }
}

impl GENSTS {
    /// The device is enabled.
    pub(crate) fn is_enabled(self) -> bool {
        self.state() == gensts::STATE_ENABLED
    }

    /// The device is halted.
    pub(crate) fn is_halted(self) -> bool {
        self.state() == gensts::STATE_HALT
    }
}

/// Operation capabilities (OPCAP): bit `n` set means opcode `n` is supported.
#[derive(Clone, Copy)]
pub(crate) struct OpCap(pub(crate) [u64; 4]);

impl OpCap {
    /// Returns whether `opcode` (see [`opcode`]) is supported.
    pub(crate) const fn supports(&self, opcode: u8) -> bool {
        bit(self.0[(opcode / 64) as usize], (opcode % 64) as u32)
    }
}

/// General configuration (GENCFG) bits; writable only while the device is disabled.
pub(crate) mod gencfg {
    /// Global read buffer limit, bits 7:0.
    pub(crate) const RDBUF_LIMIT_MASK: u32 = 0xff;
    /// User-mode interrupts enable.
    pub(crate) const USER_INT_EN: u32 = 1 << 12;
    /// Event log enable.
    pub(crate) const EVL_EN: u32 = 1 << 13;
}

/// General control (GENCTRL) bits.
pub(crate) mod genctrl {
    /// Interrupt on software error.
    pub(crate) const SOFTERR_INT_EN: u32 = 1 << 0;
    /// Interrupt on device halt.
    pub(crate) const HALT_INT_EN: u32 = 1 << 1;
    /// Interrupt on event log entry.
    pub(crate) const EVL_INT_EN: u32 = 1 << 2;
}

pub(crate) mod gensts {
    /// Device disabled.
    pub(crate) const STATE_DISABLED: u32 = 0;
    /// Device enabled.
    pub(crate) const STATE_ENABLED: u32 = 1;
    /// Device draining.
    pub(crate) const STATE_DRAIN: u32 = 2;
    /// Device halted.
    pub(crate) const STATE_HALT: u32 = 3;

    /// Halted: a software reset (RESET_DEVICE command) recovers.
    pub(crate) const RESET_SOFTWARE: u32 = 0;
    /// Halted: a function level reset is needed.
    pub(crate) const RESET_FLR: u32 = 1;
    /// Halted: a warm reset is needed.
    pub(crate) const RESET_WARM: u32 = 2;
    /// Halted: a cold reset is needed.
    pub(crate) const RESET_COLD: u32 = 3;
}

/// Interrupt cause (INTCAUSE) bits; write 1 to clear.
pub(crate) mod intcause {
    /// A software error was recorded in SWERR.
    pub(crate) const ERR: u32 = 0x01;
    /// A command requesting an interrupt completed.
    pub(crate) const CMD: u32 = 0x02;
    /// WQ occupancy interrupt.
    pub(crate) const OCCUPY: u32 = 0x04;
    /// Performance counter overflow.
    pub(crate) const PERFMON_OVFL: u32 = 0x08;
    /// The device entered the halt state.
    pub(crate) const HALT_STATE: u32 = 0x10;
    /// Event log entry written.
    pub(crate) const EVL: u32 = 0x20;
    /// Interrupt handles were revoked and must be requested again.
    pub(crate) const INT_HANDLE_REVOKED: u32 = 0x8000_0000;
}

/// Command codes and operand encodings for the CMD register.
pub(crate) mod cmd {
    /// Enable the device.
    pub(crate) const ENABLE_DEVICE: u32 = 1;
    /// Disable the device.
    pub(crate) const DISABLE_DEVICE: u32 = 2;
    /// Wait for all queued work to complete.
    pub(crate) const DRAIN_ALL: u32 = 3;
    /// Discard all queued work.
    pub(crate) const ABORT_ALL: u32 = 4;
    /// Reset the device's configuration and state.
    pub(crate) const RESET_DEVICE: u32 = 5;
    /// Enable one WQ; operand is the WQ index.
    pub(crate) const ENABLE_WQ: u32 = 6;
    /// Disable WQs; operand from [`wq_operand`].
    pub(crate) const DISABLE_WQ: u32 = 7;
    /// Drain WQs; operand from [`wq_operand`].
    pub(crate) const DRAIN_WQ: u32 = 8;
    /// Abort WQs; operand from [`wq_operand`].
    pub(crate) const ABORT_WQ: u32 = 9;
    /// Reset WQs; operand from [`wq_operand`].
    pub(crate) const RESET_WQ: u32 = 10;
    /// Drain the work of one PASID; operand is the PASID.
    pub(crate) const DRAIN_PASID: u32 = 11;
    /// Abort the work of one PASID; operand is the PASID.
    pub(crate) const ABORT_PASID: u32 = 12;
    /// Request an interrupt handle; operand from [`int_handle_operand`], handle in the result.
    pub(crate) const REQUEST_INT_HANDLE: u32 = 13;
    /// Release an interrupt handle; operand from [`int_handle_operand`].
    pub(crate) const RELEASE_INT_HANDLE: u32 = 14;

    /// Operand field mask, bits 19:0.
    pub(crate) const OPERAND_MASK: u32 = 0xf_ffff;
    /// Command code field shift (5 bits, 24:20).
    pub(crate) const CODE_SHIFT: u32 = 20;
    /// Command code field mask, before shifting.
    pub(crate) const CODE_MASK: u32 = 0x1f;
    /// Request an interrupt (INTCAUSE [`super::intcause::CMD`]) on completion.
    pub(crate) const INT_REQ: u32 = 1 << 31;
    /// Operand flag of the interrupt handle commands: the index names an IMS slot.
    pub(crate) const INT_HANDLE_IMS: u32 = 0x1_0000;

    /// Operand of DISABLE/DRAIN/ABORT/RESET_WQ naming WQ `wq`: a 16-bit WQ bitmap in bits
    /// 15:0 and the bitmap's block number (`wq / 16`) in bits 19:16.
    pub(crate) const fn wq_operand(wq: u32) -> u32 {
        (1 << (wq % 16)) | ((wq / 16) << 16)
    }

    /// Operand of REQUEST/RELEASE_INT_HANDLE for MSI-X vector or IMS slot `index` (or, for
    /// release, the handle).
    pub(crate) const fn int_handle_operand(index: u16, ims: bool) -> u32 {
        index as u32 | if ims { INT_HANDLE_IMS } else { 0 }
    }
}

/// Encodes a CMD register value.
pub(crate) const fn cmd(code: u32, operand: u32, request_int: bool) -> u32 {
    (operand & cmd::OPERAND_MASK)
        | ((code & cmd::CODE_MASK) << cmd::CODE_SHIFT)
        | if request_int { cmd::INT_REQ } else { 0 }
}

pub(crate) mod cmdsts {
    /// Command running.
    pub(crate) const ACTIVE: u32 = 0x8000_0000;
    /// Error code mask.
    pub(crate) const ERR_MASK: u32 = 0xff;
    /// Shift of the 16-bit result field.
    pub(crate) const RES_SHIFT: u32 = 8;

    /// Success.
    pub(crate) const SUCCESS: u8 = 0x00;
    /// Invalid command code.
    pub(crate) const INVAL_CMD: u8 = 0x01;
    /// Invalid WQ index or bitmap.
    pub(crate) const INVAL_WQIDX: u8 = 0x02;
    /// Internal hardware error.
    pub(crate) const HW_ERR: u8 = 0x03;
    /// Enable device: already enabled.
    pub(crate) const ERR_DEV_ENABLED: u8 = 0x10;
    /// Enable device: configuration error.
    pub(crate) const ERR_CONFIG: u8 = 0x11;
    /// Enable device: bus mastering is disabled.
    pub(crate) const ERR_BUSMASTER_EN: u8 = 0x12;
    /// Enable device: invalid PASID.
    pub(crate) const ERR_PASID_INVAL: u8 = 0x13;
    /// Enable device: sum of WQ sizes out of range.
    pub(crate) const ERR_WQ_SIZE_ERANGE: u8 = 0x14;
    /// Enable device: group configuration error.
    pub(crate) const ERR_GRP_CONFIG: u8 = 0x15;
    /// Enable device: group configuration error 2.
    pub(crate) const ERR_GRP_CONFIG2: u8 = 0x16;
    /// Enable device: group configuration error 3.
    pub(crate) const ERR_GRP_CONFIG3: u8 = 0x17;
    /// Enable device: group configuration error 4.
    pub(crate) const ERR_GRP_CONFIG4: u8 = 0x18;
    /// Enable WQ: device not enabled.
    pub(crate) const ERR_DEV_NOTEN: u8 = 0x20;
    /// Enable WQ: WQ already enabled.
    pub(crate) const ERR_WQ_ENABLED: u8 = 0x21;
    /// Enable WQ: invalid WQ size.
    pub(crate) const ERR_WQ_SIZE: u8 = 0x22;
    /// Enable WQ: invalid priority.
    pub(crate) const ERR_WQ_PRIOR: u8 = 0x23;
    /// Enable WQ: invalid mode.
    pub(crate) const ERR_WQ_MODE: u8 = 0x24;
    /// Enable WQ: invalid block-on-fault setting.
    pub(crate) const ERR_BOF_EN: u8 = 0x25;
    /// Enable WQ: invalid PASID enable setting.
    pub(crate) const ERR_PASID_EN: u8 = 0x26;
    /// Enable WQ: maximum batch size out of range.
    pub(crate) const ERR_MAX_BATCH_SIZE: u8 = 0x27;
    /// Enable WQ: maximum transfer size out of range.
    pub(crate) const ERR_MAX_XFER_SIZE: u8 = 0x28;
    /// Disable device: device not enabled.
    pub(crate) const ERR_DIS_DEV_EN: u8 = 0x31;
    /// Disable/drain/abort/reset WQ: device not enabled.
    pub(crate) const ERR_DEV_NOT_EN: u8 = 0x32;
    /// Request interrupt handle: invalid index.
    pub(crate) const ERR_INVAL_INT_IDX: u8 = 0x41;
    /// Request interrupt handle: no handle available.
    pub(crate) const ERR_NO_HANDLE: u8 = 0x42;
}

/// Returns a short name of a CMDSTS error code, for logging.
pub(crate) const fn cmd_err_name(err: u8) -> &'static str {
    match err {
        cmdsts::SUCCESS => "success",
        cmdsts::INVAL_CMD => "invalid command",
        cmdsts::INVAL_WQIDX => "invalid WQ index",
        cmdsts::HW_ERR => "hardware error",
        cmdsts::ERR_DEV_ENABLED => "device already enabled",
        cmdsts::ERR_CONFIG => "configuration error",
        cmdsts::ERR_BUSMASTER_EN => "bus mastering disabled",
        cmdsts::ERR_PASID_INVAL => "invalid PASID",
        cmdsts::ERR_WQ_SIZE_ERANGE => "total WQ size out of range",
        cmdsts::ERR_GRP_CONFIG
        | cmdsts::ERR_GRP_CONFIG2
        | cmdsts::ERR_GRP_CONFIG3
        | cmdsts::ERR_GRP_CONFIG4 => "group configuration error",
        cmdsts::ERR_DEV_NOTEN | cmdsts::ERR_DEV_NOT_EN => "device not enabled",
        cmdsts::ERR_WQ_ENABLED => "WQ already enabled",
        cmdsts::ERR_WQ_SIZE => "invalid WQ size",
        cmdsts::ERR_WQ_PRIOR => "invalid WQ priority",
        cmdsts::ERR_WQ_MODE => "invalid WQ mode",
        cmdsts::ERR_BOF_EN => "invalid block-on-fault setting",
        cmdsts::ERR_PASID_EN => "invalid PASID enable",
        cmdsts::ERR_MAX_BATCH_SIZE => "max batch size out of range",
        cmdsts::ERR_MAX_XFER_SIZE => "max transfer size out of range",
        cmdsts::ERR_DIS_DEV_EN => "device not enabled (disable)",
        cmdsts::ERR_INVAL_INT_IDX => "invalid interrupt index",
        cmdsts::ERR_NO_HANDLE => "no interrupt handle available",
        _ => "unknown command error",
    }
}

/// Command capabilities (CMDCAP): bit `n` set means command code `n` is supported.
///
/// Valid only if [`GENCAP::cmd_cap`] is set; treat it as 0 otherwise.
#[derive(Clone, Copy)]
pub(crate) struct CmdCap(pub(crate) u32);

impl CmdCap {
    /// Returns whether command `code` (see [`mod@cmd`]) is supported.
    pub(crate) const fn supports(self, code: u32) -> bool {
        code < 32 && (self.0 >> code) & 1 != 0
    }

    /// Interrupt handles must be requested (REQUEST_INT_HANDLE is supported); otherwise the
    /// handle of a vector is its index.
    pub(crate) const fn request_int_handles(self) -> bool {
        self.supports(cmd::REQUEST_INT_HANDLE)
    }
}

/// SWERR bits to write back.
pub(crate) mod swerr {
    /// Qword 0: an error is recorded.
    pub(crate) const VALID: u64 = 0x1;
    /// Qword 0: more errors arrived while one was recorded.
    pub(crate) const OVERFLOW: u64 = 0x2;
    /// Value to write to SWERR qword 0 to acknowledge (clear) the recorded error.
    pub(crate) const ACK: u64 = VALID | OVERFLOW;
}

register! {
    /// Software error (SWERR) qword 0: what the recorded error is.
    pub(crate) SWERR(u64) @ 0xc0 {
        /// An error is recorded.
        0:0 valid => bool;
        /// Errors were lost while this one was recorded.
        1:1 overflow => bool;
        /// The operation and PASID fields are valid.
        2:2 desc_valid => bool;
        /// The WQ index field is valid.
        3:3 wq_idx_valid => bool;
        /// The error was in a descriptor of a batch; the batch index is valid.
        4:4 batch => bool;
        /// The fault was on a write (otherwise a read).
        5:5 fault_rw => bool;
        /// The descriptor was privileged.
        6:6 privileged => bool;
        /// Error code, a completion status (see [`comp`]).
        15:8 error;
        /// WQ index.
        23:16 wq_idx;
        /// Opcode of the failed descriptor.
        39:32 operation;
        /// PASID of the failed descriptor.
        59:40 pasid;
    }

    /// Software error (SWERR) qword 1.
    pub(crate) SWERR_INFO(u64) @ 0xc8 {
        /// Index of the failed descriptor in its batch.
        15:0 batch_idx;
        /// Invalid descriptor flags, for [`comp::INVALID_FLAGS`].
        63:32 invalid_flags;
    }
}

/// Software error (SWERR), four qwords: [`SWERR`], [`SWERR_INFO`], the faulting address and
/// a reserved qword.
#[derive(Clone, Copy)]
pub(crate) struct Swerr(pub(crate) [u64; 4]);

impl Swerr {
    /// Qword 0: the error.
    pub(crate) fn status(&self) -> SWERR {
        SWERR::from_raw(self.0[0])
    }

    /// Qword 1: batch index and invalid flags.
    pub(crate) fn info(&self) -> SWERR_INFO {
        SWERR_INFO::from_raw(self.0[1])
    }

    /// Faulting address.
    pub(crate) const fn fault_addr(&self) -> u64 {
        self.0[2]
    }
}

/// MSI-X permission table (MSIX_PERM): one 32-bit register per MSI-X vector, 8 bytes apart.
pub(crate) mod msix_perm {
    /// Distance between entries in bytes.
    pub(crate) const ENTRY_SIZE: usize = 8;
    /// Do not generate interrupts on this vector.
    pub(crate) const IGNORE: u32 = 1 << 2;
    /// Only work of the PASID in bits 31:12 may use this vector.
    pub(crate) const PASID_EN: u32 = 1 << 3;
    /// Shift of the 20-bit PASID field.
    pub(crate) const PASID_SHIFT: u32 = 12;

    /// Encodes an entry; `pasid` restricts the vector to that PASID.
    pub(crate) const fn encode(pasid: Option<u32>, ignore: bool) -> u32 {
        let perm = if ignore { IGNORE } else { 0 };
        match pasid {
            Some(p) => perm | PASID_EN | ((p & super::PASID_MASK) << PASID_SHIFT),
            None => perm,
        }
    }

    /// Byte offset in BAR0 of the entry of `vector`, given the table's byte offset.
    pub(crate) const fn offset(table: usize, vector: usize) -> usize {
        table + vector * ENTRY_SIZE
    }
}

/// Mask of a 20-bit PASID.
pub(crate) const PASID_MASK: u32 = 0xf_ffff;

/// Group configuration table (GRPCFG) entry layout.
pub(crate) mod grpcfg {
    /// Size of one entry in bytes.
    pub(crate) const SIZE: usize = 64;
    /// Offset of the WQ bitmap (four qwords, 256 WQs).
    pub(crate) const WQS: usize = 0;
    /// Number of qwords in the WQ bitmap.
    pub(crate) const WQS_COUNT: usize = 4;
    /// Offset of the engine bitmap (one qword).
    pub(crate) const ENGINES: usize = 32;
    /// Offset of the group flags (one qword), see [`super::GroupFlags`].
    pub(crate) const FLAGS: usize = 40;

    /// Byte offset in BAR0 of qword `at` (one of the offsets above) of group `group`, given
    /// the table's byte offset.
    pub(crate) const fn offset(table: usize, group: usize, at: usize) -> usize {
        table + group * SIZE + at
    }
}

/// Group flags (GRPCFG qword at [`grpcfg::FLAGS`]).
#[derive(Clone, Copy, Default)]
pub(crate) struct GroupFlags {
    /// Traffic class A (3 bits).
    pub(crate) tc_a: u8,
    /// Traffic class B (3 bits).
    pub(crate) tc_b: u8,
    /// Apply the global read buffer limit.
    pub(crate) use_rdbuf_limit: bool,
    /// Read buffers reserved for the group.
    pub(crate) rdbufs_reserved: u8,
    /// Read buffers the group may use.
    pub(crate) rdbufs_allowed: u8,
    /// Descriptor progress limit (2 bits).
    pub(crate) desc_progress_limit: u8,
    /// Batch progress limit (2 bits).
    pub(crate) batch_progress_limit: u8,
}

impl GroupFlags {
    /// Encodes the register value.
    pub(crate) const fn to_bits(self) -> u64 {
        (self.tc_a as u64 & 0x7)
            | ((self.tc_b as u64 & 0x7) << 3)
            | flag(self.use_rdbuf_limit, 7)
            | ((self.rdbufs_reserved as u64) << 8)
            | ((self.rdbufs_allowed as u64) << 20)
            | ((self.desc_progress_limit as u64 & 0x3) << 32)
            | ((self.batch_progress_limit as u64 & 0x3) << 36)
    }

    /// Decodes a register value.
    pub(crate) const fn from_bits(v: u64) -> Self {
        Self {
            tc_a: field(v, 0, 3) as u8,
            tc_b: field(v, 3, 3) as u8,
            use_rdbuf_limit: bit(v, 7),
            rdbufs_reserved: field(v, 8, 8) as u8,
            rdbufs_allowed: field(v, 20, 8) as u8,
            desc_progress_limit: field(v, 32, 2) as u8,
            batch_progress_limit: field(v, 36, 2) as u8,
        }
    }
}

/// One GRPCFG entry: which WQs and engines form the group, and its flags.
#[derive(Clone, Copy, Default)]
pub(crate) struct GrpCfg {
    /// WQ bitmap: bit `n % 64` of `wqs[n / 64]` is WQ `n`.
    pub(crate) wqs: [u64; 4],
    /// Engine bitmap.
    pub(crate) engines: u64,
    /// Group flags.
    pub(crate) flags: GroupFlags,
}

impl GrpCfg {
    /// Adds WQ `wq` (below 256) to the group.
    pub(crate) fn add_wq(&mut self, wq: usize) {
        self.wqs[wq / 64] |= 1 << (wq % 64);
    }

    /// Adds engine `engine` (below 64) to the group.
    pub(crate) fn add_engine(&mut self, engine: usize) {
        self.engines |= 1 << engine;
    }

    /// Encodes the first six qwords of the entry; the remaining two are reserved (zero).
    pub(crate) const fn to_qwords(self) -> [u64; 6] {
        [
            self.wqs[0],
            self.wqs[1],
            self.wqs[2],
            self.wqs[3],
            self.engines,
            self.flags.to_bits(),
        ]
    }

    /// Decodes the first six qwords of an entry.
    pub(crate) const fn from_qwords(q: [u64; 6]) -> Self {
        Self {
            wqs: [q[0], q[1], q[2], q[3]],
            engines: q[4],
            flags: GroupFlags::from_bits(q[5]),
        }
    }
}

/// Work queue configuration table (WQCFG) layout.
pub(crate) mod wqcfg {
    /// An entry is `1 << (WQCAP.wqcfg_size + MIN_SHIFT)` bytes.
    pub(crate) const MIN_SHIFT: u32 = 5;
    /// Size of the architectural part of an entry covered by [`super::WqCfg`], in bytes.
    pub(crate) const SIZE: usize = 32;
    /// Number of dwords covered by [`super::WqCfg`].
    pub(crate) const DWORDS: usize = 8;
    /// Dword holding the WQ size.
    pub(crate) const SIZE_IDX: usize = 0;
    /// Dword holding the WQ threshold.
    pub(crate) const THRESH_IDX: usize = 1;
    /// Dword holding mode, priority, PASID and privilege.
    pub(crate) const MODE_IDX: usize = 2;
    /// Dword holding the maximum transfer and batch shifts.
    pub(crate) const MAX_IDX: usize = 3;
    /// Dword holding occupancy and WQ state (read-only).
    pub(crate) const OCCUP_IDX: usize = 6;
    /// Occupancy mask in the [`OCCUP_IDX`] dword.
    pub(crate) const OCCUP_MASK: u32 = 0xffff;
    /// Shift of the 2-bit WQ state in the [`OCCUP_IDX`] dword.
    pub(crate) const STATE_SHIFT: u32 = 30;

    /// WQ state: disabled.
    pub(crate) const STATE_DISABLED: u8 = 0;
    /// WQ state: enabled.
    pub(crate) const STATE_ENABLED: u8 = 1;
    /// WQ state: halted (the emulated device's encoding; 6.12 defines only 0 and 1).
    pub(crate) const STATE_HALTED: u8 = 2;

    /// Byte offset in BAR0 of dword `dword` of the entry of WQ `wq`, given the table's byte
    /// offset and the entry size ([`super::WqCap::wqcfg_bytes`]).
    pub(crate) const fn offset(table: usize, entry_size: usize, wq: usize, dword: usize) -> usize {
        table + wq * entry_size + 4 * dword
    }
}

/// One WQCFG entry (its first 32 bytes).
///
/// `occupancy`, `occupancy_int`, `mode_support` and `state` are read-only: the device ignores
/// them on writes.
#[derive(Clone, Copy, Default)]
pub(crate) struct WqCfg {
    /// Number of WQ entries.
    pub(crate) size: u16,
    /// Occupancy threshold for limited portals (shared WQs).
    pub(crate) threshold: u16,
    /// Dedicated mode (otherwise shared).
    pub(crate) dedicated: bool,
    /// Block on fault.
    pub(crate) bof: bool,
    /// Disable ATS.
    pub(crate) ats_disable: bool,
    /// Disable PRS.
    pub(crate) prs_disable: bool,
    /// Priority (4 bits).
    pub(crate) priority: u8,
    /// PASID of a dedicated WQ (20 bits).
    pub(crate) pasid: u32,
    /// The PASID field is used.
    pub(crate) pasid_en: bool,
    /// Privileged mode for a dedicated WQ.
    pub(crate) priv_: bool,
    /// Log2 of the maximum transfer size (5 bits).
    pub(crate) max_xfer_shift: u8,
    /// Log2 of the maximum batch size (4 bits).
    pub(crate) max_batch_shift: u8,
    /// Occupancy interrupt handle.
    pub(crate) occupancy_inth: u16,
    /// Occupancy interrupt handle names an IMS slot.
    pub(crate) occupancy_table_sel: bool,
    /// Occupancy interrupt limit.
    pub(crate) occupancy_limit: u16,
    /// Occupancy interrupt enable.
    pub(crate) occupancy_int_en: bool,
    /// Current occupancy (read-only).
    pub(crate) occupancy: u16,
    /// Occupancy interrupt pending (read-only).
    pub(crate) occupancy_int: bool,
    /// Mode support (read-only).
    pub(crate) mode_support: bool,
    /// WQ state, one of the `wqcfg::STATE_*` values (read-only).
    pub(crate) state: u8,
}

impl WqCfg {
    /// Encodes the eight dwords.
    pub(crate) const fn to_words(self) -> [u32; 8] {
        let mode = (self.dedicated as u32)
            | ((self.bof as u32) << 1)
            | ((self.ats_disable as u32) << 2)
            | ((self.prs_disable as u32) << 3)
            | ((self.priority as u32 & 0xf) << 4)
            | ((self.pasid & PASID_MASK) << 8)
            | ((self.pasid_en as u32) << 28)
            | ((self.priv_ as u32) << 29);
        let max = (self.max_xfer_shift as u32 & 0x1f) | ((self.max_batch_shift as u32 & 0xf) << 5);
        [
            self.size as u32,
            self.threshold as u32,
            mode,
            max,
            self.occupancy_inth as u32 | ((self.occupancy_table_sel as u32) << 16),
            self.occupancy_limit as u32 | ((self.occupancy_int_en as u32) << 16),
            self.occupancy as u32
                | ((self.occupancy_int as u32) << 16)
                | ((self.mode_support as u32) << 29)
                | ((self.state as u32 & 0x3) << wqcfg::STATE_SHIFT),
            0,
        ]
    }

    /// Decodes the eight dwords.
    pub(crate) const fn from_words(w: [u32; 8]) -> Self {
        let mode = w[wqcfg::MODE_IDX] as u64;
        let max = w[wqcfg::MAX_IDX] as u64;
        let occup = w[wqcfg::OCCUP_IDX] as u64;
        Self {
            size: w[wqcfg::SIZE_IDX] as u16,
            threshold: w[wqcfg::THRESH_IDX] as u16,
            dedicated: bit(mode, 0),
            bof: bit(mode, 1),
            ats_disable: bit(mode, 2),
            prs_disable: bit(mode, 3),
            priority: field(mode, 4, 4) as u8,
            pasid: field(mode, 8, 20) as u32,
            pasid_en: bit(mode, 28),
            priv_: bit(mode, 29),
            max_xfer_shift: field(max, 0, 5) as u8,
            max_batch_shift: field(max, 5, 4) as u8,
            occupancy_inth: w[4] as u16,
            occupancy_table_sel: bit(w[4] as u64, 16),
            occupancy_limit: w[5] as u16,
            occupancy_int_en: bit(w[5] as u64, 16),
            occupancy: field(occup, 0, 16) as u16,
            occupancy_int: bit(occup, 16),
            mode_support: bit(occup, 29),
            state: field(occup, wqcfg::STATE_SHIFT, 2) as u8,
        }
    }
}

/// Interrupt Message Store table, in the format `include/linux/idxd_ims.h` defines once for
/// this driver and the IMS core's C test chips.
///
/// Slot `i` is 16 bytes at [`TableOffset::ims_offset`] `+ 16 * i`: dwords addr_lo, addr_hi,
/// data, ctrl. 4- and 8-byte accesses.
pub(crate) mod ims {
    use kernel::bindings;

    // CAST: bindgen types the C constants as it sees fit; these are their values, all small
    // (the cookie ones are 64-bit by definition).
    /// Size of one slot in bytes.
    pub(crate) const ENTRY_SIZE: usize = bindings::IDXD_IMS_SLOT_SIZE as usize;
    /// Offset of the message address, low dword.
    pub(crate) const ADDR_LO: usize = bindings::IDXD_IMS_SLOT_ADDR_LO as usize;
    /// Offset of the message address, high dword.
    pub(crate) const ADDR_HI: usize = bindings::IDXD_IMS_SLOT_ADDR_HI as usize;
    /// Offset of the message data.
    pub(crate) const DATA: usize = bindings::IDXD_IMS_SLOT_DATA as usize;
    /// Offset of the control dword.
    pub(crate) const CTRL: usize = bindings::IDXD_IMS_SLOT_CTRL as usize;
    /// Control: slot masked (reset value 1).
    pub(crate) const CTRL_MASKED: u32 = bindings::IDXD_IMS_CTRL_MASK;
    /// Control: only work of the PASID in [`CTRL_PASID_SHIFT`] may use this slot.
    pub(crate) const CTRL_PASID_EN: u32 = bindings::IDXD_IMS_CTRL_PASID_EN;
    /// Control: shift of the 20-bit PASID field.
    pub(crate) const CTRL_PASID_SHIFT: u32 = bindings::IDXD_IMS_CTRL_PASID_SHIFT;
    /// Slots per unit of [`super::GenCap::max_ims_mult`].
    pub(crate) const SLOTS_PER_MULT: u32 = bindings::IDXD_IMS_SLOTS_PER_MULT;
    /// Cookie: names a PASID, in the bits of [`COOKIE_PASID_MASK`].
    pub(crate) const COOKIE_PASID_VALID: u64 = bindings::IDXD_IMS_COOKIE_PASID_VALID as u64;
    /// Cookie: the PASID.
    pub(crate) const COOKIE_PASID_MASK: u64 = bindings::IDXD_IMS_COOKIE_PASID_MASK as u64;

    /// Encodes a control dword.
    pub(crate) const fn ctrl(masked: bool, pasid: Option<u32>) -> u32 {
        let c = if masked { CTRL_MASKED } else { 0 };
        match pasid {
            Some(p) => c | CTRL_PASID_EN | ((p & super::PASID_MASK) << CTRL_PASID_SHIFT),
            None => c,
        }
    }

    /// The cookie of a vector raised only for work of PASID `pasid`
    /// (`IDXD_IMS_COOKIE_PASID()`).
    pub(crate) const fn pasid_cookie(pasid: u32) -> u64 {
        COOKIE_PASID_VALID | (pasid as u64 & COOKIE_PASID_MASK)
    }

    /// The control dword of a slot for a vector with `cookie` (`idxd_ims_slot_ctrl()`).
    pub(crate) const fn cookie_ctrl(cookie: u64, masked: bool) -> u32 {
        let pasid = if cookie & COOKIE_PASID_VALID != 0 {
            // CAST: masked to 20 bits.
            Some((cookie & COOKIE_PASID_MASK) as u32)
        } else {
            None
        };
        ctrl(masked, pasid)
    }

    /// Byte offset in BAR0 of slot `slot`, given the table's byte offset.
    pub(crate) const fn offset(table: usize, slot: usize) -> usize {
        table + slot * ENTRY_SIZE
    }
}

/// Interrupt handle bit naming an IMS slot (emulated device); clear for an MSI-X vector.
pub(crate) const INT_HANDLE_IMS: u16 = 1 << 15;
/// Interrupt handle bits holding the vector or slot index (emulated device).
pub(crate) const INT_HANDLE_INDEX_MASK: u16 = 0x7fff;

/// Size of one portal page in BAR2.
pub(crate) const PORTAL_SIZE: usize = 0x1000;
/// Distance between the portals of consecutive WQs in BAR2: four pages per WQ (unlimited and
/// limited, each for MSI-X and for IMS completions).
pub(crate) const PORTAL_STRIDE: usize = 4 * PORTAL_SIZE;

/// The portal pages of a WQ, in the order of BAR2.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Portal {
    /// Unlimited portal: accepts work up to the WQ size.
    Unlimited = 0,
    /// Limited portal: accepts work up to the WQ threshold (what 6.12 gives kernel WQs).
    Limited = 1,
}

/// Byte offset in BAR2 of the `portal` page of WQ `wq` (`idxd_get_wq_portal_full_offset()`).
///
/// A descriptor goes to a 64-byte-aligned slot of the portal, either with one 64-byte
/// MOVDIR64B or as eight 8-byte stores in order from [`Desc::encode`]'s word 0 to word 7.
pub(crate) const fn portal_offset(wq: usize, portal: Portal) -> usize {
    wq * PORTAL_STRIDE + portal as usize * PORTAL_SIZE
}

/// Debug and fault-injection block of the emulated device (see [`off::DBG_ID`]).
pub(crate) mod dbg {
    /// Value of the ID register ("DSAQ") when the block is present.
    pub(crate) const ID_VALUE: u32 = 0x5141_5344;
    /// Inject: fail the next descriptor with status = argument (0 for hardware error).
    pub(crate) const INJECT_FAIL_NEXT: u8 = 1;
    /// Inject: halt the WQ, with SWERR error = argument (0 for hardware error).
    pub(crate) const INJECT_HALT_WQ: u8 = 2;
    /// Inject: record a software error = argument (0 for hardware error).
    pub(crate) const INJECT_SWERR: u8 = 3;
    /// Inject: the WQ field is valid (for [`INJECT_SWERR`]).
    pub(crate) const INJECT_WQ_VALID: u32 = 1 << 24;

    /// Encodes an INJECT value: action in bits 7:0, argument 15:8, WQ 23:16.
    pub(crate) const fn inject(action: u8, arg: u8, wq: Option<u8>) -> u32 {
        let v = action as u32 | ((arg as u32) << 8);
        match wq {
            Some(w) => v | ((w as u32) << 16) | INJECT_WQ_VALID,
            None => v,
        }
    }
}

/// Size of a work descriptor in bytes.
pub(crate) const DESC_SIZE: usize = 64;
/// Size of a completion record in bytes.
pub(crate) const COMP_RECORD_SIZE: usize = 32;
/// Required alignment of a completion record in bytes.
pub(crate) const COMP_RECORD_ALIGN: usize = 32;

/// Operation codes.
pub(crate) mod opcode {
    /// No operation.
    pub(crate) const NOOP: u8 = 0x00;
    /// Batch of descriptors.
    pub(crate) const BATCH: u8 = 0x01;
    /// Drain.
    pub(crate) const DRAIN: u8 = 0x02;
    /// Memory move.
    pub(crate) const MEMMOVE: u8 = 0x03;
    /// Memory fill.
    pub(crate) const MEMFILL: u8 = 0x04;
    /// Compare two buffers.
    pub(crate) const COMPARE: u8 = 0x05;
    /// Compare a buffer with a pattern.
    pub(crate) const COMPVAL: u8 = 0x06;
    /// Create delta record.
    pub(crate) const CR_DELTA: u8 = 0x07;
    /// Apply delta record.
    pub(crate) const AP_DELTA: u8 = 0x08;
    /// Copy to two destinations.
    pub(crate) const DUALCAST: u8 = 0x09;
    /// Translation fetch.
    pub(crate) const TRANSL_FETCH: u8 = 0x0a;
    /// CRC generation.
    pub(crate) const CRCGEN: u8 = 0x10;
    /// Copy with CRC generation.
    pub(crate) const COPY_CRC: u8 = 0x11;
    /// DIF check.
    pub(crate) const DIF_CHECK: u8 = 0x12;
    /// DIF insert.
    pub(crate) const DIF_INS: u8 = 0x13;
    /// DIF strip.
    pub(crate) const DIF_STRP: u8 = 0x14;
    /// DIF update.
    pub(crate) const DIF_UPDT: u8 = 0x15;
    /// DIX generate.
    pub(crate) const DIX_GEN: u8 = 0x17;
    /// Cache flush.
    pub(crate) const CFLUSH: u8 = 0x20;
}

/// Descriptor flags (24 bits).
pub(crate) mod op_flag {
    /// Wait for earlier descriptors of the batch.
    pub(crate) const FENCE: u32 = 0x0001;
    /// Block on fault.
    pub(crate) const BOF: u32 = 0x0002;
    /// Completion record address valid.
    pub(crate) const CRAV: u32 = 0x0004;
    /// Request completion record.
    pub(crate) const RCR: u32 = 0x0008;
    /// Request completion interrupt.
    pub(crate) const RCI: u32 = 0x0010;
    /// Completion record status only.
    pub(crate) const CRSTS: u32 = 0x0020;
    /// Check result against the expected result.
    pub(crate) const CR: u32 = 0x0080;
    /// Cache control: write destination to cache.
    pub(crate) const CC: u32 = 0x0100;
    /// Address 1 traffic class select.
    pub(crate) const ADDR1_TCS: u32 = 0x0200;
    /// Address 2 traffic class select.
    pub(crate) const ADDR2_TCS: u32 = 0x0400;
    /// Address 3 traffic class select.
    pub(crate) const ADDR3_TCS: u32 = 0x0800;
    /// Completion record traffic class select.
    pub(crate) const CR_TCS: u32 = 0x1000;
    /// Strict ordering.
    pub(crate) const STORD: u32 = 0x2000;
    /// Destination readback.
    pub(crate) const DRDBK: u32 = 0x4000;
    /// Destination steering (DSA 2.0).
    pub(crate) const DSTS: u32 = 0x8000;
    /// Mask of the 24-bit flags field.
    pub(crate) const MASK: u32 = 0xff_ffff;
}

/// A work descriptor (`struct dsa_hw_desc`), in plain fields.
///
/// Fields named after the common operations share hardware slots with other operations:
/// `src` is also the fill pattern and the batch list address, `dst` is also the second source
/// (COMPARE) and the compare pattern (COMPVAL), `xfer_size` is also the batch descriptor count.
/// `op_specific` holds bytes 40..63 (expected result, second destination, CRC seed, ...).
#[derive(Clone, Copy, Default)]
pub(crate) struct Desc {
    /// PASID (20 bits); ignored by dedicated WQs.
    pub(crate) pasid: u32,
    /// Privileged; ignored by dedicated WQs.
    pub(crate) priv_: bool,
    /// Flags, see [`op_flag`] (24 bits).
    pub(crate) flags: u32,
    /// Operation, see [`opcode`].
    pub(crate) opcode: u8,
    /// Completion record address, [`COMP_RECORD_ALIGN`]-aligned.
    pub(crate) completion_addr: u64,
    /// Source address, fill pattern or batch descriptor list address (bytes 16..23).
    pub(crate) src: u64,
    /// Destination address, second source or compare pattern (bytes 24..31).
    pub(crate) dst: u64,
    /// Transfer size in bytes or batch descriptor count (bytes 32..35).
    pub(crate) xfer_size: u32,
    /// Completion interrupt handle (bytes 36..37).
    pub(crate) int_handle: u16,
    /// Operation-specific bytes 40..63.
    pub(crate) op_specific: [u64; 3],
}

impl Desc {
    /// A descriptor of `opcode` with every other field zero.
    pub(crate) const fn new(opcode: u8) -> Self {
        Self {
            pasid: 0,
            priv_: false,
            flags: 0,
            opcode,
            completion_addr: 0,
            src: 0,
            dst: 0,
            xfer_size: 0,
            int_handle: 0,
            op_specific: [0; 3],
        }
    }

    /// No operation.
    pub(crate) const fn noop() -> Self {
        Self::new(opcode::NOOP)
    }

    /// Drain.
    pub(crate) const fn drain() -> Self {
        Self::new(opcode::DRAIN)
    }

    /// Copy `len` bytes from `src` to `dst`.
    pub(crate) const fn memmove(src: u64, dst: u64, len: u32) -> Self {
        let mut d = Self::new(opcode::MEMMOVE);
        d.src = src;
        d.dst = dst;
        d.xfer_size = len;
        d
    }

    /// Fill `len` bytes at `dst` with the 8-byte `pattern`.
    pub(crate) const fn memfill(pattern: u64, dst: u64, len: u32) -> Self {
        let mut d = Self::new(opcode::MEMFILL);
        d.src = pattern;
        d.dst = dst;
        d.xfer_size = len;
        d
    }

    /// Compare `len` bytes at `src1` and `src2`.
    pub(crate) const fn compare(src1: u64, src2: u64, len: u32) -> Self {
        let mut d = Self::new(opcode::COMPARE);
        d.src = src1;
        d.dst = src2;
        d.xfer_size = len;
        d
    }

    /// Compare `len` bytes at `src` with the 8-byte `pattern`.
    pub(crate) const fn compval(src: u64, pattern: u64, len: u32) -> Self {
        let mut d = Self::new(opcode::COMPVAL);
        d.src = src;
        d.dst = pattern;
        d.xfer_size = len;
        d
    }

    /// Copy `len` bytes from `src` to both `dst1` and `dst2` (bits 11:0 of both must match).
    pub(crate) const fn dualcast(src: u64, dst1: u64, dst2: u64, len: u32) -> Self {
        let mut d = Self::new(opcode::DUALCAST);
        d.src = src;
        d.dst = dst1;
        d.xfer_size = len;
        d.op_specific[0] = dst2;
        d
    }

    /// CRC of `len` bytes at `src`, starting from `seed`.
    pub(crate) const fn crcgen(src: u64, len: u32, seed: u32) -> Self {
        let mut d = Self::new(opcode::CRCGEN);
        d.src = src;
        d.xfer_size = len;
        d.op_specific[0] = seed as u64;
        d
    }

    /// Run the `count` descriptors at `list` (64-byte aligned).
    pub(crate) const fn batch(list: u64, count: u32) -> Self {
        let mut d = Self::new(opcode::BATCH);
        d.src = list;
        d.xfer_size = count;
        d
    }

    /// Adds `flags` (see [`op_flag`]).
    pub(crate) const fn with_flags(mut self, flags: u32) -> Self {
        self.flags |= flags & op_flag::MASK;
        self
    }

    /// Requests a completion record at `addr` (sets CRAV and RCR).
    pub(crate) const fn with_completion(mut self, addr: u64) -> Self {
        self.completion_addr = addr;
        self.flags |= op_flag::CRAV | op_flag::RCR;
        self
    }

    /// Requests a completion interrupt on `handle` (sets RCI).
    pub(crate) const fn with_interrupt(mut self, handle: u16) -> Self {
        self.int_handle = handle;
        self.flags |= op_flag::RCI;
        self
    }

    /// Checks the result of COMPARE/COMPVAL against `expected` (sets CR): a mismatch completes
    /// with [`comp::SUCCESS_PRED`].
    pub(crate) const fn with_expected_result(mut self, expected: u8) -> Self {
        self.op_specific[0] = (self.op_specific[0] & !0xff) | expected as u64;
        self.flags |= op_flag::CR;
        self
    }

    /// Encodes the 64 bytes as eight little-endian qwords, in portal store order.
    pub(crate) const fn encode(&self) -> [u64; 8] {
        [
            (self.pasid & PASID_MASK) as u64
                | flag(self.priv_, 31)
                | (((self.flags & op_flag::MASK) as u64) << 32)
                | ((self.opcode as u64) << 56),
            self.completion_addr,
            self.src,
            self.dst,
            self.xfer_size as u64 | ((self.int_handle as u64) << 32),
            self.op_specific[0],
            self.op_specific[1],
            self.op_specific[2],
        ]
    }

    /// Decodes eight qwords; reserved bits are dropped.
    pub(crate) const fn decode(w: &[u64; 8]) -> Self {
        Self {
            pasid: field(w[0], 0, 20) as u32,
            priv_: bit(w[0], 31),
            flags: field(w[0], 32, 24) as u32,
            opcode: field(w[0], 56, 8) as u8,
            completion_addr: w[1],
            src: w[2],
            dst: w[3],
            xfer_size: w[4] as u32,
            int_handle: field(w[4], 32, 16) as u16,
            op_specific: [w[5], w[6], w[7]],
        }
    }
}

/// Completion status codes (low 7 bits of the status byte).
pub(crate) mod comp {
    /// Not yet completed (the device writes a non-zero status last).
    pub(crate) const NONE: u8 = 0x00;
    /// Success.
    pub(crate) const SUCCESS: u8 = 0x01;
    /// Success, but the checked result did not match (false predicate).
    pub(crate) const SUCCESS_PRED: u8 = 0x02;
    /// Page fault, block on fault not set.
    pub(crate) const PAGE_FAULT_NOBOF: u8 = 0x03;
    /// Page fault (`DSA_COMP_PAGE_FAULT_IR`).
    pub(crate) const PAGE_FAULT_IR: u8 = 0x04;
    /// A descriptor of the batch failed.
    pub(crate) const BATCH_FAIL: u8 = 0x05;
    /// Page fault reading the batch descriptor list.
    pub(crate) const BATCH_PAGE_FAULT: u8 = 0x06;
    /// Delta record offsets not increasing.
    pub(crate) const DR_OFFSET_NOINC: u8 = 0x07;
    /// Delta record offset out of range.
    pub(crate) const DR_OFFSET_ERANGE: u8 = 0x08;
    /// DIF error.
    pub(crate) const DIF_ERR: u8 = 0x09;
    /// Unsupported opcode.
    pub(crate) const BAD_OPCODE: u8 = 0x10;
    /// Invalid flags; the record's invalid_flags tells which.
    pub(crate) const INVALID_FLAGS: u8 = 0x11;
    /// Non-zero reserved field.
    pub(crate) const NOZERO_RESERVE: u8 = 0x12;
    /// Transfer size out of range.
    pub(crate) const XFER_ERANGE: u8 = 0x13;
    /// Batch descriptor count out of range.
    pub(crate) const DESC_CNT_ERANGE: u8 = 0x14;
    /// Delta record size out of range.
    pub(crate) const DR_ERANGE: u8 = 0x15;
    /// Overlapping buffers.
    pub(crate) const OVERLAP_BUFFERS: u8 = 0x16;
    /// Dualcast destinations misaligned with each other.
    pub(crate) const DCAST_ERR: u8 = 0x17;
    /// Batch descriptor list misaligned.
    pub(crate) const DESCLIST_ALIGN: u8 = 0x18;
    /// Invalid completion interrupt handle.
    pub(crate) const INT_HANDLE_INVAL: u8 = 0x19;
    /// Completion record address translation failed.
    pub(crate) const CRA_XLAT: u8 = 0x1a;
    /// Completion record address misaligned.
    pub(crate) const CRA_ALIGN: u8 = 0x1b;
    /// Misaligned address.
    pub(crate) const ADDR_ALIGN: u8 = 0x1c;
    /// Privileged descriptor not allowed.
    pub(crate) const PRIV_BAD: u8 = 0x1d;
    /// Invalid traffic class configuration.
    pub(crate) const TRAFFIC_CLASS_CONF: u8 = 0x1e;
    /// Page fault on the readback address.
    pub(crate) const PFAULT_RDBA: u8 = 0x1f;
    /// Hardware error.
    pub(crate) const HW_ERR1: u8 = 0x20;
    /// Hardware error on destination readback.
    pub(crate) const HW_ERR_DRB: u8 = 0x21;
    /// Address translation failed.
    pub(crate) const TRANSLATION_FAIL: u8 = 0x22;
    /// Page fault before a drain, reported in the event log.
    pub(crate) const DRAIN_EVL: u8 = 0x26;
    /// Page fault in a batch, reported in the event log.
    pub(crate) const BATCH_EVL_ERR: u8 = 0x27;

    /// Mask of the status code in the status byte.
    pub(crate) const STATUS_MASK: u8 = 0x7f;
    /// Bit 7 of the status byte (`DSA_COMP_STATUS_WRITE`): a flag, not part of the code.
    pub(crate) const STATUS_WRITE: u8 = 0x80;
}

/// Completion record fault_info bit: the fault was on a write (emulated device).
pub(crate) const FAULT_INFO_WRITE: u8 = 0x1;

/// Returns a short name of a completion status, for logging; bit 7 is ignored.
pub(crate) const fn status_name(status: u8) -> &'static str {
    match status & comp::STATUS_MASK {
        comp::NONE => "none",
        comp::SUCCESS => "success",
        comp::SUCCESS_PRED => "success, false predicate",
        comp::PAGE_FAULT_NOBOF => "page fault",
        comp::PAGE_FAULT_IR => "page fault (IR)",
        comp::BATCH_FAIL => "batch member failed",
        comp::BATCH_PAGE_FAULT => "batch list page fault",
        comp::DR_OFFSET_NOINC => "delta record offset not increasing",
        comp::DR_OFFSET_ERANGE => "delta record offset out of range",
        comp::DIF_ERR => "DIF error",
        comp::BAD_OPCODE => "bad opcode",
        comp::INVALID_FLAGS => "invalid flags",
        comp::NOZERO_RESERVE => "non-zero reserved field",
        comp::XFER_ERANGE => "transfer size out of range",
        comp::DESC_CNT_ERANGE => "descriptor count out of range",
        comp::DR_ERANGE => "delta record size out of range",
        comp::OVERLAP_BUFFERS => "overlapping buffers",
        comp::DCAST_ERR => "dualcast misaligned",
        comp::DESCLIST_ALIGN => "descriptor list misaligned",
        comp::INT_HANDLE_INVAL => "invalid interrupt handle",
        comp::CRA_XLAT => "completion record translation fault",
        comp::CRA_ALIGN => "completion record misaligned",
        comp::ADDR_ALIGN => "address misaligned",
        comp::PRIV_BAD => "privilege not allowed",
        comp::TRAFFIC_CLASS_CONF => "traffic class configuration",
        comp::PFAULT_RDBA => "readback page fault",
        comp::HW_ERR1 => "hardware error",
        comp::HW_ERR_DRB => "readback hardware error",
        comp::TRANSLATION_FAIL => "translation failure",
        comp::DRAIN_EVL => "page fault before drain",
        comp::BATCH_EVL_ERR => "batch error (event log)",
        _ => "unknown status",
    }
}

/// A completion record (`struct dsa_completion_record`), in plain fields.
#[derive(Clone, Copy, Default)]
pub(crate) struct CompRecord {
    /// Raw status byte; see [`CompRecord::status`].
    pub(crate) status_byte: u8,
    /// Operation result (COMPARE/COMPVAL: 0 equal, 1 different).
    pub(crate) result: u8,
    /// Fault information, see [`FAULT_INFO_WRITE`].
    pub(crate) fault_info: u8,
    /// Bytes (or, for a batch, descriptors) completed.
    pub(crate) bytes_completed: u32,
    /// Faulting address.
    pub(crate) fault_addr: u64,
    /// Operation-specific bytes 16..31 (invalid flags, CRC value, ...).
    pub(crate) op_specific: [u64; 2],
}

impl CompRecord {
    /// Decodes four little-endian qwords.
    pub(crate) const fn decode(w: &[u64; 4]) -> Self {
        Self {
            status_byte: w[0] as u8,
            result: field(w[0], 8, 8) as u8,
            fault_info: field(w[0], 16, 8) as u8,
            bytes_completed: field(w[0], 32, 32) as u32,
            fault_addr: w[1],
            op_specific: [w[2], w[3]],
        }
    }

    /// Status code (see [`comp`]), without bit 7.
    pub(crate) const fn status(&self) -> u8 {
        self.status_byte & comp::STATUS_MASK
    }

    /// The device has written the record.
    pub(crate) const fn is_done(&self) -> bool {
        self.status() != comp::NONE
    }

    /// The operation succeeded (including a false predicate).
    pub(crate) const fn is_success(&self) -> bool {
        matches!(self.status(), comp::SUCCESS | comp::SUCCESS_PRED)
    }

    /// Invalid flags, for [`comp::INVALID_FLAGS`] (24 bits).
    pub(crate) const fn invalid_flags(&self) -> u32 {
        field(self.op_specific[0], 0, 24) as u32
    }

    /// CRC value, for CRCGEN.
    pub(crate) const fn crc_val(&self) -> u64 {
        self.op_specific[0]
    }

    /// Delta record size, for CR_DELTA.
    pub(crate) const fn delta_rec_size(&self) -> u32 {
        self.op_specific[0] as u32
    }
}

// Layout checks.
const _: () = assert!(DESC_SIZE == 8 * core::mem::size_of::<u64>());
const _: () = assert!(COMP_RECORD_SIZE == 4 * core::mem::size_of::<u64>());
const _: () =
    assert!(grpcfg::SIZE >= grpcfg::FLAGS + 8 && grpcfg::ENGINES == 8 * grpcfg::WQS_COUNT);
const _: () = assert!(wqcfg::SIZE == 4 * wqcfg::DWORDS && wqcfg::SIZE == 1 << wqcfg::MIN_SHIFT);
const _: () = assert!(ims::ENTRY_SIZE == ims::CTRL + 4);
const _: () = assert!(off::swerr(off::SWERR_COUNT) <= off::DBG_ID);
const _: () = assert!(off::opcap(off::OPCAP_COUNT) == off::TABLE_OFFSET);
const _: () = assert!(off::DBG_FAIL_PENDING + 4 <= BAR0_SIZE);
const _: () = assert!(PORTAL_SIZE & (DESC_SIZE - 1) == 0 && PORTAL_STRIDE >= PORTAL_SIZE);

// Encoding checks, computed by hand from registers.h and idxd.h.
const _: () = assert!(cmd(cmd::ENABLE_WQ, 3, true) == 0x8060_0003);
const _: () = assert!(cmd::wq_operand(17) == 0x1_0002);
const _: () = assert!(
    cmd(
        cmd::REQUEST_INT_HANDLE,
        cmd::int_handle_operand(5, true),
        false
    ) == 0xd1_0005
);
const _: () = {
    let w = Desc::memmove(0x1000, 0x2000, 0x40)
        .with_completion(0x3000)
        .with_interrupt(0x8001)
        .encode();
    assert!(w[0] == 0x0300_001c_0000_0000);
    assert!(w[1] == 0x3000 && w[2] == 0x1000 && w[3] == 0x2000);
    assert!(w[4] == 0x8001_0000_0040);
    let mut d = Desc::noop();
    d.pasid = 0xf_ffff;
    d.priv_ = true;
    assert!(d.encode()[0] == 0x8000_0000 | 0xf_ffff);
    let d = Desc::decode(&Desc::dualcast(1, 2, 3, 4).encode());
    assert!(d.opcode == opcode::DUALCAST && d.op_specific[0] == 3 && d.xfer_size == 4);
};
const _: () = {
    let w = [
        0x40,
        0x10,
        0x3fff_ffff,
        0x1ff,
        0x1_ffff,
        0x1_ffff,
        0xe001_ffff,
        0,
    ];
    let c = WqCfg::from_words(w);
    assert!(c.dedicated && c.priv_ && c.pasid_en && c.pasid == 0xf_ffff && c.priority == 0xf);
    assert!(c.max_xfer_shift == 0x1f && c.max_batch_shift == 0xf && c.state == 3);
    let back = c.to_words();
    let mut i = 0;
    while i < 8 {
        assert!(back[i] == w[i]);
        i += 1;
    }
};
const _: () = assert!(GroupFlags::from_bits(0x33_0ff0_ffbf).to_bits() == 0x33_0ff0_ffbf);
const _: () = {
    let r = CompRecord::decode(&[0x1234_5678_0001_0281, 0xdead, 0x00ab_cdef, 0]);
    assert!(r.status() == comp::SUCCESS && r.result == 2 && r.fault_info == 1);
    assert!(r.bytes_completed == 0x1234_5678 && r.invalid_flags() == 0xab_cdef);
};
const _: () = {
    assert!(ims::ctrl(true, Some(5)) == 0x5009 && msix_perm::encode(Some(5), false) == 0x5008);
    assert!(ims::cookie_ctrl(ims::pasid_cookie(0x42), false) == (0x42 << 12) | 0x8);
    assert!(ims::cookie_ctrl(ims::pasid_cookie(0x42), true) == (0x42 << 12) | 0x9);
    assert!(ims::cookie_ctrl(0x42, true) == 0x1 && ims::cookie_ctrl(0, false) == 0);
};

/// The register types decode what the device writes: checked when the module loads, with
/// KUnit (`idxd_rs_regs`).
#[kernel::macros::kunit_tests(idxd_rs_regs)]
mod tests {
    use super::*;

    #[test]
    fn gencap_fields() {
        let g = GENCAP::from_raw(0x8000_0000 | (8 << 25) | (10 << 21) | (21 << 16) | 0x12);
        assert!(g.config_en() && g.overlap_copy() && g.cmd_cap() && !g.block_on_fault());
        assert_eq!(g.ims_slots(), 2048);
        assert_eq!(g.max_xfer_bytes(), 1 << 21);
        assert_eq!(g.max_batch_size(), 1 << 10);
    }

    #[test]
    fn wqcap_table_offset_fields() {
        let w = WQCAP::from_raw((1 << 49) | (1 << 52) | (2 << 24) | (8 << 16) | 128);
        assert_eq!(u32::from(w.total_wq_size()), 128);
        assert_eq!(u32::from(w.num_wqs()), 8);
        assert_eq!(w.wqcfg_bytes(), 128);
        assert!(w.dedicated_mode() && w.occupancy() && !w.shared_mode());
        let t = TABLE_OFFSET::from_raw(0x0060_0000_0050_0040);
        assert_eq!(t.grpcfg_offset(), 0x40 * TABLE_MULT);
        assert_eq!(t.wqcfg_offset(), 0x50 * TABLE_MULT);
        assert_eq!(t.msix_perm_offset(), 0);
        assert_eq!(t.ims_offset(), 0x60 * TABLE_MULT);
    }

    #[test]
    fn cmdsts_gensts_fields() {
        let c = CMDSTS::from_raw(0x8000_1201);
        assert!(c.active());
        assert_eq!(u8::from(c.err()), cmdsts::INVAL_CMD);
        assert_eq!(u16::from(c.result()), 0x12);
        let g = GENSTS::from_raw(gensts::STATE_HALT | (gensts::RESET_WARM << 2));
        assert!(g.is_halted() && !g.is_enabled());
        assert_eq!(u32::from(g.reset_type()), gensts::RESET_WARM);
    }

    #[test]
    fn swerr_fields() {
        let s = Swerr([0x0abc_de12_0003_190d, 0x1234_0000_0007, 0xfeed, 0]);
        let (st, info) = (s.status(), s.info());
        assert!(st.valid() && !st.overflow() && st.desc_valid() && st.wq_idx_valid());
        assert!(!st.batch());
        assert_eq!(u8::from(st.error()), 0x19);
        assert_eq!(u8::from(st.wq_idx()), 3);
        assert_eq!(u8::from(st.operation()), 0x12);
        assert_eq!(u32::from(st.pasid()), 0xabcde);
        assert_eq!(u16::from(info.batch_idx()), 7);
        assert_eq!(u32::from(info.invalid_flags()), 0x1234);
        assert_eq!(s.fault_addr(), 0xfeed);
    }
}
