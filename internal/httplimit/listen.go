package httplimit

import (
	"fmt"
	"net"
	"strings"
)

// ListenLocal listens on the TCP address addr, given by the command-line
// flag named flag. A non-loopback address, or an empty host (every
// interface), is refused unless allowRemote (the flag allowFlag): the
// daemon's HTTP listeners (--events-listen, --metrics-listen) have no
// authentication of their own, so exposing one is an explicit choice.
func ListenLocal(addr string, allowRemote bool, flag, allowFlag string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", flag, addr, err)
	}
	if !allowRemote && !IsLoopback(host) {
		return nil, fmt.Errorf("%s %q is not a loopback address; put a proxy in front or pass %s", flag, addr, allowFlag)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", flag, addr, err)
	}
	return l, nil
}

// IsLoopback reports whether host (an address's host part) is "localhost"
// or a loopback IP; an empty host is not.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
