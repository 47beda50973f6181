// Package refresh reads the cluster through the gluster CLI into the state
// model. It decides what to read and when; the model decides what changed.
//
// Reads that take no lock in glusterd are made freely: `volume info`, `peer
// status` and `get-state`, which tells this node's bricks' runtime (running,
// port, sizes). `volume status` takes the volume's cluster-wide lock, and an
// admin command that runs on the same volume at that moment fails with
// "Another transaction is in progress" (gluster/glusterfs#3052). So by
// default it is never run: other nodes' bricks are told by glusterd's brick
// events where they arrive, else their runtime is unknown. With
// Options.RemoteBrickStatus it is run, with care:
//
//   - a trigger naming a volume (hook, native event, inotify) re-reads only
//     that volume's `volume info`, and this node's bricks with `get-state`;
//   - `volume status` (every brick's runtime) runs only for volumes that
//     have been quiet (no trigger) for QuietPeriod, after a trigger once the
//     volume has become quiet, and in the periodic full reconcile for quiet
//     volumes only;
//   - an admin command run between Busy and its done meets no `volume
//     status` of its volume.
//
// Unknown is never reported as down: a brick whose runtime nothing has told
// since its volume started, since the daemon started or since its node was
// last reachable is unknown (state.BrickStateUnknown), and a brick read as
// not running within StartGrace of its volume's start is still starting.
//
// Triggers for the same volume coalesce: while one read runs, any number of
// new triggers cause exactly one more read after it. Reads of different
// volumes run side by side, bounded by Options.Concurrency CLI processes.
package refresh

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/state"
)

// Source is how the cluster is read; *gluster.CLI is one.
type Source interface {
	VolumeInfo(ctx context.Context, volume string) ([]gluster.Volume, error)
	VolumeStatusDetail(ctx context.Context, volume string) ([]gluster.BrickStatus, error)
	LocalState(ctx context.Context) (*gluster.LocalState, error)
	// PendingHeals counts the self-heal entries a brick of this node
	// records (a directory read on the brick, no glusterd call); last is
	// the brick's previous count, which an index unchanged since returns
	// without a read. It is called for many bricks at once.
	PendingHeals(ctx context.Context, brickPath string, last gluster.HealIndex) (gluster.HealIndex, error)
	// HealSummary runs glfsheal's heal info summary of a volume: no
	// glusterd lock, but O(entries).
	HealSummary(ctx context.Context, volume string) ([]gluster.HealBrick, error)
	// Snapshots reads every volume snapshot (`snapshot info`, lock-free).
	Snapshots(ctx context.Context) ([]gluster.Snapshot, error)
	Peers(ctx context.Context) ([]gluster.Peer, error)
	LocalUUID(ctx context.Context) (string, error)
	OpVersion(ctx context.Context) (uint32, error)
	Version(ctx context.Context) (string, error)
}

// Options tune a Refresher.
type Options struct {
	Concurrency int           // CLI processes at once; default 4
	QuietPeriod time.Duration // how long a volume must be quiet before `volume status`; default 2s
	// RemoteBrickStatus reads every node's bricks with `volume status`,
	// which takes the volume's lock (see the package comment); by default
	// only this node's bricks are read, lock-free.
	RemoteBrickStatus bool
	// StartGrace is how long after a volume starts a brick read as not
	// running is taken as still starting, not offline; default 10s.
	StartGrace time.Duration
	Logger     *slog.Logger
	// TaskPollInterval is how often this node's state is read again while
	// a rebalance or remove-brick task runs (get-state, lock-free); default
	// 10s.
	TaskPollInterval time.Duration
	// HealPollInterval is how often this node's state and heal counts are
	// read again while one of its bricks has entries waiting for
	// self-heal; default 30s.
	HealPollInterval time.Duration
	// HealInfoTimeout bounds one `heal info summary` (glfsheal), which
	// walks every entry; default 2m.
	HealInfoTimeout time.Duration
	// SplitBrainRecheck is how long after a `heal info summary` that found
	// entries in split-brain it is run again, to see them resolved;
	// default 5m.
	SplitBrainRecheck time.Duration
	// Now is the clock; tests replace it.
	Now func() time.Time
	// GlusterdUnit, if set, reports glusterd.service's load and active state.
	GlusterdUnit func(ctx context.Context) (load, active string)

	// Quota reads the quota limits of volumes with quota on; nil reads
	// none (see TriggerQuota).
	Quota QuotaReader
	// QuotaTimeout bounds one read of a volume's limits; default 1m.
	QuotaTimeout time.Duration
	// QuotaInterval is how often full reads have the limits of volumes
	// with quota on read again; default 5m.
	QuotaInterval time.Duration
	// QuotaSettle is how long after a triggered read of the limits one
	// more is made, for accounting that lags the trigger; default 10s.
	QuotaSettle time.Duration
}

// Refresher keeps the model in step with the cluster.
type Refresher struct {
	src   Source
	geo   *geoRep // nil until EnableGeoRep; guarded by mu
	model *state.Model
	opt   Options
	log   *slog.Logger
	sem   chan struct{}
	ctx   context.Context // the daemon's life; reads are not cut short by one caller leaving

	// mu guards what follows. It is also held while a read puts what it
	// found into the model, so that reads replace each other's results in
	// order: the model's sinks must not call the Refresher.
	mu       sync.Mutex
	flights  map[string]*flight
	activity map[string]time.Time // volume -> last trigger
	// busySince: volume -> the first trigger after it was last quiet.
	busySince map[string]time.Time
	touched   map[string]time.Time // volume -> when the newest targeted read that reached the model began
	timers    map[string]*time.Timer
	// runtimeRead: volume -> when its runtime was last read.
	runtimeRead map[string]time.Time
	identity    bool // re-read glusterd's identity on the next full read
	// runtimeAllNext is when `volume status all` may run again: it holds
	// each volume's lock in turn, so it runs at most a fifth of the time.
	runtimeAllNext time.Time
	forceRuntime   bool // the next full read reads runtime regardless
	// busy: volume -> admin commands changing it now (see Busy).
	busy map[string]int
	// statusRuns: volume ("" for all) -> `volume status` calls started and
	// not ended; statusEnded is closed, and replaced, when one ends.
	statusRuns  map[string]int
	statusEnded chan struct{}
	// startedAt: volume -> when it was first seen started; its bricks are
	// in their start grace until StartGrace after.
	startedAt map[string]time.Time
	// hints: brick name -> what glusterd's brick events told of a brick of
	// a volume not yet seen started.
	hints    map[string]time.Time
	readOnce bool // a full read has reached the model
	// unconfirmed: volumes with a brick known online that a read found not
	// running, kept online until a second read confirms it (see
	// applyRuntime).
	unconfirmed map[string]bool
	// unknownNext is when a name the model does not know may cause the
	// next full read; unknownPending, that one is scheduled.
	unknownNext    time.Time
	unknownPending bool
	// taskPoll reads this node's state again while a task runs or entries
	// wait for self-heal.
	taskPoll    *time.Timer
	taskPollDue time.Time
	// healInfo: volume -> a `heal info summary` runs (false), or runs and
	// another was asked for meanwhile (true).
	healInfo map[string]bool
	// quota: volume -> a read of its quota limits runs (false), or runs
	// and another was asked for meanwhile (true); quotaRead: when its last
	// read began; quotaSettle: the read to come after a trigger.
	quota       map[string]bool
	quotaRead   map[string]time.Time
	quotaSettle map[string]*time.Timer
	// healIndex: this node's bricks' last heal index counts that a later
	// read may reuse (see gluster.HealIndex); replaced at each count.
	healIndex map[brickKey]gluster.HealIndex
	// scratch is where buildVolume builds; r.mu is held.
	scratch state.Volume
}

// New returns a Refresher; ctx bounds every read it makes.
func New(ctx context.Context, src Source, model *state.Model, opt Options) *Refresher {
	if opt.Concurrency <= 0 {
		opt.Concurrency = 4
	}
	if opt.QuietPeriod <= 0 {
		opt.QuietPeriod = 2 * time.Second
	}
	if opt.StartGrace <= 0 {
		opt.StartGrace = 10 * time.Second
	}
	if opt.TaskPollInterval <= 0 {
		opt.TaskPollInterval = 10 * time.Second
	}
	if opt.HealPollInterval <= 0 {
		opt.HealPollInterval = 30 * time.Second
	}
	if opt.HealInfoTimeout <= 0 {
		opt.HealInfoTimeout = 2 * time.Minute
	}
	if opt.SplitBrainRecheck <= 0 {
		opt.SplitBrainRecheck = 5 * time.Minute
	}
	if opt.QuotaTimeout <= 0 {
		opt.QuotaTimeout = defaultQuotaTimeout
	}
	if opt.QuotaInterval <= 0 {
		opt.QuotaInterval = defaultQuotaInterval
	}
	if opt.QuotaSettle <= 0 {
		opt.QuotaSettle = defaultQuotaSettle
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Refresher{
		src: src, model: model, opt: opt, log: opt.Logger, ctx: ctx,
		sem:         make(chan struct{}, opt.Concurrency),
		flights:     map[string]*flight{},
		activity:    map[string]time.Time{},
		busySince:   map[string]time.Time{},
		touched:     map[string]time.Time{},
		timers:      map[string]*time.Timer{},
		runtimeRead: map[string]time.Time{},
		busy:        map[string]int{},
		statusRuns:  map[string]int{},
		statusEnded: make(chan struct{}),
		startedAt:   map[string]time.Time{},
		hints:       map[string]time.Time{},
		unconfirmed: map[string]bool{},
		healInfo:    map[string]bool{},
		quota:       map[string]bool{},
		quotaRead:   map[string]time.Time{},
		quotaSettle: map[string]*time.Timer{},
	}
}

// All re-reads the whole cluster and waits for the result. Concurrent calls
// share one read; a call made while a read runs waits for the next one.
func (r *Refresher) All(ctx context.Context) error {
	return r.do(ctx, keyAll, 0)
}

// TriggerAll asks for a full read without waiting.
func (r *Refresher) TriggerAll() { r.start(keyAll, 0) }

// Volume re-reads one volume's configuration (lock-free) and waits for the
// result; its brick runtime follows once the volume is quiet. A volume
// gluster no longer knows is removed. It returns gluster.ErrNoVolume when
// neither gluster nor the model knows the volume.
func (r *Refresher) Volume(ctx context.Context, name string) error {
	r.noteActivity(name)
	return r.do(ctx, volPrefix+name, wantConfig)
}

// TriggerVolume is Volume without waiting.
func (r *Refresher) TriggerVolume(name string) {
	r.noteActivity(name)
	r.start(volPrefix+name, wantConfig)
}

// TriggerRuntime asks for a volume's brick runtime, e.g. after a brick
// process connected or died: this node's bricks at once, every brick with
// `volume status` once the volume is quiet where RemoteBrickStatus allows.
func (r *Refresher) TriggerRuntime(name string) {
	r.start(keyLocal, 0)
	if r.opt.RemoteBrickStatus {
		r.scheduleRuntime(name, 0)
	}
}

// TriggerPeers re-reads the peers without waiting.
func (r *Refresher) TriggerPeers() { r.start(keyPeers, 0) }

// Run reconciles every interval until ctx ends; a reconcile still running
// when the next is due is not started twice. On a large cluster a full read
// costs more: the next one then waits until the daemon has spent at most
// reconcileCPUShare of a core on reconciling (but never more than
// maxReconcileSpacing intervals), so an idle daemon stays idle at any size.
// Targeted reads are never delayed by this.
func (r *Refresher) Run(ctx context.Context, interval time.Duration) {
	defer func() {
		r.mu.Lock()
		for _, tm := range r.timers {
			tm.Stop()
		}
		if r.taskPoll != nil {
			r.taskPoll.Stop()
		}
		for _, tm := range r.quotaSettle {
			tm.Stop()
		}
		r.mu.Unlock()
	}()
	wait := interval
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		before := cpuTime()
		err := r.All(ctx)
		wait = reconcileWait(interval, cpuTime()-before, err)
		if wait > interval {
			r.log.Debug("reconcile spaced out to keep the daemon's share of a core low", "next_in", wait)
		}
	}
}

// reconcileCPUShare is the share of one core periodic reconciles may use:
// half of the 1% an idle daemon may use, leaving the rest to the garbage
// collection that follows them and to the daemon's other work.
const reconcileCPUShare = 0.005

// maxReconcileSpacing bounds how many intervals the CPU share may stretch
// the wait to: the process's CPU time also counts its other work (native
// events, bus calls), which must not put off noticing a dead brick or
// glusterd for long.
const maxReconcileSpacing = 6

// reconcileWait is how long to wait after a reconcile that used spent CPU
// time and ended with err. A failed one is retried after one interval: what
// it cost is not the cost of reading the cluster, and a glusterd coming back
// should be seen soon.
func reconcileWait(interval, spent time.Duration, err error) time.Duration {
	if err != nil {
		return interval
	}
	wait := time.Duration(float64(spent) / reconcileCPUShare)
	return min(max(interval, wait), maxReconcileSpacing*interval)
}

// cpuTime is the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Reload is All for an explicit request: it re-reads glusterd's identity
// and the bricks' runtime even when the periodic reads spaced it out.
func (r *Refresher) Reload(ctx context.Context) error {
	r.mu.Lock()
	r.identity, r.forceRuntime = true, true
	r.mu.Unlock()
	return r.All(ctx)
}

func (r *Refresher) noteActivity(name string) {
	r.mu.Lock()
	now := r.opt.Now()
	if last, ok := r.activity[name]; !ok || now.Sub(last) >= r.opt.QuietPeriod {
		r.busySince[name] = now
	}
	r.activity[name] = now
	r.mu.Unlock()
}

// TriggerNamedVolume is TriggerVolume for a name that came from the network
// (a native event): a name the model does not know costs at most one
// coalesced full read, however many such names arrive, so the work a sender
// can cause is bounded by the cluster's own volumes.
func (r *Refresher) TriggerNamedVolume(name string) {
	if _, ok := r.model.Volume(name); !ok {
		r.triggerForUnknownName()
		return
	}
	r.TriggerVolume(name)
}

// unknownNameSpacing is the least time between two full reads that names
// the model does not know cause.
const unknownNameSpacing = 2 * time.Second

// triggerForUnknownName asks for a full read, at most one every
// unknownNameSpacing: a volume just created is found by it, and a flood of
// made-up names costs a few reads.
func (r *Refresher) triggerForUnknownName() {
	r.mu.Lock()
	if r.unknownPending {
		r.mu.Unlock()
		return
	}
	now := r.opt.Now()
	wait := r.unknownNext.Sub(now)
	if wait <= 0 {
		r.unknownNext = now.Add(unknownNameSpacing)
		r.mu.Unlock()
		r.TriggerAll()
		return
	}
	r.unknownPending = true
	r.mu.Unlock()
	time.AfterFunc(wait, func() {
		r.mu.Lock()
		r.unknownPending = false
		r.unknownNext = r.opt.Now().Add(unknownNameSpacing)
		r.mu.Unlock()
		if r.ctx.Err() == nil {
			r.TriggerAll()
		}
	})
}

// TriggerNamedRuntime is TriggerRuntime for a name from the network, bounded
// as TriggerNamedVolume is.
func (r *Refresher) TriggerNamedRuntime(name string) {
	if _, ok := r.model.Volume(name); !ok {
		r.triggerForUnknownName()
		return
	}
	r.TriggerRuntime(name)
}

// Busy marks a volume as being changed by an admin command, which fails
// with "Another transaction is in progress" if a `volume status` of the
// volume holds its lock meanwhile: until done is called, no `volume status`
// of it (nor of every volume) starts, and Busy returns once those running
// have ended. The volume is quiet again QuietPeriod after done.
func (r *Refresher) Busy(ctx context.Context, name string) (done func(), err error) {
	r.mu.Lock()
	r.busy[name]++
	r.mu.Unlock()
	done = sync.OnceFunc(func() {
		r.mu.Lock()
		if r.busy[name]--; r.busy[name] <= 0 {
			delete(r.busy, name)
		}
		r.activity[name] = r.opt.Now()
		r.mu.Unlock()
	})
	for {
		r.mu.Lock()
		running := r.statusRuns[name] + r.statusRuns[""]
		ended := r.statusEnded
		r.mu.Unlock()
		if running == 0 {
			return done, nil
		}
		select {
		case <-ended:
		case <-ctx.Done():
			done()
			return nil, ctx.Err()
		}
	}
}

// errBusy is a `volume status` not run because an admin command is
// changing the volume.
var errBusy = errors.New("an admin command is changing the volume")

// status runs `volume status` of a volume ("": of every volume) within the
// concurrency bound, unless an admin command is changing it (for every
// volume: any volume).
func (r *Refresher) status(ctx context.Context, volume string) ([]gluster.BrickStatus, error) {
	r.mu.Lock()
	if r.busy[volume] > 0 || (volume == "" && len(r.busy) > 0) {
		r.mu.Unlock()
		return nil, errBusy
	}
	r.statusRuns[volume]++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if r.statusRuns[volume]--; r.statusRuns[volume] <= 0 {
			delete(r.statusRuns, volume)
		}
		close(r.statusEnded)
		r.statusEnded = make(chan struct{})
		r.mu.Unlock()
	}()
	return cli(r, ctx, func(ctx context.Context) ([]gluster.BrickStatus, error) { return r.src.VolumeStatusDetail(ctx, volume) })
}

// maxBusyPeriods bounds how many quiet periods triggers alone can put off
// a volume's `volume status`.
const maxBusyPeriods = 3

// quietFor says how long until the volume has been quiet for QuietPeriod
// (zero or less: it is quiet now). A busy volume is never quiet.
func (r *Refresher) quietFor(name string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.busy[name] > 0 {
		return r.opt.QuietPeriod
	}
	last, ok := r.activity[name]
	if !ok {
		return 0
	}
	// A volume under a steady stream of triggers is still read, once every
	// maxBusyPeriods quiet periods: busy must never mean stale forever.
	now := r.opt.Now()
	if since, ok := r.busySince[name]; ok && now.Sub(since) >= maxBusyPeriods*r.opt.QuietPeriod {
		r.busySince[name] = now
		return 0
	}
	return r.opt.QuietPeriod - now.Sub(last)
}

// scheduleRuntime reads the volume's runtime once it is quiet, at the
// earliest after delay.
func (r *Refresher) scheduleRuntime(name string, delay time.Duration) {
	if wait := r.quietFor(name); wait > delay {
		delay = wait
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.timers[name]; ok {
		t.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(max(delay, 0), func() {
		// A timer that fired while being replaced (Stop came too late)
		// leaves the read to its replacement.
		r.mu.Lock()
		current := r.timers[name] == t
		if current {
			delete(r.timers, name)
		}
		r.mu.Unlock()
		if !current || r.ctx.Err() != nil {
			return
		}
		if wait := r.quietFor(name); wait > 0 {
			r.scheduleRuntime(name, wait) // more activity came in meanwhile
			return
		}
		r.start(volPrefix+name, wantRuntime)
	})
	r.timers[name] = t
}

// cli runs one CLI call within the concurrency bound.
func cli[T any](r *Refresher, ctx context.Context, call func(context.Context) (T, error)) (T, error) {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
	defer func() { <-r.sem }()
	return call(ctx)
}

// noteError records a failed read on the glusterd object. A CLI that cannot
// reach glusterd marks it not running; one that gets no answer (a hung
// glusterd, cut off at the CLI timeout) leaves Running as it was. The unit
// state is read again too: a failure is when it most likely changed.
func (r *Refresher) noteError(what string, err error) {
	if errors.Is(err, context.Canceled) && r.ctx.Err() != nil {
		return
	}
	r.log.Warn("reading gluster state failed", "what", what, "err", err)
	g := r.model.Glusterd()
	g.LastError = err.Error()
	if errors.Is(err, gluster.ErrNoGlusterd) {
		g.Running = false
	}
	if r.opt.GlusterdUnit != nil {
		g.LoadState, g.ActiveState = r.opt.GlusterdUnit(r.ctx)
	}
	r.model.SetGlusterd(g)
}
