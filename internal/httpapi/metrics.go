package httpapi

import (
	"compress/gzip"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/glusterbus/glusterbus/internal/state"
)

// Metric names follow gluster-prometheus where they mean the same thing,
// so dashboards built for it keep working; glusterbus's own start with
// glusterbus_. docs/metrics.md lists them with their labels. The families
// made from the volumes, bricks and peers are written by writeModel; these
// are the daemon's own.
var (
	descGlusterUp       = newDesc("gluster_up", "1 when the last read of glusterd succeeded, else 0")
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

var webhookStates = []string{"ok", "retrying", "invalid"}

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
		descGlusterUp, descGlusterdRunning, descRefreshTime, descRefreshAge,
		descJournalLast, descJournalFirst, descJournalUp, descEventsReceived, descEventsDropped, descNativeEvents,
		descWebhookLag, descWebhookDelivered, descWebhookFailed, descWebhookLost, descWebhookState,
		descWebhookErrorTime, descStreams,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	e := emitter{ch}
	g := c.src.Model.Glusterd()
	c.collectGlusterd(e, &g)
	c.collectService(e, c.src.Model.Service())
}

func (c *collector) collectGlusterd(e emitter, g *state.Glusterd) {
	e.gauge(descGlusterUp, b2f(g.Running && g.LastError == "" && !g.LastRefresh.IsZero()))
	e.gauge(descGlusterdRunning, b2f(g.Running))
	if !g.LastRefresh.IsZero() {
		e.gauge(descRefreshTime, float64(g.LastRefresh.UnixMicro())/1e6)
		e.gauge(descRefreshAge, max(0, c.now().Sub(g.LastRefresh).Seconds()))
	}
}

func (c *collector) collectService(e emitter, svc state.Service) {
	j := c.src.Journal
	e.gauge(descJournalLast, float64(j.LastSeq()))
	e.gauge(descJournalFirst, float64(j.FirstSeq()))
	e.gauge(descJournalUp, b2f(svc.JournalError == ""))
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
	for _, w := range svc.Webhooks {
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

// serveMetrics answers a scrape in the text format: the daemon's own
// metrics through the registry, then the model's families (writeModel).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	select {
	case s.scrapes <- struct{}{}:
		defer func() { <-s.scrapes }()
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "too many scrapes at once")
		return
	}
	fams, err := s.registry.Gather()
	if err != nil {
		// One bad metric is left out; the rest are served.
		s.log.Warn("metrics", "err", err)
	}
	snap := s.src.Model.Snapshot()

	h := w.Header()
	h.Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	h.Set("Cache-Control", "no-store")
	var out io.Writer = w
	if gzipAccepted(r) {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		defer gz.Close()
		out = gz
	}
	if r.Method == http.MethodHead {
		return
	}
	enc := expfmt.NewEncoder(out, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			return // the client went away
		}
	}
	writeModel(out, snap) // an error means the client went away
}

func gzipAccepted(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
