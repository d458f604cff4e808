// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the Rust DSA driver's DMA engine channels, as a client sees
 * them: the parts of the provider contract (Documentation/driver-api/
 * dmaengine/provider.rst and client.rst) that dmatest does not exercise.
 *
 *  - dmaengine_terminate_async() may be called from atomic context and from
 *    within a completion callback; the terminated descriptors get no
 *    callback; after dmaengine_synchronize() nothing of them runs any more,
 *    and the channel takes new work.
 *  - A client may release its channel with work in flight. The next client
 *    of the channel must then get all of its own work done, correctly and
 *    in full: no completion of the old work may mark a new descriptor done,
 *    and the work queue must not be overfilled.
 *  - When a halted work queue cannot be reset, its work does not complete:
 *    the device never confirmed that it stopped writing to those buffers
 *    (with the emulated DSA's fault injection, parameter "debug_block").
 *
 * The cases need a kernel work queue enabled as a channel of the device
 * named by the "device" parameter (a PCI name such as 0000:00:03.0), with
 * descriptors that take a while: scripts/vm/suites/dsa-client.sh sets the
 * emulated DSA's per-descriptor latency before loading the module. Without
 * such a channel the cases skip.
 */

#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/dmaengine.h>
#include <linux/hrtimer.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

#include <kunit/test.h>

static char *device = "";
module_param(device, charp, 0444);
MODULE_PARM_DESC(device, "Name of the DMA device whose channel to use (e.g. 0000:00:03.0)");

static unsigned int wq_size = 16;
module_param(wq_size, uint, 0444);
MODULE_PARM_DESC(wq_size, "Size of the channel's work queue");

static unsigned int wq;
module_param(wq, uint, 0444);
MODULE_PARM_DESC(wq, "Index of the channel's work queue in the device");

static unsigned long debug_block;
module_param(debug_block, ulong, 0444);
MODULE_PARM_DESC(debug_block,
		 "Physical address of the emulated DSA's debug block (BAR0 + 0x1000), 0 for none");

/* The emulated DSA's fault injection (tools/testing/qemu/docs/dsa.rst) */
#define DBG_INJECT		0x08
#define  INJ_HALT_WQ(wq)	(2 | (wq) << 16)
#define  INJ_FAIL_CMD(code, err) (4 | (code) << 8 | (err) << 16)
#define CMD_RESET_WQ		10

#define XFER		4096
#define NR_DESC		8
#define TIMEOUT_MS	5000

struct client {
	struct kunit *test;
	struct dma_chan *chan;
	struct device *dma_dev;
	void *src, *dst;
	dma_addr_t src_dma, dst_dma;
	unsigned int nr;		/* descriptors in the buffers */
	spinlock_t lock;		/* held around terminate in the callback */
	atomic_t callbacks;
	atomic_t ok;
	int terminate_ret;
	bool terminate_in_callback;
	struct completion first, all;
	struct hrtimer timer;
};

static bool filter(struct dma_chan *chan, void *param)
{
	return !strcmp(dev_name(chan->device->dev), param);
}

static struct dma_chan *request(struct kunit *test)
{
	dma_cap_mask_t mask;
	struct dma_chan *chan;

	dma_cap_zero(mask);
	dma_cap_set(DMA_MEMCPY, mask);
	chan = dma_request_channel(mask, filter, device);
	if (!chan)
		kunit_skip(test, "no DMA_MEMCPY channel of \"%s\"", device);
	return chan;
}

static void callback(void *param, const struct dmaengine_result *res)
{
	struct client *c = param;
	unsigned long flags;

	if (res->result == DMA_TRANS_NOERROR)
		atomic_inc(&c->ok);
	if (atomic_inc_return(&c->callbacks) == 1 && c->terminate_in_callback) {
		/* A client's own lock, as clients often hold it here: atomic. */
		spin_lock_irqsave(&c->lock, flags);
		c->terminate_ret = dmaengine_terminate_async(c->chan);
		spin_unlock_irqrestore(&c->lock, flags);
	}
	complete(&c->first);
	if (atomic_read(&c->callbacks) == c->nr)
		complete(&c->all);
}

static void client_free(void *data)
{
	struct client *c = data;

	if (c->src)
		dma_free_coherent(c->dma_dev, c->nr * XFER, c->src, c->src_dma);
	if (c->dst)
		dma_free_coherent(c->dma_dev, c->nr * XFER, c->dst, c->dst_dma);
	if (c->chan)
		dma_release_channel(c->chan);
}

/*
 * A client with a channel and buffers for nr copies, freed when the case
 * ends, however it ends (clients registered later are freed first).
 */
static struct client *client_new(struct kunit *test, unsigned int nr)
{
	struct client *c = kunit_kzalloc(test, sizeof(*c), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, c);
	c->test = test;
	c->chan = request(test);
	c->dma_dev = dmaengine_get_dma_device(c->chan);
	c->nr = nr;
	spin_lock_init(&c->lock);
	init_completion(&c->first);
	init_completion(&c->all);
	c->src = dma_alloc_coherent(c->dma_dev, nr * XFER, &c->src_dma, GFP_KERNEL);
	c->dst = dma_alloc_coherent(c->dma_dev, nr * XFER, &c->dst_dma, GFP_KERNEL);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, client_free, c), 0);
	KUNIT_ASSERT_NOT_NULL(test, c->src);
	KUNIT_ASSERT_NOT_NULL(test, c->dst);
	return c;
}

/* Resets the counters and fills source i with pattern seed + i, destination with 0. */
static void client_arm(struct client *c, u8 seed)
{
	unsigned int i;

	atomic_set(&c->callbacks, 0);
	atomic_set(&c->ok, 0);
	reinit_completion(&c->first);
	reinit_completion(&c->all);
	for (i = 0; i < c->nr; i++)
		memset(c->src + i * XFER, seed + i, XFER);
	memset(c->dst, 0, c->nr * XFER);
}

/* Submits copy i of the buffers; 0 or the reason it was refused. */
static int client_submit(struct client *c, unsigned int i)
{
	struct dma_async_tx_descriptor *tx;
	dma_cookie_t cookie;

	tx = dmaengine_prep_dma_memcpy(c->chan, c->dst_dma + i * XFER, c->src_dma + i * XFER,
				       XFER, DMA_PREP_INTERRUPT);
	if (!tx)
		return -ENOMEM;
	tx->callback_result = callback;
	tx->callback_param = c;
	cookie = dmaengine_submit(tx);
	return dma_submit_error(cookie) ? cookie : 0;
}

static void client_submit_all(struct client *c)
{
	unsigned int i;

	for (i = 0; i < c->nr; i++)
		KUNIT_ASSERT_EQ_MSG(c->test, client_submit(c, i), 0, "descriptor %u", i);
	dma_async_issue_pending(c->chan);
}

static bool client_wait(struct completion *done)
{
	return wait_for_completion_timeout(done, msecs_to_jiffies(TIMEOUT_MS));
}

/* Whether copy i moved its pattern. */
static bool copied(struct client *c, unsigned int i, u8 seed)
{
	return !memchr_inv(c->dst + i * XFER, (u8)(seed + i), XFER);
}

/*
 * Terminated from the first completion callback, with a spinlock held:
 * no sleeping (CONFIG_DEBUG_ATOMIC_SLEEP would report it), no callback for
 * the rest, and after dmaengine_synchronize() the channel works again.
 */
static void terminate_in_callback(struct kunit *test)
{
	struct client *c = client_new(test, NR_DESC);
	unsigned int i;

	client_arm(c, 0x10);
	c->terminate_in_callback = true;
	client_submit_all(c);

	KUNIT_ASSERT_TRUE_MSG(test, client_wait(&c->first), "no completion at all");
	dmaengine_synchronize(c->chan);
	KUNIT_EXPECT_EQ(test, c->terminate_ret, 0);
	/* Everything the device could still have done is done or dropped by now. */
	msleep(100);
	KUNIT_EXPECT_EQ_MSG(test, atomic_read(&c->callbacks), 1,
			    "callbacks for terminated descriptors");
	KUNIT_EXPECT_TRUE(test, copied(c, 0, 0x10));

	/* The channel takes new work, and all of it completes. */
	c->terminate_in_callback = false;
	client_arm(c, 0x40);
	client_submit_all(c);
	KUNIT_ASSERT_TRUE_MSG(test, client_wait(&c->all), "%d of %u completions afterwards",
			      atomic_read(&c->callbacks), c->nr);
	KUNIT_EXPECT_EQ(test, atomic_read(&c->ok), (int)c->nr);
	for (i = 0; i < c->nr; i++)
		KUNIT_EXPECT_TRUE_MSG(test, copied(c, i, 0x40), "copy %u", i);
}

static enum hrtimer_restart terminate_timer(struct hrtimer *t)
{
	struct client *c = container_of(t, struct client, timer);

	c->terminate_ret = dmaengine_terminate_async(c->chan);
	return HRTIMER_NORESTART;
}

/* Terminated from a timer (hard interrupt context), while the device works. */
static void terminate_in_irq(struct kunit *test)
{
	struct client *c = client_new(test, NR_DESC);
	int before;

	client_arm(c, 0x20);
	c->terminate_ret = 1;
	hrtimer_setup(&c->timer, terminate_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	client_submit_all(c);
	hrtimer_start(&c->timer, ms_to_ktime(1), HRTIMER_MODE_REL_HARD);
	msleep(20);
	hrtimer_cancel(&c->timer);
	KUNIT_EXPECT_EQ(test, c->terminate_ret, 0);
	dmaengine_synchronize(c->chan);
	/* Nothing completes any more once synchronized. */
	before = atomic_read(&c->callbacks);
	msleep(100);
	KUNIT_EXPECT_EQ(test, atomic_read(&c->callbacks), before);
	KUNIT_EXPECT_LT(test, before, (int)c->nr);
}

/*
 * A client lets its channel go with a full work queue in flight; the next
 * client of the channel, with buffers of its own, fills the work queue
 * again, and every one of its copies must complete, successfully, with the
 * right bytes. If the old work still ran, the device would drop the new
 * descriptors (the WQ is full) and the old ones' completion records would
 * mark the new ones done before their data moved.
 */
static void release_in_flight(struct kunit *test)
{
	/* The whole work queue: the old work occupies every slot the new work needs. */
	struct client *old = client_new(test, wq_size), *c;
	unsigned int i, j;
	u8 seed;

	client_arm(old, 0x30);
	client_submit_all(old);
	dma_release_channel(old->chan);
	old->chan = NULL;

	/*
	 * Freed before the old client's buffers, which the old work would
	 * still write to if it had not been stopped.
	 */
	c = client_new(test, wq_size);
	KUNIT_EXPECT_PTR_EQ(test, c->dma_dev, old->dma_dev);
	for (i = 0; i < 3; i++) {
		seed = 0x50 + 0x10 * i;
		client_arm(c, seed);
		client_submit_all(c);
		KUNIT_ASSERT_TRUE_MSG(test, client_wait(&c->all), "round %u: %d of %u completions",
				      i, atomic_read(&c->callbacks), c->nr);
		KUNIT_EXPECT_EQ_MSG(test, atomic_read(&c->ok), (int)c->nr, "round %u", i);
		for (j = 0; j < c->nr; j++)
			KUNIT_EXPECT_TRUE_MSG(test, copied(c, j, seed),
					      "round %u: copy %u completed without its data",
					      i, j);
	}
}

/*
 * The WQ halts with work queued and the reset that recovery sends fails: the
 * device never confirmed that it stopped, so that work must not complete
 * (its buffers could still be written); it stays pending until the WQ is
 * disabled, or, here, until the client lets the channel go. Runs last: the
 * WQ stays halted.
 */
static void recovery_reset_fails(struct kunit *test)
{
	struct client *c;
	void __iomem *dbg;
	int before;

	if (!debug_block)
		kunit_skip(test, "no debug_block address of an emulated DSA");
	c = client_new(test, NR_DESC);
	dbg = ioremap(debug_block, 0x20);
	KUNIT_ASSERT_NOT_NULL(test, dbg);

	client_arm(c, 0x60);
	client_submit_all(c);
	KUNIT_ASSERT_TRUE_MSG(test, client_wait(&c->first), "no completion at all");
	writel(INJ_FAIL_CMD(CMD_RESET_WQ, 0x2a), dbg + DBG_INJECT);
	writel(INJ_HALT_WQ(wq), dbg + DBG_INJECT);
	iounmap(dbg);

	/* The misc interrupt's recovery has run by now. */
	msleep(300);
	before = atomic_read(&c->callbacks);
	KUNIT_EXPECT_LT_MSG(test, before, (int)c->nr,
			    "work completed although the WQ reset failed");
	msleep(100);
	KUNIT_EXPECT_EQ(test, atomic_read(&c->callbacks), before);
}

static struct kunit_case idxd_client_cases[] = {
	KUNIT_CASE(terminate_in_callback),
	KUNIT_CASE(terminate_in_irq),
	KUNIT_CASE(release_in_flight),
	KUNIT_CASE(recovery_reset_fails),
	{}
};

static struct kunit_suite idxd_client_suite = {
	.name = "idxd_dmaengine",
	.test_cases = idxd_client_cases,
};

kunit_test_suite(idxd_client_suite);

MODULE_DESCRIPTION("KUnit tests of the DSA driver's DMA engine channels, as a client");
MODULE_LICENSE("GPL");
