/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The IMS slot of Intel DSA (idxd), as the emulated device implements it.
 *
 * This is the one definition of the slot format: the Rust DSA driver
 * (drivers/dma/idxd-rs, through the kernel crate's bindings) and the C test
 * chips of the IMS core (lib/tests/ims) both use it. The IMS core itself
 * knows no slot format: a chip turns a vector's message and cookie into its
 * device's storage (see <linux/ims.h>).
 *
 * The table sits in BAR0 at TABLE_OFFSET.ims * 0x100 and has
 * GENCAP.max_ims_mult * IDXD_IMS_SLOTS_PER_MULT slots of 16 bytes:
 * {addr_lo, addr_hi, data, ctrl}. ctrl bit 0 masks the slot, bit 3 enables
 * the PASID check and bits 31:12 hold the PASID: the device raises a slot
 * with PASID enable only for work of that PASID.
 *
 * A vector's cookie names its PASID as IDXD_IMS_COOKIE_PASID(pasid); any
 * other cookie (0 for a kernel work queue) leaves PASID enable clear.
 */
#ifndef _LINUX_IDXD_IMS_H
#define _LINUX_IDXD_IMS_H

#include <linux/types.h>

/* Plain constants rather than BIT()/GENMASK(): bindgen hands them to Rust. */
#define IDXD_IMS_SLOT_SIZE		16
#define IDXD_IMS_SLOT_ADDR_LO		0x0
#define IDXD_IMS_SLOT_ADDR_HI		0x4
#define IDXD_IMS_SLOT_DATA		0x8
#define IDXD_IMS_SLOT_CTRL		0xc
#define IDXD_IMS_SLOTS_PER_MULT		256

#define IDXD_IMS_CTRL_MASK		0x1U
#define IDXD_IMS_CTRL_PASID_EN		0x8U
#define IDXD_IMS_CTRL_PASID_SHIFT	12
#define IDXD_IMS_CTRL_PASID_MASK	0xfffff000U

#define IDXD_IMS_COOKIE_PASID_VALID	0x8000000000000000ULL
#define IDXD_IMS_COOKIE_PASID_MASK	0xfffffULL
#define IDXD_IMS_COOKIE_PASID(pasid)	\
	(IDXD_IMS_COOKIE_PASID_VALID | ((u64)(pasid) & IDXD_IMS_COOKIE_PASID_MASK))

/**
 * idxd_ims_slot_ctrl - The ctrl word of a DSA IMS slot
 * @cookie:	The vector's cookie
 * @masked:	Whether the slot is to be masked
 *
 * Return: the mask bit if @masked, and PASID enable with the PASID if
 * @cookie is an IDXD_IMS_COOKIE_PASID().
 */
static inline u32 idxd_ims_slot_ctrl(u64 cookie, bool masked)
{
	u32 ctrl = masked ? IDXD_IMS_CTRL_MASK : 0;

	if (cookie & IDXD_IMS_COOKIE_PASID_VALID)
		ctrl |= IDXD_IMS_CTRL_PASID_EN |
			(u32)(cookie & IDXD_IMS_COOKIE_PASID_MASK) << IDXD_IMS_CTRL_PASID_SHIFT;
	return ctrl;
}

#endif /* _LINUX_IDXD_IMS_H */
