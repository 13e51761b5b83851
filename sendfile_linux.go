//go:build linux

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// linuxSender pushes file bytes with sendfile(2): kernel to kernel, never
// through a user-space buffer.
type linuxSender struct{}

// SendFile writes up to n bytes of f from off to sock without blocking; a
// full socket returns the bytes sent so far and unix.EAGAIN.
func (linuxSender) SendFile(sock int, f *os.File, off, n int64) (int64, error) {
	var sent int64
	for sent < n {
		o := off + sent
		chunk := n - sent
		if chunk > 1<<30 {
			chunk = 1 << 30
		}
		w, err := unix.Sendfile(sock, int(f.Fd()), &o, int(chunk))
		if w > 0 {
			sent += int64(w)
		}
		if err != nil {
			return sent, err
		}
		if w == 0 {
			break // end of file
		}
	}
	return sent, nil
}

var fileSender = linuxSender{}
