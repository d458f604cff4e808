/*
 * ims-eq: an mlx5-style event-queue test device for IMS
 *
 * A PCIe function 1234:1e5e whose interrupt messages do not live in the
 * function (no IMS table in a BAR, as on DSA) but in event queue (EQ)
 * contexts in host memory, the way mlx5 keeps its EQ contexts.  The driver
 * owns a table of 32-byte contexts (message address, data, mask bit and a
 * VM-id) and tells the device about an entry only through commands posted
 * to a mailbox (CREATE, MODIFY, DESTROY and QUERY an EQ).  The device reads
 * a context when a command names it and caches it: writing the context in
 * memory alone changes nothing, which is exactly what an IMS irq_chip for
 * such a device has to cope with (mask/unmask and message changes go
 * through a command, which may sleep, be slow or fail).
 *
 * Work descriptors queued through WORK_ADDR copy data and then raise an
 * event on an EQ.  The event is delivered only if the work's VM-id matches
 * the EQ's, so tests can check that one VM's work cannot fire another VM's
 * interrupt; a masked EQ keeps the event pending until a MODIFY unmasks it.
 * EQ messages are posted with msi_send_message(), so they go through VT-d
 * interrupt remapping with the function's requester ID.
 *
 * It is a test device for the IMS project, not a model of mlx5 hardware;
 * see docs/ims-eq.rst in the project tree for the register spec and for
 * how it differs from mlx5.
 *
 * Copyright (c) 2026 The IMS project
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bitops.h"
#include "qemu/bswap.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/pcie.h"
#include "hw/pci/msi.h"
#include "hw/pci/msix.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "qom/object.h"

#define TYPE_IMS_EQ "ims-eq"
OBJECT_DECLARE_SIMPLE_TYPE(ImsEqState, IMS_EQ)

#define IMS_EQ_DEVICE_ID        0x1e5e
#define IMS_EQ_CLASS_ID         0x0880  /* system peripheral, other */
#define IMS_EQ_SPEC_VERSION     1
#define IMS_EQ_ID_VALUE         ((IMS_EQ_DEVICE_ID << 16) | IMS_EQ_SPEC_VERSION)
#define IMS_EQ_MAX_EQS          4096

/* BAR0: registers, MSI-X table and PBA */
#define IMS_EQ_BAR0_SIZE        0x4000
#define IMS_EQ_MSIX_VECTORS     1
#define IMS_EQ_CMD_VECTOR       0
#define IMS_EQ_MSIX_TABLE_OFF   0x2000
#define IMS_EQ_MSIX_PBA_OFF     0x3000

/* MMIO registers */
#define IMS_EQ_REG_ID           0x000
#define IMS_EQ_REG_CAP          0x004
#define IMS_EQ_REG_STATUS       0x008
#define IMS_EQ_REG_CMD_ADDR     0x010   /* 64 bits */
#define IMS_EQ_REG_CMD_DOORBELL 0x018
#define IMS_EQ_REG_CTX_BASE     0x020   /* 64 bits */
#define IMS_EQ_REG_WORK_ADDR    0x028   /* 64 bits */
#define IMS_EQ_REG_MISMATCH_CNT 0x030
#define IMS_EQ_REG_MISMATCH_EQN 0x034
#define IMS_EQ_REG_MISMATCH_VM  0x038
#define IMS_EQ_REG_WORK_DROPPED 0x03c
#define IMS_EQ_REG_FAULT_FAIL   0x040
#define IMS_EQ_REG_CMD_DELAY_US 0x044
#define IMS_EQ_REG_MSGS_SENT    0x048
#define IMS_EQ_REG_CMDS_DONE    0x04c
#define IMS_EQ_REG_CMD_ERRORS   0x050

#define IMS_EQ_STATUS_BUSY      BIT(0)

/* Command block, byte offsets */
#define IMS_EQ_CB_SIZE          64
#define IMS_EQ_CB_OPCODE        0x00
#define IMS_EQ_CB_EQN           0x04
#define IMS_EQ_CB_STATUS        0x08
#define IMS_EQ_CB_FLAGS         0x0c
#define IMS_EQ_CB_OUT_CTX       0x10    /* QUERY_EQ output */
#define IMS_EQ_CB_OUT_PENDING   0x30
#define IMS_EQ_CB_OUT_COUNT     0x34
#define IMS_EQ_CB_OUT_END       0x38
#define IMS_EQ_CB_FLAG_IRQ      BIT(0)

enum {
    IMS_EQ_OP_CREATE = 1,
    IMS_EQ_OP_MODIFY = 2,
    IMS_EQ_OP_DESTROY = 3,
    IMS_EQ_OP_QUERY = 4,
};

/* Command status codes */
enum {
    IMS_EQ_CMD_OK = 0,
    IMS_EQ_CMD_BAD_OPCODE = 1,
    IMS_EQ_CMD_BAD_EQN = 2,
    IMS_EQ_CMD_BAD_STATE = 3,
    IMS_EQ_CMD_DMA_ERROR = 4,
    IMS_EQ_CMD_FAULT = 5,
};

/* Both status DWORDs (command block, work descriptor) */
#define IMS_EQ_DONE             BIT(31)

/* EQ context in host memory, byte offsets */
#define IMS_EQ_CTX_SIZE         32
#define IMS_EQ_CTX_MSG_ADDR     0x00
#define IMS_EQ_CTX_MSG_DATA     0x08
#define IMS_EQ_CTX_CTRL         0x0c
#define IMS_EQ_CTX_VMID         0x10
#define IMS_EQ_CTX_MASKED       BIT(0)

/* Work descriptor, byte offsets */
#define IMS_EQ_WD_SIZE          32
#define IMS_EQ_WD_SRC           0x00
#define IMS_EQ_WD_DST           0x08
#define IMS_EQ_WD_LEN           0x10
#define IMS_EQ_WD_EQN           0x14
#define IMS_EQ_WD_VMID          0x18
#define IMS_EQ_WD_STATUS        0x1c
#define IMS_EQ_MAX_LEN          65536

/* Work status codes */
enum {
    IMS_EQ_WORK_OK = 0,
    IMS_EQ_WORK_BAD_EQN = 1,
    IMS_EQ_WORK_VMID_MISMATCH = 2,
    IMS_EQ_WORK_DMA_ERROR = 3,
    IMS_EQ_WORK_BAD_LEN = 4,
};

#define IMS_EQ_WQ_SIZE          256     /* queued work descriptors */
/* work descriptors per bottom-half run: bounds how long the BQL is held */
#define IMS_EQ_BH_BUDGET        16

/* The device's cached copy of one EQ context, plus its run-time state */
typedef struct ImsEq {
    uint64_t msg_addr;
    uint32_t msg_data;
    uint32_t ctrl;
    uint32_t vmid;
    uint32_t count;             /* messages sent since CREATE */
    bool valid;                 /* the EQ exists */
    bool pending;               /* an event arrived while masked */
} ImsEq;

struct ImsEqState {
    PCIDevice parent_obj;

    MemoryRegion bar0;
    MemoryRegion regs;
    QEMUBH *cmd_bh;
    QEMUBH *work_bh;
    QEMUTimer *cmd_timer;

    /* command mailbox */
    uint64_t cmd_addr;
    uint64_t cmd_cur;           /* CMD_ADDR latched by the doorbell */
    bool busy;

    uint64_t ctx_base;

    /* WORK_ADDR low half written by a 32-bit store, waiting for the high */
    uint32_t work_lo;
    bool work_lo_valid;

    /* counters and fault injection */
    uint32_t mismatch_count;
    uint32_t mismatch_eqn;
    uint32_t mismatch_vmid;
    uint32_t work_dropped;
    uint32_t fault_fail;
    uint32_t cmd_delay_us;
    uint32_t msgs_sent;
    uint32_t cmds_done;
    uint32_t cmd_errors;

    ImsEq eq[IMS_EQ_MAX_EQS];
    uint32_t live_eqs;          /* EQs with valid set; rebuilt on load */

    /* work queue: descriptor addresses, run in order */
    uint64_t wq[IMS_EQ_WQ_SIZE];
    uint32_t wq_head;
    uint32_t wq_count;

    /* properties */
    uint32_t num_eqs;

    /* DMA bounce buffer for work copies, not migrated */
    uint8_t buf[IMS_EQ_MAX_LEN];
};

/* ---- interrupts ---- */

static void ims_eq_send(ImsEqState *s, ImsEq *eq)
{
    MSIMessage msg = {
        .address = eq->msg_addr,
        .data = eq->msg_data,
    };

    /*
     * msi_send_message() -> pci_msi_trigger(): a DWORD write on the
     * bus-master address space carrying our requester ID, so VT-d
     * interrupt remapping sees (and validates) the source, as it does
     * for the DSA model's IMS messages.
     */
    msi_send_message(PCI_DEVICE(s), msg);
    eq->count++;
    s->msgs_sent++;
}

/* ---- commands ---- */

static bool ims_eq_read_ctx(ImsEqState *s, uint32_t eqn, ImsEq *ctx)
{
    uint64_t addr = s->ctx_base + (uint64_t)eqn * IMS_EQ_CTX_SIZE;
    uint8_t raw[IMS_EQ_CTX_SIZE];

    if (pci_dma_read(PCI_DEVICE(s), addr, raw, sizeof(raw)) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: cannot read the context of "
                      "EQ %u at 0x%" PRIx64 "\n", eqn, addr);
        return false;
    }
    ctx->msg_addr = ldq_le_p(raw + IMS_EQ_CTX_MSG_ADDR);
    ctx->msg_data = ldl_le_p(raw + IMS_EQ_CTX_MSG_DATA);
    ctx->ctrl = ldl_le_p(raw + IMS_EQ_CTX_CTRL);
    ctx->vmid = ldl_le_p(raw + IMS_EQ_CTX_VMID);
    return true;
}

static uint32_t ims_eq_cmd_query(ImsEqState *s, ImsEq *eq)
{
    uint8_t out[IMS_EQ_CB_OUT_END - IMS_EQ_CB_OUT_CTX] = { 0 };
    uint8_t *ctx = out;

    /* the reserved bytes of the context are not cached: they read 0 */
    stq_le_p(ctx + IMS_EQ_CTX_MSG_ADDR, eq->msg_addr);
    stl_le_p(ctx + IMS_EQ_CTX_MSG_DATA, eq->msg_data);
    stl_le_p(ctx + IMS_EQ_CTX_CTRL, eq->ctrl);
    stl_le_p(ctx + IMS_EQ_CTX_VMID, eq->vmid);
    stl_le_p(out + IMS_EQ_CB_OUT_PENDING - IMS_EQ_CB_OUT_CTX, eq->pending);
    stl_le_p(out + IMS_EQ_CB_OUT_COUNT - IMS_EQ_CB_OUT_CTX, eq->count);
    if (pci_dma_write(PCI_DEVICE(s), s->cmd_cur + IMS_EQ_CB_OUT_CTX, out,
                      sizeof(out)) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: cannot write the QUERY_EQ "
                      "output at 0x%" PRIx64 "\n", s->cmd_cur);
        return IMS_EQ_CMD_DMA_ERROR;
    }
    return IMS_EQ_CMD_OK;
}

/*
 * Execute the command block @cb; returns its status code.  A command that
 * fails leaves the EQs as they were.
 */
static uint32_t ims_eq_cmd_exec(ImsEqState *s, const uint8_t *cb)
{
    uint32_t opcode = ldl_le_p(cb + IMS_EQ_CB_OPCODE);
    uint32_t eqn = ldl_le_p(cb + IMS_EQ_CB_EQN);
    ImsEq *eq, ctx;

    if (s->fault_fail) {
        s->fault_fail--;
        return IMS_EQ_CMD_FAULT;
    }
    if (opcode < IMS_EQ_OP_CREATE || opcode > IMS_EQ_OP_QUERY) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: bad opcode %u\n", opcode);
        return IMS_EQ_CMD_BAD_OPCODE;
    }
    if (eqn >= s->num_eqs) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: command %u on EQ %u, the "
                      "device has %u\n", opcode, eqn, s->num_eqs);
        return IMS_EQ_CMD_BAD_EQN;
    }
    eq = &s->eq[eqn];
    /* CREATE wants an absent EQ, the others an existing one */
    if (eq->valid == (opcode == IMS_EQ_OP_CREATE)) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: command %u on EQ %u, which "
                      "%s\n", opcode, eqn,
                      eq->valid ? "exists" : "does not exist");
        return IMS_EQ_CMD_BAD_STATE;
    }

    switch (opcode) {
    case IMS_EQ_OP_CREATE:
        if (!ims_eq_read_ctx(s, eqn, &ctx)) {
            return IMS_EQ_CMD_DMA_ERROR;
        }
        *eq = ctx;
        eq->count = 0;
        eq->pending = false;
        eq->valid = true;
        s->live_eqs++;
        return IMS_EQ_CMD_OK;
    case IMS_EQ_OP_MODIFY:
        if (!ims_eq_read_ctx(s, eqn, &ctx)) {
            return IMS_EQ_CMD_DMA_ERROR;
        }
        eq->msg_addr = ctx.msg_addr;
        eq->msg_data = ctx.msg_data;
        eq->ctrl = ctx.ctrl;
        eq->vmid = ctx.vmid;
        if (eq->pending && !(eq->ctrl & IMS_EQ_CTX_MASKED)) {
            /* with the new message: before the status says DONE */
            eq->pending = false;
            ims_eq_send(s, eq);
        }
        return IMS_EQ_CMD_OK;
    case IMS_EQ_OP_DESTROY:
        memset(eq, 0, sizeof(*eq));
        s->live_eqs--;
        return IMS_EQ_CMD_OK;
    default:
        return ims_eq_cmd_query(s, eq);
    }
}

static void ims_eq_cmd_run(ImsEqState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    uint8_t cb[IMS_EQ_CB_SIZE];
    uint32_t status, flags;

    if (pci_dma_read(pdev, s->cmd_cur, cb, sizeof(cb)) != MEMTX_OK) {
        /* nowhere to write a status, nothing asks for an interrupt */
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: cannot read the command "
                      "block at 0x%" PRIx64 "\n", s->cmd_cur);
        s->cmds_done++;
        s->cmd_errors++;
        s->busy = false;
        return;
    }
    flags = ldl_le_p(cb + IMS_EQ_CB_FLAGS);
    status = ims_eq_cmd_exec(s, cb);
    s->cmds_done++;
    if (status != IMS_EQ_CMD_OK) {
        s->cmd_errors++;
    }

    /* the QUERY output and any message before the status that publishes */
    smp_wmb();
    stl_le_p(cb + IMS_EQ_CB_STATUS, IMS_EQ_DONE | status);
    if (pci_dma_write(pdev, s->cmd_cur + IMS_EQ_CB_STATUS,
                      cb + IMS_EQ_CB_STATUS, 4) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: cannot write the command "
                      "status at 0x%" PRIx64 "\n", s->cmd_cur);
    }
    s->busy = false;
    if (flags & IMS_EQ_CB_FLAG_IRQ) {
        /* does nothing unless MSI-X is enabled; pending if masked */
        msix_notify(pdev, IMS_EQ_CMD_VECTOR);
    }
}

static void ims_eq_cmd_bh(void *opaque)
{
    ImsEqState *s = opaque;

    if (s->busy && !timer_pending(s->cmd_timer)) {
        ims_eq_cmd_run(s);
    }
}

static void ims_eq_cmd_timer(void *opaque)
{
    ImsEqState *s = opaque;

    /* run the BH (and its re-entrancy guard) rather than the command here */
    qemu_bh_schedule(s->cmd_bh);
}

static void ims_eq_doorbell(ImsEqState *s)
{
    if (s->busy) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: doorbell while a command is "
                      "running: ignored\n");
        s->cmd_errors++;
        return;
    }
    s->busy = true;
    s->cmd_cur = s->cmd_addr;
    if (s->cmd_delay_us) {
        timer_mod(s->cmd_timer, qemu_clock_get_us(QEMU_CLOCK_VIRTUAL) +
                  s->cmd_delay_us);
    } else {
        qemu_bh_schedule(s->cmd_bh);
    }
}

/* ---- work ---- */

static uint32_t ims_eq_work_exec(ImsEqState *s, const uint8_t *wd)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    uint64_t src = ldq_le_p(wd + IMS_EQ_WD_SRC);
    uint64_t dst = ldq_le_p(wd + IMS_EQ_WD_DST);
    uint32_t len = ldl_le_p(wd + IMS_EQ_WD_LEN);
    uint32_t eqn = ldl_le_p(wd + IMS_EQ_WD_EQN);
    uint32_t vmid = ldl_le_p(wd + IMS_EQ_WD_VMID);
    ImsEq *eq;

    if (len > IMS_EQ_MAX_LEN) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: work length %u too large\n",
                      len);
        return IMS_EQ_WORK_BAD_LEN;
    }
    /* read it all first: overlapping buffers copy like memmove() */
    if (len && (pci_dma_read(pdev, src, s->buf, len) != MEMTX_OK ||
                pci_dma_write(pdev, dst, s->buf, len) != MEMTX_OK)) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: work copy of %u bytes from "
                      "0x%" PRIx64 " to 0x%" PRIx64 " failed\n",
                      len, src, dst);
        return IMS_EQ_WORK_DMA_ERROR;
    }

    if (eqn >= s->num_eqs || !s->eq[eqn].valid) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: work for EQ %u, which does "
                      "not exist\n", eqn);
        return IMS_EQ_WORK_BAD_EQN;
    }
    eq = &s->eq[eqn];
    if (vmid != eq->vmid) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: work of VM %u for EQ %u of "
                      "VM %u: no message\n", vmid, eqn, eq->vmid);
        s->mismatch_count++;
        s->mismatch_eqn = eqn;
        s->mismatch_vmid = vmid;
        return IMS_EQ_WORK_VMID_MISMATCH;
    }
    if (eq->ctrl & IMS_EQ_CTX_MASKED) {
        eq->pending = true;
    } else {
        ims_eq_send(s, eq);
    }
    return IMS_EQ_WORK_OK;
}

static void ims_eq_work_run(ImsEqState *s, uint64_t addr)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    uint8_t wd[IMS_EQ_WD_SIZE];
    uint32_t code;

    if (pci_dma_read(pdev, addr, wd, sizeof(wd)) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: cannot read the work "
                      "descriptor at 0x%" PRIx64 ": dropped\n", addr);
        return;
    }
    code = ims_eq_work_exec(s, wd);

    /* the data and the message before the status that publishes them */
    smp_wmb();
    stl_le_p(wd + IMS_EQ_WD_STATUS, IMS_EQ_DONE | code);
    if (pci_dma_write(pdev, addr + IMS_EQ_WD_STATUS, wd + IMS_EQ_WD_STATUS,
                      4) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: cannot write the work "
                      "status at 0x%" PRIx64 "\n", addr);
    }
}

static void ims_eq_work_bh(void *opaque)
{
    ImsEqState *s = opaque;
    unsigned budget = IMS_EQ_BH_BUDGET;
    uint64_t addr;

    while (budget-- && s->wq_count) {
        addr = s->wq[s->wq_head];
        s->wq_head = (s->wq_head + 1) % IMS_EQ_WQ_SIZE;
        s->wq_count--;
        ims_eq_work_run(s, addr);
    }
    if (s->wq_count) {
        /* let the main loop (and the vCPUs waiting for the BQL) run */
        qemu_bh_schedule(s->work_bh);
    }
}

static void ims_eq_queue_work(ImsEqState *s, uint64_t addr)
{
    if (s->wq_count == IMS_EQ_WQ_SIZE) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: work queue full: descriptor "
                      "at 0x%" PRIx64 " dropped\n", addr);
        s->work_dropped++;
        return;
    }
    s->wq[(s->wq_head + s->wq_count) % IMS_EQ_WQ_SIZE] = addr;
    s->wq_count++;
    qemu_bh_schedule(s->work_bh);
}

/* ---- BAR0 registers ---- */

static void ims_eq_set_ctx_base(ImsEqState *s, uint64_t val)
{
    if (s->live_eqs) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: CTX_BASE write while %u EQs "
                      "exist: ignored\n", s->live_eqs);
        return;
    }
    s->ctx_base = val;
}

/* @a is 8-byte aligned; 32-bit registers come in pairs */
static uint64_t ims_eq_read64(ImsEqState *s, hwaddr a)
{
    switch (a) {
    case IMS_EQ_REG_ID:
        return IMS_EQ_ID_VALUE | ((uint64_t)s->num_eqs << 32);
    case IMS_EQ_REG_STATUS:
        return s->busy ? IMS_EQ_STATUS_BUSY : 0;
    case IMS_EQ_REG_CMD_ADDR:
        return s->cmd_addr;
    case IMS_EQ_REG_CTX_BASE:
        return s->ctx_base;
    case IMS_EQ_REG_MISMATCH_CNT:
        return s->mismatch_count | ((uint64_t)s->mismatch_eqn << 32);
    case IMS_EQ_REG_MISMATCH_VM:
        return s->mismatch_vmid | ((uint64_t)s->work_dropped << 32);
    case IMS_EQ_REG_FAULT_FAIL:
        return s->fault_fail | ((uint64_t)s->cmd_delay_us << 32);
    case IMS_EQ_REG_MSGS_SENT:
        return s->msgs_sent | ((uint64_t)s->cmds_done << 32);
    case IMS_EQ_REG_CMD_ERRORS:
        return s->cmd_errors;
    default:
        /* CMD_DOORBELL, WORK_ADDR (write-only) and undefined offsets */
        return 0;
    }
}

static uint64_t ims_eq_reg_read(void *opaque, hwaddr addr, unsigned size)
{
    ImsEqState *s = opaque;
    uint64_t v;

    if ((size != 4 && size != 8) || (addr & (size - 1))) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: bad read of %u bytes at "
                      "0x%" HWADDR_PRIx "\n", size, addr);
        return 0;
    }
    v = ims_eq_read64(s, addr & ~7ULL);
    if (size == 4) {
        v = extract64(v, (addr & 4) * 8, 32);
    }
    return v;
}

static void ims_eq_write32(ImsEqState *s, hwaddr addr, uint32_t val)
{
    switch (addr) {
    case IMS_EQ_REG_CMD_ADDR:
    case IMS_EQ_REG_CMD_ADDR + 4:
        s->cmd_addr = deposit64(s->cmd_addr, (addr & 4) * 8, 32, val);
        return;
    case IMS_EQ_REG_CMD_DOORBELL:
        ims_eq_doorbell(s);
        return;
    case IMS_EQ_REG_CTX_BASE:
    case IMS_EQ_REG_CTX_BASE + 4:
        ims_eq_set_ctx_base(s, deposit64(s->ctx_base, (addr & 4) * 8, 32,
                                         val));
        return;
    case IMS_EQ_REG_WORK_ADDR:
        s->work_lo = val;
        s->work_lo_valid = true;
        return;
    case IMS_EQ_REG_WORK_ADDR + 4:
        if (!s->work_lo_valid) {
            qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: WORK_ADDR high half "
                          "written without the low half: ignored\n");
            return;
        }
        s->work_lo_valid = false;
        ims_eq_queue_work(s, ((uint64_t)val << 32) | s->work_lo);
        return;
    case IMS_EQ_REG_FAULT_FAIL:
        s->fault_fail = val;
        return;
    case IMS_EQ_REG_CMD_DELAY_US:
        s->cmd_delay_us = val;
        return;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: write to read-only or "
                      "undefined register 0x%" HWADDR_PRIx "\n", addr);
        return;
    }
}

static void ims_eq_reg_write(void *opaque, hwaddr addr, uint64_t val,
                             unsigned size)
{
    ImsEqState *s = opaque;

    if ((size != 4 && size != 8) || (addr & (size - 1))) {
        qemu_log_mask(LOG_GUEST_ERROR, "ims-eq: bad write of %u bytes at "
                      "0x%" HWADDR_PRIx "\n", size, addr);
        return;
    }
    if (size == 4) {
        ims_eq_write32(s, addr, val);
        return;
    }

    switch (addr) {
    case IMS_EQ_REG_CMD_ADDR:
        s->cmd_addr = val;
        return;
    case IMS_EQ_REG_CMD_DOORBELL:
        ims_eq_doorbell(s);     /* one doorbell, whatever the width */
        return;
    case IMS_EQ_REG_CTX_BASE:
        ims_eq_set_ctx_base(s, val);
        return;
    case IMS_EQ_REG_WORK_ADDR:
        s->work_lo_valid = false;
        ims_eq_queue_work(s, val);
        return;
    default:
        /* two 32-bit registers, low one first */
        ims_eq_write32(s, addr, val);
        ims_eq_write32(s, addr + 4, val >> 32);
        return;
    }
}

static const MemoryRegionOps ims_eq_reg_ops = {
    .read = ims_eq_reg_read,
    .write = ims_eq_reg_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
    },
    .impl = {
        .min_access_size = 1,
        .max_access_size = 8,
    },
};

/* ---- lifecycle ---- */

#define IMS_EQ_PCIE_CAP_OFF     0x80

static void ims_eq_write_config(PCIDevice *pdev, uint32_t addr, uint32_t val,
                                int len)
{
    pci_default_write_config(pdev, addr, val, len);
    pcie_cap_flr_write_config(pdev, addr, val, len);
}

static void ims_eq_realize(PCIDevice *pdev, Error **errp)
{
    ImsEqState *s = IMS_EQ(pdev);
    int ret;

    if (s->num_eqs < 1 || s->num_eqs > IMS_EQ_MAX_EQS) {
        error_setg(errp, "ims-eq: num-eqs must be 1..%u", IMS_EQ_MAX_EQS);
        return;
    }

    pci_config_set_interrupt_pin(pdev->config, 0);

    ret = pcie_endpoint_cap_init(pdev, IMS_EQ_PCIE_CAP_OFF);
    if (ret < 0) {
        error_setg(errp, "ims-eq: cannot add the PCIe capability");
        return;
    }
    pcie_cap_flr_init(pdev);

    memory_region_init(&s->bar0, OBJECT(s), "ims-eq-bar0", IMS_EQ_BAR0_SIZE);
    memory_region_init_io(&s->regs, OBJECT(s), &ims_eq_reg_ops, s,
                          "ims-eq-regs", IMS_EQ_BAR0_SIZE);
    /* below the MSI-X table and PBA that msix_init() maps inside */
    memory_region_add_subregion_overlap(&s->bar0, 0, &s->regs, -1);
    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->bar0);

    ret = msix_init(pdev, IMS_EQ_MSIX_VECTORS, &s->bar0, 0,
                    IMS_EQ_MSIX_TABLE_OFF, &s->bar0, 0, IMS_EQ_MSIX_PBA_OFF,
                    0, errp);
    if (ret < 0) {
        return;
    }
    msix_vector_use(pdev, IMS_EQ_CMD_VECTOR);

    s->cmd_bh = qemu_bh_new_guarded(ims_eq_cmd_bh, s,
                                    &DEVICE(pdev)->mem_reentrancy_guard);
    s->work_bh = qemu_bh_new_guarded(ims_eq_work_bh, s,
                                     &DEVICE(pdev)->mem_reentrancy_guard);
    s->cmd_timer = timer_new_us(QEMU_CLOCK_VIRTUAL, ims_eq_cmd_timer, s);
}

static void ims_eq_exit(PCIDevice *pdev)
{
    ImsEqState *s = IMS_EQ(pdev);

    timer_free(s->cmd_timer);
    qemu_bh_delete(s->work_bh);
    qemu_bh_delete(s->cmd_bh);
    msix_unuse_all_vectors(pdev);
    msix_uninit(pdev, &s->bar0, &s->bar0);
}

static void ims_eq_reset_hold(Object *obj, ResetType type)
{
    ImsEqState *s = IMS_EQ(obj);

    timer_del(s->cmd_timer);
    qemu_bh_cancel(s->cmd_bh);
    qemu_bh_cancel(s->work_bh);
    s->cmd_addr = 0;
    s->cmd_cur = 0;
    s->busy = false;
    s->ctx_base = 0;
    s->work_lo = 0;
    s->work_lo_valid = false;
    s->mismatch_count = 0;
    s->mismatch_eqn = 0;
    s->mismatch_vmid = 0;
    s->work_dropped = 0;
    s->fault_fail = 0;
    s->cmd_delay_us = 0;
    s->msgs_sent = 0;
    s->cmds_done = 0;
    s->cmd_errors = 0;
    memset(s->eq, 0, sizeof(s->eq));
    s->live_eqs = 0;
    s->wq_head = 0;
    s->wq_count = 0;
}

static int ims_eq_post_load(void *opaque, int version_id)
{
    ImsEqState *s = opaque;
    unsigned i;

    if (s->wq_head >= IMS_EQ_WQ_SIZE || s->wq_count > IMS_EQ_WQ_SIZE) {
        return -EINVAL;
    }
    s->live_eqs = 0;
    for (i = 0; i < IMS_EQ_MAX_EQS; i++) {
        if (s->eq[i].valid) {
            if (i >= s->num_eqs) {
                return -EINVAL;
            }
            s->live_eqs++;
        }
    }
    if (s->busy && !timer_pending(s->cmd_timer)) {
        qemu_bh_schedule(s->cmd_bh);
    }
    if (s->wq_count) {
        qemu_bh_schedule(s->work_bh);
    }
    return 0;
}

static const VMStateDescription ims_eq_vmstate_eq = {
    .name = "ims-eq/eq",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(msg_addr, ImsEq),
        VMSTATE_UINT32(msg_data, ImsEq),
        VMSTATE_UINT32(ctrl, ImsEq),
        VMSTATE_UINT32(vmid, ImsEq),
        VMSTATE_UINT32(count, ImsEq),
        VMSTATE_BOOL(valid, ImsEq),
        VMSTATE_BOOL(pending, ImsEq),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription ims_eq_vmstate = {
    .name = "ims-eq",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = ims_eq_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, ImsEqState),
        VMSTATE_MSIX(parent_obj, ImsEqState),
        VMSTATE_UINT64(cmd_addr, ImsEqState),
        VMSTATE_UINT64(cmd_cur, ImsEqState),
        VMSTATE_BOOL(busy, ImsEqState),
        VMSTATE_UINT64(ctx_base, ImsEqState),
        VMSTATE_UINT32(work_lo, ImsEqState),
        VMSTATE_BOOL(work_lo_valid, ImsEqState),
        VMSTATE_UINT32(mismatch_count, ImsEqState),
        VMSTATE_UINT32(mismatch_eqn, ImsEqState),
        VMSTATE_UINT32(mismatch_vmid, ImsEqState),
        VMSTATE_UINT32(work_dropped, ImsEqState),
        VMSTATE_UINT32(fault_fail, ImsEqState),
        VMSTATE_UINT32(cmd_delay_us, ImsEqState),
        VMSTATE_UINT32(msgs_sent, ImsEqState),
        VMSTATE_UINT32(cmds_done, ImsEqState),
        VMSTATE_UINT32(cmd_errors, ImsEqState),
        VMSTATE_TIMER_PTR(cmd_timer, ImsEqState),
        VMSTATE_STRUCT_ARRAY(eq, ImsEqState, IMS_EQ_MAX_EQS, 1,
                             ims_eq_vmstate_eq, ImsEq),
        VMSTATE_UINT64_ARRAY(wq, ImsEqState, IMS_EQ_WQ_SIZE),
        VMSTATE_UINT32(wq_head, ImsEqState),
        VMSTATE_UINT32(wq_count, ImsEqState),
        VMSTATE_END_OF_LIST()
    }
};

static const Property ims_eq_properties[] = {
    DEFINE_PROP_UINT32("num-eqs", ImsEqState, num_eqs, IMS_EQ_MAX_EQS),
};

static void ims_eq_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);

    k->realize = ims_eq_realize;
    k->exit = ims_eq_exit;
    k->config_write = ims_eq_write_config;
    k->vendor_id = PCI_VENDOR_ID_QEMU;
    k->device_id = IMS_EQ_DEVICE_ID;
    k->revision = 1;
    k->class_id = IMS_EQ_CLASS_ID;
    rc->phases.hold = ims_eq_reset_hold;
    dc->desc = "mlx5-style event-queue test device (EQ contexts in memory)";
    dc->vmsd = &ims_eq_vmstate;
    device_class_set_props(dc, ims_eq_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo ims_eq_types[] = {
    {
        .name = TYPE_IMS_EQ,
        .parent = TYPE_PCI_DEVICE,
        .instance_size = sizeof(ImsEqState),
        .class_init = ims_eq_class_init,
        .interfaces = (InterfaceInfo[]) {
            { INTERFACE_PCIE_DEVICE },
            { }
        },
    },
};

DEFINE_TYPES(ims_eq_types)
