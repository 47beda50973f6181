package httpapi

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/glusterbus/glusterbus/internal/state"
)

// Metric names follow gluster-prometheus where they mean the same thing,
// so dashboards built for it keep working; glusterbus's own start with
// glusterbus_. docs/metrics.md lists them with their labels.
var (
	brickLabels  = []string{"volume", "host", "brick_path", "subvolume"}
	brickUpLabel = []string{"volume", "hostname", "brick_path", "peer_id"}

	descGlusterUp = newDesc("gluster_up", "1 when the last read of glusterd succeeded, else 0")

	descVolumeTotal   = newDesc("gluster_volume_total_count", "Total no of volumes")
	descVolumeCreated = newDesc("gluster_volume_created_count", "Freshly created no of volumes")
	descVolumeStarted = newDesc("gluster_volume_started_count", "Total no of started volumes")
	descVolumeUp      = newDesc("gluster_volume_up", "Volume is started or not (1-started, 0-not started)", "volume")
	descVolumeBricks  = newDesc("gluster_volume_brick_count", "Total no of bricks in volume", "volume")
	descVolumeOnline  = newDesc("glusterbus_volume_online_brick_count", "Bricks of the volume that are online", "volume")
	descVolumeHealth  = newDesc("glusterbus_volume_health", "1 for the volume's current health (up, degraded, down, stopped), 0 for the others", "volume", "health")
	descVolumeInfo    = newDesc("glusterbus_volume_info", "Always 1; the volume's identity and layout as labels", "volume", "id", "type", "transport", "status")
	descVolumeSnaps   = newDesc("glusterbus_volume_snapshot_count", "Snapshots of the volume", "volume")

	descBrickUp          = newDesc("gluster_brick_up", "Brick up (1-up, 0-down)", brickUpLabel...)
	descBrickUsed        = newDesc("gluster_brick_capacity_used_bytes", "Used capacity of gluster bricks in bytes", brickLabels...)
	descBrickFree        = newDesc("gluster_brick_capacity_free_bytes", "Free capacity of gluster bricks in bytes", brickLabels...)
	descBrickTotal       = newDesc("gluster_brick_capacity_bytes_total", "Total capacity of gluster bricks in bytes", brickLabels...)
	descBrickInodesTotal = newDesc("gluster_brick_inodes_total", "Total no of inodes of gluster brick disk", brickLabels...)
	descBrickInodesFree  = newDesc("gluster_brick_inodes_free", "Free no of inodes of gluster brick disk", brickLabels...)
	descBrickInodesUsed  = newDesc("gluster_brick_inodes_used", "Used no of inodes of gluster brick disk", brickLabels...)
	descSubvolUsed       = newDesc("gluster_subvol_capacity_used_bytes", "Effective used capacity of gluster subvolume in bytes", "volume", "subvolume")
	descSubvolTotal      = newDesc("gluster_subvol_capacity_total_bytes", "Effective total capacity of gluster subvolume in bytes", "volume", "subvolume")

	descPeerCount     = newDesc("gluster_peer_count", "Number of peers in cluster")
	descPeerConnected = newDesc("gluster_peer_connected", "Peer connection status", "hostname", "uuid")

	descGlusterdRunning = newDesc("glusterbus_glusterd_running", "1 when the local glusterd answered the last read, else 0")
	descRefreshTime     = newDesc("glusterbus_last_refresh_timestamp_seconds", "When the cluster was last read successfully (unix seconds); absent before the first read")
	descRefreshAge      = newDesc("glusterbus_last_refresh_age_seconds", "Seconds since the cluster was last read successfully; absent before the first read")

	descJournalLast  = newDesc("glusterbus_journal_last_sequence", "Sequence number of the last journaled event")
	descJournalFirst = newDesc("glusterbus_journal_first_sequence", "Sequence number of the oldest event the journal still holds (0: none)")
	descJournalUp    = newDesc("glusterbus_journal_up", "1 when events can be journaled, 0 while writing fails (see the manager's JournalError)")

	descEventsReceived = newDesc("glusterbus_events_received_total", "Event datagrams received", "source")
	descEventsDropped  = newDesc("glusterbus_events_dropped_total", "Events received but not journaled, by reason", "source", "reason")
	descNativeEvents   = newDesc("glusterbus_native_events_total", "Native events accepted, by event name", "event")

	descWebhookLag       = newDesc("glusterbus_webhook_lag_events", "Events journaled but not yet handled by the webhook", "url")
	descWebhookDelivered = newDesc("glusterbus_webhook_delivered_total", "Events delivered to the webhook since the daemon started", "url")
	descWebhookFailed    = newDesc("glusterbus_webhook_failed_total", "Events the webhook refused for good since the daemon started", "url")
	descWebhookLost      = newDesc("glusterbus_webhook_lost_total", "Events removed by retention before delivery, since the daemon started", "url")
	descWebhookState     = newDesc("glusterbus_webhook_state", "1 for the webhook's current state (ok, retrying, invalid), 0 for the others", "url", "state")
	descWebhookErrorTime = newDesc("glusterbus_webhook_last_error_timestamp_seconds", "When the webhook's last error happened (unix seconds); absent if none", "url")

	descStreams = newDesc("glusterbus_http_event_streams", "Event streams (GET /api/v1/events) open now")
)

var (
	healthValues  = []string{state.HealthUp, state.HealthDegraded, state.HealthDown, state.HealthStopped}
	webhookStates = []string{"ok", "retrying", "invalid"}
)

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// collector turns the model into const metrics at each scrape, as the
// exporter guidelines ask: nothing is counted between scrapes here, and
// nothing is read from the cluster for a scrape.
type collector struct {
	src     Sources
	streams func() int
	now     func() time.Time
}

func newCollector(src Sources, streams func() int) *collector {
	return &collector{src: src, streams: streams, now: time.Now}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descGlusterUp, descVolumeTotal, descVolumeCreated, descVolumeStarted, descVolumeUp, descVolumeBricks,
		descVolumeOnline, descVolumeHealth, descVolumeInfo, descVolumeSnaps,
		descBrickUp, descBrickUsed, descBrickFree, descBrickTotal, descBrickInodesTotal, descBrickInodesFree,
		descBrickInodesUsed, descSubvolUsed, descSubvolTotal,
		descPeerCount, descPeerConnected, descGlusterdRunning, descRefreshTime, descRefreshAge,
		descJournalLast, descJournalFirst, descJournalUp, descEventsReceived, descEventsDropped, descNativeEvents,
		descWebhookLag, descWebhookDelivered, descWebhookFailed, descWebhookLost, descWebhookState,
		descWebhookErrorTime, descStreams,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	snap := c.src.Model.Snapshot()
	e := emitter{ch}
	c.collectGlusterd(e, snap)
	c.collectVolumes(e, snap)
	e.gauge(descPeerCount, float64(len(snap.Peers)))
	for _, id := range slices.Sorted(maps.Keys(snap.Peers)) {
		p := snap.Peers[id]
		e.gauge(descPeerConnected, b2f(p.Connected), p.Hostname, p.UUID)
	}
	c.collectService(e, snap)
}

func (c *collector) collectGlusterd(e emitter, snap *state.Snapshot) {
	g := &snap.Glusterd
	e.gauge(descGlusterUp, b2f(g.Running && g.LastError == "" && !g.LastRefresh.IsZero()))
	e.gauge(descGlusterdRunning, b2f(g.Running))
	if !g.LastRefresh.IsZero() {
		e.gauge(descRefreshTime, float64(g.LastRefresh.UnixMicro())/1e6)
		e.gauge(descRefreshAge, max(0, c.now().Sub(g.LastRefresh).Seconds()))
	}
}

func (c *collector) collectVolumes(e emitter, snap *state.Snapshot) {
	var created, started int
	for _, name := range slices.Sorted(maps.Keys(snap.Volumes)) {
		v := snap.Volumes[name]
		switch v.Status {
		case "Created":
			created++
		case "Started":
			started++
		}
		e.gauge(descVolumeUp, b2f(v.Status == "Started"), name)
		e.gauge(descVolumeBricks, float64(len(v.Bricks)), name)
		e.gauge(descVolumeOnline, float64(v.OnlineBrickCount()), name)
		health := v.Health()
		for _, h := range healthValues {
			e.gauge(descVolumeHealth, b2f(h == health), name, h)
		}
		e.gauge(descVolumeInfo, 1, name, v.ID, v.Type, v.Transport, v.Status)
		e.gauge(descVolumeSnaps, float64(v.SnapshotCount), name)
		collectBricks(e, v)
	}
	e.gauge(descVolumeTotal, float64(len(snap.Volumes)))
	e.gauge(descVolumeCreated, float64(created))
	e.gauge(descVolumeStarted, float64(started))
}

// collectBricks sends each brick's state, and its space where it is known
// and current (a started volume, read by volume status), with each
// subvolume's effective space as gluster-prometheus computes it.
func collectBricks(e emitter, v *state.Volume) {
	kind, size := subvolLayout(v)
	var subvol string
	var used, total uint64 // of the current subvolume's data bricks
	var dataBricks uint64
	var known bool
	flush := func() {
		if subvol == "" || !known {
			return
		}
		if kind == "disperse" {
			data := max(uint64(v.DisperseCount)-uint64(v.RedundancyCount), 1)
			used, total = used*data, total*data
		}
		e.gauge(descSubvolUsed, float64(used), v.Name, subvol)
		e.gauge(descSubvolTotal, float64(total), v.Name, subvol)
	}
	for i := range v.Bricks {
		b := &v.Bricks[i]
		if i%size == 0 {
			flush()
			subvol = v.Name + "-" + kind + "-" + strconv.Itoa(i/size)
			used, total, dataBricks, known = 0, 0, 0, true
		}
		e.gauge(descBrickUp, b2f(b.Online), v.Name, b.Host, b.Path, b.HostUUID)
		if v.Status != "Started" || b.SizeTotal == 0 {
			known = false
			continue
		}
		labels := []string{v.Name, b.Host, b.Path, subvol}
		e.gauge(descBrickUsed, float64(b.SizeTotal-min(b.SizeFree, b.SizeTotal)), labels...)
		e.gauge(descBrickFree, float64(b.SizeFree), labels...)
		e.gauge(descBrickTotal, float64(b.SizeTotal), labels...)
		e.gauge(descBrickInodesTotal, float64(b.InodesTotal), labels...)
		e.gauge(descBrickInodesFree, float64(b.InodesFree), labels...)
		e.gauge(descBrickInodesUsed, float64(b.InodesTotal-min(b.InodesFree, b.InodesTotal)), labels...)
		if b.IsArbiter {
			continue // holds no file data
		}
		// A replica or disperse set holds as much as its fullest brick
		// has used and its smallest brick can hold.
		used = max(used, b.SizeTotal-min(b.SizeFree, b.SizeTotal))
		if dataBricks == 0 || b.SizeTotal < total {
			total = b.SizeTotal
		}
		dataBricks++
	}
	flush()
}

// subvolLayout names the volume's subvolume kind as gluster-prometheus
// does (<volume>-replicate-0, ...) and says how many bricks each has.
func subvolLayout(v *state.Volume) (string, int) {
	switch {
	case v.DisperseCount > 1:
		return "disperse", int(v.DisperseCount)
	case v.ReplicaCount > 1:
		return "replicate", int(v.ReplicaCount)
	}
	return "distribute", 1 // each brick is a subvolume of its own
}

func (c *collector) collectService(e emitter, snap *state.Snapshot) {
	j := c.src.Journal
	e.gauge(descJournalLast, float64(j.LastSeq()))
	e.gauge(descJournalFirst, float64(j.FirstSeq()))
	e.gauge(descJournalUp, b2f(snap.Service.JournalError == ""))
	if c.src.Native != nil {
		st := c.src.Native()
		e.counter(descEventsReceived, float64(st.Received), "native")
		for _, reason := range slices.Sorted(maps.Keys(st.Dropped)) {
			e.counter(descEventsDropped, float64(st.Dropped[reason]), "native", reason)
		}
		for _, name := range slices.Sorted(maps.Keys(st.ByName)) {
			e.counter(descNativeEvents, float64(st.ByName[name]), name)
		}
	}
	for _, w := range snap.Service.Webhooks {
		e.gauge(descWebhookLag, float64(w.Lag), w.URL)
		e.counter(descWebhookDelivered, float64(w.Delivered), w.URL)
		e.counter(descWebhookFailed, float64(w.Failed), w.URL)
		e.counter(descWebhookLost, float64(w.Lost), w.URL)
		for _, st := range webhookStates {
			e.gauge(descWebhookState, b2f(w.State == st), w.URL, st)
		}
		if w.LastErrorUsec != 0 {
			e.gauge(descWebhookErrorTime, float64(w.LastErrorUsec)/1e6, w.URL)
		}
	}
	e.gauge(descStreams, float64(c.streams()))
}

// emitter sends const metrics; a metric that cannot be made (a label that
// is not UTF-8) is reported as invalid, which fails that one metric, not
// the scrape.
type emitter struct{ ch chan<- prometheus.Metric }

func (e emitter) gauge(d *prometheus.Desc, v float64, labels ...string) {
	e.send(d, prometheus.GaugeValue, v, labels)
}

func (e emitter) counter(d *prometheus.Desc, v float64, labels ...string) {
	e.send(d, prometheus.CounterValue, v, labels)
}

func (e emitter) send(d *prometheus.Desc, t prometheus.ValueType, v float64, labels []string) {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	e.ch <- m
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
