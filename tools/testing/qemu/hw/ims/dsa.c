/*
 * Emulated Intel Data Streaming Accelerator (DSA) with an IMS table
 *
 * A PCIe function 8086:0b25 with the DSA register map (BAR0), one
 * unlimited portal page per work queue (BAR2), MSI-X (misc vector 0 and
 * completion vectors) and an Interrupt Message Store (IMS) whose slots the
 * device posts itself, after checking the slot's PASID against the PASID of
 * the work.  It exists to test the IMS core, the DSA driver and the VFIO
 * front ends of the IMS project; see docs/dsa.rst in the project tree for
 * the interface and for every place where it differs from real hardware.
 *
 * Register layouts, command codes, descriptor/completion record formats,
 * opcodes, flags and status codes follow the Intel DSA architecture
 * specification as reflected by Linux 6.12 drivers/dma/idxd/registers.h and
 * include/uapi/linux/idxd.h.  The definitions below are our own.
 *
 * Copyright (c) 2026 The IMS project
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bitops.h"
#include "qemu/bswap.h"
#include "qemu/crc32c.h"
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

#define TYPE_INTEL_DSA "intel-dsa"
OBJECT_DECLARE_SIMPLE_TYPE(DsaState, INTEL_DSA)

#define DSA_DEVICE_ID           0x0b25
#define DSA_CLASS_ID            0x0880  /* system peripheral, other */

/* Geometry of the model (see docs/dsa.rst) */
#define DSA_NUM_WQS             8
#define DSA_NUM_GROUPS          4
#define DSA_NUM_ENGINES         4
#define DSA_TOTAL_WQ_SIZE       64
#define DSA_MSIX_VECTORS        9
#define DSA_IMS_MULT            8
#define DSA_IMS_SLOTS           (DSA_IMS_MULT * 256)
#define DSA_MAX_XFER_SHIFT      21      /* 2 MiB per descriptor */
#define DSA_MAX_BATCH_SHIFT     10      /* 1024 descriptors per batch */

/* BAR0 layout as implemented */
#define DSA_BAR0_SIZE           0x10000
#define DSA_REGS_SIZE           0x8000  /* registers, config tables, debug */
#define DSA_TABLE_MULT          0x100
#define DSA_GRPCFG_OFF          0x400
#define DSA_GRPCFG_SIZE         64      /* per group */
#define DSA_WQCFG_OFF           0x500
#define DSA_WQCFG_SIZE          32      /* per WQ: WQCAP.wqcfg_size = 0 */
#define DSA_WQCFG_DWORDS        (DSA_WQCFG_SIZE / 4)
#define DSA_MSIX_PERM_OFF       0x800
#define DSA_MSIX_PERM_SIZE      8       /* per MSI-X vector */
#define DSA_DBG_OFF             0x1000  /* model-specific debug block */
#define DSA_MSIX_TABLE_OFF      0x2000
#define DSA_MSIX_PBA_OFF        0x3000
#define DSA_IMS_OFF             0x8000
#define DSA_IMS_SLOT_SIZE       16

/*
 * BAR2: four 4 KiB portal pages per WQ, as on real DSA (unlimited and limited,
 * MSI-X and IMS); all four submit to the same WQ here.
 */
#define DSA_PORTAL_SIZE         0x1000
#define DSA_PORTALS_PER_WQ      4
#define DSA_WQ_PORTAL_STRIDE    (DSA_PORTALS_PER_WQ * DSA_PORTAL_SIZE)
#define DSA_BAR2_SIZE           (DSA_NUM_WQS * DSA_WQ_PORTAL_STRIDE)
#define DSA_DESC_SIZE           64
#define DSA_CR_SIZE             32

/* MMIO registers (registers.h) */
#define DSA_REG_VERSION         0x00
#define DSA_REG_GENCAP          0x10
#define DSA_REG_WQCAP           0x20
#define DSA_REG_GRPCAP          0x30
#define DSA_REG_ENGCAP          0x38
#define DSA_REG_OPCAP           0x40    /* 4 x 64 bits */
#define DSA_REG_TABLE_OFFSET    0x60    /* 2 x 64 bits */
#define DSA_REG_GENCFG          0x80
#define DSA_REG_GENCTRL         0x88
#define DSA_REG_GENSTS          0x90
#define DSA_REG_INTCAUSE        0x98
#define DSA_REG_CMD             0xa0
#define DSA_REG_CMDSTS          0xa8
#define DSA_REG_CMDCAP          0xb0
#define DSA_REG_SWERR           0xc0    /* 4 x 64 bits */

#define DSA_VERSION             0x100

/* GENCAP fields */
#define DSA_GENCAP_BLOCK_ON_FAULT BIT_ULL(0)   /* WQCFG.bof accepted */
#define DSA_GENCAP_OVERLAP_COPY BIT_ULL(1)
#define DSA_GENCAP_CMD_CAP      BIT_ULL(4)
#define DSA_GENCAP_XFER_SHIFT   16
#define DSA_GENCAP_BATCH_SHIFT  21
#define DSA_GENCAP_IMS_SHIFT    25
#define DSA_GENCAP_CONFIG_EN    BIT_ULL(31)

/* WQCAP fields */
#define DSA_WQCAP_NUM_WQS_SHIFT 16
#define DSA_WQCAP_DEDICATED     BIT_ULL(49)
#define DSA_WQCAP_PRIORITY      BIT_ULL(51)
#define DSA_WQCAP_OCCUPANCY     BIT_ULL(52)

/* GRPCAP fields */
#define DSA_GRPCAP_RDBUFS_SHIFT 8
#define DSA_GRPCAP_RDBUF_CTRL   BIT_ULL(16)
#define DSA_GRPCAP_RDBUF_LIMIT  BIT_ULL(17)     /* GENCFG.rdbuf_limit works */
#define DSA_TOTAL_RDBUFS        0x60

/* GENCFG: rdbuf_limit 7:0, user_int_en 12, evl_en 13 (EVL not offered) */
#define DSA_GENCFG_WMASK        0x10ffu
/* GENCTRL */
#define DSA_GENCTRL_SOFTERR_EN  BIT(0)
#define DSA_GENCTRL_HALT_EN     BIT(1)
#define DSA_GENCTRL_WMASK       0x3u
/* GENSTS state */
#define DSA_DEV_DISABLED        0
#define DSA_DEV_ENABLED         1

/* INTCAUSE */
#define DSA_INTC_ERR            BIT(0)
#define DSA_INTC_CMD            BIT(1)
#define DSA_INTC_HALT_STATE     BIT(4)
#define DSA_INTC_WMASK          0x8000003fu

/* CMD: operand 19:0, cmd 24:20, int_req 31 */
#define DSA_CMD_OPERAND(v)      extract32((v), 0, 20)
#define DSA_CMD_CODE(v)         extract32((v), 20, 5)
#define DSA_CMD_INT_REQ         BIT(31)

enum {
    DSA_CMD_ENABLE_DEVICE = 1,
    DSA_CMD_DISABLE_DEVICE,
    DSA_CMD_DRAIN_ALL,
    DSA_CMD_ABORT_ALL,
    DSA_CMD_RESET_DEVICE,
    DSA_CMD_ENABLE_WQ,
    DSA_CMD_DISABLE_WQ,
    DSA_CMD_DRAIN_WQ,
    DSA_CMD_ABORT_WQ,
    DSA_CMD_RESET_WQ,
    DSA_CMD_DRAIN_PASID,
    DSA_CMD_ABORT_PASID,
    DSA_CMD_REQUEST_INT_HANDLE,
    DSA_CMD_RELEASE_INT_HANDLE,
};
#define DSA_CMDCAP              0x7ffeu /* commands 1..14 */
#define DSA_CMD_INT_HANDLE_IMS  0x10000u

/* CMDSTS: err 7:0, result 23:8, active 31 */
#define DSA_CMDSTS_ACTIVE       BIT(31)
#define DSA_CMDSTS_RES_SHIFT    8

enum {
    DSA_CMDSTS_SUCCESS = 0,
    DSA_CMDSTS_INVAL_CMD = 0x01,
    DSA_CMDSTS_INVAL_WQIDX = 0x02,
    DSA_CMDSTS_ERR_DEV_ENABLED = 0x10,
    DSA_CMDSTS_ERR_CONFIG = 0x11,
    DSA_CMDSTS_ERR_BUSMASTER_EN = 0x12,
    DSA_CMDSTS_ERR_WQ_SIZE_ERANGE = 0x14,
    DSA_CMDSTS_ERR_GRP_CONFIG = 0x15,       /* a group lacks WQs or engines */
    DSA_CMDSTS_ERR_GRP_CONFIG2 = 0x16,      /* a WQ is misconfigured */
    DSA_CMDSTS_ERR_DEV_NOTEN = 0x20,
    DSA_CMDSTS_ERR_WQ_ENABLED = 0x21,
    DSA_CMDSTS_ERR_WQ_SIZE = 0x22,
    DSA_CMDSTS_ERR_WQ_MODE = 0x24,
    DSA_CMDSTS_ERR_MAX_BATCH_SIZE = 0x27,
    DSA_CMDSTS_ERR_MAX_XFER_SIZE = 0x28,
    DSA_CMDSTS_ERR_DIS_DEV_EN = 0x31,
    DSA_CMDSTS_ERR_DEV_NOT_EN = 0x32,
    DSA_CMDSTS_ERR_INVAL_INT_IDX = 0x41,
    DSA_CMDSTS_ERR_NO_HANDLE = 0x42,
};

/* SWERR qword 0 */
#define DSA_SWERR_VALID         BIT_ULL(0)
#define DSA_SWERR_OVERFLOW      BIT_ULL(1)
#define DSA_SWERR_DESC_VALID    BIT_ULL(2)
#define DSA_SWERR_WQ_IDX_VALID  BIT_ULL(3)
#define DSA_SWERR_BATCH         BIT_ULL(4)
#define DSA_SWERR_FAULT_RW      BIT_ULL(5)
#define DSA_SWERR_ERROR_SHIFT   8
#define DSA_SWERR_WQ_IDX_SHIFT  16
#define DSA_SWERR_OP_SHIFT      32
#define DSA_SWERR_PASID_SHIFT   40

/* GRPCFG qwords: wqs[4], engines, flags */
#define DSA_GRPCFG_QWORDS       (DSA_GRPCFG_SIZE / 8)
#define DSA_GRP_WQS             0
#define DSA_GRP_ENGINES         4
#define DSA_GRP_FLAGS           5

/* WQCFG dwords */
#define DSA_WQCFG_SIZE_IDX      0
#define DSA_WQCFG_THRESH_IDX    1
#define DSA_WQCFG_MODE_IDX      2
#define DSA_WQCFG_MAX_IDX       3
#define DSA_WQCFG_OCCUP_IDX     6
#define DSA_WQCFG_MODE_DEDICATED BIT(0)
#define DSA_WQCFG_BOF           BIT(1)
#define DSA_WQCFG_PASID(v)      extract32((v), 8, 20)
#define DSA_WQCFG_PASID_EN      BIT(28)
#define DSA_WQCFG_STATE_SHIFT   30

static const uint32_t dsa_wqcfg_wmask[DSA_WQCFG_DWORDS] = {
    0x0000ffff, 0x0000ffff, 0x3fffffff, 0x000001ff,
    0x0001ffff, 0x0001ffff, 0, 0,
};

/* WQ state as reported in WQCFG; 2 (halted) is this model's encoding */
enum {
    DSA_WQ_DISABLED = 0,
    DSA_WQ_ENABLED = 1,
    DSA_WQ_HALTED = 2,
};

/* MSIX_PERM: ignore 2, pasid_en 3, pasid 31:12 */
#define DSA_PERM_IGNORE         BIT(2)
#define DSA_PERM_PASID_EN       BIT(3)
#define DSA_PERM_WMASK          0xfffff00cu

/* IMS slot: {addr_lo, addr_hi, data, ctrl} */
#define DSA_IMS_ADDR_LO         0
#define DSA_IMS_ADDR_HI         1
#define DSA_IMS_DATA            2
#define DSA_IMS_CTRL            3
#define DSA_IMS_CTRL_MASK       BIT(0)
#define DSA_IMS_CTRL_PASID_EN   BIT(3)
#define DSA_IMS_CTRL_PASID(v)   extract32((v), 12, 20)
#define DSA_IMS_CTRL_WMASK      0xfffff009u

/* Interrupt handle in a descriptor (docs/dsa.rst) */
#define DSA_INT_HANDLE_IMS      BIT(15)
#define DSA_INT_HANDLE_IDX(h)   ((h) & 0x7fff)

/* Debug block (model only, docs/dsa.rst) */
#define DSA_DBG_ID              (DSA_DBG_OFF + 0x00)
#define DSA_DBG_INJECT          (DSA_DBG_OFF + 0x08)
#define DSA_DBG_LATENCY         (DSA_DBG_OFF + 0x10)
#define DSA_DBG_FAIL_PENDING    (DSA_DBG_OFF + 0x18)
#define DSA_DBG_ID_VALUE        0x51415344u     /* "DSAQ" */
#define DSA_INJ_FAIL_NEXT       1
#define DSA_INJ_HALT_WQ         2
#define DSA_INJ_SWERR           3
#define DSA_INJ_FAIL_CMD        4
#define DSA_INJ_HIDE_IMS        5
#define DSA_INJ_WQ_VALID        BIT(24)

/* Descriptor (idxd.h struct dsa_hw_desc), byte offsets */
#define DSA_D_PASID             0
#define DSA_D_FLAGS             4       /* 24 bits flags, opcode in byte 7 */
#define DSA_D_OPCODE            7
#define DSA_D_COMPL             8
#define DSA_D_SRC               16      /* src, pattern, desc_list_addr */
#define DSA_D_DST               24      /* dst, src2, comp_pattern */
#define DSA_D_SIZE              32      /* xfer_size, desc_count */
#define DSA_D_INT_HANDLE        36
#define DSA_D_OPSPEC            40      /* expected_res, dest2, crc_seed */

enum {
    DSA_OP_NOOP = 0x00,
    DSA_OP_BATCH = 0x01,
    DSA_OP_DRAIN = 0x02,
    DSA_OP_MEMMOVE = 0x03,
    DSA_OP_MEMFILL = 0x04,
    DSA_OP_COMPARE = 0x05,
    DSA_OP_COMPVAL = 0x06,
    DSA_OP_DUALCAST = 0x09,
    DSA_OP_CRCGEN = 0x10,
};
#define DSA_OPCAP0 (BIT_ULL(DSA_OP_NOOP) | BIT_ULL(DSA_OP_BATCH) | \
                    BIT_ULL(DSA_OP_DRAIN) | BIT_ULL(DSA_OP_MEMMOVE) | \
                    BIT_ULL(DSA_OP_MEMFILL) | BIT_ULL(DSA_OP_COMPARE) | \
                    BIT_ULL(DSA_OP_COMPVAL) | BIT_ULL(DSA_OP_DUALCAST) | \
                    BIT_ULL(DSA_OP_CRCGEN))

/* Descriptor flags */
#define DSA_F_FENCE             BIT(0)
#define DSA_F_CRAV              BIT(2)
#define DSA_F_RCR               BIT(3)
#define DSA_F_RCI               BIT(4)
#define DSA_F_CHECK_RESULT      BIT(7)
#define DSA_F_VALID             0xffbfu /* bits 15:0 except reserved bit 6 */

/* Completion status codes */
enum {
    DSA_COMP_SUCCESS = 0x01,
    DSA_COMP_SUCCESS_PRED = 0x02,
    DSA_COMP_PAGE_FAULT_NOBOF = 0x03,
    DSA_COMP_BATCH_FAIL = 0x05,
    DSA_COMP_BATCH_PAGE_FAULT = 0x06,
    DSA_COMP_BAD_OPCODE = 0x10,
    DSA_COMP_INVALID_FLAGS = 0x11,
    DSA_COMP_XFER_ERANGE = 0x13,
    DSA_COMP_DESC_CNT_ERANGE = 0x14,
    DSA_COMP_DCAST_ERR = 0x17,
    DSA_COMP_DESCLIST_ALIGN = 0x18,
    DSA_COMP_INT_HANDLE_INVAL = 0x19,
    DSA_COMP_CRA_XLAT = 0x1a,
    DSA_COMP_CRA_ALIGN = 0x1b,
    DSA_COMP_HW_ERR1 = 0x20,
};

/* Completion record (idxd.h struct dsa_completion_record), byte offsets */
#define DSA_CR_STATUS           0
#define DSA_CR_RESULT           1
#define DSA_CR_FAULT_INFO       2
#define DSA_CR_BYTES            4
#define DSA_CR_FAULT_ADDR       8
#define DSA_CR_OPSPEC           16      /* invalid_flags, crc_val */

#define DSA_CHUNK               4096    /* bounce buffer for DMA */
#define DSA_BH_BUDGET           64      /* descriptors per bottom half */

typedef struct DsaWq {
    uint8_t state;
    uint16_t head;
    uint16_t count;
    uint8_t ring[DSA_TOTAL_WQ_SIZE][DSA_DESC_SIZE];
    /* descriptor being assembled from 4/8-byte portal stores */
    uint8_t partial[DSA_DESC_SIZE];
    uint64_t partial_mask;
    uint32_t partial_slot;
} DsaWq;

struct DsaState {
    PCIDevice parent_obj;

    MemoryRegion bar0;
    MemoryRegion regs;
    MemoryRegion ims_mmio;
    MemoryRegion portals;
    QEMUBH *bh;
    QEMUTimer *lat_timer;

    /* registers */
    uint32_t gencfg;
    uint32_t genctrl;
    uint32_t gensts;
    uint32_t intcause;
    uint32_t cmd;
    uint32_t cmdsts;
    bool cmd_pending;
    uint64_t swerr[4];
    uint64_t grpcfg[DSA_NUM_GROUPS][DSA_GRPCFG_QWORDS];
    uint32_t wqcfg[DSA_NUM_WQS][DSA_WQCFG_DWORDS];
    uint32_t msix_perm[DSA_MSIX_VECTORS];
    uint32_t ims[DSA_IMS_SLOTS][4];
    uint8_t ims_pending[DSA_IMS_SLOTS];
    uint8_t ims_granted[DSA_IMS_SLOTS];
    uint8_t msix_granted[DSA_MSIX_VECTORS];

    DsaWq wq[DSA_NUM_WQS];
    uint32_t rr;                /* round-robin WQ cursor */

    /* fault injection */
    uint32_t fail_pending;
    uint32_t fail_status;
    /* injected command failures: count, command code (0: any), error */
    uint32_t fail_cmd_pending;
    uint32_t fail_cmd_code;
    uint32_t fail_cmd_status;
    uint32_t latency_us;
    bool lat_ready;

    /* properties */
    bool int_handle_req;
    bool ims_hidden;            /* DSA_INJ_HIDE_IMS: a DSA without IMS */
    bool debug_regs;
    uint32_t prop_latency_us;
    uint32_t prop_fail_next;
    uint8_t prop_fail_status;

    /* DMA bounce buffers, not migrated */
    uint8_t buf[2][DSA_CHUNK];
};

/* Where a descriptor came from, for PASID checks and error reports */
typedef struct DsaCtx {
    unsigned wq;
    bool pasid_en;
    uint32_t pasid;
    bool batch;
    uint32_t batch_idx;
} DsaCtx;

typedef struct DsaResult {
    uint8_t status;
    uint8_t result;
    uint8_t fault_info;
    uint32_t bytes;
    uint64_t fault_addr;
    uint64_t opspec;
} DsaResult;

static void dsa_kick(DsaState *s)
{
    qemu_bh_schedule(s->bh);
}

/* ---- interrupts ---- */

static void dsa_misc_irq(DsaState *s, uint32_t cause, bool enabled)
{
    s->intcause |= cause;
    if (enabled) {
        msix_notify(PCI_DEVICE(s), 0);
    }
}

static void dsa_swerr(DsaState *s, uint8_t error, const DsaCtx *ctx,
                      const uint8_t *desc, uint64_t fault_addr,
                      uint32_t invalid_flags)
{
    uint64_t w0;

    if (s->swerr[0] & DSA_SWERR_VALID) {
        s->swerr[0] |= DSA_SWERR_OVERFLOW;
    } else {
        w0 = DSA_SWERR_VALID | ((uint64_t)error << DSA_SWERR_ERROR_SHIFT);
        if (ctx) {
            w0 |= DSA_SWERR_WQ_IDX_VALID |
                  ((uint64_t)ctx->wq << DSA_SWERR_WQ_IDX_SHIFT);
            if (ctx->pasid_en) {
                w0 |= (uint64_t)ctx->pasid << DSA_SWERR_PASID_SHIFT;
            }
            if (ctx->batch) {
                w0 |= DSA_SWERR_BATCH;
            }
        }
        if (desc) {
            w0 |= DSA_SWERR_DESC_VALID |
                  ((uint64_t)desc[DSA_D_OPCODE] << DSA_SWERR_OP_SHIFT);
        }
        s->swerr[0] = w0;
        s->swerr[1] = (ctx && ctx->batch ? ctx->batch_idx & 0xffff : 0) |
                      ((uint64_t)invalid_flags << 32);
        s->swerr[2] = fault_addr;
        s->swerr[3] = 0;
    }
    dsa_misc_irq(s, DSA_INTC_ERR, s->genctrl & DSA_GENCTRL_SOFTERR_EN);
}

static void dsa_ims_send(DsaState *s, unsigned slot)
{
    MSIMessage msg = {
        .address = ((uint64_t)s->ims[slot][DSA_IMS_ADDR_HI] << 32) |
                   s->ims[slot][DSA_IMS_ADDR_LO],
        .data = s->ims[slot][DSA_IMS_DATA],
    };

    /*
     * msi_send_message() -> pci_msi_trigger(): a write on the bus-master
     * address space carrying our requester ID, so VT-d interrupt remapping
     * sees (and can validate) the source like a real IMS message.
     */
    msi_send_message(PCI_DEVICE(s), msg);
}

/*
 * Decide whether the completion interrupt named by @handle may be raised for
 * work from @ctx.  Returns false for an invalid handle.  *@fire is false when
 * the interrupt is valid but must not be generated (MSIX_PERM ignore).
 */
static bool dsa_int_handle_ok(DsaState *s, const DsaCtx *ctx, uint16_t handle,
                              bool *fire)
{
    unsigned idx = DSA_INT_HANDLE_IDX(handle);
    uint32_t ctrl, perm;

    *fire = true;
    if (handle & DSA_INT_HANDLE_IMS) {
        if (s->ims_hidden || idx >= DSA_IMS_SLOTS ||
            (s->int_handle_req && !s->ims_granted[idx])) {
            return false;
        }
        ctrl = s->ims[idx][DSA_IMS_CTRL];
        if ((ctrl & DSA_IMS_CTRL_PASID_EN) &&
            (!ctx->pasid_en || ctx->pasid != DSA_IMS_CTRL_PASID(ctrl))) {
            return false;
        }
        return true;
    }
    if (idx >= DSA_MSIX_VECTORS ||
        (s->int_handle_req && !s->msix_granted[idx])) {
        return false;
    }
    perm = s->msix_perm[idx];
    if ((perm & DSA_PERM_PASID_EN) &&
        (!ctx->pasid_en || ctx->pasid != DSA_IMS_CTRL_PASID(perm))) {
        return false;
    }
    *fire = !(perm & DSA_PERM_IGNORE);
    return true;
}

static void dsa_completion_irq(DsaState *s, uint16_t handle)
{
    unsigned idx = DSA_INT_HANDLE_IDX(handle);

    if (!(handle & DSA_INT_HANDLE_IMS)) {
        msix_notify(PCI_DEVICE(s), idx);
        return;
    }
    if (s->ims[idx][DSA_IMS_CTRL] & DSA_IMS_CTRL_MASK) {
        s->ims_pending[idx] = 1;
        return;
    }
    dsa_ims_send(s, idx);
}

/* ---- DMA helpers ---- */

static bool dsa_range_ok(uint64_t addr, uint64_t len)
{
    return len == 0 || addr + len - 1 >= addr;
}

static bool dsa_read(DsaState *s, uint64_t addr, void *buf, uint32_t len,
                     DsaResult *r, uint32_t done)
{
    if (pci_dma_read(PCI_DEVICE(s), addr, buf, len) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: DMA read fault at 0x%"
                      PRIx64 "\n", addr);
        r->status = DSA_COMP_PAGE_FAULT_NOBOF;
        r->fault_addr = addr;
        r->fault_info = 0;
        r->bytes = done;
        return false;
    }
    return true;
}

static bool dsa_write(DsaState *s, uint64_t addr, const void *buf,
                      uint32_t len, DsaResult *r, uint32_t done)
{
    if (pci_dma_write(PCI_DEVICE(s), addr, buf, len) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: DMA write fault at 0x%"
                      PRIx64 "\n", addr);
        r->status = DSA_COMP_PAGE_FAULT_NOBOF;
        r->fault_addr = addr;
        r->fault_info = 1;      /* write */
        r->bytes = done;
        return false;
    }
    return true;
}

/* ---- operations ---- */

static void dsa_op_memmove(DsaState *s, uint64_t src, uint64_t dst,
                           uint32_t len, DsaResult *r)
{
    bool backward = dst > src && dst - src < len;
    uint32_t done = 0, n;
    uint64_t off;

    while (done < len) {
        n = MIN(len - done, DSA_CHUNK);
        /* overlapping with dst above src: copy from the end down */
        off = backward ? len - done - n : done;
        if (!dsa_read(s, src + off, s->buf[0], n, r, done) ||
            !dsa_write(s, dst + off, s->buf[0], n, r, done)) {
            return;
        }
        done += n;
    }
}

static void dsa_op_fill(DsaState *s, const uint8_t *d, uint32_t len,
                        DsaResult *r)
{
    uint64_t dst = ldq_le_p(d + DSA_D_DST);
    uint32_t done = 0, n, i;

    for (i = 0; i < DSA_CHUNK; i++) {
        s->buf[0][i] = d[DSA_D_SRC + (i & 7)];
    }
    while (done < len) {
        /* DSA_CHUNK is a multiple of 8, so the pattern stays in phase */
        n = MIN(len - done, DSA_CHUNK);
        if (!dsa_write(s, dst + done, s->buf[0], n, r, done)) {
            return;
        }
        done += n;
    }
}

static void dsa_op_compare(DsaState *s, const uint8_t *d, uint32_t len,
                           bool with_pattern, DsaResult *r)
{
    uint64_t src1 = ldq_le_p(d + DSA_D_SRC);
    uint64_t src2 = ldq_le_p(d + DSA_D_DST);
    uint32_t done = 0, n, i;

    if (with_pattern) {
        for (i = 0; i < DSA_CHUNK; i++) {
            s->buf[1][i] = d[DSA_D_DST + (i & 7)];
        }
    }
    while (done < len) {
        n = MIN(len - done, DSA_CHUNK);
        if (!dsa_read(s, src1 + done, s->buf[0], n, r, done)) {
            return;
        }
        if (!with_pattern &&
            !dsa_read(s, src2 + done, s->buf[1], n, r, done)) {
            return;
        }
        if (memcmp(s->buf[0], s->buf[1], n)) {
            for (i = 0; s->buf[0][i] == s->buf[1][i]; i++) {
                /* find the first difference */
            }
            r->result = 1;
            r->bytes = done + i;
            return;
        }
        done += n;
    }
    r->result = 0;
    r->bytes = len;
}

static void dsa_op_dualcast(DsaState *s, const uint8_t *d, uint32_t len,
                            DsaResult *r)
{
    uint64_t src = ldq_le_p(d + DSA_D_SRC);
    uint64_t dst1 = ldq_le_p(d + DSA_D_DST);
    uint64_t dst2 = ldq_le_p(d + DSA_D_OPSPEC);
    uint32_t done = 0, n;

    if ((dst1 & 0xfff) != (dst2 & 0xfff)) {
        r->status = DSA_COMP_DCAST_ERR;
        return;
    }
    if (!dsa_range_ok(dst2, len)) {
        r->status = DSA_COMP_PAGE_FAULT_NOBOF;
        r->fault_addr = dst2;
        r->fault_info = 1;
        return;
    }
    while (done < len) {
        n = MIN(len - done, DSA_CHUNK);
        if (!dsa_read(s, src + done, s->buf[0], n, r, done) ||
            !dsa_write(s, dst1 + done, s->buf[0], n, r, done) ||
            !dsa_write(s, dst2 + done, s->buf[0], n, r, done)) {
            return;
        }
        done += n;
    }
}

static void dsa_op_crcgen(DsaState *s, const uint8_t *d, uint32_t len,
                          DsaResult *r)
{
    uint64_t src = ldq_le_p(d + DSA_D_SRC);
    uint32_t crc = ~ldl_le_p(d + DSA_D_OPSPEC);
    uint32_t done = 0, n;

    while (done < len) {
        n = MIN(len - done, DSA_CHUNK);
        if (!dsa_read(s, src + done, s->buf[0], n, r, done)) {
            return;
        }
        /* QEMU's crc32c() inverts its result: undo it to chain chunks */
        crc = ~crc32c(crc, s->buf[0], n);
        done += n;
    }
    r->opspec = (uint32_t)~crc;
}

static uint32_t dsa_wq_max_xfer(DsaState *s, unsigned wq)
{
    unsigned shift = extract32(s->wqcfg[wq][DSA_WQCFG_MAX_IDX], 0, 5);

    return 1u << (shift ? shift : DSA_MAX_XFER_SHIFT);
}

static uint32_t dsa_wq_max_batch(DsaState *s, unsigned wq)
{
    unsigned shift = extract32(s->wqcfg[wq][DSA_WQCFG_MAX_IDX], 5, 4);

    return 1u << (shift ? shift : DSA_MAX_BATCH_SHIFT);
}

static bool dsa_status_ok(uint8_t status)
{
    return status == DSA_COMP_SUCCESS || status == DSA_COMP_SUCCESS_PRED;
}

static uint8_t dsa_exec_desc(DsaState *s, const DsaCtx *ctx,
                             const uint8_t *d);

static void dsa_op_batch(DsaState *s, const DsaCtx *ctx, const uint8_t *d,
                         DsaResult *r)
{
    uint64_t list = ldq_le_p(d + DSA_D_SRC);
    uint32_t count = ldl_le_p(d + DSA_D_SIZE);
    uint8_t sub[DSA_DESC_SIZE];
    DsaCtx bctx = *ctx;
    bool failed = false;
    uint32_t i;

    if (count < 2 || count > dsa_wq_max_batch(s, ctx->wq)) {
        r->status = DSA_COMP_DESC_CNT_ERANGE;
        return;
    }
    if (list & (DSA_DESC_SIZE - 1)) {
        r->status = DSA_COMP_DESCLIST_ALIGN;
        return;
    }
    if (!dsa_range_ok(list, (uint64_t)count * DSA_DESC_SIZE)) {
        r->status = DSA_COMP_BATCH_PAGE_FAULT;
        r->fault_addr = list;
        return;
    }
    bctx.batch = true;
    for (i = 0; i < count; i++) {
        if (pci_dma_read(PCI_DEVICE(s), list + (uint64_t)i * DSA_DESC_SIZE,
                         sub, sizeof(sub)) != MEMTX_OK) {
            r->status = DSA_COMP_BATCH_PAGE_FAULT;
            r->fault_addr = list + (uint64_t)i * DSA_DESC_SIZE;
            r->bytes = i;
            return;
        }
        if ((ldl_le_p(sub + DSA_D_FLAGS) & DSA_F_FENCE) && failed) {
            /* a fence after a failure abandons the rest of the batch */
            break;
        }
        bctx.batch_idx = i;
        if (!dsa_status_ok(dsa_exec_desc(s, &bctx, sub))) {
            failed = true;
        }
    }
    r->bytes = i;               /* descs_completed */
    r->status = failed ? DSA_COMP_BATCH_FAIL : DSA_COMP_SUCCESS;
}

static void dsa_run_op(DsaState *s, const DsaCtx *ctx, const uint8_t *d,
                       DsaResult *r)
{
    uint8_t opcode = d[DSA_D_OPCODE];
    uint32_t len = ldl_le_p(d + DSA_D_SIZE);
    uint64_t src = ldq_le_p(d + DSA_D_SRC);
    uint64_t dst = ldq_le_p(d + DSA_D_DST);

    switch (opcode) {
    case DSA_OP_NOOP:
        return;
    case DSA_OP_DRAIN:
    case DSA_OP_BATCH:
        if (ctx->batch) {
            r->status = DSA_COMP_BAD_OPCODE;
        } else if (opcode == DSA_OP_BATCH) {
            dsa_op_batch(s, ctx, d, r);
        }
        /* a dedicated WQ runs in order: everything before a drain is done */
        return;
    case DSA_OP_MEMMOVE:
    case DSA_OP_MEMFILL:
    case DSA_OP_COMPARE:
    case DSA_OP_COMPVAL:
    case DSA_OP_DUALCAST:
    case DSA_OP_CRCGEN:
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: bad opcode 0x%x\n",
                      opcode);
        r->status = DSA_COMP_BAD_OPCODE;
        return;
    }

    if (len > dsa_wq_max_xfer(s, ctx->wq)) {
        r->status = DSA_COMP_XFER_ERANGE;
        return;
    }
    if (!dsa_range_ok(src, len) && opcode != DSA_OP_MEMFILL) {
        r->status = DSA_COMP_PAGE_FAULT_NOBOF;
        r->fault_addr = src;
        return;
    }
    if (!dsa_range_ok(dst, len) && opcode != DSA_OP_COMPVAL &&
        opcode != DSA_OP_CRCGEN) {
        r->status = DSA_COMP_PAGE_FAULT_NOBOF;
        r->fault_addr = dst;
        r->fault_info = opcode != DSA_OP_COMPARE;
        return;
    }

    switch (opcode) {
    case DSA_OP_MEMMOVE:
        dsa_op_memmove(s, src, dst, len, r);
        break;
    case DSA_OP_MEMFILL:
        dsa_op_fill(s, d, len, r);
        break;
    case DSA_OP_COMPARE:
    case DSA_OP_COMPVAL:
        dsa_op_compare(s, d, len, opcode == DSA_OP_COMPVAL, r);
        if (r->status == DSA_COMP_SUCCESS &&
            (ldl_le_p(d + DSA_D_FLAGS) & DSA_F_CHECK_RESULT) &&
            r->result != d[DSA_D_OPSPEC]) {
            r->status = DSA_COMP_SUCCESS_PRED;
        }
        break;
    case DSA_OP_DUALCAST:
        dsa_op_dualcast(s, d, len, r);
        break;
    case DSA_OP_CRCGEN:
        dsa_op_crcgen(s, d, len, r);
        break;
    }
}

static bool dsa_write_cr(DsaState *s, uint64_t addr, const DsaResult *r)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    uint8_t cr[DSA_CR_SIZE] = { 0 };

    cr[DSA_CR_STATUS] = r->status;
    cr[DSA_CR_RESULT] = r->result;
    cr[DSA_CR_FAULT_INFO] = r->fault_info;
    stl_le_p(cr + DSA_CR_BYTES, r->bytes);
    stq_le_p(cr + DSA_CR_FAULT_ADDR, r->fault_addr);
    stq_le_p(cr + DSA_CR_OPSPEC, r->opspec);

    /* everything but the status byte first: the status is what guests poll */
    if (pci_dma_write(pdev, addr + 1, cr + 1, DSA_CR_SIZE - 1) != MEMTX_OK) {
        return false;
    }
    /* order the record body before the status byte that publishes it */
    smp_wmb();
    return pci_dma_write(pdev, addr, cr, 1) == MEMTX_OK;
}

/* Execute one descriptor; returns its completion status. */
static uint8_t dsa_exec_desc(DsaState *s, const DsaCtx *ctx,
                             const uint8_t *d)
{
    uint32_t flags = extract32(ldl_le_p(d + DSA_D_FLAGS), 0, 24);
    uint64_t cr_addr = ldq_le_p(d + DSA_D_COMPL);
    uint16_t handle = lduw_le_p(d + DSA_D_INT_HANDLE);
    DsaResult r = { .status = DSA_COMP_SUCCESS };
    bool irq = false, fire = false;

    if ((flags & DSA_F_CRAV) && (cr_addr & (DSA_CR_SIZE - 1))) {
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: misaligned completion "
                      "record 0x%" PRIx64 "\n", cr_addr);
        dsa_swerr(s, DSA_COMP_CRA_ALIGN, ctx, d, cr_addr, 0);
        return DSA_COMP_CRA_ALIGN;
    }

    if (flags & DSA_F_RCI) {
        if (dsa_int_handle_ok(s, ctx, handle, &fire)) {
            irq = fire;
        } else {
            qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: WQ %u: interrupt "
                          "handle 0x%x refused\n", ctx->wq, handle);
            r.status = DSA_COMP_INT_HANDLE_INVAL;
            dsa_swerr(s, DSA_COMP_INT_HANDLE_INVAL, ctx, d, 0, 0);
        }
    }

    if (r.status != DSA_COMP_SUCCESS) {
        /* already failed */
    } else if ((flags & ~DSA_F_VALID) ||
               ((flags & DSA_F_RCR) && !(flags & DSA_F_CRAV))) {
        r.status = DSA_COMP_INVALID_FLAGS;
        r.opspec = flags & ~DSA_F_VALID;
        if (!r.opspec) {
            r.opspec = DSA_F_RCR;
        }
    } else if (s->fail_pending) {
        s->fail_pending--;
        r.status = s->fail_status ? s->fail_status : DSA_COMP_HW_ERR1;
    } else {
        dsa_run_op(s, ctx, d, &r);
    }

    if ((flags & DSA_F_CRAV) &&
        ((flags & DSA_F_RCR) || !dsa_status_ok(r.status))) {
        if (!dsa_write_cr(s, cr_addr, &r)) {
            qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: cannot write "
                          "completion record at 0x%" PRIx64 "\n", cr_addr);
            dsa_swerr(s, DSA_COMP_CRA_XLAT, ctx, d, cr_addr, 0);
        }
    } else if (!dsa_status_ok(r.status) &&
               r.status != DSA_COMP_INT_HANDLE_INVAL) {
        /* no completion record to report the error in */
        dsa_swerr(s, r.status, ctx, d, r.fault_addr, 0);
    }
    if (irq) {
        dsa_completion_irq(s, handle);
    }
    return r.status;
}

/* ---- work queues ---- */

static void dsa_wq_ctx(DsaState *s, unsigned wq, DsaCtx *ctx)
{
    uint32_t w2 = s->wqcfg[wq][DSA_WQCFG_MODE_IDX];

    memset(ctx, 0, sizeof(*ctx));
    ctx->wq = wq;
    ctx->pasid_en = w2 & DSA_WQCFG_PASID_EN;
    ctx->pasid = DSA_WQCFG_PASID(w2);
}

static void dsa_wq_flush(DsaWq *q)
{
    q->head = 0;
    q->count = 0;
    q->partial_mask = 0;
}

static bool dsa_wq_run_one(DsaState *s)
{
    unsigned i, wq;
    DsaWq *q;
    DsaCtx ctx;
    uint8_t desc[DSA_DESC_SIZE];

    for (i = 0; i < DSA_NUM_WQS; i++) {
        wq = (s->rr + i) % DSA_NUM_WQS;
        q = &s->wq[wq];
        if (q->count) {
            memcpy(desc, q->ring[q->head], DSA_DESC_SIZE);
            q->head = (q->head + 1) % DSA_TOTAL_WQ_SIZE;
            q->count--;
            s->rr = wq + 1;
            dsa_wq_ctx(s, wq, &ctx);
            dsa_exec_desc(s, &ctx, desc);
            return true;
        }
    }
    return false;
}

static bool dsa_work_pending(DsaState *s)
{
    unsigned i;

    for (i = 0; i < DSA_NUM_WQS; i++) {
        if (s->wq[i].count) {
            return true;
        }
    }
    return false;
}

static void dsa_submit(DsaState *s, unsigned wq, const uint8_t *desc)
{
    DsaWq *q = &s->wq[wq];
    uint16_t size = s->wqcfg[wq][DSA_WQCFG_SIZE_IDX] & 0xffff;

    if (s->gensts != DSA_DEV_ENABLED || q->state != DSA_WQ_ENABLED) {
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: descriptor to WQ %u, "
                      "which is not enabled: dropped\n", wq);
        return;
    }
    if (q->count >= size) {
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: WQ %u full: descriptor "
                      "dropped\n", wq);
        return;
    }
    memcpy(q->ring[(q->head + q->count) % DSA_TOTAL_WQ_SIZE], desc,
           DSA_DESC_SIZE);
    q->count++;
    dsa_kick(s);
}

static void dsa_wq_halt(DsaState *s, unsigned wq, uint8_t error)
{
    DsaCtx ctx;

    dsa_wq_flush(&s->wq[wq]);
    s->wq[wq].state = DSA_WQ_HALTED;
    dsa_wq_ctx(s, wq, &ctx);
    dsa_swerr(s, error, &ctx, NULL, 0, 0);
}

/* ---- commands ---- */

static void dsa_wq_disable(DsaState *s, unsigned wq, bool reset_cfg)
{
    dsa_wq_flush(&s->wq[wq]);
    s->wq[wq].state = DSA_WQ_DISABLED;
    if (reset_cfg) {
        memset(s->wqcfg[wq], 0, sizeof(s->wqcfg[wq]));
    }
}

static void dsa_release_handles(DsaState *s)
{
    memset(s->ims_granted, 0, sizeof(s->ims_granted));
    memset(s->msix_granted, 0, sizeof(s->msix_granted));
}

/* Reset everything the guest can program (not PCI config space). */
static void dsa_soft_reset(DsaState *s)
{
    unsigned i;

    s->gencfg = 0;
    s->genctrl = 0;
    s->gensts = DSA_DEV_DISABLED;
    s->intcause = 0;
    memset(s->swerr, 0, sizeof(s->swerr));
    memset(s->grpcfg, 0, sizeof(s->grpcfg));
    memset(s->wqcfg, 0, sizeof(s->wqcfg));
    memset(s->msix_perm, 0, sizeof(s->msix_perm));
    memset(s->ims, 0, sizeof(s->ims));
    for (i = 0; i < DSA_IMS_SLOTS; i++) {
        s->ims[i][DSA_IMS_CTRL] = DSA_IMS_CTRL_MASK;
    }
    memset(s->ims_pending, 0, sizeof(s->ims_pending));
    dsa_release_handles(s);
    for (i = 0; i < DSA_NUM_WQS; i++) {
        dsa_wq_disable(s, i, true);
    }
    s->rr = 0;
}

/* Decode the WQ bitmap operand of disable/drain/abort/reset WQ. */
static bool dsa_wq_mask(uint32_t operand, uint32_t *mask)
{
    if (extract32(operand, 16, 4) != 0) {
        return false;
    }
    *mask = extract32(operand, 0, 16);
    return *mask && !(*mask & ~MAKE_64BIT_MASK(0, DSA_NUM_WQS));
}

/* Which WQs must be empty before the pending command may complete */
static uint32_t dsa_cmd_drain_mask(DsaState *s)
{
    uint32_t op = DSA_CMD_OPERAND(s->cmd), mask = 0;
    unsigned i;

    switch (DSA_CMD_CODE(s->cmd)) {
    case DSA_CMD_DISABLE_DEVICE:
    case DSA_CMD_DRAIN_ALL:
        return MAKE_64BIT_MASK(0, DSA_NUM_WQS);
    case DSA_CMD_DISABLE_WQ:
    case DSA_CMD_DRAIN_WQ:
        return dsa_wq_mask(op, &mask) ? mask : 0;
    case DSA_CMD_DRAIN_PASID:
        for (i = 0; i < DSA_NUM_WQS; i++) {
            uint32_t w2 = s->wqcfg[i][DSA_WQCFG_MODE_IDX];

            if ((w2 & DSA_WQCFG_PASID_EN) && DSA_WQCFG_PASID(w2) == op) {
                mask |= BIT(i);
            }
        }
        return mask;
    default:
        return 0;
    }
}

static bool dsa_cmd_must_wait(DsaState *s)
{
    uint32_t mask = dsa_cmd_drain_mask(s);
    unsigned i;

    for (i = 0; i < DSA_NUM_WQS; i++) {
        if ((mask & BIT(i)) && s->wq[i].count) {
            return true;
        }
    }
    return false;
}

static uint32_t dsa_cmd_enable_device(DsaState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    unsigned total = 0, g, w, owners;

    if (s->gensts == DSA_DEV_ENABLED) {
        return DSA_CMDSTS_ERR_DEV_ENABLED;
    }
    if (!(pci_get_word(pdev->config + PCI_COMMAND) & PCI_COMMAND_MASTER)) {
        return DSA_CMDSTS_ERR_BUSMASTER_EN;
    }
    for (w = 0; w < DSA_NUM_WQS; w++) {
        total += s->wqcfg[w][DSA_WQCFG_SIZE_IDX] & 0xffff;
        owners = 0;
        for (g = 0; g < DSA_NUM_GROUPS; g++) {
            owners += !!(s->grpcfg[g][DSA_GRP_WQS] & BIT(w));
        }
        if (owners > 1) {
            return DSA_CMDSTS_ERR_GRP_CONFIG2;
        }
    }
    /* work in a group with no engine could never run */
    for (g = 0; g < DSA_NUM_GROUPS; g++) {
        if (s->grpcfg[g][DSA_GRP_WQS] && !s->grpcfg[g][DSA_GRP_ENGINES]) {
            return DSA_CMDSTS_ERR_GRP_CONFIG;
        }
    }
    if (total > DSA_TOTAL_WQ_SIZE) {
        return DSA_CMDSTS_ERR_WQ_SIZE_ERANGE;
    }
    s->gensts = DSA_DEV_ENABLED;
    return DSA_CMDSTS_SUCCESS;
}

static uint32_t dsa_cmd_enable_wq(DsaState *s, uint32_t wq)
{
    uint32_t *cfg, total = 0, i;

    if (wq >= DSA_NUM_WQS) {
        return DSA_CMDSTS_INVAL_WQIDX;
    }
    if (s->gensts != DSA_DEV_ENABLED) {
        return DSA_CMDSTS_ERR_DEV_NOTEN;
    }
    if (s->wq[wq].state != DSA_WQ_DISABLED) {
        return DSA_CMDSTS_ERR_WQ_ENABLED;
    }
    cfg = s->wqcfg[wq];
    for (i = 0; i < DSA_NUM_WQS; i++) {
        if (i == wq || s->wq[i].state == DSA_WQ_ENABLED) {
            total += s->wqcfg[i][DSA_WQCFG_SIZE_IDX] & 0xffff;
        }
    }
    if (!(cfg[DSA_WQCFG_SIZE_IDX] & 0xffff) || total > DSA_TOTAL_WQ_SIZE) {
        return DSA_CMDSTS_ERR_WQ_SIZE;
    }
    if (!(cfg[DSA_WQCFG_MODE_IDX] & DSA_WQCFG_MODE_DEDICATED)) {
        return DSA_CMDSTS_ERR_WQ_MODE;      /* shared WQs need ENQCMD */
    }
    /*
     * Block-on-fault (WQCFG.bof) is accepted, as GENCAP offers it, and has no
     * effect: a fault here is a failed DMA on the bus-master address space,
     * which no page request can resolve (the model has no ATS or PRS), so it
     * completes the descriptor as it would without block-on-fault.
     */
    if (extract32(cfg[DSA_WQCFG_MAX_IDX], 0, 5) > DSA_MAX_XFER_SHIFT) {
        return DSA_CMDSTS_ERR_MAX_XFER_SIZE;
    }
    if (extract32(cfg[DSA_WQCFG_MAX_IDX], 5, 4) > DSA_MAX_BATCH_SHIFT) {
        return DSA_CMDSTS_ERR_MAX_BATCH_SIZE;
    }
    s->wq[wq].state = DSA_WQ_ENABLED;
    return DSA_CMDSTS_SUCCESS;
}

static uint32_t dsa_cmd_int_handle(DsaState *s, uint32_t op, bool request)
{
    bool ims = op & DSA_CMD_INT_HANDLE_IMS;
    uint32_t idx = request ? extract32(op, 0, 16)
                           : DSA_INT_HANDLE_IDX(extract32(op, 0, 16));

    if (!request && (op & DSA_INT_HANDLE_IMS)) {
        ims = true;
    }
    if (ims ? idx >= DSA_IMS_SLOTS : idx >= DSA_MSIX_VECTORS) {
        return DSA_CMDSTS_ERR_INVAL_INT_IDX;
    }
    if (ims) {
        s->ims_granted[idx] = request;
    } else {
        s->msix_granted[idx] = request;
    }
    if (!request) {
        return DSA_CMDSTS_SUCCESS;
    }
    return (idx | (ims ? DSA_INT_HANDLE_IMS : 0)) << DSA_CMDSTS_RES_SHIFT;
}

static void dsa_exec_cmd(DsaState *s)
{
    uint32_t op = DSA_CMD_OPERAND(s->cmd), sts = DSA_CMDSTS_SUCCESS, mask;
    unsigned i;

    if (s->fail_cmd_pending &&
        (!s->fail_cmd_code || s->fail_cmd_code == DSA_CMD_CODE(s->cmd))) {
        s->fail_cmd_pending--;
        sts = s->fail_cmd_status;
        goto done;
    }

    switch (DSA_CMD_CODE(s->cmd)) {
    case DSA_CMD_ENABLE_DEVICE:
        sts = dsa_cmd_enable_device(s);
        break;
    case DSA_CMD_DISABLE_DEVICE:
        if (s->gensts != DSA_DEV_ENABLED) {
            sts = DSA_CMDSTS_ERR_DIS_DEV_EN;
            break;
        }
        for (i = 0; i < DSA_NUM_WQS; i++) {
            dsa_wq_disable(s, i, false);
        }
        s->gensts = DSA_DEV_DISABLED;
        break;
    case DSA_CMD_DRAIN_ALL:
    case DSA_CMD_DRAIN_PASID:
        break;                  /* the queues are empty by now */
    case DSA_CMD_ABORT_ALL:
        for (i = 0; i < DSA_NUM_WQS; i++) {
            dsa_wq_flush(&s->wq[i]);
        }
        break;
    case DSA_CMD_ABORT_PASID:
        for (i = 0; i < DSA_NUM_WQS; i++) {
            uint32_t w2 = s->wqcfg[i][DSA_WQCFG_MODE_IDX];

            if ((w2 & DSA_WQCFG_PASID_EN) && DSA_WQCFG_PASID(w2) == op) {
                dsa_wq_flush(&s->wq[i]);
            }
        }
        break;
    case DSA_CMD_RESET_DEVICE:
        dsa_soft_reset(s);
        break;
    case DSA_CMD_ENABLE_WQ:
        sts = dsa_cmd_enable_wq(s, op);
        break;
    case DSA_CMD_DISABLE_WQ:
    case DSA_CMD_DRAIN_WQ:
    case DSA_CMD_ABORT_WQ:
    case DSA_CMD_RESET_WQ:
        if (!dsa_wq_mask(op, &mask)) {
            sts = DSA_CMDSTS_INVAL_WQIDX;
            break;
        }
        if (s->gensts != DSA_DEV_ENABLED &&
            DSA_CMD_CODE(s->cmd) != DSA_CMD_RESET_WQ) {
            sts = DSA_CMDSTS_ERR_DEV_NOT_EN;
            break;
        }
        for (i = 0; i < DSA_NUM_WQS; i++) {
            if (!(mask & BIT(i))) {
                continue;
            }
            switch (DSA_CMD_CODE(s->cmd)) {
            case DSA_CMD_DISABLE_WQ:
                dsa_wq_disable(s, i, false);
                break;
            case DSA_CMD_ABORT_WQ:
                dsa_wq_flush(&s->wq[i]);
                break;
            case DSA_CMD_RESET_WQ:
                dsa_wq_disable(s, i, true);
                break;
            }
        }
        break;
    case DSA_CMD_REQUEST_INT_HANDLE:
    case DSA_CMD_RELEASE_INT_HANDLE:
        sts = dsa_cmd_int_handle(s, op, DSA_CMD_CODE(s->cmd) ==
                                 DSA_CMD_REQUEST_INT_HANDLE);
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: invalid command %u\n",
                      DSA_CMD_CODE(s->cmd));
        sts = DSA_CMDSTS_INVAL_CMD;
        break;
    }

done:
    s->cmd_pending = false;
    s->cmdsts = sts;
    if (s->cmd & DSA_CMD_INT_REQ) {
        dsa_misc_irq(s, DSA_INTC_CMD, true);
    }
}

/* ---- deferred work ---- */

static void dsa_bh(void *opaque)
{
    DsaState *s = opaque;
    unsigned budget = s->latency_us ? 1 : DSA_BH_BUDGET;

    while (budget && dsa_work_pending(s)) {
        if (s->latency_us && !s->lat_ready) {
            break;
        }
        s->lat_ready = false;
        dsa_wq_run_one(s);
        budget--;
    }
    if (s->cmd_pending && !dsa_cmd_must_wait(s)) {
        dsa_exec_cmd(s);
    }
    if (!dsa_work_pending(s)) {
        return;
    }
    if (!s->latency_us) {
        qemu_bh_schedule(s->bh);
    } else if (!timer_pending(s->lat_timer)) {
        timer_mod(s->lat_timer, qemu_clock_get_us(QEMU_CLOCK_VIRTUAL) +
                  s->latency_us);
    }
}

static void dsa_lat_timer(void *opaque)
{
    DsaState *s = opaque;

    /* run the BH (and its re-entrancy guard) rather than work from here */
    s->lat_ready = true;
    dsa_kick(s);
}

/* ---- fault injection ---- */

static void dsa_inject(DsaState *s, uint32_t val)
{
    unsigned arg = extract32(val, 8, 8), wq = extract32(val, 16, 8);
    DsaCtx ctx;

    switch (extract32(val, 0, 8)) {
    case DSA_INJ_FAIL_NEXT:
        s->fail_pending++;
        s->fail_status = arg;
        break;
    case DSA_INJ_HALT_WQ:
        if (wq >= DSA_NUM_WQS) {
            qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: inject: bad WQ %u\n",
                          wq);
            return;
        }
        dsa_wq_halt(s, wq, arg ? arg : DSA_COMP_HW_ERR1);
        break;
    case DSA_INJ_FAIL_CMD:
        /* the WQ field carries the error code here */
        s->fail_cmd_pending++;
        s->fail_cmd_code = arg;
        s->fail_cmd_status = wq ? wq : DSA_CMDSTS_INVAL_CMD;
        break;
    case DSA_INJ_SWERR:
        if ((val & DSA_INJ_WQ_VALID) && wq < DSA_NUM_WQS) {
            dsa_wq_ctx(s, wq, &ctx);
            dsa_swerr(s, arg ? arg : DSA_COMP_HW_ERR1, &ctx, NULL, 0, 0);
        } else {
            dsa_swerr(s, arg ? arg : DSA_COMP_HW_ERR1, NULL, NULL, 0, 0);
        }
        break;
    case DSA_INJ_HIDE_IMS:
        /* as a virtual DSA: GENCAP offers no IMS and IMS handles are invalid */
        s->ims_hidden = arg;
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: inject: bad op 0x%x\n",
                      val);
        break;
    }
}

/* ---- BAR0 registers ---- */

static uint64_t dsa_reg_read64(DsaState *s, hwaddr a)
{
    unsigned i, n;

    switch (a) {
    case DSA_REG_VERSION:
        return DSA_VERSION;
    case DSA_REG_GENCAP:
        return DSA_GENCAP_BLOCK_ON_FAULT | DSA_GENCAP_OVERLAP_COPY |
               DSA_GENCAP_CMD_CAP |
               ((uint64_t)DSA_MAX_XFER_SHIFT << DSA_GENCAP_XFER_SHIFT) |
               ((uint64_t)DSA_MAX_BATCH_SHIFT << DSA_GENCAP_BATCH_SHIFT) |
               ((uint64_t)(s->ims_hidden ? 0 : DSA_IMS_MULT) <<
                DSA_GENCAP_IMS_SHIFT) |
               DSA_GENCAP_CONFIG_EN;
    case DSA_REG_WQCAP:
        return DSA_TOTAL_WQ_SIZE |
               ((uint64_t)DSA_NUM_WQS << DSA_WQCAP_NUM_WQS_SHIFT) |
               DSA_WQCAP_DEDICATED | DSA_WQCAP_PRIORITY | DSA_WQCAP_OCCUPANCY;
    case DSA_REG_GRPCAP:
        return DSA_NUM_GROUPS |
               ((uint64_t)DSA_TOTAL_RDBUFS << DSA_GRPCAP_RDBUFS_SHIFT) |
               DSA_GRPCAP_RDBUF_CTRL | DSA_GRPCAP_RDBUF_LIMIT;
    case DSA_REG_ENGCAP:
        return DSA_NUM_ENGINES;
    case DSA_REG_OPCAP:
        return DSA_OPCAP0;
    case DSA_REG_TABLE_OFFSET:
        return (DSA_GRPCFG_OFF / DSA_TABLE_MULT) |
               ((uint64_t)(DSA_WQCFG_OFF / DSA_TABLE_MULT) << 16) |
               ((uint64_t)(DSA_MSIX_PERM_OFF / DSA_TABLE_MULT) << 32) |
               ((uint64_t)(DSA_IMS_OFF / DSA_TABLE_MULT) << 48);
    case DSA_REG_GENCFG:
        return s->gencfg;
    case DSA_REG_GENCTRL:
        return s->genctrl;
    case DSA_REG_GENSTS:
        return s->gensts;
    case DSA_REG_INTCAUSE:
        return s->intcause;
    case DSA_REG_CMD:
        return s->cmd;
    case DSA_REG_CMDSTS:
        return s->cmdsts;
    case DSA_REG_CMDCAP:
        return DSA_CMDCAP;
    case DSA_REG_SWERR ... DSA_REG_SWERR + 0x18:
        return s->swerr[(a - DSA_REG_SWERR) / 8];
    case DSA_GRPCFG_OFF ... DSA_GRPCFG_OFF +
         DSA_NUM_GROUPS * DSA_GRPCFG_SIZE - 1:
        i = (a - DSA_GRPCFG_OFF) / DSA_GRPCFG_SIZE;
        n = (a - DSA_GRPCFG_OFF) % DSA_GRPCFG_SIZE / 8;
        return s->grpcfg[i][n];
    case DSA_WQCFG_OFF ... DSA_WQCFG_OFF + DSA_NUM_WQS * DSA_WQCFG_SIZE - 1:
        i = (a - DSA_WQCFG_OFF) / DSA_WQCFG_SIZE;
        n = (a - DSA_WQCFG_OFF) % DSA_WQCFG_SIZE / 4;
        if (n == DSA_WQCFG_OCCUP_IDX) {
            return s->wq[i].count |
                   ((uint64_t)s->wq[i].state << DSA_WQCFG_STATE_SHIFT) |
                   ((uint64_t)s->wqcfg[i][n + 1] << 32);
        }
        return s->wqcfg[i][n] | ((uint64_t)s->wqcfg[i][n + 1] << 32);
    case DSA_MSIX_PERM_OFF ... DSA_MSIX_PERM_OFF +
         DSA_MSIX_VECTORS * DSA_MSIX_PERM_SIZE - 1:
        return s->msix_perm[(a - DSA_MSIX_PERM_OFF) / DSA_MSIX_PERM_SIZE];
    case DSA_DBG_ID:
        return s->debug_regs ? DSA_DBG_ID_VALUE : 0;
    case DSA_DBG_LATENCY:
        return s->debug_regs ? s->latency_us : 0;
    case DSA_DBG_FAIL_PENDING:
        return s->debug_regs ? s->fail_pending : 0;
    default:
        return 0;
    }
}

static uint64_t dsa_reg_read(void *opaque, hwaddr addr, unsigned size)
{
    DsaState *s = opaque;
    uint64_t v;

    if ((size != 4 && size != 8) || (addr & (size - 1))) {
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: bad read of %u bytes at "
                      "0x%" HWADDR_PRIx "\n", size, addr);
        return 0;
    }
    v = dsa_reg_read64(s, addr & ~7ULL);
    if (size == 4) {
        v = extract64(v, (addr & 4) * 8, 32);
    }
    return v;
}

static void dsa_write_grpcfg(DsaState *s, hwaddr a, uint64_t val,
                             uint64_t mask)
{
    unsigned g = (a - DSA_GRPCFG_OFF) / DSA_GRPCFG_SIZE;
    unsigned n = (a - DSA_GRPCFG_OFF) % DSA_GRPCFG_SIZE / 8;
    uint64_t wmask;

    if (s->gensts == DSA_DEV_ENABLED) {
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: GRPCFG write while the "
                      "device is enabled: ignored\n");
        return;
    }
    switch (n) {
    case DSA_GRP_WQS:
        wmask = MAKE_64BIT_MASK(0, DSA_NUM_WQS);
        break;
    case DSA_GRP_ENGINES:
        wmask = MAKE_64BIT_MASK(0, DSA_NUM_ENGINES);
        break;
    case DSA_GRP_FLAGS:
        wmask = 0x330ff0ffbfULL;
        break;
    default:
        return;                 /* WQ bitmaps 1..3 and reserved */
    }
    mask &= wmask;
    s->grpcfg[g][n] = (s->grpcfg[g][n] & ~mask) | (val & mask);
}

static void dsa_write_wqcfg(DsaState *s, hwaddr a, uint64_t val,
                            uint64_t mask)
{
    unsigned wq = (a - DSA_WQCFG_OFF) / DSA_WQCFG_SIZE;
    unsigned n = (a - DSA_WQCFG_OFF) % DSA_WQCFG_SIZE / 4, k;
    uint32_t m;

    if (s->wq[wq].state != DSA_WQ_DISABLED) {
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: WQCFG %u write while the "
                      "WQ is not disabled: ignored\n", wq);
        return;
    }
    for (k = 0; k < 2; k++) {
        m = (mask >> (32 * k)) & dsa_wqcfg_wmask[n + k];
        s->wqcfg[wq][n + k] = (s->wqcfg[wq][n + k] & ~m) |
                              ((val >> (32 * k)) & m);
    }
}

static void dsa_reg_write(void *opaque, hwaddr addr, uint64_t val,
                          unsigned size)
{
    DsaState *s = opaque;
    hwaddr a = addr & ~7ULL;
    uint64_t mask = size == 8 ? UINT64_MAX : MAKE_64BIT_MASK(0, 32);
    unsigned i;

    if ((size != 4 && size != 8) || (addr & (size - 1))) {
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: bad write of %u bytes at "
                      "0x%" HWADDR_PRIx "\n", size, addr);
        return;
    }
    if (addr & 4) {
        mask <<= 32;
        val <<= 32;
    }

    switch (a) {
    case DSA_REG_GENCFG:
        if (s->gensts == DSA_DEV_ENABLED) {
            qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: GENCFG write while "
                          "enabled: ignored\n");
            return;
        }
        s->gencfg = (s->gencfg & ~mask) | (val & mask & DSA_GENCFG_WMASK);
        return;
    case DSA_REG_GENCTRL:
        s->genctrl = (s->genctrl & ~mask) | (val & mask & DSA_GENCTRL_WMASK);
        return;
    case DSA_REG_INTCAUSE:
        s->intcause &= ~(val & mask & DSA_INTC_WMASK);
        return;
    case DSA_REG_CMD:
        if (!(mask & 0xffffffffULL)) {
            return;
        }
        if (s->cmd_pending) {
            qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: command 0x%x written "
                          "while one is active: ignored\n", (uint32_t)val);
            return;
        }
        s->cmd = val;
        s->cmdsts = DSA_CMDSTS_ACTIVE;
        s->cmd_pending = true;
        dsa_kick(s);
        return;
    case DSA_REG_SWERR:
        if (mask & 0xffffffffULL) {
            s->swerr[0] &= ~(val & (DSA_SWERR_VALID | DSA_SWERR_OVERFLOW));
        }
        return;
    case DSA_GRPCFG_OFF ... DSA_GRPCFG_OFF +
         DSA_NUM_GROUPS * DSA_GRPCFG_SIZE - 1:
        dsa_write_grpcfg(s, a, val, mask);
        return;
    case DSA_WQCFG_OFF ... DSA_WQCFG_OFF + DSA_NUM_WQS * DSA_WQCFG_SIZE - 1:
        dsa_write_wqcfg(s, a, val, mask);
        return;
    case DSA_MSIX_PERM_OFF ... DSA_MSIX_PERM_OFF +
         DSA_MSIX_VECTORS * DSA_MSIX_PERM_SIZE - 1:
        i = (a - DSA_MSIX_PERM_OFF) / DSA_MSIX_PERM_SIZE;
        if (mask & 0xffffffffULL) {
            s->msix_perm[i] = val & DSA_PERM_WMASK;
        }
        return;
    case DSA_DBG_INJECT:
        if (s->debug_regs && (mask & 0xffffffffULL)) {
            dsa_inject(s, val);
            dsa_kick(s);
        }
        return;
    case DSA_DBG_LATENCY:
        if (s->debug_regs && (mask & 0xffffffffULL)) {
            s->latency_us = val;
            dsa_kick(s);
        }
        return;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: write to read-only or "
                      "unimplemented register 0x%" HWADDR_PRIx "\n", addr);
        return;
    }
}

static const MemoryRegionOps dsa_reg_ops = {
    .read = dsa_reg_read,
    .write = dsa_reg_write,
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

/* ---- IMS table ---- */

static uint64_t dsa_ims_read(void *opaque, hwaddr addr, unsigned size)
{
    DsaState *s = opaque;
    unsigned slot = addr / DSA_IMS_SLOT_SIZE, w = addr % 16 / 4;

    if ((size != 4 && size != 8) || (addr & (size - 1))) {
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: bad IMS read of %u bytes "
                      "at 0x%" HWADDR_PRIx "\n", size, addr);
        return 0;
    }
    if (size == 4) {
        return s->ims[slot][w];
    }
    return s->ims[slot][w] | ((uint64_t)s->ims[slot][w + 1] << 32);
}

static void dsa_ims_write_word(DsaState *s, unsigned slot, unsigned w,
                               uint32_t val)
{
    if (w != DSA_IMS_CTRL) {
        s->ims[slot][w] = val;
        return;
    }
    s->ims[slot][w] = val & DSA_IMS_CTRL_WMASK;
    if (!(val & DSA_IMS_CTRL_MASK) && s->ims_pending[slot]) {
        s->ims_pending[slot] = 0;
        dsa_ims_send(s, slot);
    }
}

static void dsa_ims_write(void *opaque, hwaddr addr, uint64_t val,
                          unsigned size)
{
    DsaState *s = opaque;
    unsigned slot = addr / DSA_IMS_SLOT_SIZE, w = addr % 16 / 4;

    if ((size != 4 && size != 8) || (addr & (size - 1))) {
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: bad IMS write of %u bytes "
                      "at 0x%" HWADDR_PRIx "\n", size, addr);
        return;
    }
    dsa_ims_write_word(s, slot, w, val);
    if (size == 8) {
        dsa_ims_write_word(s, slot, w + 1, val >> 32);
    }
}

static const MemoryRegionOps dsa_ims_ops = {
    .read = dsa_ims_read,
    .write = dsa_ims_write,
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

/* ---- BAR2 portals ---- */

static uint64_t dsa_portal_read(void *opaque, hwaddr addr, unsigned size)
{
    return 0;
}

static void dsa_portal_write(void *opaque, hwaddr addr, uint64_t val,
                             unsigned size)
{
    DsaState *s = opaque;
    unsigned wq = addr / DSA_WQ_PORTAL_STRIDE;
    uint32_t slot = addr % DSA_WQ_PORTAL_STRIDE & ~(DSA_DESC_SIZE - 1);
    unsigned off = addr % DSA_DESC_SIZE;
    DsaWq *q = &s->wq[wq];

    if ((size != 4 && size != 8) || (addr & (size - 1))) {
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: bad portal write of %u "
                      "bytes at 0x%" HWADDR_PRIx "\n", size, addr);
        return;
    }
    if (q->partial_mask && q->partial_slot != slot) {
        qemu_log_mask(LOG_GUEST_ERROR, "intel-dsa: WQ %u: incomplete "
                      "descriptor discarded\n", wq);
        q->partial_mask = 0;
    }
    q->partial_slot = slot;
    stn_le_p(q->partial + off, size, val);
    q->partial_mask |= MAKE_64BIT_MASK(off, size);
    if (q->partial_mask == UINT64_MAX) {
        q->partial_mask = 0;
        dsa_submit(s, wq, q->partial);
    }
}

static const MemoryRegionOps dsa_portal_ops = {
    .read = dsa_portal_read,
    .write = dsa_portal_write,
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

#define DSA_PCIE_CAP_OFF        0x80
#define DSA_PASID_CAP_OFF       0x100
#define DSA_PASID_CAP_SIZE      8
#define DSA_PASID_WIDTH         20

static void dsa_realize(PCIDevice *pdev, Error **errp)
{
    DsaState *s = INTEL_DSA(pdev);
    unsigned i;
    int ret;

    pci_config_set_interrupt_pin(pdev->config, 0);

    ret = pcie_endpoint_cap_init(pdev, DSA_PCIE_CAP_OFF);
    if (ret < 0) {
        error_setg(errp, "intel-dsa: cannot add the PCIe capability");
        return;
    }
    pcie_add_capability(pdev, PCI_EXT_CAP_ID_PASID, 1, DSA_PASID_CAP_OFF,
                        DSA_PASID_CAP_SIZE);
    pci_set_word(pdev->config + DSA_PASID_CAP_OFF + PCI_PASID_CAP,
                 (DSA_PASID_WIDTH << 8) | PCI_PASID_CAP_PRIV);
    pci_set_word(pdev->wmask + DSA_PASID_CAP_OFF + PCI_PASID_CTRL,
                 PCI_PASID_CTRL_ENABLE | PCI_PASID_CTRL_PRIV);

    memory_region_init(&s->bar0, OBJECT(s), "intel-dsa-bar0", DSA_BAR0_SIZE);
    memory_region_init_io(&s->regs, OBJECT(s), &dsa_reg_ops, s,
                          "intel-dsa-regs", DSA_REGS_SIZE);
    /* below the MSI-X table and PBA that msix_init() maps inside */
    memory_region_add_subregion_overlap(&s->bar0, 0, &s->regs, -1);
    memory_region_init_io(&s->ims_mmio, OBJECT(s), &dsa_ims_ops, s,
                          "intel-dsa-ims", DSA_IMS_SLOTS * DSA_IMS_SLOT_SIZE);
    memory_region_add_subregion(&s->bar0, DSA_IMS_OFF, &s->ims_mmio);
    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->bar0);

    memory_region_init_io(&s->portals, OBJECT(s), &dsa_portal_ops, s,
                          "intel-dsa-portals", DSA_BAR2_SIZE);
    pci_register_bar(pdev, 2, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->portals);

    ret = msix_init(pdev, DSA_MSIX_VECTORS, &s->bar0, 0, DSA_MSIX_TABLE_OFF,
                    &s->bar0, 0, DSA_MSIX_PBA_OFF, 0, errp);
    if (ret < 0) {
        return;
    }
    for (i = 0; i < DSA_MSIX_VECTORS; i++) {
        msix_vector_use(pdev, i);
    }

    s->bh = qemu_bh_new_guarded(dsa_bh, s, &DEVICE(pdev)->mem_reentrancy_guard);
    s->lat_timer = timer_new_us(QEMU_CLOCK_VIRTUAL, dsa_lat_timer, s);
}

static void dsa_exit(PCIDevice *pdev)
{
    DsaState *s = INTEL_DSA(pdev);

    timer_free(s->lat_timer);
    qemu_bh_delete(s->bh);
    msix_unuse_all_vectors(pdev);
    msix_uninit(pdev, &s->bar0, &s->bar0);
}

static void dsa_reset_hold(Object *obj, ResetType type)
{
    DsaState *s = INTEL_DSA(obj);

    dsa_soft_reset(s);
    s->cmd = 0;
    s->cmdsts = 0;
    s->cmd_pending = false;
    s->fail_pending = s->prop_fail_next;
    s->fail_status = s->prop_fail_status;
    s->fail_cmd_pending = 0;
    s->ims_hidden = false;
    s->latency_us = s->prop_latency_us;
    s->lat_ready = false;
    timer_del(s->lat_timer);
}

static int dsa_post_load(void *opaque, int version_id)
{
    DsaState *s = opaque;
    unsigned i;

    for (i = 0; i < DSA_NUM_WQS; i++) {
        DsaWq *q = &s->wq[i];

        if (q->head >= DSA_TOTAL_WQ_SIZE || q->count > DSA_TOTAL_WQ_SIZE ||
            q->state > DSA_WQ_HALTED) {
            return -EINVAL;
        }
        q->partial_slot &= DSA_WQ_PORTAL_STRIDE - DSA_DESC_SIZE;
    }
    if (s->cmd_pending || dsa_work_pending(s)) {
        dsa_kick(s);
    }
    return 0;
}

static const VMStateDescription dsa_vmstate_wq = {
    .name = "intel-dsa/wq",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT8(state, DsaWq),
        VMSTATE_UINT16(head, DsaWq),
        VMSTATE_UINT16(count, DsaWq),
        VMSTATE_UINT8_2DARRAY(ring, DsaWq, DSA_TOTAL_WQ_SIZE, DSA_DESC_SIZE),
        VMSTATE_UINT8_ARRAY(partial, DsaWq, DSA_DESC_SIZE),
        VMSTATE_UINT64(partial_mask, DsaWq),
        VMSTATE_UINT32(partial_slot, DsaWq),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription dsa_vmstate = {
    .name = "intel-dsa",
    .version_id = 3,
    .minimum_version_id = 1,
    .post_load = dsa_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, DsaState),
        VMSTATE_MSIX(parent_obj, DsaState),
        VMSTATE_UINT32(gencfg, DsaState),
        VMSTATE_UINT32(genctrl, DsaState),
        VMSTATE_UINT32(gensts, DsaState),
        VMSTATE_UINT32(intcause, DsaState),
        VMSTATE_UINT32(cmd, DsaState),
        VMSTATE_UINT32(cmdsts, DsaState),
        VMSTATE_BOOL(cmd_pending, DsaState),
        VMSTATE_UINT64_ARRAY(swerr, DsaState, 4),
        VMSTATE_UINT64_2DARRAY(grpcfg, DsaState, DSA_NUM_GROUPS,
                               DSA_GRPCFG_QWORDS),
        VMSTATE_UINT32_2DARRAY(wqcfg, DsaState, DSA_NUM_WQS,
                               DSA_WQCFG_DWORDS),
        VMSTATE_UINT32_ARRAY(msix_perm, DsaState, DSA_MSIX_VECTORS),
        VMSTATE_UINT32_2DARRAY(ims, DsaState, DSA_IMS_SLOTS, 4),
        VMSTATE_UINT8_ARRAY(ims_pending, DsaState, DSA_IMS_SLOTS),
        VMSTATE_UINT8_ARRAY(ims_granted, DsaState, DSA_IMS_SLOTS),
        VMSTATE_UINT8_ARRAY(msix_granted, DsaState, DSA_MSIX_VECTORS),
        VMSTATE_STRUCT_ARRAY(wq, DsaState, DSA_NUM_WQS, 1, dsa_vmstate_wq,
                             DsaWq),
        VMSTATE_UINT32(rr, DsaState),
        VMSTATE_UINT32(fail_pending, DsaState),
        VMSTATE_UINT32(fail_status, DsaState),
        VMSTATE_UINT32(latency_us, DsaState),
        VMSTATE_BOOL(lat_ready, DsaState),
        VMSTATE_TIMER_PTR(lat_timer, DsaState),
        VMSTATE_UINT32_V(fail_cmd_pending, DsaState, 2),
        VMSTATE_UINT32_V(fail_cmd_code, DsaState, 2),
        VMSTATE_UINT32_V(fail_cmd_status, DsaState, 2),
        VMSTATE_BOOL_V(ims_hidden, DsaState, 3),
        VMSTATE_END_OF_LIST()
    }
};

static const Property dsa_properties[] = {
    DEFINE_PROP_BOOL("int-handle-req", DsaState, int_handle_req, false),
    DEFINE_PROP_BOOL("debug-regs", DsaState, debug_regs, true),
    DEFINE_PROP_UINT32("latency-us", DsaState, prop_latency_us, 0),
    DEFINE_PROP_UINT32("fail-next", DsaState, prop_fail_next, 0),
    DEFINE_PROP_UINT8("fail-status", DsaState, prop_fail_status,
                      DSA_COMP_HW_ERR1),
};

static void dsa_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);

    k->realize = dsa_realize;
    k->exit = dsa_exit;
    k->vendor_id = PCI_VENDOR_ID_INTEL;
    k->device_id = DSA_DEVICE_ID;
    k->revision = 1;
    k->class_id = DSA_CLASS_ID;
    rc->phases.hold = dsa_reset_hold;
    dc->desc = "Intel Data Streaming Accelerator (emulated, with IMS)";
    dc->vmsd = &dsa_vmstate;
    device_class_set_props(dc, dsa_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo dsa_types[] = {
    {
        .name = TYPE_INTEL_DSA,
        .parent = TYPE_PCI_DEVICE,
        .instance_size = sizeof(DsaState),
        .class_init = dsa_class_init,
        .interfaces = (InterfaceInfo[]) {
            { INTERFACE_PCIE_DEVICE },
            { }
        },
    },
};

DEFINE_TYPES(dsa_types)
