// SPDX-License-Identifier: GPL-2.0

#include <linux/io.h>

#ifdef CONFIG_X86_64
#include <asm/cpufeature.h>

__rust_helper bool rust_helper_cpu_has_movdir64b(void)
{
	return boot_cpu_has(X86_FEATURE_MOVDIR64B);
}

__rust_helper void rust_helper_iosubmit_cmds512(void __iomem *dst, const void *src,
						size_t count)
{
	/*
	 * MOVDIR64B is weakly ordered: the device must see the caller's earlier
	 * stores (the completion record it cleared) before the descriptor.
	 */
	wmb();
	iosubmit_cmds512(dst, src, count);
}
#endif
