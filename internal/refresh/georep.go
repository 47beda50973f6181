package refresh

import (
	"context"
	"sync"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/state"
)

// GeoRepSource reads the cluster's geo-replication sessions; a Source that
// is one has them read once EnableGeoRep is called.
type GeoRepSource interface {
	// GeoRepStatus runs `volume geo-replication status` without a primary
	// volume, which takes no volume lock.
	GeoRepStatus(ctx context.Context) ([]gluster.GeoRepSession, error)
}

// GeoRepOptions tune the reading of geo-replication sessions.
type GeoRepOptions struct {
	// Workdir is glusterd's working directory: without a session directory
	// in its geo-replication/, there is no session and nothing is run.
	Workdir string
	// MinGap is the least time between two status reads; default 5s.
	// gsyncd rewrites its status files as it syncs, so the triggers come
	// often. A read that took more than a tenth of it spaces the next out
	// further.
	MinGap time.Duration
	// Timeout cuts one status read off, keeping the last sessions; default
	// 1m. (It asks every node, each of which asks its gsyncd workers.)
	Timeout time.Duration
}

// geoRep is what the Refresher keeps to read geo-replication sessions.
type geoRep struct {
	src GeoRepSource
	opt GeoRepOptions

	mu    sync.Mutex
	last  time.Time     // when the last read was started
	cost  time.Duration // how long the last status read took
	timer *time.Timer   // a read waiting for the gap to pass
}

// geoRepCostShare bounds the share of time status reads may take: with
// sessions, every node's glusterd runs one gsyncd (a Python process, about
// a second to start on a busy machine) per local brick per session for
// each read, so a read that took long spaces the next out.
const geoRepCostShare = 0.1

// gap is the least time between the starts of two reads: MinGap, or more
// after a costly read.
func (g *geoRep) gap() time.Duration {
	return max(g.opt.MinGap, time.Duration(float64(g.cost)/geoRepCostShare))
}

const keyGeoRep = "georep"

// EnableGeoRep reads geo-replication sessions from now on: at every full
// read, and on TriggerGeoRep (native GEOREP_* events, changes under the
// working directory's geo-replication/), at most once per MinGap. It does
// nothing where the Source cannot read them. Call it before any read.
func (r *Refresher) EnableGeoRep(opt GeoRepOptions) {
	src, ok := r.src.(GeoRepSource)
	if !ok {
		return
	}
	if opt.MinGap <= 0 {
		opt.MinGap = 5 * time.Second
	}
	if opt.Timeout <= 0 {
		opt.Timeout = time.Minute
	}
	r.mu.Lock()
	r.geo = &geoRep{src: src, opt: opt}
	r.mu.Unlock()
}

// TriggerGeoRep asks for the geo-replication sessions to be read: now, or
// once MinGap (or ten times what the last read took, if more) has passed
// since the last read began. Requests meanwhile share that one read.
func (r *Refresher) TriggerGeoRep() {
	r.mu.Lock()
	g := r.geo
	r.mu.Unlock()
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.timer != nil {
		return
	}
	now := r.opt.Now()
	if wait := g.last.Add(g.gap()).Sub(now); wait > 0 {
		g.timer = time.AfterFunc(wait, func() {
			g.mu.Lock()
			g.timer = nil
			g.last = r.opt.Now()
			g.mu.Unlock()
			if r.ctx.Err() == nil {
				r.start(keyGeoRep, 0)
			}
		})
		return
	}
	g.last = now
	r.start(keyGeoRep, 0)
}

// geoRepWithFullRead reads the sessions along with a full read: before the
// first one reaches the model, so that what exists at start is known with
// the rest (and gives no events); later on their own, rate-limited.
func (r *Refresher) geoRepWithFullRead(ctx context.Context) {
	r.mu.Lock()
	g, first := r.geo, !r.readOnce
	r.mu.Unlock()
	if g == nil || !first {
		r.TriggerGeoRep()
		return
	}
	g.mu.Lock()
	g.last = r.opt.Now()
	g.mu.Unlock()
	r.readGeoRep(ctx)
}

// readGeoRep reads the sessions into the model. Without a session
// directory there is none, and nothing is run: `status` would then fail
// just as on a real failure. A failed or timed-out read keeps the last
// sessions.
func (r *Refresher) readGeoRep(ctx context.Context) error {
	r.mu.Lock()
	g := r.geo
	r.mu.Unlock()
	if g == nil {
		return nil
	}
	dirs, err := gluster.GeoRepSessionDirs(g.opt.Workdir)
	if err != nil {
		r.log.Warn("cannot tell whether geo-replication sessions exist; the last known stay", "err", err)
		return nil
	}
	sessions := map[string]*state.GeoRepSession{}
	if dirs > 0 {
		ctx, cancel := context.WithTimeout(ctx, g.opt.Timeout)
		began := time.Now()
		list, err := cli(r, ctx, g.src.GeoRepStatus)
		cancel()
		g.mu.Lock()
		g.cost = time.Since(began)
		g.mu.Unlock()
		if err != nil {
			r.log.Warn("reading geo-replication status failed; the last known sessions stay", "err", err)
			return nil
		}
		for _, s := range list {
			sessions[state.GeoRepKey(s.PrimaryVolume, s.Secondary)] = geoRepSession(&s)
		}
	}
	if len(sessions) == 0 && len(r.model.GeoReps()) == 0 {
		return nil // the usual case: nothing to tell the model
	}
	r.mu.Lock() // see readVolume
	defer r.mu.Unlock()
	r.model.SetGeoReps(sessions)
	return nil
}

func geoRepSession(s *gluster.GeoRepSession) *state.GeoRepSession {
	out := &state.GeoRepSession{PrimaryVolume: s.PrimaryVolume, Secondary: s.Secondary, SecondaryHost: s.SecondaryHost,
		SecondaryVolume: s.SecondaryVolume, SecondaryUser: s.SecondaryUser, Workers: make([]state.GeoRepWorker, len(s.Workers))}
	for i, w := range s.Workers {
		out.Workers[i] = state.GeoRepWorker{PrimaryNode: w.PrimaryNode, PrimaryNodeUUID: w.PrimaryNodeUUID,
			PrimaryBrick: w.PrimaryBrick, SecondaryNode: w.SecondaryNode, Status: w.Status, CrawlStatus: w.CrawlStatus,
			LastSynced: unixMicro(w.LastSynced), Entry: w.Entry, Data: w.Data, Meta: w.Meta, Failures: w.Failures,
			CheckpointCompleted: w.CheckpointCompleted, CheckpointCompletionTime: unixMicro(w.CheckpointCompletionTime)}
		out.CheckpointTime = max(out.CheckpointTime, unixMicro(w.CheckpointTime))
	}
	return out
}

func unixMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}
