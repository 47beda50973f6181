package refresh

import (
	"context"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/state"
)

// QuotaReader reads a volume's quota limits; *glusterd.Quota is one, which
// takes no glusterd lock (quota.conf and quotad).
type QuotaReader interface {
	Limits(ctx context.Context, volume, defaultSoft string) ([]gluster.QuotaLimit, error)
}

// Defaults of the quota options.
const (
	defaultQuotaTimeout  = time.Minute
	defaultQuotaInterval = 5 * time.Minute
	defaultQuotaSettle   = 10 * time.Second
)

// TriggerQuota reads a volume's quota limits without waiting: after a
// QUOTA_* native event or a configuration read of the volume (a limit set
// rewrites its quota.conf, which inotify sees), and once more QuotaSettle
// later, since quota's accounting follows writes asynchronously. It is
// never run for a volume the model does not know or whose quota is off,
// never twice at once for one volume (requests meanwhile make one more run
// after it), and is cut off at QuotaTimeout; a failed read keeps the last
// limits.
func (r *Refresher) TriggerQuota(name string) { r.triggerQuota(name, true) }

func (r *Refresher) triggerQuota(name string, settle bool) {
	if r.opt.Quota == nil {
		return
	}
	v, ok := r.model.Volume(name)
	if !ok || v.Status != "Started" || !v.QuotaEnabled() {
		return
	}
	r.mu.Lock()
	if settle && r.quotaSettle[name] == nil && r.ctx.Err() == nil {
		r.quotaSettle[name] = time.AfterFunc(r.opt.QuotaSettle, func() {
			r.mu.Lock()
			delete(r.quotaSettle, name)
			r.mu.Unlock()
			if r.ctx.Err() == nil {
				r.triggerQuota(name, false)
			}
		})
	}
	if _, running := r.quota[name]; running {
		r.quota[name] = true
		r.mu.Unlock()
		return
	}
	r.quota[name] = false
	r.mu.Unlock()
	go r.runQuota(name)
}

func (r *Refresher) runQuota(name string) {
	for {
		r.readQuota(name)
		r.mu.Lock()
		if !r.quota[name] || r.ctx.Err() != nil {
			delete(r.quota, name)
			r.mu.Unlock()
			return
		}
		r.quota[name] = false
		r.mu.Unlock()
	}
}

// readQuota reads a volume's limits into the model.
func (r *Refresher) readQuota(name string) {
	v, ok := r.model.Volume(name)
	if !ok || !v.QuotaEnabled() {
		return
	}
	began := r.opt.Now()
	ctx, cancel := context.WithTimeout(r.ctx, r.opt.QuotaTimeout)
	defer cancel()
	limits, err := cli(r, ctx, func(ctx context.Context) ([]gluster.QuotaLimit, error) {
		return r.opt.Quota.Limits(ctx, name, v.Options["features.default-soft-limit"])
	})
	r.mu.Lock() // see readVolume
	defer r.mu.Unlock()
	r.quotaRead[name] = began
	if err != nil {
		if r.ctx.Err() == nil {
			r.log.Warn("reading quota limits failed; the last ones stay", "volume", name, "err", err)
		}
		return
	}
	cur, ok := r.model.Volume(name)
	if !ok || !cur.QuotaEnabled() {
		return // turned off meanwhile: its limits are gone
	}
	next := cur
	next.QuotaLimits = make([]state.QuotaLimit, len(limits))
	for i, l := range limits {
		next.QuotaLimits[i] = state.QuotaLimit(l)
	}
	r.model.SetVolume(name, &next)
	r.touched[name] = r.opt.Now()
}

// quotaVolumes names the volumes with quota on; the model's lock or r.mu
// is held.
func quotaVolumes(vols map[string]*state.Volume) []string {
	var names []string
	for name, v := range vols {
		if v.QuotaEnabled() {
			names = append(names, name)
		}
	}
	return names
}

// reconcileQuota reads the limits of the volumes with quota on (quotaOn,
// as a full read found them) that no read has covered for QuotaInterval:
// usage grows with nothing telling (QUOTA_CROSSED_SOFT_LIMIT reaches only
// the bricks' volfile server, and nothing reports the hard limit), so it
// is read now and then, at most one read per QuotaInterval per volume.
func (r *Refresher) reconcileQuota(quotaOn []string) {
	if r.opt.Quota == nil {
		return
	}
	now := r.opt.Now()
	on := make(map[string]bool, len(quotaOn))
	var due []string
	r.mu.Lock()
	for _, name := range quotaOn {
		on[name] = true
		if at, ok := r.quotaRead[name]; !ok || now.Sub(at) >= r.opt.QuotaInterval {
			due = append(due, name)
		}
	}
	for name := range r.quotaRead {
		if !on[name] {
			delete(r.quotaRead, name)
		}
	}
	r.mu.Unlock()
	for _, name := range due {
		r.triggerQuota(name, false)
	}
}
