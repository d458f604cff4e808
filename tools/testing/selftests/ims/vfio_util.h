/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VFIO plumbing of the IMS kselftests (vfio_util.c): a device opened
 * through the legacy container/group path (type1v2) or through iommufd and
 * the device's cdev, DMA mapped, its regions and interrupts set up.
 *
 * No harness here, so that a benchmark can use it too: every call returns
 * 0 or -errno, and one that takes a struct vfio_dev also leaves in @err
 * what failed, for the caller to assert on, skip on or print.
 */
#ifndef __SELFTESTS_IMS_VFIO_UTIL_H
#define __SELFTESTS_IMS_VFIO_UTIL_H

#include <stddef.h>

#include <linux/types.h>

/* The most eventfds one vfio_set_irqs() call passes */
#define VFIO_SET_IRQS_MAX_FDS	32

/* What a VFIO user holds of one device; an fd that is not open is -1 */
struct vfio_dev {
	int container;		/* type1: /dev/vfio/vfio */
	int group;		/* type1: /dev/vfio/N */
	int iommufd;		/* iommufd: /dev/iommu */
	__u32 ioas_id;		/* iommufd: the IOAS the device is attached to */
	int device;
	char err[160];		/* what the last failed call did, and why */
};

/* One region of a device (VFIO_DEVICE_GET_REGION_INFO) */
struct vfio_region {
	int fd;			/* the device fd */
	__u64 offset;		/* where the region starts in @fd */
	__u64 size;
	__u32 flags;		/* VFIO_REGION_INFO_FLAG_* */
	void *map;		/* NULL: not mmapped, use vfio_region_read/write */
};

void vfio_dev_init(struct vfio_dev *v);
void vfio_dev_close(struct vfio_dev *v);

int vfio_sysfs_link(const char *dir, const char *link, char *buf, size_t len);
int vfio_sysfs_write(const char *path, const char *val);

int vfio_type1_open(struct vfio_dev *v, const char *group, const char *name);
int vfio_iommufd_open(struct vfio_dev *v, const char *cdev);

int vfio_dma_map(struct vfio_dev *v, void *vaddr, __u64 iova, __u64 size);
int vfio_dma_unmap(struct vfio_dev *v, __u64 iova, __u64 size);

int vfio_region_get(struct vfio_dev *v, __u32 index, struct vfio_region *r);
int vfio_region_read(const struct vfio_region *r, __u64 off, void *buf, size_t len);
int vfio_region_write(const struct vfio_region *r, __u64 off, const void *buf, size_t len);

int vfio_set_irqs(struct vfio_dev *v, __u32 index, __u32 start, __u32 count, __u32 flags,
		  const __s32 *fds);
int vfio_eventfds_open(int *efd, int n);
void vfio_eventfds_close(int *efd, int n);
__u64 vfio_irq_wait(int efd, int ms);

#endif /* __SELFTESTS_IMS_VFIO_UTIL_H */
