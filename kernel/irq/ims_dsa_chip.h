/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The IMS chip of the emulated DSA's slot table, for the IMS core's KUnit
 * suite and benchmarks: the table is in BAR 0 (TABLE_OFFSET.ims), slots in
 * the 16-byte format of <linux/ims.h>. The chip's private data is the
 * table's __iomem address.
 */
#ifndef _KERNEL_IRQ_IMS_DSA_CHIP_H
#define _KERNEL_IRQ_IMS_DSA_CHIP_H

#include <linux/ims.h>
#include <linux/io.h>
#include <linux/msi.h>

static void __iomem *ims_dsa_slot(void *table, unsigned int index)
{
	return (void __iomem *)table + index * IMS_SLOT_SIZE;
}

static void ims_dsa_write_msg(void *table, unsigned int index, const struct msi_msg *msg)
{
	void __iomem *slot = ims_dsa_slot(table, index);

	iowrite32(msg->address_lo, slot + IMS_SLOT_ADDR_LO);
	iowrite32(msg->address_hi, slot + IMS_SLOT_ADDR_HI);
	iowrite32(msg->data, slot + IMS_SLOT_DATA);
}

static void ims_dsa_mask(void *table, unsigned int index, u64 cookie)
{
	iowrite32(ims_slot_ctrl(cookie, true), ims_dsa_slot(table, index) + IMS_SLOT_CTRL);
}

static void ims_dsa_unmask(void *table, unsigned int index, u64 cookie)
{
	iowrite32(ims_slot_ctrl(cookie, false), ims_dsa_slot(table, index) + IMS_SLOT_CTRL);
}

static void ims_dsa_shutdown(void *table, unsigned int index)
{
	void __iomem *slot = ims_dsa_slot(table, index);

	/* Mask first: the slot is never live with a half-cleared message. */
	iowrite32(IMS_SLOT_CTRL_MASK, slot + IMS_SLOT_CTRL);
	iowrite32(0, slot + IMS_SLOT_ADDR_LO);
	iowrite32(0, slot + IMS_SLOT_ADDR_HI);
	iowrite32(0, slot + IMS_SLOT_DATA);
}

static const struct ims_chip_ops ims_dsa_ops = {
	.write_msg	= ims_dsa_write_msg,
	.mask		= ims_dsa_mask,
	.unmask		= ims_dsa_unmask,
	.shutdown	= ims_dsa_shutdown,
};

#endif /* _KERNEL_IRQ_IMS_DSA_CHIP_H */
