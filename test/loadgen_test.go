//go:build linux

package test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// The test binary doubles as a small load generator that runs inside
// namespaces (through `vswitchctl exec` or `ip netns exec`), so the NAT
// tests need no extra tools: `TEST_BINARY` with VSWITCHD_TEST_HELPER=1 and
// one of these commands:
//
//	echo-server ADDR                 TCP echo server
//	conns ADDR N SIZE                N concurrent connections, SIZE bytes each way, compared
//	udpflood ADDR PORTLO PORTHI      one datagram to each port (new, unreplied flows)
//	stream ADDR SECONDS              one connection to an echo server, 1 KiB every 10 ms for SECONDS, compared
const helperEnv = "VSWITCHD_TEST_HELPER"

// helperMain runs a helper command and returns the process exit code.
func helperMain(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "helper: no command")
		return 2
	}
	var err error
	switch args[0] {
	case "echo-server":
		err = echoServer(args[1])
	case "conns":
		n, _ := strconv.Atoi(args[2])
		size, _ := strconv.Atoi(args[3])
		err = conns(args[1], n, size)
	case "stream":
		secs, _ := strconv.ParseFloat(args[2], 64)
		err = stream(args[1], time.Duration(secs*float64(time.Second)))
	case "udpflood":
		lo, _ := strconv.Atoi(args[2])
		hi, _ := strconv.Atoi(args[3])
		err = udpFlood(args[1], lo, hi)
	default:
		err = fmt.Errorf("unknown helper command %q", args[0])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func echoServer(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("listening")
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

// conns opens n connections at once, then each sends size random bytes and
// reads them back.
func conns(addr string, n, size int) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	cs := make([]net.Conn, n)
	for i := range n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return fmt.Errorf("dial %d: %w", i, err)
		}
		cs[i] = c
	}
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			<-start
			c.SetDeadline(time.Now().Add(60 * time.Second))
			data := make([]byte, size)
			rand.Read(data)
			go func() {
				c.Write(data)
				c.(*net.TCPConn).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, data) {
				errs <- fmt.Errorf("echo of %d bytes came back as %d different bytes", len(data), len(got))
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	bad := 0
	var first error
	for err := range errs {
		if first == nil {
			first = err
		}
		bad++
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d connections failed; first: %w", bad, n, first)
	}
	fmt.Printf("ok %d connections\n", n)
	return nil
}

// stream sends a pattern through one echo connection, a KiB every 10 ms
// for d, and compares what comes back: a connection that survives
// whatever happens to the path meanwhile (a switch restart).
func stream(addr string, d time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	var sent bytes.Buffer
	werr := make(chan error, 1)
	go func() {
		chunk := make([]byte, 1024)
		for i := 0; time.Duration(i)*10*time.Millisecond < d; i++ {
			for j := range chunk {
				chunk[j] = byte(i*31 + j)
			}
			sent.Write(chunk)
			if _, err := c.Write(chunk); err != nil {
				werr <- err
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		werr <- c.(*net.TCPConn).CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(d + 60*time.Second))
	got, rerr := io.ReadAll(c)
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("read after %d bytes: %w", len(got), rerr)
	}
	if !bytes.Equal(got, sent.Bytes()) {
		return fmt.Errorf("sent %d bytes, %d came back different", sent.Len(), len(got))
	}
	fmt.Printf("ok %d bytes\n", len(got))
	return nil
}

func udpFlood(host string, lo, hi int) error {
	for p := lo; p <= hi; p++ {
		c, err := net.Dial("udp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			return err
		}
		c.Write([]byte("x"))
		c.Close()
	}
	fmt.Printf("sent %d datagrams\n", hi-lo+1)
	return nil
}

// testBinary is the path of this test binary, runnable inside namespaces.
func testBinary() string {
	exe, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return exe
}
