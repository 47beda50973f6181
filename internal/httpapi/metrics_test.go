package httpapi

import (
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/glusterbus/glusterbus/internal/state"
)

const gib = 1 << 30

// sampleModel fills the model with a started replica 3 volume with an
// arbiter and one brick down, a stopped distribute volume, a disperse
// volume, two peers and a webhook.
func sampleModel(m *state.Model) {
	m.SetGlusterd(state.Glusterd{Running: true, UUID: "u0", LastRefresh: time.Now().Add(-3 * time.Second)})
	m.SetVolume("gv0", &state.Volume{Name: "gv0", ID: "id0", Status: "Started", Type: "Replicate", Transport: "tcp",
		BrickCount: 3, ReplicaCount: 3, ArbiterCount: 1, SnapshotCount: 2,
		Bricks: []state.Brick{
			{Host: "n1", Path: "/b/gv0", HostUUID: "u0", Online: true, Pid: 10, SizeTotal: 10 * gib, SizeFree: 6 * gib, InodesTotal: 1000, InodesFree: 900},
			{Host: "n2", Path: "/b/gv0", HostUUID: "u1", Online: false, Pid: -1, SizeTotal: 8 * gib, SizeFree: 5 * gib, InodesTotal: 1000, InodesFree: 800},
			{Host: "n3", Path: "/b/gv0", HostUUID: "u2", IsArbiter: true, Online: true, Pid: 12, SizeTotal: 1 * gib, SizeFree: 1 * gib, InodesTotal: 1000, InodesFree: 100},
		}})
	m.SetVolume("dist", &state.Volume{Name: "dist", ID: "id1", Status: "Stopped", Type: "Distribute", Transport: "tcp",
		BrickCount: 2, Bricks: []state.Brick{
			{Host: "n1", Path: "/b/d1", HostUUID: "u0", Pid: -1, SizeTotal: gib},
			{Host: "n2", Path: "/b/d2", HostUUID: "u1", Pid: -1},
		}})
	m.SetVolume("ec", &state.Volume{Name: "ec", ID: "id2", Status: "Started", Type: "Disperse", Transport: "tcp",
		BrickCount: 3, DisperseCount: 3, RedundancyCount: 1, Bricks: []state.Brick{
			{Host: "n1", Path: "/b/ec", HostUUID: "u0", Online: true, SizeTotal: 4 * gib, SizeFree: 3 * gib},
			{Host: "n2", Path: "/b/ec", HostUUID: "u1", Online: true, SizeTotal: 2 * gib, SizeFree: 1 * gib},
			{Host: "n3", Path: "/b/ec", HostUUID: "u2", Online: true, SizeTotal: 3 * gib, SizeFree: 2 * gib},
		}})
	m.SetPeers(map[string]*state.Peer{
		"u1": {UUID: "u1", Hostname: "n2", Connected: true},
		"u2": {UUID: "u2", Hostname: "n3", Connected: false},
	})
	m.UpdateService(func(s *state.Service) {
		s.Webhooks = []state.WebhookState{{URL: "http://hook.example/in", State: "retrying", Lag: 7, Delivered: 40, Failed: 2, Lost: 1,
			LastError: "503", LastErrorUsec: 1_700_000_000_000_000}}
	})
}

// scrape fetches /metrics and parses it.
func scrape(t *testing.T, f *fixture) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := f.get("/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s\n%s", resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams
}

// values lists a family's samples as "label=value,... value", sorted.
func values(fams map[string]*dto.MetricFamily, name string) []string {
	var out []string
	for _, m := range fams[name].GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(labels)
		v := m.GetGauge().GetValue()
		if m.Counter != nil {
			v = m.GetCounter().GetValue()
		}
		out = append(out, strings.Join(labels, ",")+" "+strconv.FormatFloat(v, 'f', -1, 64))
	}
	sort.Strings(out)
	return out
}

// canonical orders a wanted sample's labels by name and writes its value
// as values does.
func canonical(t *testing.T, sample string) string {
	labels, value, _ := strings.Cut(sample, " ")
	v, err := strconv.ParseFloat(value, 64)
	if err != nil {
		t.Fatalf("sample %q: %v", sample, err)
	}
	ls := strings.Split(labels, ",")
	sort.Strings(ls)
	return strings.Join(ls, ",") + " " + strconv.FormatFloat(v, 'f', -1, 64)
}

func checkValues(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) {
	t.Helper()
	got := values(fams, name)
	for i := range want {
		want[i] = canonical(t, want[i])
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got  %q\n want %q", name, got, want)
	}
}

func TestMetrics(t *testing.T) {
	native := func() NativeStats {
		return NativeStats{Received: 12, Dropped: map[string]uint64{"rate_limited": 3, "malformed": 0},
			ByName: map[string]uint64{"VOLUME_SET": 9}}
	}
	f := newFixture(t, Options{}, native)
	sampleModel(f.model)
	f.appendEvents(5, "VOLUME_SET", "native", "gv0")
	fams := scrape(t, f)

	checkValues(t, fams, "gluster_up", " 1")
	checkValues(t, fams, "gluster_volume_total_count", " 3")
	checkValues(t, fams, "gluster_volume_started_count", " 2")
	checkValues(t, fams, "gluster_volume_created_count", " 0")
	checkValues(t, fams, "gluster_volume_up", "volume=gv0 1", "volume=dist 0", "volume=ec 1")
	checkValues(t, fams, "gluster_volume_brick_count", "volume=gv0 3", "volume=dist 2", "volume=ec 3")
	checkValues(t, fams, "glusterbus_volume_online_brick_count", "volume=gv0 2", "volume=dist 0", "volume=ec 3")
	checkValues(t, fams, "gluster_brick_up",
		"volume=gv0,hostname=n1,brick_path=/b/gv0,peer_id=u0 1",
		"volume=gv0,hostname=n2,brick_path=/b/gv0,peer_id=u1 0",
		"volume=gv0,hostname=n3,brick_path=/b/gv0,peer_id=u2 1",
		"volume=dist,hostname=n1,brick_path=/b/d1,peer_id=u0 0",
		"volume=dist,hostname=n2,brick_path=/b/d2,peer_id=u1 0",
		"volume=ec,hostname=n1,brick_path=/b/ec,peer_id=u0 1",
		"volume=ec,hostname=n2,brick_path=/b/ec,peer_id=u1 1",
		"volume=ec,hostname=n3,brick_path=/b/ec,peer_id=u2 1")
	// Space only for started volumes' bricks whose size is known.
	checkValues(t, fams, "gluster_brick_capacity_used_bytes",
		"volume=gv0,host=n1,brick_path=/b/gv0,subvolume=gv0-replicate-0 4.294967296e+09",
		"volume=gv0,host=n2,brick_path=/b/gv0,subvolume=gv0-replicate-0 3.221225472e+09",
		"volume=gv0,host=n3,brick_path=/b/gv0,subvolume=gv0-replicate-0 0",
		"volume=ec,host=n1,brick_path=/b/ec,subvolume=ec-disperse-0 1.073741824e+09",
		"volume=ec,host=n2,brick_path=/b/ec,subvolume=ec-disperse-0 1.073741824e+09",
		"volume=ec,host=n3,brick_path=/b/ec,subvolume=ec-disperse-0 1.073741824e+09")
	checkValues(t, fams, "gluster_brick_inodes_used",
		"volume=gv0,host=n1,brick_path=/b/gv0,subvolume=gv0-replicate-0 100",
		"volume=gv0,host=n2,brick_path=/b/gv0,subvolume=gv0-replicate-0 200",
		"volume=gv0,host=n3,brick_path=/b/gv0,subvolume=gv0-replicate-0 900",
		"volume=ec,host=n1,brick_path=/b/ec,subvolume=ec-disperse-0 0",
		"volume=ec,host=n2,brick_path=/b/ec,subvolume=ec-disperse-0 0",
		"volume=ec,host=n3,brick_path=/b/ec,subvolume=ec-disperse-0 0")
	// A replica set: the fullest data brick's use, the smallest data
	// brick's size (the arbiter holds no data). Disperse: times the data
	// bricks.
	checkValues(t, fams, "gluster_subvol_capacity_used_bytes",
		"volume=gv0,subvolume=gv0-replicate-0 4.294967296e+09",
		"volume=ec,subvolume=ec-disperse-0 2.147483648e+09")
	checkValues(t, fams, "gluster_subvol_capacity_total_bytes",
		"volume=gv0,subvolume=gv0-replicate-0 8.589934592e+09",
		"volume=ec,subvolume=ec-disperse-0 4.294967296e+09")
	checkValues(t, fams, "glusterbus_volume_health",
		"volume=gv0,health=up 0", "volume=gv0,health=degraded 1", "volume=gv0,health=down 0", "volume=gv0,health=unknown 0", "volume=gv0,health=stopped 0",
		"volume=dist,health=up 0", "volume=dist,health=degraded 0", "volume=dist,health=down 0", "volume=dist,health=unknown 0", "volume=dist,health=stopped 1",
		"volume=ec,health=up 1", "volume=ec,health=degraded 0", "volume=ec,health=down 0", "volume=ec,health=unknown 0", "volume=ec,health=stopped 0")
	checkValues(t, fams, "gluster_peer_count", " 2")
	checkValues(t, fams, "gluster_peer_connected", "hostname=n2,uuid=u1 1", "hostname=n3,uuid=u2 0")
	checkValues(t, fams, "glusterbus_journal_last_sequence", " 5")
	checkValues(t, fams, "glusterbus_journal_first_sequence", " 1")
	checkValues(t, fams, "glusterbus_journal_up", " 1")
	checkValues(t, fams, "glusterbus_events_received_total", "source=native 12")
	checkValues(t, fams, "glusterbus_events_dropped_total", "source=native,reason=malformed 0", "source=native,reason=rate_limited 3")
	checkValues(t, fams, "glusterbus_native_events_total", "event=VOLUME_SET 9")
	checkValues(t, fams, "glusterbus_webhook_lag_events", "url=http://hook.example/in 7")
	checkValues(t, fams, "glusterbus_webhook_delivered_total", "url=http://hook.example/in 40")
	checkValues(t, fams, "glusterbus_webhook_failed_total", "url=http://hook.example/in 2")
	checkValues(t, fams, "glusterbus_webhook_lost_total", "url=http://hook.example/in 1")
	checkValues(t, fams, "glusterbus_webhook_state",
		"url=http://hook.example/in,state=ok 0", "url=http://hook.example/in,state=retrying 1", "url=http://hook.example/in,state=invalid 0")
	checkValues(t, fams, "glusterbus_webhook_last_error_timestamp_seconds", "url=http://hook.example/in 1.7e+09")
	checkValues(t, fams, "glusterbus_http_event_streams", " 0")
	if age := fams["glusterbus_last_refresh_age_seconds"].GetMetric()[0].GetGauge().GetValue(); age < 3 {
		t.Errorf("age of the last read %v, want at least 3s", age)
	}
	if fams["go_goroutines"] == nil || fams["process_resident_memory_bytes"] == nil {
		t.Error("no Go or process metrics")
	}
}

// TestMetricsBeforeTheFirstRead: an empty model, glusterd never read.
func TestMetricsBeforeTheFirstRead(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	fams := scrape(t, f)
	checkValues(t, fams, "gluster_up", " 0")
	checkValues(t, fams, "gluster_volume_total_count", " 0")
	for _, name := range []string{"glusterbus_last_refresh_age_seconds", "gluster_brick_up", "glusterbus_events_received_total"} {
		if fams[name] != nil {
			t.Errorf("%s present before anything is known", name)
		}
	}
}

// TestMetricsOddLabels: label values are escaped, and one that is not
// UTF-8 (a brick path need not be) is made valid, which Prometheus
// requires, instead of failing the scrape.
func TestMetricsOddLabels(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	f.model.SetVolume("ok", &state.Volume{Name: "ok", Status: "Started", Bricks: []state.Brick{{Host: "n1", Path: "/b/ok", Online: true}}})
	f.model.SetVolume("bad", &state.Volume{Name: "bad", Status: "Started", Bricks: []state.Brick{
		{Host: "n1", Path: "/b/\xff", Online: true},
		{Host: "n1", Path: "/b/q\"u\\o\nte", Online: false},
	}})
	fams := scrape(t, f)
	checkValues(t, fams, "gluster_volume_total_count", " 2")
	checkValues(t, fams, "gluster_brick_up",
		"volume=ok,hostname=n1,brick_path=/b/ok,peer_id= 1",
		"volume=bad,hostname=n1,brick_path=/b/\uFFFD,peer_id= 1",
		"volume=bad,hostname=n1,brick_path=/b/q\"u\\o\nte,peer_id= 0")
}

// TestMetricsUnknownBrick: a brick whose state is unknown has no
// gluster_brick_up sample, so no alert takes it for down, and its volume's
// health is unknown.
func TestMetricsUnknownBrick(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	f.model.SetVolume("v", &state.Volume{Name: "v", Status: "Started", ReplicaCount: 2, Bricks: []state.Brick{
		{Host: "n1", Path: "/b/v", Online: true},
		{Host: "n2", Path: "/b/v", RuntimeUnknown: true},
	}})
	fams := scrape(t, f)
	checkValues(t, fams, "gluster_brick_up", "volume=v,hostname=n1,brick_path=/b/v,peer_id= 1")
	checkValues(t, fams, "glusterbus_volume_health", "volume=v,health=up 0", "volume=v,health=degraded 0",
		"volume=v,health=down 0", "volume=v,health=unknown 1", "volume=v,health=stopped 0")
}

// TestMetricsDocumented: docs/metrics.md's tables list exactly the metrics
// served, Go's and the process's aside.
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(gluster[a-z_]*)`").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	served := map[string]bool{}
	for _, f := range modelFamilies {
		served[f.name] = true
	}
	ch := make(chan *prometheus.Desc, 100)
	newCollector(Sources{}, nil).Describe(ch)
	close(ch)
	name := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		served[name.FindStringSubmatch(d.String())[1]] = true
	}
	delete(served, "gluster_up") // described in the text
	for n := range served {
		if !documented[n] {
			t.Errorf("%s is not in docs/metrics.md", n)
		}
	}
	for n := range documented {
		if !served[n] {
			t.Errorf("docs/metrics.md lists %s, which is not served", n)
		}
	}
}
