package redistest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// Cluster is a Redis Cluster of private redis-server processes, each a
// master holding an equal share of the slots, without replicas.
type Cluster struct {
	t     testing.TB
	Nodes []*Server
}

// StartCluster starts a cluster of masters nodes (at least 1): it assigns
// every node its slots, introduces the nodes to each other and waits until
// every node reports cluster_state:ok and knows all the others. The nodes
// are stopped when the test ends.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	if masters < 1 {
		t.Fatalf("redistest: StartCluster(%d): need at least one master", masters)
	}
	c := &Cluster{t: t}
	ctx := t.Context()
	var buses []int
	for i := range masters {
		// The bus port is named (by default it is the port plus 10000,
		// which may be above 65535).
		bus, err := freePort()
		if err != nil {
			t.Fatalf("redistest: choosing a cluster bus port: %v", err)
		}
		n := Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", strconv.Itoa(bus))
		// Distinct epochs before the nodes meet, as redis-cli --cluster
		// create does, so no epoch collision has to be resolved.
		if _, err := call(ctx, n.Addr(), "CLUSTER", "SET-CONFIG-EPOCH", i+1); err != nil {
			t.Fatalf("redistest: CLUSTER SET-CONFIG-EPOCH on %s: %v", n.Addr(), err)
		}
		lo, hi := i*clusterSlots/masters, (i+1)*clusterSlots/masters-1
		if _, err := call(ctx, n.Addr(), "CLUSTER", "ADDSLOTSRANGE", lo, hi); err != nil {
			t.Fatalf("redistest: CLUSTER ADDSLOTSRANGE %d %d on %s: %v", lo, hi, n.Addr(), err)
		}
		c.Nodes, buses = append(c.Nodes, n), append(buses, bus)
	}
	for i, n := range c.Nodes[1:] {
		if _, err := call(ctx, c.Nodes[0].Addr(), "CLUSTER", "MEET", "127.0.0.1", n.port, buses[i+1]); err != nil {
			t.Fatalf("redistest: CLUSTER MEET %s: %v", n.Addr(), err)
		}
	}
	c.WaitOK()
	return c
}

// Addrs are the nodes' addresses, what store.redis.addrs lists in Cluster
// mode (any one of them would do as a seed).
func (c *Cluster) Addrs() []string { return addrs(c.Nodes) }

// Restart restarts every node, empty but with its cluster configuration
// (nodes.conf in its directory), and waits until the cluster is ok again.
func (c *Cluster) Restart() {
	c.t.Helper()
	for _, n := range c.Nodes {
		n.Restart()
	}
	c.WaitOK()
}

// WaitOK waits until every node reports cluster_state:ok, all slots
// assigned and every node known.
func (c *Cluster) WaitOK() {
	c.t.Helper()
	want := []string{"cluster_state:ok", fmt.Sprintf("cluster_slots_assigned:%d", clusterSlots), fmt.Sprintf("cluster_known_nodes:%d", len(c.Nodes))}
	for _, n := range c.Nodes {
		waitFor(c.t, "cluster node "+n.Addr()+" ok", func() (bool, error) {
			info, err := call(c.t.Context(), n.Addr(), "CLUSTER", "INFO")
			for _, w := range want {
				if !strings.Contains(info, w+"\r\n") {
					return false, err
				}
			}
			return err == nil, err
		})
	}
}
