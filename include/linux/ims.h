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

/* Allocate at any free slot (ims_user_alloc_irq()) */
#define IMS_ANY_INDEX		MSI_ANY_INDEX

/* Flags of struct ims_chip_ops::flags */
/* Threaded handlers need no mask/unmask around them (IRQCHIP_ONESHOT_SAFE) */
#define IMS_CHIP_ONESHOT_SAFE		0x1U
/* Mask the vectors that are not wakeup sources on suspend (IRQCHIP_MASK_ON_SUSPEND) */
#define IMS_CHIP_MASK_ON_SUSPEND	0x2U

/**
 * struct ims_chip_ops - How a device stores its IMS vectors
 * @write_msg:	Write the message (address/data) of the vector in slot @index.
 * @mask:	Mask slot @index. @cookie is the vector's cookie: a chip that
 *		stores it in the slot keeps it while masked.
 * @unmask:	Write @cookie into slot @index and unmask it.
 * @shutdown:	Clear slot @index: masked, no cookie, no message.
 * @bus_lock:	Optional. Take the lock of the slow bus the slots are behind;
 *		may sleep.
 * @bus_sync_unlock: Optional. Carry out what the callbacks above recorded
 *		since @bus_lock, then release the bus lock; may sleep.
 * @flags:	IMS_CHIP_* flags.
 *
 * @write_msg, @mask, @unmask and @shutdown run with the interrupt
 * descriptor's lock held and interrupts disabled: they must not sleep.
 * A chip whose slots change only through a sleeping operation (a device
 * command, queue memory the device caches) sets @bus_lock and
 * @bus_sync_unlock, both or neither: the interrupt core calls @bus_lock
 * before and @bus_sync_unlock after it requests, frees, enables or
 * disables a vector, and the chip records the writes in between and
 * carries them out in @bus_sync_unlock. See Documentation/driver-api/ims.rst
 * for the calls that come without the bus lock. @priv is the pointer given
 * to devm_ims_domain_create().
 */
struct ims_chip_ops {
	void (*write_msg)(void *priv, unsigned int index, const struct msi_msg *msg);
	void (*mask)(void *priv, unsigned int index, u64 cookie);
	void (*unmask)(void *priv, unsigned int index, u64 cookie);
	void (*shutdown)(void *priv, unsigned int index);
	void (*bus_lock)(void *priv);
	void (*bus_sync_unlock)(void *priv);
	u32 flags;
};

struct ims_domain;
struct ims_user;

/*
 * The functions below are implemented in Rust (rust/kernel/irq/ims.rs), so
 * their kernel-doc lives here. All of them may sleep.
 */

/**
 * devm_ims_domain_create - Create the device-managed IMS domain of a device
 * @dev:	The device, bound to the caller's driver
 * @name:	Name of the interrupt chip (/proc/interrupts); copied
 * @ops:	How the device stores its vectors; must stay valid, and its
 *		callbacks callable with @priv, until @dev is unbound
 * @priv:	Passed to every callback of @ops
 * @nr_slots:	Number of slots, 1 to 65536
 *
 * The domain lives until @dev is unbound. Then it frees the vectors its
 * users still hold and removes itself; users that outlive it
 * (ims_user_add()) fail with -ENODEV. Interrupts requested with devm after
 * this call are freed before that; any other must be freed (free_irq())
 * before the unbinding. Vectors are allocated through users.
 *
 * Return: the domain, or an ERR_PTR(): -EINVAL for a NULL argument, a bad
 * slot count, one bus callback without the other or unknown @ops->flags;
 * -EOPNOTSUPP if the MSI parent of @dev does no interrupt remapping;
 * -EEXIST if @dev has an IMS domain already; -ENOMEM.
 */
struct ims_domain *devm_ims_domain_create(struct device *dev, const char *name,
					  const struct ims_chip_ops *ops, void *priv,
					  unsigned int nr_slots);

/**
 * ims_domain_free_slots - Count the slots of a domain without a vector
 * @ims:	The domain
 *
 * Return: the number of free slots; 0 for a NULL or ERR_PTR() domain.
 */
unsigned int ims_domain_free_slots(struct ims_domain *ims);

/**
 * ims_user_add - Let a sub-device hold vectors of a domain
 * @ims:	The domain
 * @subdev:	The sub-device (a work queue, an mdev), or the domain's device;
 *		its default MSI cookie is read at each allocation
 * @quota:	How many vectors @subdev may hold at most
 *
 * The user holds a reference to @subdev until ims_user_remove(). Finding
 * a user costs O(log n) in the number of users of @ims.
 *
 * Return: the user, or an ERR_PTR(): -EEXIST if @subdev is a user of @ims
 * already, -ENODEV if the device of @ims is being unbound, -EINVAL for a
 * NULL or ERR_PTR() domain or a NULL device, -ENOMEM.
 */
struct ims_user *ims_user_add(struct ims_domain *ims, struct device *subdev,
			      unsigned int quota);

/**
 * ims_user_remove - Remove a user and free the vectors it holds
 * @user:	The user; NULL and ERR_PTR() values are ignored
 *
 * The interrupts of its vectors must have been freed (free_irq()): a vector
 * whose interrupt is still requested is leaked, with a warning, rather than
 * freed under its handler. Drops the reference to the user's device.
 */
void ims_user_remove(struct ims_user *user);

/**
 * ims_user_set_quota - Change the quota of a user
 * @user:	The user
 * @quota:	How many vectors it may hold at most
 *
 * Return: 0, -EBUSY if @user holds more than @quota already, -EINVAL for a
 * NULL or ERR_PTR() user.
 */
int ims_user_set_quota(struct ims_user *user, unsigned int quota);

/**
 * ims_user_count - Count the vectors a user holds
 * @user:	The user
 *
 * Return: the number of vectors @user holds; 0 for a NULL or ERR_PTR() user.
 */
unsigned int ims_user_count(struct ims_user *user);

/**
 * ims_user_alloc_irq - Allocate one vector
 * @user:	The user the vector is for, within its quota
 * @index:	The slot, or IMS_ANY_INDEX for any free one
 * @cookie:	The vector's cookie, or NULL for the default MSI cookie of the
 *		user's device (dev_msi_default_cookie()) as it is now
 *
 * Vectors already allocated are not touched.
 *
 * Return: the slot index and Linux interrupt number of the vector. On
 * failure .index is a negative errno and .virq 0: -ENOSPC if @user is at
 * its quota or no slot is free, -EBUSY if slot @index is taken, -EINVAL for
 * an index beyond the domain or a NULL or ERR_PTR() user, -ENODEV once the
 * domain's device is unbound.
 */
struct msi_map ims_user_alloc_irq(struct ims_user *user, unsigned int index,
				  const u64 *cookie);

/**
 * ims_user_free_irq - Free one vector
 * @user:	The user holding the vector
 * @index:	Its slot
 *
 * Its interrupt must have been freed (free_irq()) first: if it is still
 * requested, the vector is leaked with a warning. Other vectors are not
 * touched. A slot @user does not hold is left alone, with a rate-limited
 * warning.
 */
void ims_user_free_irq(struct ims_user *user, unsigned int index);

#endif /* _LINUX_IMS_H */
