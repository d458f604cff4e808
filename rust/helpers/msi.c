// SPDX-License-Identifier: GPL-2.0

#include <linux/device.h>
#include <linux/irq.h>
#include <linux/msi.h>

__rust_helper struct msi_desc *rust_helper_irq_data_get_msi_desc(struct irq_data *d)
{
	return irq_data_get_msi_desc(d);
}

__rust_helper void *rust_helper_irq_data_get_irq_chip_data(struct irq_data *d)
{
	return irq_data_get_irq_chip_data(d);
}

__rust_helper u64 rust_helper_dev_msi_default_cookie(const struct device *dev)
{
	return dev_msi_default_cookie(dev);
}

__rust_helper void rust_helper_dev_msi_set_default_cookie(struct device *dev, u64 cookie)
{
	dev_msi_set_default_cookie(dev, cookie);
}
