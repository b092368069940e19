//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package client

import (
	"errors"
	"os"
	"syscall"
)

// lockPart takes an exclusive lock of the part open as f, without waiting, and returns
// what gives it back. The lock belongs to f's open file, which a duplicate descriptor
// keeps open after f is closed: Finish closes f (to see its write errors) before it renames
// the part, and the lock must last until the part is no longer PATH.part.
func lockPart(f *os.File) (func(), error) {
	conn, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var dup int
	var lerr error
	if err := conn.Control(func(fd uintptr) {
		for {
			if lerr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB); lerr != syscall.EINTR {
				break
			}
		}
		if lerr == nil {
			dup, lerr = syscall.Dup(int(fd))
		}
	}); err != nil {
		return nil, err
	}
	if errors.Is(lerr, syscall.EWOULDBLOCK) {
		return nil, errPartBusy
	}
	if lerr != nil {
		return nil, lerr
	}
	held := os.NewFile(uintptr(dup), f.Name())
	return func() { held.Close() }, nil
}
