// SPDX-License-Identifier: GPL-2.0
/*
 * Drives an Intel DSA (PCI 8086:0b25) from user space through VFIO, with no
 * kernel driver of ours: the emulated device of tools/testing/qemu (QEMU
 * device "intel-dsa"), bound to vfio-pci in the test VM. It is a tiny
 * userspace DSA driver in the style of upstream's later
 * tools/testing/selftests/vfio/lib/drivers/dsa/dsa.c: one dedicated WQ in
 * group 0, descriptors written to the WQ's portal, completion records and
 * interrupts checked, every wait bounded.
 *
 * What it proves:
 *  - MEMMOVE and FILL move the right bytes and write success records, with
 *    descriptors written as 8- or 4-byte stores into any portal slot;
 *  - a bad opcode or an unmapped address ends in an error record, not a
 *    hang, and the WQ keeps working;
 *  - a descriptor that asks for an interrupt (RCI) fires an MSI-X vector,
 *    and one that does not ask fires nothing;
 *  - an IMS slot programmed with the message of a vfio-armed MSI-X vector
 *    fires that vector; a masked slot holds it until unmasked; a slot bound
 *    to another PASID (or work without PASID) refuses it: the descriptor
 *    ends with INT_HANDLE_INVAL, SWERR records 0x19 and vector 0 fires.
 *
 * Usage: dsa_vfio_test [BDF] [harness options]. Without a BDF, the first
 * 8086:0b25 in /sys/bus/pci/devices is used. The device must be bound to
 * vfio-pci (scripts/vm/suites/dsa-vfio.sh does it).
 *
 * Register layout: Intel DSA Architecture Specification, chapter 9, as
 * mirrored by the Linux 6.12 tree's drivers/dma/idxd/registers.h (kernel
 * internal, so the few offsets and bits needed are defined here). The IMS
 * slot layout is documented with the device model,
 * tools/testing/qemu/docs/dsa.rst.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
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

/* BAR0 registers (DSA spec 9.2; registers.h IDXD_*_OFFSET) */
#define DSA_GENCAP		0x10
#define  GENCAP_CMD_CAP			(1ULL << 4)
#define  GENCAP_MAX_XFER_SHIFT(v)	(((v) >> 16) & 0x1f)
#define  GENCAP_MAX_BATCH_SHIFT(v)	(((v) >> 21) & 0xf)
#define  GENCAP_MAX_IMS_MULT(v)		(((v) >> 25) & 0x3f)
#define DSA_WQCAP		0x20
#define  WQCAP_TOTAL_WQ_SIZE(v)		((v) & 0xffff)
#define  WQCAP_NUM_WQS(v)		(((v) >> 16) & 0xff)
#define  WQCAP_WQCFG_SIZE(v)		(((v) >> 24) & 0xf)
#define  WQCAP_DEDICATED		(1ULL << 49)
#define  WQCAP_OP_CONFIG		(1ULL << 54)
#define DSA_GRPCAP		0x30
#define  GRPCAP_NUM_GROUPS(v)		((v) & 0xff)
#define DSA_ENGCAP		0x38
#define  ENGCAP_NUM_ENGINES(v)		((v) & 0xff)
#define DSA_OPCAP		0x40	/* 256-bit bitmap of supported opcodes */
#define DSA_TABLE_OFFSET	0x60	/* 16-bit fields, in units of 0x100 */
#define  TABLE_GRPCFG(v)		((v) & 0xffff)
#define  TABLE_WQCFG(v)			(((v) >> 16) & 0xffff)
#define  TABLE_IMS(v)			(((v) >> 48) & 0xffff)
#define  TABLE_MULT			0x100
#define DSA_GENCTRL		0x88
#define  GENCTRL_SOFTERR_INT_EN		(1U << 0)
#define DSA_GENSTS		0x90
#define  GENSTS_STATE(v)		((v) & 0x3)
#define  GENSTS_ENABLED			1
#define DSA_INTCAUSE		0x98
#define  INTCAUSE_ERR			(1U << 0)
#define DSA_CMD			0xa0
#define  CMD_OPERAND(v)			((v) & 0xfffff)
#define  CMD_CODE(v)			(((v) & 0x1f) << 20)
#define DSA_CMDSTS		0xa8
#define  CMDSTS_ACTIVE			(1U << 31)
#define  CMDSTS_ERR(v)			((v) & 0xff)
#define  CMDSTS_RESULT(v)		(((v) >> 8) & 0xffff)
#define DSA_CMDCAP		0xb0	/* bit n: command n supported */
#define DSA_SWERR		0xc0	/* four 64-bit words */
#define  SWERR_VALID			(1ULL << 0)
#define  SWERR_OVERFLOW			(1ULL << 1)
#define  SWERR_DESC_VALID		(1ULL << 2)
#define  SWERR_WQ_IDX_VALID		(1ULL << 3)
#define  SWERR_ERROR(v)			(((v) >> 8) & 0xff)
#define  SWERR_WQ_IDX(v)		(((v) >> 16) & 0xff)
#define  SWERR_OPERATION(v)		(((v) >> 32) & 0xff)
#define  SWERR_PASID(v)			(((v) >> 40) & 0xfffff)
#define  SWERR_INVALID_INT_HANDLE	0x19

/* Commands (DSA spec 9.2.13; registers.h enum idxd_cmd) */
#define CMD_ENABLE_DEVICE	1
#define CMD_ENABLE_WQ		6
#define CMD_RESET_DEVICE	5
#define CMD_REQUEST_INT_HANDLE	13
#define CMD_INT_HANDLE_IMS	0x10000	/* operand flag: index is an IMS slot */

/* GRPCFG: 64 bytes per group; WQ bitmap (4 x u64), engine bitmap, flags */
#define GRPCFG_SIZE		64
#define GRPCFG_WQS		0
#define GRPCFG_ENGINES		32
#define GRPCFG_FLAGS		40

/* WQCFG: 32-bit words of one WQ's entry (registers.h union wqcfg) */
#define WQCFG_SIZE_MIN_SHIFT	5	/* entry size is 1 << (5 + WQCAP field) */
#define WQCFG_WQ_SIZE		0
#define WQCFG_THRESHOLD		1
#define WQCFG_MODE		2
#define  WQCFG_MODE_DEDICATED		(1U << 0)
#define  WQCFG_PRIORITY(v)		(((v) & 0xf) << 4)
#define  WQCFG_PASID(v)			(((v) & 0xfffff) << 8)
#define  WQCFG_PASID_EN			(1U << 28)
#define WQCFG_LIMITS		3
#define  WQCFG_MAX_XFER_SHIFT(v)	((v) & 0x1f)
#define  WQCFG_MAX_BATCH_SHIFT(v)	(((v) & 0xf) << 5)
#define WQCFG_STATE		6
#define  WQCFG_STATE_OF(v)		(((v) >> 30) & 0x3)
#define  WQCFG_STATE_ENABLED		1
#define WQCFG_OP_CONFIG		8	/* 8 words, only if WQCAP.op_config */

/* IMS slot: {addr_lo, addr_hi, data, ctrl}, tools/testing/qemu/docs/dsa.rst */
#define IMS_SLOT_SIZE		16
#define IMS_ADDR_LO		0
#define IMS_ADDR_HI		4
#define IMS_DATA		8
#define IMS_CTRL		12
#define  IMS_CTRL_MASK			(1U << 0)
#define  IMS_CTRL_PASID_EN		(1U << 3)
#define  IMS_CTRL_PASID(v)		(((v) & 0xfffff) << 12)
#define IMS_SLOTS_PER_MULT	256

/* int_handle of a descriptor: bit 15 names an IMS slot instead of a vector */
#define INT_HANDLE_IMS		0x8000

/* Portals: BAR2, one 4 KiB page per WQ (unlimited portal, docs/dsa.rst) */
#define PORTAL_STRIDE		0x4000	/* four portal pages per WQ */
#define PORTAL_PAGE		0x1000

/* What the test uses */
#define TEST_WQ			0
#define TEST_WQ_SIZE		16
#define TEST_VECTORS		2	/* 0 = misc, 1 = completions */
#define TEST_VECTOR		1
#define TEST_IMS_SLOT		5	/* not 0: catches a slot index ignored */
#define WQ_PASID		0x42
#define OTHER_PASID		0x43

/*
 * DMA memory: one anonymous buffer mapped at DMA_IOVA. Nothing is ever
 * mapped at UNMAPPED_IOVA, so the IOMMU faults any access there.
 */
#define DMA_IOVA		0x10000000ULL
#define DMA_SIZE		0x10000
#define DMA_SRC			0x0000
#define DMA_DST			0x4000
#define DMA_BUF_SIZE		0x4000
#define DMA_COMP		0x8000
#define UNMAPPED_IOVA		0x40000000ULL
/*
 * A completion record must be 32-byte aligned (else CRA_ALIGN); give each
 * 64 bytes so that records never share a cache line.
 */
#define COMP_STRIDE		64

/* Bounds on every wait, generous for TCG on a loaded host */
#define CMD_TIMEOUT_MS		2000
#define COMP_TIMEOUT_MS		2000
#define IRQ_TIMEOUT_MS		2000
/* How long "no interrupt" is watched, after the completion record is in */
#define QUIET_MS		300

static char dsa_bdf[NAME_MAX + 1];

struct dsa_test {
	struct vfio_dev vfio;
	struct vfio_region bar0;
	struct vfio_region bar2;
	struct vfio_region config;
	unsigned char *dma;	/* CPU view of DMA_IOVA */
	bool dma_mapped;
	int efd[TEST_VECTORS];
	bool msix_enabled;

	__u64 gencap;
	__u64 wqcap;
	__u32 cmdcap;
	__u64 opcap[4];
	__u64 grpcfg;		/* BAR0 offsets of the tables */
	__u64 wqcfg;
	__u64 ims;
	__u32 wqcfg_size;	/* bytes per WQ */
	__u32 ims_slots;
};

/* --- small helpers ------------------------------------------------------ */

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static int sysfs_read_hex(const char *bdf, const char *attr, unsigned long *val)
{
	char path[PATH_MAX];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	ret = fscanf(f, "%lx", val) == 1 ? 0 : -EINVAL;
	fclose(f);
	return ret;
}

static bool is_dsa(const char *bdf)
{
	unsigned long vendor, device;

	return !sysfs_read_hex(bdf, "vendor", &vendor) &&
	       !sysfs_read_hex(bdf, "device", &device) &&
	       vendor == DSA_VENDOR_ID && device == DSA_DEVICE_ID;
}

/* Fills dsa_bdf with the first 8086:0b25 function, if any. */
static void dsa_find_device(void)
{
	struct dirent *de;
	DIR *d;

	d = opendir("/sys/bus/pci/devices");
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] != '.' && is_dsa(de->d_name)) {
			snprintf(dsa_bdf, sizeof(dsa_bdf), "%s", de->d_name);
			break;
		}
	}
	closedir(d);
}

/* --- register access: mmap when VFIO allows it, else pread/pwrite ------- */

/*
 * MMIO accessors: one x86 mov of exactly that width, like the kernel's
 * readl()/writel() (arch/x86/include/asm/io.h), so that the device sees
 * every access as written: never merged, split, reordered or elided.
 */
static inline __u32 mmio_read32(const void *addr)
{
	__u32 v;

	asm volatile("movl %1, %0" : "=r" (v) : "m" (*(const __u32 *)addr) : "memory");
	return v;
}

static inline void mmio_write32(void *addr, __u32 v)
{
	asm volatile("movl %1, %0" : "=m" (*(__u32 *)addr) : "r" (v) : "memory");
}

static inline __u64 mmio_read64(const void *addr)
{
	__u64 v;

	asm volatile("movq %1, %0" : "=r" (v) : "m" (*(const __u64 *)addr) : "memory");
	return v;
}

static inline void mmio_write64(void *addr, __u64 v)
{
	asm volatile("movq %1, %0" : "=m" (*(__u64 *)addr) : "r" (v) : "memory");
}

static __u32 rd32(struct vfio_region *r, __u64 off)
{
	__u32 v = ~0U;

	if (r->map)
		return mmio_read32(r->map + off);
	if (vfio_region_read(r, off, &v, 4))
		return ~0U;
	return v;
}

static void wr32(struct vfio_region *r, __u64 off, __u32 v)
{
	int err;

	if (r->map) {
		mmio_write32(r->map + off, v);
		return;
	}
	err = vfio_region_write(r, off, &v, 4);
	if (err)
		fprintf(stderr, "# pwrite32 at %#llx failed: %s\n",
			(unsigned long long)off, strerror(-err));
}

static __u64 rd64(struct vfio_region *r, __u64 off)
{
	__u64 v = ~0ULL;

	if (r->map)
		return mmio_read64(r->map + off);
	if (vfio_region_read(r, off, &v, 8))
		return ~0ULL;
	return v;
}

static void wr64(struct vfio_region *r, __u64 off, __u64 v)
{
	int err;

	if (r->map) {
		mmio_write64(r->map + off, v);
		return;
	}
	err = vfio_region_write(r, off, &v, 8);
	if (err)
		fprintf(stderr, "# pwrite64 at %#llx failed: %s\n",
			(unsigned long long)off, strerror(-err));
}

static int cfg_read(struct dsa_test *t, __u32 reg, void *buf, size_t len)
{
	return vfio_region_read(&t->config, reg, buf, len);
}

static int cfg_write(struct dsa_test *t, __u32 reg, const void *buf, size_t len)
{
	return vfio_region_write(&t->config, reg, buf, len);
}

/* --- VFIO plumbing ------------------------------------------------------- */

static void region_setup(struct __test_metadata *_metadata, struct dsa_test *t,
			 __u32 index, struct vfio_region *r, bool want_map)
{
	void *p;

	ASSERT_EQ(0, vfio_region_get(&t->vfio, index, r)) TH_LOG("%s", t->vfio.err);
	ASSERT_NE(0, r->size) TH_LOG("region %u is empty", index);
	if (!want_map)
		return;
	if (!(r->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		TH_LOG("region %u is not mmappable: using pread/pwrite", index);
		return;
	}
	p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, r->offset);
	if (p == MAP_FAILED) {
		TH_LOG("region %u: mmap failed (%s), using pread/pwrite", index, strerror(errno));
		return;
	}
	r->map = p;
}

/*
 * Opens the device through the VFIO type1 container API and maps the DMA
 * buffer. Returns false (with the test marked SKIP) when the machine lacks
 * the device or VFIO.
 */
static bool dsa_open(struct __test_metadata *_metadata, struct dsa_test *t)
{
	struct vfio_device_info dinfo = { .argsz = sizeof(dinfo) };
	char name[64], dir[PATH_MAX];
	__u16 cmd;
	int i, ret;

	vfio_dev_init(&t->vfio);
	for (i = 0; i < TEST_VECTORS; i++)
		t->efd[i] = -1;

	if (!dsa_bdf[0])
		SKIP(return false, "no %04x:%04x device in /sys/bus/pci/devices (QEMU -device intel-dsa?)",
		     DSA_VENDOR_ID, DSA_DEVICE_ID);
	ASSERT_TRUE(is_dsa(dsa_bdf)) TH_LOG("%s is not a %04x:%04x device", dsa_bdf,
					    DSA_VENDOR_ID, DSA_DEVICE_ID);
	if (access("/dev/vfio/vfio", F_OK))
		SKIP(return false, "no /dev/vfio/vfio (CONFIG_VFIO_CONTAINER=y?)");
	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s", dsa_bdf);
	vfio_sysfs_link(dir, "driver", name, sizeof(name));
	if (strcmp(name, "vfio-pci"))
		SKIP(return false, "%s is bound to '%s', not vfio-pci", dsa_bdf, name);
	vfio_sysfs_link(dir, "iommu_group", name, sizeof(name));
	if (!name[0])
		SKIP(return false, "%s has no IOMMU group (no -device intel-iommu?)", dsa_bdf);

	ret = vfio_type1_open(&t->vfio, name, dsa_bdf);
	if (ret == -EOPNOTSUPP)
		SKIP(return false, "no VFIO type1v2 IOMMU (CONFIG_VFIO_IOMMU_TYPE1=y?)");
	/* Not viable: a device of the group is not bound to vfio-pci. */
	ASSERT_EQ(0, ret) TH_LOG("%s", t->vfio.err);
	ASSERT_EQ(0, ioctl(t->vfio.device, VFIO_DEVICE_GET_INFO, &dinfo));
	ASSERT_TRUE(dinfo.flags & VFIO_DEVICE_FLAGS_PCI);
	ASSERT_LT(VFIO_PCI_CONFIG_REGION_INDEX, dinfo.num_regions);
	ASSERT_LT(VFIO_PCI_MSIX_IRQ_INDEX, dinfo.num_irqs);

	region_setup(_metadata, t, VFIO_PCI_BAR0_REGION_INDEX, &t->bar0, true);
	region_setup(_metadata, t, VFIO_PCI_BAR2_REGION_INDEX, &t->bar2, true);
	region_setup(_metadata, t, VFIO_PCI_CONFIG_REGION_INDEX, &t->config, false);

	/* Memory decode for the BARs, bus mastering for descriptors and MSIs */
	ASSERT_EQ(0, cfg_read(t, PCI_COMMAND, &cmd, sizeof(cmd)));
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	ASSERT_EQ(0, cfg_write(t, PCI_COMMAND, &cmd, sizeof(cmd)));

	t->dma = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, t->dma);
	memset(t->dma, 0, DMA_SIZE);
	ASSERT_EQ(0, vfio_dma_map(&t->vfio, t->dma, DMA_IOVA, DMA_SIZE))
		TH_LOG("%s", t->vfio.err);
	t->dma_mapped = true;
	return true;
}

/* Arms MSI-X vectors 0..TEST_VECTORS-1, each with its own eventfd. */
static void msix_arm(struct __test_metadata *_metadata, struct dsa_test *t)
{
	struct vfio_irq_info irq = { .argsz = sizeof(irq), .index = VFIO_PCI_MSIX_IRQ_INDEX };

	ASSERT_EQ(0, ioctl(t->vfio.device, VFIO_DEVICE_GET_IRQ_INFO, &irq));
	ASSERT_LE(TEST_VECTORS, irq.count) TH_LOG("only %u MSI-X vectors", irq.count);
	ASSERT_EQ(0, vfio_eventfds_open(t->efd, TEST_VECTORS));
	ASSERT_EQ(0, vfio_set_irqs(&t->vfio, VFIO_PCI_MSIX_IRQ_INDEX, 0, TEST_VECTORS,
				   VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, t->efd))
		TH_LOG("%s", t->vfio.err);
	t->msix_enabled = true;
}

/* --- the userspace DSA driver -------------------------------------------- */

static void dsa_log_swerr(struct __test_metadata *_metadata, struct dsa_test *t)
{
	__u64 e[4];
	int i;

	for (i = 0; i < 4; i++)
		e[i] = rd64(&t->bar0, DSA_SWERR + 8 * i);
	if (!(e[0] & SWERR_VALID))
		return;
	TH_LOG("SWERR %#018llx %#018llx %#018llx %#018llx",
	       (unsigned long long)e[0], (unsigned long long)e[1],
	       (unsigned long long)e[2], (unsigned long long)e[3]);
	TH_LOG("  error %#x%s, operation %#llx, wq %llu%s, pasid %#llx%s",
	       (unsigned int)SWERR_ERROR(e[0]),
	       e[0] & SWERR_OVERFLOW ? " (overflow)" : "",
	       (unsigned long long)SWERR_OPERATION(e[0]),
	       (unsigned long long)SWERR_WQ_IDX(e[0]),
	       e[0] & SWERR_WQ_IDX_VALID ? "" : " (invalid)",
	       (unsigned long long)SWERR_PASID(e[0]),
	       e[0] & SWERR_DESC_VALID ? "" : ", no descriptor");
	TH_LOG("  invalid flags / int handle %#llx, fault address %#llx",
	       (unsigned long long)(e[1] >> 32), (unsigned long long)e[2]);
}

/*
 * Issues a command and waits, bounded, for CMDSTS.active to clear.
 * Returns CMDSTS (error code in bits 7:0, result in 23:8), or -ETIMEDOUT.
 */
static long dsa_command(struct dsa_test *t, __u32 cmd, __u32 operand)
{
	__u64 deadline = now_ms() + CMD_TIMEOUT_MS;
	__u32 sts;

	/*
	 * The device ignores a command written while another is active, so
	 * make sure none is before writing CMD.
	 */
	while (rd32(&t->bar0, DSA_CMDSTS) & CMDSTS_ACTIVE) {
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(100);
	}
	wr32(&t->bar0, DSA_CMD, CMD_CODE(cmd) | CMD_OPERAND(operand));
	for (;;) {
		sts = rd32(&t->bar0, DSA_CMDSTS);
		if (!(sts & CMDSTS_ACTIVE))
			return sts;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(100);
	}
}

static void dsa_close(struct dsa_test *t)
{
	/* Quiesce the device before its DMA memory goes away. */
	if (t->bar0.size)
		dsa_command(t, CMD_RESET_DEVICE, 0);
	if (t->msix_enabled)
		vfio_set_irqs(&t->vfio, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0,
			      VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, NULL);
	if (t->dma_mapped)
		vfio_dma_unmap(&t->vfio, DMA_IOVA, DMA_SIZE);
	vfio_eventfds_close(t->efd, TEST_VECTORS);
	if (t->bar0.map)
		munmap(t->bar0.map, t->bar0.size);
	if (t->bar2.map)
		munmap(t->bar2.map, t->bar2.size);
	vfio_dev_close(&t->vfio);
}

#define ASSERT_CMD_OK(t, cmd, operand) do { \
	long __sts = dsa_command(t, cmd, operand); \
	if (__sts) \
		dsa_log_swerr(_metadata, t); \
	ASSERT_EQ(0, __sts) TH_LOG("command %u (operand %#x): %s, CMDSTS %#lx", \
				   cmd, operand, __sts < 0 ? "timed out" : "failed", \
				   __sts < 0 ? 0 : __sts); \
} while (0)

/* Resets the device and reads what the test needs from its capabilities. */
static void dsa_probe(struct __test_metadata *_metadata, struct dsa_test *t)
{
	__u64 tbl;
	int i;

	ASSERT_CMD_OK(t, CMD_RESET_DEVICE, 0);

	t->gencap = rd64(&t->bar0, DSA_GENCAP);
	t->wqcap = rd64(&t->bar0, DSA_WQCAP);
	for (i = 0; i < 4; i++)
		t->opcap[i] = rd64(&t->bar0, DSA_OPCAP + 8 * i);
	t->cmdcap = t->gencap & GENCAP_CMD_CAP ? rd32(&t->bar0, DSA_CMDCAP) : 0;
	tbl = rd64(&t->bar0, DSA_TABLE_OFFSET);
	t->grpcfg = TABLE_GRPCFG(tbl) * TABLE_MULT;
	t->wqcfg = TABLE_WQCFG(tbl) * TABLE_MULT;
	t->ims = TABLE_IMS(tbl) * TABLE_MULT;
	t->wqcfg_size = 1U << (WQCAP_WQCFG_SIZE(t->wqcap) + WQCFG_SIZE_MIN_SHIFT);
	t->ims_slots = GENCAP_MAX_IMS_MULT(t->gencap) * IMS_SLOTS_PER_MULT;

	ASSERT_NE(~0ULL, t->gencap) TH_LOG("BAR0 reads all ones: device gone?");
	ASSERT_LT(0, WQCAP_NUM_WQS(t->wqcap));
	ASSERT_TRUE(t->wqcap & WQCAP_DEDICATED) TH_LOG("no dedicated WQ mode in WQCAP");
	ASSERT_LT(0, GRPCAP_NUM_GROUPS(rd64(&t->bar0, DSA_GRPCAP)));
	ASSERT_LT(0, ENGCAP_NUM_ENGINES(rd64(&t->bar0, DSA_ENGCAP)));
	ASSERT_NE(0, t->grpcfg);
	ASSERT_NE(0, t->wqcfg);
	ASSERT_LT(t->wqcfg + t->wqcfg_size, t->bar0.size);
}

static bool opcap_has(struct dsa_test *t, unsigned int op)
{
	return t->opcap[op / 64] & (1ULL << (op % 64));
}

/*
 * Puts WQ 0 and engine 0 in group 0, configures WQ 0 as a dedicated WQ
 * (with @pasid if @pasid_en), enables the device and the WQ. Returns the
 * ENABLE_WQ status (0 on success); any other failure aborts the test.
 */
static long dsa_setup_wq(struct __test_metadata *_metadata, struct dsa_test *t,
			 bool pasid_en, __u32 pasid)
{
	__u64 wq = t->wqcfg + TEST_WQ * t->wqcfg_size;
	__u32 size, mode, state;
	long sts;
	int i;

	/*
	 * A WQ only runs when its group also owns an engine; group 0 gets
	 * both. GRPCFG is writable only while the device is disabled, and
	 * RESET_DEVICE cleared every other group.
	 */
	wr64(&t->bar0, t->grpcfg + GRPCFG_WQS, 1ULL << TEST_WQ);
	wr64(&t->bar0, t->grpcfg + GRPCFG_ENGINES, 1ULL << 0);
	wr64(&t->bar0, t->grpcfg + GRPCFG_FLAGS, 0);

	/*
	 * WQ sizes come from a shared pool (WQCAP.total_wq_size) and a WQ of
	 * size 0 cannot be enabled. Priority must be 1..15. A dedicated WQ
	 * takes the PASID of its work from WQCFG, never from the descriptor.
	 * The per-WQ transfer and batch limits may not exceed GENCAP's (else
	 * ENABLE_WQ fails); set them to GENCAP's, as the idxd driver does.
	 */
	size = WQCAP_TOTAL_WQ_SIZE(t->wqcap);
	if (size > TEST_WQ_SIZE)
		size = TEST_WQ_SIZE;
	mode = WQCFG_MODE_DEDICATED | WQCFG_PRIORITY(1);
	if (pasid_en)
		mode |= WQCFG_PASID_EN | WQCFG_PASID(pasid);
	wr32(&t->bar0, wq + 4 * WQCFG_WQ_SIZE, size);
	wr32(&t->bar0, wq + 4 * WQCFG_THRESHOLD, 0);
	wr32(&t->bar0, wq + 4 * WQCFG_MODE, mode);
	wr32(&t->bar0, wq + 4 * WQCFG_LIMITS,
	     WQCFG_MAX_XFER_SHIFT(GENCAP_MAX_XFER_SHIFT(t->gencap)) |
	     WQCFG_MAX_BATCH_SHIFT(GENCAP_MAX_BATCH_SHIFT(t->gencap)));
	/* With per-WQ operation config, a clear bit refuses that opcode. */
	if ((t->wqcap & WQCAP_OP_CONFIG) && t->wqcfg_size >= 64)
		for (i = 0; i < 8; i++)
			wr32(&t->bar0, wq + 4 * (WQCFG_OP_CONFIG + i),
			     t->opcap[i / 2] >> (32 * (i % 2)));

	/* Software errors (SWERR) raise the misc vector 0. */
	wr32(&t->bar0, DSA_GENCTRL, GENCTRL_SOFTERR_INT_EN);

	ASSERT_CMD_OK(t, CMD_ENABLE_DEVICE, 0);
	ASSERT_EQ(GENSTS_ENABLED, GENSTS_STATE(rd32(&t->bar0, DSA_GENSTS)));

	/* ENABLE_WQ takes the WQ index (not a bitmap, unlike DISABLE_WQ). */
	sts = dsa_command(t, CMD_ENABLE_WQ, TEST_WQ);
	ASSERT_LE(0, sts) TH_LOG("ENABLE_WQ timed out");
	if (sts) {
		dsa_log_swerr(_metadata, t);
		return sts;
	}
	state = WQCFG_STATE_OF(rd32(&t->bar0, wq + 4 * WQCFG_STATE));
	ASSERT_EQ(WQCFG_STATE_ENABLED, state) TH_LOG("WQ %d state %u after ENABLE_WQ",
						     TEST_WQ, state);
	return 0;
}

/*
 * The handle a descriptor names an interrupt with. When CMDCAP offers
 * REQUEST_INT_HANDLE the device may accept only handles it granted, so ask
 * for one; otherwise the handle is the vector, or the IMS slot | bit 15.
 */
static __u16 dsa_int_handle(struct __test_metadata *_metadata, struct dsa_test *t,
			    __u32 index, bool ims)
{
	__u32 operand = index | (ims ? CMD_INT_HANDLE_IMS : 0);
	long sts;

	if (!(t->cmdcap & (1U << CMD_REQUEST_INT_HANDLE)))
		return index | (ims ? INT_HANDLE_IMS : 0);
	sts = dsa_command(t, CMD_REQUEST_INT_HANDLE, operand);
	ASSERT_LE(0, sts) TH_LOG("REQUEST_INT_HANDLE(%#x) timed out", operand);
	ASSERT_EQ(0, CMDSTS_ERR(sts)) TH_LOG("REQUEST_INT_HANDLE(%#x): CMDSTS %#lx",
					     operand, sts);
	/* IMS handles keep bit 15 set so that the device can tell them apart. */
	EXPECT_EQ(ims, !!(CMDSTS_RESULT(sts) & INT_HANDLE_IMS))
		TH_LOG("granted handle %#lx for %s %u", CMDSTS_RESULT(sts),
		       ims ? "IMS slot" : "vector", index);
	return CMDSTS_RESULT(sts);
}

static struct dsa_completion_record *comp(struct dsa_test *t, int i)
{
	return (struct dsa_completion_record *)(t->dma + DMA_COMP + i * COMP_STRIDE);
}

static __u64 comp_iova(int i)
{
	return DMA_IOVA + DMA_COMP + i * COMP_STRIDE;
}

/* A descriptor that writes completion record @i, which is cleared. */
static void desc_init(struct dsa_test *t, struct dsa_hw_desc *d, __u8 opcode, int i)
{
	memset(d, 0, sizeof(*d));
	memset(comp(t, i), 0, COMP_STRIDE);
	d->opcode = opcode;
	/* CRAV: completion_addr is valid; RCR: write the record on success too */
	d->flags = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR;
	d->completion_addr = comp_iova(i);
}

static void desc_irq(struct dsa_hw_desc *d, __u16 handle)
{
	d->flags |= IDXD_OP_FLAG_RCI;
	d->int_handle = handle;
}

/*
 * Writes descriptor @d into the 64-byte slot at @off of the WQ's portal
 * page with @width-byte stores (4 or 8). A real DSA portal takes only one
 * 64-byte atomic store (MOVDIR64B for a dedicated WQ); TCG implements no
 * MOVDIR64B, so the emulated device also assembles a descriptor from
 * eight 8-byte (or sixteen 4-byte) stores into one 64-byte slot, the last
 * byte written submitting it (docs/dsa.rst). This test targets the
 * emulated device only.
 */
static void portal_write(struct dsa_test *t, const struct dsa_hw_desc *d,
			 __u32 off, int width)
{
	__u64 base = TEST_WQ * PORTAL_STRIDE + off;
	__u64 q[8];
	__u32 w[16];
	int i;

	memcpy(q, d, sizeof(q));
	memcpy(w, d, sizeof(w));
	/* The cleared record and the buffers must be in memory first. */
	__sync_synchronize();
	for (i = 0; i < 64 / width; i++) {
		if (width == 8)
			wr64(&t->bar2, base + 8 * i, q[i]);
		else
			wr32(&t->bar2, base + 4 * i, w[i]);
	}
	__sync_synchronize();
}

static void dsa_submit(struct dsa_test *t, const struct dsa_hw_desc *d)
{
	portal_write(t, d, 0, 8);
}

/* Waits, bounded, for record @i. Returns its status, 0 on timeout. */
static __u8 comp_wait(struct dsa_test *t, int i)
{
	__u64 deadline = now_ms() + COMP_TIMEOUT_MS;
	struct dsa_completion_record *cr = comp(t, i);
	__u8 s;

	/*
	 * The device writes the status byte last: acquire it, then the rest
	 * of the record is valid.
	 */
	while (!(s = __atomic_load_n(&cr->status, __ATOMIC_ACQUIRE)) && now_ms() < deadline)
		usleep(100);
	return __atomic_load_n(&cr->status, __ATOMIC_ACQUIRE);
}

#define ASSERT_COMP(t, i, expected) do { \
	__u8 __s = comp_wait(t, i); \
	if (__s != (expected)) \
		dsa_log_swerr(_metadata, t); \
	ASSERT_NE(0, __s) TH_LOG("no completion record within %d ms", COMP_TIMEOUT_MS); \
	ASSERT_EQ(expected, __s) TH_LOG("completion status %#x, expected %#x", \
					__s, expected); \
} while (0)

/*
 * Reads MSI-X table entry @vector ({addr_lo, addr_hi, data, ctrl}) as the
 * kernel programmed it for vfio-pci. vfio-pci hides the table from region
 * reads, so read the BAR that holds it through sysfs (root, read-only);
 * where the table lives is read from the MSI-X capability, never assumed.
 */
static void msix_entry(struct __test_metadata *_metadata, struct dsa_test *t,
		       unsigned int vector, __u32 entry[4])
{
	__u8 pos = 0, id = 0;
	__u32 table, bir, off;
	char path[PATH_MAX];
	size_t len;
	int fd, n;
	void *p;

	ASSERT_EQ(0, cfg_read(t, PCI_CAPABILITY_LIST, &pos, 1));
	for (n = 0; pos && n < 48; n++) {
		pos &= ~3;
		ASSERT_EQ(0, cfg_read(t, pos + PCI_CAP_LIST_ID, &id, 1));
		if (id == PCI_CAP_ID_MSIX)
			break;
		ASSERT_EQ(0, cfg_read(t, pos + PCI_CAP_LIST_NEXT, &pos, 1));
	}
	ASSERT_EQ(PCI_CAP_ID_MSIX, id) TH_LOG("no MSI-X capability");
	ASSERT_EQ(0, cfg_read(t, pos + PCI_MSIX_TABLE, &table, 4));
	bir = table & PCI_MSIX_TABLE_BIR;
	off = table & PCI_MSIX_TABLE_OFFSET;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%u", dsa_bdf, bir);
	len = off + (vector + 1) * PCI_MSIX_ENTRY_SIZE;
	fd = open(path, O_RDONLY);
	p = fd < 0 ? MAP_FAILED : mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (fd >= 0)
		close(fd);
	if (p != MAP_FAILED) {
		for (n = 0; n < 4; n++)
			entry[n] = mmio_read32(p + off + vector * PCI_MSIX_ENTRY_SIZE + 4 * n);
		munmap(p, len);
	} else {
		/*
		 * vfio-pci lets a BAR holding the MSI-X table be mmapped
		 * whole (VFIO_REGION_INFO_CAP_MSIX_MAPPABLE), so the VFIO
		 * mapping of BAR0 shows the table too.
		 */
		TH_LOG("%s: %s; reading the table through the VFIO mapping",
		       path, strerror(errno));
		ASSERT_TRUE(bir == 0 && t->bar0.map && len <= t->bar0.size)
			TH_LOG("MSI-X table in BAR%u, which is not mapped", bir);
		for (n = 0; n < 4; n++)
			entry[n] = mmio_read32(t->bar0.map + off +
					       vector * PCI_MSIX_ENTRY_SIZE + 4 * n);
	}

	TH_LOG("MSI-X BAR%u+%#x vector %u: addr %#x:%08x data %#x ctrl %#x",
	       bir, off, vector, entry[1], entry[0], entry[2], entry[3]);
	/* An x86 MSI targets the 0xfeexxxxx window, remappable format or not. */
	ASSERT_EQ(0xfee, entry[0] >> 20) TH_LOG("vector %u is not programmed", vector);
}

static __u64 ims_slot(struct dsa_test *t, unsigned int slot)
{
	return t->ims + slot * IMS_SLOT_SIZE;
}

/*
 * Copies MSI-X vector @vector's message into IMS slot @slot, then writes
 * @ctrl (mask, PASID) to the slot.
 *
 * Why a copied message works: with interrupt remapping the kernel gave
 * vfio's vector a remappable-format message (an IRTE handle in the
 * address, a subhandle in the data), not a CPU destination. The device
 * posts an IMS slot's message as a write with its own requester ID, the
 * same one MSI-X uses, so the IRTE's source-id check passes and the
 * interrupt lands on the kernel's handler for that vector, which signals
 * the vector's eventfd.
 */
static void ims_route(struct __test_metadata *_metadata, struct dsa_test *t,
		      unsigned int slot, unsigned int vector, __u32 ctrl)
{
	__u32 entry[4];

	ASSERT_NE(0, t->ims) TH_LOG("TABLE_OFFSET has no IMS table");
	ASSERT_LT(slot, t->ims_slots) TH_LOG("GENCAP offers %u IMS slots", t->ims_slots);
	ASSERT_LT(ims_slot(t, slot) + IMS_SLOT_SIZE, t->bar0.size);
	msix_entry(_metadata, t, vector, entry);

	/* Never let a slot be live with a half-written message: mask first. */
	wr32(&t->bar0, ims_slot(t, slot) + IMS_CTRL, IMS_CTRL_MASK);
	wr32(&t->bar0, ims_slot(t, slot) + IMS_ADDR_LO, entry[0]);
	wr32(&t->bar0, ims_slot(t, slot) + IMS_ADDR_HI, entry[1]);
	wr32(&t->bar0, ims_slot(t, slot) + IMS_DATA, entry[2]);
	wr32(&t->bar0, ims_slot(t, slot) + IMS_CTRL, ctrl);
}

/* Fills the source with a pattern and the destination with poison. */
static void buf_prepare(struct dsa_test *t)
{
	int i;

	for (i = 0; i < DMA_BUF_SIZE; i++)
		t->dma[DMA_SRC + i] = (i * 7 + 3) & 0xff;
	memset(t->dma + DMA_DST, 0xa5, DMA_BUF_SIZE);
}

/* A MEMMOVE of @len bytes from src to dst, record @i. */
static void desc_memmove(struct dsa_test *t, struct dsa_hw_desc *d, __u32 len, int i)
{
	desc_init(t, d, DSA_OPCODE_MEMMOVE, i);
	d->src_addr = DMA_IOVA + DMA_SRC;
	d->dst_addr = DMA_IOVA + DMA_DST;
	d->xfer_size = len;
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

/* Odd sizes catch a device that rounds to 8 bytes or to pages. */
#define MOVE_LEN		0x1234
#define FILL_LEN		0x0ffc
#define FILL_PATTERN		0x0123456789abcdefULL

/* --- data path without interrupts --------------------------------------- */

FIXTURE(dsa_dma) {
	struct dsa_test t;
};

FIXTURE_SETUP(dsa_dma)
{
	if (!dsa_open(_metadata, &self->t))
		return;
	dsa_probe(_metadata, &self->t);
	ASSERT_EQ(0, dsa_setup_wq(_metadata, &self->t, false, 0));
}

FIXTURE_TEARDOWN(dsa_dma)
{
	dsa_close(&self->t);
}

TEST_F(dsa_dma, memmove)
{
	struct dsa_test *t = &self->t;
	struct dsa_hw_desc d;
	long diff;

	ASSERT_LE(MOVE_LEN, 1U << GENCAP_MAX_XFER_SHIFT(t->gencap));
	ASSERT_TRUE(opcap_has(t, DSA_OPCODE_MEMMOVE)) TH_LOG("OPCAP lacks MEMMOVE");
	buf_prepare(t);
	desc_memmove(t, &d, MOVE_LEN, 0);
	dsa_submit(t, &d);
	ASSERT_COMP(t, 0, DSA_COMP_SUCCESS);

	diff = first_diff(t->dma + DMA_SRC, t->dma + DMA_DST, MOVE_LEN);
	EXPECT_EQ(-1, diff) TH_LOG("destination differs at byte %#lx", diff);
	/* Nothing past the end is written. */
	EXPECT_EQ(0xa5, t->dma[DMA_DST + MOVE_LEN]);
	EXPECT_EQ(0xa5, t->dma[DMA_DST + DMA_BUF_SIZE - 1]);
}

TEST_F(dsa_dma, memmove_repeated)
{
	struct dsa_test *t = &self->t;
	struct dsa_hw_desc d;
	int i;

	/* More descriptors than the WQ holds: the WQ must drain and go on. */
	for (i = 0; i < 2 * TEST_WQ_SIZE; i++) {
		buf_prepare(t);
		t->dma[DMA_SRC] = i;
		desc_memmove(t, &d, 64 + i, i % 16);
		dsa_submit(t, &d);
		ASSERT_COMP(t, i % 16, DSA_COMP_SUCCESS);
		ASSERT_EQ(i, t->dma[DMA_DST]) TH_LOG("descriptor %d", i);
		ASSERT_EQ(0xa5, t->dma[DMA_DST + 64 + i]) TH_LOG("descriptor %d", i);
	}
}

TEST_F(dsa_dma, fill)
{
	struct dsa_test *t = &self->t;
	struct dsa_hw_desc d;
	__u64 pattern = FILL_PATTERN;
	int i, bad = -1;

	ASSERT_TRUE(opcap_has(t, DSA_OPCODE_MEMFILL)) TH_LOG("OPCAP lacks MEMFILL");
	buf_prepare(t);
	desc_init(t, &d, DSA_OPCODE_MEMFILL, 0);
	/* The 8-byte pattern repeats; a size not a multiple of 8 cuts it short. */
	d.pattern = pattern;
	d.dst_addr = DMA_IOVA + DMA_DST;
	d.xfer_size = FILL_LEN;
	dsa_submit(t, &d);
	ASSERT_COMP(t, 0, DSA_COMP_SUCCESS);

	for (i = 0; i < FILL_LEN && bad < 0; i++)
		if (t->dma[DMA_DST + i] != ((unsigned char *)&pattern)[i % 8])
			bad = i;
	EXPECT_EQ(-1, bad) TH_LOG("byte %#x is %#x", bad, t->dma[DMA_DST + bad]);
	EXPECT_EQ(0xa5, t->dma[DMA_DST + FILL_LEN]);
}

TEST_F(dsa_dma, bad_opcode)
{
	struct dsa_test *t = &self->t;
	struct dsa_hw_desc d;
	const __u8 op = 0x3f;	/* unassigned in the DSA opcode table */

	ASSERT_FALSE(opcap_has(t, op));
	desc_init(t, &d, op, 0);
	dsa_submit(t, &d);
	ASSERT_COMP(t, 0, DSA_COMP_BAD_OPCODE);

	/* The WQ survives a bad descriptor. */
	buf_prepare(t);
	desc_memmove(t, &d, 256, 1);
	dsa_submit(t, &d);
	ASSERT_COMP(t, 1, DSA_COMP_SUCCESS);
	EXPECT_EQ(-1, first_diff(t->dma + DMA_SRC, t->dma + DMA_DST, 256));
}

TEST_F(dsa_dma, portal_dword_stores)
{
	struct dsa_test *t = &self->t;
	struct dsa_hw_desc d;

	buf_prepare(t);
	desc_memmove(t, &d, 256, 0);
	portal_write(t, &d, 0, 4);
	ASSERT_COMP(t, 0, DSA_COMP_SUCCESS);
	EXPECT_EQ(-1, first_diff(t->dma + DMA_SRC, t->dma + DMA_DST, 256));
}

TEST_F(dsa_dma, portal_any_slot)
{
	struct dsa_test *t = &self->t;
	struct dsa_hw_desc d;
	__u32 off;

	/* Every 64-byte slot of the WQ's portal pages submits to the WQ. */
	for (off = 64; off < PORTAL_STRIDE; off += 64 * 53) {
		buf_prepare(t);
		desc_memmove(t, &d, 256, 0);
		TH_LOG("portal offset %#x", off);
		portal_write(t, &d, off, 8);
		ASSERT_COMP(t, 0, DSA_COMP_SUCCESS);
	}
}

/*
 * Without block-on-fault, a page fault ends the descriptor with a
 * PAGE_FAULT_NOBOF record naming the faulting address. Whether it was a
 * write is bit 7 of the status (idxd.h DSA_COMP_STATUS_WRITE) or bit 0 of
 * fault_info (DSA spec, completion record byte 2); the emulated device
 * uses fault_info, so either is accepted. An IOMMU-reported translation
 * failure is accepted too.
 */
static void check_fault(struct __test_metadata *_metadata, struct dsa_test *t,
			int i, __u64 addr, bool write)
{
	struct dsa_completion_record *cr = comp(t, i);
	__u8 s = comp_wait(t, i);

	ASSERT_NE(0, s) TH_LOG("no completion record within %d ms: device hung?",
			       COMP_TIMEOUT_MS);
	TH_LOG("status %#x fault_info %#x fault_addr %#llx bytes_completed %u", s,
	       cr->fault_info, (unsigned long long)cr->fault_addr, cr->bytes_completed);
	ASSERT_NE(DSA_COMP_SUCCESS, s) TH_LOG("DMA to an unmapped IOVA succeeded");
	if (DSA_COMP_STATUS(s) == DSA_COMP_TRANSLATION_FAIL)
		return;
	EXPECT_EQ(DSA_COMP_PAGE_FAULT_NOBOF, DSA_COMP_STATUS(s));
	EXPECT_EQ(write, (s & DSA_COMP_STATUS_WRITE) || (cr->fault_info & 1))
		TH_LOG("%s fault reported as the other direction", write ? "write" : "read");
	EXPECT_LE(addr, cr->fault_addr);
	EXPECT_GT(addr + MOVE_LEN, cr->fault_addr);
}

TEST_F(dsa_dma, unmapped_source)
{
	struct dsa_test *t = &self->t;
	struct dsa_hw_desc d;

	buf_prepare(t);
	desc_memmove(t, &d, MOVE_LEN, 0);
	d.src_addr = UNMAPPED_IOVA;
	dsa_submit(t, &d);
	check_fault(_metadata, t, 0, UNMAPPED_IOVA, false);
	EXPECT_EQ(GENSTS_ENABLED, GENSTS_STATE(rd32(&t->bar0, DSA_GENSTS)));

	desc_memmove(t, &d, MOVE_LEN, 1);
	dsa_submit(t, &d);
	ASSERT_COMP(t, 1, DSA_COMP_SUCCESS);
}

TEST_F(dsa_dma, unmapped_destination)
{
	struct dsa_test *t = &self->t;
	struct dsa_hw_desc d;

	buf_prepare(t);
	desc_memmove(t, &d, MOVE_LEN, 0);
	d.dst_addr = UNMAPPED_IOVA;
	dsa_submit(t, &d);
	check_fault(_metadata, t, 0, UNMAPPED_IOVA, true);
	EXPECT_EQ(GENSTS_ENABLED, GENSTS_STATE(rd32(&t->bar0, DSA_GENSTS)));

	desc_memmove(t, &d, MOVE_LEN, 1);
	dsa_submit(t, &d);
	ASSERT_COMP(t, 1, DSA_COMP_SUCCESS);
}

/* --- completion interrupts: MSI-X vector or IMS slot --------------------- */

FIXTURE(dsa_irq) {
	struct dsa_test t;
	__u16 handle;
};

FIXTURE_VARIANT(dsa_irq) {
	bool ims;
};

FIXTURE_VARIANT_ADD(dsa_irq, msix) {
	.ims = false,
};

FIXTURE_VARIANT_ADD(dsa_irq, ims) {
	.ims = true,
};

FIXTURE_SETUP(dsa_irq)
{
	struct dsa_test *t = &self->t;

	if (!dsa_open(_metadata, t))
		return;
	dsa_probe(_metadata, t);
	ASSERT_EQ(0, dsa_setup_wq(_metadata, t, false, 0));
	msix_arm(_metadata, t);
	if (variant->ims) {
		ims_route(_metadata, t, TEST_IMS_SLOT, TEST_VECTOR, 0);
		self->handle = dsa_int_handle(_metadata, t, TEST_IMS_SLOT, true);
	} else {
		self->handle = dsa_int_handle(_metadata, t, TEST_VECTOR, false);
	}
	TH_LOG("interrupt handle %#x", self->handle);
}

FIXTURE_TEARDOWN(dsa_irq)
{
	dsa_close(&self->t);
}

TEST_F(dsa_irq, completion_interrupt)
{
	struct dsa_test *t = &self->t;
	struct dsa_hw_desc d;
	int i;

	/* One interrupt per descriptor, each read back as a count of 1. */
	for (i = 0; i < 3; i++) {
		buf_prepare(t);
		desc_memmove(t, &d, 512, i);
		desc_irq(&d, self->handle);
		dsa_submit(t, &d);
		ASSERT_COMP(t, i, DSA_COMP_SUCCESS);
		ASSERT_EQ(1, vfio_irq_wait(t->efd[TEST_VECTOR], IRQ_TIMEOUT_MS))
			TH_LOG("descriptor %d: no interrupt on vector %d within %d ms",
			       i, TEST_VECTOR, IRQ_TIMEOUT_MS);
	}
	/* Vector 0 is for errors and commands, not completions. */
	EXPECT_EQ(0, vfio_irq_wait(t->efd[0], 0)) TH_LOG("misc vector 0 fired");
	dsa_log_swerr(_metadata, t);
}

TEST_F(dsa_irq, no_interrupt_without_rci)
{
	struct dsa_test *t = &self->t;
	struct dsa_hw_desc d;

	/* A handle alone asks for nothing: only RCI requests an interrupt. */
	buf_prepare(t);
	desc_memmove(t, &d, 512, 0);
	d.int_handle = self->handle;
	dsa_submit(t, &d);
	ASSERT_COMP(t, 0, DSA_COMP_SUCCESS);
	EXPECT_EQ(0, vfio_irq_wait(t->efd[TEST_VECTOR], QUIET_MS))
		TH_LOG("vector %d fired for a descriptor without RCI", TEST_VECTOR);
}

/* --- IMS slot mask and PASID checks -------------------------------------- */

FIXTURE(dsa_ims) {
	struct dsa_test t;
	__u16 handle;
};

FIXTURE_SETUP(dsa_ims)
{
	struct dsa_test *t = &self->t;
	long sts;

	if (!dsa_open(_metadata, t))
		return;
	dsa_probe(_metadata, t);
	/* The WQ's PASID is the PASID of all its work (dedicated mode). */
	sts = dsa_setup_wq(_metadata, t, true, WQ_PASID);
	if (sts)
		SKIP(return, "ENABLE_WQ with PASID %#x refused, CMDSTS %#lx (vfio-pci hides the PASID capability)",
		     WQ_PASID, sts);
	msix_arm(_metadata, t);
	self->handle = dsa_int_handle(_metadata, t, TEST_IMS_SLOT, true);
}

FIXTURE_TEARDOWN(dsa_ims)
{
	dsa_close(&self->t);
}

/* Submits a MEMMOVE whose completion interrupt names @handle. */
static void ims_memmove(struct dsa_test *t, __u16 handle, int i)
{
	struct dsa_hw_desc d;

	buf_prepare(t);
	desc_memmove(t, &d, 256, i);
	desc_irq(&d, handle);
	dsa_submit(t, &d);
}

TEST_F(dsa_ims, masked_slot_does_not_fire)
{
	struct dsa_test *t = &self->t;
	__u32 ctrl = IMS_CTRL_PASID_EN | IMS_CTRL_PASID(WQ_PASID);

	ims_route(_metadata, t, TEST_IMS_SLOT, TEST_VECTOR, ctrl | IMS_CTRL_MASK);
	ims_memmove(t, self->handle, 0);
	ASSERT_COMP(t, 0, DSA_COMP_SUCCESS);
	EXPECT_EQ(0, vfio_irq_wait(t->efd[TEST_VECTOR], QUIET_MS))
		TH_LOG("a masked IMS slot fired");

	/* Like MSI-X, a masked slot keeps the message pending until unmasked. */
	wr32(&t->bar0, ims_slot(t, TEST_IMS_SLOT) + IMS_CTRL, ctrl);
	EXPECT_EQ(1, vfio_irq_wait(t->efd[TEST_VECTOR], IRQ_TIMEOUT_MS))
		TH_LOG("the pending interrupt was not delivered on unmask");
}

TEST_F(dsa_ims, pasid_mismatch_does_not_fire)
{
	struct dsa_test *t = &self->t;
	__u64 deadline, swerr = 0;
	__u8 s;

	ims_route(_metadata, t, TEST_IMS_SLOT, TEST_VECTOR,
		  IMS_CTRL_PASID_EN | IMS_CTRL_PASID(OTHER_PASID));
	ims_memmove(t, self->handle, 0);
	s = comp_wait(t, 0);
	ASSERT_NE(0, s) TH_LOG("no completion record within %d ms", COMP_TIMEOUT_MS);
	/*
	 * The handle is checked before the work runs: the descriptor fails
	 * with INT_HANDLE_INVAL and moves nothing.
	 */
	EXPECT_EQ(DSA_COMP_INT_HANDLE_INVAL, s) TH_LOG("completion status %#x", s);
	EXPECT_EQ(0xa5, t->dma[DMA_DST]) TH_LOG("a refused descriptor moved data");
	EXPECT_EQ(0, vfio_irq_wait(t->efd[TEST_VECTOR], QUIET_MS))
		TH_LOG("slot of PASID %#x fired for work of PASID %#x", OTHER_PASID, WQ_PASID);

	/* The refusal is a software error: SWERR, and the misc vector. */
	deadline = now_ms() + CMD_TIMEOUT_MS;
	while (!((swerr = rd64(&t->bar0, DSA_SWERR)) & SWERR_VALID) && now_ms() < deadline)
		usleep(100);
	dsa_log_swerr(_metadata, t);
	ASSERT_TRUE(swerr & SWERR_VALID) TH_LOG("no SWERR within %d ms", CMD_TIMEOUT_MS);
	EXPECT_EQ(SWERR_INVALID_INT_HANDLE, SWERR_ERROR(swerr));
	EXPECT_EQ(1, vfio_irq_wait(t->efd[0], IRQ_TIMEOUT_MS)) TH_LOG("misc vector 0 silent");
	EXPECT_TRUE(rd32(&t->bar0, DSA_INTCAUSE) & INTCAUSE_ERR);

	/* SWERR.valid/overflow and INTCAUSE are write-1-to-clear. */
	wr32(&t->bar0, DSA_SWERR, SWERR_VALID | SWERR_OVERFLOW);
	wr32(&t->bar0, DSA_INTCAUSE, rd32(&t->bar0, DSA_INTCAUSE));
	EXPECT_FALSE(rd64(&t->bar0, DSA_SWERR) & SWERR_VALID);
	EXPECT_FALSE(rd32(&t->bar0, DSA_INTCAUSE) & INTCAUSE_ERR);

	/* A refused interrupt is dropped, not left pending for the slot. */
	wr32(&t->bar0, ims_slot(t, TEST_IMS_SLOT) + IMS_CTRL,
	     IMS_CTRL_PASID_EN | IMS_CTRL_PASID(WQ_PASID));
	EXPECT_EQ(0, vfio_irq_wait(t->efd[TEST_VECTOR], QUIET_MS))
		TH_LOG("the refused interrupt arrived after the slot's PASID changed");
}

TEST_F(dsa_ims, pasid_match_fires)
{
	struct dsa_test *t = &self->t;

	ims_route(_metadata, t, TEST_IMS_SLOT, TEST_VECTOR,
		  IMS_CTRL_PASID_EN | IMS_CTRL_PASID(WQ_PASID));
	ims_memmove(t, self->handle, 0);
	ASSERT_COMP(t, 0, DSA_COMP_SUCCESS);
	EXPECT_EQ(1, vfio_irq_wait(t->efd[TEST_VECTOR], IRQ_TIMEOUT_MS))
		TH_LOG("slot of PASID %#x silent for work of the same PASID", WQ_PASID);
	EXPECT_FALSE(rd64(&t->bar0, DSA_SWERR) & SWERR_VALID);
	dsa_log_swerr(_metadata, t);
}

TEST_F(dsa_ims, slot_without_pasid_check_fires)
{
	struct dsa_test *t = &self->t;

	/* PASID enable clear: the slot takes interrupts of any work. */
	ims_route(_metadata, t, TEST_IMS_SLOT, TEST_VECTOR, IMS_CTRL_PASID(OTHER_PASID));
	ims_memmove(t, self->handle, 0);
	ASSERT_COMP(t, 0, DSA_COMP_SUCCESS);
	EXPECT_EQ(1, vfio_irq_wait(t->efd[TEST_VECTOR], IRQ_TIMEOUT_MS))
		TH_LOG("slot without PASID enable silent");
}

TEST_F(dsa_ims, slot_reset_state_and_readback)
{
	struct dsa_test *t = &self->t;
	unsigned int slots[] = { 0, TEST_IMS_SLOT, t->ims_slots - 1 };
	__u32 ctrl;
	int i;

	/* RESET_DEVICE (in setup) leaves every slot masked. */
	for (i = 0; i < 3; i++) {
		ctrl = rd32(&t->bar0, ims_slot(t, slots[i]) + IMS_CTRL);
		EXPECT_EQ(IMS_CTRL_MASK, ctrl) TH_LOG("slot %u ctrl %#x after reset",
						      slots[i], ctrl);
	}
	/* Message words read back as written; reserved ctrl bits read 0. */
	wr32(&t->bar0, ims_slot(t, TEST_IMS_SLOT) + IMS_ADDR_LO, 0xfee01234);
	wr32(&t->bar0, ims_slot(t, TEST_IMS_SLOT) + IMS_ADDR_HI, 0x5a5a5a5a);
	wr32(&t->bar0, ims_slot(t, TEST_IMS_SLOT) + IMS_DATA, 0xa5a5a5a5);
	wr32(&t->bar0, ims_slot(t, TEST_IMS_SLOT) + IMS_CTRL, ~0U);
	EXPECT_EQ(0xfee01234, rd32(&t->bar0, ims_slot(t, TEST_IMS_SLOT) + IMS_ADDR_LO));
	EXPECT_EQ(0x5a5a5a5a, rd32(&t->bar0, ims_slot(t, TEST_IMS_SLOT) + IMS_ADDR_HI));
	EXPECT_EQ(0xa5a5a5a5, rd32(&t->bar0, ims_slot(t, TEST_IMS_SLOT) + IMS_DATA));
	EXPECT_EQ(IMS_CTRL_MASK | IMS_CTRL_PASID_EN | IMS_CTRL_PASID(0xfffff),
		  rd32(&t->bar0, ims_slot(t, TEST_IMS_SLOT) + IMS_CTRL));
	/* Neighbours are untouched: the slot stride is 16 bytes. */
	EXPECT_EQ(IMS_CTRL_MASK, rd32(&t->bar0, ims_slot(t, TEST_IMS_SLOT + 1) + IMS_CTRL));
	EXPECT_EQ(0, rd32(&t->bar0, ims_slot(t, TEST_IMS_SLOT - 1) + IMS_DATA));
}

TEST_F(dsa_ims, slot_out_of_range_refused)
{
	struct dsa_test *t = &self->t;
	struct dsa_hw_desc d;
	long sts;
	__u8 s;

	/* The device grants no handle for a slot it does not have ... */
	sts = dsa_command(t, CMD_REQUEST_INT_HANDLE, t->ims_slots | CMD_INT_HANDLE_IMS);
	ASSERT_LE(0, sts) TH_LOG("REQUEST_INT_HANDLE timed out");
	EXPECT_NE(0, CMDSTS_ERR(sts)) TH_LOG("handle %#lx granted for slot %u of %u",
					     CMDSTS_RESULT(sts), t->ims_slots, t->ims_slots);

	/* ... and refuses a descriptor that names it anyway. */
	buf_prepare(t);
	desc_memmove(t, &d, 256, 0);
	desc_irq(&d, INT_HANDLE_IMS | t->ims_slots);
	dsa_submit(t, &d);
	s = comp_wait(t, 0);
	ASSERT_NE(0, s) TH_LOG("no completion record within %d ms", COMP_TIMEOUT_MS);
	EXPECT_EQ(DSA_COMP_INT_HANDLE_INVAL, s);
	dsa_log_swerr(_metadata, t);
	EXPECT_EQ(SWERR_INVALID_INT_HANDLE, SWERR_ERROR(rd64(&t->bar0, DSA_SWERR)));
	EXPECT_EQ(0, vfio_irq_wait(t->efd[TEST_VECTOR], 0));
}

/* --- IMS PASID check against a WQ without PASID ------------------------- */

FIXTURE(dsa_ims_untagged) {
	struct dsa_test t;
	__u16 handle;
};

FIXTURE_SETUP(dsa_ims_untagged)
{
	struct dsa_test *t = &self->t;

	if (!dsa_open(_metadata, t))
		return;
	dsa_probe(_metadata, t);
	ASSERT_EQ(0, dsa_setup_wq(_metadata, t, false, 0));
	msix_arm(_metadata, t);
	self->handle = dsa_int_handle(_metadata, t, TEST_IMS_SLOT, true);
}

FIXTURE_TEARDOWN(dsa_ims_untagged)
{
	dsa_close(&self->t);
}

TEST_F(dsa_ims_untagged, pasid_slot_refuses_untagged_work)
{
	struct dsa_test *t = &self->t;
	__u8 s;

	/*
	 * A slot with PASID enable takes only work of that PASID; work
	 * without any PASID (WQCFG pasid_en clear) matches no slot PASID,
	 * not even 0.
	 */
	ims_route(_metadata, t, TEST_IMS_SLOT, TEST_VECTOR,
		  IMS_CTRL_PASID_EN | IMS_CTRL_PASID(0));
	ims_memmove(t, self->handle, 0);
	s = comp_wait(t, 0);
	ASSERT_NE(0, s) TH_LOG("no completion record within %d ms", COMP_TIMEOUT_MS);
	EXPECT_EQ(DSA_COMP_INT_HANDLE_INVAL, s);
	EXPECT_EQ(0, vfio_irq_wait(t->efd[TEST_VECTOR], QUIET_MS))
		TH_LOG("slot of PASID 0 fired for work without a PASID");
	dsa_log_swerr(_metadata, t);
	EXPECT_EQ(SWERR_INVALID_INT_HANDLE, SWERR_ERROR(rd64(&t->bar0, DSA_SWERR)));
}

int main(int argc, char **argv)
{
	/* An optional first argument names the device: dsa_vfio_test BDF [...] */
	if (argc > 1 && argv[1][0] != '-') {
		snprintf(dsa_bdf, sizeof(dsa_bdf), "%s", argv[1]);
		argv[1] = argv[0];
		argv++;
		argc--;
	} else {
		dsa_find_device();
	}
	return test_harness_run(argc, argv);
}
