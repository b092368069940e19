package redistest

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of masters only, on loopback.
type Cluster struct {
	Nodes []*Server
}

// Addrs are the nodes' addresses (the seeds a client is given).
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// StartCluster starts n (≥ 3) cluster-enabled redis-servers, joins them with `redis-cli
// --cluster create` (the slots split evenly, no replicas), and waits until every node
// reports cluster_state:ok. The nodes stop when t ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{}
	for range n {
		c.Nodes = append(c.Nodes, Start(t, WithConfig("cluster-enabled yes", "cluster-config-file nodes.conf", "cluster-node-timeout 2000")))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, node := range c.Nodes {
		for {
			info, err := node.Do("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok in 20 s: %s %v", node.Addr, info, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return c
}
