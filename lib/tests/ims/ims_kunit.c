// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the IMS core, through its C API (include/linux/ims.h).
 *
 * Suite "ims": the core over a memory-backed IMS chip, whose slots are a
 * kzalloc'ed array in the DSA's 16-byte format (<linux/idxd_ims.h>). The
 * domain is created on a real PCI function of the test VM, the emulated
 * DSA (8086:0b25, QEMU -device intel-dsa), because an IMS domain needs what
 * only a real PCI device behind interrupt remapping has: an MSI parent
 * domain that accepts IMS. The device itself is never touched: its slots
 * live in memory.
 *
 * Suite "ims_dsa": end to end on the emulated DSA. Its chip writes the
 * device's real IMS slots in BAR0; a descriptor asking for a completion
 * interrupt reaches the handler through the slot, and a slot bound to
 * another PASID is refused by the device.
 *
 * Both suites bind the function with a test PCI driver of their own, for
 * their duration, and skip when it is absent or another driver has it
 * (scripts/vm/suites/ims-kunit.sh unbinds it first). Each case takes the
 * devres it adds (the domains, the MSI device data) in devres groups and
 * releases them: what unbinding would do.
 */

#include <linux/bitfield.h>
#include <linux/bitmap.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/idxd_ims.h>
#include <linux/ims.h>
#include <linux/interrupt.h>
#include <linux/iopoll.h>
#include <linux/irq.h>
#include <linux/irqdomain.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/msi.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/sched.h>
#include <linux/sizes.h>
#include <linux/string.h>

#include <kunit/device.h>
#include <kunit/test.h>

#include <uapi/linux/idxd.h>

#include "ims_dsa_chip.h"

#define IMS_KUNIT_NAME		"ims_kunit"

/*
 * By default the cases run on a function without any MSI state, as a
 * driver that uses IMS only would: the core must set up the device's MSI
 * data itself. With msix_first=1, each case first enables one MSI-X
 * vector, as a driver with a misc vector would, and the core finds the MSI
 * data there.
 */
static bool msix_first;
module_param(msix_first, bool, 0444);
MODULE_PARM_DESC(msix_first, "Enable one MSI-X vector before creating IMS domains");

/* x86 MSI messages target the 0xfeexxxxx window, remappable format or not */
#define IMS_KUNIT_MSI_WINDOW(addr_lo)	((addr_lo) >> 20 == 0xfee)

static struct pci_dev *ims_kunit_pdev(struct kunit *test);

/* Users and domains a case may have at once */
#define IMS_KUNIT_USERS		4
#define IMS_KUNIT_DOMS		4

/* --- the memory-backed chip ------------------------------------------------ */

struct ims_kunit_slot {
	u32	addr_lo;
	u32	addr_hi;
	u32	data;
	u32	ctrl;
};

static_assert(sizeof(struct ims_kunit_slot) == IDXD_IMS_SLOT_SIZE);

struct ims_kunit_vec {
	struct device	*subdev;
	unsigned int	virq;
	bool		allocated;
	bool		requested;
};

/**
 * struct ims_kunit - State of one test case of the "ims" suite
 * @test:	The test
 * @pdev:	The PCI function the domain is created on
 * @ims:	The IMS domain, if created
 * @group:	Devres group holding what the core put on @pdev
 * @nr_slots:	Slots of @ims (and entries of @slots and @vec)
 * @slots:	The chip's slots
 * @vec:	Vectors the test holds, by slot index
 * @bad_index:	Chip callbacks for an index >= @nr_slots
 * @cookie:	Default cookie of @pdev before the test, restored after it
 * @msi_domain:	MSI domain of @pdev before the test, restored after it
 * @msix:	MSI-X enabled on @pdev (msix_first)
 * @bus:	The bus lock of the sleeping chip (ims_kunit_bus_ops)
 * @shadow:	Slot contents the sleeping chip recorded, not yet written
 * @dirty:	Slots of @shadow to write at the next bus_sync_unlock()
 * @syncs:	bus_sync_unlock() calls that wrote something
 * @unlocked:	Sleeping-chip callbacks that came without the bus lock
 * @users:	Users of the case's domains, by device: the old per-device
 *		interface of the tests, on top of struct ims_user
 * @doms:	Domains the case created, each in a devres group of its own
 */
struct ims_kunit {
	struct kunit		*test;
	struct pci_dev		*pdev;
	struct ims_domain	*ims;
	void			*group;
	unsigned int		nr_slots;
	struct ims_kunit_slot	*slots;
	struct ims_kunit_vec	*vec;
	atomic_t		bad_index;
	u64			cookie;
	struct irq_domain	*msi_domain;
	bool			msix;
	struct mutex		bus;		/* held from bus_lock() to bus_sync_unlock() */
	struct ims_kunit_slot	*shadow;
	unsigned long		*dirty;
	unsigned int		syncs;
	atomic_t		unlocked;
	struct ims_kunit_user {
		struct ims_domain	*ims;
		struct device		*dev;
		struct ims_user		*user;
	}			users[IMS_KUNIT_USERS];
	struct ims_kunit_dom {
		struct ims_domain	*ims;
		void			*group;
	}			doms[IMS_KUNIT_DOMS];
};

static struct ims_kunit_slot *ims_kunit_chip_slot(struct ims_kunit *k, unsigned int index)
{
	if (index >= k->nr_slots) {
		atomic_inc(&k->bad_index);
		return NULL;
	}
	return &k->slots[index];
}

static void ims_kunit_write_msg(void *priv, unsigned int index, const struct msi_msg *msg)
{
	struct ims_kunit_slot *slot = ims_kunit_chip_slot(priv, index);

	if (!slot)
		return;
	WRITE_ONCE(slot->addr_lo, msg->address_lo);
	WRITE_ONCE(slot->addr_hi, msg->address_hi);
	WRITE_ONCE(slot->data, msg->data);
}

static void ims_kunit_mask(void *priv, unsigned int index, u64 cookie)
{
	struct ims_kunit_slot *slot = ims_kunit_chip_slot(priv, index);

	if (slot)
		WRITE_ONCE(slot->ctrl, idxd_ims_slot_ctrl(cookie, true));
}

static void ims_kunit_unmask(void *priv, unsigned int index, u64 cookie)
{
	struct ims_kunit_slot *slot = ims_kunit_chip_slot(priv, index);

	if (slot)
		WRITE_ONCE(slot->ctrl, idxd_ims_slot_ctrl(cookie, false));
}

static void ims_kunit_shutdown(void *priv, unsigned int index)
{
	struct ims_kunit_slot *slot = ims_kunit_chip_slot(priv, index);

	if (!slot)
		return;
	WRITE_ONCE(slot->ctrl, IDXD_IMS_CTRL_MASK);
	WRITE_ONCE(slot->addr_lo, 0);
	WRITE_ONCE(slot->addr_hi, 0);
	WRITE_ONCE(slot->data, 0);
}

static const struct ims_chip_ops ims_kunit_ops = {
	.write_msg	= ims_kunit_write_msg,
	.mask		= ims_kunit_mask,
	.unmask		= ims_kunit_unmask,
	.shutdown	= ims_kunit_shutdown,
};

/* --- a chip behind a slow bus ----------------------------------------------- */

/*
 * The same slots, changed only by a "command" that sleeps: the atomic
 * callbacks record the new contents in @shadow, and bus_sync_unlock()
 * writes every recorded slot, as a device command would, before it drops
 * the bus lock.
 */
static struct ims_kunit_slot *ims_kunit_bus_slot(struct ims_kunit *k, unsigned int index)
{
	if (index >= k->nr_slots) {
		atomic_inc(&k->bad_index);
		return NULL;
	}
	if (!mutex_is_locked(&k->bus))
		atomic_inc(&k->unlocked);
	set_bit(index, k->dirty);
	return &k->shadow[index];
}

static void ims_kunit_bus_write_msg(void *priv, unsigned int index, const struct msi_msg *msg)
{
	struct ims_kunit_slot *slot = ims_kunit_bus_slot(priv, index);

	if (!slot)
		return;
	slot->addr_lo = msg->address_lo;
	slot->addr_hi = msg->address_hi;
	slot->data = msg->data;
}

static void ims_kunit_bus_mask(void *priv, unsigned int index, u64 cookie)
{
	struct ims_kunit_slot *slot = ims_kunit_bus_slot(priv, index);

	if (slot)
		slot->ctrl = idxd_ims_slot_ctrl(cookie, true);
}

static void ims_kunit_bus_unmask(void *priv, unsigned int index, u64 cookie)
{
	struct ims_kunit_slot *slot = ims_kunit_bus_slot(priv, index);

	if (slot)
		slot->ctrl = idxd_ims_slot_ctrl(cookie, false);
}

static void ims_kunit_bus_shutdown(void *priv, unsigned int index)
{
	struct ims_kunit_slot *slot = ims_kunit_bus_slot(priv, index);

	if (slot)
		*slot = (struct ims_kunit_slot) { .ctrl = IDXD_IMS_CTRL_MASK };
}

static void ims_kunit_bus_lock(void *priv)
{
	struct ims_kunit *k = priv;

	mutex_lock(&k->bus);
}

static void ims_kunit_bus_sync_unlock(void *priv)
{
	struct ims_kunit *k = priv;
	unsigned int i;

	might_sleep();
	if (!bitmap_empty(k->dirty, k->nr_slots)) {
		/* The command takes a while, as a device's would. */
		usleep_range(50, 100);
		for_each_set_bit(i, k->dirty, k->nr_slots) {
			WRITE_ONCE(k->slots[i].addr_lo, k->shadow[i].addr_lo);
			WRITE_ONCE(k->slots[i].addr_hi, k->shadow[i].addr_hi);
			WRITE_ONCE(k->slots[i].data, k->shadow[i].data);
			WRITE_ONCE(k->slots[i].ctrl, k->shadow[i].ctrl);
		}
		bitmap_zero(k->dirty, k->nr_slots);
		k->syncs++;
	}
	mutex_unlock(&k->bus);
}

static const struct ims_chip_ops ims_kunit_bus_ops = {
	.write_msg	= ims_kunit_bus_write_msg,
	.mask		= ims_kunit_bus_mask,
	.unmask		= ims_kunit_bus_unmask,
	.shutdown	= ims_kunit_bus_shutdown,
	.bus_lock	= ims_kunit_bus_lock,
	.bus_sync_unlock = ims_kunit_bus_sync_unlock,
	.flags		= IMS_CHIP_ONESHOT_SAFE,
};

static struct ims_kunit_slot ims_kunit_read_slot(struct ims_kunit *k, unsigned int index)
{
	struct ims_kunit_slot *slot = &k->slots[index];

	return (struct ims_kunit_slot) {
		.addr_lo	= READ_ONCE(slot->addr_lo),
		.addr_hi	= READ_ONCE(slot->addr_hi),
		.data		= READ_ONCE(slot->data),
		.ctrl		= READ_ONCE(slot->ctrl),
	};
}

static u32 ims_kunit_ctrl(struct ims_kunit *k, unsigned int index)
{
	return READ_ONCE(k->slots[index].ctrl);
}

/* The ctrl word a PASID cookie must give, computed here, not by the core */
static u32 ims_kunit_pasid_ctrl(u32 pasid, bool masked)
{
	return (masked ? IDXD_IMS_CTRL_MASK : 0) | IDXD_IMS_CTRL_PASID_EN |
	       pasid << IDXD_IMS_CTRL_PASID_SHIFT;
}

static irqreturn_t ims_kunit_irq(int irq, void *data)
{
	/* The memory-backed slots never fire. */
	return IRQ_NONE;
}

/* --- per-case setup and teardown ------------------------------------------- */

/* The user of @dev in the case's domain, NULL if none */
static struct ims_user *ims_kunit_user(struct ims_kunit *k, struct device *dev)
{
	unsigned int i;

	for (i = 0; i < IMS_KUNIT_USERS; i++)
		if (k->users[i].user && k->users[i].ims == k->ims && k->users[i].dev == dev)
			return k->users[i].user;
	return NULL;
}

/* Adds @dev as a user of @ims with @quota, and records it */
static int ims_kunit_add_user(struct ims_kunit *k, struct ims_domain *ims, struct device *dev,
			      unsigned int quota)
{
	struct ims_user *user;
	unsigned int i;

	for (i = 0; i < IMS_KUNIT_USERS && k->users[i].user; i++)
		;
	KUNIT_ASSERT_LT_MSG(k->test, i, IMS_KUNIT_USERS, "too many users");
	user = ims_user_add(ims, dev, quota);
	if (IS_ERR(user))
		return PTR_ERR(user);
	k->users[i] = (struct ims_kunit_user) { .ims = ims, .dev = dev, .user = user };
	return 0;
}

/* Sets the quota of @dev, adding it as a user of the case's domain if need be */
static int ims_kunit_set_quota(struct ims_kunit *k, struct device *dev, unsigned int quota)
{
	struct ims_user *user = ims_kunit_user(k, dev);

	if (user)
		return ims_user_set_quota(user, quota);
	return ims_kunit_add_user(k, k->ims, dev, quota);
}

/* The vectors @dev holds in the case's domain */
static unsigned int ims_kunit_count(struct ims_kunit *k, struct device *dev)
{
	return ims_user_count(ims_kunit_user(k, dev));
}

/*
 * Removes @ims with its users: what unbinding its device does, by
 * releasing the devres group the domain was created in.
 */
static void ims_kunit_destroy(struct ims_kunit *k, struct ims_domain *ims)
{
	unsigned int i;

	if (IS_ERR_OR_NULL(ims))
		return;
	for (i = 0; i < IMS_KUNIT_USERS; i++) {
		if (k->users[i].ims != ims)
			continue;
		ims_user_remove(k->users[i].user);
		k->users[i] = (struct ims_kunit_user) { };
	}
	for (i = 0; i < IMS_KUNIT_DOMS; i++) {
		if (k->doms[i].ims != ims)
			continue;
		devres_release_group(&k->pdev->dev, k->doms[i].group);
		k->doms[i] = (struct ims_kunit_dom) { };
	}
}

/*
 * Creates a domain on the case's device with @ops, in a devres group of its
 * own, and adds the device as its user with a quota of all slots.
 */
static struct ims_domain *ims_kunit_create_ops(struct ims_kunit *k,
					       const struct ims_chip_ops *ops,
					       unsigned int nr_slots)
{
	struct device *dev = &k->pdev->dev;
	struct ims_domain *ims;
	unsigned int i;
	void *group;
	int ret;

	for (i = 0; i < IMS_KUNIT_DOMS && k->doms[i].ims; i++)
		;
	KUNIT_ASSERT_LT_MSG(k->test, i, IMS_KUNIT_DOMS, "too many domains");
	group = devres_open_group(dev, NULL, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(k->test, group);
	ims = devm_ims_domain_create(dev, IMS_KUNIT_NAME, ops, k, nr_slots);
	devres_close_group(dev, group);
	if (IS_ERR(ims)) {
		devres_release_group(dev, group);
		return ims;
	}
	k->doms[i] = (struct ims_kunit_dom) { .ims = ims, .group = group };
	ret = ims_kunit_add_user(k, ims, dev, nr_slots);
	KUNIT_EXPECT_EQ_MSG(k->test, ret, 0, "ims_user_add() of the device itself");
	return ims;
}

static void ims_kunit_free(struct ims_kunit *k, unsigned int index)
{
	struct ims_kunit_vec *v = &k->vec[index];

	if (v->requested)
		free_irq(v->virq, k);
	if (v->allocated)
		ims_user_free_irq(ims_kunit_user(k, v->subdev), index);
	*v = (struct ims_kunit_vec) { };
}

static void ims_kunit_remove(struct ims_kunit *k)
{
	unsigned int i;

	if (!k->ims)
		return;
	for (i = 0; i < k->nr_slots; i++)
		ims_kunit_free(k, i);
	ims_kunit_destroy(k, k->ims);
	k->ims = NULL;
}

static void ims_kunit_teardown(void *data)
{
	struct ims_kunit *k = data;
	struct device *dev = &k->pdev->dev;

	if (k->msi_domain)
		dev_set_msi_domain(dev, k->msi_domain);
	ims_kunit_remove(k);
	if (k->msix) {
		pci_free_irq_vectors(k->pdev);
		pci_disable_device(k->pdev);
	}
	/* Whatever the core added to the device with devres goes here. */
	if (k->group)
		devres_release_group(dev, k->group);
	dev_msi_set_default_cookie(dev, k->cookie);
}

/* msix_first: one MSI-X vector, in the devres group (the MSI data with it). */
static bool ims_kunit_msix(struct kunit *test, struct pci_dev *pdev)
{
	int ret;

	if (!msix_first)
		return false;
	ret = pci_enable_device(pdev);
	KUNIT_ASSERT_EQ_MSG(test, ret, 0, "pci_enable_device()");
	ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSIX);
	if (ret != 1)
		pci_disable_device(pdev);
	KUNIT_ASSERT_EQ_MSG(test, ret, 1, "pci_alloc_irq_vectors(MSI-X)");
	return true;
}

/*
 * Returns the state of a case on a free DSA function, without a domain.
 * Skips the case if there is no such function. Everything is undone when
 * the case ends, even if it fails half-way.
 */
static struct ims_kunit *ims_kunit_get(struct kunit *test, unsigned int nr_slots)
{
	struct pci_dev *pdev = ims_kunit_pdev(test);
	struct ims_kunit *k;
	unsigned int i;

	k = kunit_kzalloc(test, sizeof(*k), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, k);
	k->slots = kunit_kcalloc(test, nr_slots, sizeof(*k->slots), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, k->slots);
	k->vec = kunit_kcalloc(test, nr_slots, sizeof(*k->vec), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, k->vec);
	/* Like the DSA after reset: every slot masked. */
	for (i = 0; i < nr_slots; i++)
		k->slots[i].ctrl = IDXD_IMS_CTRL_MASK;
	k->shadow = kunit_kcalloc(test, nr_slots, sizeof(*k->shadow), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, k->shadow);
	k->dirty = kunit_kcalloc(test, BITS_TO_LONGS(nr_slots), sizeof(long), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, k->dirty);
	mutex_init(&k->bus);
	k->test = test;
	k->pdev = pdev;
	k->nr_slots = nr_slots;
	k->cookie = dev_msi_default_cookie(&pdev->dev);

	/* Registered after the allocations above: runs before they are freed. */
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, ims_kunit_teardown, k));

	/*
	 * The group stays open for the whole case: all devres the core adds
	 * to the device, by however many domain creations, goes into it.
	 */
	k->group = devres_open_group(&pdev->dev, NULL, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, k->group);
	k->msix = ims_kunit_msix(test, pdev);
	return k;
}

static struct ims_domain *ims_kunit_create(struct ims_kunit *k, unsigned int nr_slots)
{
	return ims_kunit_create_ops(k, &ims_kunit_ops, nr_slots);
}

static struct ims_kunit *ims_kunit_setup(struct kunit *test, unsigned int nr_slots)
{
	struct ims_kunit *k = ims_kunit_get(test, nr_slots);
	struct ims_domain *ims = ims_kunit_create(k, nr_slots);

	KUNIT_ASSERT_NOT_ERR_OR_NULL_MSG(test, ims, "devm_ims_domain_create(%u slots): %pe",
					 nr_slots, ims);
	k->ims = ims;
	return k;
}

/*
 * Allocates a vector for @subdev and records it. Returns the map as the
 * core gave it: index < 0 is the core's error.
 */
static struct msi_map ims_kunit_alloc(struct ims_kunit *k, struct device *subdev,
				      unsigned int index, const u64 *cookie)
{
	struct ims_user *user = ims_kunit_user(k, subdev);
	struct kunit *test = k->test;
	struct msi_map map = { .index = -ENOSPC };

	/* A device without a user has no quota */
	if (user)
		map = ims_user_alloc_irq(user, index, cookie);

	if (map.index < 0) {
		KUNIT_EXPECT_EQ_MSG(test, map.virq, 0, "failed allocation with a virq");
		return map;
	}
	KUNIT_ASSERT_LT_MSG(test, (unsigned int)map.index, k->nr_slots, "index beyond the domain");
	KUNIT_ASSERT_FALSE_MSG(test, k->vec[map.index].allocated,
			       "index %d handed out twice", map.index);
	k->vec[map.index] = (struct ims_kunit_vec) {
		.subdev		= subdev,
		.virq		= map.virq,
		.allocated	= true,
	};
	KUNIT_ASSERT_GT(test, map.virq, 0);
	if (index != IMS_ANY_INDEX)
		KUNIT_EXPECT_EQ(test, map.index, index);
	return map;
}

/* Allocates a vector of @pdev itself, asserting success */
static struct msi_map ims_kunit_alloc_ok(struct ims_kunit *k, unsigned int index,
					 const u64 *cookie)
{
	struct msi_map map = ims_kunit_alloc(k, &k->pdev->dev, index, cookie);

	KUNIT_ASSERT_GE_MSG(k->test, map.index, 0, "ims_user_alloc_irq(%#x): %d", index, map.index);
	return map;
}

static void ims_kunit_request(struct ims_kunit *k, unsigned int index)
{
	struct ims_kunit_vec *v = &k->vec[index];
	int ret;

	ret = request_irq(v->virq, ims_kunit_irq, 0, IMS_KUNIT_NAME, k);
	KUNIT_ASSERT_EQ_MSG(k->test, ret, 0, "request_irq(%u) for slot %u", v->virq, index);
	v->requested = true;
}

static void ims_kunit_expect_clean(struct ims_kunit *k)
{
	KUNIT_EXPECT_EQ_MSG(k->test, atomic_read(&k->bad_index), 0,
			    "chip callbacks for slots beyond the domain");
}

/* --- suite "ims" ------------------------------------------------------------ */

/* idxd_ims_slot_ctrl() encodes a cookie as the DSA slot's ctrl word. */
static void ims_test_slot_ctrl(struct kunit *test)
{
	u32 en = IDXD_IMS_CTRL_PASID_EN, mask = IDXD_IMS_CTRL_MASK;

	KUNIT_EXPECT_EQ(test, idxd_ims_slot_ctrl(IDXD_IMS_COOKIE_PASID(0x42), false),
			en | 0x42 << 12);
	KUNIT_EXPECT_EQ(test, idxd_ims_slot_ctrl(IDXD_IMS_COOKIE_PASID(0x42), true),
			mask | en | 0x42 << 12);
	KUNIT_EXPECT_EQ(test, idxd_ims_slot_ctrl(IDXD_IMS_COOKIE_PASID(0), false), en);
	KUNIT_EXPECT_EQ(test, idxd_ims_slot_ctrl(IDXD_IMS_COOKIE_PASID(0xfffff), true),
			mask | en | 0xfffff000);
	/* A PASID is 20 bits wide. */
	KUNIT_EXPECT_EQ(test, IDXD_IMS_COOKIE_PASID(0x100042), IDXD_IMS_COOKIE_PASID(0x42));
	/* No cookie, or one that is not a PASID (a VM-id): no PASID check. */
	KUNIT_EXPECT_EQ(test, idxd_ims_slot_ctrl(0, false), 0);
	KUNIT_EXPECT_EQ(test, idxd_ims_slot_ctrl(0, true), mask);
	KUNIT_EXPECT_EQ(test, idxd_ims_slot_ctrl(0x42, false), 0);
	KUNIT_EXPECT_EQ(test, idxd_ims_slot_ctrl(0x42, true), mask);
}

/* Bad arguments and a second domain on the same device are refused. */
static void ims_test_create_errors(struct kunit *test)
{
	struct ims_kunit *k = ims_kunit_get(test, 16);
	struct ims_domain *ims;

	ims = ims_kunit_create(k, 0);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(ims), -EINVAL);
	ims_kunit_destroy(k, ims);

	ims = ims_kunit_create(k, 65537);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(ims), -EINVAL);
	ims_kunit_destroy(k, ims);

	/* The largest domain is fine, and goes away without a trace. */
	ims = ims_kunit_create(k, 65536);
	KUNIT_EXPECT_NOT_ERR_OR_NULL(test, ims);
	if (!IS_ERR_OR_NULL(ims))
		KUNIT_EXPECT_EQ(test, ims_domain_free_slots(ims), 65536);
	ims_kunit_destroy(k, ims);

	ims = ims_kunit_create(k, 16);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ims);
	k->ims = ims;
	ims = ims_kunit_create(k, 16);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(ims), -EEXIST);
	ims_kunit_destroy(k, ims);
}

/*
 * The C API refuses what a caller may pass on from a failed
 * devm_ims_domain_create() or ims_user_add() (NULL, an ERR_PTR()) and a
 * NULL device with -EINVAL, a second user for one device with -EEXIST, and
 * arguments out of range without touching the domain: an index past its
 * slots, a slot the user does not hold, a quota below what the user holds.
 */
static void ims_test_bad_args(struct kunit *test)
{
	struct ims_kunit *k = ims_kunit_setup(test, 16);
	struct device *dev = &k->pdev->dev;
	struct ims_domain *bad[] = { NULL, ERR_PTR(-ENOMEM), ERR_PTR(-EOPNOTSUPP) };
	struct ims_user *user = ims_kunit_user(k, dev);
	struct msi_map map;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		struct ims_user *bad_user = (struct ims_user *)bad[i];

		KUNIT_EXPECT_EQ(test, PTR_ERR(ims_user_add(bad[i], dev, 1)), -EINVAL);
		KUNIT_EXPECT_EQ(test, ims_domain_free_slots(bad[i]), 0);
		KUNIT_EXPECT_EQ(test, ims_user_set_quota(bad_user, 1), -EINVAL);
		KUNIT_EXPECT_EQ(test, ims_user_count(bad_user), 0);
		map = ims_user_alloc_irq(bad_user, IMS_ANY_INDEX, NULL);
		KUNIT_EXPECT_EQ(test, map.index, -EINVAL);
		KUNIT_EXPECT_EQ(test, map.virq, 0);
		ims_user_free_irq(bad_user, 0);
		ims_user_remove(bad_user);
	}
	KUNIT_EXPECT_EQ(test, PTR_ERR(ims_user_add(k->ims, NULL, 1)), -EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(ims_user_add(k->ims, dev, 1)), -EEXIST);

	/* Indices past the domain, up to the largest u32 below the any-index. */
	map = ims_kunit_alloc(k, dev, 16, NULL);
	KUNIT_EXPECT_EQ(test, map.index, -EINVAL);
	map = ims_kunit_alloc(k, dev, 65536, NULL);
	KUNIT_EXPECT_EQ(test, map.index, -EINVAL);
	map = ims_kunit_alloc(k, dev, IMS_ANY_INDEX - 1, NULL);
	KUNIT_EXPECT_EQ(test, map.index, -EINVAL);

	/* Freeing what is not held, or past the domain, frees nothing. */
	map = ims_kunit_alloc_ok(k, 3, NULL);
	ims_user_free_irq(user, 4);
	ims_user_free_irq(user, 16);
	ims_user_free_irq(user, IMS_ANY_INDEX);
	KUNIT_EXPECT_EQ(test, ims_user_count(user), 1);
	KUNIT_EXPECT_EQ(test, ims_domain_free_slots(k->ims), 15);
	KUNIT_EXPECT_EQ(test, msi_domain_get_virq(dev, MSI_SECONDARY_DOMAIN, 3), map.virq);

	/* A quota below what the user holds is refused; the largest is fine. */
	KUNIT_EXPECT_EQ(test, ims_user_set_quota(user, 0), -EBUSY);
	KUNIT_EXPECT_EQ(test, ims_user_set_quota(user, UINT_MAX), 0);
	KUNIT_EXPECT_EQ(test, ims_user_count(user), 1);
	ims_kunit_expect_clean(k);
}

/*
 * The device's default cookie is copied into the vector at allocation:
 * changing the default afterwards does not reach the vector. An explicit
 * cookie wins over the default.
 */
static void ims_test_default_cookie(struct kunit *test)
{
	struct ims_kunit *k = ims_kunit_setup(test, 16);
	u64 cookie = IDXD_IMS_COOKIE_PASID(0x77), vmid = 0x1234;
	struct device *dev = &k->pdev->dev;
	struct ims_kunit_slot slot;
	struct msi_desc *desc;
	struct msi_map map;

	dev_msi_set_default_cookie(dev, IDXD_IMS_COOKIE_PASID(0x42));
	KUNIT_ASSERT_EQ(test, dev_msi_default_cookie(dev), IDXD_IMS_COOKIE_PASID(0x42));

	map = ims_kunit_alloc_ok(k, IMS_ANY_INDEX, NULL);
	dev_msi_set_default_cookie(dev, IDXD_IMS_COOKIE_PASID(0x43));

	desc = irq_get_msi_desc(map.virq);
	KUNIT_ASSERT_NOT_NULL(test, desc);
	KUNIT_EXPECT_EQ(test, desc->data.icookie.value, IDXD_IMS_COOKIE_PASID(0x42));
	KUNIT_EXPECT_EQ(test, desc->msi_index, map.index);
	KUNIT_EXPECT_PTR_EQ(test, desc->dev, dev);
	KUNIT_EXPECT_EQ(test, msi_domain_get_virq(dev, MSI_SECONDARY_DOMAIN, map.index),
			map.virq);
	/* Allocated, not requested: the slot stays masked. */
	KUNIT_EXPECT_TRUE(test, ims_kunit_ctrl(k, map.index) & IDXD_IMS_CTRL_MASK);

	ims_kunit_request(k, map.index);
	slot = ims_kunit_read_slot(k, map.index);
	KUNIT_EXPECT_EQ(test, slot.ctrl, ims_kunit_pasid_ctrl(0x42, false));
	KUNIT_EXPECT_TRUE_MSG(test, IMS_KUNIT_MSI_WINDOW(slot.addr_lo),
			      "slot %d addr %#x:%08x data %#x: no message written",
			      map.index, slot.addr_hi, slot.addr_lo, slot.data);

	/* An explicit PASID cookie ... */
	map = ims_kunit_alloc_ok(k, 5, &cookie);
	desc = irq_get_msi_desc(map.virq);
	KUNIT_ASSERT_NOT_NULL(test, desc);
	KUNIT_EXPECT_EQ(test, desc->data.icookie.value, cookie);
	ims_kunit_request(k, map.index);
	KUNIT_EXPECT_EQ(test, ims_kunit_ctrl(k, map.index), ims_kunit_pasid_ctrl(0x77, false));

	/* ... or a cookie that is not a PASID: no PASID enable in the slot. */
	map = ims_kunit_alloc_ok(k, 6, &vmid);
	desc = irq_get_msi_desc(map.virq);
	KUNIT_ASSERT_NOT_NULL(test, desc);
	KUNIT_EXPECT_EQ(test, desc->data.icookie.value, vmid);
	ims_kunit_request(k, map.index);
	KUNIT_EXPECT_EQ(test, ims_kunit_ctrl(k, map.index), 0);

	/* The default as it is now (0x43) applies to new vectors only. */
	map = ims_kunit_alloc_ok(k, IMS_ANY_INDEX, NULL);
	desc = irq_get_msi_desc(map.virq);
	KUNIT_ASSERT_NOT_NULL(test, desc);
	KUNIT_EXPECT_EQ(test, desc->data.icookie.value, IDXD_IMS_COOKIE_PASID(0x43));
	ims_kunit_expect_clean(k);
}

/*
 * Unmask writes the PASID and clears the mask; mask sets the mask bit and
 * keeps the PASID; neither touches another slot.
 */
static void ims_test_mask_unmask(struct kunit *test)
{
	struct ims_kunit *k = ims_kunit_setup(test, 16);
	u64 other = IDXD_IMS_COOKIE_PASID(0x99);
	struct msi_map map, map2;

	dev_msi_set_default_cookie(&k->pdev->dev, IDXD_IMS_COOKIE_PASID(0x42));
	map = ims_kunit_alloc_ok(k, 3, NULL);
	map2 = ims_kunit_alloc_ok(k, 4, &other);
	ims_kunit_request(k, map.index);
	ims_kunit_request(k, map2.index);
	KUNIT_EXPECT_EQ(test, ims_kunit_ctrl(k, 3), ims_kunit_pasid_ctrl(0x42, false));
	KUNIT_EXPECT_EQ(test, ims_kunit_ctrl(k, 4), ims_kunit_pasid_ctrl(0x99, false));

	/*
	 * disable_irq() is lazy by default: it masks only when an interrupt
	 * arrives. Make it mask at once, as a driver quiescing a slot would.
	 */
	irq_set_status_flags(map.virq, IRQ_DISABLE_UNLAZY);
	disable_irq(map.virq);
	KUNIT_EXPECT_EQ(test, ims_kunit_ctrl(k, 3), ims_kunit_pasid_ctrl(0x42, true));
	KUNIT_EXPECT_EQ(test, ims_kunit_ctrl(k, 4), ims_kunit_pasid_ctrl(0x99, false));

	enable_irq(map.virq);
	KUNIT_EXPECT_EQ(test, ims_kunit_ctrl(k, 3), ims_kunit_pasid_ctrl(0x42, false));
	KUNIT_EXPECT_EQ(test, ims_kunit_ctrl(k, 4), ims_kunit_pasid_ctrl(0x99, false));

	disable_irq(map.virq);
	disable_irq(map.virq);
	enable_irq(map.virq);
	/* Nested: still disabled after one enable_irq() of two. */
	KUNIT_EXPECT_EQ(test, ims_kunit_ctrl(k, 3), ims_kunit_pasid_ctrl(0x42, true));
	enable_irq(map.virq);
	KUNIT_EXPECT_EQ(test, ims_kunit_ctrl(k, 3), ims_kunit_pasid_ctrl(0x42, false));
	irq_clear_status_flags(map.virq, IRQ_DISABLE_UNLAZY);
	ims_kunit_expect_clean(k);
}

/*
 * A chip behind a slow bus: every change of a slot reaches it inside the bus
 * lock and is written by the sleeping bus_sync_unlock(), in one batch per
 * request, enable and disable and two per free; the cookie comes with
 * unmask and mask.
 */
static void ims_test_bus_lock(struct kunit *test)
{
	struct ims_kunit *k = ims_kunit_get(test, 16);
	struct ims_kunit_slot slot;
	struct irq_data *irqd;
	struct msi_map map;
	unsigned int syncs;

	k->ims = ims_kunit_create_ops(k, &ims_kunit_bus_ops, 16);
	KUNIT_ASSERT_NOT_ERR_OR_NULL_MSG(test, k->ims, "devm_ims_domain_create(): %pe", k->ims);
	dev_msi_set_default_cookie(&k->pdev->dev, IDXD_IMS_COOKIE_PASID(0x42));
	map = ims_kunit_alloc_ok(k, 5, NULL);
	irqd = irq_get_irq_data(map.virq);
	KUNIT_ASSERT_NOT_NULL(test, irqd);
	KUNIT_EXPECT_TRUE(test, irqd->chip->flags & IRQCHIP_ONESHOT_SAFE);

	/* request_irq(): the message and the unmask with the cookie, one batch */
	syncs = k->syncs;
	ims_kunit_request(k, map.index);
	KUNIT_EXPECT_EQ(test, k->syncs, syncs + 1);
	slot = ims_kunit_read_slot(k, 5);
	KUNIT_EXPECT_TRUE(test, IMS_KUNIT_MSI_WINDOW(slot.addr_lo));
	KUNIT_EXPECT_EQ(test, slot.ctrl, ims_kunit_pasid_ctrl(0x42, false));

	irq_set_status_flags(map.virq, IRQ_DISABLE_UNLAZY);
	disable_irq(map.virq);
	KUNIT_EXPECT_EQ(test, k->syncs, syncs + 2);
	KUNIT_EXPECT_EQ(test, ims_kunit_ctrl(k, 5), ims_kunit_pasid_ctrl(0x42, true));
	enable_irq(map.virq);
	KUNIT_EXPECT_EQ(test, k->syncs, syncs + 3);
	KUNIT_EXPECT_EQ(test, ims_kunit_ctrl(k, 5), ims_kunit_pasid_ctrl(0x42, false));
	irq_clear_status_flags(map.virq, IRQ_DISABLE_UNLAZY);

	/*
	 * free_irq(): shutdown, then, once no handler runs any more, the
	 * zeroed message of deactivation: two batches. The slot is clear.
	 */
	free_irq(map.virq, k);
	k->vec[5].requested = false;
	KUNIT_EXPECT_EQ(test, k->syncs, syncs + 5);
	slot = ims_kunit_read_slot(k, 5);
	KUNIT_EXPECT_EQ(test, slot.ctrl, IDXD_IMS_CTRL_MASK);
	KUNIT_EXPECT_EQ(test, slot.addr_lo, 0);
	KUNIT_EXPECT_EQ(test, slot.data, 0);

	KUNIT_EXPECT_EQ_MSG(test, atomic_read(&k->unlocked), 0,
			    "slot changes outside the bus lock");
	KUNIT_EXPECT_TRUE(test, bitmap_empty(k->dirty, k->nr_slots));
	ims_kunit_expect_clean(k);
}

/* A chip with one bus callback but not the other, or unknown flags, is refused. */
static void ims_test_bus_lock_errors(struct kunit *test)
{
	struct ims_kunit *k = ims_kunit_get(test, 4);
	struct ims_chip_ops half = ims_kunit_bus_ops, flags = ims_kunit_ops;
	struct ims_domain *ims;

	half.bus_sync_unlock = NULL;
	ims = ims_kunit_create_ops(k, &half, 4);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(ims), -EINVAL);
	flags.flags = 0x80;
	ims = ims_kunit_create_ops(k, &flags, 4);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(ims), -EINVAL);
}

/* free_irq() and ims_user_free_irq() clear the slot, and only that slot. */
static void ims_test_free_clears_slot(struct kunit *test)
{
	struct ims_kunit *k = ims_kunit_setup(test, 16);
	struct device *dev = &k->pdev->dev;
	struct ims_kunit_slot slot, before;
	struct msi_map map;

	dev_msi_set_default_cookie(dev, IDXD_IMS_COOKIE_PASID(0x42));
	ims_kunit_alloc_ok(k, 3, NULL);
	ims_kunit_alloc_ok(k, 4, NULL);
	ims_kunit_request(k, 3);
	ims_kunit_request(k, 4);
	KUNIT_EXPECT_EQ(test, ims_kunit_count(k, dev), 2);
	before = ims_kunit_read_slot(k, 4);

	free_irq(k->vec[3].virq, k);
	k->vec[3].requested = false;
	KUNIT_EXPECT_TRUE_MSG(test, ims_kunit_ctrl(k, 3) & IDXD_IMS_CTRL_MASK,
			      "slot live after free_irq(): ctrl %#x", ims_kunit_ctrl(k, 3));

	ims_user_free_irq(ims_kunit_user(k, dev), 3);
	k->vec[3].allocated = false;
	slot = ims_kunit_read_slot(k, 3);
	KUNIT_EXPECT_EQ(test, slot.ctrl, IDXD_IMS_CTRL_MASK);
	KUNIT_EXPECT_EQ(test, slot.addr_lo, 0);
	KUNIT_EXPECT_EQ(test, slot.addr_hi, 0);
	KUNIT_EXPECT_EQ(test, slot.data, 0);
	KUNIT_EXPECT_EQ(test, ims_kunit_count(k, dev), 1);
	KUNIT_EXPECT_EQ(test, msi_domain_get_virq(dev, MSI_SECONDARY_DOMAIN, 3), 0);

	/* The neighbour is untouched. */
	slot = ims_kunit_read_slot(k, 4);
	KUNIT_EXPECT_MEMEQ(test, &slot, &before, sizeof(slot));

	/* The slot can be allocated again, with the cookie of now. */
	dev_msi_set_default_cookie(dev, IDXD_IMS_COOKIE_PASID(0x43));
	map = ims_kunit_alloc_ok(k, 3, NULL);
	ims_kunit_request(k, map.index);
	KUNIT_EXPECT_EQ(test, ims_kunit_ctrl(k, 3), ims_kunit_pasid_ctrl(0x43, false));
	ims_kunit_expect_clean(k);
}

#define IMS_KUNIT_GROW	64

/*
 * Growing one vector at a time leaves the vectors already there alone:
 * same virq, same message, still unmasked. (Growing a PCI/MSI-X allocation
 * has meant freeing and reallocating all of it.)
 */
static void ims_test_grow(struct kunit *test)
{
	struct ims_kunit *k = ims_kunit_setup(test, IMS_KUNIT_GROW);
	struct ims_kunit_slot *snap;
	unsigned int i, j, *virq;
	struct msi_map map;
	int *index;

	snap = kunit_kcalloc(test, IMS_KUNIT_GROW, sizeof(*snap), GFP_KERNEL);
	virq = kunit_kcalloc(test, IMS_KUNIT_GROW, sizeof(*virq), GFP_KERNEL);
	index = kunit_kcalloc(test, IMS_KUNIT_GROW, sizeof(*index), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, snap);
	KUNIT_ASSERT_NOT_NULL(test, virq);
	KUNIT_ASSERT_NOT_NULL(test, index);

	dev_msi_set_default_cookie(&k->pdev->dev, IDXD_IMS_COOKIE_PASID(0x42));
	for (i = 0; i < IMS_KUNIT_GROW; i++) {
		map = ims_kunit_alloc_ok(k, IMS_ANY_INDEX, NULL);
		ims_kunit_request(k, map.index);
		index[i] = map.index;
		virq[i] = map.virq;
		snap[i] = ims_kunit_read_slot(k, map.index);
		KUNIT_EXPECT_TRUE(test, IMS_KUNIT_MSI_WINDOW(snap[i].addr_lo));
		KUNIT_EXPECT_EQ(test, snap[i].ctrl, ims_kunit_pasid_ctrl(0x42, false));
		KUNIT_ASSERT_EQ(test, ims_kunit_count(k, &k->pdev->dev), i + 1);

		for (j = 0; j < i; j++) {
			struct ims_kunit_slot now = ims_kunit_read_slot(k, index[j]);

			KUNIT_ASSERT_EQ_MSG(test, k->vec[index[j]].virq, virq[j],
					    "step %u: vector %u moved", i, j);
			KUNIT_ASSERT_EQ_MSG(test,
					    msi_domain_get_virq(&k->pdev->dev,
								MSI_SECONDARY_DOMAIN, index[j]),
					    virq[j], "step %u: vector %u lost", i, j);
			KUNIT_ASSERT_TRUE_MSG(test, !memcmp(&now, &snap[j], sizeof(now)),
					      "step %u: slot %d changed: %#x:%08x/%#x/%#x, was %#x:%08x/%#x/%#x",
					      i, index[j], now.addr_hi, now.addr_lo, now.data,
					      now.ctrl, snap[j].addr_hi, snap[j].addr_lo,
					      snap[j].data, snap[j].ctrl);
		}
	}

	/* The domain is full now. */
	map = ims_kunit_alloc(k, &k->pdev->dev, IMS_ANY_INDEX, NULL);
	KUNIT_EXPECT_EQ(test, map.index, -ENOSPC);
	ims_kunit_expect_clean(k);
}

/*
 * A sub-device gets vectors only within the quota the parent driver set;
 * its vectors carry its own default cookie.
 */
static void ims_test_quota(struct kunit *test)
{
	struct device *sub = kunit_device_register(test, "ims-kunit-sub");
	struct ims_kunit *k;
	struct msi_desc *desc;
	struct msi_map map;
	int held[3], i;

	/* Registered first, unregistered last: after the domain is gone. */
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, sub);
	k = ims_kunit_setup(test, 16);
	dev_msi_set_default_cookie(sub, IDXD_IMS_COOKIE_PASID(9));

	KUNIT_EXPECT_EQ(test, ims_kunit_count(k, sub), 0);
	map = ims_kunit_alloc(k, sub, IMS_ANY_INDEX, NULL);
	KUNIT_EXPECT_EQ_MSG(test, map.index, -ENOSPC, "a sub-device without quota got a vector");

	KUNIT_ASSERT_EQ(test, ims_kunit_set_quota(k, sub, 3), 0);
	for (i = 0; i < 3; i++) {
		map = ims_kunit_alloc(k, sub, IMS_ANY_INDEX, NULL);
		KUNIT_ASSERT_GE_MSG(test, map.index, 0, "vector %d of a quota of 3: %d",
				    i, map.index);
		held[i] = map.index;
	}
	KUNIT_EXPECT_EQ(test, ims_kunit_count(k, sub), 3);
	desc = irq_get_msi_desc(k->vec[held[0]].virq);
	KUNIT_ASSERT_NOT_NULL(test, desc);
	KUNIT_EXPECT_EQ(test, desc->data.icookie.value, IDXD_IMS_COOKIE_PASID(9));

	map = ims_kunit_alloc(k, sub, IMS_ANY_INDEX, NULL);
	KUNIT_EXPECT_EQ(test, map.index, -ENOSPC);
	KUNIT_EXPECT_EQ(test, ims_kunit_count(k, sub), 3);

	/* The parent's own quota is separate. */
	KUNIT_EXPECT_EQ(test, ims_kunit_count(k, &k->pdev->dev), 0);
	map = ims_kunit_alloc_ok(k, 10, NULL);
	KUNIT_EXPECT_EQ(test, ims_kunit_count(k, &k->pdev->dev), 1);
	KUNIT_EXPECT_EQ(test, ims_kunit_count(k, sub), 3);

	/* Freeing one lets one through again ... */
	ims_kunit_free(k, held[1]);
	KUNIT_EXPECT_EQ(test, ims_kunit_count(k, sub), 2);

	/* ... but not at an index in use, nor at one the domain lacks. */
	map = ims_kunit_alloc(k, sub, 10, NULL);
	KUNIT_EXPECT_EQ(test, map.index, -EBUSY);
	map = ims_kunit_alloc(k, sub, held[0], NULL);
	KUNIT_EXPECT_EQ(test, map.index, -EBUSY);
	map = ims_kunit_alloc(k, sub, 16, NULL);
	KUNIT_EXPECT_EQ(test, map.index, -EINVAL);
	KUNIT_EXPECT_EQ(test, ims_kunit_count(k, sub), 2);

	map = ims_kunit_alloc(k, sub, IMS_ANY_INDEX, NULL);
	KUNIT_EXPECT_GE(test, map.index, 0);
	KUNIT_EXPECT_EQ(test, ims_kunit_count(k, sub), 3);
	map = ims_kunit_alloc(k, sub, IMS_ANY_INDEX, NULL);
	KUNIT_EXPECT_EQ(test, map.index, -ENOSPC);
	ims_kunit_expect_clean(k);
}

#define IMS_KUNIT_BIG	4096

/*
 * Users come and go without a trace: 100 users of one sub-device are
 * added, given a vector or two (every 50th with its interrupt requested and
 * freed) and removed; rust_ims (rust/kernel/irq/ims/kunit.rs) does the same
 * with 1000 users through the Rust API. Each allocation and free costs
 * ~10 ms under TCG with KASAN. Afterwards the sub-device's reference count is back where it
 * started, the domain has all its slots free, and a user is refused while
 * another of the same device exists.
 */
#define IMS_KUNIT_USER_LOOPS	100

static void ims_test_user_loop(struct kunit *test)
{
	struct device *sub = kunit_device_register(test, "ims-kunit-loop");
	struct ims_kunit *k;
	struct ims_user *user;
	unsigned int refs, i;
	struct msi_map map;
	int ret;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, sub);
	k = ims_kunit_setup(test, 16);
	refs = kref_read(&sub->kobj.kref);

	for (i = 0; i < IMS_KUNIT_USER_LOOPS; i++) {
		user = ims_user_add(k->ims, sub, 2);
		KUNIT_ASSERT_NOT_ERR_OR_NULL_MSG(test, user, "user %u: %pe", i, user);
		if (!i)
			KUNIT_EXPECT_EQ(test, PTR_ERR(ims_user_add(k->ims, sub, 1)), -EEXIST);
		map = ims_user_alloc_irq(user, IMS_ANY_INDEX, NULL);
		if (map.index < 0) {
			ims_user_remove(user);
			KUNIT_FAIL(test, "user %u: allocation failed: %d", i, map.index);
			return;
		}
		/* Every 50th user requests the interrupt. */
		ret = i % 50 ? 0 : request_irq(map.virq, ims_kunit_irq, 0, IMS_KUNIT_NAME, k);
		if (!ret && !(i % 50))
			free_irq(map.virq, k);
		KUNIT_EXPECT_EQ_MSG(test, ret, 0, "user %u: request_irq(%d)", i, map.virq);
		/* The second vector is left for ims_user_remove() to free. */
		if (i % 2) {
			map = ims_user_alloc_irq(user, IMS_ANY_INDEX, NULL);
			KUNIT_EXPECT_GE(test, map.index, 0);
		}
		ims_user_remove(user);
		if (test->status == KUNIT_FAILURE)
			return;
	}
	KUNIT_EXPECT_EQ_MSG(test, kref_read(&sub->kobj.kref), refs,
			    "device references leaked by %u users", IMS_KUNIT_USER_LOOPS);
	KUNIT_EXPECT_EQ(test, ims_domain_free_slots(k->ims), 16);
	ims_kunit_expect_clean(k);
}

/*
 * Unbinding the domain's device (here: releasing the devres group the
 * domain was created in, which is what unbinding does) with a user, its
 * vectors and a devm-requested interrupt still live is clean: the interrupt
 * goes first, then the vectors with the domain. The user left behind fails
 * with -ENODEV, and removing it drops the last device reference.
 */
static void ims_test_unbind_live(struct kunit *test)
{
	struct device *sub = kunit_device_register(test, "ims-kunit-unbind");
	struct ims_domain *ims;
	struct ims_kunit *k;
	struct ims_user *user;
	unsigned int refs, i;
	struct device *dev;
	struct msi_map map;
	void *group;
	int ret;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, sub);
	k = ims_kunit_get(test, 16);
	dev = &k->pdev->dev;
	refs = kref_read(&sub->kobj.kref);

	/* The domain and the interrupt in one group, as in a driver's binding. */
	group = devres_open_group(dev, NULL, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, group);
	ims = devm_ims_domain_create(dev, IMS_KUNIT_NAME, &ims_kunit_ops, k, 16);
	user = IS_ERR(ims) ? ERR_CAST(ims) : ims_user_add(ims, sub, 4);
	map = ims_user_alloc_irq(user, IMS_ANY_INDEX, NULL);
	for (i = 0; i < 2 && map.index >= 0; i++)
		map = ims_user_alloc_irq(user, IMS_ANY_INDEX, NULL);
	ret = map.index < 0 ? map.index :
	      devm_request_irq(dev, map.virq, ims_kunit_irq, 0, IMS_KUNIT_NAME, k);
	devres_close_group(dev, group);
	if (ret || IS_ERR(user)) {
		if (!IS_ERR(user))
			ims_user_remove(user);
		devres_release_group(dev, group);
		KUNIT_FAIL(test, "setup: %pe, %d", user, ret);
		return;
	}
	KUNIT_EXPECT_EQ(test, ims_domain_free_slots(ims), 13);
	KUNIT_EXPECT_TRUE(test, irq_has_action(map.virq));

	/* "Unbind": the group goes, the user stays. */
	devres_release_group(dev, group);
	KUNIT_EXPECT_FALSE(test, irq_has_action(map.virq));
	KUNIT_EXPECT_EQ(test, msi_domain_get_virq(dev, MSI_SECONDARY_DOMAIN, map.index), 0);
	KUNIT_EXPECT_EQ(test, ims_user_alloc_irq(user, IMS_ANY_INDEX, NULL).index, -ENODEV);
	KUNIT_EXPECT_EQ(test, ims_user_count(user), 3);
	ims_user_remove(user);
	KUNIT_EXPECT_EQ(test, kref_read(&sub->kobj.kref), refs);

	/* A domain can be created on the device again. */
	k->ims = ims_kunit_create(k, 16);
	KUNIT_EXPECT_NOT_ERR_OR_NULL(test, k->ims);
	if (IS_ERR(k->ims))
		k->ims = NULL;
	ims_kunit_expect_clean(k);
}

/*
 * A domain of 4096 slots fills up completely: the last slot by index,
 * then every other one with IMS_ANY_INDEX, each handed out once.
 *
 * Each allocation is an interrupt descriptor, an IRTE and a global vector
 * reservation (no CPU vector: that comes at request_irq()), so 4096 of
 * them fit on a small VM; past the CPUs' vector space the x86 matrix logs
 * "Interrupt reservation exceeds available resources" once, which is
 * expected here and harmless. Under TCG with KASAN this takes seconds.
 */
static void ims_test_4096_slots(struct kunit *test)
{
	struct ims_kunit *k = ims_kunit_setup(test, IMS_KUNIT_BIG);
	struct device *dev = &k->pdev->dev;
	struct msi_map map;
	unsigned int i;
	u64 start;

	map = ims_kunit_alloc_ok(k, IMS_KUNIT_BIG - 1, NULL);
	KUNIT_EXPECT_EQ(test, map.index, IMS_KUNIT_BIG - 1);
	map = ims_kunit_alloc(k, dev, IMS_KUNIT_BIG - 1, NULL);
	KUNIT_EXPECT_EQ(test, map.index, -EBUSY);
	map = ims_kunit_alloc(k, dev, IMS_KUNIT_BIG, NULL);
	KUNIT_EXPECT_EQ(test, map.index, -EINVAL);

	start = ktime_get_ns();
	for (i = 0; i < IMS_KUNIT_BIG - 1; i++) {
		map = ims_kunit_alloc(k, dev, IMS_ANY_INDEX, NULL);
		KUNIT_ASSERT_GE_MSG(test, map.index, 0, "allocation %u of %u: %d",
				    i + 2, IMS_KUNIT_BIG, map.index);
		cond_resched();
	}
	kunit_info(test, "%u allocations at IMS_ANY_INDEX: %llu us\n",
		   IMS_KUNIT_BIG - 1, div_u64(ktime_get_ns() - start, NSEC_PER_USEC));
	KUNIT_EXPECT_EQ(test, ims_kunit_count(k, dev), IMS_KUNIT_BIG);
	KUNIT_EXPECT_EQ(test, msi_domain_get_virq(dev, MSI_SECONDARY_DOMAIN, IMS_KUNIT_BIG - 1),
			k->vec[IMS_KUNIT_BIG - 1].virq);

	/* Full: the device is at its quota (nr_slots) and no slot is free. */
	map = ims_kunit_alloc(k, dev, IMS_ANY_INDEX, NULL);
	KUNIT_EXPECT_EQ(test, map.index, -ENOSPC);

	/* Full with quota to spare: still -ENOSPC, not the MSI core's -EBUSY. */
	KUNIT_EXPECT_EQ(test, ims_user_set_quota(ims_kunit_user(k, dev), IMS_KUNIT_BIG + 1), 0);
	map = ims_kunit_alloc(k, dev, IMS_ANY_INDEX, NULL);
	KUNIT_EXPECT_EQ(test, map.index, -ENOSPC);

	/* A hole in the middle is found and filled. */
	ims_kunit_free(k, 2048);
	map = ims_kunit_alloc(k, dev, IMS_ANY_INDEX, NULL);
	KUNIT_EXPECT_EQ(test, map.index, 2048);

	start = ktime_get_ns();
	ims_kunit_remove(k);
	kunit_info(test, "freeing %u vectors and the domain: %llu us\n",
		   IMS_KUNIT_BIG, div_u64(ktime_get_ns() - start, NSEC_PER_USEC));
	ims_kunit_expect_clean(k);
}

/*
 * Without interrupt remapping there is no IMS: the core refuses to create
 * the domain.
 *
 * On x86 the MSI parent of a PCI device is the interrupt-remapping domain
 * (DMAR or AMD-Vi) when remapping is enabled, and the bare vector domain
 * when it is not: that is exactly the IR domain's own parent. Pointing the
 * device's MSI domain at it for the duration of the call is what the same
 * device would look like on a machine booted with intremap=off. Nothing
 * else uses the device meanwhile (no driver is bound), and the domain is
 * restored before the case ends, failed or not.
 */
static void ims_test_no_remapping(struct kunit *test)
{
	struct ims_kunit *k = ims_kunit_get(test, 16);
	struct device *dev = &k->pdev->dev;
	struct irq_domain *dom = dev_get_msi_domain(dev);
	struct ims_domain *ims;

	if (!dom || !irq_domain_is_msi_parent(dom) ||
	    (dom->bus_token != DOMAIN_BUS_DMAR && dom->bus_token != DOMAIN_BUS_AMDVI))
		kunit_skip(test, "%s has no interrupt-remapping MSI parent", pci_name(k->pdev));
	KUNIT_ASSERT_NOT_NULL(test, dom->parent);
	KUNIT_ASSERT_TRUE(test, irq_domain_is_msi_parent(dom->parent));
	KUNIT_ASSERT_EQ(test, dom->parent->bus_token, DOMAIN_BUS_ANY);

	/* The teardown action puts it back, even if the case dies here. */
	k->msi_domain = dom;
	dev_set_msi_domain(dev, dom->parent);
	ims = ims_kunit_create(k, 16);
	dev_set_msi_domain(dev, dom);
	k->msi_domain = NULL;

	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(ims), -EOPNOTSUPP);
	ims_kunit_destroy(k, ims);

	/* With remapping back, the same call succeeds: it was the parent. */
	k->ims = ims_kunit_create(k, 16);
	KUNIT_EXPECT_NOT_ERR_OR_NULL(test, k->ims);
	if (IS_ERR(k->ims))
		k->ims = NULL;
}

static struct kunit_case ims_test_cases[] = {
	KUNIT_CASE(ims_test_slot_ctrl),
	KUNIT_CASE(ims_test_create_errors),
	KUNIT_CASE(ims_test_bad_args),
	KUNIT_CASE(ims_test_default_cookie),
	KUNIT_CASE(ims_test_mask_unmask),
	KUNIT_CASE(ims_test_bus_lock),
	KUNIT_CASE(ims_test_bus_lock_errors),
	KUNIT_CASE(ims_test_free_clears_slot),
	KUNIT_CASE(ims_test_grow),
	KUNIT_CASE(ims_test_quota),
	KUNIT_CASE_SLOW(ims_test_user_loop),
	KUNIT_CASE(ims_test_unbind_live),
	KUNIT_CASE_SLOW(ims_test_4096_slots),
	KUNIT_CASE(ims_test_no_remapping),
	{}
};

static int ims_kunit_suite_init(struct kunit_suite *suite);
static void ims_kunit_suite_exit(struct kunit_suite *suite);

static struct kunit_suite ims_test_suite = {
	.name		= "ims",
	.suite_init	= ims_kunit_suite_init,
	.suite_exit	= ims_kunit_suite_exit,
	.test_cases	= ims_test_cases,
};

/* --- suite "ims_dsa": end to end on the emulated DSA ----------------------- */

/* The DSA registers and the IMS chip of its slot table are in ims_dsa_chip.h. */

#define IMS_DSA_WQ			0
#define IMS_DSA_WQ_SIZE			16
#define IMS_DSA_PASID			5
#define IMS_DSA_OTHER_PASID		6

/* DMA memory: completion records (32-byte aligned, 64 apart), then buffers */
#define IMS_DSA_DMA_SIZE		SZ_16K
#define IMS_DSA_COMP_STRIDE		64
#define IMS_DSA_NR_COMP			16
#define IMS_DSA_SRC			SZ_4K
#define IMS_DSA_DST			SZ_8K
#define IMS_DSA_LEN			256
#define IMS_DSA_POISON			0xa5

/* Bounds on every wait, generous for TCG on a loaded host */
#define IMS_DSA_TIMEOUT_US		(2 * USEC_PER_SEC)
#define IMS_DSA_IRQ_TIMEOUT_MS		2000
/* How long "no interrupt" is watched, once the completion record is in */
#define IMS_DSA_QUIET_MS		300

struct ims_dsa;

struct ims_dsa_vec {
	struct ims_dsa		*dsa;
	unsigned int		index;
	unsigned int		virq;
	u16			handle;
	bool			allocated;
	bool			requested;
	atomic_t		count;
	struct completion	done;
};

/**
 * struct ims_dsa - State of one test case of the "ims_dsa" suite
 * @test:	The test
 * @pdev:	The DSA function
 * @bar0:	Registers, MSI-X and IMS tables
 * @bar2:	Portals
 * @enabled:	pci_enable_device() done
 * @regions:	pci_request_regions() done
 * @cpu:	DMA memory, CPU view
 * @dma:	DMA memory, device view
 * @gencap:	GENCAP register
 * @wqcap:	WQCAP register
 * @cmdcap:	CMDCAP register (0 without GENCAP.cmd_cap)
 * @grpcfg:	BAR0 offset of GRPCFG
 * @wqcfg:	BAR0 offset of WQ 0's WQCFG
 * @ims_table:	BAR0 offset of the IMS table
 * @ims_slots:	IMS slots the device has
 * @ims:	The IMS domain
 * @user:	@pdev as the user of @ims
 * @group:	Devres group holding what the core put on @pdev
 * @vec:	The vectors of the case
 * @cookie:	Default cookie of @pdev before the test, restored after it
 * @msix:	MSI-X enabled on @pdev (msix_first)
 */
struct ims_dsa {
	struct kunit		*test;
	struct pci_dev		*pdev;
	void __iomem		*bar0;
	void __iomem		*bar2;
	bool			enabled;
	bool			regions;
	void			*cpu;
	dma_addr_t		dma;
	u64			gencap;
	u64			wqcap;
	u32			cmdcap;
	u32			grpcfg;
	u32			wqcfg;
	u32			ims_table;
	unsigned int		ims_slots;
	struct ims_domain	*ims;
	struct ims_user		*user;
	void			*group;
	struct ims_dsa_vec	vec[2];
	u64			cookie;
	bool			msix;
};

static irqreturn_t ims_dsa_irq(int irq, void *data)
{
	struct ims_dsa_vec *v = data;

	atomic_inc(&v->count);
	complete(&v->done);
	return IRQ_HANDLED;
}

/*
 * Issues a command and waits, bounded, for CMDSTS.active to clear. Returns
 * 0 or -ETIMEDOUT; *sts is CMDSTS (error 7:0, result 23:8).
 */
static int ims_dsa_cmd(struct ims_dsa *d, u32 cmd, u32 operand, u32 *sts)
{
	int ret;

	/* The device ignores a command written while another is active. */
	ret = readl_poll_timeout(d->bar0 + DSA_CMDSTS, *sts, !(*sts & DSA_CMDSTS_ACTIVE),
				 50, IMS_DSA_TIMEOUT_US);
	if (ret)
		return ret;
	iowrite32(FIELD_PREP(DSA_CMD_CODE, cmd) | FIELD_PREP(DSA_CMD_OPERAND, operand),
		  d->bar0 + DSA_CMD);
	return readl_poll_timeout(d->bar0 + DSA_CMDSTS, *sts, !(*sts & DSA_CMDSTS_ACTIVE),
				  50, IMS_DSA_TIMEOUT_US);
}

static void ims_dsa_cmd_ok(struct ims_dsa *d, u32 cmd, u32 operand)
{
	u32 sts = 0;
	int ret;

	ret = ims_dsa_cmd(d, cmd, operand, &sts);
	KUNIT_ASSERT_EQ_MSG(d->test, ret, 0, "command %u (%#x) timed out", cmd, operand);
	KUNIT_ASSERT_EQ_MSG(d->test, sts, 0, "command %u (%#x): CMDSTS %#x, SWERR %#llx",
			    cmd, operand, sts, readq(d->bar0 + DSA_SWERR));
}

static void ims_dsa_teardown(void *data)
{
	struct ims_dsa *d = data;
	struct device *dev = &d->pdev->dev;
	unsigned int i;
	u32 sts;

	/* Quiesce the device first: no DMA, no interrupt after this. */
	if (d->bar0 && ims_dsa_cmd(d, DSA_CMD_RESET_DEVICE, 0, &sts))
		kunit_err(d->test, "RESET_DEVICE timed out in teardown\n");
	for (i = 0; i < ARRAY_SIZE(d->vec); i++) {
		struct ims_dsa_vec *v = &d->vec[i];

		if (v->requested)
			free_irq(v->virq, v);
		if (v->allocated)
			ims_user_free_irq(d->user, v->index);
	}
	/* The domain goes with the devres group, as at unbind. */
	ims_user_remove(d->user);
	if (d->msix) {
		pci_free_irq_vectors(d->pdev);
		pci_disable_device(d->pdev);
	}
	if (d->group)
		devres_release_group(dev, d->group);
	dev_msi_set_default_cookie(dev, d->cookie);
	if (d->cpu)
		dma_free_coherent(dev, IMS_DSA_DMA_SIZE, d->cpu, d->dma);
	if (d->bar2)
		pci_iounmap(d->pdev, d->bar2);
	if (d->bar0)
		pci_iounmap(d->pdev, d->bar0);
	if (d->regions)
		pci_release_regions(d->pdev);
	if (d->enabled) {
		pci_clear_master(d->pdev);
		pci_disable_device(d->pdev);
	}
}

/*
 * Puts WQ 0 and engine 0 in group 0 and enables WQ 0, dedicated, with
 * PASID IMS_DSA_PASID: all work of a dedicated WQ carries the WQ's PASID
 * (the descriptor's is ignored), and the device checks an IMS slot's PASID
 * against it before raising the slot.
 */
static void ims_dsa_enable_wq(struct ims_dsa *d)
{
	void __iomem *wq = d->bar0 + d->wqcfg;
	struct kunit *test = d->test;
	u32 size, state;

	/* GRPCFG is writable only while the device is disabled. */
	writeq(BIT_ULL(IMS_DSA_WQ), d->bar0 + d->grpcfg + DSA_GRPCFG_WQS);
	writeq(BIT_ULL(0), d->bar0 + d->grpcfg + DSA_GRPCFG_ENGINES);
	writeq(0, d->bar0 + d->grpcfg + DSA_GRPCFG_FLAGS);

	/*
	 * A WQ of size 0 cannot be enabled; priority must be 1..15; the
	 * per-WQ limits may not exceed GENCAP's.
	 */
	size = min_t(u32, FIELD_GET(DSA_WQCAP_TOTAL_WQ_SIZE, d->wqcap), IMS_DSA_WQ_SIZE);
	iowrite32(size, wq + 4 * DSA_WQCFG_SIZE);
	iowrite32(0, wq + 4 * DSA_WQCFG_THRESHOLD);
	iowrite32(DSA_WQCFG_DEDICATED | FIELD_PREP(DSA_WQCFG_PRIORITY, 1) |
		  DSA_WQCFG_PASID_EN | FIELD_PREP(DSA_WQCFG_PASID, IMS_DSA_PASID),
		  wq + 4 * DSA_WQCFG_MODE);
	iowrite32(FIELD_PREP(DSA_WQCFG_MAX_XFER_SHIFT,
			     FIELD_GET(DSA_GENCAP_MAX_XFER_SHIFT, d->gencap)) |
		  FIELD_PREP(DSA_WQCFG_MAX_BATCH_SHIFT,
			     FIELD_GET(DSA_GENCAP_MAX_BATCH_SHIFT, d->gencap)),
		  wq + 4 * DSA_WQCFG_LIMITS);

	ims_dsa_cmd_ok(d, DSA_CMD_ENABLE_DEVICE, 0);
	KUNIT_ASSERT_EQ(test, FIELD_GET(DSA_GENSTS_STATE, ioread32(d->bar0 + DSA_GENSTS)),
			DSA_GENSTS_ENABLED);
	/* ENABLE_WQ takes an index; DISABLE_WQ a bitmap. */
	ims_dsa_cmd_ok(d, DSA_CMD_ENABLE_WQ, IMS_DSA_WQ);
	state = FIELD_GET(DSA_WQCFG_STATE_OF, ioread32(wq + 4 * DSA_WQCFG_STATE));
	KUNIT_ASSERT_EQ_MSG(test, state, DSA_WQCFG_STATE_ENABLED, "WQ state after ENABLE_WQ");
}

/* Disables WQ 0 and the device, as a driver would before going away. */
static void ims_dsa_disable(struct ims_dsa *d)
{
	ims_dsa_cmd_ok(d, DSA_CMD_DISABLE_WQ, BIT(IMS_DSA_WQ));
	ims_dsa_cmd_ok(d, DSA_CMD_DISABLE_DEVICE, 0);
	KUNIT_EXPECT_EQ(d->test, FIELD_GET(DSA_GENSTS_STATE, ioread32(d->bar0 + DSA_GENSTS)), 0);
}

/*
 * Takes the DSA function, resets it, enables WQ 0 with PASID
 * IMS_DSA_PASID and creates the IMS domain over the device's slots.
 */
static struct ims_dsa *ims_dsa_setup(struct kunit *test)
{
	struct pci_dev *pdev = ims_kunit_pdev(test);
	struct device *dev = &pdev->dev;
	struct ims_domain *ims;
	struct ims_dsa *d;
	u64 tbl;
	u32 wqcfg_size;
	int ret;

	d = kunit_kzalloc(test, sizeof(*d), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, d);
	d->test = test;
	d->pdev = pdev;
	d->cookie = dev_msi_default_cookie(dev);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, ims_dsa_teardown, d));

	ret = pci_enable_device(pdev);
	KUNIT_ASSERT_EQ_MSG(test, ret, 0, "pci_enable_device()");
	d->enabled = true;
	ret = pci_request_regions(pdev, IMS_KUNIT_NAME);
	KUNIT_ASSERT_EQ_MSG(test, ret, 0, "pci_request_regions()");
	d->regions = true;
	/* Descriptors, completion records and IMS messages are DMA. */
	pci_set_master(pdev);
	KUNIT_ASSERT_GE(test, pci_resource_len(pdev, 0), SZ_64K);
	KUNIT_ASSERT_GE(test, pci_resource_len(pdev, 2), (IMS_DSA_WQ + 1) * DSA_PORTAL_STRIDE);
	d->bar0 = pci_iomap(pdev, 0, 0);
	KUNIT_ASSERT_NOT_NULL(test, d->bar0);
	d->bar2 = pci_iomap(pdev, 2, 0);
	KUNIT_ASSERT_NOT_NULL(test, d->bar2);
	d->cpu = dma_alloc_coherent(dev, IMS_DSA_DMA_SIZE, &d->dma, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, d->cpu);

	ims_dsa_cmd_ok(d, DSA_CMD_RESET_DEVICE, 0);
	d->gencap = readq(d->bar0 + DSA_GENCAP);
	d->wqcap = readq(d->bar0 + DSA_WQCAP);
	KUNIT_ASSERT_NE_MSG(test, d->gencap, ~0ULL, "BAR0 reads all ones");
	KUNIT_ASSERT_TRUE(test, d->wqcap & DSA_WQCAP_DEDICATED);
	KUNIT_ASSERT_GT(test, FIELD_GET(DSA_WQCAP_NUM_WQS, d->wqcap), IMS_DSA_WQ);
	d->cmdcap = d->gencap & DSA_GENCAP_CMD_CAP ? ioread32(d->bar0 + DSA_CMDCAP) : 0;
	tbl = readq(d->bar0 + DSA_TABLE_OFFSET);
	wqcfg_size = 1U << (5 + FIELD_GET(DSA_WQCAP_WQCFG_SIZE, d->wqcap));
	d->grpcfg = FIELD_GET(DSA_TABLE_GRPCFG, tbl) * DSA_TABLE_MULT;
	d->wqcfg = FIELD_GET(DSA_TABLE_WQCFG, tbl) * DSA_TABLE_MULT + IMS_DSA_WQ * wqcfg_size;
	d->ims_table = FIELD_GET(DSA_TABLE_IMS, tbl) * DSA_TABLE_MULT;
	d->ims_slots = FIELD_GET(DSA_GENCAP_MAX_IMS_MULT, d->gencap) * IDXD_IMS_SLOTS_PER_MULT;
	KUNIT_ASSERT_NE_MSG(test, d->ims_table, 0, "no IMS table in TABLE_OFFSET");
	KUNIT_ASSERT_GT_MSG(test, d->ims_slots, 1, "no IMS slots in GENCAP");
	KUNIT_ASSERT_LE(test, d->ims_table + d->ims_slots * IDXD_IMS_SLOT_SIZE,
			pci_resource_len(pdev, 0));

	ims_dsa_enable_wq(d);

	d->group = devres_open_group(dev, NULL, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, d->group);
	d->msix = ims_kunit_msix(test, pdev);
	ims = devm_ims_domain_create(dev, IMS_KUNIT_NAME, &ims_dsa_ops, d->bar0 + d->ims_table,
				     d->ims_slots);
	devres_close_group(dev, d->group);
	KUNIT_ASSERT_NOT_ERR_OR_NULL_MSG(test, ims, "devm_ims_domain_create(): %pe", ims);
	d->ims = ims;
	d->user = ims_user_add(ims, dev, d->ims_slots);
	KUNIT_ASSERT_NOT_ERR_OR_NULL_MSG(test, d->user, "ims_user_add(): %pe", d->user);
	return d;
}

/*
 * Allocates vector @i of the case (@cookie or the device's default),
 * requests it and gets the device's handle for its slot.
 */
static struct ims_dsa_vec *ims_dsa_get_vec(struct ims_dsa *d, unsigned int i, const u64 *cookie)
{
	struct ims_dsa_vec *v = &d->vec[i];
	struct kunit *test = d->test;
	struct msi_map map;
	u32 operand, sts;
	int ret;

	v->dsa = d;
	init_completion(&v->done);
	map = ims_user_alloc_irq(d->user, IMS_ANY_INDEX, cookie);
	KUNIT_ASSERT_GE_MSG(test, map.index, 0, "ims_user_alloc_irq(): %d", map.index);
	v->index = map.index;
	v->virq = map.virq;
	v->allocated = true;
	KUNIT_ASSERT_LT(test, v->index, d->ims_slots);

	ret = request_irq(v->virq, ims_dsa_irq, 0, IMS_KUNIT_NAME, v);
	KUNIT_ASSERT_EQ_MSG(test, ret, 0, "request_irq(%u)", v->virq);
	v->requested = true;

	/*
	 * The handle a descriptor names the slot with. A device may accept
	 * only handles it granted (the model's int-handle-req): ask when
	 * CMDCAP offers REQUEST_INT_HANDLE.
	 */
	v->handle = DSA_INT_HANDLE_IMS | v->index;
	if (d->cmdcap & BIT(DSA_CMD_REQUEST_INT_HANDLE)) {
		operand = v->index | DSA_CMD_INT_HANDLE_IMS;
		ret = ims_dsa_cmd(d, DSA_CMD_REQUEST_INT_HANDLE, operand, &sts);
		KUNIT_ASSERT_EQ(test, ret, 0);
		KUNIT_ASSERT_EQ_MSG(test, FIELD_GET(DSA_CMDSTS_ERR, sts), 0,
				    "REQUEST_INT_HANDLE(%#x): CMDSTS %#x", operand, sts);
		v->handle = FIELD_GET(DSA_CMDSTS_RESULT, sts);
	}
	return v;
}

static struct dsa_completion_record *ims_dsa_comp(struct ims_dsa *d, unsigned int i)
{
	return d->cpu + i * IMS_DSA_COMP_STRIDE;
}

/*
 * Submits a MEMMOVE of IMS_DSA_LEN bytes that writes completion record @i
 * and asks for a completion interrupt through @v's slot.
 */
static void ims_dsa_memmove(struct ims_dsa *d, struct ims_dsa_vec *v, unsigned int i)
{
	void __iomem *portal = d->bar2 + IMS_DSA_WQ * DSA_PORTAL_STRIDE;
	struct dsa_hw_desc desc = {
		.opcode		= DSA_OPCODE_MEMMOVE,
		.flags		= IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR | IDXD_OP_FLAG_RCI,
		.completion_addr = d->dma + i * IMS_DSA_COMP_STRIDE,
		.src_addr	= d->dma + IMS_DSA_SRC,
		.dst_addr	= d->dma + IMS_DSA_DST,
		.xfer_size	= IMS_DSA_LEN,
		.int_handle	= v->handle,
	};
	u64 q[8];
	int n;

	BUILD_BUG_ON(sizeof(desc) != sizeof(q));
	KUNIT_ASSERT_LT(d->test, i, IMS_DSA_NR_COMP);
	memset(ims_dsa_comp(d, i), 0, IMS_DSA_COMP_STRIDE);
	for (n = 0; n < IMS_DSA_LEN; n++)
		((u8 *)d->cpu)[IMS_DSA_SRC + n] = n * 7 + i;
	memset(d->cpu + IMS_DSA_DST, IMS_DSA_POISON, IMS_DSA_LEN);
	reinit_completion(&v->done);

	/*
	 * A real DSA portal takes one 64-byte atomic store (MOVDIR64B); TCG
	 * has none, and the emulated device also assembles a descriptor
	 * from eight 8-byte stores into one portal slot (docs/dsa.rst), the
	 * last one submitting it. writeq() is ordered after the memory
	 * writes above.
	 */
	memcpy(q, &desc, sizeof(q));
	for (n = 0; n < ARRAY_SIZE(q); n++)
		writeq(q[n], portal + 8 * n);
}

/* Waits, bounded, for record @i. Returns its status, 0 if none came. */
static u8 ims_dsa_comp_wait(struct ims_dsa *d, unsigned int i)
{
	struct dsa_completion_record *cr = ims_dsa_comp(d, i);
	u8 status;

	read_poll_timeout(READ_ONCE, status, status, 100, IMS_DSA_TIMEOUT_US, false,
			  cr->status);
	/* The device writes the status byte last. */
	dma_rmb();
	return status;
}

static void ims_dsa_expect_moved(struct ims_dsa *d)
{
	KUNIT_EXPECT_MEMEQ(d->test, d->cpu + IMS_DSA_DST, d->cpu + IMS_DSA_SRC, IMS_DSA_LEN);
}

static bool ims_dsa_irq_within(struct ims_dsa_vec *v, unsigned int ms)
{
	return wait_for_completion_timeout(&v->done, msecs_to_jiffies(ms));
}

/*
 * A vector with the device's default cookie (the WQ's PASID) gets the
 * completion interrupt of the WQ's work, once per descriptor.
 */
static void ims_dsa_test_completion_irq(struct kunit *test)
{
	struct ims_dsa *d = ims_dsa_setup(test);
	struct ims_dsa_vec *v;
	u32 ctrl, addr_lo;
	unsigned int i;
	u8 status;

	dev_msi_set_default_cookie(&d->pdev->dev, IDXD_IMS_COOKIE_PASID(IMS_DSA_PASID));
	v = ims_dsa_get_vec(d, 0, NULL);
	ctrl = ioread32(ims_dsa_ctrl(d->bar0 + d->ims_table, v->index));
	addr_lo = ioread32(ims_dsa_slot(d->bar0 + d->ims_table, v->index) + IDXD_IMS_SLOT_ADDR_LO);
	KUNIT_EXPECT_EQ(test, ctrl, ims_kunit_pasid_ctrl(IMS_DSA_PASID, false));
	KUNIT_EXPECT_TRUE_MSG(test, IMS_KUNIT_MSI_WINDOW(addr_lo),
			      "slot %u addr_lo %#x: no message", v->index, addr_lo);

	for (i = 0; i < 3; i++) {
		ims_dsa_memmove(d, v, i);
		status = ims_dsa_comp_wait(d, i);
		KUNIT_ASSERT_EQ_MSG(test, status, DSA_COMP_SUCCESS,
				    "descriptor %u: status %#x (0: none within %ld us), SWERR %#llx",
				    i, status, IMS_DSA_TIMEOUT_US, readq(d->bar0 + DSA_SWERR));
		ims_dsa_expect_moved(d);
		KUNIT_ASSERT_TRUE_MSG(test, ims_dsa_irq_within(v, IMS_DSA_IRQ_TIMEOUT_MS),
				      "descriptor %u: no interrupt on slot %u (virq %u) in %u ms",
				      i, v->index, v->virq, IMS_DSA_IRQ_TIMEOUT_MS);
	}
	KUNIT_EXPECT_EQ(test, atomic_read(&v->count), 3);
	ims_dsa_disable(d);
}

/*
 * A vector whose cookie is another PASID never fires for the WQ's work:
 * the device refuses the descriptor (INT_HANDLE_INVAL, nothing moved,
 * SWERR 0x19), and the WQ goes on serving the right vector.
 */
static void ims_dsa_test_pasid_mismatch(struct kunit *test)
{
	struct ims_dsa *d = ims_dsa_setup(test);
	u64 other = IDXD_IMS_COOKIE_PASID(IMS_DSA_OTHER_PASID), swerr;
	struct ims_dsa_vec *good, *bad;
	u8 status;
	int ret;

	dev_msi_set_default_cookie(&d->pdev->dev, IDXD_IMS_COOKIE_PASID(IMS_DSA_PASID));
	good = ims_dsa_get_vec(d, 0, NULL);
	bad = ims_dsa_get_vec(d, 1, &other);
	KUNIT_EXPECT_EQ(test,
			ioread32(ims_dsa_ctrl(d->bar0 + d->ims_table, bad->index)),
			ims_kunit_pasid_ctrl(IMS_DSA_OTHER_PASID, false));

	ims_dsa_memmove(d, bad, 0);
	status = ims_dsa_comp_wait(d, 0);
	KUNIT_ASSERT_NE_MSG(test, status, 0, "no completion record in %ld us", IMS_DSA_TIMEOUT_US);
	KUNIT_EXPECT_EQ(test, status, DSA_COMP_INT_HANDLE_INVAL);
	KUNIT_EXPECT_EQ_MSG(test, ((u8 *)d->cpu)[IMS_DSA_DST], IMS_DSA_POISON,
			    "a refused descriptor moved data");
	KUNIT_EXPECT_FALSE_MSG(test, ims_dsa_irq_within(bad, IMS_DSA_QUIET_MS),
			       "slot of PASID %u fired for work of PASID %u",
			       IMS_DSA_OTHER_PASID, IMS_DSA_PASID);
	KUNIT_EXPECT_EQ(test, atomic_read(&bad->count), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&good->count), 0);

	ret = readq_poll_timeout(d->bar0 + DSA_SWERR, swerr, swerr & DSA_SWERR_VALID, 100,
				 IMS_DSA_TIMEOUT_US);
	KUNIT_EXPECT_EQ_MSG(test, ret, 0, "no SWERR");
	KUNIT_EXPECT_EQ(test, FIELD_GET(DSA_SWERR_ERROR, swerr), DSA_SWERR_INVALID_INT_HANDLE);
	/* SWERR valid/overflow and INTCAUSE are write-1-to-clear. */
	writeq(DSA_SWERR_VALID | DSA_SWERR_OVERFLOW, d->bar0 + DSA_SWERR);
	iowrite32(ioread32(d->bar0 + DSA_INTCAUSE), d->bar0 + DSA_INTCAUSE);

	ims_dsa_memmove(d, good, 1);
	status = ims_dsa_comp_wait(d, 1);
	KUNIT_EXPECT_EQ(test, status, DSA_COMP_SUCCESS);
	ims_dsa_expect_moved(d);
	KUNIT_EXPECT_TRUE_MSG(test, ims_dsa_irq_within(good, IMS_DSA_IRQ_TIMEOUT_MS),
			      "no interrupt on the slot of the WQ's PASID");
	KUNIT_EXPECT_EQ(test, atomic_read(&bad->count), 0);
	ims_dsa_disable(d);
}

/*
 * disable_irq() masks the device's slot: the completion interrupt waits
 * in the device until enable_irq() unmasks it.
 */
static void ims_dsa_test_masked_pending(struct kunit *test)
{
	struct ims_dsa *d = ims_dsa_setup(test);
	struct ims_dsa_vec *v;
	u8 status;

	dev_msi_set_default_cookie(&d->pdev->dev, IDXD_IMS_COOKIE_PASID(IMS_DSA_PASID));
	v = ims_dsa_get_vec(d, 0, NULL);

	/* Not lazily: mask the slot now. */
	irq_set_status_flags(v->virq, IRQ_DISABLE_UNLAZY);
	disable_irq(v->virq);
	KUNIT_EXPECT_EQ(test,
			ioread32(ims_dsa_ctrl(d->bar0 + d->ims_table, v->index)),
			ims_kunit_pasid_ctrl(IMS_DSA_PASID, true));

	ims_dsa_memmove(d, v, 0);
	status = ims_dsa_comp_wait(d, 0);
	KUNIT_EXPECT_EQ(test, status, DSA_COMP_SUCCESS);
	KUNIT_EXPECT_FALSE_MSG(test, ims_dsa_irq_within(v, IMS_DSA_QUIET_MS),
			       "a masked slot fired");

	enable_irq(v->virq);
	irq_clear_status_flags(v->virq, IRQ_DISABLE_UNLAZY);
	KUNIT_EXPECT_TRUE_MSG(test, ims_dsa_irq_within(v, IMS_DSA_IRQ_TIMEOUT_MS),
			      "the pending interrupt was not delivered on unmask");
	KUNIT_EXPECT_EQ(test, atomic_read(&v->count), 1);
	ims_dsa_disable(d);
}

static struct kunit_case ims_dsa_test_cases[] = {
	KUNIT_CASE(ims_dsa_test_completion_irq),
	KUNIT_CASE(ims_dsa_test_pasid_mismatch),
	KUNIT_CASE(ims_dsa_test_masked_pending),
	{}
};

static struct kunit_suite ims_dsa_test_suite = {
	.name		= "ims_dsa",
	.suite_init	= ims_kunit_suite_init,
	.suite_exit	= ims_kunit_suite_exit,
	.test_cases	= ims_dsa_test_cases,
};

/* --- the device ------------------------------------------------------------ */

/*
 * The suites bind the emulated DSA through a PCI driver of their own, so
 * that an IMS domain is created, as the core requires, on a device bound
 * to the caller's driver, and no other driver owns the function meanwhile.
 * The driver has no static IDs, hence no module alias: each suite adds the
 * DSA's ID dynamically, which binds a function only if no driver has it.
 */
static struct pci_dev *ims_kunit_bound;

static int ims_kunit_pci_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	/* One function is enough. */
	if (ims_kunit_bound)
		return -EBUSY;
	ims_kunit_bound = pdev;
	return 0;
}

static void ims_kunit_pci_remove(struct pci_dev *pdev)
{
	if (ims_kunit_bound == pdev)
		ims_kunit_bound = NULL;
}

static struct pci_driver ims_kunit_pci_driver = {
	.name	= "ims_kunit",
	.probe	= ims_kunit_pci_probe,
	.remove	= ims_kunit_pci_remove,
};

static int ims_kunit_suite_init(struct kunit_suite *suite)
{
	int ret;

	ret = pci_register_driver(&ims_kunit_pci_driver);
	if (ret)
		return ret;
	ret = pci_add_dynid(&ims_kunit_pci_driver, PCI_VENDOR_ID_INTEL,
			    PCI_DEVICE_ID_INTEL_DSA_SPR0, PCI_ANY_ID, PCI_ANY_ID, 0, 0, 0);
	if (ret)
		pci_unregister_driver(&ims_kunit_pci_driver);
	return ret;
}

static void ims_kunit_suite_exit(struct kunit_suite *suite)
{
	pci_unregister_driver(&ims_kunit_pci_driver);
}

/* The function the suite's driver is bound to; skips the case if none. */
static struct pci_dev *ims_kunit_pdev(struct kunit *test)
{
	if (!ims_kunit_bound)
		kunit_skip(test, "no free %04x:%04x PCI function (QEMU -device intel-dsa)",
			   PCI_VENDOR_ID_INTEL, PCI_DEVICE_ID_INTEL_DSA_SPR0);
	return ims_kunit_bound;
}

kunit_test_suites(&ims_test_suite, &ims_dsa_test_suite);

MODULE_DESCRIPTION("KUnit tests of the IMS core");
MODULE_LICENSE("GPL");
