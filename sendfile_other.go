//go:build !linux

package main

import (
	"os"

	"github.com/scgate/scgate/loop"
)

// otherSender has no on-loop fast path: sendfile's offset semantics differ
// across the BSDs, so files go through Go's own copy (which uses the OS's
// sendfile where it has one) in the hand-off goroutine.
type otherSender struct{}

// SendFile sends nothing on the loop.
func (otherSender) SendFile(int, *os.File, int64, int64) (int64, error) {
	return 0, loop.ErrNoFastPath
}

var fileSender = otherSender{}
