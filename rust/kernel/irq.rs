// SPDX-License-Identifier: GPL-2.0

//! Interrupt handling: MSI and IMS (device-managed MSI).
//!
//! C headers: [`include/linux/irq.h`](srctree/include/linux/irq.h),
//! [`include/linux/msi.h`](srctree/include/linux/msi.h),
//! [`include/linux/ims.h`](srctree/include/linux/ims.h).

#[cfg(CONFIG_IRQ_IMS)]
pub mod ims;
pub mod msi;
pub mod request;

pub use request::{
    Flags, Handler, IrqReturn, Registration, ThreadedHandler, ThreadedIrqReturn,
    ThreadedRegistration,
};
