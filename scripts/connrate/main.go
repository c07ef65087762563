// Command connrate measures how many new TCP connections per second a
// path accepts, for make bench: the host's connections to a published
// port through vswitchd's relay next to the kernel's DNAT.
//
//	connrate serve ADDR                  accept, send one byte, close
//	connrate load ADDR [-c N] [-t DUR] [-s SRC]
//	                                     N clients connect (from address SRC), read to EOF, close, again
//
// load prints "CONNS_PER_SEC P50_MS P99_MS ERRORS". Every connection is a
// full open, a one-byte answer and a close, as a short request would be;
// the run is bounded by -t.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: connrate serve ADDR | connrate load ADDR [-c N] [-t DUR] [-s SRC]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2])
	case "load":
		fs := flag.NewFlagSet("load", flag.ExitOnError)
		c := fs.Int("c", 32, "concurrent clients")
		d := fs.Duration("t", 5*time.Second, "duration")
		src := fs.String("s", "", "bind the clients' sockets to this address before connecting")
		fs.Parse(os.Args[3:])
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		if *src != "" {
			dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(*src)}
		}
		err = load(dialer, os.Args[2], *c, *d)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "connrate:", err)
		os.Exit(1)
	}
}

func serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	one := []byte{'x'}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			c.Write(one)
			c.Close()
		}()
	}
}

func load(dialer *net.Dialer, addr string, n int, d time.Duration) error {
	var done, errs atomic.Int64
	lat := make([][]time.Duration, n)
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	buf := make([][]byte, n)
	for i := range n {
		buf[i] = make([]byte, 16)
		wg.Go(func() {
			for time.Now().Before(stop) {
				t0 := time.Now()
				c, err := dialer.Dial("tcp", addr)
				if err != nil {
					errs.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(c, buf[i][:1]); err != nil {
					errs.Add(1)
				} else {
					done.Add(1)
					lat[i] = append(lat[i], time.Since(t0))
				}
				c.Close()
			}
		})
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(p*float64(len(all)-1))]) / 1e6
	}
	fmt.Printf("%.0f %.3f %.3f %d\n", float64(done.Load())/d.Seconds(), pct(0.5), pct(0.99), errs.Load())
	return nil
}
