/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The emulated DSA for the IMS core's KUnit suite and benchmarks: the few
 * registers they program, and the IMS chip of its slot table. The table is
 * in BAR 0 (TABLE_OFFSET.ims), slots in the format of <linux/idxd_ims.h>,
 * which the Rust DSA driver shares; the chip's private data is the table's
 * __iomem address.
 */
#ifndef _LIB_TESTS_IMS_DSA_CHIP_H
#define _LIB_TESTS_IMS_DSA_CHIP_H

#include <linux/bits.h>
#include <linux/idxd_ims.h>
#include <linux/ims.h>
#include <linux/io.h>
#include <linux/msi.h>

/*
 * BAR0 registers: DSA architecture specification, as mirrored by
 * drivers/dma/idxd/registers.h (driver internal, so the few offsets and
 * fields used are defined here); IMS slots and the model's limits in
 * tools/testing/qemu/docs/dsa.rst.
 */
#define DSA_GENCAP			0x10
#define  DSA_GENCAP_CMD_CAP		BIT_ULL(4)
#define  DSA_GENCAP_MAX_XFER_SHIFT	GENMASK_ULL(20, 16)
#define  DSA_GENCAP_MAX_BATCH_SHIFT	GENMASK_ULL(24, 21)
#define  DSA_GENCAP_MAX_IMS_MULT	GENMASK_ULL(30, 25)
#define DSA_WQCAP			0x20
#define  DSA_WQCAP_TOTAL_WQ_SIZE	GENMASK_ULL(15, 0)
#define  DSA_WQCAP_NUM_WQS		GENMASK_ULL(23, 16)
#define  DSA_WQCAP_WQCFG_SIZE		GENMASK_ULL(27, 24)
#define  DSA_WQCAP_DEDICATED		BIT_ULL(49)
#define DSA_TABLE_OFFSET		0x60
#define  DSA_TABLE_GRPCFG		GENMASK_ULL(15, 0)
#define  DSA_TABLE_WQCFG		GENMASK_ULL(31, 16)
#define  DSA_TABLE_IMS			GENMASK_ULL(63, 48)
#define  DSA_TABLE_MULT			0x100
#define DSA_GENCTRL			0x88
#define DSA_GENSTS			0x90
#define  DSA_GENSTS_STATE		GENMASK(1, 0)
#define  DSA_GENSTS_ENABLED		1
#define DSA_INTCAUSE			0x98
#define DSA_CMD				0xa0
#define  DSA_CMD_OPERAND		GENMASK(19, 0)
#define  DSA_CMD_CODE			GENMASK(24, 20)
#define DSA_CMDSTS			0xa8
#define  DSA_CMDSTS_ACTIVE		BIT(31)
#define  DSA_CMDSTS_ERR			GENMASK(7, 0)
#define  DSA_CMDSTS_RESULT		GENMASK(23, 8)
#define DSA_CMDCAP			0xb0
#define DSA_SWERR			0xc0
#define  DSA_SWERR_VALID		BIT_ULL(0)
#define  DSA_SWERR_OVERFLOW		BIT_ULL(1)
#define  DSA_SWERR_ERROR		GENMASK_ULL(15, 8)
#define  DSA_SWERR_INVALID_INT_HANDLE	0x19

#define DSA_CMD_ENABLE_DEVICE		1
#define DSA_CMD_DISABLE_DEVICE		2
#define DSA_CMD_RESET_DEVICE		5
#define DSA_CMD_ENABLE_WQ		6
#define DSA_CMD_DISABLE_WQ		7
#define DSA_CMD_REQUEST_INT_HANDLE	13
#define  DSA_CMD_INT_HANDLE_IMS		0x10000

/* GRPCFG: 64 bytes per group: WQ bitmap (4 x u64), engine bitmap, flags */
#define DSA_GRPCFG_WQS			0
#define DSA_GRPCFG_ENGINES		32
#define DSA_GRPCFG_FLAGS		40

/* WQCFG: dwords of one WQ's entry, 1 << (5 + WQCAP.wqcfg_size) bytes */
#define DSA_WQCFG_SIZE			0
#define DSA_WQCFG_THRESHOLD		1
#define DSA_WQCFG_MODE			2
#define  DSA_WQCFG_DEDICATED		BIT(0)
#define  DSA_WQCFG_PRIORITY		GENMASK(7, 4)
#define  DSA_WQCFG_PASID		GENMASK(27, 8)
#define  DSA_WQCFG_PASID_EN		BIT(28)
#define DSA_WQCFG_LIMITS		3
#define  DSA_WQCFG_MAX_XFER_SHIFT	GENMASK(4, 0)
#define  DSA_WQCFG_MAX_BATCH_SHIFT	GENMASK(8, 5)
#define DSA_WQCFG_STATE			6
#define  DSA_WQCFG_STATE_OF		GENMASK(31, 30)
#define  DSA_WQCFG_STATE_ENABLED	1

/* int_handle of a descriptor: bit 15 names an IMS slot, not an MSI-X vector */
#define DSA_INT_HANDLE_IMS		0x8000
/* BAR2: four 4 KiB portal pages per WQ (the first is the unlimited portal) */
#define DSA_PORTAL_STRIDE		0x4000

static void __iomem *ims_dsa_slot(void *table, unsigned int index)
{
	return (void __iomem *)table + index * IDXD_IMS_SLOT_SIZE;
}

static void ims_dsa_write_msg(void *table, unsigned int index, const struct msi_msg *msg)
{
	void __iomem *slot = ims_dsa_slot(table, index);

	iowrite32(msg->address_lo, slot + IDXD_IMS_SLOT_ADDR_LO);
	iowrite32(msg->address_hi, slot + IDXD_IMS_SLOT_ADDR_HI);
	iowrite32(msg->data, slot + IDXD_IMS_SLOT_DATA);
}

/* The ctrl word of slot @index */
static void __iomem *ims_dsa_ctrl(void *table, unsigned int index)
{
	return ims_dsa_slot(table, index) + IDXD_IMS_SLOT_CTRL;
}

static void ims_dsa_mask(void *table, unsigned int index, u64 cookie)
{
	iowrite32(idxd_ims_slot_ctrl(cookie, true), ims_dsa_ctrl(table, index));
}

static void ims_dsa_unmask(void *table, unsigned int index, u64 cookie)
{
	iowrite32(idxd_ims_slot_ctrl(cookie, false), ims_dsa_ctrl(table, index));
}

static void ims_dsa_shutdown(void *table, unsigned int index)
{
	void __iomem *slot = ims_dsa_slot(table, index);

	/* Mask first: the slot is never live with a half-cleared message. */
	iowrite32(IDXD_IMS_CTRL_MASK, slot + IDXD_IMS_SLOT_CTRL);
	iowrite32(0, slot + IDXD_IMS_SLOT_ADDR_LO);
	iowrite32(0, slot + IDXD_IMS_SLOT_ADDR_HI);
	iowrite32(0, slot + IDXD_IMS_SLOT_DATA);
}

static const struct ims_chip_ops ims_dsa_ops = {
	.write_msg	= ims_dsa_write_msg,
	.mask		= ims_dsa_mask,
	.unmask		= ims_dsa_unmask,
	.shutdown	= ims_dsa_shutdown,
};

#endif /* _LIB_TESTS_IMS_DSA_CHIP_H */
