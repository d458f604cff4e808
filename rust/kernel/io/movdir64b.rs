// SPDX-License-Identifier: GPL-2.0

//! 64-byte atomic MMIO submission with `MOVDIR64B`.
//!
//! Devices such as Intel DSA take 64-byte descriptors through portals, which must see each
//! descriptor as one write. `MOVDIR64B` posts 64 bytes as a single non-torn write.
//!
//! C header: [`arch/x86/include/asm/io.h`](srctree/arch/x86/include/asm/io.h)
//! (`iosubmit_cmds512()`).

use crate::{
    bindings,
    io::{IoBackend, IoBase, MmioBackend},
    prelude::*,
    ptr::KnownSize,
};

/// The size of one `MOVDIR64B` write, and the alignment of its destination.
pub const SIZE: usize = 64;

/// Returns whether the CPU has the `MOVDIR64B` instruction.
pub fn has_movdir64b() -> bool {
    #[cfg(CONFIG_X86_64)]
    // SAFETY: The helper only reads the boot CPU's feature bits.
    return unsafe { bindings::cpu_has_movdir64b() };
    #[cfg(not(CONFIG_X86_64))]
    return false;
}

/// Writes the 64 bytes of `data` at `offset` of the MMIO region `io` with one `MOVDIR64B`,
/// ordered after the caller's earlier stores.
///
/// Fails with [`EOPNOTSUPP`] if the CPU lacks the instruction (see [`has_movdir64b`]), and with
/// [`EINVAL`] if `offset` is not 64-byte aligned or the 64 bytes do not fit in the region.
pub fn submit<'a, I>(io: I, data: &[u64; 8], offset: usize) -> Result
where
    I: IoBase<'a, Backend = MmioBackend>,
{
    if !has_movdir64b() {
        return Err(EOPNOTSUPP);
    }
    let base = MmioBackend::as_ptr(io.as_view());
    let size = KnownSize::size(base);
    if offset % SIZE != 0 || offset.checked_add(SIZE).is_none_or(|end| end > size) {
        return Err(EINVAL);
    }
    let dst = base.cast::<u8>().wrapping_add(offset);
    #[cfg(CONFIG_X86_64)]
    // SAFETY: `base` is the start of a mapped MMIO region of `size` bytes (an `Mmio` view's
    // invariant), and `offset .. offset + 64` lies inside it and is 64-byte aligned, as
    // `MOVDIR64B` requires; `data` is 64 readable bytes.
    unsafe {
        bindings::iosubmit_cmds512(dst.cast(), data.as_ptr().cast(), 1)
    };
    #[cfg(not(CONFIG_X86_64))]
    let _ = dst;
    Ok(())
}
