package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// startWithHTTP runs the daemon against a 3-node cluster with the HTTP
// server on a free loopback port, and returns its base URL.
func startWithHTTP(t *testing.T, beforeServe func(c *testbed.Cluster)) (*harness, string) {
	t.Helper()
	addrs := make(chan net.Addr, 1)
	h := start(t, 3, beforeServe, func(cfg *daemon.Config) {
		cfg.HTTP.Addr = "127.0.0.1:0"
		cfg.HTTP.OnListen = func(a net.Addr) { addrs <- a }
	})
	select {
	case a := <-addrs:
		return h, "http://" + a.String()
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon owns its name but does not serve HTTP")
	}
	return nil, ""
}

func getJSON(t *testing.T, u string, into any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", u, resp.Status, body)
	}
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("GET %s: %v\n%s", u, err, body)
	}
}

// tryJSON is getJSON for a server that may not answer yet.
func tryJSON(u string, into any) bool {
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && json.Unmarshal(body, into) == nil
}

// TestPrometheusScrapesEveryBrick: the real prometheus server scrapes the
// daemon, and a PromQL query over its HTTP API returns gluster_brick_up
// for every brick of the cluster.
func TestPrometheusScrapesEveryBrick(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		testbed.Missing(t, "prometheus not found (apt-get install prometheus)")
	}
	var bricks []string // host:path
	h, base := startWithHTTP(t, func(c *testbed.Cluster) {
		n1 := c.Nodes[0]
		args := []string{"volume", "create", "promrep", "replica", "3"}
		for i := range c.Nodes {
			b := c.Nodes[i].Addr + ":" + c.BrickDir(i+1, "promrep")
			args, bricks = append(args, b), append(bricks, b)
		}
		n1.Gluster(t, append(args, "force")...)
		n1.Gluster(t, "volume", "start", "promrep")
		b := c.Nodes[1].Addr + ":" + c.BrickDir(2, "promdist")
		bricks = append(bricks, b)
		n1.Gluster(t, "volume", "create", "promdist", b, "force")
	})
	// The model shows the started volume's bricks online first.
	h.waitFor("promrep up over HTTP", 60*time.Second, func() bool {
		var vol struct{ Health string }
		getJSON(t, base+"/api/v1/volumes/promrep", &vol)
		return vol.Health == "up"
	})

	promURL := startPrometheus(t, prom, strings.TrimPrefix(base, "http://"))
	want := slices.Clone(bricks)
	slices.Sort(want)
	var got []string
	h.waitFor("prometheus to return gluster_brick_up for every brick", 120*time.Second, func() bool {
		var res struct {
			Status string
			Data   struct {
				Result []struct {
					Metric map[string]string
					Value  [2]any
				}
			}
		}
		if !tryJSON(promURL+"/api/v1/query?query="+url.QueryEscape(`gluster_brick_up{job="glusterbus"}`), &res) {
			return false
		}
		got = got[:0]
		up := map[string]string{}
		for _, r := range res.Data.Result {
			name := r.Metric["hostname"] + ":" + r.Metric["brick_path"]
			got = append(got, name)
			up[name] = fmt.Sprint(r.Value[1])
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return false
		}
		// The started volume's bricks are up, the created one's down.
		for _, b := range bricks[:3] {
			if up[b] != "1" {
				return false
			}
		}
		return up[bricks[3]] == "0"
	})
	// A query a dashboard would run: bricks online per volume.
	var res struct {
		Data struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	getJSON(t, promURL+"/api/v1/query?query="+url.QueryEscape(`sum by (volume) (gluster_brick_up)`), &res)
	sums := map[string]string{}
	for _, r := range res.Data.Result {
		sums[r.Metric["volume"]] = fmt.Sprint(r.Value[1])
	}
	if sums["promrep"] != "3" || sums["promdist"] != "0" {
		t.Fatalf("bricks up per volume: %v", sums)
	}
}

// startPrometheus runs prometheus scraping target every second and returns
// its URL; a cleanup stops it.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	err := os.WriteFile(config, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: glusterbus
    static_configs:
      - targets: [%q]
`, target)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeLoopbackAddr(t)
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		logFile.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logFile.Name())
			t.Logf("prometheus log:\n%s", out)
		}
	})
	return "http://" + addr
}

// freeLoopbackAddr returns a loopback address with a port free a moment
// ago (prometheus cannot be told to pick one and say which).
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// sseEvent is one event of the HTTP event stream.
type sseEvent struct {
	ID   uint64
	Name string
}

// openStream reads GET /api/v1/events into a channel until closed.
func openStream(t *testing.T, u, lastEventID string) (<-chan sseEvent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	ch := make(chan sseEvent, 10000)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				ev.ID, _ = strconv.ParseUint(strings.TrimPrefix(line, "id: "), 10, 64)
			case strings.HasPrefix(line, "data: "):
				var e struct{ Name string }
				json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e)
				ev.Name = e.Name
			case line == "" && ev.ID != 0:
				ch <- ev
				ev = sseEvent{}
			}
		}
	}()
	return ch, func() { cancel(); resp.Body.Close() }
}

// TestEventStreamResumes: an HTTP event stream client disconnects, events
// happen on the cluster, and it comes back with Last-Event-ID to exactly
// the events it missed, in order.
func TestEventStreamResumes(t *testing.T) {
	h, base := startWithHTTP(t, nil)
	c, n1 := h.cluster, h.cluster.Nodes[0]
	var st struct{ LastSequence uint64 }
	getJSON(t, base+"/api/v1/state", &st)

	events, stop := openStream(t, base+"/api/v1/events?since="+strconv.FormatUint(st.LastSequence, 10), "")
	n1.Gluster(t, "volume", "create", "ssevol", c.Nodes[0].Addr+":"+c.BrickDir(1, "ssevol"), "force")
	var seen []sseEvent
	h.waitFor("VOLUME_CREATE on the stream", 30*time.Second, func() bool {
		for {
			select {
			case ev := <-events:
				seen = append(seen, ev)
			default:
				return slices.ContainsFunc(seen, func(e sseEvent) bool { return e.Name == "VOLUME_CREATE" })
			}
		}
	})
	stop()
	last := seen[len(seen)-1].ID
	for i, ev := range seen {
		if ev.ID != st.LastSequence+uint64(i)+1 {
			t.Fatalf("stream before the disconnect skipped or repeated: %v", seen)
		}
	}

	// While away: the volume is started, set and stopped.
	n1.Gluster(t, "volume", "start", "ssevol")
	n1.Gluster(t, "volume", "set", "ssevol", "performance.readdir-ahead", "off")
	n1.Gluster(t, "volume", "stop", "ssevol")
	events, stop = openStream(t, base+"/api/v1/events?since="+strconv.FormatUint(st.LastSequence, 10), strconv.FormatUint(last, 10))
	defer stop()
	var again []sseEvent
	var names []string
	h.waitFor("the missed events on the new stream", 30*time.Second, func() bool {
		for {
			select {
			case ev := <-events:
				again = append(again, ev)
				names = append(names, ev.Name)
			default:
				return slices.Contains(names, "VOLUME_START") && slices.Contains(names, "VOLUME_SET") &&
					slices.Contains(names, "VOLUME_STOP")
			}
		}
	})
	for i, ev := range again {
		if ev.ID != last+uint64(i)+1 {
			t.Fatalf("after Last-Event-ID %d: got %v, want %d, %d, ... in order", last, again, last+1, last+2)
		}
	}
}
