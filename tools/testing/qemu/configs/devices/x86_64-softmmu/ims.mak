# QEMU devices for the IMS test VM: a q35 machine with the Intel IOMMU (VT-d, interrupt
# remapping) and the project's own devices (hw/ims). Built with --without-default-devices,
# so nothing else is compiled in.

CONFIG_Q35=y
CONFIG_VTD=y
CONFIG_SERIAL_ISA=y
CONFIG_INTEL_DSA=y
CONFIG_IMS_EQ=y
