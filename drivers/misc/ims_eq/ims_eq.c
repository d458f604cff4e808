// SPDX-License-Identifier: GPL-2.0
/*
 * ims_eq: a C user of the IMS core, for an mlx5-style event-queue device.
 *
 * The device (PCI 1234:1e5e, QEMU's "ims-eq", tools/testing/qemu/docs/ims-eq.rst)
 * raises each event queue's (EQ's) interrupt with the message address and
 * data of the EQ's context. The contexts sit in host memory, in a table the
 * driver owns, and the device caches each one: a change takes effect only
 * through a CREATE, MODIFY or DESTROY command, which the device executes
 * asynchronously and completes with an MSI-X interrupt. Every context also
 * carries a VM-id, and the device raises an EQ only for work of that VM-id.
 *
 * So this is the IMS chip the DSA's MMIO slots are not: its callbacks run
 * under the interrupt descriptor's spinlock, where no command can be issued,
 * so they only record the wanted context, and bus_sync_unlock() issues the
 * commands and sleeps until the device has carried them out. The cookie is
 * a VM-id: each vport (a sub-device standing for one VM) gets its VM-id as
 * its default MSI cookie, and its EQ vectors are allocated on demand, within
 * the vport's quota, through include/linux/ims.h only.
 *
 * A debugfs interface (Documentation/misc-devices/ims_eq.rst) lets a test
 * create vports, allocate, request, mask and free vectors, post work and read
 * the counts.
 */

#include <linux/bitfield.h>
#include <linux/bitmap.h>
#include <linux/completion.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/ims.h>
#include <linux/interrupt.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/iopoll.h>
#include <linux/irq.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/msi.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/spinlock.h>
#include <linux/xarray.h>

#define IMS_EQ_NAME		"ims_eq"
/* QEMU's test-device vendor space, like the edu device (1234:11e8) */
#define PCI_VENDOR_ID_IMS_EQ	0x1234
#define PCI_DEVICE_ID_IMS_EQ	0x1e5e

/* BAR0 registers */
#define IMS_EQ_ID		0x000
#define  IMS_EQ_ID_VALUE	0x1e5e0001
#define IMS_EQ_CAP		0x004
#define  IMS_EQ_CAP_EQS		GENMASK(15, 0)
#define IMS_EQ_STATUS		0x008
#define  IMS_EQ_STATUS_BUSY	BIT(0)
#define IMS_EQ_CMD_ADDR		0x010
#define IMS_EQ_CMD_DOORBELL	0x018
#define IMS_EQ_CTX_BASE		0x020
#define IMS_EQ_WORK_ADDR	0x028
#define IMS_EQ_MISMATCH_COUNT	0x030
#define IMS_EQ_MISMATCH_EQN	0x034
#define IMS_EQ_MISMATCH_VMID	0x038
#define IMS_EQ_WORK_DROPPED	0x03c
#define IMS_EQ_FAULT_FAIL	0x040
#define IMS_EQ_CMD_DELAY_US	0x044
#define IMS_EQ_MSGS_SENT	0x048
#define IMS_EQ_CMDS_DONE	0x04c
#define IMS_EQ_CMD_ERRORS	0x050

#define IMS_EQ_MAX_EQS		4096

/* Commands */
#define IMS_EQ_OP_CREATE	1
#define IMS_EQ_OP_MODIFY	2
#define IMS_EQ_OP_DESTROY	3
#define IMS_EQ_OP_QUERY		4
#define IMS_EQ_CMD_F_INT	BIT(0)

/* Status of a command or a work descriptor: DONE, then a code */
#define IMS_EQ_DONE		BIT(31)
#define IMS_EQ_CODE		GENMASK(7, 0)
#define IMS_EQ_ST_OK		0
#define IMS_EQ_ST_BAD_OPCODE	1
#define IMS_EQ_ST_BAD_EQN	2
#define IMS_EQ_ST_BAD_STATE	3
#define IMS_EQ_ST_DMA_ERROR	4
#define IMS_EQ_ST_FAULT		5

#define IMS_EQ_WST_OK		0
#define IMS_EQ_WST_BAD_EQN	1
#define IMS_EQ_WST_MISMATCH	2
#define IMS_EQ_WST_DMA_ERROR	3
#define IMS_EQ_WST_BAD_LEN	4

#define IMS_EQ_CTX_MASKED	BIT(0)

/**
 * struct ims_eq_ctx - An EQ context, as the device reads it from host memory
 * @msg_addr:	Message address
 * @msg_data:	Message data
 * @ctrl:	IMS_EQ_CTX_MASKED
 * @vmid:	The VM-id whose work may raise the EQ
 * @rsvd:	Zero
 */
struct ims_eq_ctx {
	__le64	msg_addr;
	__le32	msg_data;
	__le32	ctrl;
	__le32	vmid;
	__le32	rsvd[3];
};

static_assert(sizeof(struct ims_eq_ctx) == 32);

/**
 * struct ims_eq_cmd - The command block
 * @opcode:	IMS_EQ_OP_*
 * @eqn:	The EQ
 * @status:	IMS_EQ_DONE | IMS_EQ_ST_*, written by the device last
 * @flags:	IMS_EQ_CMD_F_INT
 * @ctx:	QUERY output: the context the device caches
 * @pending:	QUERY output: bit 0, an event is pending
 * @count:	QUERY output: messages sent on the EQ since its CREATE
 * @rsvd:	Zero
 */
struct ims_eq_cmd {
	__le32			opcode;
	__le32			eqn;
	__le32			status;
	__le32			flags;
	struct ims_eq_ctx	ctx;
	__le32			pending;
	__le32			count;
	__le32			rsvd[2];
};

static_assert(sizeof(struct ims_eq_cmd) == 64);

/**
 * struct ims_eq_work - A work descriptor: copy, then raise an EQ
 * @src:	Source bus address
 * @dst:	Destination bus address
 * @len:	Bytes to copy, 0 for an event alone
 * @eqn:	The EQ to raise
 * @vmid:	The VM-id the work belongs to
 * @status:	IMS_EQ_DONE | IMS_EQ_WST_*, written by the device last
 */
struct ims_eq_work {
	__le64	src;
	__le64	dst;
	__le32	len;
	__le32	eqn;
	__le32	vmid;
	__le32	status;
};

static_assert(sizeof(struct ims_eq_work) == 32);

#define IMS_EQ_BUF_LEN		SZ_4K
#define IMS_EQ_WORK_TIMEOUT_US	(2 * USEC_PER_SEC)
#define IMS_EQ_IRQ_TIMEOUT_MS	2000

static unsigned int cmd_timeout_ms = 2000;
module_param(cmd_timeout_ms, uint, 0444);
MODULE_PARM_DESC(cmd_timeout_ms, "How long to wait for a device command (ms, default 2000)");

/**
 * struct ims_eq_state - What the driver wants of one EQ, or what the device has
 * @addr:	Message address
 * @data:	Message data
 * @vmid:	VM-id
 * @masked:	Masked
 * @live:	The EQ should exist (between the first message and shutdown)
 */
struct ims_eq_state {
	u64	addr;
	u32	data;
	u32	vmid;
	bool	masked;
	bool	live;
};

struct ims_eq_dev;

/**
 * struct ims_eq_vport - A sub-device: one VM's EQs
 * @dev:	Its device, a child of the PCI function; default MSI cookie =
 *		@vmid
 * @eq:	The device
 * @user:	Its IMS user, with the quota
 * @id:		Its number, from the test
 * @vmid:	Its VM-id
 * @node:	In &ims_eq_dev.vports
 */
struct ims_eq_vport {
	struct device		dev;
	struct ims_eq_dev	*eq;
	struct ims_user		*user;
	u32			id;
	u32			vmid;
	struct list_head	node;
};

/**
 * struct ims_eq_vec - An EQ vector
 * @vp:		The vport that holds it
 * @index:	Its IMS slot, which is also its EQ number
 * @virq:	Its Linux interrupt
 * @requested:	Its interrupt is requested
 * @disabled:	disable_irq() depth the test added
 * @count:	Interrupts its handler saw
 * @t_irq:	ktime of its latest interrupt (the benchmark)
 * @fired:	Completed by the handler when @waiting
 * @waiting:	Someone waits for @fired
 * @name:	Its name in /proc/interrupts
 */
struct ims_eq_vec {
	struct ims_eq_vport	*vp;
	unsigned int		index;
	unsigned int		virq;
	bool			requested;
	unsigned int		disabled;
	atomic_t		count;
	u64			t_irq;
	struct completion	fired;
	bool			waiting;
	char			name[32];
};

/**
 * struct ims_eq_dev - One ims-eq function
 * @pdev:	The PCI function
 * @regs:	BAR0
 * @nr_eqs:	EQs the device has, and IMS slots of @ims
 * @ims:	The IMS domain
 * @lock:	Serialises the debugfs operations: @vports, @vecs
 * @vports:	The vports
 * @vecs:	The vectors, by slot index
 * @cmd_lock:	One command at a time; taken inside @bus
 * @cmd:	The command block (DMA coherent)
 * @cmd_dma:	Its bus address
 * @cmd_done:	Completed by the command interrupt
 * @ctx:	The EQ context table (DMA coherent)
 * @ctx_dma:	Its bus address
 * @bus:	The chip's bus lock: from bus_lock() to bus_sync_unlock()
 * @bus_owner:	The task holding @bus, for the callbacks to tell the core's
 *		calls under the bus lock from the edge flow's in hard
 *		interrupt context
 * @want:	Per EQ, what the callbacks recorded
 * @have:	Per EQ, what the device caches (commands succeed or change
 *		nothing, so this is exact)
 * @dirty:	EQs whose @want differs from @have, to carry out
 * @shadow_lock: Protects @want and @dirty against a callback that comes
 *		without the bus lock
 * @cmd_failures: Commands that failed
 * @work_lock:	One work descriptor at a time
 * @work:	The work descriptor (DMA coherent)
 * @work_dma:	Its bus address
 * @buf:	Source and destination of the work's copy (DMA coherent)
 * @buf_dma:	Their bus address
 * @dir:	The debugfs directory
 */
struct ims_eq_dev {
	struct pci_dev		*pdev;
	void __iomem		*regs;
	unsigned int		nr_eqs;
	struct ims_domain	*ims;

	struct mutex		lock;		/* the debugfs operations */
	struct list_head	vports;
	struct xarray		vecs;

	struct mutex		cmd_lock;	/* one command at a time */
	struct ims_eq_cmd	*cmd;
	dma_addr_t		cmd_dma;
	struct completion	cmd_done;
	struct ims_eq_ctx	*ctx;
	dma_addr_t		ctx_dma;

	struct mutex		bus;		/* the chip's bus lock */
	struct task_struct	*bus_owner;
	struct ims_eq_state	*want;
	struct ims_eq_state	*have;
	unsigned long		*dirty;
	raw_spinlock_t		shadow_lock;
	atomic_t		cmd_failures;

	struct mutex		work_lock;	/* one work descriptor at a time */
	struct ims_eq_work	*work;
	dma_addr_t		work_dma;
	u8			*buf;
	dma_addr_t		buf_dma;

	struct dentry		*dir;
};

static struct dentry *ims_eq_debugfs;

/* --- the command mailbox --------------------------------------------------- */

static irqreturn_t ims_eq_cmd_irq(int irq, void *data)
{
	struct ims_eq_dev *eq = data;

	complete(&eq->cmd_done);
	return IRQ_HANDLED;
}

static int ims_eq_cmd_errno(u32 code)
{
	switch (code) {
	case IMS_EQ_ST_OK:
		return 0;
	case IMS_EQ_ST_BAD_STATE:
		return -EBUSY;
	case IMS_EQ_ST_BAD_OPCODE:
	case IMS_EQ_ST_BAD_EQN:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/*
 * Issue one command and sleep until the device completes it. The command
 * takes its context, if any, from @eq->ctx[@eqn], which the caller wrote.
 * On success with @out, the block's QUERY output is copied there.
 */
static int ims_eq_cmd_exec(struct ims_eq_dev *eq, u32 opcode, u32 eqn, struct ims_eq_cmd *out)
{
	struct device *dev = &eq->pdev->dev;
	u32 status, busy;
	int ret;

	might_sleep();
	lockdep_assert_held(&eq->cmd_lock);

	/* A command that timed out earlier may still be running. */
	ret = readl_poll_timeout(eq->regs + IMS_EQ_STATUS, busy, !(busy & IMS_EQ_STATUS_BUSY),
				 10, cmd_timeout_ms * USEC_PER_MSEC);
	if (ret)
		return ret;

	memset(eq->cmd, 0, sizeof(*eq->cmd));
	eq->cmd->opcode = cpu_to_le32(opcode);
	eq->cmd->eqn = cpu_to_le32(eqn);
	eq->cmd->flags = cpu_to_le32(IMS_EQ_CMD_F_INT);
	reinit_completion(&eq->cmd_done);
	/* writel() orders the block and the context before the doorbell. */
	writel(1, eq->regs + IMS_EQ_CMD_DOORBELL);

	if (!wait_for_completion_timeout(&eq->cmd_done, msecs_to_jiffies(cmd_timeout_ms))) {
		dev_err_ratelimited(dev, "command %u on EQ %u timed out\n", opcode, eqn);
		return -ETIMEDOUT;
	}
	status = le32_to_cpu(READ_ONCE(eq->cmd->status));
	if (!(status & IMS_EQ_DONE)) {
		dev_err_ratelimited(dev, "command %u on EQ %u: interrupt without status\n",
				    opcode, eqn);
		return -EIO;
	}
	ret = ims_eq_cmd_errno(FIELD_GET(IMS_EQ_CODE, status));
	if (!ret && out)
		*out = *eq->cmd;
	return ret;
}

/* Write @s into the context table entry the next command of @eqn reads. */
static void ims_eq_ctx_write(struct ims_eq_dev *eq, unsigned int eqn,
			     const struct ims_eq_state *s)
{
	eq->ctx[eqn] = (struct ims_eq_ctx) {
		.msg_addr	= cpu_to_le64(s->addr),
		.msg_data	= cpu_to_le32(s->data),
		.ctrl		= cpu_to_le32(s->masked ? IMS_EQ_CTX_MASKED : 0),
		.vmid		= cpu_to_le32(s->vmid),
	};
}

/*
 * Make the device's EQ @eqn what @want says: CREATE it, MODIFY it or
 * DESTROY it. A command that fails changes nothing in the device, so @have
 * stays exact.
 */
static int ims_eq_apply(struct ims_eq_dev *eq, unsigned int eqn, const struct ims_eq_state *want)
{
	struct ims_eq_state *have = &eq->have[eqn];
	int ret;

	if (!want->live) {
		if (!have->live)
			return 0;
		ret = ims_eq_cmd_exec(eq, IMS_EQ_OP_DESTROY, eqn, NULL);
		if (!ret)
			*have = (struct ims_eq_state) { .masked = true };
		return ret;
	}
	ims_eq_ctx_write(eq, eqn, want);
	ret = ims_eq_cmd_exec(eq, have->live ? IMS_EQ_OP_MODIFY : IMS_EQ_OP_CREATE, eqn, NULL);
	if (!ret)
		*have = *want;
	return ret;
}

/*
 * A command for @eqn failed. Report it, once and rate-limited, and leave the
 * EQ masked: if the device still has it unmasked (a failed mask), MODIFY it
 * to the context it has, masked. Keep it dirty, so that the next
 * bus_sync_unlock() tries again what was wanted. A masked EQ keeps its
 * events pending in the device: none is lost.
 */
static void ims_eq_apply_failed(struct ims_eq_dev *eq, unsigned int eqn, int err)
{
	struct ims_eq_state *have = &eq->have[eqn];
	struct ims_eq_state safe = *have;
	unsigned long flags;

	atomic_inc(&eq->cmd_failures);
	dev_warn_ratelimited(&eq->pdev->dev, "EQ %u: command failed (%d), vector left masked\n",
			     eqn, err);
	if (have->live && !have->masked) {
		safe.masked = true;
		ims_eq_ctx_write(eq, eqn, &safe);
		if (!ims_eq_cmd_exec(eq, IMS_EQ_OP_MODIFY, eqn, NULL))
			*have = safe;
	}
	raw_spin_lock_irqsave(&eq->shadow_lock, flags);
	set_bit(eqn, eq->dirty);
	raw_spin_unlock_irqrestore(&eq->shadow_lock, flags);
}

/* --- the IMS chip ------------------------------------------------------------ */

/*
 * The callbacks run under the interrupt descriptor's lock: they record, and
 * ims_eq_bus_sync_unlock() carries out.
 */
static void ims_eq_record(struct ims_eq_dev *eq, unsigned int index,
			  void (*change)(struct ims_eq_state *s, const void *arg), const void *arg)
{
	unsigned long flags;

	if (WARN_ON_ONCE(index >= eq->nr_eqs))
		return;
	raw_spin_lock_irqsave(&eq->shadow_lock, flags);
	change(&eq->want[index], arg);
	set_bit(index, eq->dirty);
	raw_spin_unlock_irqrestore(&eq->shadow_lock, flags);
}

static void ims_eq_set_msg(struct ims_eq_state *s, const void *arg)
{
	const struct msi_msg *msg = arg;

	s->addr = (u64)msg->address_hi << 32 | msg->address_lo;
	s->data = msg->data;
	/* A zeroed message comes after shutdown, when the EQ is gone. */
	if (s->addr)
		s->live = true;
}

static void ims_eq_set_mask(struct ims_eq_state *s, const void *arg)
{
	s->masked = true;
	s->vmid = *(const u32 *)arg;
}

static void ims_eq_set_unmask(struct ims_eq_state *s, const void *arg)
{
	s->masked = false;
	s->vmid = *(const u32 *)arg;
}

static void ims_eq_set_shutdown(struct ims_eq_state *s, const void *arg)
{
	*s = (struct ims_eq_state) { .masked = true };
}

static void ims_eq_write_msg(void *priv, unsigned int index, const struct msi_msg *msg)
{
	ims_eq_record(priv, index, ims_eq_set_msg, msg);
}

/*
 * Masks and unmasks that come without the bus lock are the edge flow's, in
 * hard interrupt context, around a handler that is still running: no
 * command can be issued there, and a mask recorded for later would outlive
 * its unmask. They are ignored; the device sends the next event anyway, and
 * the edge flow runs the handler again for it.
 */
static bool ims_eq_bus_held(struct ims_eq_dev *eq)
{
	return READ_ONCE(eq->bus_owner) == current;
}

/* The cookie is a VM-id: 32 bits. A wider one can match no work: keep masked. */
static void ims_eq_mask(void *priv, unsigned int index, u64 cookie)
{
	struct ims_eq_dev *eq = priv;
	u32 vmid = lower_32_bits(cookie);

	if (ims_eq_bus_held(eq))
		ims_eq_record(eq, index, ims_eq_set_mask, &vmid);
}

static void ims_eq_unmask(void *priv, unsigned int index, u64 cookie)
{
	struct ims_eq_dev *eq = priv;
	u32 vmid = lower_32_bits(cookie);

	if (!ims_eq_bus_held(eq))
		return;
	if (cookie > U32_MAX) {
		dev_warn_ratelimited(&eq->pdev->dev, "EQ %u: cookie %#llx is no VM-id, kept masked\n",
				     index, cookie);
		ims_eq_record(eq, index, ims_eq_set_mask, &vmid);
		return;
	}
	ims_eq_record(eq, index, ims_eq_set_unmask, &vmid);
}

static void ims_eq_shutdown(void *priv, unsigned int index)
{
	ims_eq_record(priv, index, ims_eq_set_shutdown, NULL);
}

static void ims_eq_bus_lock(void *priv)
{
	struct ims_eq_dev *eq = priv;

	mutex_lock(&eq->bus);
	WRITE_ONCE(eq->bus_owner, current);
}

/* Carry out every recorded change, one command per EQ, and sleep for each. */
static void ims_eq_bus_sync_unlock(void *priv)
{
	struct ims_eq_dev *eq = priv;
	struct ims_eq_state want;
	unsigned long flags;
	unsigned int eqn;
	int ret;

	might_sleep();
	mutex_lock(&eq->cmd_lock);
	/* A failed EQ is marked dirty again, for the next call: not revisited here. */
	for_each_set_bit(eqn, eq->dirty, eq->nr_eqs) {
		raw_spin_lock_irqsave(&eq->shadow_lock, flags);
		clear_bit(eqn, eq->dirty);
		want = eq->want[eqn];
		raw_spin_unlock_irqrestore(&eq->shadow_lock, flags);

		ret = ims_eq_apply(eq, eqn, &want);
		if (ret)
			ims_eq_apply_failed(eq, eqn, ret);
	}
	mutex_unlock(&eq->cmd_lock);
	WRITE_ONCE(eq->bus_owner, NULL);
	mutex_unlock(&eq->bus);
}

static const struct ims_chip_ops ims_eq_chip_ops = {
	.write_msg	= ims_eq_write_msg,
	.mask		= ims_eq_mask,
	.unmask		= ims_eq_unmask,
	.shutdown	= ims_eq_shutdown,
	.bus_lock	= ims_eq_bus_lock,
	.bus_sync_unlock = ims_eq_bus_sync_unlock,
	.flags		= IMS_CHIP_ONESHOT_SAFE,
};

/* --- vports and vectors -------------------------------------------------------- */

static irqreturn_t ims_eq_vec_irq(int irq, void *data)
{
	struct ims_eq_vec *vec = data;

	WRITE_ONCE(vec->t_irq, ktime_get_ns());
	atomic_inc(&vec->count);
	if (READ_ONCE(vec->waiting))
		complete(&vec->fired);
	return IRQ_HANDLED;
}

static void ims_eq_vport_release(struct device *dev)
{
	kfree(container_of(dev, struct ims_eq_vport, dev));
}

static struct ims_eq_vport *ims_eq_vport_find(struct ims_eq_dev *eq, u32 id)
{
	struct ims_eq_vport *vp;

	list_for_each_entry(vp, &eq->vports, node)
		if (vp->id == id)
			return vp;
	return NULL;
}

static int ims_eq_vport_add(struct ims_eq_dev *eq, u32 id, u32 vmid, unsigned int quota)
{
	struct ims_eq_vport *vp;
	int ret;

	lockdep_assert_held(&eq->lock);
	if (ims_eq_vport_find(eq, id))
		return -EEXIST;
	vp = kzalloc_obj(*vp);
	if (!vp)
		return -ENOMEM;
	vp->eq = eq;
	vp->id = id;
	vp->vmid = vmid;
	device_initialize(&vp->dev);
	vp->dev.parent = &eq->pdev->dev;
	vp->dev.release = ims_eq_vport_release;
	ret = dev_set_name(&vp->dev, "vport%u", id);
	if (ret)
		goto put;
	/* The VM-id, before any vector exists: each allocation copies it. */
	dev_msi_set_default_cookie(&vp->dev, vmid);
	ret = device_add(&vp->dev);
	if (ret)
		goto put;
	vp->user = ims_user_add(eq->ims, &vp->dev, quota);
	if (IS_ERR(vp->user)) {
		ret = PTR_ERR(vp->user);
		device_del(&vp->dev);
		goto put;
	}
	list_add_tail(&vp->node, &eq->vports);
	return 0;
put:
	put_device(&vp->dev);
	return ret;
}

static void ims_eq_vec_release(struct ims_eq_vec *vec)
{
	while (vec->disabled) {
		enable_irq(vec->virq);
		vec->disabled--;
	}
	if (vec->requested) {
		free_irq(vec->virq, vec);
		vec->requested = false;
	}
}

static void ims_eq_vec_free(struct ims_eq_dev *eq, struct ims_eq_vec *vec)
{
	ims_eq_vec_release(vec);
	ims_user_free_irq(vec->vp->user, vec->index);
	xa_erase(&eq->vecs, vec->index);
	kfree(vec);
}

static void ims_eq_vport_del(struct ims_eq_dev *eq, struct ims_eq_vport *vp)
{
	struct ims_eq_vec *vec;
	unsigned long index;

	lockdep_assert_held(&eq->lock);
	xa_for_each(&eq->vecs, index, vec)
		if (vec->vp == vp)
			ims_eq_vec_free(eq, vec);
	ims_user_remove(vp->user);
	list_del(&vp->node);
	device_unregister(&vp->dev);
}

static int ims_eq_vec_alloc(struct ims_eq_dev *eq, u32 id, struct ims_eq_vec **out)
{
	struct ims_eq_vport *vp;
	struct ims_eq_vec *vec;
	struct msi_map map;
	int ret;

	lockdep_assert_held(&eq->lock);
	vp = ims_eq_vport_find(eq, id);
	if (!vp)
		return -ENOENT;
	vec = kzalloc_obj(*vec);
	if (!vec)
		return -ENOMEM;
	map = ims_user_alloc_irq(vp->user, IMS_ANY_INDEX, NULL);
	if (map.index < 0) {
		kfree(vec);
		return map.index;
	}
	vec->vp = vp;
	vec->index = map.index;
	vec->virq = map.virq;
	init_completion(&vec->fired);
	snprintf(vec->name, sizeof(vec->name), IMS_EQ_NAME "-vport%u-eq%u", id, vec->index);
	ret = xa_insert(&eq->vecs, vec->index, vec, GFP_KERNEL);
	if (ret) {
		ims_user_free_irq(vp->user, vec->index);
		kfree(vec);
		return ret;
	}
	*out = vec;
	return 0;
}

static int ims_eq_vec_request(struct ims_eq_vec *vec)
{
	int ret;

	if (vec->requested)
		return -EBUSY;
	/*
	 * disable_irq() masks at once, through a MODIFY command, instead of
	 * when the next event arrives: the device keeps that event pending.
	 */
	irq_set_status_flags(vec->virq, IRQ_DISABLE_UNLAZY);
	ret = request_irq(vec->virq, ims_eq_vec_irq, 0, vec->name, vec);
	if (ret) {
		dev_warn_ratelimited(&vec->vp->eq->pdev->dev, "EQ %u: request_irq(%u): %d\n",
				     vec->index, vec->virq, ret);
		return ret;
	}
	vec->requested = true;
	return 0;
}

/*
 * Post work for EQ @eqn with @vmid: the device copies a buffer by DMA, then
 * raises the EQ if @vmid is its VM-id. Returns once the device wrote the
 * work's status, which it does after sending the message.
 */
static int ims_eq_post(struct ims_eq_dev *eq, u32 eqn, u32 vmid)
{
	u8 *src = eq->buf, *dst = eq->buf + IMS_EQ_BUF_LEN;
	u32 status;
	int ret;

	mutex_lock(&eq->work_lock);
	get_random_bytes(src, IMS_EQ_BUF_LEN);
	memset(dst, 0, IMS_EQ_BUF_LEN);
	*eq->work = (struct ims_eq_work) {
		.src	= cpu_to_le64(eq->buf_dma),
		.dst	= cpu_to_le64(eq->buf_dma + IMS_EQ_BUF_LEN),
		.len	= cpu_to_le32(IMS_EQ_BUF_LEN),
		.eqn	= cpu_to_le32(eqn),
		.vmid	= cpu_to_le32(vmid),
	};
	writeq(eq->work_dma, eq->regs + IMS_EQ_WORK_ADDR);
	ret = read_poll_timeout(le32_to_cpu, status, status & IMS_EQ_DONE, 5,
				IMS_EQ_WORK_TIMEOUT_US, false, READ_ONCE(eq->work->status));
	if (ret)
		goto out;
	switch (FIELD_GET(IMS_EQ_CODE, status)) {
	case IMS_EQ_WST_OK:
		ret = memcmp(src, dst, IMS_EQ_BUF_LEN) ? -EIO : 0;
		break;
	case IMS_EQ_WST_BAD_EQN:
		ret = -ENOENT;
		break;
	case IMS_EQ_WST_MISMATCH:
		ret = -EACCES;
		break;
	default:
		ret = -EIO;
		break;
	}
out:
	mutex_unlock(&eq->work_lock);
	return ret;
}

/* Ask the device what it caches for EQ @eqn. */
static int ims_eq_query(struct ims_eq_dev *eq, u32 eqn, struct ims_eq_cmd *out)
{
	int ret;

	if (eqn >= eq->nr_eqs)
		return -EINVAL;
	mutex_lock(&eq->cmd_lock);
	ret = ims_eq_cmd_exec(eq, IMS_EQ_OP_QUERY, eqn, out);
	mutex_unlock(&eq->cmd_lock);
	return ret;
}

/* --- the benchmark: unmask to first interrupt ----------------------------------- */

static int ims_eq_u64_cmp(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * @n times: mask the vector (a MODIFY), post an event (the device keeps it
 * pending), then time from enable_irq() (a MODIFY that unmasks, after which
 * the device sends the pending message) to the handler. The median in ns.
 */
static int ims_eq_bench_unmask(struct ims_eq_dev *eq, struct ims_eq_vec *vec, unsigned int n,
			       u64 *median)
{
	u64 *ns, t0;
	unsigned int i;
	int ret = 0;

	if (!vec->requested || vec->disabled || !n || n > 10000)
		return -EINVAL;
	ns = kvcalloc(n, sizeof(*ns), GFP_KERNEL);
	if (!ns)
		return -ENOMEM;
	WRITE_ONCE(vec->waiting, true);
	for (i = 0; i < n; i++) {
		disable_irq(vec->virq);
		reinit_completion(&vec->fired);
		ret = ims_eq_post(eq, vec->index, vec->vp->vmid);
		if (ret) {
			enable_irq(vec->virq);
			break;
		}
		t0 = ktime_get_ns();
		enable_irq(vec->virq);
		if (!wait_for_completion_timeout(&vec->fired,
						 msecs_to_jiffies(IMS_EQ_IRQ_TIMEOUT_MS))) {
			ret = -ETIMEDOUT;
			break;
		}
		ns[i] = READ_ONCE(vec->t_irq) - t0;
	}
	WRITE_ONCE(vec->waiting, false);
	if (!ret) {
		sort(ns, n, sizeof(*ns), ims_eq_u64_cmp, NULL);
		*median = ns[n / 2];
	}
	kvfree(ns);
	return ret;
}

/* --- debugfs ------------------------------------------------------------------ */

/*
 * Each control file takes one line of numbers. Those that answer (alloc,
 * query, bench) keep the answer of the last write for a read of the same
 * open file.
 */
struct ims_eq_file {
	struct ims_eq_dev	*eq;
	int			(*op)(struct ims_eq_file *f, u32 *arg, int nargs);
	int			nargs;
	char			out[128];
	size_t			len;
};

static int ims_eq_op_vport_add(struct ims_eq_file *f, u32 *a, int n)
{
	return ims_eq_vport_add(f->eq, a[0], a[1], a[2]);
}

static int ims_eq_op_vport_del(struct ims_eq_file *f, u32 *a, int n)
{
	struct ims_eq_vport *vp = ims_eq_vport_find(f->eq, a[0]);

	if (!vp)
		return -ENOENT;
	ims_eq_vport_del(f->eq, vp);
	return 0;
}

static int ims_eq_op_alloc(struct ims_eq_file *f, u32 *a, int n)
{
	struct ims_eq_vec *vec;
	int ret;

	ret = ims_eq_vec_alloc(f->eq, a[0], &vec);
	if (ret)
		return ret;
	f->len = scnprintf(f->out, sizeof(f->out), "%u %u\n", vec->index, vec->virq);
	return 0;
}

static struct ims_eq_vec *ims_eq_vec_find(struct ims_eq_dev *eq, u32 index)
{
	return xa_load(&eq->vecs, index);
}

static int ims_eq_op_free(struct ims_eq_file *f, u32 *a, int n)
{
	struct ims_eq_vec *vec = ims_eq_vec_find(f->eq, a[0]);

	if (!vec)
		return -ENOENT;
	ims_eq_vec_free(f->eq, vec);
	return 0;
}

static int ims_eq_op_request(struct ims_eq_file *f, u32 *a, int n)
{
	struct ims_eq_vec *vec = ims_eq_vec_find(f->eq, a[0]);

	return vec ? ims_eq_vec_request(vec) : -ENOENT;
}

static int ims_eq_op_release(struct ims_eq_file *f, u32 *a, int n)
{
	struct ims_eq_vec *vec = ims_eq_vec_find(f->eq, a[0]);

	if (!vec)
		return -ENOENT;
	if (!vec->requested)
		return -EINVAL;
	ims_eq_vec_release(vec);
	return 0;
}

static int ims_eq_op_mask(struct ims_eq_file *f, u32 *a, int n)
{
	struct ims_eq_vec *vec = ims_eq_vec_find(f->eq, a[0]);

	if (!vec)
		return -ENOENT;
	if (!vec->requested || vec->disabled)
		return -EINVAL;
	disable_irq(vec->virq);
	vec->disabled++;
	return 0;
}

static int ims_eq_op_unmask(struct ims_eq_file *f, u32 *a, int n)
{
	struct ims_eq_vec *vec = ims_eq_vec_find(f->eq, a[0]);

	if (!vec)
		return -ENOENT;
	if (!vec->disabled)
		return -EINVAL;
	vec->disabled--;
	enable_irq(vec->virq);
	return 0;
}

static int ims_eq_op_post(struct ims_eq_file *f, u32 *a, int n)
{
	if (a[0] >= f->eq->nr_eqs)
		return -EINVAL;
	return ims_eq_post(f->eq, a[0], a[1]);
}

static int ims_eq_op_query(struct ims_eq_file *f, u32 *a, int n)
{
	struct ims_eq_cmd out;
	int ret;

	ret = ims_eq_query(f->eq, a[0], &out);
	if (ret)
		return ret;
	f->len = scnprintf(f->out, sizeof(f->out), "%#llx %#x %u %u %u %u\n",
			   le64_to_cpu(out.ctx.msg_addr), le32_to_cpu(out.ctx.msg_data),
			   !!(le32_to_cpu(out.ctx.ctrl) & IMS_EQ_CTX_MASKED),
			   le32_to_cpu(out.ctx.vmid), le32_to_cpu(out.pending) & 1,
			   le32_to_cpu(out.count));
	return 0;
}

static int ims_eq_op_bench(struct ims_eq_file *f, u32 *a, int n)
{
	struct ims_eq_vec *vec = ims_eq_vec_find(f->eq, a[0]);
	u64 median;
	int ret;

	if (!vec)
		return -ENOENT;
	ret = ims_eq_bench_unmask(f->eq, vec, a[1], &median);
	if (ret)
		return ret;
	f->len = scnprintf(f->out, sizeof(f->out), "%llu\n", median);
	return 0;
}

static ssize_t ims_eq_ctl_write(struct file *file, const char __user *ubuf, size_t count,
				loff_t *ppos)
{
	struct ims_eq_file *f = file->private_data;
	char buf[64], *p = buf, *tok;
	u32 arg[3] = {};
	int i = 0, ret;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	while ((tok = strsep(&p, " \t\n")) != NULL) {
		if (!*tok)
			continue;
		if (i == f->nargs)
			return -EINVAL;
		ret = kstrtou32(tok, 0, &arg[i++]);
		if (ret)
			return ret;
	}
	if (i != f->nargs)
		return -EINVAL;

	mutex_lock(&f->eq->lock);
	f->len = 0;
	ret = f->op(f, arg, i);
	mutex_unlock(&f->eq->lock);
	/* The next read() returns this write's answer from its start. */
	*ppos = 0;
	return ret ?: count;
}

static ssize_t ims_eq_ctl_read(struct file *file, char __user *ubuf, size_t count, loff_t *ppos)
{
	struct ims_eq_file *f = file->private_data;

	return simple_read_from_buffer(ubuf, count, ppos, f->out, f->len);
}

struct ims_eq_ctl {
	const char	*name;
	umode_t		mode;
	int		nargs;
	int		(*op)(struct ims_eq_file *f, u32 *arg, int nargs);
};

static const struct ims_eq_ctl ims_eq_ctls[] = {
	{ "vport_add",	0200, 3, ims_eq_op_vport_add },	/* ID VMID QUOTA */
	{ "vport_del",	0200, 1, ims_eq_op_vport_del },	/* ID */
	{ "alloc",	0600, 1, ims_eq_op_alloc },	/* VPORT -> INDEX VIRQ */
	{ "free",	0200, 1, ims_eq_op_free },	/* INDEX */
	{ "request",	0200, 1, ims_eq_op_request },	/* INDEX */
	{ "release",	0200, 1, ims_eq_op_release },	/* INDEX */
	{ "mask",	0200, 1, ims_eq_op_mask },	/* INDEX */
	{ "unmask",	0200, 1, ims_eq_op_unmask },	/* INDEX */
	{ "post",	0200, 2, ims_eq_op_post },	/* EQN VMID */
	/* EQN -> ADDR DATA MASKED VMID PENDING COUNT */
	{ "query",	0600, 1, ims_eq_op_query },
	{ "bench",	0600, 2, ims_eq_op_bench },	/* INDEX N -> MEDIAN_NS */
};

static int ims_eq_ctl_open(struct inode *inode, struct file *file)
{
	const struct ims_eq_ctl *ctl = debugfs_get_aux(file);
	struct ims_eq_file *f;

	f = kzalloc_obj(*f);
	if (!f)
		return -ENOMEM;
	f->eq = inode->i_private;
	f->op = ctl->op;
	f->nargs = ctl->nargs;
	file->private_data = f;
	return nonseekable_open(inode, file);
}

static int ims_eq_ctl_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return 0;
}

static const struct file_operations ims_eq_ctl_fops = {
	.owner		= THIS_MODULE,
	.open		= ims_eq_ctl_open,
	.release	= ims_eq_ctl_release,
	.read		= ims_eq_ctl_read,
	.write		= ims_eq_ctl_write,
};

/* One line per vector: INDEX VPORT VIRQ VMID REQUESTED DISABLED COUNT ADDR DATA */
static int ims_eq_vectors_show(struct seq_file *s, void *unused)
{
	struct ims_eq_dev *eq = s->private;
	struct ims_eq_vec *vec;
	unsigned long index;

	mutex_lock(&eq->lock);
	mutex_lock(&eq->cmd_lock);
	xa_for_each(&eq->vecs, index, vec) {
		const struct ims_eq_state *have = &eq->have[index];

		seq_printf(s, "%u %u %u %u %d %u %d %#llx %#x\n", vec->index, vec->vp->id,
			   vec->virq, have->vmid, vec->requested, vec->disabled,
			   atomic_read(&vec->count), have->addr, have->data);
	}
	mutex_unlock(&eq->cmd_lock);
	mutex_unlock(&eq->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ims_eq_vectors);

static int ims_eq_stats_show(struct seq_file *s, void *unused)
{
	struct ims_eq_dev *eq = s->private;

	seq_printf(s, "free_slots %u\n", ims_domain_free_slots(eq->ims));
	seq_printf(s, "cmd_failures %d\n", atomic_read(&eq->cmd_failures));
	seq_printf(s, "mismatches %u\n", readl(eq->regs + IMS_EQ_MISMATCH_COUNT));
	seq_printf(s, "mismatch_eqn %u\n", readl(eq->regs + IMS_EQ_MISMATCH_EQN));
	seq_printf(s, "mismatch_vmid %u\n", readl(eq->regs + IMS_EQ_MISMATCH_VMID));
	seq_printf(s, "msgs_sent %u\n", readl(eq->regs + IMS_EQ_MSGS_SENT));
	seq_printf(s, "cmds_done %u\n", readl(eq->regs + IMS_EQ_CMDS_DONE));
	seq_printf(s, "cmd_errors %u\n", readl(eq->regs + IMS_EQ_CMD_ERRORS));
	seq_printf(s, "work_dropped %u\n", readl(eq->regs + IMS_EQ_WORK_DROPPED));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ims_eq_stats);

/* Fault injection: the device's registers */
static int ims_eq_fail_set(void *data, u64 val)
{
	struct ims_eq_dev *eq = data;

	if (val > U16_MAX)
		return -EINVAL;
	writel(val, eq->regs + IMS_EQ_FAULT_FAIL);
	return 0;
}

static int ims_eq_fail_get(void *data, u64 *val)
{
	struct ims_eq_dev *eq = data;

	*val = readl(eq->regs + IMS_EQ_FAULT_FAIL);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(ims_eq_fail_fops, ims_eq_fail_get, ims_eq_fail_set, "%llu\n");

static int ims_eq_delay_set(void *data, u64 val)
{
	struct ims_eq_dev *eq = data;

	if (val > USEC_PER_SEC)
		return -EINVAL;
	writel(val, eq->regs + IMS_EQ_CMD_DELAY_US);
	return 0;
}

static int ims_eq_delay_get(void *data, u64 *val)
{
	struct ims_eq_dev *eq = data;

	*val = readl(eq->regs + IMS_EQ_CMD_DELAY_US);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(ims_eq_delay_fops, ims_eq_delay_get, ims_eq_delay_set, "%llu\n");

static void ims_eq_debugfs_init(struct ims_eq_dev *eq)
{
	unsigned int i;

	eq->dir = debugfs_create_dir(pci_name(eq->pdev), ims_eq_debugfs);
	for (i = 0; i < ARRAY_SIZE(ims_eq_ctls); i++)
		debugfs_create_file_aux(ims_eq_ctls[i].name, ims_eq_ctls[i].mode, eq->dir, eq,
					&ims_eq_ctls[i], &ims_eq_ctl_fops);
	debugfs_create_file("vectors", 0400, eq->dir, eq, &ims_eq_vectors_fops);
	debugfs_create_file("stats", 0400, eq->dir, eq, &ims_eq_stats_fops);
	debugfs_create_file_unsafe("fail_commands", 0600, eq->dir, eq, &ims_eq_fail_fops);
	debugfs_create_file_unsafe("cmd_delay_us", 0600, eq->dir, eq, &ims_eq_delay_fops);
}

/* --- probe and remove --------------------------------------------------------- */

static int ims_eq_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct ims_eq_dev *eq;
	u32 val;
	int ret;

	eq = devm_kzalloc(dev, sizeof(*eq), GFP_KERNEL);
	if (!eq)
		return -ENOMEM;
	eq->pdev = pdev;
	mutex_init(&eq->lock);
	INIT_LIST_HEAD(&eq->vports);
	xa_init(&eq->vecs);
	mutex_init(&eq->cmd_lock);
	init_completion(&eq->cmd_done);
	mutex_init(&eq->bus);
	raw_spin_lock_init(&eq->shadow_lock);
	mutex_init(&eq->work_lock);

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	eq->regs = pcim_iomap_region(pdev, 0, IMS_EQ_NAME);
	if (IS_ERR(eq->regs))
		return PTR_ERR(eq->regs);
	val = readl(eq->regs + IMS_EQ_ID);
	if (val != IMS_EQ_ID_VALUE)
		return dev_err_probe(dev, -ENODEV, "unknown device id %#x\n", val);
	eq->nr_eqs = FIELD_GET(IMS_EQ_CAP_EQS, readl(eq->regs + IMS_EQ_CAP));
	if (!eq->nr_eqs || eq->nr_eqs > IMS_EQ_MAX_EQS)
		return dev_err_probe(dev, -ENODEV, "bad EQ count %u\n", eq->nr_eqs);

	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	eq->ctx = dmam_alloc_coherent(dev, eq->nr_eqs * sizeof(*eq->ctx), &eq->ctx_dma,
				      GFP_KERNEL);
	eq->cmd = dmam_alloc_coherent(dev, sizeof(*eq->cmd), &eq->cmd_dma, GFP_KERNEL);
	eq->work = dmam_alloc_coherent(dev, sizeof(*eq->work), &eq->work_dma, GFP_KERNEL);
	eq->buf = dmam_alloc_coherent(dev, 2 * IMS_EQ_BUF_LEN, &eq->buf_dma, GFP_KERNEL);
	eq->want = devm_kcalloc(dev, eq->nr_eqs, sizeof(*eq->want), GFP_KERNEL);
	eq->have = devm_kcalloc(dev, eq->nr_eqs, sizeof(*eq->have), GFP_KERNEL);
	eq->dirty = devm_bitmap_zalloc(dev, eq->nr_eqs, GFP_KERNEL);
	if (!eq->ctx || !eq->cmd || !eq->work || !eq->buf || !eq->want || !eq->have || !eq->dirty)
		return -ENOMEM;

	/* MSI-X vector 0: command completion. Freed after the IMS domain. */
	ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSIX);
	if (ret < 0)
		return dev_err_probe(dev, ret, "no MSI-X vector\n");
	ret = devm_request_irq(dev, pci_irq_vector(pdev, 0), ims_eq_cmd_irq, 0,
			       IMS_EQ_NAME "-cmd", eq);
	if (ret)
		return ret;
	pci_set_master(pdev);
	writeq(eq->cmd_dma, eq->regs + IMS_EQ_CMD_ADDR);
	writeq(eq->ctx_dma, eq->regs + IMS_EQ_CTX_BASE);
	/* The device keeps its table while any EQ exists (one left by a crash). */
	if (readq(eq->regs + IMS_EQ_CTX_BASE) != eq->ctx_dma)
		return dev_err_probe(dev, -EBUSY, "device has EQs already: reset it\n");

	eq->ims = devm_ims_domain_create(dev, IMS_EQ_NAME, &ims_eq_chip_ops, eq, eq->nr_eqs);
	if (IS_ERR(eq->ims))
		return dev_err_probe(dev, PTR_ERR(eq->ims), "no IMS domain\n");

	pci_set_drvdata(pdev, eq);
	ims_eq_debugfs_init(eq);
	dev_info(dev, "%u EQs on IMS, command completion on MSI-X\n", eq->nr_eqs);
	return 0;
}

static void ims_eq_remove(struct pci_dev *pdev)
{
	struct ims_eq_dev *eq = pci_get_drvdata(pdev);
	struct ims_eq_vport *vp, *tmp;

	/* Waits for the debugfs operations in flight. */
	debugfs_remove_recursive(eq->dir);
	/* Free every interrupt before the IMS domain goes, with the devres. */
	mutex_lock(&eq->lock);
	list_for_each_entry_safe(vp, tmp, &eq->vports, node)
		ims_eq_vport_del(eq, vp);
	mutex_unlock(&eq->lock);
	xa_destroy(&eq->vecs);
}

static const struct pci_device_id ims_eq_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_IMS_EQ, PCI_DEVICE_ID_IMS_EQ) },
	{ }
};
MODULE_DEVICE_TABLE(pci, ims_eq_ids);

static struct pci_driver ims_eq_driver = {
	.name		= IMS_EQ_NAME,
	.id_table	= ims_eq_ids,
	.probe		= ims_eq_probe,
	.remove		= ims_eq_remove,
};

static int __init ims_eq_init(void)
{
	int ret;

	ims_eq_debugfs = debugfs_create_dir(IMS_EQ_NAME, NULL);
	ret = pci_register_driver(&ims_eq_driver);
	if (ret)
		debugfs_remove(ims_eq_debugfs);
	return ret;
}
module_init(ims_eq_init);

static void __exit ims_eq_exit(void)
{
	pci_unregister_driver(&ims_eq_driver);
	debugfs_remove(ims_eq_debugfs);
}
module_exit(ims_eq_exit);

MODULE_DESCRIPTION("IMS event-queue device: a C user of the IMS core with a sleeping chip");
MODULE_LICENSE("GPL");
