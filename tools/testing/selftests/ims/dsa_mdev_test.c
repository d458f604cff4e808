// SPDX-License-Identifier: GPL-2.0
/*
 * The DSA mdev ("vdcm") of the Rust DSA driver (drivers/dma/idxd-rs), driven
 * from user space the way QEMU's vfio-pci drives it: one dedicated work queue
 * of the DSA handed to a VFIO user as a virtual DSA PCI function, with its
 * MSI-X vectors 1..7 backed, one at a time, by IMS vectors of the DSA.
 *
 * Every case runs twice: over the legacy container/group path (variant
 * type1: /dev/vfio/vfio, /dev/vfio/N, VFIO_TYPE1v2_IOMMU) and over the
 * iommufd cdev path (variant iommufd: /dev/iommu, /dev/vfio/devices/vfioX).
 *
 * What it proves (issue 14, "Prove"):
 *  1. the device opens; GET_INFO, GET_REGION_INFO, GET_IRQ_INFO and the
 *     config space describe a DSA with 8 dynamically allocatable MSI-X
 *     vectors (NORESIZE clear), ERR and REQ; DMA maps;
 *  2. the virtual BAR0 takes a guest driver's configuration: group, WQ,
 *     ENABLE_DEVICE, ENABLE_WQ, REQUEST_INT_HANDLE;
 *  3. vector 1, enabled alone as QEMU does, fires for a MEMMOVE that asks
 *     for a completion interrupt, and the data and record are right;
 *  4. enabling vector 2 leaves vector 1's host IRQ and message untouched,
 *     and both fire;
 *  5. two mdevs, each with its own PASID, fire only their own vectors and
 *     cannot reach each other's memory;
 *  6. bad ioctl arguments get EINVAL (EBADF for a closed eventfd), bad
 *     register accesses EINVAL, bad descriptors a DSA error status;
 *  7. removing an mdev that is open signals its REQ eventfd and completes
 *     once the user closes the device;
 *  8. 20 create/open/close/remove cycles leave every IMS slot of the DSA
 *     free (the suite then asks kmemleak).
 *
 * The mdevs are created by the test itself, on the parent that offers the
 * type idxd-dsa-1dwq: scripts/vm/suites/dsa-mdev.sh reserves the WQs (type
 * "mdev", bound to the dsa bus driver "mdev"). Without such a parent every
 * case is a SKIP.
 *
 * Register layout: Intel DSA Architecture Specification, chapter 9, as the
 * emulated device documents it (tools/testing/qemu/docs/dsa.rst); the
 * virtual BAR0 has the same layout with one WQ, one group and one engine.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <linux/idxd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "../kselftest_harness.h"
#include "vfio_util.h"

#define DSA_VENDOR_ID		0x8086
#define DSA_DEVICE_ID		0x0b25

/* The mdev type and what it promises (the kernel side's interface) */
#define MDEV_TYPE		"idxd-dsa-1dwq"
#define MDEV_NUM_REGIONS	9
#define MDEV_NUM_IRQS		5
#define MDEV_BAR0_SIZE		0x10000
#define MDEV_BAR2_SIZE		0x4000
#define MDEV_CONFIG_SIZE	256
#define MDEV_MSIX_VECTORS	8

/* BAR0 registers (DSA spec 9.2; docs/dsa.rst "BAR0 map") */
#define DSA_GENCAP		0x10
#define  GENCAP_MAX_XFER_SHIFT(v)	(((v) >> 16) & 0x1f)
#define  GENCAP_MAX_BATCH_SHIFT(v)	(((v) >> 21) & 0xf)
#define DSA_WQCAP		0x20
#define  WQCAP_TOTAL_WQ_SIZE(v)		((v) & 0xffff)
#define  WQCAP_NUM_WQS(v)		(((v) >> 16) & 0xff)
#define  WQCAP_WQCFG_SIZE(v)		(((v) >> 24) & 0xf)
#define  WQCAP_DEDICATED		0x0002000000000000ULL	/* bit 49 */
#define DSA_GRPCAP		0x30
#define  GRPCAP_NUM_GROUPS(v)		((v) & 0xff)
#define DSA_ENGCAP		0x38
#define  ENGCAP_NUM_ENGINES(v)		((v) & 0xff)
#define DSA_OPCAP		0x40	/* 256-bit bitmap of supported opcodes */
#define DSA_TABLE_OFFSET	0x60	/* 16-bit fields, in units of 0x100 */
#define  TABLE_GRPCFG(v)		((v) & 0xffff)
#define  TABLE_WQCFG(v)			(((v) >> 16) & 0xffff)
#define  TABLE_MULT			0x100
#define DSA_GENCTRL		0x88
#define  GENCTRL_SOFTERR_INT_EN		0x1U
#define DSA_GENSTS		0x90
#define  GENSTS_STATE(v)		((v) & 0x3)
#define  GENSTS_DISABLED		0
#define  GENSTS_ENABLED			1
#define DSA_INTCAUSE		0x98
#define  INTCAUSE_CMD			0x2U	/* command completed */
#define DSA_CMD			0xa0
#define  CMD_OPERAND(v)			((v) & 0xfffff)
#define  CMD_CODE(v)			(((v) & 0x1f) << 20)
#define  CMD_INT_REQ			0x80000000U
#define DSA_CMDSTS		0xa8
#define  CMDSTS_ACTIVE			0x80000000U
#define  CMDSTS_ERR(v)			((v) & 0xff)
#define  CMDSTS_RESULT(v)		(((v) >> 8) & 0xffff)
#define DSA_CMDCAP		0xb0	/* bit n: command n supported */
#define DSA_SWERR		0xc0

/* Commands (DSA spec 9.2.13) */
#define CMD_ENABLE_DEVICE	1
#define CMD_DISABLE_DEVICE	2
#define CMD_RESET_DEVICE	5
#define CMD_ENABLE_WQ		6
#define CMD_DISABLE_WQ		7
#define CMD_DRAIN_WQ		8
#define CMD_REQUEST_INT_HANDLE	13
#define CMD_RELEASE_INT_HANDLE	14

/* GRPCFG: 64 bytes per group; WQ bitmap (4 x u64), engine bitmap, flags */
#define GRPCFG_WQS		0
#define GRPCFG_ENGINES		32
#define GRPCFG_FLAGS		40

/* WQCFG: 32-bit words of one WQ's entry */
#define WQCFG_SIZE_MIN_SHIFT	5	/* entry size is 1 << (5 + WQCAP field) */
#define WQCFG_WQ_SIZE		0
#define WQCFG_THRESHOLD		1
#define WQCFG_MODE		2
#define  WQCFG_MODE_DEDICATED		0x1U
#define  WQCFG_PRIORITY(v)		(((v) & 0xf) << 4)
#define WQCFG_LIMITS		3
#define  WQCFG_MAX_XFER_SHIFT(v)	((v) & 0x1f)
#define  WQCFG_MAX_BATCH_SHIFT(v)	(((v) & 0xf) << 5)
#define WQCFG_STATE		6
#define  WQCFG_STATE_OF(v)		(((v) >> 30) & 0x3)
#define  WQCFG_STATE_DISABLED		0
#define  WQCFG_STATE_ENABLED		1

#define TEST_WQ_SIZE		16

/*
 * DMA memory of an mdev: one anonymous buffer mapped at its own IOVA
 * (mdev A and B use different ones, so that each can name the other's).
 * Nothing is mapped at UNMAPPED_IOVA.
 */
#define DMA_IOVA_A		0x10000000ULL
#define DMA_IOVA_B		0x20000000ULL
#define DMA_SIZE		0x10000
#define DMA_SRC			0x0000
#define DMA_DST			0x4000
#define DMA_BUF_SIZE		0x4000
#define DMA_COMP		0x8000
#define COMP_STRIDE		64	/* records 32-byte aligned, never sharing a line */
#define UNMAPPED_IOVA		0x40000000ULL

#define MOVE_LEN		0x1234	/* odd: catches rounding to 8 bytes or pages */
#define BAD_OPCODE		0x3f	/* unassigned in the DSA opcode table */

/* Bounds on every wait, generous for TCG on a loaded host */
#define CMD_TIMEOUT_MS		2000
#define COMP_TIMEOUT_MS		2000
#define IRQ_TIMEOUT_MS		2000
#define QUIET_MS		300	/* how long "no interrupt" is watched */
#define REQ_TIMEOUT_MS		5000
#define REMOVE_TIMEOUT_MS	20000
#define CYCLES			20

/* The parent: the DSA PCI function offering MDEV_TYPE */
static char parent_bdf[NAME_MAX + 1];

/* One mdev and everything a VFIO user holds of it */
struct mdev {
	char uuid[40];
	bool created;
	__u64 iova;		/* where its DMA buffer is mapped */

	struct vfio_dev vfio;	/* over type1 or iommufd */
	struct vfio_region bar0;
	struct vfio_region bar2;
	struct vfio_region config;
	unsigned char *dma;	/* CPU view of @iova */
	int efd[MDEV_MSIX_VECTORS];
	int req_efd;

	__u64 gencap;
	__u64 wqcap;
	__u32 cmdcap;
	__u64 opcap[4];
	__u64 grpcfg;		/* BAR0 offsets of the tables */
	__u64 wqcfg;
	__u32 wqcfg_size;
};

/* A vector line of the mdev's debugfs file */
struct vline {
	unsigned int vector;
	unsigned int irq;
	unsigned int ims;
	unsigned long long addr;
	unsigned long long data;
	unsigned long long pasid;
};

/* --- small helpers ------------------------------------------------------ */

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static int sysfs_read(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

static long sysfs_long(const char *path)
{
	char buf[64];

	if (sysfs_read(path, buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 0);
}

static bool exists(const char *path)
{
	return !access(path, F_OK);
}

static long available_instances(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path),
		 "/sys/bus/pci/devices/%s/mdev_supported_types/" MDEV_TYPE "/available_instances",
		 parent_bdf);
	return sysfs_long(path);
}

static void mdev_path(const struct mdev *m, const char *attr, char *buf, size_t len)
{
	snprintf(buf, len, "/sys/bus/mdev/devices/%s%s%s", m->uuid, attr[0] ? "/" : "", attr);
}

/* Fills parent_bdf with the first PCI function offering MDEV_TYPE, if any. */
static void find_parent(void)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	d = opendir("/sys/bus/pci/devices");
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path),
			 "/sys/bus/pci/devices/%s/mdev_supported_types/" MDEV_TYPE, de->d_name);
		if (exists(path)) {
			snprintf(parent_bdf, sizeof(parent_bdf), "%s", de->d_name);
			break;
		}
	}
	closedir(d);
}

/* --- mdev lifecycle ------------------------------------------------------ */

static void mdev_init(struct mdev *m, __u64 iova)
{
	int i;

	memset(m, 0, sizeof(*m));
	m->iova = iova;
	vfio_dev_init(&m->vfio);
	m->req_efd = -1;
	for (i = 0; i < MDEV_MSIX_VECTORS; i++)
		m->efd[i] = -1;
}

/* Creates an mdev with a UUID no other test process uses. Returns 0 or -errno. */
static int mdev_create(struct mdev *m)
{
	static unsigned int serial;
	char path[PATH_MAX];
	int err;

	snprintf(m->uuid, sizeof(m->uuid), "d5a0%04x-%04x-4000-8000-%012llx",
		 (unsigned int)getpid() & 0xffff, ++serial & 0xffff,
		 (unsigned long long)now_ms() & 0xffffffffffffULL);
	snprintf(path, sizeof(path),
		 "/sys/bus/pci/devices/%s/mdev_supported_types/" MDEV_TYPE "/create",
		 parent_bdf);
	err = vfio_sysfs_write(path, m->uuid);
	if (!err)
		m->created = true;
	return err;
}

/* Removes the mdev; waits (in the kernel) until its device fd is closed. */
static int mdev_remove(struct mdev *m)
{
	char path[PATH_MAX];
	int err;

	mdev_path(m, "remove", path, sizeof(path));
	err = vfio_sysfs_write(path, "1");
	if (!err)
		m->created = false;
	return err;
}

/* Closes every fd of the user and unmaps its buffer; the mdev stays. */
static void mdev_close(struct mdev *m)
{
	vfio_eventfds_close(m->efd, MDEV_MSIX_VECTORS);
	vfio_eventfds_close(&m->req_efd, 1);
	vfio_dev_close(&m->vfio);
	if (m->dma)
		munmap(m->dma, DMA_SIZE);
	m->dma = NULL;
}

/*
 * The driver's view of an mdev is the debugfs file vdcm-dsaN/<uuid>: lines
 * "pasid <n>", "wq <name>", "completed <n>", "refused <n>", and one line per
 * live IMS-backed vector, "vector <k> irq <irq> ims <slot> addr <hex> data
 * <hex> pasid <n>". Opens it, or returns NULL.
 */
static FILE *mdev_info_open(const struct mdev *m)
{
	char path[PATH_MAX];
	FILE *f;
	int i;

	for (i = 0; i < 8; i++) {
		snprintf(path, sizeof(path), "/sys/kernel/debug/vdcm-dsa%d/%s", i, m->uuid);
		f = fopen(path, "r");
		if (f)
			return f;
	}
	return NULL;
}

/* Copies the value of the line "<key> <value>" of the mdev's file; 0 or -1 */
static int mdev_info(const struct mdev *m, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);
	char line[256];
	int ret = -1;
	FILE *f;

	f = mdev_info_open(m);
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, kl) || line[kl] != ' ')
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(buf, len, "%s", line + kl + 1);
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

static __u32 mdev_pasid(struct __test_metadata *_metadata, struct mdev *m)
{
	char buf[32] = "";
	long pasid = -1;

	if (!mdev_info(m, "pasid", buf, sizeof(buf)))
		pasid = strtol(buf, NULL, 0);
	EXPECT_LT(0, pasid) TH_LOG("%s: pasid '%s'", m->uuid, buf);
	return pasid;
}

/* Reads the mdev's vector lines. Returns the number of lines, or -1. */
static int read_vectors(struct mdev *m, struct vline *v, int max)
{
	char line[256];
	int n = 0;
	FILE *f;

	f = mdev_info_open(m);
	if (!f)
		return -1;
	while (n < max && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "vector %u irq %u ims %u addr %llx data %llx pasid %llu",
			   &v[n].vector, &v[n].irq, &v[n].ims, &v[n].addr, &v[n].data,
			   &v[n].pasid) != 6)
			continue;
		n++;
	}
	fclose(f);
	return n;
}

/* The line of guest vector @vector, or NULL */
static struct vline *find_vector(struct vline *v, int n, unsigned int vector)
{
	int i;

	for (i = 0; i < n; i++)
		if (v[i].vector == vector)
			return &v[i];
	return NULL;
}

/*
 * Counts the interrupts allocated on the parent's IMS domain: the irq
 * descriptors whose chip is named "...IMS...-<parent BDF>" (the MSI core
 * names a device domain's chip "<parent prefix><chip name>-<device>"). The
 * driver exposes no free-slot count, so used = this count, free = ims_size
 * minus it.
 */
static int ims_irqs_in_use(void)
{
	char path[PATH_MAX], name[128];
	size_t nl, bl = strlen(parent_bdf);
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir("/sys/kernel/irq");
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/irq/%s/chip_name", de->d_name);
		if (sysfs_read(path, name, sizeof(name)))
			continue;
		nl = strlen(name);
		if (strstr(name, "IMS") && nl > bl && !strcmp(name + nl - bl, parent_bdf))
			n++;
	}
	closedir(d);
	return n;
}

/* --- VFIO: the two ways in ---------------------------------------------- */

static void region_info(struct __test_metadata *_metadata, struct mdev *m,
			__u32 index, struct vfio_region *r)
{
	ASSERT_EQ(0, vfio_region_get(&m->vfio, index, r)) TH_LOG("%s", m->vfio.err);
}

static void open_type1(struct __test_metadata *_metadata, struct mdev *m)
{
	char dir[PATH_MAX], group[NAME_MAX + 1];
	int err;

	if (!exists("/dev/vfio/vfio"))
		SKIP(return, "no /dev/vfio/vfio (CONFIG_VFIO_CONTAINER=y?)");
	mdev_path(m, "", dir, sizeof(dir));
	err = vfio_sysfs_link(dir, "iommu_group", group, sizeof(group));
	ASSERT_EQ(0, err) TH_LOG("%s/iommu_group: %s", dir, strerror(-err));
	/* An mdev's device name is its UUID. */
	ASSERT_EQ(0, vfio_type1_open(&m->vfio, group, m->uuid)) TH_LOG("%s", m->vfio.err);
}

static void open_iommufd(struct __test_metadata *_metadata, struct mdev *m)
{
	char path[PATH_MAX], cdev[NAME_MAX + 1] = "";
	struct dirent *de;
	DIR *d;

	if (!exists("/dev/iommu"))
		SKIP(return, "no /dev/iommu (CONFIG_IOMMUFD=y?)");
	mdev_path(m, "vfio-dev", path, sizeof(path));
	d = opendir(path);
	if (!d)
		SKIP(return, "mdev %s has no vfio-dev (CONFIG_VFIO_DEVICE_CDEV=y?)", m->uuid);
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, "vfio", 4)) {
			snprintf(cdev, sizeof(cdev), "%s", de->d_name);
			break;
		}
	}
	closedir(d);
	ASSERT_NE(0, cdev[0]) TH_LOG("no vfioX in %s", path);
	ASSERT_EQ(0, vfio_iommufd_open(&m->vfio, cdev)) TH_LOG("%s", m->vfio.err);
}

/*
 * Opens the mdev over @iommufd or type1, maps its DMA buffer and reads the
 * regions QEMU reads. Leaves MSI-X off.
 */
static void mdev_open(struct __test_metadata *_metadata, struct mdev *m, bool iommufd)
{
	m->dma = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m->dma);
	memset(m->dma, 0, DMA_SIZE);
	if (iommufd)
		open_iommufd(_metadata, m);
	else
		open_type1(_metadata, m);
	if (m->vfio.device < 0)
		return;		/* skipped */
	ASSERT_EQ(0, vfio_dma_map(&m->vfio, m->dma, m->iova, DMA_SIZE)) TH_LOG("%s", m->vfio.err);
	region_info(_metadata, m, VFIO_PCI_BAR0_REGION_INDEX, &m->bar0);
	region_info(_metadata, m, VFIO_PCI_BAR2_REGION_INDEX, &m->bar2);
	region_info(_metadata, m, VFIO_PCI_CONFIG_REGION_INDEX, &m->config);
}

/* Creates and opens an mdev; SKIPs when no WQ is left for it. */
static void mdev_up(struct __test_metadata *_metadata, struct mdev *m, bool iommufd)
{
	long avail = available_instances();
	int err;

	if (avail < 1)
		SKIP(return, "available_instances of %s is %ld: no mdev WQ left", MDEV_TYPE, avail);
	err = mdev_create(m);
	ASSERT_EQ(0, err) TH_LOG("create %s on %s: %s", m->uuid, parent_bdf, strerror(-err));
	EXPECT_EQ(avail - 1, available_instances());
	mdev_open(_metadata, m, iommufd);
}

/* --- register access: 4 or 8 bytes through the device fd ----------------- */

static __u32 rd32(struct mdev *m, __u64 off)
{
	__u32 v = ~0U;

	if (vfio_region_read(&m->bar0, off, &v, 4))
		return ~0U;
	return v;
}

static __u64 rd64(struct mdev *m, __u64 off)
{
	__u64 v = ~0ULL;

	if (vfio_region_read(&m->bar0, off, &v, 8))
		return ~0ULL;
	return v;
}

static int wr32(struct mdev *m, __u64 off, __u32 v)
{
	return vfio_region_write(&m->bar0, off, &v, 4);
}

static int wr64(struct mdev *m, __u64 off, __u64 v)
{
	return vfio_region_write(&m->bar0, off, &v, 8);
}

static int cfg_read(struct mdev *m, __u32 reg, void *buf, size_t len)
{
	return vfio_region_read(&m->config, reg, buf, len);
}

static int cfg_write(struct mdev *m, __u32 reg, const void *buf, size_t len)
{
	return vfio_region_write(&m->config, reg, buf, len);
}

/* Offset of capability @id in config space, 0 if absent */
static __u8 cfg_find_cap(struct mdev *m, __u8 id)
{
	__u8 pos = 0, cap = 0;
	int n;

	if (cfg_read(m, PCI_CAPABILITY_LIST, &pos, 1))
		return 0;
	for (n = 0; pos >= PCI_STD_HEADER_SIZEOF && n < 48; n++) {
		pos &= ~3;
		if (cfg_read(m, pos + PCI_CAP_LIST_ID, &cap, 1))
			return 0;
		if (cap == id)
			return pos;
		if (cfg_read(m, pos + PCI_CAP_LIST_NEXT, &pos, 1))
			return 0;
	}
	return 0;
}

/*
 * Whether [@off, @off + @len) of BAR0 overlaps a register a guest driver
 * uses: the fixed block below 0x100, GRPCFG or WQCFG.
 */
static bool over_registers(struct mdev *m, __u64 off, __u64 len)
{
	__u64 tbl = rd64(m, DSA_TABLE_OFFSET), wqcap = rd64(m, DSA_WQCAP);
	__u64 grp = TABLE_GRPCFG(tbl) * TABLE_MULT, wq = TABLE_WQCFG(tbl) * TABLE_MULT;
	__u64 wqsz = 1ULL << (WQCAP_WQCFG_SIZE(wqcap) + WQCFG_SIZE_MIN_SHIFT);

	return off < 0x100 || (off < grp + 64 && off + len > grp) ||
	       (off < wq + wqsz && off + len > wq);
}

/* --- the guest driver ---------------------------------------------------- */

static void log_swerr(struct __test_metadata *_metadata, struct mdev *m)
{
	__u64 e0 = rd64(m, DSA_SWERR);

	if (e0 & 1)
		TH_LOG("SWERR %#018llx %#018llx %#018llx %#018llx", (unsigned long long)e0,
		       (unsigned long long)rd64(m, DSA_SWERR + 8),
		       (unsigned long long)rd64(m, DSA_SWERR + 16),
		       (unsigned long long)rd64(m, DSA_SWERR + 24));
}

/*
 * Issues a command and waits, bounded, for CMDSTS.active to clear.
 * Returns CMDSTS (error in bits 7:0, result in 23:8), or -ETIMEDOUT.
 */
static long dsa_command(struct mdev *m, __u32 cmd, __u32 operand, bool irq)
{
	__u64 deadline = now_ms() + CMD_TIMEOUT_MS;
	__u32 sts;

	while (rd32(m, DSA_CMDSTS) & CMDSTS_ACTIVE) {
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(100);
	}
	wr32(m, DSA_CMD, CMD_CODE(cmd) | CMD_OPERAND(operand) | (irq ? CMD_INT_REQ : 0));
	for (;;) {
		sts = rd32(m, DSA_CMDSTS);
		if (!(sts & CMDSTS_ACTIVE))
			return sts;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(100);
	}
}

#define ASSERT_CMD_OK(m, cmd, operand) do { \
	struct mdev *__m = (m); \
	__u32 __cmd = (cmd), __op = (operand); \
	long __sts = dsa_command(__m, __cmd, __op, false); \
	if (__sts) \
		log_swerr(_metadata, __m); \
	ASSERT_EQ(0, __sts) TH_LOG("command %u (operand %#x): %s, CMDSTS %#lx", \
				   __cmd, __op, __sts < 0 ? "timed out" : "failed", \
				   __sts < 0 ? 0 : __sts); \
} while (0)

static bool opcap_has(struct mdev *m, unsigned int op)
{
	return m->opcap[op / 64] & (1ULL << (op % 64));
}

static __u64 wq_cfg(struct mdev *m, int word)
{
	return m->wqcfg + 4 * word;
}

/* Resets the virtual device and reads its capabilities, as a probe does. */
static void guest_probe(struct __test_metadata *_metadata, struct mdev *m)
{
	__u64 tbl;
	__u16 cmd;
	int i;

	/* Memory decode for BAR0/BAR2, bus mastering for descriptors */
	ASSERT_EQ(0, cfg_read(m, PCI_COMMAND, &cmd, sizeof(cmd)));
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	ASSERT_EQ(0, cfg_write(m, PCI_COMMAND, &cmd, sizeof(cmd)));

	ASSERT_CMD_OK(m, CMD_RESET_DEVICE, 0);
	ASSERT_EQ(GENSTS_DISABLED, GENSTS_STATE(rd32(m, DSA_GENSTS)));
	m->gencap = rd64(m, DSA_GENCAP);
	m->wqcap = rd64(m, DSA_WQCAP);
	m->cmdcap = rd32(m, DSA_CMDCAP);
	for (i = 0; i < 4; i++)
		m->opcap[i] = rd64(m, DSA_OPCAP + 8 * i);
	tbl = rd64(m, DSA_TABLE_OFFSET);
	m->grpcfg = TABLE_GRPCFG(tbl) * TABLE_MULT;
	m->wqcfg = TABLE_WQCFG(tbl) * TABLE_MULT;
	m->wqcfg_size = 1U << (WQCAP_WQCFG_SIZE(m->wqcap) + WQCFG_SIZE_MIN_SHIFT);

	ASSERT_NE(~0ULL, m->gencap) TH_LOG("BAR0 reads fail");
	ASSERT_NE(0, m->grpcfg);
	ASSERT_NE(0, m->wqcfg);
	ASSERT_LE(m->wqcfg + m->wqcfg_size, m->bar0.size);
	ASSERT_LE(m->grpcfg + 64, m->bar0.size);
}

/*
 * Puts WQ 0 and engine 0 in group 0, configures WQ 0 dedicated, enables
 * the device and the WQ. The WQ's PASID fields are left 0: the host owns
 * the PASID.
 */
static void guest_enable(struct __test_metadata *_metadata, struct mdev *m)
{
	__u32 size = WQCAP_TOTAL_WQ_SIZE(m->wqcap), state;

	if (size > TEST_WQ_SIZE)
		size = TEST_WQ_SIZE;
	ASSERT_EQ(0, wr64(m, m->grpcfg + GRPCFG_WQS, 1));
	ASSERT_EQ(0, wr64(m, m->grpcfg + GRPCFG_ENGINES, 1));
	ASSERT_EQ(0, wr64(m, m->grpcfg + GRPCFG_FLAGS, 0));
	ASSERT_EQ(0, wr32(m, wq_cfg(m, WQCFG_WQ_SIZE), size));
	ASSERT_EQ(0, wr32(m, wq_cfg(m, WQCFG_THRESHOLD), 0));
	ASSERT_EQ(0, wr32(m, wq_cfg(m, WQCFG_MODE), WQCFG_MODE_DEDICATED | WQCFG_PRIORITY(1)));
	ASSERT_EQ(0, wr32(m, wq_cfg(m, WQCFG_LIMITS),
			  WQCFG_MAX_XFER_SHIFT(GENCAP_MAX_XFER_SHIFT(m->gencap)) |
			  WQCFG_MAX_BATCH_SHIFT(GENCAP_MAX_BATCH_SHIFT(m->gencap))));
	ASSERT_EQ(0, wr32(m, DSA_GENCTRL, GENCTRL_SOFTERR_INT_EN));

	ASSERT_CMD_OK(m, CMD_ENABLE_DEVICE, 0);
	ASSERT_EQ(GENSTS_ENABLED, GENSTS_STATE(rd32(m, DSA_GENSTS)));
	ASSERT_CMD_OK(m, CMD_ENABLE_WQ, 0);
	state = WQCFG_STATE_OF(rd32(m, wq_cfg(m, WQCFG_STATE)));
	ASSERT_EQ(WQCFG_STATE_ENABLED, state) TH_LOG("WQ 0 state %u after ENABLE_WQ", state);
}

/* The handle a descriptor names guest vector @vector with */
static __u16 int_handle(struct __test_metadata *_metadata, struct mdev *m, __u32 vector)
{
	long sts = dsa_command(m, CMD_REQUEST_INT_HANDLE, vector, false);

	EXPECT_LE(0, sts) TH_LOG("REQUEST_INT_HANDLE(%u) timed out", vector);
	EXPECT_EQ(0, CMDSTS_ERR(sts)) TH_LOG("REQUEST_INT_HANDLE(%u): CMDSTS %#lx", vector, sts);
	return CMDSTS_RESULT(sts);
}

/* --- interrupts ---------------------------------------------------------- */

/* VFIO_DEVICE_SET_IRQS with @count eventfds (or none). Returns 0 or -errno. */
static int set_irqs(struct mdev *m, __u32 index, __u32 start, __u32 count, __u32 flags,
		    const __s32 *fds)
{
	return vfio_set_irqs(&m->vfio, index, start, count, flags, fds);
}

/* SET_IRQS DATA_BOOL trigger of one vector: a loopback if @on. Returns ioctl()'s. */
static int trigger_bool(struct mdev *m, __u32 vector, bool on)
{
	char buf[sizeof(struct vfio_irq_set) + sizeof(__u8)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;

	set->argsz = sizeof(buf);
	set->flags = VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_MSIX_IRQ_INDEX;
	set->start = vector;
	set->count = 1;
	set->data[0] = on;
	return ioctl(m->vfio.device, VFIO_DEVICE_SET_IRQS, set);
}

/* QEMU's vfio_enable_msix_no_vec(): MSI-X on, no vector in use */
static void msix_enable_no_vec(struct __test_metadata *_metadata, struct mdev *m)
{
	__s32 fd = -1;
	int err;

	err = set_irqs(m, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1,
		       VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, &fd);
	ASSERT_EQ(0, err) TH_LOG("SET_IRQS MSI-X start 0 count 1 fd -1: %s", strerror(-err));
}

/* QEMU's vfio_msix_vector_do_use() with NORESIZE clear: one vector */
static void msix_vector_on(struct __test_metadata *_metadata, struct mdev *m,
			   unsigned int vector)
{
	int err;

	ASSERT_GT(MDEV_MSIX_VECTORS, vector);
	if (m->efd[vector] < 0)
		m->efd[vector] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, m->efd[vector]);
	err = set_irqs(m, VFIO_PCI_MSIX_IRQ_INDEX, vector, 1,
		       VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, &m->efd[vector]);
	ASSERT_EQ(0, err) TH_LOG("SET_IRQS MSI-X vector %u: %s", vector, strerror(-err));
}

/* --- descriptors --------------------------------------------------------- */

static struct dsa_completion_record *comp(struct mdev *m, int i)
{
	return (struct dsa_completion_record *)(m->dma + DMA_COMP + i * COMP_STRIDE);
}

/* A descriptor that writes completion record @i (cleared) and asks for it. */
static void desc_init(struct mdev *m, struct dsa_hw_desc *d, __u8 opcode, int i)
{
	memset(d, 0, sizeof(*d));
	memset(comp(m, i), 0, COMP_STRIDE);
	d->opcode = opcode;
	d->flags = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR;
	d->completion_addr = m->iova + DMA_COMP + i * COMP_STRIDE;
}

/* A MEMMOVE of @len bytes from the source to the destination buffer */
static void desc_memmove(struct mdev *m, struct dsa_hw_desc *d, __u32 len, int i)
{
	desc_init(m, d, DSA_OPCODE_MEMMOVE, i);
	d->src_addr = m->iova + DMA_SRC;
	d->dst_addr = m->iova + DMA_DST;
	d->xfer_size = len;
}

static void desc_irq(struct dsa_hw_desc *d, __u16 handle)
{
	d->flags |= IDXD_OP_FLAG_RCI;
	d->int_handle = handle;
}

/* Fills the source with a pattern (@seed) and the destination with poison. */
static void buf_prepare(struct mdev *m, int seed)
{
	int i;

	for (i = 0; i < DMA_BUF_SIZE; i++)
		m->dma[DMA_SRC + i] = (i * 7 + 3 + seed) & 0xff;
	memset(m->dma + DMA_DST, 0xa5, DMA_BUF_SIZE);
}

/* The descriptor is one 64-byte write at the portal's offset 0. */
static int submit(struct mdev *m, const struct dsa_hw_desc *d)
{
	/* The cleared record and the buffers must be in memory first. */
	__sync_synchronize();
	return vfio_region_write(&m->bar2, 0, d, sizeof(*d));
}

#define ASSERT_SUBMIT(m, d) do { \
	int __err = submit(m, d); \
	ASSERT_EQ(0, __err) TH_LOG("portal write: %s", strerror(-__err)); \
} while (0)

/* Waits, bounded, for record @i. Returns its status, 0 on timeout. */
static __u8 comp_wait(struct mdev *m, int i)
{
	__u64 deadline = now_ms() + COMP_TIMEOUT_MS;
	struct dsa_completion_record *cr = comp(m, i);

	/* The status byte is written last: acquire it, then read the rest. */
	while (!__atomic_load_n(&cr->status, __ATOMIC_ACQUIRE) && now_ms() < deadline)
		usleep(100);
	return __atomic_load_n(&cr->status, __ATOMIC_ACQUIRE);
}

#define ASSERT_COMP(m, i, expected) do { \
	struct mdev *__m = (m); \
	__u8 __want = (expected); \
	__u8 __s = comp_wait(__m, i); \
	if (DSA_COMP_STATUS(__s) != __want) \
		log_swerr(_metadata, __m); \
	ASSERT_NE(0, __s) TH_LOG("no completion record within %d ms", COMP_TIMEOUT_MS); \
	ASSERT_EQ(__want, DSA_COMP_STATUS(__s)) \
		TH_LOG("completion status %#x, expected %#x", __s, __want); \
} while (0)

/*
 * Runs a MEMMOVE of @len bytes, record @i, that asks for the completion
 * interrupt @handle names, and waits for both: asserts a success record,
 * returns what the interrupt's eventfd @efd counts (1: one interrupt).
 */
static __u64 memmove_irq(struct __test_metadata *_metadata, struct mdev *m, __u32 len, int i,
			 __u16 handle, int efd)
{
	struct dsa_hw_desc d;

	desc_memmove(m, &d, len, i);
	desc_irq(&d, handle);
	ASSERT_SUBMIT(m, &d);
	ASSERT_COMP(m, i, DSA_COMP_SUCCESS);
	return vfio_irq_wait(efd, IRQ_TIMEOUT_MS);
}

/* Index of the first byte where @a and @b differ, or -1 */
static long first_diff(const unsigned char *a, const unsigned char *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (a[i] != b[i])
			return i;
	return -1;
}

/* All of @len bytes at @p are @c */
static bool all_bytes(const unsigned char *p, unsigned char c, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != c)
			return false;
	return true;
}

/*
 * A ready mdev: open, probed, WQ enabled, MSI-X on with guest vector
 * @vector live; returns the handle for @vector.
 */
static __u16 mdev_ready(struct __test_metadata *_metadata, struct mdev *m, bool iommufd,
			unsigned int vector)
{
	mdev_up(_metadata, m, iommufd);
	if (m->vfio.device < 0)
		return 0;
	guest_probe(_metadata, m);
	guest_enable(_metadata, m);
	msix_enable_no_vec(_metadata, m);
	msix_vector_on(_metadata, m, vector);
	return int_handle(_metadata, m, vector);
}

/* --- the fixture --------------------------------------------------------- */

FIXTURE(dsa_mdev) {
	struct mdev m[2];	/* A and B */
};

FIXTURE_VARIANT(dsa_mdev) {
	bool iommufd;
};

FIXTURE_VARIANT_ADD(dsa_mdev, type1) {
	.iommufd = false,
};

FIXTURE_VARIANT_ADD(dsa_mdev, iommufd) {
	.iommufd = true,
};

/*
 * Nothing here can fail half-way: the harness skips the teardown of a
 * failed setup, which would leave an mdev behind. Each case creates its
 * mdevs itself (mdev_up()).
 */
FIXTURE_SETUP(dsa_mdev)
{
	mdev_init(&self->m[0], DMA_IOVA_A);
	mdev_init(&self->m[1], DMA_IOVA_B);
	if (!parent_bdf[0])
		SKIP(return, "no PCI function offers mdev type %s (mdev WQs enabled?)", MDEV_TYPE);
}

/*
 * In the parent, after the case's process is gone: its fds are closed, so
 * removing what it created cannot block, whatever way it ended.
 */
FIXTURE_TEARDOWN_PARENT(dsa_mdev)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < 2; i++) {
		if (!self->m[i].created)
			continue;
		mdev_path(&self->m[i], "", path, sizeof(path));
		if (exists(path) && mdev_remove(&self->m[i]))
			TH_LOG("could not remove %s", self->m[i].uuid);
	}
}

/* 1. open; GET_INFO, GET_REGION_INFO, GET_IRQ_INFO; config space; DMA map */
TEST_F(dsa_mdev, open_info_map)
{
	static const __u32 present[] = { VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_BAR2_REGION_INDEX,
					 VFIO_PCI_CONFIG_REGION_INDEX };
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_irq_info irq = { .argsz = sizeof(irq) };
	struct vline v[MDEV_MSIX_VECTORS];
	struct mdev *m = &self->m[0];
	__u32 table, pba, bir, end, bar;
	__u8 cfg[MDEV_CONFIG_SIZE];
	struct vfio_region r;
	__u16 vendor, device, flags;
	__u8 msix, pcie;
	__s32 fds[1];
	unsigned int i;
	char buf[64];

	mdev_up(_metadata, m, variant->iommufd);
	if (m->vfio.device < 0)
		return;

	ASSERT_EQ(0, ioctl(m->vfio.device, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_TRUE(info.flags & VFIO_DEVICE_FLAGS_PCI) TH_LOG("flags %#x", info.flags);
	EXPECT_TRUE(info.flags & VFIO_DEVICE_FLAGS_RESET) TH_LOG("flags %#x", info.flags);
	EXPECT_EQ(MDEV_NUM_REGIONS, info.num_regions);
	EXPECT_EQ(MDEV_NUM_IRQS, info.num_irqs);

	/* Regions: BAR0 R/W, BAR2 (portal) write-only, config R/W, no mmap. */
	EXPECT_EQ(MDEV_BAR0_SIZE, m->bar0.size);
	EXPECT_EQ(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE, m->bar0.flags);
	EXPECT_EQ(MDEV_BAR2_SIZE, m->bar2.size);
	EXPECT_EQ(VFIO_REGION_INFO_FLAG_WRITE, m->bar2.flags);
	EXPECT_EQ(MDEV_CONFIG_SIZE, m->config.size);
	EXPECT_EQ(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE, m->config.flags);
	for (i = 0; i < MDEV_NUM_REGIONS; i++) {
		if (i == present[0] || i == present[1] || i == present[2])
			continue;
		region_info(_metadata, m, i, &r);
		EXPECT_EQ(0, r.size) TH_LOG("region %u has %#llx bytes", i,
					    (unsigned long long)r.size);
	}
	TH_LOG("offsets: BAR0 %#llx, BAR2 %#llx, config %#llx",
	       (unsigned long long)m->bar0.offset, (unsigned long long)m->bar2.offset,
	       (unsigned long long)m->config.offset);

	/* Config space: a DSA, PCIe, MSI-X with 8 vectors inside BAR0 */
	ASSERT_EQ(0, cfg_read(m, 0, cfg, sizeof(cfg)))
		TH_LOG("QEMU reads the config space in one %zu-byte pread", sizeof(cfg));
	EXPECT_EQ(DSA_VENDOR_ID, cfg[0] | cfg[1] << 8);
	ASSERT_EQ(0, cfg_read(m, PCI_VENDOR_ID, &vendor, 2));
	ASSERT_EQ(0, cfg_read(m, PCI_DEVICE_ID, &device, 2));
	EXPECT_EQ(DSA_VENDOR_ID, vendor);
	EXPECT_EQ(DSA_DEVICE_ID, device);
	ASSERT_EQ(0, cfg_read(m, PCI_STATUS, &flags, 2));
	EXPECT_TRUE(flags & PCI_STATUS_CAP_LIST);
	/* QEMU takes each BAR's type from its config register: memory, not I/O. */
	ASSERT_EQ(0, cfg_read(m, PCI_BASE_ADDRESS_0, &bar, 4));
	EXPECT_EQ(PCI_BASE_ADDRESS_SPACE_MEMORY, bar & PCI_BASE_ADDRESS_SPACE)
		TH_LOG("BAR0 %#x", bar);
	ASSERT_EQ(0, cfg_read(m, PCI_BASE_ADDRESS_2, &bar, 4));
	EXPECT_EQ(PCI_BASE_ADDRESS_SPACE_MEMORY, bar & PCI_BASE_ADDRESS_SPACE)
		TH_LOG("BAR2 %#x", bar);
	pcie = cfg_find_cap(m, PCI_CAP_ID_EXP);
	EXPECT_NE(0, pcie) TH_LOG("no PCIe capability");
	msix = cfg_find_cap(m, PCI_CAP_ID_MSIX);
	ASSERT_NE(0, msix) TH_LOG("no MSI-X capability");
	ASSERT_EQ(0, cfg_read(m, msix + PCI_MSIX_FLAGS, &flags, 2));
	EXPECT_EQ(MDEV_MSIX_VECTORS, (flags & PCI_MSIX_FLAGS_QSIZE) + 1);
	/*
	 * QEMU emulates the table and PBA over the BAR that holds them: they
	 * must lie inside that BAR and clear of the registers the guest uses.
	 */
	ASSERT_EQ(0, cfg_read(m, msix + PCI_MSIX_TABLE, &table, 4));
	ASSERT_EQ(0, cfg_read(m, msix + PCI_MSIX_PBA, &pba, 4));
	bir = table & PCI_MSIX_TABLE_BIR;
	EXPECT_EQ(0, bir) TH_LOG("MSI-X table in BAR%u", bir);
	end = (table & PCI_MSIX_TABLE_OFFSET) + MDEV_MSIX_VECTORS * PCI_MSIX_ENTRY_SIZE;
	EXPECT_LE(end, m->bar0.size);
	EXPECT_FALSE(over_registers(m, table & PCI_MSIX_TABLE_OFFSET,
				    MDEV_MSIX_VECTORS * PCI_MSIX_ENTRY_SIZE))
		TH_LOG("MSI-X table at %#x, over the registers", table);
	EXPECT_EQ(bir, pba & PCI_MSIX_PBA_BIR);
	EXPECT_LE((pba & PCI_MSIX_PBA_OFFSET) + 8, m->bar0.size);
	EXPECT_FALSE(over_registers(m, pba & PCI_MSIX_PBA_OFFSET, 8))
		TH_LOG("MSI-X PBA at %#x, over the registers", pba);

	/* IRQs: MSI-X resizable (NORESIZE clear), no INTx or MSI, ERR, REQ */
	irq.index = VFIO_PCI_INTX_IRQ_INDEX;
	ASSERT_EQ(0, ioctl(m->vfio.device, VFIO_DEVICE_GET_IRQ_INFO, &irq));
	EXPECT_EQ(0, irq.count);
	irq.index = VFIO_PCI_MSI_IRQ_INDEX;
	ASSERT_EQ(0, ioctl(m->vfio.device, VFIO_DEVICE_GET_IRQ_INFO, &irq));
	EXPECT_EQ(0, irq.count);
	irq.index = VFIO_PCI_MSIX_IRQ_INDEX;
	ASSERT_EQ(0, ioctl(m->vfio.device, VFIO_DEVICE_GET_IRQ_INFO, &irq));
	EXPECT_EQ(MDEV_MSIX_VECTORS, irq.count);
	EXPECT_TRUE(irq.flags & VFIO_IRQ_INFO_EVENTFD) TH_LOG("MSI-X flags %#x", irq.flags);
	EXPECT_FALSE(irq.flags & VFIO_IRQ_INFO_NORESIZE)
		TH_LOG("MSI-X NORESIZE set: QEMU would re-enable every vector for each new one");
	irq.index = VFIO_PCI_ERR_IRQ_INDEX;
	ASSERT_EQ(0, ioctl(m->vfio.device, VFIO_DEVICE_GET_IRQ_INFO, &irq));
	EXPECT_EQ(1, irq.count);
	EXPECT_TRUE(irq.flags & VFIO_IRQ_INFO_EVENTFD);
	irq.index = VFIO_PCI_REQ_IRQ_INDEX;
	ASSERT_EQ(0, ioctl(m->vfio.device, VFIO_DEVICE_GET_IRQ_INFO, &irq));
	EXPECT_EQ(1, irq.count);
	EXPECT_TRUE(irq.flags & VFIO_IRQ_INFO_EVENTFD);

	/* QEMU's realize arms ERR and REQ; both take an eventfd and let go of it. */
	for (i = VFIO_PCI_ERR_IRQ_INDEX; i <= VFIO_PCI_REQ_IRQ_INDEX; i++) {
		fds[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ASSERT_LE(0, fds[0]);
		EXPECT_EQ(0, set_irqs(m, i, 0, 1, VFIO_IRQ_SET_DATA_EVENTFD |
				      VFIO_IRQ_SET_ACTION_TRIGGER, fds)) TH_LOG("index %u", i);
		EXPECT_EQ(0, set_irqs(m, i, 0, 0, VFIO_IRQ_SET_DATA_NONE |
				      VFIO_IRQ_SET_ACTION_TRIGGER, NULL)) TH_LOG("index %u", i);
		close(fds[0]);
	}

	/* The mdev's own sysfs: a PASID, its WQ, no vector yet */
	EXPECT_LT(0, mdev_pasid(_metadata, m));
	ASSERT_EQ(0, mdev_info(m, "wq", buf, sizeof(buf)));
	EXPECT_EQ(0, strncmp(buf, "wq", 2)) TH_LOG("%s: wq '%s'", m->uuid, buf);
	TH_LOG("mdev %s: wq %s, pasid %u", m->uuid, buf, mdev_pasid(_metadata, m));
	EXPECT_EQ(0, read_vectors(m, v, MDEV_MSIX_VECTORS));
}

/* 2. the virtual BAR0 as a guest driver sees it */
TEST_F(dsa_mdev, guest_bar0)
{
	struct mdev *m = &self->m[0];
	__u32 state;
	long sts;
	__u16 h;

	mdev_up(_metadata, m, variant->iommufd);
	if (m->vfio.device < 0)
		return;
	guest_probe(_metadata, m);

	/* One WQ (dedicated), one group, one engine; the opcodes we use */
	EXPECT_EQ(1, WQCAP_NUM_WQS(m->wqcap));
	EXPECT_TRUE(m->wqcap & WQCAP_DEDICATED);
	EXPECT_LT(0, WQCAP_TOTAL_WQ_SIZE(m->wqcap));
	EXPECT_EQ(1, GRPCAP_NUM_GROUPS(rd64(m, DSA_GRPCAP)));
	EXPECT_EQ(1, ENGCAP_NUM_ENGINES(rd64(m, DSA_ENGCAP)));
	EXPECT_TRUE(opcap_has(m, DSA_OPCODE_NOOP));
	EXPECT_TRUE(opcap_has(m, DSA_OPCODE_MEMMOVE));
	EXPECT_TRUE(opcap_has(m, DSA_OPCODE_MEMFILL));
	EXPECT_FALSE(opcap_has(m, BAD_OPCODE));
	EXPECT_TRUE(m->cmdcap & (1U << CMD_REQUEST_INT_HANDLE)) TH_LOG("CMDCAP %#x", m->cmdcap);
	EXPECT_TRUE(m->cmdcap & (1U << CMD_ENABLE_WQ)) TH_LOG("CMDCAP %#x", m->cmdcap);

	guest_enable(_metadata, m);

	/* A handle for vector 1; none for a vector the function lacks. */
	h = int_handle(_metadata, m, 1);
	TH_LOG("vector 1: handle %#x", h);
	sts = dsa_command(m, CMD_REQUEST_INT_HANDLE, MDEV_MSIX_VECTORS, false);
	ASSERT_LE(0, sts);
	EXPECT_NE(0, CMDSTS_ERR(sts)) TH_LOG("handle %#lx granted for vector %d",
					     CMDSTS_RESULT(sts), MDEV_MSIX_VECTORS);

	/* WQCFG is fixed while the WQ is enabled, ENABLE_WQ twice refused. */
	sts = dsa_command(m, CMD_ENABLE_WQ, 0, false);
	ASSERT_LE(0, sts);
	EXPECT_NE(0, CMDSTS_ERR(sts)) TH_LOG("ENABLE_WQ on an enabled WQ accepted");

	/* DISABLE_WQ (a bitmap), then DISABLE_DEVICE, then it all comes back */
	ASSERT_CMD_OK(m, CMD_RELEASE_INT_HANDLE, h);
	ASSERT_CMD_OK(m, CMD_DRAIN_WQ, 1);
	ASSERT_CMD_OK(m, CMD_DISABLE_WQ, 1);
	state = WQCFG_STATE_OF(rd32(m, wq_cfg(m, WQCFG_STATE)));
	EXPECT_EQ(WQCFG_STATE_DISABLED, state);
	ASSERT_CMD_OK(m, CMD_DISABLE_DEVICE, 0);
	EXPECT_EQ(GENSTS_DISABLED, GENSTS_STATE(rd32(m, DSA_GENSTS)));
	guest_enable(_metadata, m);

	/* VFIO_DEVICE_RESET resets the virtual function (GET_INFO says RESET). */
	ASSERT_EQ(0, ioctl(m->vfio.device, VFIO_DEVICE_RESET)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(GENSTS_DISABLED, GENSTS_STATE(rd32(m, DSA_GENSTS)));
	EXPECT_EQ(WQCFG_STATE_DISABLED, WQCFG_STATE_OF(rd32(m, wq_cfg(m, WQCFG_STATE))));
}

/* 3. vector 1 alone, QEMU style; MEMMOVE with a completion interrupt */
TEST_F(dsa_mdev, vector1_memmove_irq)
{
	struct mdev *m = &self->m[0];
	struct vline v[MDEV_MSIX_VECTORS], *l;
	struct dsa_completion_record *cr;
	char path[PATH_MAX], chip[128];
	struct dsa_hw_desc d;
	__u32 pasid;
	__u16 h;
	int n;

	h = mdev_ready(_metadata, m, variant->iommufd, 1);
	if (m->vfio.device < 0)
		return;
	pasid = mdev_pasid(_metadata, m);

	/* One live vector, on an IMS interrupt of the parent, with the PASID */
	n = read_vectors(m, v, MDEV_MSIX_VECTORS);
	ASSERT_EQ(1, n) TH_LOG("%d vector lines", n);
	l = find_vector(v, n, 1);
	ASSERT_NE(NULL, l);
	TH_LOG("vector 1: irq %u, IMS %u, msg %#llx/%#llx, pasid %llu", l->irq, l->ims,
	       l->addr, l->data, l->pasid);
	EXPECT_EQ(pasid, l->pasid);
	EXPECT_EQ(0xfee, l->addr >> 20) TH_LOG("not an x86 MSI address");
	snprintf(path, sizeof(path), "/sys/kernel/irq/%u/chip_name", l->irq);
	ASSERT_EQ(0, sysfs_read(path, chip, sizeof(chip))) TH_LOG("%s", path);
	EXPECT_NE(NULL, strstr(chip, "IMS")) TH_LOG("irq %u is on chip '%s'", l->irq, chip);

	buf_prepare(m, 0);
	EXPECT_EQ(1, memmove_irq(_metadata, m, MOVE_LEN, 0, h, m->efd[1]))
		TH_LOG("no interrupt on vector 1 within %d ms", IRQ_TIMEOUT_MS);
	cr = comp(m, 0);
	EXPECT_EQ(-1, first_diff(m->dma + DMA_SRC, m->dma + DMA_DST, MOVE_LEN));
	EXPECT_TRUE(all_bytes(m->dma + DMA_DST + MOVE_LEN, 0xa5, DMA_BUF_SIZE - MOVE_LEN))
		TH_LOG("bytes past the end were written");
	EXPECT_EQ(0, cr->fault_addr);
	/* Nothing past the 32-byte record is written. */
	EXPECT_TRUE(all_bytes((unsigned char *)cr + 32, 0, COMP_STRIDE - 32));

	/* No RCI, no interrupt */
	buf_prepare(m, 1);
	desc_memmove(m, &d, 256, 1);
	d.int_handle = h;
	ASSERT_SUBMIT(m, &d);
	ASSERT_COMP(m, 1, DSA_COMP_SUCCESS);
	EXPECT_EQ(0, vfio_irq_wait(m->efd[1], QUIET_MS)) TH_LOG("vector 1 fired without RCI");
}

/* 4. vector 2 comes and goes; vector 1 is never touched */
TEST_F(dsa_mdev, vector2_keeps_vector1)
{
	struct vline v1[MDEV_MSIX_VECTORS], v2[MDEV_MSIX_VECTORS], v3[MDEV_MSIX_VECTORS];
	struct mdev *m = &self->m[0];
	struct vline *a, *b;
	const __s32 no_fd = -1;
	__s32 fds[3];
	__u16 h1, h2;
	int i, n;

	h1 = mdev_ready(_metadata, m, variant->iommufd, 1);
	if (m->vfio.device < 0)
		return;
	n = read_vectors(m, v1, MDEV_MSIX_VECTORS);
	ASSERT_EQ(1, n);
	a = find_vector(v1, n, 1);
	ASSERT_NE(NULL, a);

	msix_vector_on(_metadata, m, 2);
	h2 = int_handle(_metadata, m, 2);
	TH_LOG("handles: vector 1 %#x, vector 2 %#x", h1, h2);
	EXPECT_NE(h1, h2);
	n = read_vectors(m, v2, MDEV_MSIX_VECTORS);
	ASSERT_EQ(2, n);
	b = find_vector(v2, n, 1);
	ASSERT_NE(NULL, b);
	EXPECT_EQ(a->irq, b->irq) TH_LOG("vector 1 moved to another host IRQ");
	EXPECT_EQ(a->ims, b->ims) TH_LOG("vector 1 moved to another IMS slot");
	EXPECT_EQ(a->addr, b->addr) TH_LOG("vector 1's message address changed");
	EXPECT_EQ(a->data, b->data) TH_LOG("vector 1's message data changed");
	b = find_vector(v2, n, 2);
	ASSERT_NE(NULL, b);
	EXPECT_NE(a->irq, b->irq);
	EXPECT_NE(a->ims, b->ims);
	EXPECT_EQ(a->pasid, b->pasid);

	/* Each handle fires its own vector only. */
	buf_prepare(m, 2);
	EXPECT_EQ(1, memmove_irq(_metadata, m, 512, 0, h1, m->efd[1])) TH_LOG("vector 1 silent");
	EXPECT_EQ(0, vfio_irq_wait(m->efd[2], QUIET_MS))
		TH_LOG("vector 2 fired for vector 1's work");
	buf_prepare(m, 3);
	EXPECT_EQ(1, memmove_irq(_metadata, m, 512, 1, h2, m->efd[2])) TH_LOG("vector 2 silent");
	EXPECT_EQ(0, vfio_irq_wait(m->efd[1], QUIET_MS))
		TH_LOG("vector 1 fired for vector 2's work");
	EXPECT_EQ(-1, first_diff(m->dma + DMA_SRC, m->dma + DMA_DST, 512));

	/*
	 * QEMU, when the guest enables MSI-X with vectors already in use,
	 * sends one SET_IRQS over 0..n-1, fd -1 for the unused ones. Live
	 * vectors stay where they are.
	 */
	fds[0] = -1;
	fds[1] = m->efd[1];
	fds[2] = m->efd[2];
	ASSERT_EQ(0, set_irqs(m, VFIO_PCI_MSIX_IRQ_INDEX, 0, 3,
			      VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, fds));
	n = read_vectors(m, v3, MDEV_MSIX_VECTORS);
	ASSERT_EQ(2, n);
	for (i = 1; i <= 2; i++) {
		a = find_vector(v2, 2, i);
		b = find_vector(v3, n, i);
		ASSERT_NE(NULL, b) TH_LOG("vector %d gone", i);
		EXPECT_EQ(a->irq, b->irq) TH_LOG("vector %d re-allocated", i);
		EXPECT_EQ(a->ims, b->ims) TH_LOG("vector %d re-allocated", i);
	}
	a = find_vector(v1, 1, 1);
	EXPECT_EQ(1, memmove_irq(_metadata, m, 512, 3, h2, m->efd[2]))
		TH_LOG("vector 2 silent after 0..2");

	/* Loopback triggers (uAPI): DATA_NONE and DATA_BOOL signal the eventfd. */
	EXPECT_EQ(0, set_irqs(m, VFIO_PCI_MSIX_IRQ_INDEX, 2, 1,
			      VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, NULL));
	EXPECT_EQ(1, vfio_irq_wait(m->efd[2], IRQ_TIMEOUT_MS)) TH_LOG("DATA_NONE trigger lost");
	EXPECT_EQ(0, trigger_bool(m, 1, true)) TH_LOG("DATA_BOOL: %s", strerror(errno));
	EXPECT_EQ(1, vfio_irq_wait(m->efd[1], IRQ_TIMEOUT_MS)) TH_LOG("DATA_BOOL trigger lost");
	EXPECT_EQ(0, trigger_bool(m, 1, false)) TH_LOG("DATA_BOOL: %s", strerror(errno));
	EXPECT_EQ(0, vfio_irq_wait(m->efd[1], QUIET_MS)) TH_LOG("DATA_BOOL false triggered");
	EXPECT_EQ(0, vfio_irq_wait(m->efd[2], 0));

	/* fd -1 frees vector 2 alone; vector 1 stays as it was and still fires. */
	ASSERT_EQ(0, set_irqs(m, VFIO_PCI_MSIX_IRQ_INDEX, 2, 1,
			      VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, &no_fd));
	n = read_vectors(m, v2, MDEV_MSIX_VECTORS);
	ASSERT_EQ(1, n);
	b = find_vector(v2, n, 1);
	ASSERT_NE(NULL, b);
	EXPECT_EQ(a->irq, b->irq);
	EXPECT_EQ(a->ims, b->ims);
	EXPECT_EQ(a->addr, b->addr);
	EXPECT_EQ(a->data, b->data);
	EXPECT_EQ(1, memmove_irq(_metadata, m, 512, 2, h1, m->efd[1]))
		TH_LOG("vector 1 silent after 2 freed");
	EXPECT_EQ(0, vfio_irq_wait(m->efd[2], QUIET_MS)) TH_LOG("freed vector 2 fired");

	/* count 0, DATA_NONE: the whole index goes, every IMS vector with it. */
	ASSERT_EQ(0, set_irqs(m, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0,
			      VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, NULL));
	EXPECT_EQ(0, read_vectors(m, v2, MDEV_MSIX_VECTORS));
}

/* 5. two mdevs, two PASIDs: no crossing of interrupts or memory */
TEST_F(dsa_mdev, two_mdevs_isolated)
{
	struct mdev *a = &self->m[0], *b = &self->m[1];
	struct vline va[MDEV_MSIX_VECTORS], vb[MDEV_MSIX_VECTORS], *la;
	char wqa[32], wqb[32];
	__u16 ha, hb, probe[3];
	struct dsa_hw_desc d;
	__u32 pasid_a, pasid_b;
	__u8 s;
	int i, n;

	if (available_instances() < 2)
		SKIP(return, "available_instances %ld: two mdev WQs needed",
		     available_instances());
	ha = mdev_ready(_metadata, a, variant->iommufd, 1);
	if (a->vfio.device < 0)
		return;
	hb = mdev_ready(_metadata, b, variant->iommufd, 1);
	if (b->vfio.device < 0)
		return;
	pasid_a = mdev_pasid(_metadata, a);
	pasid_b = mdev_pasid(_metadata, b);
	EXPECT_NE(pasid_a, pasid_b) TH_LOG("both mdevs have PASID %u", pasid_a);
	ASSERT_EQ(0, mdev_info(a, "wq", wqa, sizeof(wqa)));
	ASSERT_EQ(0, mdev_info(b, "wq", wqb, sizeof(wqb)));
	EXPECT_NE(0, strcmp(wqa, wqb)) TH_LOG("both mdevs on %s", wqa);
	TH_LOG("A: %s pasid %u handle %#x; B: %s pasid %u handle %#x", wqa, pasid_a, ha,
	       wqb, pasid_b, hb);
	n = read_vectors(a, va, MDEV_MSIX_VECTORS);
	ASSERT_EQ(1, n);
	la = find_vector(va, n, 1);
	ASSERT_NE(NULL, la);
	EXPECT_EQ(pasid_a, la->pasid);
	ASSERT_EQ(1, read_vectors(b, vb, MDEV_MSIX_VECTORS));
	EXPECT_EQ(pasid_b, vb[0].pasid);
	EXPECT_NE(la->ims, vb[0].ims);

	/* Each one's work fires its own vector, not the other's. */
	buf_prepare(a, 4);
	EXPECT_EQ(1, memmove_irq(_metadata, a, 256, 0, ha, a->efd[1])) TH_LOG("A's vector silent");
	EXPECT_EQ(0, vfio_irq_wait(b->efd[1], QUIET_MS)) TH_LOG("B's vector fired for A's work");
	buf_prepare(b, 5);
	EXPECT_EQ(1, memmove_irq(_metadata, b, 256, 0, hb, b->efd[1])) TH_LOG("B's vector silent");
	EXPECT_EQ(0, vfio_irq_wait(a->efd[1], QUIET_MS)) TH_LOG("A's vector fired for B's work");

	/* Both at once: each vector counts exactly its own one interrupt. */
	buf_prepare(a, 6);
	buf_prepare(b, 7);
	desc_memmove(a, &d, DMA_BUF_SIZE, 4);
	desc_irq(&d, ha);
	ASSERT_SUBMIT(a, &d);
	desc_memmove(b, &d, DMA_BUF_SIZE, 5);
	desc_irq(&d, hb);
	ASSERT_SUBMIT(b, &d);
	ASSERT_COMP(a, 4, DSA_COMP_SUCCESS);
	ASSERT_COMP(b, 5, DSA_COMP_SUCCESS);
	usleep(QUIET_MS * 1000);
	EXPECT_EQ(1, vfio_irq_wait(a->efd[1], IRQ_TIMEOUT_MS))
		TH_LOG("A: not exactly one interrupt");
	EXPECT_EQ(1, vfio_irq_wait(b->efd[1], IRQ_TIMEOUT_MS))
		TH_LOG("B: not exactly one interrupt");
	EXPECT_EQ(-1, first_diff(a->dma + DMA_SRC, a->dma + DMA_DST, DMA_BUF_SIZE));
	EXPECT_EQ(-1, first_diff(b->dma + DMA_SRC, b->dma + DMA_DST, DMA_BUF_SIZE));

	/*
	 * B names whatever could stand for A's vector: A's handle, A's host
	 * IMS slot, that slot as a DSA IMS handle (bit 15). A's vector stays
	 * silent whatever B's descriptor ends with.
	 */
	probe[0] = ha;
	probe[1] = la->ims;
	probe[2] = la->ims | 0x8000;
	for (i = 0; i < 3; i++) {
		desc_memmove(b, &d, 64, 1 + i);
		desc_irq(&d, probe[i]);
		ASSERT_SUBMIT(b, &d);
		s = comp_wait(b, 1 + i);
		EXPECT_NE(0, s) TH_LOG("B, handle %#x: no completion record", probe[i]);
		TH_LOG("B, handle %#x: status %#x", probe[i], s);
		EXPECT_EQ(0, vfio_irq_wait(a->efd[1], QUIET_MS))
			TH_LOG("B's handle %#x fired A's vector", probe[i]);
		vfio_irq_wait(b->efd[1], 0);
	}

	/*
	 * Memory: an IOVA mapped only in A. B writing there faults and A's
	 * bytes stay; B reading there faults and B's destination stays.
	 */
	buf_prepare(a, 6);
	memcpy(a->dma + DMA_DST, a->dma + DMA_SRC, DMA_BUF_SIZE);
	buf_prepare(b, 7);
	desc_memmove(b, &d, 256, 6);
	d.dst_addr = a->iova + DMA_DST;
	ASSERT_SUBMIT(b, &d);
	ASSERT_COMP(b, 6, DSA_COMP_PAGE_FAULT_NOBOF);
	EXPECT_EQ(-1, first_diff(a->dma + DMA_SRC, a->dma + DMA_DST, DMA_BUF_SIZE))
		TH_LOG("B's descriptor wrote A's memory");
	desc_memmove(b, &d, 256, 7);
	d.src_addr = a->iova + DMA_SRC;
	ASSERT_SUBMIT(b, &d);
	ASSERT_COMP(b, 7, DSA_COMP_PAGE_FAULT_NOBOF);
	EXPECT_TRUE(all_bytes(b->dma + DMA_DST, 0xa5, DMA_BUF_SIZE))
		TH_LOG("B's descriptor read A's memory");
	/* ... and the other way round */
	desc_memmove(a, &d, 256, 5);
	d.dst_addr = b->iova + DMA_DST;
	ASSERT_SUBMIT(a, &d);
	ASSERT_COMP(a, 5, DSA_COMP_PAGE_FAULT_NOBOF);
	EXPECT_TRUE(all_bytes(b->dma + DMA_DST, 0xa5, DMA_BUF_SIZE))
		TH_LOG("A's descriptor wrote B's memory");
}

/* Vector 0 is emulated: command completion, without an IMS vector */
TEST_F(dsa_mdev, vector0_emulated)
{
	struct mdev *m = &self->m[0];
	int base, used;
	long sts;

	mdev_up(_metadata, m, variant->iommufd);
	if (m->vfio.device < 0)
		return;
	guest_probe(_metadata, m);
	guest_enable(_metadata, m);
	base = ims_irqs_in_use();
	msix_enable_no_vec(_metadata, m);
	msix_vector_on(_metadata, m, 0);
	used = ims_irqs_in_use();
	EXPECT_EQ(base, used) TH_LOG("vector 0 took an IMS vector (%d -> %d)", base, used);

	/* A command that asks for an interrupt fires vector 0 and sets INTCAUSE. */
	ASSERT_EQ(0, wr32(m, DSA_INTCAUSE, rd32(m, DSA_INTCAUSE)));
	sts = dsa_command(m, CMD_DRAIN_WQ, 1, true);
	ASSERT_LE(0, sts) TH_LOG("DRAIN_WQ timed out");
	EXPECT_EQ(0, CMDSTS_ERR(sts));
	EXPECT_EQ(1, vfio_irq_wait(m->efd[0], IRQ_TIMEOUT_MS)) TH_LOG("vector 0 silent");
	EXPECT_TRUE(rd32(m, DSA_INTCAUSE) & INTCAUSE_CMD);
	/* INTCAUSE is write-1-to-clear. */
	ASSERT_EQ(0, wr32(m, DSA_INTCAUSE, INTCAUSE_CMD));
	EXPECT_FALSE(rd32(m, DSA_INTCAUSE) & INTCAUSE_CMD);
	/* One that does not ask, does not. */
	EXPECT_EQ(0, dsa_command(m, CMD_DRAIN_WQ, 1, false));
	EXPECT_EQ(0, vfio_irq_wait(m->efd[0], QUIET_MS)) TH_LOG("vector 0 fired unasked");
}

/* 6a. bad ioctl arguments and register accesses */
TEST_F(dsa_mdev, bad_ioctls)
{
	struct vfio_region_info rinfo = { .argsz = sizeof(rinfo) };
	struct vfio_irq_info iinfo = { .argsz = sizeof(iinfo) };
	struct vfio_device_info dinfo = { .argsz = 8 };
	const __u32 trig = VFIO_IRQ_SET_ACTION_TRIGGER;
	struct vline v[MDEV_MSIX_VECTORS];
	struct mdev *m = &self->m[0];
	__s32 fd, closed;
	int err, nfd;
	__u16 w;
	__u32 dw;
	__u64 qw;

	mdev_up(_metadata, m, variant->iommufd);
	if (m->vfio.device < 0)
		return;

	/* GET_INFO, GET_REGION_INFO, GET_IRQ_INFO: short argsz, bad index */
	EXPECT_EQ(-1, ioctl(m->vfio.device, VFIO_DEVICE_GET_INFO, &dinfo));
	EXPECT_EQ(EINVAL, errno);
	rinfo.argsz = 8;
	EXPECT_EQ(-1, ioctl(m->vfio.device, VFIO_DEVICE_GET_REGION_INFO, &rinfo));
	EXPECT_EQ(EINVAL, errno);
	rinfo.argsz = sizeof(rinfo);
	rinfo.index = MDEV_NUM_REGIONS;
	EXPECT_EQ(-1, ioctl(m->vfio.device, VFIO_DEVICE_GET_REGION_INFO, &rinfo));
	EXPECT_EQ(EINVAL, errno);
	rinfo.index = ~0U;
	EXPECT_EQ(-1, ioctl(m->vfio.device, VFIO_DEVICE_GET_REGION_INFO, &rinfo));
	EXPECT_EQ(EINVAL, errno);
	iinfo.argsz = 8;
	iinfo.index = VFIO_PCI_MSIX_IRQ_INDEX;
	EXPECT_EQ(-1, ioctl(m->vfio.device, VFIO_DEVICE_GET_IRQ_INFO, &iinfo));
	EXPECT_EQ(EINVAL, errno);
	iinfo.argsz = sizeof(iinfo);
	iinfo.index = MDEV_NUM_IRQS;
	EXPECT_EQ(-1, ioctl(m->vfio.device, VFIO_DEVICE_GET_IRQ_INFO, &iinfo));
	EXPECT_EQ(EINVAL, errno);

	/* SET_IRQS: every malformed header is EINVAL, and allocates nothing. */
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, fd);
	msix_enable_no_vec(_metadata, m);
	{
		struct vfio_irq_set set = {
			.argsz = 8, .flags = VFIO_IRQ_SET_DATA_NONE | trig,
			.index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 1, .count = 1,
		};

		EXPECT_EQ(-1, ioctl(m->vfio.device, VFIO_DEVICE_SET_IRQS, &set))
			TH_LOG("short argsz");
		EXPECT_EQ(EINVAL, errno);
		/* one eventfd announced, none passed */
		set.argsz = sizeof(set);
		set.flags = VFIO_IRQ_SET_DATA_EVENTFD | trig;
		EXPECT_EQ(-1, ioctl(m->vfio.device, VFIO_DEVICE_SET_IRQS, &set)) TH_LOG("no data");
		EXPECT_EQ(EINVAL, errno);
	}
	err = set_irqs(m, VFIO_PCI_MSIX_IRQ_INDEX, MDEV_MSIX_VECTORS, 1,
		       VFIO_IRQ_SET_DATA_EVENTFD | trig, &fd);
	EXPECT_EQ(-EINVAL, err) TH_LOG("start past the last vector");
	err = set_irqs(m, VFIO_PCI_MSIX_IRQ_INDEX, MDEV_MSIX_VECTORS - 1, 2,
		       VFIO_IRQ_SET_DATA_NONE | trig, NULL);
	EXPECT_EQ(-EINVAL, err) TH_LOG("start + count past the last vector");
	err = set_irqs(m, VFIO_PCI_MSIX_IRQ_INDEX, 1, ~0U, VFIO_IRQ_SET_DATA_NONE | trig, NULL);
	EXPECT_EQ(-EINVAL, err) TH_LOG("start + count wraps");
	err = set_irqs(m, VFIO_PCI_MSIX_IRQ_INDEX, 1, 1,
		       VFIO_IRQ_SET_DATA_EVENTFD | trig | (1U << 9), &fd);
	EXPECT_EQ(-EINVAL, err) TH_LOG("unknown flag");
	err = set_irqs(m, VFIO_PCI_MSIX_IRQ_INDEX, 1, 1,
		       VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_EVENTFD | trig, &fd);
	EXPECT_EQ(-EINVAL, err) TH_LOG("two data types");
	/* (vfio-pci answers these two with ENOTTY; the mdev's interface says EINVAL) */
	err = set_irqs(m, VFIO_PCI_MSIX_IRQ_INDEX, 1, 1, VFIO_IRQ_SET_DATA_NONE, NULL);
	EXPECT_EQ(-EINVAL, err) TH_LOG("no action");
	err = set_irqs(m, VFIO_PCI_MSIX_IRQ_INDEX, 1, 1, VFIO_IRQ_SET_DATA_NONE |
		       VFIO_IRQ_SET_ACTION_MASK | trig, NULL);
	EXPECT_EQ(-EINVAL, err) TH_LOG("two actions");
	err = set_irqs(m, MDEV_NUM_IRQS, 0, 1, VFIO_IRQ_SET_DATA_EVENTFD | trig, &fd);
	EXPECT_EQ(-EINVAL, err) TH_LOG("index past the last");
	err = set_irqs(m, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, VFIO_IRQ_SET_DATA_EVENTFD | trig, &fd);
	EXPECT_EQ(-EINVAL, err) TH_LOG("INTx, which has no line");
	err = set_irqs(m, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, VFIO_IRQ_SET_DATA_EVENTFD | trig, &fd);
	EXPECT_EQ(-EINVAL, err) TH_LOG("MSI, which has no vector");
	err = set_irqs(m, VFIO_PCI_REQ_IRQ_INDEX, 1, 1, VFIO_IRQ_SET_DATA_EVENTFD | trig, &fd);
	EXPECT_EQ(-EINVAL, err) TH_LOG("REQ has one vector");

	/* Bad eventfds: a closed fd number, an fd that is not an eventfd */
	closed = dup(fd);
	ASSERT_LE(0, closed);
	close(closed);
	err = set_irqs(m, VFIO_PCI_MSIX_IRQ_INDEX, 1, 1, VFIO_IRQ_SET_DATA_EVENTFD | trig,
		       &closed);
	EXPECT_TRUE(err == -EBADF || err == -EINVAL) TH_LOG("closed fd: %d", err);
	nfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, nfd);
	err = set_irqs(m, VFIO_PCI_MSIX_IRQ_INDEX, 1, 1, VFIO_IRQ_SET_DATA_EVENTFD | trig, &nfd);
	EXPECT_TRUE(err == -EBADF || err == -EINVAL) TH_LOG("/dev/null as eventfd: %d", err);
	close(nfd);
	EXPECT_EQ(0, read_vectors(m, v, MDEV_MSIX_VECTORS))
		TH_LOG("a refused SET_IRQS left a vector");

	/* ... and the good request still works afterwards. */
	m->efd[1] = fd;
	msix_vector_on(_metadata, m, 1);
	EXPECT_EQ(1, read_vectors(m, v, MDEV_MSIX_VECTORS));

	/* BAR0 takes naturally aligned 4- and 8-byte accesses only. */
	EXPECT_EQ(-1, pread(m->vfio.device, &w, 2, m->bar0.offset + DSA_GENSTS));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pread(m->vfio.device, &dw, 4, m->bar0.offset + DSA_GENSTS + 2));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pread(m->vfio.device, &qw, 8, m->bar0.offset + DSA_GENCAP + 4));
	EXPECT_EQ(EINVAL, errno);
	w = 0;
	EXPECT_EQ(-1, pwrite(m->vfio.device, &w, 2, m->bar0.offset + DSA_GENCTRL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pread(m->vfio.device, &dw, 4, m->bar0.offset + MDEV_BAR0_SIZE));
	EXPECT_TRUE(errno == EINVAL || errno == EFAULT) TH_LOG("past BAR0: %s", strerror(errno));
}

/* 6b. bad descriptors end in a DSA error status, and the WQ goes on */
TEST_F(dsa_mdev, bad_descriptors)
{
	struct mdev *m = &self->m[0];
	struct dsa_completion_record *cr;
	struct dsa_hw_desc d;

	mdev_up(_metadata, m, variant->iommufd);
	if (m->vfio.device < 0)
		return;
	guest_probe(_metadata, m);
	guest_enable(_metadata, m);

	/* outside the user's mappings: source, destination, both directions */
	buf_prepare(m, 8);
	desc_memmove(m, &d, MOVE_LEN, 0);
	d.src_addr = UNMAPPED_IOVA;
	ASSERT_SUBMIT(m, &d);
	ASSERT_COMP(m, 0, DSA_COMP_PAGE_FAULT_NOBOF);
	cr = comp(m, 0);
	TH_LOG("unmapped source: fault_addr %#llx, bytes_completed %u",
	       (unsigned long long)cr->fault_addr, cr->bytes_completed);
	EXPECT_TRUE(all_bytes(m->dma + DMA_DST, 0xa5, DMA_BUF_SIZE));
	desc_memmove(m, &d, MOVE_LEN, 1);
	d.dst_addr = UNMAPPED_IOVA;
	ASSERT_SUBMIT(m, &d);
	ASSERT_COMP(m, 1, DSA_COMP_PAGE_FAULT_NOBOF);
	/* straddling the end of the mapping */
	desc_memmove(m, &d, MOVE_LEN, 2);
	d.dst_addr = m->iova + DMA_SIZE - 0x100;
	ASSERT_SUBMIT(m, &d);
	ASSERT_COMP(m, 2, DSA_COMP_PAGE_FAULT_NOBOF);
	/* an address that wraps */
	desc_memmove(m, &d, MOVE_LEN, 3);
	d.src_addr = ~0ULL - 0x10;
	ASSERT_SUBMIT(m, &d);
	ASSERT_COMP(m, 3, DSA_COMP_PAGE_FAULT_NOBOF);

	/* a bad opcode */
	desc_init(m, &d, BAD_OPCODE, 4);
	ASSERT_SUBMIT(m, &d);
	ASSERT_COMP(m, 4, DSA_COMP_BAD_OPCODE);

	/* The WQ survives them all. */
	buf_prepare(m, 9);
	desc_memmove(m, &d, MOVE_LEN, 5);
	ASSERT_SUBMIT(m, &d);
	ASSERT_COMP(m, 5, DSA_COMP_SUCCESS);
	EXPECT_EQ(-1, first_diff(m->dma + DMA_SRC, m->dma + DMA_DST, MOVE_LEN));
	EXPECT_EQ(GENSTS_ENABLED, GENSTS_STATE(rd32(m, DSA_GENSTS)));

	/* FILL and NOOP, the other supported opcodes */
	desc_init(m, &d, DSA_OPCODE_MEMFILL, 6);
	d.pattern = 0x0123456789abcdefULL;
	d.dst_addr = m->iova + DMA_DST;
	d.xfer_size = 64;
	ASSERT_SUBMIT(m, &d);
	ASSERT_COMP(m, 6, DSA_COMP_SUCCESS);
	EXPECT_EQ(0, memcmp(m->dma + DMA_DST, &d.pattern, 8));
	EXPECT_EQ(0, memcmp(m->dma + DMA_DST + 56, &d.pattern, 8));
	desc_init(m, &d, DSA_OPCODE_NOOP, 7);
	ASSERT_SUBMIT(m, &d);
	ASSERT_COMP(m, 7, DSA_COMP_SUCCESS);
}

/*
 * QEMU's vfio-pci reaches a BAR that is not mmapped through MemoryRegionOps
 * of at most 8 bytes (hw/vfio/region.c: vfio_region_ops), so a guest
 * driver's descriptor arrives as eight 8-byte pwrites. The interface takes
 * one 64-byte pwrite; this case shows whether a QEMU guest can submit.
 */
TEST_F(dsa_mdev, portal_qemu_stores)
{
	struct mdev *m = &self->m[0];
	struct dsa_hw_desc d;
	__u64 q[8];
	ssize_t n;
	int i;

	mdev_up(_metadata, m, variant->iommufd);
	if (m->vfio.device < 0)
		return;
	guest_probe(_metadata, m);
	guest_enable(_metadata, m);
	buf_prepare(m, 10);
	desc_memmove(m, &d, 512, 0);
	memcpy(q, &d, sizeof(q));
	__sync_synchronize();
	n = pwrite(m->vfio.device, &q[0], 8, m->bar2.offset);
	if (n < 0 && errno == EINVAL)
		SKIP(return, "the portal refuses 8-byte writes: a QEMU guest cannot submit");
	ASSERT_EQ(8, n) TH_LOG("portal: %s", strerror(errno));
	for (i = 1; i < 8; i++) {
		n = pwrite(m->vfio.device, &q[i], 8, m->bar2.offset + 8 * i);
		ASSERT_EQ(8, n) TH_LOG("portal + %d: %s", 8 * i, strerror(errno));
	}
	ASSERT_COMP(m, 0, DSA_COMP_SUCCESS);
	EXPECT_EQ(-1, first_diff(m->dma + DMA_SRC, m->dma + DMA_DST, 512));
}

/* Writes "1" to an mdev's remove file: blocks until the device is released. */
struct remover {
	char path[PATH_MAX];
	int err;
	int done;
};

static void *remove_thread(void *arg)
{
	struct remover *r = arg;

	r->err = vfio_sysfs_write(r->path, "1");
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static bool wait_done(struct remover *r, int ms)
{
	__u64 deadline = now_ms() + ms;

	while (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE) && now_ms() < deadline)
		usleep(1000);
	return __atomic_load_n(&r->done, __ATOMIC_ACQUIRE);
}

/* 7. remove while open: REQ fires, the user closes, the remove completes */
TEST_F_TIMEOUT(dsa_mdev, remove_while_open, 60)
{
	struct mdev *m = &self->m[0];
	bool req, blocked, done;
	struct remover r = { 0 };
	char path[PATH_MAX];
	pthread_t thread;
	long avail;
	int err;

	mdev_ready(_metadata, m, variant->iommufd, 1);
	if (m->vfio.device < 0)
		return;
	m->req_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, m->req_efd);
	err = set_irqs(m, VFIO_PCI_REQ_IRQ_INDEX, 0, 1,
		       VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, &m->req_efd);
	ASSERT_EQ(0, err) TH_LOG("SET_IRQS REQ: %s", strerror(-err));
	avail = available_instances();

	mdev_path(m, "remove", r.path, sizeof(r.path));
	ASSERT_EQ(0, pthread_create(&thread, NULL, remove_thread, &r));

	/*
	 * Nothing may ASSERT between here and the close: a failure would exit
	 * with the remover blocked on our own open device.
	 */
	req = vfio_irq_wait(m->req_efd, REQ_TIMEOUT_MS) >= 1;
	blocked = !__atomic_load_n(&r.done, __ATOMIC_ACQUIRE);
	/* The device still answers while the remove waits for us. */
	EXPECT_NE(~0U, rd32(m, DSA_GENSTS)) TH_LOG("BAR0 read failed: %s", strerror(errno));
	mdev_close(m);
	done = wait_done(&r, REMOVE_TIMEOUT_MS);
	if (done)
		pthread_join(thread, NULL);
	else
		pthread_detach(thread);

	EXPECT_TRUE(req) TH_LOG("no REQ interrupt within %d ms", REQ_TIMEOUT_MS);
	EXPECT_TRUE(blocked) TH_LOG("remove returned while the device was open");
	ASSERT_TRUE(done) TH_LOG("remove still blocked %d ms after close", REMOVE_TIMEOUT_MS);
	EXPECT_EQ(0, r.err) TH_LOG("remove: %s", strerror(-r.err));
	if (!r.err)
		m->created = false;
	mdev_path(m, "", path, sizeof(path));
	EXPECT_FALSE(exists(path)) TH_LOG("%s still there", path);
	EXPECT_EQ(avail + 1, available_instances());
}

/* 8. create/open/close/remove cycles leave every IMS slot free */
TEST_F_TIMEOUT(dsa_mdev, create_remove_cycles, 600)
{
	struct mdev *m = &self->m[0];
	long avail, ims_size;
	char path[PATH_MAX];
	int i, base, used, err;
	__u16 h;

	avail = available_instances();
	base = ims_irqs_in_use();
	ASSERT_LE(0, base) TH_LOG("no /sys/kernel/irq");
	ims_size = sysfs_long("/sys/bus/dsa/devices/dsa0/ims_size");
	TH_LOG("IMS slots: %ld, in use before: %d, available instances: %ld",
	       ims_size, base, avail);

	for (i = 0; i < CYCLES; i++) {
		mdev_init(m, DMA_IOVA_A);
		h = mdev_ready(_metadata, m, variant->iommufd, 1);
		if (m->vfio.device < 0)
			return;
		used = ims_irqs_in_use();
		ASSERT_EQ(base + 1, used) TH_LOG("cycle %d: one vector, %d IMS in use", i, used);

		buf_prepare(m, i);
		ASSERT_EQ(1, memmove_irq(_metadata, m, 128, 0, h, m->efd[1]))
			TH_LOG("cycle %d: no interrupt", i);

		/* Closing the device frees its vectors; the mdev stays. */
		mdev_close(m);
		used = ims_irqs_in_use();
		ASSERT_EQ(base, used) TH_LOG("cycle %d: %d IMS in use after close", i, used);
		err = mdev_remove(m);
		ASSERT_EQ(0, err) TH_LOG("cycle %d: remove: %s", i, strerror(-err));
		mdev_path(m, "", path, sizeof(path));
		ASSERT_FALSE(exists(path)) TH_LOG("cycle %d: %s still there", i, path);
		used = ims_irqs_in_use();
		ASSERT_EQ(base, used) TH_LOG("cycle %d: %d IMS in use after remove", i, used);
		ASSERT_EQ(avail, available_instances()) TH_LOG("cycle %d", i);
	}
	TH_LOG("after %d cycles: %d IMS in use, %ld of %ld free", CYCLES, ims_irqs_in_use(),
	       ims_size - ims_irqs_in_use(), ims_size);
}

int main(int argc, char **argv)
{
	find_parent();
	return test_harness_run(argc, argv);
}
