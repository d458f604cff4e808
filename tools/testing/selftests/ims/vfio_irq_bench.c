// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark, not a test (issue 14): what it costs a VFIO user to enable
 * MSI-X vector k, for k = 1..7, one vector at a time, the way QEMU does it
 * when VFIO_IRQ_INFO_NORESIZE is clear (hw/vfio/pci.c:
 * vfio_enable_msix_no_vec(), then vfio_msix_vector_do_use() per vector):
 *
 *	SET_IRQS MSI-X start=0 count=1 fd=-1		("enable": MSI-X on)
 *	SET_IRQS MSI-X start=k count=1 fd=eventfd	(k = 1..7, each timed)
 *	SET_IRQS MSI-X count=0 DATA_NONE|TRIGGER	("disable": all off)
 *
 * on either of
 *
 *	--mdev UUID	the DSA mdev of drivers/dma/idxd-rs (vdcm.rs): each
 *			vector k is one IMS vector of the DSA, allocated by
 *			that SET_IRQS;
 *	--pci BDF	a PCI function bound to vfio-pci: with dynamic MSI-X
 *			(NORESIZE clear) vfio-pci allocates vector k with
 *			pci_msix_alloc_irq_at() on its first use, and keeps it
 *			until the index is disabled.
 *
 * Both are opened through the legacy container/group path (type1v2), as
 * tools/testing/selftests/ims/dsa_mdev_test.c and dsa_vfio_test.c do. Each
 * ioctl is timed with CLOCK_MONOTONIC; after R rounds (--rounds, default
 * 50) it prints, per k, the median, the minimum and the maximum as TAP
 * comments, and one line for scripts ("#" is part of it):
 *
 *	# bench mdev k=3 median_ns=12345 n=50 min_ns=... max_ns=...
 *
 * plus the same for the enable and disable calls ("# bench mdev enable
 * median_ns=..."), the MSI-X index's NORESIZE flag and count, and the
 * number of interrupt threads the 7 vectors brought (a threaded
 * request_irq() makes one per vector).
 *
 *	--mem UUID...	kernel memory per open mdev: /proc/meminfo and
 *			/proc/slabinfo after settling, before and after
 *			opening every mdev and enabling its 7 vectors; the
 *			delta divided by the number of mdevs. --parent BDF
 *			makes it create the mdevs itself first (and remove
 *			them after), to measure a created but closed mdev too.
 *			--reps M repeats it (default 5).
 *
 * How noisy the memory figures are (8 mdevs, 5 repetitions, in the test
 * VM): "KernelStack" is exact (no spread); the sum over /proc/slabinfo of
 * active objects times object size ("slab_bytes") spreads by about 3% of
 * the median; "Slab" (pages) by about 15%, since new objects partly fill
 * slabs that already had room; "MemFree" by 50% and more (per-CPU page
 * lists, page cache, the program itself): a cross-check only. "kernel" is
 * Slab + KernelStack + PageTables + VmallocUsed + Percpu. Settling
 * (drop_caches, then shrinking every slab cache, which also empties KASAN's
 * quarantine for it) takes most of the drift out; the median over the
 * repetitions is reported, with the range. The test VM's kernel has KASAN,
 * kmemleak and lockdep: objects are larger than in a production kernel and
 * kernel stacks are 32 KiB instead of 16 KiB.
 *
 * Output is TAP comments only; the exit status says whether it could run
 * (0), could not (1), or found no VFIO (4, KSFT_SKIP).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <linux/types.h>
#include <linux/vfio.h>

#include "vfio_util.h"

#define KSFT_SKIP	4

#define FIRST_K		1	/* vector 0 is the misc vector (emulated on the mdev) */
#define LAST_K		7
#define NVEC		(LAST_K + 1)
#define MAX_ROUNDS	10000
#define MAX_MDEVS	16
#define MAX_REPS	50
#define SETTLE_US	200000

struct dev {
	char name[64];		/* UUID or BDF */
	struct vfio_dev vfio;
	int efd[NVEC];
};

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void dev_init(struct dev *d, const char *name)
{
	int i;

	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	vfio_dev_init(&d->vfio);
	for (i = 0; i < NVEC; i++)
		d->efd[i] = -1;
}

static void dev_close(struct dev *d)
{
	vfio_eventfds_close(d->efd, NVEC);
	vfio_dev_close(&d->vfio);
}

/*
 * Opens the VFIO device @d->name whose sysfs directory is @sysdir: its
 * IOMMU group in a container of its own, type1v2, then the device fd, and
 * one eventfd per vector (made now, outside the timed calls, as QEMU has
 * its eventfds before it enables a vector). No DMA is mapped: enabling an
 * interrupt does not need any. Returns 0 or -1 (and says why).
 */
static int dev_open(struct dev *d, const char *sysdir)
{
	char group[NAME_MAX + 1];
	int err;

	err = vfio_sysfs_link(sysdir, "iommu_group", group, sizeof(group));
	if (err) {
		printf("# %s: no IOMMU group (%s)\n", d->name, strerror(-err));
		return -1;
	}
	/* An mdev's device name is its UUID, a PCI function's its BDF. */
	if (vfio_type1_open(&d->vfio, group, d->name)) {
		printf("# %s\n", d->vfio.err);
		return -1;
	}
	err = vfio_eventfds_open(d->efd, NVEC);
	if (err) {
		printf("# eventfd: %s\n", strerror(-err));
		return -1;
	}
	return 0;
}

/* QEMU's vfio_enable_msix_no_vec(): MSI-X on, no vector in use */
static int msix_enable(struct dev *d)
{
	const __s32 fd = -1;

	return vfio_set_irqs(&d->vfio, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1,
			     VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, &fd);
}

/* QEMU's vfio_msix_vector_do_use() with NORESIZE clear: vector @k alone */
static int msix_vector(struct dev *d, __u32 k)
{
	return vfio_set_irqs(&d->vfio, VFIO_PCI_MSIX_IRQ_INDEX, k, 1,
			     VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, &d->efd[k]);
}

static int msix_disable(struct dev *d)
{
	return vfio_set_irqs(&d->vfio, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0,
			     VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, NULL);
}

/* Prints the MSI-X index's count and flags; fails if it has fewer than NVEC vectors. */
static int msix_info(struct dev *d, const char *kind)
{
	struct vfio_irq_info info = {
		.argsz = sizeof(info), .index = VFIO_PCI_MSIX_IRQ_INDEX,
	};
	bool noresize;

	if (ioctl(d->vfio.device, VFIO_DEVICE_GET_IRQ_INFO, &info)) {
		printf("# GET_IRQ_INFO(MSI-X): %s\n", strerror(errno));
		return -1;
	}
	noresize = info.flags & VFIO_IRQ_INFO_NORESIZE;
	printf("# %s %s: MSI-X count %u flags %#x: NORESIZE %s\n", kind, d->name, info.count,
	       info.flags, noresize ? "set (vectors are not allocated one at a time)" : "clear");
	printf("# bench %s noresize=%d count=%u\n", kind, noresize, info.count);
	if (info.count < NVEC) {
		printf("# %s has %u MSI-X vectors, fewer than %d\n", d->name, info.count, NVEC);
		return -1;
	}
	return 0;
}

/*
 * The number of interrupt threads ("irq/N-name" kernel threads): a threaded
 * request_irq() makes one per interrupt, a plain one none. -1 if unknown.
 */
static int irq_threads(void)
{
	char path[PATH_MAX], comm[32];
	struct dirent *de;
	int n = 0, fd;
	ssize_t len;
	DIR *dir;

	dir = opendir("/proc");
	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		len = read(fd, comm, sizeof(comm) - 1);
		close(fd);
		if (len > 4 && !strncmp(comm, "irq/", 4))
			n++;
	}
	closedir(dir);
	return n;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* Sorts @v and prints its median, minimum and maximum as "# bench KIND LABEL ..." */
static void report(const char *kind, const char *label, __u64 *v, int n)
{
	__u64 med;

	qsort(v, n, sizeof(*v), cmp_u64);
	med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	printf("# %s %-9s median %8llu ns  min %8llu  max %8llu  (n=%d)\n", kind, label,
	       (unsigned long long)med, (unsigned long long)v[0],
	       (unsigned long long)v[n - 1], n);
	printf("# bench %s %s median_ns=%llu n=%d min_ns=%llu max_ns=%llu\n", kind, label,
	       (unsigned long long)med, n, (unsigned long long)v[0],
	       (unsigned long long)v[n - 1]);
}

/*
 * The latency run on @d, opened from @sysdir: R rounds of enable, vectors
 * 1..7 one at a time, disable. Returns 0 or 1.
 */
static int latency(const char *kind, const char *name, const char *sysdir, int rounds)
{
	static __u64 t[NVEC + 1][MAX_ROUNDS];	/* [0] enable, [k], [NVEC] disable */
	char label[16];
	int r, k, err, threads = -1;
	struct dev d;
	__u64 t0;

	dev_init(&d, name);
	if (dev_open(&d, sysdir) || msix_info(&d, kind))
		goto fail;
	for (r = 0; r < rounds; r++) {
		t0 = now_ns();
		err = msix_enable(&d);
		t[0][r] = now_ns() - t0;
		if (err) {
			printf("# round %d: SET_IRQS MSI-X 0/1 fd -1: %s\n", r, strerror(-err));
			goto fail;
		}
		for (k = FIRST_K; k <= LAST_K; k++) {
			t0 = now_ns();
			err = msix_vector(&d, k);
			t[k][r] = now_ns() - t0;
			if (err) {
				printf("# round %d: SET_IRQS MSI-X vector %d: %s\n", r, k,
				       strerror(-err));
				msix_disable(&d);
				goto fail;
			}
		}
		if (!r)
			threads = irq_threads();
		t0 = now_ns();
		err = msix_disable(&d);
		t[NVEC][r] = now_ns() - t0;
		if (err) {
			printf("# round %d: SET_IRQS MSI-X count 0: %s\n", r, strerror(-err));
			goto fail;
		}
	}
	printf("# %s %s: %d rounds of enable, vectors %d..%d one at a time, disable\n",
	       kind, name, rounds, FIRST_K, LAST_K);
	k = irq_threads();
	printf("# %s: %d interrupt threads with vectors %d..%d on, %d with none\n", kind,
	       threads, FIRST_K, LAST_K, k);
	printf("# bench %s irq_threads=%d\n", kind, threads >= 0 && k >= 0 ? threads - k : -1);
	report(kind, "enable", t[0], rounds);
	for (k = FIRST_K; k <= LAST_K; k++) {
		snprintf(label, sizeof(label), "k=%d", k);
		report(kind, label, t[k], rounds);
	}
	report(kind, "disable", t[NVEC], rounds);
	dev_close(&d);
	return 0;
fail:
	dev_close(&d);
	return 1;
}

/* --- kernel memory per open mdev ----------------------------------------- */

enum { M_MEMFREE, M_SLAB, M_SUNRECLAIM, M_KSTACK, M_PAGETABLES, M_VMALLOC, M_PERCPU,
	M_SLAB_BYTES, M_KERNEL, NR_METRICS };

/* /proc/meminfo keys (kB), in the order above; slab_bytes and kernel are derived */
static const char * const metric_key[NR_METRICS] = {
	"MemFree", "Slab", "SUnreclaim", "KernelStack", "PageTables", "VmallocUsed", "Percpu",
	"slab_bytes", "kernel",
};

struct snap {
	long long v[NR_METRICS];	/* bytes */
};

static int read_meminfo(struct snap *s)
{
	char line[256], key[64];
	long long kb;
	FILE *f;
	int i;

	f = fopen("/proc/meminfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63[^:]: %lld", key, &kb) != 2)
			continue;
		for (i = 0; i < M_SLAB_BYTES; i++)
			if (!strcmp(key, metric_key[i]))
				s->v[i] = kb * 1024;
	}
	fclose(f);
	return 0;
}

/* Sum over /proc/slabinfo of active objects times object size; -1 if unreadable */
static long long slab_bytes(void)
{
	char line[512], name[128];
	long long total = 0;
	unsigned long active, num, size;
	FILE *f;

	f = fopen("/proc/slabinfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %lu %lu %lu", name, &active, &num, &size) != 4)
			continue;
		total += (long long)active * size;
	}
	fclose(f);
	return total;
}

/*
 * Lets the kernel settle: page cache and reclaimable slab dropped, every
 * slab cache shrunk (empty slabs freed, and with generic KASAN the cache's
 * quarantined objects really freed: kasan_cache_shrink()), then a pause.
 */
static void settle(void)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;

	sync();
	vfio_sysfs_write("/proc/sys/vm/drop_caches", "3");
	dir = opendir("/sys/kernel/slab");
	if (dir) {
		while ((de = readdir(dir))) {
			/* aliases of merged caches are symlinks: each cache once */
			if (de->d_name[0] == '.' || de->d_type == DT_LNK)
				continue;
			snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", de->d_name);
			vfio_sysfs_write(path, "1");
		}
		closedir(dir);
	}
	usleep(SETTLE_US);
}

static int snapshot(struct snap *s)
{
	memset(s, 0, sizeof(*s));
	settle();
	if (read_meminfo(s))
		return -1;
	s->v[M_SLAB_BYTES] = slab_bytes();
	s->v[M_KERNEL] = s->v[M_SLAB] + s->v[M_KSTACK] + s->v[M_PAGETABLES] +
			 s->v[M_VMALLOC] + s->v[M_PERCPU];
	return 0;
}

/* @per[rep][metric] = (@b - @a) / @n, MemFree negated: memory taken is positive */
static void delta(const struct snap *a, const struct snap *b, int n, long long *per)
{
	int i;

	for (i = 0; i < NR_METRICS; i++)
		per[i] = (b->v[i] - a->v[i]) / n;
	per[M_MEMFREE] = -per[M_MEMFREE];
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* Prints, per metric, the median of @reps deltas per mdev and their range. */
static void mem_report(const char *what, long long per[][NR_METRICS], int reps, int n)
{
	long long v[MAX_REPS];
	int i, r;

	printf("# memory per mdev, %s (%d mdevs, %d repetitions; bytes, median [min..max]):\n",
	       what, n, reps);
	for (i = 0; i < NR_METRICS; i++) {
		for (r = 0; r < reps; r++)
			v[r] = per[r][i];
		qsort(v, reps, sizeof(v[0]), cmp_ll);
		printf("#   %-11s %9lld  [%lld..%lld]\n", metric_key[i], v[reps / 2], v[0],
		       v[reps - 1]);
		printf("# bench mem %s %s_bytes=%lld min=%lld max=%lld n=%d reps=%d\n", what,
		       metric_key[i], v[reps / 2], v[0], v[reps - 1], n, reps);
	}
}

static int mdev_create(const char *parent, const char *type, const char *uuid)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/mdev_supported_types/%s/create",
		 parent, type);
	return vfio_sysfs_write(path, uuid);
}

static int mdev_remove(const char *uuid)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/remove", uuid);
	return vfio_sysfs_write(path, "1");
}

/*
 * Opens every mdev of @uuids and enables its 7 vectors: the state of a
 * guest whose DSA driver is up. Returns 0, or -1 with everything closed.
 */
static int open_all(struct dev *devs, char **uuids, int n)
{
	char sysdir[PATH_MAX];
	int i, k, err = 0;

	for (i = 0; i < n; i++) {
		dev_init(&devs[i], uuids[i]);
		snprintf(sysdir, sizeof(sysdir), "/sys/bus/mdev/devices/%s", uuids[i]);
		if (dev_open(&devs[i], sysdir)) {
			i++;
			goto fail;
		}
		err = msix_enable(&devs[i]);
		for (k = FIRST_K; !err && k <= LAST_K; k++)
			err = msix_vector(&devs[i], k);
		if (err) {
			printf("# %s: SET_IRQS: %s\n", uuids[i], strerror(-err));
			i++;
			goto fail;
		}
	}
	return 0;
fail:
	while (i-- > 0)
		dev_close(&devs[i]);
	return -1;
}

static int mem(char **uuids, int n, int reps, const char *parent, const char *type)
{
	static long long per_open[MAX_REPS][NR_METRICS], per_create[MAX_REPS][NR_METRICS];
	static struct dev devs[MAX_MDEVS];
	struct snap s0, s1, s2;
	int r, i, err;

	if (n > MAX_MDEVS || reps > MAX_REPS) {
		printf("# at most %d mdevs and %d repetitions\n", MAX_MDEVS, MAX_REPS);
		return 1;
	}
	/* A first round unmeasured: caches and lazily allocated state warm up. */
	for (r = -1; r < reps; r++) {
		if (snapshot(&s0))
			return 1;
		if (parent) {
			for (i = 0; i < n; i++) {
				err = mdev_create(parent, type, uuids[i]);
				if (err) {
					printf("# create %s on %s: %s\n", uuids[i], parent,
					       strerror(-err));
					while (i-- > 0)
						mdev_remove(uuids[i]);
					return 1;
				}
			}
			if (snapshot(&s1))
				return 1;
		} else {
			s1 = s0;
		}
		if (open_all(devs, uuids, n))
			return 1;
		err = snapshot(&s2);
		for (i = 0; i < n; i++) {
			msix_disable(&devs[i]);
			dev_close(&devs[i]);
		}
		if (parent)
			for (i = 0; i < n; i++)
				mdev_remove(uuids[i]);
		if (err)
			return 1;
		if (r < 0)
			continue;
		delta(&s1, &s2, n, per_open[r]);
		if (parent)
			delta(&s0, &s1, n, per_create[r]);
		printf("# rep %d, per mdev open with 7 vectors: slab_bytes %lld, Slab %lld, ", r,
		       per_open[r][M_SLAB_BYTES], per_open[r][M_SLAB]);
		printf("kernel %lld, MemFree -%lld\n", per_open[r][M_KERNEL],
		       per_open[r][M_MEMFREE]);
	}
	if (parent)
		mem_report("created", per_create, reps, n);
	mem_report("open", per_open, reps, n);
	return 0;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"Usage: %s [--rounds R] --mdev UUID\n"
		"       %s [--rounds R] --pci BDF\n"
		"       %s [--reps M] [--parent BDF [--type TYPE]] --mem UUID...\n",
		prog, prog, prog);
	exit(1);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mdev", required_argument, NULL, 'm' },
		{ "pci", required_argument, NULL, 'p' },
		{ "mem", no_argument, NULL, 'M' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "reps", required_argument, NULL, 'n' },
		{ "parent", required_argument, NULL, 'P' },
		{ "type", required_argument, NULL, 't' },
		{ }
	};
	const char *mdev = NULL, *pci = NULL, *parent = NULL, *type = "idxd-dsa-1dwq";
	int rounds = 50, reps = 5, c;
	char sysdir[PATH_MAX];
	bool memory = false;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			mdev = optarg;
			break;
		case 'p':
			pci = optarg;
			break;
		case 'M':
			memory = true;
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'n':
			reps = atoi(optarg);
			break;
		case 'P':
			parent = optarg;
			break;
		case 't':
			type = optarg;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (!!mdev + !!pci + memory != 1 || rounds < 1 || rounds > MAX_ROUNDS || reps < 1 ||
	    (memory && optind >= argc) || (!memory && optind < argc))
		usage(argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (access("/dev/vfio/vfio", F_OK)) {
		printf("# no /dev/vfio/vfio (CONFIG_VFIO_CONTAINER=y?)\n");
		return KSFT_SKIP;
	}
	if (memory)
		return mem(argv + optind, argc - optind, reps, parent, type);
	if (mdev) {
		snprintf(sysdir, sizeof(sysdir), "/sys/bus/mdev/devices/%s", mdev);
		return latency("mdev", mdev, sysdir, rounds);
	}
	snprintf(sysdir, sizeof(sysdir), "/sys/bus/pci/devices/%s", pci);
	return latency("vfio-pci", pci, sysdir, rounds);
}
