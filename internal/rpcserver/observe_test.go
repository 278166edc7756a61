package rpcserver_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"infrakit.aliyun/internal/rpcserver"
	"infrakit.aliyun/internal/rpcserver/rpctest"
)

type observed struct {
	method string
	failed bool
	d      time.Duration
}

// Options.Observe is told of each dispatched call with its method and
// outcome, and of nothing else: a request for an unknown method or with
// bad params names no method a metric could take as a label.
func TestObserveDispatchedCalls(t *testing.T) {
	var mu sync.Mutex
	var got []observed
	obs := func(method string, err error, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, observed{method, err != nil, d})
	}
	dir := shortTempDir(t)
	ready := make(chan string, 1)
	log, _ := testLogger(t, 4)
	socket, stop := rpctest.StartInBackground(t, "Serve", ready, func() string { return "" }, func(ctx context.Context) error {
		return rpcserver.Serve(ctx, rpcserver.Options{Name: "instance-test", Dir: dir, Logger: log, Ready: func(s string) { ready <- s }, Observe: obs}, newFakePlugin())
	})

	call := func(body string) {
		t.Helper()
		rawRPC(t, socket, body)
	}
	call(`{"jsonrpc":"2.0","method":"Instance.Validate","params":{"Properties":{"InstanceType":"x"}},"id":1}`)
	call(`{"jsonrpc":"2.0","method":"Instance.Validate","params":{"Properties":{}},"id":2}`) // the fake's "InstanceType is required"
	call(`{"jsonrpc":"2.0","method":"Instance.DescribeInstances","params":{"Tags":{}},"id":3}`)
	call(`{"jsonrpc":"2.0","method":"Handshake.Implements","params":{},"id":4}`)
	call(`{"jsonrpc":"2.0","method":"Instance.MadeUp` + "\xff" + `","params":{},"id":5}`)
	call(`{"jsonrpc":"2.0","method":"NoSuch.Method","params":{},"id":6}`)
	call(`{"jsonrpc":"2.0","method":"Instance.Validate","params":{"Properties":"x","Junk":[1,2`)
	noErr(t, stop())

	mu.Lock()
	defer mu.Unlock()
	var methods []string
	for _, o := range got {
		methods = append(methods, o.method)
		if o.d <= 0 {
			t.Errorf("%s: duration %v", o.method, o.d)
		}
	}
	sort.Strings(methods)
	equal(t, []string{"Handshake.Implements", "Instance.DescribeInstances", "Instance.Validate", "Instance.Validate"}, methods)
	failed := 0
	for _, o := range got {
		if o.failed {
			equal(t, "Instance.Validate", o.method)
			failed++
		}
	}
	equal(t, 1, failed, "failed calls")
}
