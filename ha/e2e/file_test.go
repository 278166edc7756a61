package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"infrakit.aliyun/internal/e2e/harness"
)

// TestFileBackend runs two managers on the file backend (one shared leader
// file and spec directory, e.g. on NFS): the node the leader file names
// leads, rewriting the file moves leadership, and both exit cleanly on
// SIGTERM leaving their plugins directories empty (mux pid file included).
func TestFileBackend(t *testing.T) {
	shared := t.TempDir()
	leaderFile := filepath.Join(shared, "leader")
	if err := os.WriteFile(leaderFile, []byte("m1"), 0o644); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 2)
	var nodes []*node
	for i, id := range []string{"m1", "m2"} {
		n := &node{name: id, env: harness.New(t, harness.Default), alive: true}
		// the manager wraps its node's stateless group plugin; InfraKit's
		// RPC handshake with the manager waits for it
		n.group = n.env.StartPlugin("group-stateless", harness.Group, "--name", "group-stateless")
		n.manager = n.env.StartPlugin("group", Manager, "--backend", "file", "--id", id,
			"--leader-file", leaderFile, "--store-dir", filepath.Join(shared, "configs"),
			"--poll-interval", managerPoll, "--mux-listen", fmt.Sprintf("127.0.0.1:%d", ports[i]))
		nodes = append(nodes, n)
	}
	c := &cluster{t: t, nodes: nodes}
	if l := c.waitLeader(nil); l.name != "m1" {
		t.Fatalf("leader %s, want m1 (named in the leader file)", l.name)
	}
	if err := os.WriteFile(leaderFile, []byte("m2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if l := c.waitLeader(nodes[0]); l.name != "m2" {
		t.Fatalf("leader %s after rewriting the leader file, want m2", l.name)
	}
	for _, n := range nodes {
		n.env.StopCleanly(n.manager, n.group)
		n.env.CheckPluginsDirEmpty()
	}
}
