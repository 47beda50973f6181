package refresh

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/state"
)

// fakeQuota serves limits, counts reads, and can make them fail or wait.
type fakeQuota struct {
	mu      sync.Mutex
	limits  []gluster.QuotaLimit
	err     error
	reads   int
	running int
	maxRun  int
	soft    string // the default soft limit of the last read
	gate    chan struct{}
}

func (f *fakeQuota) Limits(ctx context.Context, volume, defaultSoft string) ([]gluster.QuotaLimit, error) {
	f.mu.Lock()
	f.reads++
	f.running++
	f.maxRun = max(f.maxRun, f.running)
	f.soft = defaultSoft
	gate, limits, err := f.gate, f.limits, f.err
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return limits, err
}

func (f *fakeQuota) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// Quota limits are read once at a time per volume, only while quota is on,
// a failed read keeps the last limits, and turning quota off drops them.
func TestQuota(t *testing.T) {
	q := &fakeQuota{limits: []gluster.QuotaLimit{{Path: "/a", HardLimit: 10, SoftLimit: 8, Used: 9, Available: 1, SoftExceeded: true}}}
	e := newEnv(t, Options{Quota: q, QuotaSettle: time.Hour})
	e.all()
	if q.count() != 0 {
		t.Fatalf("%d quota reads with quota off everywhere", q.count())
	}
	setQuota := func(on bool) {
		v := e.volume("rep3")
		v.Options = maps.Clone(v.Options)
		v.Options["features.quota"] = map[bool]string{true: "on", false: "off"}[on]
		v.Options["features.default-soft-limit"] = "60%"
		e.model.SetVolume("rep3", &v)
	}
	setQuota(true)
	idle := func() bool {
		e.r.mu.Lock()
		defer e.r.mu.Unlock()
		_, running := e.r.quota["rep3"]
		return !running
	}

	q.gate = make(chan struct{})
	e.r.TriggerQuota("rep3")
	waitFor(t, "the first read", func() bool { return q.count() == 1 })
	e.r.TriggerQuota("rep3")
	e.r.TriggerQuota("rep3")
	q.gate <- struct{}{}
	q.gate <- struct{}{}
	waitFor(t, "both reads to end", idle)
	if n := q.count(); n != 2 || q.maxRun != 1 {
		t.Errorf("%d reads, %d at once; want 2, 1", n, q.maxRun)
	}
	if q.soft != "60%" {
		t.Errorf("read with default soft limit %q", q.soft)
	}
	q.mu.Lock()
	q.gate = nil
	q.mu.Unlock()
	want := []state.QuotaLimit{{Path: "/a", HardLimit: 10, SoftLimit: 8, Used: 9, Available: 1, SoftExceeded: true}}
	if got := e.volume("rep3").QuotaLimits; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("limits %+v", got)
	}

	// A failed read keeps them.
	q.mu.Lock()
	q.err = errors.New("quotad: connection refused")
	q.mu.Unlock()
	e.r.TriggerQuota("rep3")
	waitFor(t, "the failed read", func() bool { return q.count() == 3 })
	waitFor(t, "it to end", idle)
	if got := e.volume("rep3").QuotaLimits; len(got) != 1 {
		t.Fatalf("after a failed read: %+v", got)
	}

	// A read that finds quota off (the captures have it off) drops them.
	e.all()
	if got := e.volume("rep3").QuotaLimits; got != nil {
		t.Fatalf("quota off, limits %+v", got)
	}
	setQuota(false)
	e.r.TriggerQuota("rep3")
	e.r.TriggerQuota("no-such-volume")
	e.r.TriggerQuota("dist")
	if n := q.count(); n != 3 {
		t.Errorf("%d reads with quota off", n)
	}
}

// Full reads have the limits of volumes with quota on read at most once per
// QuotaInterval.
func TestQuotaReconcile(t *testing.T) {
	q := &fakeQuota{}
	e := newEnv(t, Options{Quota: q, QuotaSettle: time.Hour, QuotaInterval: time.Minute})
	e.all()
	e.r.reconcileQuota([]string{"rep3"}) // the model says quota is off: nothing
	if q.count() != 0 {
		t.Fatalf("%d reads", q.count())
	}
	v := e.volume("rep3")
	v.Options = map[string]string{"features.quota": "on"}
	e.model.SetVolume("rep3", &v)
	e.r.reconcileQuota([]string{"rep3"})
	waitFor(t, "the reconcile's read", func() bool { return q.count() == 1 })
	waitFor(t, "it to end", func() bool {
		e.r.mu.Lock()
		defer e.r.mu.Unlock()
		return len(e.r.quota) == 0
	})
	e.r.reconcileQuota([]string{"rep3"})
	e.clock.Advance(30 * time.Second)
	e.r.reconcileQuota([]string{"rep3"})
	if n := q.count(); n != 1 {
		t.Fatalf("%d reads within the interval", n)
	}
	e.clock.Advance(31 * time.Second)
	e.r.reconcileQuota([]string{"rep3"})
	waitFor(t, "the next read", func() bool { return q.count() == 2 })
}
