//go:build !race

package loop

import "testing"

// TestHandlerZeroAllocs: in the steady state a keep-alive request and its
// SCGI exchange allocate nothing in the gateway's code. (Not under -race,
// whose sync.Pool drops objects on purpose.)
func TestHandlerZeroAllocs(t *testing.T) {
	r := newHandlerRig(t, benchRequest, benchAnswer)
	r.roundTrip(t)
	if n := testing.AllocsPerRun(1000, func() { r.roundTrip(t) }); n != 0 {
		t.Fatalf("%.2f allocations per request, want 0", n)
	}
}
