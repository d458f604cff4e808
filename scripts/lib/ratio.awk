# SPDX-License-Identifier: GPL-2.0
#
# Reads "DRIVER FIGURE VALUE" lines (DRIVER c or rust, one line per boot and figure) and
# prints one line per figure, in the order first seen: the median over boots for C, the
# same for Rust, and Rust/C. The caller names the figure column with -v what=TITLE.

function median(s,    a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 1; i <= n; i++)
		for (j = i + 1; j <= n; j++)
			if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}

{
	v[$1, $2] = v[$1, $2] " " $3
	if (!($2 in seen)) { seen[$2] = 1; order[++nf] = $2 }
}

END {
	printf "%-20s %12s %12s %8s\n", what, "C (median)", "Rust (median)", "Rust/C"
	for (k = 1; k <= nf; k++) {
		f = order[k]
		c = median(v["c", f]); r = median(v["rust", f])
		printf "%-20s %12.0f %12.0f %8.2f\n", f, c, r, (c > 0 ? r / c : 0)
	}
}
