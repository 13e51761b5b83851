//go:build !linux

package loop

import (
	"github.com/panjf2000/gnet/v2"

	"github.com/scgate/scgate/pool"
)

// rawDialer connects on the loop on Linux only (connect_linux.go); elsewhere
// every backend connection is dialed by a goroutine and enrolled.
type rawDialer struct{}

func (d *rawDialer) learn(gnet.Conn) {}

func (ls *loopState) connectRaw(*pool.Backend, any, bool) (gnet.Conn, bool, error) {
	return nil, false, errSlowPath
}

func connectPending(int) bool { return false }

func abortOnClose(int) {}
