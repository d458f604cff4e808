// SPDX-License-Identifier: GPL-2.0
/*
 * The VFIO plumbing of the IMS kselftests: see vfio_util.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "../kselftest.h"
#include "vfio_util.h"

/* Leaves the reason in @v->err; returns @err. */
static __printf(3, 4) int vfio_fail(struct vfio_dev *v, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->err, sizeof(v->err), fmt, ap);
	va_end(ap);
	return err;
}

/* Marks every fd of @v closed. */
void vfio_dev_init(struct vfio_dev *v)
{
	memset(v, 0, sizeof(*v));
	v->container = -1;
	v->group = -1;
	v->iommufd = -1;
	v->device = -1;
}

/* Closes what @v holds, the device first; @v can be opened again. */
void vfio_dev_close(struct vfio_dev *v)
{
	if (v->device >= 0)
		close(v->device);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
	if (v->iommufd >= 0)
		close(v->iommufd);
	v->device = -1;
	v->group = -1;
	v->container = -1;
	v->iommufd = -1;
	v->ioas_id = 0;
}

/*
 * Copies to @buf the last component of the symlink @dir/@link: a device's
 * "iommu_group" (the N of /dev/vfio/N) or "driver". @buf is "" on failure.
 */
int vfio_sysfs_link(const char *dir, const char *link, char *buf, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, link);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	snprintf(buf, len, "%s", basename(target));
	return 0;
}

/* Writes @val to @path in one write() (mdev create, remove). Returns 0 or -errno. */
int vfio_sysfs_write(const char *path, const char *val)
{
	ssize_t n;
	int fd, err;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

/*
 * The legacy path: puts IOMMU group @group (the N of /dev/vfio/N) in a
 * container of its own with the type1v2 IOMMU, then opens the group's
 * device @name (a PCI function's BDF, an mdev's UUID). Returns -EOPNOTSUPP
 * when the container offers no type1v2 IOMMU.
 */
int vfio_type1_open(struct vfio_dev *v, const char *group, const char *name)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[PATH_MAX];
	int version;

	v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (v->container < 0)
		return vfio_fail(v, -errno, "/dev/vfio/vfio: %s", strerror(errno));
	version = ioctl(v->container, VFIO_GET_API_VERSION);
	if (version != VFIO_API_VERSION)
		return vfio_fail(v, -EINVAL, "VFIO API version %d, not %d", version,
				 VFIO_API_VERSION);
	if (ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
		return vfio_fail(v, -EOPNOTSUPP, "no VFIO_TYPE1v2_IOMMU");

	snprintf(path, sizeof(path), "/dev/vfio/%s", group);
	v->group = open(path, O_RDWR | O_CLOEXEC);
	if (v->group < 0)
		return vfio_fail(v, -errno, "%s: %s", path, strerror(errno));
	if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &status))
		return vfio_fail(v, -errno, "VFIO_GROUP_GET_STATUS: %s", strerror(errno));
	/* Viable: every device of the group is bound to a VFIO driver. */
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return vfio_fail(v, -EPERM, "group %s not viable", path);
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container))
		return vfio_fail(v, -errno, "VFIO_GROUP_SET_CONTAINER: %s", strerror(errno));
	if (ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return vfio_fail(v, -errno, "VFIO_SET_IOMMU: %s", strerror(errno));

	v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, name);
	if (v->device < 0)
		return vfio_fail(v, -errno, "VFIO_GROUP_GET_DEVICE_FD(%s): %s", name,
				 strerror(errno));
	return 0;
}

/*
 * The iommufd path: opens the device's cdev /dev/vfio/devices/@cdev, binds
 * it to an iommufd of its own and attaches it to a new IOAS.
 */
int vfio_iommufd_open(struct vfio_dev *v, const char *cdev)
{
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	char path[PATH_MAX];

	v->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (v->iommufd < 0)
		return vfio_fail(v, -errno, "/dev/iommu: %s", strerror(errno));
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", cdev);
	v->device = open(path, O_RDWR | O_CLOEXEC);
	if (v->device < 0)
		return vfio_fail(v, -errno, "%s: %s", path, strerror(errno));

	bind.iommufd = v->iommufd;
	if (ioctl(v->device, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return vfio_fail(v, -errno, "VFIO_DEVICE_BIND_IOMMUFD: %s", strerror(errno));
	if (ioctl(v->iommufd, IOMMU_IOAS_ALLOC, &alloc))
		return vfio_fail(v, -errno, "IOMMU_IOAS_ALLOC: %s", strerror(errno));
	v->ioas_id = alloc.out_ioas_id;
	attach.pt_id = v->ioas_id;
	if (ioctl(v->device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		return vfio_fail(v, -errno, "VFIO_DEVICE_ATTACH_IOMMUFD_PT(%u): %s", v->ioas_id,
				 strerror(errno));
	return 0;
}

/*
 * Maps @size bytes at @vaddr for the device's DMA, readable and writable,
 * at @iova: in the container (type1) or in the IOAS (iommufd).
 */
int vfio_dma_map(struct vfio_dev *v, void *vaddr, __u64 iova, __u64 size)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (unsigned long)vaddr,
		.iova = iova,
		.size = size,
	};
	struct iommu_ioas_map ioas_map = {
		.size = sizeof(ioas_map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = v->ioas_id,
		.user_va = (unsigned long)vaddr,
		.iova = iova,
		.length = size,
	};

	if (v->iommufd >= 0) {
		if (ioctl(v->iommufd, IOMMU_IOAS_MAP, &ioas_map))
			return vfio_fail(v, -errno, "IOMMU_IOAS_MAP: %s", strerror(errno));
		return 0;
	}
	if (ioctl(v->container, VFIO_IOMMU_MAP_DMA, &map))
		return vfio_fail(v, -errno, "VFIO_IOMMU_MAP_DMA: %s", strerror(errno));
	return 0;
}

/*
 * Undoes vfio_dma_map() of @size bytes at @iova in the container. Type1
 * only: no user unmaps from an IOAS, whose mappings go with its iommufd
 * (vfio_dev_close()).
 */
int vfio_dma_unmap(struct vfio_dev *v, __u64 iova, __u64 size)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};

	if (v->container < 0)
		return vfio_fail(v, -EOPNOTSUPP, "DMA unmap without a type1 container");
	if (ioctl(v->container, VFIO_IOMMU_UNMAP_DMA, &unmap))
		return vfio_fail(v, -errno, "VFIO_IOMMU_UNMAP_DMA: %s", strerror(errno));
	return 0;
}

/* Fills @r with what VFIO_DEVICE_GET_REGION_INFO says of region @index. */
int vfio_region_get(struct vfio_dev *v, __u32 index, struct vfio_region *r)
{
	struct vfio_region_info info = { .argsz = sizeof(info), .index = index };

	if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &info))
		return vfio_fail(v, -errno, "GET_REGION_INFO(%u): %s", index, strerror(errno));
	r->fd = v->device;
	r->offset = info.offset;
	r->size = info.size;
	r->flags = info.flags;
	r->map = NULL;
	return 0;
}

/* Reads @len bytes at @off of @r in one pread(); -EIO if fewer came. */
int vfio_region_read(const struct vfio_region *r, __u64 off, void *buf, size_t len)
{
	ssize_t n = pread(r->fd, buf, len, r->offset + off);

	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Writes @len bytes at @off of @r in one pwrite(); -EIO if fewer went. */
int vfio_region_write(const struct vfio_region *r, __u64 off, const void *buf, size_t len)
{
	ssize_t n = pwrite(r->fd, buf, len, r->offset + off);

	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

/*
 * VFIO_DEVICE_SET_IRQS on interrupt index @index, vectors @start to
 * @start + @count - 1, with @flags (data type and action) and, if @fds is
 * not NULL, @count eventfds (-1: none for that vector).
 */
int vfio_set_irqs(struct vfio_dev *v, __u32 index, __u32 start, __u32 count, __u32 flags,
		  const __s32 *fds)
{
	union {
		struct vfio_irq_set set;
		char buf[sizeof(struct vfio_irq_set) + sizeof(__s32) * VFIO_SET_IRQS_MAX_FDS];
	} u;
	size_t data = 0;

	if (fds) {
		if (count > VFIO_SET_IRQS_MAX_FDS)
			return vfio_fail(v, -E2BIG, "SET_IRQS: %u eventfds", count);
		data = sizeof(__s32) * count;
		memcpy(u.set.data, fds, data);
	}
	u.set.argsz = sizeof(u.set) + data;
	u.set.flags = flags;
	u.set.index = index;
	u.set.start = start;
	u.set.count = count;
	if (ioctl(v->device, VFIO_DEVICE_SET_IRQS, &u.set))
		return vfio_fail(v, -errno, "SET_IRQS index %u start %u count %u: %s", index,
				 start, count, strerror(errno));
	return 0;
}

/* Makes @n eventfds, one per vector, into @efd. Returns 0 or -errno. */
int vfio_eventfds_open(int *efd, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (efd[i] < 0)
			return -errno;
	}
	return 0;
}

/* Closes those of the @n eventfds in @efd that are open, and marks them -1. */
void vfio_eventfds_close(int *efd, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (efd[i] >= 0)
			close(efd[i]);
		efd[i] = -1;
	}
}

/* Waits, bounded, for eventfd @efd. Returns its count, 0 if none arrived. */
__u64 vfio_irq_wait(int efd, int ms)
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	__u64 count = 0;

	if (efd < 0 || poll(&pfd, 1, ms) != 1)
		return 0;
	if (read(efd, &count, sizeof(count)) != sizeof(count))
		return 0;
	return count;
}
