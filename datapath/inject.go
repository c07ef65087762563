package datapath

import (
	"fmt"
	"sync"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
)

// injectors are workers without a port, used by Inject.
var injectors = sync.Pool{New: func() any { return new(worker) }}

// Inject sends a frame generated outside the receive loops — a DNS answer
// from an upstream, a gratuitous ARP — to t, as the router's output would
// be: the one path for frames not born in a worker (the router's Deferred
// sender is this). frame is copied; it carries no offloads. Frames it
// drops on the way are counted in DeferredCounts. Inject is safe for
// concurrent use.
func (dp *Datapath) Inject(frame []byte, t router.Target) error {
	if len(frame) < header.EthernetLen || len(frame) > port.MaxFrameSize {
		return fmt.Errorf("inject: bad frame length %d", len(frame))
	}
	w := injectors.Get().(*worker)
	defer injectors.Put(w)
	w.dp = dp
	w.snap = dp.snap.Load()
	w.taps = dp.taps.Load()
	w.isolated = false
	h, b, ok := w.NewFrame()
	if !ok {
		return fmt.Errorf("inject: no spare buffer")
	}
	n := copy(b, frame)
	w.Send(h, n, t)
	w.flush()
	w.cnt.flush(&dp.deferred) // no ingress port to charge drops to
	return nil
}

// DeferredCounts returns the counters of frames sent with Inject: what was
// dropped on their way (their router counts are in RouterCounts).
func (dp *Datapath) DeferredCounts() CounterValues { return dp.deferred.Values() }
