// Command vswitchctl drives vswitchd over its API socket. See
// `vswitchctl --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vswitchd/vswitchd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
