//go:build !cgo

package privs

// cgoBuild is set in a program linked with cgo, where
// syscall.AllThreadsSyscall answers ENOTSUP.
const cgoBuild = false
