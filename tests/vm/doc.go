// Package vm holds the kernel feature checks that must pass on the kernel the
// real-kernel tests run on. They are built with the "vm" tag and run inside
// the VM of tests/vm/run.sh, which boots Debian's stock kernel:
//
//	sudo tests/vm/run-go-tests.sh
//
// On a kernel without CONFIG_NF_CT_NETLINK_HELPER or
// CONFIG_NETFILTER_NETLINK_GLUE_CT (our host's), they fail and say what is
// missing. See tests/vm/README.md.
//
// Without the tag the package holds the tests of the harness itself, which
// need neither root nor a kernel: accel_test.go drives the accelerator
// choice (accel.sh) with a fake qemu.
package vm
