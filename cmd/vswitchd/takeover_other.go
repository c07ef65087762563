//go:build !linux

package main

import (
	"errors"
	"net"

	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/host"
	"github.com/vswitchd/vswitchd/internal/statedir"
)

var errTakeover = errors.New("--takeover needs Linux")

func listenTakeover(string, *daemon.Daemon, func(int)) (net.Listener, error) { return nil, nil }

func requestTakeover(string) (*host.Inherited, error) { return nil, errTakeover }

func takeoverLock(string) (*statedir.Lock, error) { return nil, errTakeover }
