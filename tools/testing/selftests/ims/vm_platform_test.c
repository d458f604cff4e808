// SPDX-License-Identifier: GPL-2.0
/*
 * Checks that the machine offers what IMS needs before anything else is
 * tested on it: an IOMMU that the kernel drives, with interrupt remapping
 * enabled, and PCI devices placed in IOMMU groups. IMS refuses to work
 * without remapping, so every later suite depends on these facts.
 *
 * Each fact is read from the kernel's own interfaces: the VT-d extended
 * capability register exported in sysfs, the irqchip names in
 * /proc/interrupts and the kernel log.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>

#include "../kselftest_harness.h"

/* VT-d extended capability register (ECAP) bits, VT-d spec 11.4.3 */
#define VTD_ECAP_IR	(1ULL << 3)	/* interrupt remapping supported */
#define VTD_ECAP_SMTS	(1ULL << 43)	/* scalable mode translation */

#define SYSLOG_ACTION_READ_ALL		3
#define SYSLOG_ACTION_SIZE_BUFFER	10

static int read_u64_hex(const char *path, unsigned long long *val)
{
	FILE *f = fopen(path, "r");
	int ret;

	if (!f)
		return -errno;
	ret = fscanf(f, "%llx", val) == 1 ? 0 : -EINVAL;
	fclose(f);
	return ret;
}

/* Returns the number of entries of @path whose name starts with @prefix. */
static int count_entries(const char *path, const char *prefix)
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!strncmp(de->d_name, prefix, strlen(prefix)))
			n++;
	}
	closedir(d);
	return n;
}

static int file_contains(const char *path, const char *needle)
{
	char line[512];
	int found = 0;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

TEST(iommu_present)
{
	int n = count_entries("/sys/class/iommu", "dmar");

	ASSERT_LE(0, n) TH_LOG("/sys/class/iommu: %s", strerror(-n));
	ASSERT_LT(0, n) TH_LOG("no DMAR unit: is -device intel-iommu on the QEMU command line?");
}

TEST(ecap_has_interrupt_remapping)
{
	unsigned long long ecap;
	int ret;

	ret = read_u64_hex("/sys/class/iommu/dmar0/intel-iommu/ecap", &ecap);
	ASSERT_EQ(0, ret) TH_LOG("cannot read dmar0 ecap: %s", strerror(-ret));
	TH_LOG("dmar0 ecap=%#llx", ecap);
	EXPECT_TRUE(ecap & VTD_ECAP_IR) TH_LOG("VT-d unit without interrupt remapping (intremap=on?)");
}

TEST(msi_goes_through_remapping)
{
	/*
	 * With remapping on, the kernel stacks the IR domain under the
	 * interrupt controllers and names their chips "IR-...".
	 */
	int ret = file_contains("/proc/interrupts", "IR-");

	ASSERT_LE(0, ret) TH_LOG("/proc/interrupts: %s", strerror(-ret));
	EXPECT_EQ(1, ret) TH_LOG("no IR- irqchip in /proc/interrupts");
}

TEST(kernel_log_reports_remapping)
{
	char *buf;
	int len;

	len = klogctl(SYSLOG_ACTION_SIZE_BUFFER, NULL, 0);
	ASSERT_LT(0, len);
	buf = calloc(1, len + 1);
	ASSERT_NE(NULL, buf);
	len = klogctl(SYSLOG_ACTION_READ_ALL, buf, len);
	ASSERT_LT(0, len) TH_LOG("klogctl: %s", strerror(errno));
	buf[len] = '\0';
	EXPECT_NE(NULL, strstr(buf, "Enabled IRQ remapping"))
		TH_LOG("the kernel did not enable interrupt remapping");
	free(buf);
}

TEST(pci_devices_in_iommu_groups)
{
	int n = count_entries("/sys/kernel/iommu_groups", "");

	ASSERT_LE(0, n) TH_LOG("/sys/kernel/iommu_groups: %s", strerror(-n));
	EXPECT_LT(0, n) TH_LOG("the IOMMU manages no device");
}

TEST_HARNESS_MAIN
