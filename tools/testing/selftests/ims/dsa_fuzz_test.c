// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile input for the Rust DSA driver (module idxd, drivers/dma/idxd-rs):
 * every writable attribute of every device on the dsa bus, the bus's bind
 * files, and the write() of a user work queue's character device.
 *
 * Every input must end in success or a clear errno, never in a crash, a
 * hang or a splat (the VM's log check sees those), and the device must keep
 * working: the suite that runs this test (scripts/vm/suites/dsa-fuzz.sh)
 * configures the device sanely afterwards, runs dmatest on it and reloads
 * the module. Beyond "no crash", the test checks what the ABI promises:
 *
 *  - integers parse as the C driver's kstrto*() calls do (a trailing
 *    newline but no other whitespace, no trailing garbage, base 10 except
 *    where the C driver takes any base), and the regression of issue 11
 *    (a WQ size of 4294967295 overflowed the driver's sum of WQ sizes);
 *  - a refused write changes nothing: after each attribute's storm the
 *    test writes the original value back, and the device's state is as it
 *    was (disabled, or enabled with its WQs);
 *  - a user descriptor is accepted exactly when the driver's rules allow it
 *    (supported opcode other than batch, no completion interrupt, no PASID
 *    or privilege bit, an aligned completion record, a transfer within the
 *    WQ's maximum), and refused with EINVAL otherwise; bad buffers give
 *    EFAULT, a full WQ EAGAIN.
 *
 * Every address in a descriptor is outside any IOMMU mapping (0, or above
 * 2^40, where the IOVA allocator never goes below a 4 GiB DMA mask), so the
 * device's accesses fault in the IOMMU and end in an error status, which is
 * what the driver must survive.
 *
 * Each test prints the number of hostile inputs it tried as
 * "# hostile inputs: N".
 *
 * Usage: dsa_fuzz_test [harness options]. Needs dsa0, disabled, from the
 * idxd module; SKIPs without it.
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
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/idxd.h>

#include "../kselftest_harness.h"

#define BUS		"/sys/bus/dsa"
#define DEVS		BUS "/devices"
#define DSA		DEVS "/dsa0"

#define DESC_SIZE	64
#define CR_ALIGN	32
#define PASID_PRIV_MASK	0x800fffffULL

/* The WQs the tests enable: a kernel one and a user one. */
#define KWQ		0
#define UWQ		1
#define WQ_SIZE		16

static unsigned int hostile;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- sysfs ---------------------------------------------------------------- */

/* Writes len bytes of buf to path in one write(): 0 or -errno. */
static int sysfs_write(const char *path, const void *buf, size_t len)
{
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, buf, len);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EMSGSIZE;
	close(fd);
	return err;
}

static int sysfs_puts(const char *path, const char *s)
{
	return sysfs_write(path, s, strlen(s));
}

static int attr_puts(const char *dev, const char *attr, const char *s)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), DEVS "/%s/%s", dev, attr);
	return sysfs_puts(path, s);
}

/* Reads path into buf (NUL-terminated, trailing newline removed): length or -errno. */
static int sysfs_read(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd, err;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	if (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return n;
}

static int attr_read(const char *dev, const char *attr, char *buf, size_t size)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), DEVS "/%s/%s", dev, attr);
	return sysfs_read(path, buf, size);
}

static unsigned long long attr_num(const char *dev, const char *attr)
{
	char buf[64];

	if (attr_read(dev, attr, buf, sizeof(buf)) < 0)
		return 0;
	return strtoull(buf, NULL, 0);
}

static bool attr_is(const char *dev, const char *attr, const char *want)
{
	char buf[256];

	return attr_read(dev, attr, buf, sizeof(buf)) >= 0 && !strcmp(buf, want);
}

/* The errnos a store may answer bad input with. */
static bool store_errno_ok(int err)
{
	switch (-err) {
	case EINVAL:
	case ERANGE:
	case EPERM:
	case EACCES:
	case EOPNOTSUPP:
	case EBUSY:
	case ENXIO:
	case ENODEV:
		return true;
	}
	return false;
}

/* ---- hostile values ------------------------------------------------------- */

struct value {
	const char *buf;
	size_t len;
};

#define V(s)	{ s, sizeof(s) - 1 }

static const struct value fixed_values[] = {
	V("\n"), V("0"), V("1"), V("-1"), V("-2"), V("+1"), V("-0"), V("+"),
	V("-"), V("--1"), V("2"), V("3"), V("4"), V("7"), V("8"), V("15"), V("16"),
	V("17"), V("128"), V("255"), V("256"), V("1024"), V("65535"), V("65536"),
	V("2147483647"), V("2147483648"), V("-2147483648"), V("-2147483649"),
	V("4294967295"), V("4294967296"), V("9223372036854775807"),
	V("9223372036854775808"), V("-9223372036854775808"),
	V("18446744073709551615"), V("18446744073709551616"),
	V("340282366920938463463374607431768211456"),
	V("0x0"), V("0x10"), V("0X1F"), V("0xffff"), V("0x10000"), V("0xffffffff"),
	V("0x100000000"), V("0xffffffffffffffff"), V("0x10000000000000000"), V("0x"),
	V("0xg"), V("010"), V("0777"), V("08"), V("0o7"), V("0b1"), V("1e3"),
	V("1.5"), V(" 1"), V("1 "), V("\t1"), V("1\t"), V("1\n\n"), V("\n1"),
	V("1\r"), V("1\r\n"), V("1,2"), V("1abc"), V("abc"), V("true"), V("false"),
	V("on"), V("off"), V("o"), V("y"), V("n"), V("yes"), V("no"), V("Y\n"),
	V("dedicated"), V("shared"), V("dedicated\n"), V(" dedicated"),
	V("kernel"), V("user"), V("none"), V("mdev"), V("kernel\n\n"),
	V("dmaengine"), V("idxd"), V("wq0.0"), V("dsa0"), V("%s%s%n%x"),
	V("1\0garbage"), V("\0"), V("\xff\xfe\xfd"), V("\xc3\x28"),
	V("\x1b[2J"), V("../../../etc"),
};

#define RANDOM_VALUES	12
#define LONG_LENGTHS	{ 127, 128, 129, 1023, 1024, 1025, 4095, 4096 }

struct storm {
	struct __test_metadata *meta;
	char *big;		/* a page of filler for overlong values */
	unsigned int writes;
	unsigned int accepted;
	unsigned int attrs;
};

/*
 * One hostile value into one attribute: it must succeed or fail with a
 * clear errno. Returns false (and logs) otherwise.
 */
static bool storm_one(struct storm *st, int fd, const char *path, const void *buf,
		      size_t len)
{
	ssize_t n = pwrite(fd, buf, len, 0);
	int err = n < 0 ? -errno : (size_t)n == len ? 0 : -EMSGSIZE;

	st->writes++;
	hostile++;
	if (!err) {
		st->accepted++;
		return true;
	}
	/* sysfs itself refuses writes of a page or more. */
	if (store_errno_ok(err) || (err == -EMSGSIZE && len >= 4095))
		return true;
	ksft_print_msg("%s: %zu-byte write: unexpected errno %d (%s)\n", path, len,
		       -err, strerror(-err));
	return false;
}

/* Every hostile value into the attribute at path, then its original value back. */
static bool storm_attr(struct storm *st, const char *path)
{
	static const size_t lens[] = LONG_LENGTHS;
	char orig[4096], buf[64];
	bool ok = true;
	unsigned int i, j;
	int n, fd;

	n = sysfs_read(path, orig, sizeof(orig));
	/* One open file for the storm: sysfs calls the store for each write. */
	fd = open(path, O_WRONLY);
	if (fd < 0) {
		ksft_print_msg("%s: open: %s\n", path, strerror(errno));
		return false;
	}
	for (i = 0; i < ARRAY_SIZE(fixed_values); i++)
		ok &= storm_one(st, fd, path, fixed_values[i].buf, fixed_values[i].len);
	for (i = 0; i < ARRAY_SIZE(lens); i++)
		ok &= storm_one(st, fd, path, st->big, lens[i]);
	for (i = 0; i < RANDOM_VALUES; i++) {
		size_t len = 1 + rand() % sizeof(buf);

		for (j = 0; j < len; j++)
			buf[j] = rand();
		ok &= storm_one(st, fd, path, buf, len);
	}
	close(fd);
	/* What was there before goes back (an empty name cannot be written: fine). */
	if (n > 0)
		sysfs_puts(path, orig);
	st->attrs++;
	return ok;
}

/* A storm over every writable attribute of every device on the bus. */
static bool storm_bus(struct storm *st)
{
	struct dirent *d, *a;
	char dir[PATH_MAX], path[PATH_MAX * 2];
	struct stat sb;
	bool ok = true;
	DIR *devs, *attrs;

	devs = opendir(DEVS);
	if (!devs)
		return false;
	while ((d = readdir(devs))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), DEVS "/%s", d->d_name);
		attrs = opendir(dir);
		if (!attrs) {
			ok = false;
			continue;
		}
		while ((a = readdir(attrs))) {
			/* uevent belongs to the driver core, not to the driver. */
			if (a->d_name[0] == '.' || !strcmp(a->d_name, "uevent"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, a->d_name);
			if (lstat(path, &sb) || !S_ISREG(sb.st_mode) || !(sb.st_mode & 0200))
				continue;
			ok &= storm_attr(st, path);
		}
		closedir(attrs);
	}
	closedir(devs);
	return ok;
}

/* Hostile device names into the bus drivers' bind and unbind files. */
static bool storm_bind(struct storm *st)
{
	static const char * const drivers[] = { "idxd", "dmaengine", "user" };
	static const char * const names[] = {
		"", "\n", "dsa0", "dsa1", "dsa99", "wq0.0", "wq0.1", "wq0.255",
		"wq0.4294967296", "group0.0", "engine0.0", "wq0.0 ", "-1",
		"../dsa0", "dsa0/wq0.0", "0000:00:03.0",
	};
	static const char * const files[] = { "bind", "unbind" };
	char path[PATH_MAX];
	bool ok = true;
	unsigned int d, n, f;

	for (d = 0; d < ARRAY_SIZE(drivers); d++)
		for (f = 0; f < ARRAY_SIZE(files); f++)
			for (n = 0; n < ARRAY_SIZE(names); n++) {
				int err;

				snprintf(path, sizeof(path), BUS "/drivers/%s/%s",
					 drivers[d], files[f]);
				err = sysfs_puts(path, names[n]);
				st->writes++;
				hostile++;
				if (!err) {
					st->accepted++;
					continue;
				}
				if (store_errno_ok(err) || err == -EEXIST ||
				    err == -ENOENT)
					continue;
				ksft_print_msg("%s <- \"%s\": errno %d\n", path, names[n], -err);
				ok = false;
			}
	return ok;
}

/* ---- configuration -------------------------------------------------------- */

static char wq_name[32], dsa_name[] = "dsa0";

static const char *wq(unsigned int i)
{
	snprintf(wq_name, sizeof(wq_name), "wq0.%u", i);
	return wq_name;
}

/* Configures WQ i as a dedicated WQ of group 0 for driver drv ("dmaengine" or "user"). */
static int wq_configure(unsigned int i, const char *type, const char *drv)
{
	char name[32];

	snprintf(name, sizeof(name), "fuzz-%u", i);
	return attr_puts(wq(i), "group_id", "0") ?:
	       attr_puts(wq(i), "mode", "dedicated") ?:
	       attr_puts(wq(i), "size", "16") ?:
	       attr_puts(wq(i), "priority", "10") ?:
	       attr_puts(wq(i), "type", type) ?:
	       attr_puts(wq(i), "name", name) ?:
	       attr_puts(wq(i), "driver_name", drv);
}

static void wq_unconfigure(unsigned int i)
{
	attr_puts(wq(i), "size", "0");
	attr_puts(wq(i), "group_id", "-1");
	attr_puts(wq(i), "type", "none");
}

/* dsa0 enabled with a kernel WQ (dmaengine) and a user WQ, as accel-config would. */
static int dsa_enable(void)
{
	unsigned int e, engines = attr_num(dsa_name, "max_engines");
	char eng[32];
	int err;

	for (e = 0; e < engines; e++) {
		snprintf(eng, sizeof(eng), "engine0.%u", e);
		err = attr_puts(eng, "group_id", "0");
		if (err)
			return err;
	}
	err = wq_configure(KWQ, "kernel", "dmaengine") ?:
	      wq_configure(UWQ, "user", "user") ?:
	      sysfs_puts(BUS "/drivers/idxd/bind", "dsa0") ?:
	      sysfs_puts(BUS "/drivers/dmaengine/bind", "wq0.0");
	if (err)
		return err;
	return sysfs_puts(BUS "/drivers/user/bind", "wq0.1");
}

/* dsa0 disabled and unconfigured again. */
static void dsa_disable(void)
{
	unsigned int e, engines = attr_num(dsa_name, "max_engines");
	char eng[32];

	if (attr_is(dsa_name, "state", "enabled"))
		sysfs_puts(BUS "/drivers/idxd/unbind", "dsa0");
	wq_unconfigure(KWQ);
	wq_unconfigure(UWQ);
	for (e = 0; e < engines; e++) {
		snprintf(eng, sizeof(eng), "engine0.%u", e);
		attr_puts(eng, "group_id", "-1");
	}
}

FIXTURE(dsa) {
	struct storm st;
};

FIXTURE_SETUP(dsa)
{
	if (access(DSA, F_OK))
		SKIP(return, "no dsa0: load idxd on an emulated DSA");
	ASSERT_TRUE(attr_is(dsa_name, "state", "disabled"));
	srand(11);
	memset(&self->st, 0, sizeof(self->st));
	self->st.big = malloc(4096);
	ASSERT_NE(NULL, self->st.big);
	memset(self->st.big, '7', 4096);
	hostile = 0;
}

FIXTURE_TEARDOWN(dsa)
{
	dsa_disable();
	free(self->st.big);
	ksft_print_msg("hostile inputs: %u\n", hostile);
}

/* ---- sysfs tests ------------------------------------------------------------ */

/*
 * Issue 11's crash: with another WQ holding room, a size of 4294967295
 * overflowed the driver's u32 sum of sizes (a panic with overflow checks,
 * a wrapped sum that passed the size check without them).
 */
TEST_F(dsa, size_overflow)
{
	static const char * const huge[] = {
		"4294967295", "4294967296", "4294967280", "18446744073709551615",
		"18446744073709551600", "65536", "65535",
	};
	unsigned int i, total = attr_num(dsa_name, "max_work_queues_size");

	ASSERT_EQ(0, attr_puts(wq(1), "size", "16"));
	for (i = 0; i < ARRAY_SIZE(huge); i++) {
		hostile++;
		EXPECT_EQ(-EINVAL, attr_puts(wq(0), "size", huge[i])) {
			TH_LOG("size %s accepted", huge[i]);
		}
		EXPECT_TRUE(attr_is(wq(0), "size", "0"));
	}
	/* The last entry that fits is fine, one more is not. */
	char fits[32];

	snprintf(fits, sizeof(fits), "%u", total - 16);
	EXPECT_EQ(0, attr_puts(wq(0), "size", fits));
	snprintf(fits, sizeof(fits), "%u", total - 15);
	hostile++;
	EXPECT_EQ(-EINVAL, attr_puts(wq(0), "size", fits));
	EXPECT_EQ(0, attr_puts(wq(0), "size", "0"));
	EXPECT_EQ(0, attr_puts(wq(1), "size", "0"));
}

/*
 * Integers parse as kstrto*() in the C driver's base: priority and size in
 * base 10 (kstrtoul(buf, 10)), threshold and max_transfer_size in any base
 * (kstrtouint/kstrtou64(buf, 0)); booleans as kstrtobool(); keywords as
 * sysfs_streq().
 */
TEST_F(dsa, parse_like_kstrto)
{
	static const struct {
		const char *attr, *in, *out;	/* out NULL: refused with EINVAL */
	} cases[] = {
		{ "priority", "5", "5" }, { "priority", "6\n", "6" },
		{ "priority", "+7", "7" }, { "priority", "007", "7" },
		{ "priority", " 5", NULL }, { "priority", "5 ", NULL },
		{ "priority", "5\n\n", NULL }, { "priority", "0x5", NULL },
		{ "priority", "-0", NULL }, { "priority", "5x", NULL },
		{ "priority", "\n", NULL }, { "priority", "16", NULL },
		{ "size", "0x10", NULL }, { "size", "8", "8" },
		{ "max_transfer_size", "0x1000", "4096" },
		{ "max_transfer_size", "010000", "4096" },
		{ "max_transfer_size", "4096\n", "4096" },
		{ "max_transfer_size", "0x1000 ", NULL },
		{ "max_transfer_size", "1", NULL },
		{ "mode", "dedicated\n", "dedicated" }, { "mode", " dedicated", NULL },
		{ "mode", "dedicated\n\n", NULL }, { "mode", "Dedicated", NULL },
		{ "type", "kernel\n", "kernel" }, { "type", "kernel ", NULL },
		{ "type", "none", "none" },
		{ "group_id", "-1", "-1" }, { "group_id", "0", "0" },
		{ "group_id", "-2", NULL }, { "group_id", "0x0", NULL },
		{ "group_id", "-1", "-1" },
		{ "name", "\t padded\t\n", "padded" }, { "name", "\n", NULL },
		{ "name", "  ", NULL },
		{ "size", "0", "0" },
	};
	static const char * const touched[] = {
		"priority", "size", "max_transfer_size", "mode", "type", "group_id",
	};
	char orig[ARRAY_SIZE(touched)][64];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(touched); i++)
		ASSERT_LE(0, attr_read(wq(0), touched[i], orig[i], sizeof(orig[i])));
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		int err = attr_puts(wq(0), cases[i].attr, cases[i].in);

		hostile++;
		if (!cases[i].out) {
			EXPECT_EQ(-EINVAL, err) {
				TH_LOG("%s <- \"%s\": %d, want EINVAL", cases[i].attr,
				       cases[i].in, err);
			}
			continue;
		}
		EXPECT_EQ(0, err) {
			TH_LOG("%s <- \"%s\": %d", cases[i].attr, cases[i].in, err);
		}
		EXPECT_TRUE(attr_is(wq(0), cases[i].attr, cases[i].out)) {
			TH_LOG("%s <- \"%s\" did not read back \"%s\"", cases[i].attr,
			       cases[i].in, cases[i].out);
		}
	}
	/* Booleans: kstrtobool(), and a feature the device lacks stays off. */
	hostile += 3;
	EXPECT_EQ(-EINVAL, attr_puts(wq(0), "block_on_fault", "2"));
	EXPECT_EQ(-EINVAL, attr_puts(wq(0), "block_on_fault", " 0"));
	EXPECT_EQ(0, attr_puts(wq(0), "block_on_fault", "off"));
	/* cmd_status takes anything and clears the status. */
	EXPECT_EQ(0, attr_puts(dsa_name, "cmd_status", "garbage"));
	EXPECT_TRUE(attr_is(dsa_name, "cmd_status", "0x0"));

	for (i = 0; i < ARRAY_SIZE(touched); i++)
		EXPECT_EQ(0, attr_puts(wq(0), touched[i], orig[i]));
}

/* The storm with the device disabled: everything is writable. */
TEST_F_TIMEOUT(dsa, hostile_disabled, 240)
{
	struct storm *st = &self->st;
	double t = now();

	st->meta = _metadata;
	EXPECT_TRUE(storm_bus(st));
	EXPECT_TRUE(storm_bind(st));
	ksft_print_msg("%u attributes, %u writes, %u accepted, %.1f s\n", st->attrs,
		       st->writes, st->accepted, now() - t);
	EXPECT_GT(st->attrs, 20);
	EXPECT_TRUE(attr_is(dsa_name, "state", "disabled"));
	/* The device still enables after it. */
	EXPECT_EQ(0, dsa_enable());
	EXPECT_TRUE(attr_is(dsa_name, "state", "enabled"));
}

/*
 * The storm with the device and two WQs enabled: it must leave them
 * enabled, with their configuration.
 */
TEST_F_TIMEOUT(dsa, hostile_enabled, 240)
{
	struct storm *st = &self->st;
	double t;

	st->meta = _metadata;
	ASSERT_EQ(0, dsa_enable());
	t = now();
	EXPECT_TRUE(storm_bus(st));
	ksft_print_msg("%u attributes, %u writes, %u accepted, %.1f s\n", st->attrs,
		       st->writes, st->accepted, now() - t);
	EXPECT_TRUE(attr_is(dsa_name, "state", "enabled"));
	EXPECT_TRUE(attr_is(wq(KWQ), "state", "enabled"));
	EXPECT_TRUE(attr_is(wq(UWQ), "state", "enabled"));
	EXPECT_TRUE(attr_is(wq(KWQ), "size", "16"));
	EXPECT_TRUE(attr_is(wq(UWQ), "type", "user"));
	EXPECT_TRUE(attr_is(wq(KWQ), "group_id", "0"));
}

/* ---- user WQ descriptors ------------------------------------------------- */

struct cdev_fuzz {
	int fd;
	uint64_t opcap[4];
	uint64_t max_xfer;
	unsigned int tried, accepted, refused, full;
};

/* An address no IOMMU mapping covers: 0, or at or above 2^40, 64-byte aligned. */
static uint64_t unmapped(void)
{
	uint64_t r = ((uint64_t)rand() << 31) ^ rand();

	if (!(rand() % 8))
		return 0;
	return ((1ULL << 40) | (r << 6)) & ~63ULL & ~(1ULL << 63);
}

/* Whether the driver must accept desc (cdev.rs: UserWq::check). */
static bool desc_valid(const struct cdev_fuzz *c, const uint64_t *w)
{
	unsigned int op = w[0] >> 56, flags = (w[0] >> 32) & 0xffffff;

	if (!(c->opcap[op / 64] & (1ULL << (op % 64))) || op == DSA_OPCODE_BATCH)
		return false;
	if (flags & IDXD_OP_FLAG_RCI)
		return false;
	if (w[0] & PASID_PRIV_MASK)
		return false;
	if (w[1] % CR_ALIGN)
		return false;
	if ((op == DSA_OPCODE_MEMMOVE || op == DSA_OPCODE_MEMFILL) &&
	    (uint32_t)w[4] > c->max_xfer)
		return false;
	return true;
}

/*
 * Writes one descriptor and checks the verdict against the driver's rules;
 * EAGAIN (a full WQ) is retried for up to a second.
 */
static bool cdev_submit(struct cdev_fuzz *c, const uint64_t *w)
{
	bool valid = desc_valid(c, w);
	int tries;

	c->tried++;
	hostile++;
	for (tries = 0; tries < 1000; tries++) {
		ssize_t n = write(c->fd, w, DESC_SIZE);

		if (n == DESC_SIZE) {
			c->accepted++;
			if (!valid)
				ksft_print_msg("accepted a bad descriptor: %016llx %016llx\n",
					       (unsigned long long)w[0],
					       (unsigned long long)w[1]);
			return valid;
		}
		if (n < 0 && errno == EAGAIN) {
			c->full++;
			usleep(1000);
			continue;
		}
		if (n < 0 && errno == EINVAL) {
			c->refused++;
			if (valid)
				ksft_print_msg("refused a good one: %016llx %016llx %016llx\n",
					       (unsigned long long)w[0],
					       (unsigned long long)w[1],
					       (unsigned long long)w[4]);
			return !valid;
		}
		ksft_print_msg("write: %zd, errno %d\n", n, errno);
		return false;
	}
	ksft_print_msg("the WQ stayed full for a second\n");
	return false;
}

/* A well-formed MEMMOVE of len bytes between unmapped addresses. */
static void desc_memmove(uint64_t *w, uint32_t len)
{
	memset(w, 0, DESC_SIZE);
	w[0] = (uint64_t)DSA_OPCODE_MEMMOVE << 56 |
	       (uint64_t)(IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR) << 32;
	w[1] = unmapped();
	w[2] = unmapped();
	w[3] = unmapped();
	w[4] = len;
}

/*
 * Random and malformed descriptors to the user WQ: every opcode, every flag,
 * PASID and privilege bits, transfer sizes, misaligned completion records,
 * pure random words, bad lengths and bad buffers. The device and both WQs
 * stay enabled.
 */
TEST_F_TIMEOUT(dsa, cdev_descriptors, 120)
{
	static const size_t bad_lens[] = { 0, 1, 8, 63, 65, 127, 129 };
	static const unsigned long bad_bufs[] = { 0, 16, -4096UL };
	struct cdev_fuzz c = { .fd = -1 };
	uint64_t w[8], two[16] = { 0 };
	uint32_t sizes[] = { 0, 1, 4095, 0, 0, 0, 0, UINT32_MAX };
	unsigned int i, k, bit;
	int tries = 0;
	char cap[256];
	bool ok = true;
	ssize_t n;

	ASSERT_EQ(0, dsa_enable());
	ASSERT_GT(attr_read(dsa_name, "op_cap", cap, sizeof(cap)), 0);
	n = sscanf(cap, "%lx %lx %lx %lx", &c.opcap[0], &c.opcap[1], &c.opcap[2],
		   &c.opcap[3]);
	ASSERT_EQ(4, n);
	c.max_xfer = attr_num(wq(UWQ), "max_transfer_size");
	ASSERT_GT(c.max_xfer, 0);
	c.fd = open("/dev/dsa/wq0.1", O_RDWR);
	ASSERT_LE(0, c.fd);

	/* Every opcode, otherwise well-formed. */
	for (i = 0; i < 256; i++) {
		desc_memmove(w, 64);
		w[0] = (w[0] & ~(0xffULL << 56)) | (uint64_t)i << 56;
		ok &= cdev_submit(&c, w);
	}
	/* Every flag bit, and every bit of the first dword. */
	for (bit = 0; bit < 64; bit++) {
		desc_memmove(w, 64);
		w[0] ^= 1ULL << bit;
		ok &= cdev_submit(&c, w);
	}
	/* Transfer sizes around the WQ's maximum, for the ops that have one. */
	sizes[3] = c.max_xfer - 1;
	sizes[4] = c.max_xfer;
	sizes[5] = c.max_xfer + 1;
	sizes[6] = 2 * c.max_xfer;
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		desc_memmove(w, sizes[i]);
		ok &= cdev_submit(&c, w);
		w[0] = (w[0] & ~(0xffULL << 56)) | (uint64_t)DSA_OPCODE_MEMFILL << 56;
		ok &= cdev_submit(&c, w);
	}
	/* Completion records at every misalignment within 64 bytes. */
	for (i = 0; i < 64; i++) {
		desc_memmove(w, 64);
		w[1] = (1ULL << 41) + i;
		ok &= cdev_submit(&c, w);
	}
	/* Random descriptors with unmapped addresses, some with a valid opcode. */
	for (i = 0; i < 600; i++) {
		for (k = 0; k < 8; k++)
			w[k] = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 2) ^ rand();
		if (i % 2)
			w[0] &= ~PASID_PRIV_MASK;
		if (i % 3)
			w[0] = (w[0] & ~(0xffULL << 56)) | (uint64_t)(rand() % 12) << 56;
		if (i % 4)
			w[0] &= ~((uint64_t)IDXD_OP_FLAG_RCI << 32);
		/* Every fifth completion record may be misaligned. */
		w[1] = unmapped() + ((i % 5) ? 0 : rand() % CR_ALIGN);
		for (k = 2; k < 8; k++)
			if (k != 4)
				w[k] = unmapped();
		ok &= cdev_submit(&c, w);
	}
	EXPECT_TRUE(ok);

	/* Lengths that are not whole descriptors, and buffers it cannot read. */
	for (i = 0; i < ARRAY_SIZE(bad_lens); i++) {
		hostile++;
		errno = 0;
		EXPECT_EQ(-1, write(c.fd, two, bad_lens[i]));
		EXPECT_EQ(EINVAL, errno);
	}
	for (i = 0; i < ARRAY_SIZE(bad_bufs); i++) {
		hostile++;
		errno = 0;
		/* syscall(): the libc wrapper's attributes refuse such buffers. */
		EXPECT_EQ(-1, syscall(__NR_write, c.fd, bad_bufs[i], DESC_SIZE));
		EXPECT_EQ(EFAULT, errno);
	}
	/* A valid descriptor then a refused one: the first is taken, the count says so. */
	desc_memmove(two, 64);
	desc_memmove(two + 8, 64);
	two[8] |= 1;	/* a PASID bit */
	hostile++;
	do {
		n = write(c.fd, two, sizeof(two));
	} while (n < 0 && errno == EAGAIN && ++tries < 1000 && !usleep(1000));
	EXPECT_EQ(DESC_SIZE, n);

	ksft_print_msg("descriptors: %u tried, %u accepted, %u refused, %u waits on a full WQ\n",
		       c.tried, c.accepted, c.refused, c.full);
	EXPECT_GT(c.accepted, 100);
	EXPECT_GT(c.refused, 100);
	close(c.fd);

	/* The device weathered it: both WQs enabled, the device not halted. */
	EXPECT_TRUE(attr_is(dsa_name, "state", "enabled"));
	EXPECT_TRUE(attr_is(wq(KWQ), "state", "enabled"));
	EXPECT_TRUE(attr_is(wq(UWQ), "state", "enabled"));
}

TEST_HARNESS_MAIN
