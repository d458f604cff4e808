// SPDX-License-Identifier: GPL-2.0
/*
 * What one-at-a-time IMS allocation buys: a benchmark, not a test.
 *
 * On load, for each N of the parameter n (default "64,512,2048"), over a
 * memory-backed IMS chip on the emulated DSA (8086:0b25, a PCI function
 * behind interrupt remapping):
 *
 *  (a) grow: allocate N vectors one at a time with IMS_ANY_INDEX, as the
 *      IMS core allows, timing each allocation;
 *  (b) realloc: for k = 1..N, allocate k vectors from scratch and free
 *      them all, as a driver must when its interrupt allocation can only
 *      be resized by freeing it and allocating it again (PCI/MSI-X without
 *      dynamic allocation). The frees are part of that cost and are timed.
 *
 * and prints one line per N:
 *
 *   ims_bench: n=N first_ns=.. nth_ns=.. grow_total_ns=.. realloc_total_ns=.. ratio=R.RR
 *
 * first_ns and nth_ns are the costs of the first and the N-th allocation
 * of (a), grow_total_ns the sum of all N, ratio = realloc_total_ns /
 * grow_total_ns. The mean of (a) is grow_total_ns / N.
 *
 * (b) makes N * (N + 1) / 2 allocations, far too many for large N under
 * TCG with KASAN (an allocation and a free cost ~15 ms there). For N above
 * parameter realloc_max (default 64; 0: no limit), (b) runs only
 * realloc_samples steps (default 8), at the midpoints k = (2j - 1) N / 2S,
 * and realloc_total_ns is their total times N / S (the midpoint rule,
 * exact for a cost linear in k); a second line says so:
 *
 *   ims_bench: n=N realloc_estimated steps=S
 *
 * With msix_first=1, the device gets one MSI-X vector first, as a driver
 * with a misc vector would have. No IMS interrupt is requested,
 * so no CPU vector is used; past the vector space of the CPUs, the x86
 * vector matrix logs "Interrupt reservation exceeds available resources"
 * once, which is expected.
 *
 * The module stays loaded with the results in the log; unload it with
 * rmmod. It fails to load if the device is missing or busy (-ENODEV,
 * -EBUSY), if a parameter is bad (-EINVAL) or if an allocation fails.
 */

#include <linux/device.h>
#include <linux/ims.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/msi.h>
#include <linux/pci.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>

#define IMS_BENCH_MAX_N		65536

static char bench_n[128] = "64,512,2048";
module_param_string(n, bench_n, sizeof(bench_n), 0444);
MODULE_PARM_DESC(n, "Comma-separated vector counts to measure (default 64,512,2048)");

static unsigned int realloc_max = 64;
module_param(realloc_max, uint, 0444);
MODULE_PARM_DESC(realloc_max, "Sample the free-and-reallocate pass for n above this (0: never)");

static unsigned int realloc_samples = 8;
module_param(realloc_samples, uint, 0444);
MODULE_PARM_DESC(realloc_samples, "Steps of the free-and-reallocate pass measured when sampled");

static bool msix_first;
module_param(msix_first, bool, 0444);
MODULE_PARM_DESC(msix_first, "Enable one MSI-X vector before creating the IMS domain");

struct ims_bench {
	struct pci_dev		*pdev;
	struct ims_domain	*ims;
	struct ims_user		*user;
	unsigned int		nr_slots;
	unsigned int		*index;
	u64			*ns;
	struct msi_msg		*slots;
};

/* The chip: messages go to memory, mask and cookie are not modelled. */
static void ims_bench_write_msg(void *priv, unsigned int index, const struct msi_msg *msg)
{
	struct ims_bench *b = priv;

	if (!WARN_ON_ONCE(index >= b->nr_slots))
		b->slots[index] = *msg;
}

static void ims_bench_mask(void *priv, unsigned int index, u64 cookie)
{
}

static void ims_bench_unmask(void *priv, unsigned int index, u64 cookie)
{
}

static void ims_bench_shutdown(void *priv, unsigned int index)
{
	struct ims_bench *b = priv;

	if (!WARN_ON_ONCE(index >= b->nr_slots))
		memset(&b->slots[index], 0, sizeof(b->slots[index]));
}

static const struct ims_chip_ops ims_bench_ops = {
	.write_msg	= ims_bench_write_msg,
	.mask		= ims_bench_mask,
	.unmask		= ims_bench_unmask,
	.shutdown	= ims_bench_shutdown,
};

/* Allocates one vector at any index into b->index[i], timing it into *ns. */
static int ims_bench_alloc(struct ims_bench *b, unsigned int i, u64 *ns)
{
	struct msi_map map;
	u64 start;

	start = ktime_get_ns();
	map = ims_user_alloc_irq(b->user, IMS_ANY_INDEX, NULL);
	*ns = ktime_get_ns() - start;
	if (map.index < 0) {
		pr_err("ims_bench: allocation %u failed: %d\n", i + 1, map.index);
		return map.index;
	}
	b->index[i] = map.index;
	return 0;
}

static void ims_bench_free(struct ims_bench *b, unsigned int count)
{
	while (count)
		ims_user_free_irq(b->user, b->index[--count]);
}

/* (a): grow from 0 to @n vectors, one at a time; leaves none allocated. */
static int ims_bench_grow(struct ims_bench *b, unsigned int n, u64 *total)
{
	unsigned int i;
	int ret = 0;

	*total = 0;
	for (i = 0; i < n; i++) {
		ret = ims_bench_alloc(b, i, &b->ns[i]);
		if (ret)
			break;
		*total += b->ns[i];
		cond_resched();
	}
	ims_bench_free(b, i);
	return ret;
}

/* One step of (b): allocate @k vectors and free them all; adds its time to *total. */
static int ims_bench_step(struct ims_bench *b, unsigned int k, u64 *total)
{
	unsigned int i;
	u64 start, ns;
	int ret;

	start = ktime_get_ns();
	for (i = 0; i < k; i++) {
		ret = ims_bench_alloc(b, i, &ns);
		if (ret) {
			ims_bench_free(b, i);
			return ret;
		}
	}
	ims_bench_free(b, k);
	*total += ktime_get_ns() - start;
	cond_resched();
	return 0;
}

/*
 * (b): for k = 1..@n, allocate k vectors and free them all. With
 * @samples < @n, only the midpoint steps of @samples equal ranges run,
 * each standing for its range.
 */
static int ims_bench_realloc(struct ims_bench *b, unsigned int n, unsigned int samples,
			     u64 *total)
{
	unsigned int j, k;
	u64 sum = 0;
	int ret;

	*total = 0;
	if (samples >= n) {
		for (k = 1; k <= n; k++) {
			ret = ims_bench_step(b, k, total);
			if (ret)
				return ret;
		}
		return 0;
	}
	for (j = 1; j <= samples; j++) {
		k = max(1U, DIV_ROUND_CLOSEST((2 * j - 1) * n, 2 * samples));
		ret = ims_bench_step(b, k, &sum);
		if (ret)
			return ret;
	}
	*total = div_u64(sum * n, samples);
	return 0;
}

static int ims_bench_run(struct ims_bench *b, unsigned int n)
{
	unsigned int samples = n;
	u64 grow = 0, realloc = 0, ratio = 0;
	u32 hundredths;
	int ret;

	if (realloc_max && n > realloc_max && realloc_samples)
		samples = min(n, realloc_samples);
	ret = ims_bench_grow(b, n, &grow);
	if (ret)
		return ret;
	ret = ims_bench_realloc(b, n, samples, &realloc);
	if (ret)
		return ret;
	/* Two decimals, rounded */
	if (grow)
		ratio = div64_u64(realloc * 100 + grow / 2, grow);
	ratio = div_u64_rem(ratio, 100, &hundredths);
	pr_info("ims_bench: n=%u first_ns=%llu nth_ns=%llu grow_total_ns=%llu realloc_total_ns=%llu ratio=%llu.%02u\n",
		n, b->ns[0], b->ns[n - 1], grow, realloc, ratio, hundredths);
	pr_info("ims_bench: n=%u mean_ns=%llu\n", n, div_u64(grow, n));
	if (samples < n)
		pr_info("ims_bench: n=%u realloc_estimated steps=%u\n", n, samples);
	return 0;
}

/* Parses @str ("64,512,2048") into @n[]; returns the count or -EINVAL. */
static int ims_bench_parse(const char *str, unsigned int *n, unsigned int max_count)
{
	char *buf __free(kfree) = kstrdup(str, GFP_KERNEL);
	unsigned int count = 0;
	char *p, *tok;

	if (!buf)
		return -ENOMEM;
	p = buf;
	while ((tok = strsep(&p, ","))) {
		if (!*tok)
			continue;
		if (count == max_count || kstrtouint(tok, 0, &n[count]) ||
		    !n[count] || n[count] > IMS_BENCH_MAX_N) {
			pr_err("ims_bench: bad n=%s (1..%u, at most %u values)\n", str,
			       IMS_BENCH_MAX_N, max_count);
			return -EINVAL;
		}
		count++;
	}
	return count ?: -EINVAL;
}

/* One MSI-X vector, as a driver with a misc vector has; its MSI data in devres. */
static int ims_bench_msix(struct pci_dev *pdev)
{
	int ret;

	ret = pci_enable_device(pdev);
	if (ret)
		return ret;
	ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSIX);
	if (ret == 1)
		return 0;
	pci_disable_device(pdev);
	pr_err("ims_bench: %s: pci_alloc_irq_vectors(MSI-X): %d\n", pci_name(pdev), ret);
	return ret < 0 ? ret : -ENOSPC;
}

static int ims_bench_measure(struct pci_dev *pdev, const unsigned int *n, unsigned int count)
{
	struct device *dev = &pdev->dev;
	struct ims_bench b = { .pdev = pdev };
	unsigned int i;
	void *group;
	int ret = 0;

	for (i = 0; i < count; i++)
		b.nr_slots = max(b.nr_slots, n[i]);
	b.index = kvcalloc(b.nr_slots, sizeof(*b.index), GFP_KERNEL);
	b.ns = kvcalloc(b.nr_slots, sizeof(*b.ns), GFP_KERNEL);
	b.slots = kvcalloc(b.nr_slots, sizeof(*b.slots), GFP_KERNEL);
	if (!b.index || !b.ns || !b.slots) {
		ret = -ENOMEM;
		goto free;
	}

	/*
	 * No driver owns the device: whatever the core adds to it with
	 * devres (its MSI device data) goes into a group released below.
	 */
	group = devres_open_group(dev, NULL, GFP_KERNEL);
	if (!group) {
		ret = -ENOMEM;
		goto free;
	}
	if (msix_first) {
		ret = ims_bench_msix(pdev);
		if (ret) {
			devres_close_group(dev, group);
			goto release;
		}
	}
	b.ims = devm_ims_domain_create(dev, "ims_bench", &ims_bench_ops, &b, b.nr_slots);
	devres_close_group(dev, group);
	b.user = IS_ERR(b.ims) ? ERR_CAST(b.ims) : ims_user_add(b.ims, dev, b.nr_slots);
	if (IS_ERR(b.user)) {
		ret = PTR_ERR(b.user);
		pr_err("ims_bench: %s: IMS domain of %u slots: %d\n", pci_name(pdev),
		       b.nr_slots, ret);
		goto msix;
	}

	for (i = 0; i < count && !ret; i++)
		ret = ims_bench_run(&b, n[i]);

	/* The domain goes with the devres group, as at unbind. */
	ims_user_remove(b.user);
msix:
	if (msix_first) {
		pci_free_irq_vectors(pdev);
		pci_disable_device(pdev);
	}
release:
	devres_release_group(dev, group);
free:
	kvfree(b.slots);
	kvfree(b.ns);
	kvfree(b.index);
	return ret;
}

static int __init ims_bench_init(void)
{
	struct pci_dev *pdev;
	unsigned int n[16];
	int count, ret;

	count = ims_bench_parse(bench_n, n, ARRAY_SIZE(n));
	if (count < 0)
		return count;

	pdev = pci_get_device(PCI_VENDOR_ID_INTEL, PCI_DEVICE_ID_INTEL_DSA_SPR0, NULL);
	if (!pdev) {
		pr_err("ims_bench: no %04x:%04x PCI function (QEMU -device intel-dsa)\n",
		       PCI_VENDOR_ID_INTEL, PCI_DEVICE_ID_INTEL_DSA_SPR0);
		return -ENODEV;
	}
	if (pdev->dev.driver) {
		pr_err("ims_bench: %s is bound to %s\n", pci_name(pdev), pdev->dev.driver->name);
		ret = -EBUSY;
	} else {
		ret = ims_bench_measure(pdev, n, count);
	}
	pci_dev_put(pdev);
	return ret;
}
module_init(ims_bench_init);

static void __exit ims_bench_exit(void)
{
}
module_exit(ims_bench_exit);

MODULE_DESCRIPTION("Benchmark of one-at-a-time IMS vector allocation");
MODULE_LICENSE("GPL");
