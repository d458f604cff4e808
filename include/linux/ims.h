/* SPDX-License-Identifier: GPL-2.0 */
/*
 * IMS (Interrupt Message Store): device-managed MSI.
 *
 * The device, not the PCI MSI-X table, stores each vector's address/data
 * pair (in MMIO slots, in queue memory, ...). The IMS core creates a
 * per-device MSI domain for such storage, next to the device's PCI/MSI-X
 * domain, and allocates vectors from it one at a time, at any point after
 * probe, for the device itself or for its sub-devices (a work queue, an
 * mdev), each within a quota set by the parent driver.
 *
 * Every vector carries a cookie (a PASID, a VM-id): by default the
 * requesting device's default MSI cookie (dev_msi_set_default_cookie()),
 * copied into the vector's msi_desc at allocation, or an explicit one.
 * The chip receives it in ->unmask() and ->mask() and writes it to the
 * slot, so hardware never raises a vector for work of another cookie.
 *
 * IMS requires interrupt remapping: without it, domain creation fails with
 * -EOPNOTSUPP.
 *
 * The core is written in Rust (rust/kernel/irq/ims.rs); this is its C API.
 * See Documentation/driver-api/ims.rst.
 */
#ifndef _LINUX_IMS_H
#define _LINUX_IMS_H

#include <linux/msi_api.h>
#include <linux/types.h>

struct device;
struct msi_msg;

/* Allocate at any free slot (ims_alloc_irq()) */
#define IMS_ANY_INDEX		MSI_ANY_INDEX

/**
 * struct ims_chip_ops - How a device stores its IMS vectors
 * @write_msg:	Write the message (address/data) of the vector in slot @index.
 * @mask:	Mask slot @index. @cookie is the vector's cookie: a chip that
 *		stores it in the slot keeps it while masked.
 * @unmask:	Write @cookie into slot @index and unmask it.
 * @shutdown:	Clear slot @index: masked, no cookie, no message.
 *
 * All callbacks run with the interrupt descriptor's lock held and
 * interrupts disabled: they must not sleep. @priv is the pointer given to
 * ims_domain_create().
 */
struct ims_chip_ops {
	void (*write_msg)(void *priv, unsigned int index, const struct msi_msg *msg);
	void (*mask)(void *priv, unsigned int index, u64 cookie);
	void (*unmask)(void *priv, unsigned int index, u64 cookie);
	void (*shutdown)(void *priv, unsigned int index);
};

struct ims_domain;

struct ims_domain *ims_domain_create(struct device *dev, const char *name,
				     const struct ims_chip_ops *ops, void *priv,
				     unsigned int nr_slots);
void ims_domain_remove(struct ims_domain *ims);

int ims_set_quota(struct ims_domain *ims, struct device *subdev, unsigned int quota);
unsigned int ims_count(struct ims_domain *ims, struct device *subdev);

struct msi_map ims_alloc_irq(struct ims_domain *ims, struct device *subdev,
			     unsigned int index, const u64 *cookie);
void ims_free_irq(struct ims_domain *ims, struct device *subdev, unsigned int index);

/*
 * The 16-byte slot format of Intel DSA and the emulated device:
 * {addr_lo, addr_hi, data, ctrl}, ctrl bit 0 = mask, bit 3 = PASID enable,
 * bits 31:12 = PASID. A PASID cookie is IMS_COOKIE_PASID(pasid); any other
 * cookie leaves PASID enable clear.
 */
#define IMS_SLOT_SIZE			16
#define IMS_SLOT_ADDR_LO		0x0
#define IMS_SLOT_ADDR_HI		0x4
#define IMS_SLOT_DATA			0x8
#define IMS_SLOT_CTRL			0xc
/* Plain constants rather than BIT()/GENMASK(): bindgen hands them to Rust. */
#define IMS_SLOT_CTRL_MASK		0x1U
#define IMS_SLOT_CTRL_PASID_EN		0x8U
#define IMS_SLOT_CTRL_PASID_SHIFT	12
#define IMS_SLOT_CTRL_PASID_MASK	0xfffff000U

#define IMS_COOKIE_PASID_VALID		0x8000000000000000ULL
#define IMS_COOKIE_PASID_MASK		0xfffffULL
#define IMS_COOKIE_PASID(pasid)		(IMS_COOKIE_PASID_VALID | ((u64)(pasid) & IMS_COOKIE_PASID_MASK))

u32 ims_slot_ctrl(u64 cookie, bool masked);

#endif /* _LINUX_IMS_H */
