# A Rust module built from the project tree (samples/rust/rust_kunit_smoke.rs) loads, its
# KUnit suite runs on load and passes, and the module unloads.
# timeout: 120
. /tests/lib.sh
modprobe rust_kunit_smoke || { echo "not ok 1 rust_kunit_smoke # modprobe failed"; exit 1; }
kunit_results rust_kunit_smoke
rc=$?
rmmod rust_kunit_smoke || rc=1
exit $rc
