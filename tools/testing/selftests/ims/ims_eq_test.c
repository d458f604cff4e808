// SPDX-License-Identifier: GPL-2.0
/*
 * The IMS core's second user: the ims_eq driver (drivers/misc/ims_eq) on the
 * emulated event-queue device (QEMU -device ims-eq, PCI 1234:1e5e).
 *
 * Each EQ's interrupt message lives in an EQ context in host memory that the
 * device caches and changes only through a sleeping command; its cookie is
 * a VM-id. The test drives the driver through its debugfs files
 * (/sys/kernel/debug/ims_eq/<PCI name>/, Documentation/misc-devices/ims_eq.rst)
 * and checks what the device itself reports: the QUERY command returns the
 * context the device caches, and the device counts the work whose VM-id did
 * not match its EQ's.
 *
 *  - vectors are allocated per vport on demand, within its quota, with the
 *    vport's VM-id; work of that VM-id fires the handler, work of another
 *    does not and the device reports the mismatch;
 *  - mask and unmask are device commands; an event posted while masked is
 *    delivered on unmask;
 *  - growing one vector at a time leaves the live vectors' messages (in
 *    the device) and IRQ numbers untouched; 4096 EQs are allocated, each
 *    fires once, and all are freed;
 *  - a new affinity (/proc/irq/N/smp_affinity) keeps a vector firing;
 *  - an injected command failure is reported and leaves the vector masked,
 *    with its event kept and delivered once the command goes through; a
 *    slow command is waited for;
 *  - unbinding with live vectors, and 10 unload/reload cycles, are clean
 *    (the VM's log check fails the run on any KASAN, lockdep or kmemleak
 *    report; a command wait in atomic context would be one).
 *
 * Usage: ims_eq_test [harness options]. SKIPs without an ims_eq device.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest_harness.h"

#define DEBUGFS		"/sys/kernel/debug/ims_eq"
#define DRIVER		"/sys/bus/pci/drivers/ims_eq"
#define NR_EQS		4096
#define CHUNK		128
#define FIRE_MS		2000

static char bdf[NAME_MAX + 1];
static char dir[sizeof(DEBUGFS) + NAME_MAX + 1];

/* Finds the first ims_eq device in debugfs: false if there is none. */
static bool find_dev(void)
{
	struct dirent *de;
	DIR *d;

	d = opendir(DEBUGFS);
	if (!d)
		return false;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(bdf, sizeof(bdf), "%s", de->d_name);
		snprintf(dir, sizeof(dir), DEBUGFS "/%s", de->d_name);
		closedir(d);
		return true;
	}
	closedir(d);
	return false;
}

static int write_path(const char *path, const char *buf)
{
	int fd, ret = 0;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, strlen(buf)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* One line to a control file of the device: 0 or -errno. */
static int ctl(const char *file, const char *fmt, ...)
{
	char path[sizeof(dir) + 32], buf[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return write_path(path, buf);
}

/* A control file that answers: write the line, read the answer into out. */
static int ask(const char *file, char *out, size_t len, const char *fmt, ...)
{
	char path[sizeof(dir) + 32], buf[64];
	ssize_t n;
	va_list ap;
	int fd;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, strlen(buf)) < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	n = read(fd, out, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	out[n] = '\0';
	return 0;
}

struct vec {
	unsigned int index, virq;
};

/* Allocates a vector for vport vp: 0 or -errno. */
static int alloc_vec(unsigned int vp, struct vec *v)
{
	char out[64];
	int ret;

	ret = ask("alloc", out, sizeof(out), "%u", vp);
	if (ret)
		return ret;
	return sscanf(out, "%u %u", &v->index, &v->virq) == 2 ? 0 : -EPROTO;
}

/* What the device caches for an EQ (its QUERY command). */
struct eqctx {
	unsigned long long addr;
	unsigned int data, masked, vmid, pending, count;
};

static int query(unsigned int eqn, struct eqctx *c)
{
	char out[128];
	int ret;

	ret = ask("query", out, sizeof(out), "%u", eqn);
	if (ret)
		return ret;
	return sscanf(out, "%llx %x %u %u %u %u", &c->addr, &c->data, &c->masked, &c->vmid,
		      &c->pending, &c->count) == 6 ? 0 : -EPROTO;
}

/* Handler counts of every vector, by index (-1: no such vector). */
static void counts(int *cnt)
{
	unsigned int index, vp, virq, vmid, disabled, data;
	char path[sizeof(dir) + 32], line[256];
	unsigned long long addr;
	int req, count;
	FILE *f;

	for (index = 0; index < NR_EQS; index++)
		cnt[index] = -1;
	snprintf(path, sizeof(path), "%s/vectors", dir);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%u %u %u %u %d %u %d %llx %x", &index, &vp, &virq, &vmid, &req,
			   &disabled, &count, &addr, &data) == 9 && index < NR_EQS)
			cnt[index] = count;
	fclose(f);
}

static int count_of(unsigned int index)
{
	static int cnt[NR_EQS];

	counts(cnt);
	return cnt[index];
}

/* Waits up to FIRE_MS for the handler count of index to reach want. */
static bool wait_count(unsigned int index, int want)
{
	int i;

	for (i = 0; i < FIRE_MS; i++) {
		if (count_of(index) >= want)
			return count_of(index) == want;
		usleep(1000);
	}
	return false;
}

static long stat_of(const char *name)
{
	char path[sizeof(dir) + 32], key[64];
	long val, ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/stats", dir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &val) == 2)
		if (!strcmp(key, name))
			ret = val;
	fclose(f);
	return ret;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void vports_del(unsigned int from, unsigned int to)
{
	unsigned int i;

	for (i = from; i <= to; i++)
		ctl("vport_del", "%u", i);
}

/* Vport 1 with VM-id vmid and quota, and one vector, requested, in v. */
static void one_vector(struct __test_metadata *_metadata, unsigned int vmid, unsigned int quota,
		       struct vec *v)
{
	ASSERT_EQ(0, ctl("vport_add", "1 %u %u", vmid, quota));
	ASSERT_EQ(0, alloc_vec(1, v));
	ASSERT_EQ(0, ctl("request", "%u", v->index));
}

FIXTURE(ims_eq) {
	int unused;
};

FIXTURE_SETUP(ims_eq)
{
	if (!find_dev())
		SKIP(return, "no ims_eq device (QEMU -device ims-eq, module ims_eq)");
	/* A test that failed half-way may have left vports behind. */
	vports_del(1, 8);
}

FIXTURE_TEARDOWN(ims_eq)
{
	if (dir[0])
		vports_del(1, 8);
}

/* Each vport's vectors carry its VM-id; other VM-ids' work does not fire them. */
TEST_F(ims_eq, vmid_per_vport)
{
	struct vec a, b;
	struct eqctx c;
	long mism;

	ASSERT_EQ(0, ctl("vport_add", "1 100 4"));
	ASSERT_EQ(0, ctl("vport_add", "2 200 4"));
	ASSERT_EQ(0, alloc_vec(1, &a));
	ASSERT_EQ(0, alloc_vec(2, &b));
	ASSERT_NE(a.index, b.index);
	ASSERT_NE(a.virq, b.virq);
	/* Allocated, not requested: the device has no EQ yet. */
	ASSERT_EQ(-EBUSY, query(a.index, &c));
	ASSERT_EQ(0, ctl("request", "%u", a.index));
	ASSERT_EQ(0, ctl("request", "%u", b.index));
	ASSERT_EQ(0, query(a.index, &c));
	EXPECT_EQ(100, c.vmid);
	EXPECT_EQ(0, c.masked);
	EXPECT_NE(0, c.addr);
	ASSERT_EQ(0, query(b.index, &c));
	EXPECT_EQ(200, c.vmid);

	ASSERT_EQ(0, ctl("post", "%u 100", a.index));
	ASSERT_TRUE(wait_count(a.index, 1));
	ASSERT_EQ(0, ctl("post", "%u 200", b.index));
	ASSERT_TRUE(wait_count(b.index, 1));

	/* VM 200's work on VM 100's EQ: refused by the device, counted. */
	mism = stat_of("mismatches");
	ASSERT_EQ(-EACCES, ctl("post", "%u 200", a.index));
	ASSERT_EQ(-EACCES, ctl("post", "%u 100", b.index));
	usleep(50000);
	EXPECT_EQ(1, count_of(a.index));
	EXPECT_EQ(1, count_of(b.index));
	EXPECT_EQ(mism + 2, stat_of("mismatches"));
	EXPECT_EQ(b.index, stat_of("mismatch_eqn"));
	EXPECT_EQ(100, stat_of("mismatch_vmid"));
	ASSERT_EQ(0, query(a.index, &c));
	EXPECT_EQ(1, c.count);
}

/* A vport gets at most its quota; a freed vector makes room for one more. */
TEST_F(ims_eq, quota)
{
	struct vec v[3];

	ASSERT_EQ(0, ctl("vport_add", "1 7 2"));
	ASSERT_EQ(0, alloc_vec(1, &v[0]));
	ASSERT_EQ(0, alloc_vec(1, &v[1]));
	ASSERT_EQ(-ENOSPC, alloc_vec(1, &v[2]));
	ASSERT_EQ(0, ctl("free", "%u", v[0].index));
	ASSERT_EQ(0, alloc_vec(1, &v[2]));
	ASSERT_EQ(-ENOSPC, alloc_vec(1, &v[0]));
	ASSERT_EQ(0, ctl("vport_add", "2 8 0"));
	ASSERT_EQ(-ENOSPC, alloc_vec(2, &v[0]));
}

/* Masking is a command; the device keeps the event and sends it on unmask. */
TEST_F(ims_eq, masked_event_on_unmask)
{
	struct eqctx c;
	struct vec v;
	long cmds;

	one_vector(_metadata, 42, 1, &v);
	cmds = stat_of("cmds_done");
	ASSERT_EQ(0, ctl("mask", "%u", v.index));
	EXPECT_LT(cmds, stat_of("cmds_done"));
	ASSERT_EQ(0, query(v.index, &c));
	ASSERT_EQ(1, c.masked);

	ASSERT_EQ(0, ctl("post", "%u 42", v.index));
	usleep(100000);
	EXPECT_EQ(0, count_of(v.index));
	ASSERT_EQ(0, query(v.index, &c));
	EXPECT_EQ(1, c.pending);
	EXPECT_EQ(0, c.count);

	ASSERT_EQ(0, ctl("unmask", "%u", v.index));
	ASSERT_TRUE(wait_count(v.index, 1));
	ASSERT_EQ(0, query(v.index, &c));
	EXPECT_EQ(0, c.masked);
	EXPECT_EQ(0, c.pending);
	EXPECT_EQ(1, c.count);
}

/* New vectors, one at a time, leave the live ones' messages and IRQs alone. */
TEST_F(ims_eq, grow_one_at_a_time)
{
	struct eqctx ctx[16], c;
	struct vec v[16];
	int i, j;

	ASSERT_EQ(0, ctl("vport_add", "1 5 16"));
	for (i = 0; i < 16; i++) {
		ASSERT_EQ(0, alloc_vec(1, &v[i]));
		ASSERT_EQ(0, ctl("request", "%u", v[i].index));
		ASSERT_EQ(0, query(v[i].index, &ctx[i]));
		for (j = 0; j < i; j++) {
			ASSERT_EQ(0, query(v[j].index, &c));
			ASSERT_EQ(ctx[j].addr, c.addr);
			ASSERT_EQ(ctx[j].data, c.data);
			ASSERT_EQ(0, c.masked);
		}
	}
	for (i = 0; i < 16; i++) {
		ASSERT_EQ(0, ctl("post", "%u 5", v[i].index));
		ASSERT_TRUE(wait_count(v[i].index, 1));
	}
}

/* Every EQ of the device: allocated, each fired once, freed. */
TEST_F_TIMEOUT(ims_eq, all_4096, 400)
{
	static int cnt[NR_EQS];
	static struct vec v[NR_EQS];
	unsigned int i, k, vp;
	struct vec extra;
	double t0 = now();
	long free0;
	int ret = 0;

	free0 = stat_of("free_slots");
	ASSERT_EQ(NR_EQS, free0);
	/* Four VMs of 1024 EQs each, vectors allocated one at a time. */
	for (vp = 1; vp <= 4 && !ret; vp++)
		ret = ctl("vport_add", "%u %u 1024", vp, 1000 + vp);
	ASSERT_EQ(0, ret);
	for (i = 0; i < NR_EQS && !ret; i++)
		ret = alloc_vec(1 + i / 1024, &v[i]);
	ASSERT_EQ(0, ret) TH_LOG("allocation %u", i);
	ASSERT_EQ(0, stat_of("free_slots"));
	ASSERT_EQ(0, ctl("vport_add", "5 5 1"));
	ASSERT_EQ(-ENOSPC, alloc_vec(5, &extra));

	/*
	 * With interrupt remapping, x86 gives an interrupt its CPU vector at
	 * its first request_irq() and keeps it until the interrupt is freed,
	 * and two CPUs have a few hundred vectors between them. So, with all
	 * 4096 allocated, the vectors are requested, fired and freed in
	 * chunks.
	 */
	for (i = 0; i < NR_EQS; i += CHUNK) {
		for (k = i; k < i + CHUNK && !ret; k++)
			ret = ctl("request", "%u", v[k].index);
		ASSERT_EQ(0, ret) TH_LOG("request of EQ %u", v[k - 1].index);
		for (k = i; k < i + CHUNK && !ret; k++)
			ret = ctl("post", "%u %u", v[k].index, 1001 + k / 1024);
		ASSERT_EQ(0, ret) TH_LOG("post on EQ %u", v[k - 1].index);
		for (k = 0; k < FIRE_MS; k++) {
			unsigned int got = 0, j;

			counts(cnt);
			for (j = i; j < i + CHUNK; j++)
				got += cnt[v[j].index] == 1;
			if (got == CHUNK)
				break;
			usleep(1000);
		}
		ASSERT_LT(k, FIRE_MS) TH_LOG("chunk at %u did not fire in full", i);
		for (k = i; k < i + CHUNK && !ret; k++)
			ret = ctl("free", "%u", v[k].index);
		ASSERT_EQ(0, ret);
	}
	EXPECT_EQ(NR_EQS, stat_of("free_slots"));
	ksft_print_msg("4096 EQs allocated, fired and freed in %.1f s\n", now() - t0);
}

static int set_affinity(unsigned int virq, const char *mask)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/irq/%u/smp_affinity", virq);
	return write_path(path, mask);
}

/* A vector keeps firing across affinity changes. */
TEST_F(ims_eq, affinity)
{
	struct eqctx c0, c;
	struct vec v;
	int n = 0;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "one CPU");
	one_vector(_metadata, 9, 1, &v);
	ASSERT_EQ(0, query(v.index, &c0));
	for (int round = 0; round < 4; round++) {
		ASSERT_EQ(0, set_affinity(v.virq, round & 1 ? "2" : "1"));
		ASSERT_EQ(0, ctl("post", "%u 9", v.index));
		ASSERT_TRUE(wait_count(v.index, ++n));
	}
	/* Remapped: the IRTE moves, the message in the device stays. */
	ASSERT_EQ(0, query(v.index, &c));
	EXPECT_EQ(c0.addr, c.addr);
	EXPECT_EQ(c0.data, c.data);
	ASSERT_EQ(0, set_affinity(v.virq, "3"));
}

/*
 * A failed command: reported, the vector stays masked, its event is kept,
 * and the next command for it carries out what was asked.
 */
TEST_F(ims_eq, command_failure)
{
	struct eqctx c;
	struct vec v;
	long fails;

	one_vector(_metadata, 11, 2, &v);
	ASSERT_EQ(0, ctl("mask", "%u", v.index));

	/* The unmask's MODIFY fails. */
	fails = stat_of("cmd_failures");
	ASSERT_EQ(0, ctl("fail_commands", "1"));
	ASSERT_EQ(0, ctl("unmask", "%u", v.index));
	EXPECT_EQ(fails + 1, stat_of("cmd_failures"));
	ASSERT_EQ(0, query(v.index, &c));
	EXPECT_EQ(1, c.masked);
	ASSERT_EQ(0, ctl("post", "%u 11", v.index));
	usleep(100000);
	EXPECT_EQ(0, count_of(v.index));
	ASSERT_EQ(0, query(v.index, &c));
	EXPECT_EQ(1, c.pending);

	/* The next bus_sync_unlock() carries it out: the event arrives. */
	ASSERT_EQ(0, ctl("mask", "%u", v.index));
	ASSERT_EQ(0, ctl("unmask", "%u", v.index));
	ASSERT_TRUE(wait_count(v.index, 1));

	/* The CREATE of a requested vector fails: no EQ, nothing fires. */
	ASSERT_EQ(0, ctl("release", "%u", v.index));
	ASSERT_EQ(-EBUSY, query(v.index, &c));
	ASSERT_EQ(0, ctl("fail_commands", "1"));
	ASSERT_EQ(0, ctl("request", "%u", v.index));
	EXPECT_EQ(fails + 2, stat_of("cmd_failures"));
	ASSERT_EQ(-EBUSY, query(v.index, &c));
	ASSERT_EQ(-ENOENT, ctl("post", "%u 11", v.index));
	ASSERT_EQ(0, ctl("mask", "%u", v.index));
	ASSERT_EQ(0, ctl("unmask", "%u", v.index));
	ASSERT_EQ(0, ctl("post", "%u 11", v.index));
	ASSERT_TRUE(wait_count(v.index, 2));
	ASSERT_EQ(0, ctl("fail_commands", "0"));
}

/* A slow command is waited for, in sleepable context, and takes effect. */
TEST_F(ims_eq, slow_command)
{
	struct eqctx c;
	struct vec v;
	double t;

	one_vector(_metadata, 12, 1, &v);
	ASSERT_EQ(0, ctl("cmd_delay_us", "50000"));
	t = now();
	ASSERT_EQ(0, ctl("mask", "%u", v.index));
	EXPECT_GE(now() - t, 0.05);
	ASSERT_EQ(0, ctl("cmd_delay_us", "0"));
	ASSERT_EQ(0, query(v.index, &c));
	EXPECT_EQ(1, c.masked);
	ASSERT_EQ(0, ctl("post", "%u 12", v.index));
	ASSERT_EQ(0, ctl("unmask", "%u", v.index));
	ASSERT_TRUE(wait_count(v.index, 1));
}

/* Bad lines get a clear errno and change nothing. */
TEST_F(ims_eq, bad_input)
{
	struct vec v;

	EXPECT_EQ(-EINVAL, ctl("vport_add", "1 2"));
	EXPECT_EQ(-EINVAL, ctl("vport_add", "1 2 3 4"));
	EXPECT_EQ(-EINVAL, ctl("vport_add", "x 2 3"));
	EXPECT_EQ(-ERANGE, ctl("vport_add", "1 4294967296 3"));
	EXPECT_EQ(-EINVAL, ctl("vport_add", "\n"));
	ASSERT_EQ(0, ctl("vport_add", "1 3 1"));
	EXPECT_EQ(-EEXIST, ctl("vport_add", "1 4 1"));
	EXPECT_EQ(-ENOENT, alloc_vec(7, &v));
	EXPECT_EQ(-ENOENT, ctl("vport_del", "7"));
	EXPECT_EQ(-ENOENT, ctl("free", "4095"));
	EXPECT_EQ(-ENOENT, ctl("request", "4095"));
	EXPECT_EQ(-EINVAL, ctl("post", "4096 3"));
	EXPECT_EQ(-ENOENT, ctl("post", "0 3"));
	EXPECT_EQ(-EINVAL, ctl("fail_commands", "65536"));
	EXPECT_EQ(-EINVAL, ctl("cmd_delay_us", "1000001"));
	ASSERT_EQ(0, alloc_vec(1, &v));
	EXPECT_EQ(-EINVAL, ctl("mask", "%u", v.index));
	EXPECT_EQ(-EINVAL, ctl("unmask", "%u", v.index));
	EXPECT_EQ(-EINVAL, ctl("release", "%u", v.index));
	ASSERT_EQ(0, ctl("request", "%u", v.index));
	EXPECT_EQ(-EBUSY, ctl("request", "%u", v.index));
	EXPECT_EQ(-EINVAL, ctl("unmask", "%u", v.index));
	ASSERT_EQ(0, ctl("mask", "%u", v.index));
	EXPECT_EQ(-EINVAL, ctl("mask", "%u", v.index));
	/* Freed while requested and masked: the driver frees it in order. */
	ASSERT_EQ(0, ctl("free", "%u", v.index));
	EXPECT_EQ(NR_EQS, stat_of("free_slots"));
}

/* Sets up live vectors: requested, one masked with an event pending. */
static void live_vectors(struct __test_metadata *_metadata)
{
	struct vec v[3];
	int i;

	ASSERT_EQ(0, ctl("vport_add", "1 21 2"));
	ASSERT_EQ(0, ctl("vport_add", "2 22 2"));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, alloc_vec(1 + i / 2, &v[i]));
		ASSERT_EQ(0, ctl("request", "%u", v[i].index));
	}
	ASSERT_EQ(0, ctl("post", "%u 21", v[0].index));
	ASSERT_TRUE(wait_count(v[0].index, 1));
	ASSERT_EQ(0, ctl("mask", "%u", v[2].index));
	ASSERT_EQ(0, ctl("post", "%u 22", v[2].index));
}

/* Unbinding with live vectors, then binding again: a fresh domain. */
TEST_F(ims_eq, unbind_live)
{
	char path[sizeof(dir) + 32];

	live_vectors(_metadata);
	ASSERT_EQ(0, write_path(DRIVER "/unbind", bdf));
	snprintf(path, sizeof(path), "%s", dir);
	ASSERT_NE(0, access(path, F_OK));
	ASSERT_EQ(0, write_path(DRIVER "/bind", bdf));
	ASSERT_TRUE(find_dev());
	EXPECT_EQ(NR_EQS, stat_of("free_slots"));
	live_vectors(_metadata);
}

/* 10 unload/reload cycles of the module, each with live vectors. */
TEST_F(ims_eq, reload)
{
	int i;

	for (i = 0; i < 10; i++) {
		live_vectors(_metadata);
		ASSERT_EQ(0, system("rmmod ims_eq"));
		ASSERT_EQ(0, system("modprobe ims_eq"));
		ASSERT_TRUE(find_dev());
		ASSERT_EQ(NR_EQS, stat_of("free_slots"));
	}
}

TEST_HARNESS_MAIN
