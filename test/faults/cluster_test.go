package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// natsNode is one nats-server process of a test cluster.
type natsNode struct {
	name, dir     string
	client        string // host:port for clients
	monitor       string // host:port of the monitoring endpoint
	cluster       string // host:port for routes
	cmd           *exec.Cmd
	exited        chan struct{}
	logPath, conf string
}

// startCluster starts three nats-server processes with JetStream (fsync
// before every acknowledgement, as deploy/nats-cluster configures it) and
// cluster routes between them, all on loopback, and waits until JetStream
// is healthy on each.
func startCluster(t *testing.T, dir string) []*natsNode {
	t.Helper()
	bin := natsServerBin(t)
	nodes := make([]*natsNode, 3)
	var routes []string
	for i := range nodes {
		nodes[i] = &natsNode{name: fmt.Sprintf("n%d", i+1), dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			client: freeAddr(t), monitor: freeAddr(t), cluster: freeAddr(t)}
		routes = append(routes, "nats-route://"+nodes[i].cluster)
	}
	for _, n := range nodes {
		if err := os.MkdirAll(n.dir, 0o750); err != nil {
			t.Fatal(err)
		}
		host, port := splitAddr(t, n.client)
		mhost, mport := splitAddr(t, n.monitor)
		conf := fmt.Sprintf(`server_name: %s
host: %s
port: %s
http: "%s:%s"
jetstream {
  store_dir: %q
  sync_interval: always
}
cluster {
  name: drehscheibe-test
  listen: %q
  routes: [%s]
}
`, n.name, host, port, mhost, mport, n.dir, n.cluster, strings.Join(routes, ", "))
		n.conf = filepath.Join(n.dir, "nats.conf")
		n.logPath = filepath.Join(n.dir, "nats.log")
		if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		n.start(t, bin)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.kill()
		}
	})
	for _, n := range nodes {
		eventually(t, time.Minute, "JetStream healthy on "+n.name, func() string {
			res, err := httpClient.Get("http://" + n.monitor + "/healthz")
			if err != nil {
				return err.Error()
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return res.Status
			}
			return ""
		})
	}
	return nodes
}

func (n *natsNode) start(t *testing.T, bin string) {
	t.Helper()
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(bin, "-c", n.conf)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}(n.cmd, n.exited)
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *natsNode) kill() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

func splitAddr(t *testing.T, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		t.Fatalf("no port in %q", addr)
	}
	return addr[:i], addr[i+1:]
}

// TestClusterFailover runs two gateway replicas against a three-node NATS
// cluster with R3 streams. While 1,000 submissions arrive through both
// replicas, it kills (SIGKILL) the node leading the submissions stream and
// later one gateway replica. Clients resend what got no 202 with the same
// Idempotency-Key, to whichever replica is up. Every submission must be
// delivered exactly once by the surviving replica's filedrop, any replica
// must answer the status of a submission the other one accepted, and the
// streams must hold exactly the accepted submissions.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node NATS cluster and two gateways")
	}
	dir := t.TempDir()
	nodes := startCluster(t, dir)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, "nats://"+n.client)
	}
	out := filepath.Join(dir, "out")
	cfg := conf{
		NATS: fmt.Sprintf("embedded: false\nurl: %s\nreplicas: 3", strings.Join(urls, ",")),
		Targets: fmt.Sprintf(`  - name: fachverfahren
    type: filedrop
    concurrency: 4
    ack_wait: 5s
    options: {dir: %q}`, out),
		Routes: "  - {name: all, target: fachverfahren}",
	}.write(t, dir)
	gwA := startGateway(t, "gateway-a", cfg)
	gwB := startGateway(t, "gateway-b", cfg)
	baseA, baseB := gwA.base, gwB.base
	in := inspect(t, strings.Join(urls, ","))
	checkReplicas(t, in)

	const n, clients, killNATSAt, killGatewayAt = 1000, 32, 300, 600
	tmpl := demoTemplate(t)
	reqs := make([]request, n)
	msgs := make([][]byte, n)
	for i := range reqs {
		tag := fmt.Sprintf("cluster-%04d", i)
		msgs[i] = demoMessage(tmpl, tag)
		reqs[i] = request{key: keyA, idempotencyKey: tag, contentType: "application/xml", body: msgs[i]}
	}
	var aDown atomic.Bool
	// Clients alternate between the replicas and use B alone once A is gone.
	pick := func(i int) func() string {
		return func() string {
			if i%2 == 0 && !aDown.Load() {
				return baseA
			}
			return baseB
		}
	}
	other := func(base string) string {
		if base == baseA {
			return baseB
		}
		if aDown.Load() {
			return ""
		}
		return baseA
	}
	ids := make([]string, n)
	var accepted, crossReads atomic.Int64
	var staleMu sync.Mutex
	var stale []string
	phase := make(chan struct{}, n)
	start := time.Now()
	done := parallel(n, clients, func(i int) {
		a, err := sendUntilAccepted(pick(i), reqs[i], 90*time.Second)
		if err != nil {
			t.Error(err)
			return
		}
		ids[i] = a.id
		accepted.Add(1)
		phase <- struct{}{}
		// Read-after-write on the other replica.
		if o := other(pick(i)()); o != "" && i%5 == 0 {
			if _, err := getStatus(o, keyA, a.id); err != nil && strings.Contains(err.Error(), ": 404 ") {
				staleMu.Lock()
				stale = append(stale, a.id)
				staleMu.Unlock()
			} else if err == nil {
				crossReads.Add(1)
			}
		}
	})

	for range killNATSAt {
		<-phase
	}
	leader := streamLeader(t, in)
	for _, node := range nodes {
		if node.name == leader {
			node.kill()
			t.Logf("killed NATS node %s, leader of %s, after %d accepted (%.1fs)", leader, store.SubmissionsStream, accepted.Load(), time.Since(start).Seconds())
		}
	}
	for range killGatewayAt - killNATSAt {
		<-phase
	}
	aDown.Store(true)
	gwA.kill()
	t.Logf("killed gateway A after %d accepted (%.1fs)", accepted.Load(), time.Since(start).Seconds())
	<-done
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("all %d accepted after %.1fs; %d statuses read from the other replica right after the 202", n, time.Since(start).Seconds(), crossReads.Load())
	if len(stale) > 0 {
		t.Errorf("%d submissions were unknown to the other replica right after their 202, e.g. %s", len(stale), stale[0])
	}

	owner := map[string]int{}
	for i, id := range ids {
		if j, dup := owner[id]; dup {
			t.Errorf("submissions %d and %d share id %s", j, i, id)
		}
		owner[id] = i
	}
	got := checkDropped(t, out, n, 90*time.Second, "all delivered by the surviving replica", owner, msgs, nil)
	if m := in.submissions(t); m != n {
		t.Errorf("the submissions stream holds %d messages, want %d", m, n)
	}
	// What gateway A had taken but not acknowledged comes back to B after
	// ack_wait; filedrop finds it delivered, and B records that.
	in.waitDrained(t, "fachverfahren")
	again := 0
	for id := range got {
		st, err := getStatus(baseB, keyA, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != "delivered" {
			t.Errorf("%s: status %q on gateway B", id, st.Status)
		}
		again += max(st.count("delivered")-1, 0)
	}
	t.Logf("every submission delivered once in the filedrop; %d deliveries were repeated after the failures (filedrop kept the first)", again)
}

// checkReplicas fails unless the gateway created its streams with three replicas.
func checkReplicas(t *testing.T, in *inspector) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range []string{store.SubmissionsStream, store.EventsStream, "OBJ_" + store.PayloadBucket} {
		s, err := in.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("stream %s has %d replicas, want 3", name, r)
		}
	}
}

// streamLeader names the server leading the submissions stream.
func streamLeader(t *testing.T, in *inspector) string {
	t.Helper()
	info := in.submissionsInfo(t)
	if info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatal("the submissions stream has no leader")
	}
	return info.Cluster.Leader
}
