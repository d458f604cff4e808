# SPDX-License-Identifier: GPL-2.0
# Helpers for the guest-side suites (sourced from /tests/suites/*.sh).

# kunit_results SUITE: print the KTAP results KUnit keeps in debugfs for SUITE and
# succeed only if the suite passed.
kunit_results() {
	f=/sys/kernel/debug/kunit/$1/results
	if [ ! -r "$f" ]; then
		echo "KTAP version 1"
		echo "1..1"
		echo "not ok 1 $1 # no KUnit results in debugfs"
		return 1
	fi
	cat "$f"
	grep -q "^ok 1 $1\$" "$f"
}
