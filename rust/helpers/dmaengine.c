// SPDX-License-Identifier: GPL-2.0

#include <linux/dmaengine.h>
#include <linux/list.h>
#include <linux/rculist.h>

__rust_helper void rust_helper_dma_descriptor_unmap(struct dma_async_tx_descriptor *tx)
{
	dma_descriptor_unmap(tx);
}

/*
 * Declared in drivers/dma/dmaengine.h, the DMA engine core's private header; exported for
 * providers. kernel::dmaengine uses it on a channel that always has a client, which makes it a
 * barrier on the core's list mutex and nothing else.
 */
struct dma_chan *dma_get_slave_channel(struct dma_chan *chan);

__rust_helper struct dma_chan *rust_helper_dma_get_slave_channel(struct dma_chan *chan)
{
	return dma_get_slave_channel(chan);
}

__rust_helper void rust_helper_list_add_tail_rcu(struct list_head *new, struct list_head *head)
{
	list_add_tail_rcu(new, head);
}

__rust_helper void rust_helper_list_del_rcu(struct list_head *entry)
{
	list_del_rcu(entry);
}
