// SPDX-License-Identifier: GPL-2.0

#include <linux/device.h>
#include <linux/interrupt.h>
#include <linux/irq.h>

struct msi_desc *rust_helper_irq_data_get_msi_desc(struct irq_data *d)
{
	return irq_data_get_msi_desc(d);
}

void *rust_helper_irq_data_get_irq_chip_data(struct irq_data *d)
{
	return irq_data_get_irq_chip_data(d);
}

u64 rust_helper_dev_msi_default_cookie(const struct device *dev)
{
	return dev_msi_default_cookie(dev);
}

void rust_helper_dev_msi_set_default_cookie(struct device *dev, u64 cookie)
{
	dev_msi_set_default_cookie(dev, cookie);
}

int rust_helper_request_irq(unsigned int irq, irq_handler_t handler,
			    unsigned long flags, const char *name, void *dev)
{
	return request_irq(irq, handler, flags, name, dev);
}
