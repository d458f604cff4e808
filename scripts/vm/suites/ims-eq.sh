# kselftest: the IMS core's second user, in C: the ims_eq driver (drivers/misc/ims_eq) on
# the emulated event-queue device (QEMU -device ims-eq, 1234:1e5e), whose messages live in
# EQ contexts in host memory and change only through sleeping device commands, with a
# VM-id cookie (tools/testing/selftests/ims/ims_eq_test.c). Loads the module; the test
# reports every case as SKIP without the device.
# timeout: 600
. /tests/lib.sh
modprobe ims_eq
exec /tests/selftests/ims/ims_eq_test
