# The `kernel` crate's doctests (CONFIG_RUST_KERNEL_DOCTESTS), built in: KUnit ran them at
# boot, before /init; this prints what it recorded.
# timeout: 60
. /tests/lib.sh
kunit_results rust_doctests_kernel
