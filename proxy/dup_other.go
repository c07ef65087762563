//go:build !linux

package proxy

import "errors"

func dupCloexec(int) (int, error) { return -1, errors.New("handing over sockets needs Linux") }
