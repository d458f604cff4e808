// SPDX-License-Identifier: GPL-2.0
/*
 * IMS against MSI-X on one device: a benchmark, not a test.
 *
 * On load, on the emulated DSA (8086:0b25, free of any driver), the module
 * enables dedicated WQ 0 and gives the device two completion vectors: IMS
 * slot s, allocated through the IMS core, and MSI-X vector 1. It then runs
 * 2 * n 4 KiB MEMMOVE descriptors (parameter n, default 1000), alternating
 * between the two vectors, and times each from the portal write to the
 * start of the vector's interrupt handler. The work, the queue, the device
 * and the remapping unit are the same for both; only the message source
 * (the device's IMS slot or its MSI-X table) differs. Both interrupts and
 * the measuring thread are bound to CPU 0, so that where an interrupt lands
 * does not differ between the two either. It prints:
 *
 *   ims_dsa_bench: n=N ims_median_ns=.. msix_median_ns=.. ims_mean_ns=..
 *                  msix_mean_ns=.. ratio_median=R.RRR ratio_mean=R.RRR
 *
 * ratio = IMS / MSI-X. The medians also give the cost of one 4 KiB copy by
 * the device with its completion interrupt, which the dsa-bench suite
 * compares with dmaengine's (dmatest's) to get the share of the driver and
 * dmaengine overhead.
 *
 * Then it measures a vector's whole life (allocate, request the interrupt,
 * free it, free the vector) on IMS against dynamic MSI-X
 * (pci_msix_alloc_irq_at()), alternating, n times each:
 *
 *   ims_dsa_bench: lifecycle n=N ims_median_ns=.. msix_median_ns=.. ...
 *                  ratio_median=R.RRR ratio_mean=R.RRR
 *
 * Then, bench_n times, the time from enable_irq() on the IMS vector, masked
 * with a completion pending, to its handler:
 *
 *   ims_dsa_bench: unmask n=N ims_median_ns=.. ims_mean_ns=..
 *
 * The module stays loaded with the results in the log; unload it with
 * rmmod. It fails to load if the device is missing or busy, or if the
 * device misbehaves (-EIO, -ETIMEDOUT).
 */

#include <linux/bitfield.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/ims.h>
#include <linux/interrupt.h>
#include <linux/iopoll.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/msi.h>
#include <linux/pci.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <uapi/linux/idxd.h>

#include "ims_dsa_chip.h"

/* Registers and the slot-table chip: ims_dsa_chip.h */
#define BENCH_NAME			"ims_dsa_bench"
#define BENCH_LEN			SZ_4K
#define BENCH_SRC			SZ_4K
#define BENCH_DST			SZ_8K
#define BENCH_DMA_SIZE			(3 * SZ_4K)
#define BENCH_TIMEOUT_US		(2 * USEC_PER_SEC)
#define BENCH_MAX_N			100000

static unsigned int bench_n = 1000;
module_param_named(n, bench_n, uint, 0444);
MODULE_PARM_DESC(n, "Descriptors per vector type (default 1000)");

struct bench_vec {
	unsigned int		virq;
	u16			handle;
	bool			requested;
	u64			t1;
	struct completion	done;
	u64			*ns;
};

struct bench {
	struct pci_dev		*pdev;
	void __iomem		*bar0;
	void __iomem		*bar2;
	void			*cpu;
	dma_addr_t		dma;
	u32			cmdcap;
	u32			ims_table;
	struct ims_domain	*ims;
	struct ims_user		*user;
	void			*group;
	int			ims_index;
	struct bench_vec	vec[2];		/* [0] IMS, [1] MSI-X */
};

static irqreturn_t bench_irq(int irq, void *data)
{
	struct bench_vec *v = data;

	v->t1 = ktime_get_ns();
	complete(&v->done);
	return IRQ_HANDLED;
}

/* Runs a command; returns its 16-bit result or a negative errno. */
static int bench_cmd(struct bench *b, u32 cmd, u32 operand)
{
	u32 sts;
	int ret;

	iowrite32(FIELD_PREP(DSA_CMD_CODE, cmd) | FIELD_PREP(DSA_CMD_OPERAND, operand),
		  b->bar0 + DSA_CMD);
	ret = readl_poll_timeout(b->bar0 + DSA_CMDSTS, sts, !(sts & DSA_CMDSTS_ACTIVE),
				 20, BENCH_TIMEOUT_US);
	if (ret)
		return ret;
	if (FIELD_GET(DSA_CMDSTS_ERR, sts)) {
		pr_err(BENCH_NAME ": command %u (%#x) failed: %#x\n", cmd, operand, sts);
		return -EIO;
	}
	return FIELD_GET(DSA_CMDSTS_RESULT, sts);
}

/* The handle naming MSI-X vector or IMS slot @index in a descriptor. */
static int bench_handle(struct bench *b, unsigned int index, bool ims)
{
	if (!(b->cmdcap & BIT(DSA_CMD_REQUEST_INT_HANDLE)))
		return ims ? DSA_INT_HANDLE_IMS | index : index;
	return bench_cmd(b, DSA_CMD_REQUEST_INT_HANDLE, index | (ims ? DSA_CMD_INT_HANDLE_IMS : 0));
}

/* Enables dedicated WQ 0 of 16 entries with engine 0 in group 0, and the device. */
static int bench_enable(struct bench *b)
{
	u64 gencap = readq(b->bar0 + DSA_GENCAP);
	u64 wqcap = readq(b->bar0 + DSA_WQCAP);
	u64 tbl = readq(b->bar0 + DSA_TABLE_OFFSET);
	void __iomem *grp = b->bar0 + FIELD_GET(DSA_TABLE_GRPCFG, tbl) * DSA_TABLE_MULT;
	void __iomem *wq = b->bar0 + FIELD_GET(DSA_TABLE_WQCFG, tbl) * DSA_TABLE_MULT;
	int ret;

	if (!wqcap)
		return -ENODEV;
	b->cmdcap = gencap & DSA_GENCAP_CMD_CAP ? ioread32(b->bar0 + DSA_CMDCAP) : 0;
	b->ims_table = FIELD_GET(DSA_TABLE_IMS, tbl) * DSA_TABLE_MULT;
	if (!b->ims_table || !FIELD_GET(DSA_GENCAP_MAX_IMS_MULT, gencap))
		return -ENODEV;

	writeq(BIT_ULL(0), grp + DSA_GRPCFG_WQS);
	writeq(BIT_ULL(0), grp + DSA_GRPCFG_ENGINES);
	iowrite32(16, wq + 4 * DSA_WQCFG_SIZE);
	iowrite32(DSA_WQCFG_DEDICATED | FIELD_PREP(DSA_WQCFG_PRIORITY, 1), wq + 4 * DSA_WQCFG_MODE);
	iowrite32(FIELD_PREP(DSA_WQCFG_MAX_XFER_SHIFT, FIELD_GET(DSA_GENCAP_MAX_XFER_SHIFT, gencap)),
		  wq + 4 * DSA_WQCFG_LIMITS);
	ret = bench_cmd(b, DSA_CMD_ENABLE_DEVICE, 0);
	if (ret < 0)
		return ret;
	ret = bench_cmd(b, DSA_CMD_ENABLE_WQ, 0);
	return ret < 0 ? ret : 0;
}

/*
 * Submits a 4 KiB copy with a completion interrupt on @v, with its completion
 * record cleared, and returns the time just before the portal write.
 */
static u64 bench_submit(struct bench *b, struct bench_vec *v)
{
	struct dsa_completion_record *cr = b->cpu;
	struct dsa_hw_desc desc = {
		.opcode		= DSA_OPCODE_MEMMOVE,
		.flags		= IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR | IDXD_OP_FLAG_RCI,
		.completion_addr = b->dma,
		.src_addr	= b->dma + BENCH_SRC,
		.dst_addr	= b->dma + BENCH_DST,
		.xfer_size	= BENCH_LEN,
		.int_handle	= v->handle,
	};
	u64 q[8], t0;
	int i;

	memcpy(q, &desc, sizeof(q));
	memset(cr, 0, sizeof(*cr));
	reinit_completion(&v->done);
	t0 = ktime_get_ns();
	/* Eight ordered 8-byte stores: the emulated device's portal mode (no MOVDIR64B in TCG). */
	for (i = 0; i < ARRAY_SIZE(q); i++)
		writeq(q[i], b->bar2 + 8 * i);
	return t0;
}

/* Copies 4 KiB with a completion interrupt on @v; returns the latency in ns. */
static s64 bench_one(struct bench *b, struct bench_vec *v)
{
	struct dsa_completion_record *cr = b->cpu;
	u64 t0 = bench_submit(b, v);

	if (!wait_for_completion_timeout(&v->done, usecs_to_jiffies(BENCH_TIMEOUT_US)))
		return -ETIMEDOUT;
	if (READ_ONCE(cr->status) != DSA_COMP_SUCCESS)
		return -EIO;
	return v->t1 - t0;
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static u64 mean(const u64 *ns, unsigned int n)
{
	u64 sum = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		sum += ns[i];
	return div_u64(sum, n);
}

/* x / y with three decimals, as "R.RRR". */
static void print_ratio(char *buf, size_t len, u64 x, u64 y)
{
	u64 r = div64_u64(x * 1000, y ?: 1);

	snprintf(buf, len, "%llu.%03llu", div_u64(r, 1000), r % 1000);
}

/*
 * Prints the median and mean of the bench_n figures of each vector, IMS
 * first, and their ratios, after @what ("" or "lifecycle ").
 */
static void bench_report(struct bench *b, const char *what)
{
	char rmed[24], rmean[24];
	u64 med[2], avg[2];
	unsigned int t;

	for (t = 0; t < 2; t++) {
		avg[t] = mean(b->vec[t].ns, bench_n);
		sort(b->vec[t].ns, bench_n, sizeof(u64), cmp_u64, NULL);
		med[t] = b->vec[t].ns[bench_n / 2];
	}
	print_ratio(rmed, sizeof(rmed), med[0], med[1]);
	print_ratio(rmean, sizeof(rmean), avg[0], avg[1]);
	pr_info(BENCH_NAME ": %sn=%u ims_median_ns=%llu msix_median_ns=%llu ims_mean_ns=%llu msix_mean_ns=%llu ratio_median=%s ratio_mean=%s\n",
		what, bench_n, med[0], med[1], avg[0], avg[1], rmed, rmean);
}

static int bench_run(struct bench *b)
{
	unsigned int i, t;
	s64 ns;
	int ret;

	for (t = 0; t < ARRAY_SIZE(b->vec); t++) {
		ret = irq_set_affinity(b->vec[t].virq, cpumask_of(0));
		if (ret)
			return ret;
	}
	ret = set_cpus_allowed_ptr(current, cpumask_of(0));
	if (ret)
		return ret;

	for (i = 0; i < 2 * bench_n; i++) {
		t = i & 1;
		ns = bench_one(b, &b->vec[t]);
		if (ns < 0) {
			pr_err(BENCH_NAME ": descriptor %u on %s: %lld\n", i, t ? "MSI-X" : "IMS", ns);
			set_cpus_allowed_ptr(current, cpu_possible_mask);
			return ns;
		}
		b->vec[t].ns[i / 2] = ns;
	}
	set_cpus_allowed_ptr(current, cpu_possible_mask);
	bench_report(b, "");
	return 0;
}

/*
 * Unmask to first interrupt on the IMS vector: mask it (an MMIO write of
 * the slot), let a descriptor complete so that the device keeps its
 * interrupt pending, then time from enable_irq() (the unmasking MMIO
 * write, on which the device sends the pending message) to the handler.
 * The ims_eq driver measures the same on its sleeping chip, whose unmask
 * is a device command (the ims-eq-bench suite compares the two).
 */
static int bench_unmask(struct bench *b)
{
	struct dsa_completion_record *cr = b->cpu;
	struct bench_vec *v = &b->vec[0];
	unsigned int i;
	u8 status;
	u64 t0;
	int ret;

	/* disable_irq() masks the slot at once, not at the next interrupt. */
	irq_set_status_flags(v->virq, IRQ_DISABLE_UNLAZY);
	for (i = 0; i < bench_n; i++) {
		disable_irq(v->virq);
		bench_submit(b, v);
		ret = read_poll_timeout(READ_ONCE, status, status, 5, BENCH_TIMEOUT_US, false,
					cr->status);
		if (!ret && (status != DSA_COMP_SUCCESS || completion_done(&v->done)))
			ret = -EIO;
		t0 = ktime_get_ns();
		enable_irq(v->virq);
		if (ret)
			goto out;
		if (!wait_for_completion_timeout(&v->done, usecs_to_jiffies(BENCH_TIMEOUT_US))) {
			ret = -ETIMEDOUT;
			goto out;
		}
		v->ns[i] = v->t1 - t0;
	}
	sort(v->ns, bench_n, sizeof(u64), cmp_u64, NULL);
	pr_info(BENCH_NAME ": unmask n=%u ims_median_ns=%llu ims_mean_ns=%llu\n", bench_n,
		v->ns[bench_n / 2], mean(v->ns, bench_n));
out:
	irq_clear_status_flags(v->virq, IRQ_DISABLE_UNLAZY);
	if (ret)
		pr_err(BENCH_NAME ": unmask %u: %d\n", i, ret);
	return ret;
}

/*
 * One vector's whole life: allocate it, request its interrupt, free the
 * interrupt, free the vector. Returns the time it took, or a negative
 * errno. @vec is only the handler's data: the interrupt never fires.
 */
static s64 bench_life_ims(struct bench *b)
{
	u64 t0 = ktime_get_ns();
	struct msi_map map;
	int ret;

	map = ims_user_alloc_irq(b->user, IMS_ANY_INDEX, NULL);
	if (map.index < 0)
		return map.index;
	ret = request_irq(map.virq, bench_irq, 0, BENCH_NAME, &b->vec[0]);
	if (!ret)
		free_irq(map.virq, &b->vec[0]);
	ims_user_free_irq(b->user, map.index);
	return ret ?: ktime_get_ns() - t0;
}

static s64 bench_life_msix(struct bench *b)
{
	u64 t0 = ktime_get_ns();
	struct msi_map map;
	int ret;

	map = pci_msix_alloc_irq_at(b->pdev, MSI_ANY_INDEX, NULL);
	if (map.index < 0)
		return map.index;
	ret = request_irq(map.virq, bench_irq, 0, BENCH_NAME, &b->vec[1]);
	if (!ret)
		free_irq(map.virq, &b->vec[1]);
	pci_msix_free_irq(b->pdev, map);
	return ret ?: ktime_get_ns() - t0;
}

/*
 * The per-vector cost of a vector's life on IMS (through the IMS core and
 * the device's IMS slots) against dynamic MSI-X (pci_msix_alloc_irq_at(),
 * the device's MSI-X table), alternating, bench_n times each, on the same
 * device, with the other vectors of the run allocated and requested.
 */
static int bench_lifecycle(struct bench *b)
{
	unsigned int i, t;
	s64 ns;
	int ret;

	if (!pci_msix_can_alloc_dyn(b->pdev)) {
		pr_info(BENCH_NAME ": lifecycle: no dynamic MSI-X allocation on %s\n",
			pci_name(b->pdev));
		return 0;
	}
	ret = ims_user_set_quota(b->user, 2);
	if (ret)
		return ret;
	for (i = 0; i < 2 * bench_n; i++) {
		t = i & 1;
		ns = t ? bench_life_msix(b) : bench_life_ims(b);
		if (ns < 0) {
			pr_err(BENCH_NAME ": lifecycle %u on %s: %lld\n", i,
			       t ? "MSI-X" : "IMS", ns);
			return ns;
		}
		b->vec[t].ns[i / 2] = ns;
	}
	bench_report(b, "lifecycle ");
	return 0;
}

static void bench_teardown(struct bench *b)
{
	struct device *dev = &b->pdev->dev;
	int i;

	if (b->bar0)
		bench_cmd(b, DSA_CMD_RESET_DEVICE, 0);
	for (i = 0; i < ARRAY_SIZE(b->vec); i++) {
		if (b->vec[i].requested)
			free_irq(b->vec[i].virq, &b->vec[i]);
		kfree(b->vec[i].ns);
	}
	if (b->ims_index >= 0)
		ims_user_free_irq(b->user, b->ims_index);
	/* The domain goes with the devres group, as at unbind. */
	ims_user_remove(b->user);
	pci_free_irq_vectors(b->pdev);
	if (b->group)
		devres_release_group(dev, b->group);
	if (b->cpu)
		dma_free_coherent(dev, BENCH_DMA_SIZE, b->cpu, b->dma);
	if (b->bar2)
		pci_iounmap(b->pdev, b->bar2);
	if (b->bar0)
		pci_iounmap(b->pdev, b->bar0);
	pci_release_regions(b->pdev);
	pci_clear_master(b->pdev);
	pci_disable_device(b->pdev);
}

static int bench_setup(struct bench *b)
{
	struct pci_dev *pdev = b->pdev;
	struct device *dev = &pdev->dev;
	struct msi_map map;
	int i, ret;

	b->bar0 = pci_iomap(pdev, 0, 0);
	b->bar2 = pci_iomap(pdev, 2, 0);
	b->cpu = dma_alloc_coherent(dev, BENCH_DMA_SIZE, &b->dma, GFP_KERNEL);
	if (!b->bar0 || !b->bar2 || !b->cpu)
		return -ENOMEM;
	ret = bench_cmd(b, DSA_CMD_RESET_DEVICE, 0);
	if (ret < 0)
		return ret;
	ret = bench_enable(b);
	if (ret)
		return ret;

	/*
	 * MSI setup leaves devres (the device's MSI data) on the device, which
	 * is bound to no driver: keep it in a group to release at teardown, or
	 * no driver could probe the device afterwards.
	 */
	b->group = devres_open_group(dev, NULL, GFP_KERNEL);
	if (!b->group)
		return -ENOMEM;
	ret = pci_alloc_irq_vectors(pdev, 2, 2, PCI_IRQ_MSIX);
	if (ret >= 0)
		b->ims = devm_ims_domain_create(dev, BENCH_NAME, &ims_dsa_ops,
						b->bar0 + b->ims_table,
						FIELD_GET(DSA_GENCAP_MAX_IMS_MULT,
							  readq(b->bar0 + DSA_GENCAP)) *
						IDXD_IMS_SLOTS_PER_MULT);
	devres_close_group(dev, b->group);
	if (ret < 0)
		return ret;
	if (IS_ERR(b->ims))
		return PTR_ERR(b->ims);
	b->user = ims_user_add(b->ims, dev, 1);
	if (IS_ERR(b->user))
		return PTR_ERR(b->user);
	map = ims_user_alloc_irq(b->user, IMS_ANY_INDEX, NULL);
	if (map.index < 0)
		return map.index;
	b->ims_index = map.index;

	b->vec[0].virq = map.virq;
	b->vec[1].virq = pci_irq_vector(pdev, 1);
	for (i = 0; i < ARRAY_SIZE(b->vec); i++) {
		struct bench_vec *v = &b->vec[i];

		init_completion(&v->done);
		v->ns = kcalloc(bench_n, sizeof(u64), GFP_KERNEL);
		if (!v->ns)
			return -ENOMEM;
		ret = bench_handle(b, i ? 1 : b->ims_index, !i);
		if (ret < 0)
			return ret;
		v->handle = ret;
		ret = request_irq(v->virq, bench_irq, 0, BENCH_NAME, v);
		if (ret)
			return ret;
		v->requested = true;
	}
	return 0;
}

static int __init bench_init(void)
{
	struct pci_dev *pdev;
	struct bench *b;
	int ret;

	if (!bench_n || bench_n > BENCH_MAX_N)
		return -EINVAL;
	pdev = pci_get_device(PCI_VENDOR_ID_INTEL, PCI_DEVICE_ID_INTEL_DSA_SPR0, NULL);
	if (!pdev)
		return -ENODEV;
	b = kzalloc_obj(*b);
	if (!b) {
		pci_dev_put(pdev);
		return -ENOMEM;
	}
	b->pdev = pdev;
	b->ims_index = -1;

	ret = pci_enable_device(pdev);
	if (ret)
		goto out_free;
	ret = pci_request_regions(pdev, BENCH_NAME);
	if (ret) {
		pci_disable_device(pdev);
		goto out_free;
	}
	pci_set_master(pdev);

	ret = bench_setup(b);
	if (!ret)
		ret = bench_run(b);
	if (!ret)
		ret = bench_unmask(b);
	if (!ret)
		ret = bench_lifecycle(b);
	bench_teardown(b);
out_free:
	kfree(b);
	pci_dev_put(pdev);
	return ret;
}
module_init(bench_init);

static void __exit bench_exit(void)
{
}
module_exit(bench_exit);

MODULE_DESCRIPTION("Benchmark of IMS against MSI-X completion interrupts on DSA");
MODULE_LICENSE("GPL");
