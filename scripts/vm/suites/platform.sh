# kselftest: the VM has an IOMMU with interrupt remapping (tools/testing/selftests/ims).
# timeout: 60
exec /tests/selftests/ims/vm_platform_test
