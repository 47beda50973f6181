package refresh

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/glusterbus/glusterbus/internal/fanout"
	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/state"
)

// maxRuntimeReadsPerReconcile bounds the per-volume `volume status` calls of
// one reconcile when some volume is busy and `volume status all` must not
// run; the volumes read longest ago go first.
const maxRuntimeReadsPerReconcile = 32

// readAll reads the whole cluster into the model.
func (r *Refresher) readAll(ctx context.Context) error {
	started := r.opt.Now()
	r.geoRepWithFullRead(ctx)
	wasRunning := r.model.Glusterd().Running
	// This node's state is read beside the volumes (glusterd answers each
	// on a connection of its own): at thousands of volumes glusterd writes
	// its dump while the volumes' answers are parsed here. Either may
	// come first, as either may when read one after the other: a brick
	// seen stopped or running before its volume's status changed is what
	// the start grace and the confirmation of stops are for.
	local := make(chan *runtimes, 1)
	go func() { local <- r.readLocalRuntime(ctx) }()
	vols, peers, g, err := r.readConfiguration(ctx)
	rt := <-local
	if err != nil {
		return err
	}
	// Every snapshot counts in its volume's snapCount (a volume with
	// snapshots cannot be deleted): with none, `snapshot info` has nothing
	// to tell.
	var snaps map[string]*state.VolumeSnapshot
	snapsRead := true
	if slices.ContainsFunc(vols, func(v gluster.Volume) bool { return v.SnapshotCount > 0 }) {
		snaps, snapsRead = r.snapshots(ctx)
	}
	if !wasRunning {
		r.mu.Lock()
		r.forceRuntime = true
		r.mu.Unlock()
	}
	if r.opt.RemoteBrickStatus {
		r.readRuntimes(ctx, vols, rt)
	}
	// After glusterd came back (or the daemon started) nothing tells what
	// happened meanwhile: what this read did not tell is unknown.
	rt.forget = !wasRunning

	snap := state.NewSnapshot()
	snap.Volumes = make(map[string]*state.Volume, len(vols))
	for i := range peers {
		p := &peers[i]
		snap.Peers[p.UUID] = &state.Peer{UUID: p.UUID, Hostname: p.Hostname, Hostnames: p.Hostnames, Connected: p.Connected, State: p.State}
	}
	up := connectedFunc(g.UUID, snap.Peers)
	g.Running, g.LastRefresh = true, r.opt.Now() // g.LastError is readGlusterd's
	snap.Glusterd = g

	// A targeted read that reached the model after this read began is
	// newer than what this read saw: keep it. r.mu is held until the
	// snapshot is in, so that no targeted read lands in between unseen.
	defer r.confirmStopped()
	var quotaOn []string
	defer func() { r.reconcileQuota(quotaOn) }() // once r.mu is released
	r.mu.Lock()
	defer r.mu.Unlock()
	if snapsRead {
		if snaps != nil {
			snap.Snapshots = snaps
		}
	} else {
		for name, s := range r.model.Snapshots() {
			snap.Snapshots[name] = &s
		}
	}
	for i := range vols {
		v := &vols[i]
		prev := r.model.SharedVolume(v.Name)
		if prev == nil {
			prev = &state.Volume{}
		}
		snap.Volumes[v.Name] = r.buildVolume(v, prev, rt, up)
	}
	for name, at := range r.touched {
		if at.Before(started) {
			delete(r.touched, name)
			continue
		}
		if cur, ok := r.model.Volume(name); ok {
			snap.Volumes[name] = &cur
		} else {
			delete(snap.Volumes, name)
		}
	}
	r.model.SetAll(snap)
	r.readOnce = true
	quotaOn = quotaVolumes(snap.Volumes)

	// Drop what is kept of volumes gone, and triggers too old to matter.
	now := r.opt.Now()
	for name := range r.runtimeRead {
		if _, ok := snap.Volumes[name]; !ok {
			delete(r.runtimeRead, name)
		}
	}
	for name := range r.startedAt {
		if v, ok := snap.Volumes[name]; !ok || v.Status != "Started" {
			delete(r.startedAt, name)
		}
	}
	for name, at := range r.activity {
		if now.Sub(at) >= r.opt.QuietPeriod {
			delete(r.activity, name)
			delete(r.busySince, name)
		}
	}
	for name, at := range r.hints {
		if now.Sub(at) >= r.opt.StartGrace {
			delete(r.hints, name)
		}
	}
	return nil
}

// readConfiguration reads what a full read reads besides this node's state:
// the volumes, the peers and glusterd itself. An error is noted: that of
// the volumes first, as they are read first when read one after the other.
func (r *Refresher) readConfiguration(ctx context.Context) ([]gluster.Volume, []gluster.Peer, state.Glusterd, error) {
	// The peers and glusterd's identity are read beside the volumes, each a
	// call or a command of its own: at thousands of volumes the volumes'
	// answers take longest, and these need not wait for them.
	type rest struct {
		peers []gluster.Peer
		g     state.Glusterd
		what  string
		err   error
	}
	restc := make(chan rest, 1)
	go func() {
		var x rest
		if x.peers, x.err = cli(r, ctx, r.src.Peers); x.err != nil {
			x.what = "peer status"
		} else if x.g, x.err = r.readGlusterd(ctx); x.err != nil {
			x.what = "glusterd identity"
		}
		restc <- x
	}()
	vols, err := cli(r, ctx, func(ctx context.Context) ([]gluster.Volume, error) { return r.src.VolumeInfo(ctx, "") })
	x := <-restc
	if err != nil {
		r.noteError("volume info", err)
		return nil, nil, state.Glusterd{}, err
	}
	if x.err != nil {
		r.noteError(x.what, x.err)
		return nil, nil, state.Glusterd{}, x.err
	}
	return vols, x.peers, x.g, nil
}

// readGlusterd returns what is known of the local glusterd, reading its
// identity (UUID, op-version, version) when not yet known, when glusterd was
// unreachable, or when asked to. A request to read it stays until it is
// read. An identity field that could not be read keeps its last value and
// is named in LastError, and is read again at the next full read: it must
// not hide the volumes and peers that were read. Only a glusterd that
// cannot be reached, or the end of ctx, fails the read.
func (r *Refresher) readGlusterd(ctx context.Context) (state.Glusterd, error) {
	g := r.model.Glusterd()
	g.LastError = ""
	requested := r.takeIdentityRequest()
	if g.UUID == "" || !g.Running || requested {
		id, err := r.readIdentity(ctx, g)
		if err != nil {
			r.RefreshIdentity()
			if ctx.Err() != nil || errors.Is(err, gluster.ErrNoGlusterd) {
				return g, err
			}
			r.log.Warn("reading glusterd's identity failed", "err", err)
			id.LastError = err.Error()
		}
		g = id
	}
	if r.opt.GlusterdUnit != nil {
		g.LoadState, g.ActiveState = r.opt.GlusterdUnit(ctx)
	}
	return g, nil
}

// readIdentity reads glusterd's UUID, op-version and version into g, each
// on its own: a field that fails keeps its value, and the failures are
// returned together. It stops early when glusterd cannot be reached.
func (r *Refresher) readIdentity(ctx context.Context, g state.Glusterd) (state.Glusterd, error) {
	var failed error
	fail := func(what string, err error) bool {
		err = fmt.Errorf("%s: %w", what, err)
		if failed == nil {
			failed = err
		} else {
			failed = fmt.Errorf("%w; %w", failed, err)
		}
		return ctx.Err() != nil || errors.Is(err, gluster.ErrNoGlusterd)
	}
	if uuid, err := cli(r, ctx, r.src.LocalUUID); err != nil {
		if fail("glusterd UUID", err) {
			return g, failed
		}
	} else {
		g.UUID = uuid
	}
	if op, err := cli(r, ctx, r.src.OpVersion); err != nil {
		if fail("op-version", err) {
			return g, failed
		}
	} else {
		g.OpVersion = op
	}
	if v, err := cli(r, ctx, r.src.Version); err != nil {
		fail("version", err)
	} else {
		g.Version = v
	}
	return g, failed
}

// RefreshIdentity makes the next full read re-read glusterd's UUID,
// op-version and version (after an explicit Reload, or an op-version change).
func (r *Refresher) RefreshIdentity() {
	r.mu.Lock()
	r.identity = true
	r.mu.Unlock()
}

// TriggerIdentity re-reads everything, glusterd's identity included, without
// waiting: glusterd rewrote glusterd.info (after `volume set all
// cluster.op-version`, say).
func (r *Refresher) TriggerIdentity() {
	r.RefreshIdentity()
	r.TriggerAll()
}

func (r *Refresher) takeIdentityRequest() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.identity
	r.identity = false
	return v
}

// readRuntimes reads `volume status` for the started volumes that are
// quiet into rt: all at once when every volume is quiet, else one by one for
// a bounded number.
func (r *Refresher) readRuntimes(ctx context.Context, vols []gluster.Volume, rt *runtimes) {
	var quiet []string
	busy := false
	for i := range vols {
		if vols[i].Status != "Started" {
			continue
		}
		if r.quietFor(vols[i].Name) > 0 {
			busy = true
		} else {
			quiet = append(quiet, vols[i].Name)
		}
	}
	if len(quiet) == 0 {
		return
	}
	if !busy {
		r.mu.Lock()
		due := r.forceRuntime || !r.opt.Now().Before(r.runtimeAllNext)
		r.forceRuntime = false
		r.mu.Unlock()
		if !due {
			return // bricks keep their last known runtime
		}
		began := r.opt.Now()
		st, err := r.status(ctx, "")
		took := r.opt.Now().Sub(began)
		r.mu.Lock()
		r.runtimeAllNext = r.opt.Now().Add(4 * took)
		r.mu.Unlock()
		if err != nil {
			r.runtimeFailed("", err)
			return
		}
		for _, name := range quiet {
			rt.volumes[name] = true
		}
		rt.add(st)
		r.noteRuntime(quiet...)
		return
	}
	r.mu.Lock()
	slices.SortStableFunc(quiet, func(a, b string) int { return r.runtimeRead[a].Compare(r.runtimeRead[b]) })
	r.mu.Unlock()
	for _, name := range quiet[:min(len(quiet), maxRuntimeReadsPerReconcile)] {
		if r.quietFor(name) > 0 {
			continue // busy since this read began
		}
		st, err := r.status(ctx, name)
		if err != nil {
			r.runtimeFailed(name, err)
			continue
		}
		rt.volumes[name] = true
		rt.add(st)
		r.noteRuntime(name)
	}
}

// readLocalRuntime reads this node's bricks with get-state, which takes no
// lock. A failure leaves them as they were.
func (r *Refresher) readLocalRuntime(ctx context.Context) *runtimes {
	rt := newRuntimes()
	ls, err := cli(r, ctx, r.src.LocalState)
	if err != nil {
		r.runtimeFailed("", fmt.Errorf("get-state: %w", err))
		return rt
	}
	rt.local, rt.self = true, ls.UUID
	rt.bricks = make(map[brickKey]*gluster.BrickStatus, len(ls.Bricks))
	rt.heal = make(map[brickKey]uint64, len(ls.Bricks))
	rt.add(ls.Bricks)
	running := false
	for _, name := range ls.Volumes {
		rt.localVolumes[name] = true
	}
	for i := range ls.Tasks {
		t := &ls.Tasks[i]
		rt.tasks[t.Volume] = append(rt.tasks[t.Volume], stateTask(t, ls.UUID))
		running = running || t.Running()
	}
	pending := r.countHeals(ctx, ls, rt)
	switch {
	case running:
		r.pollLocal(r.opt.TaskPollInterval)
	case pending:
		r.pollLocal(r.opt.HealPollInterval)
	}
	return rt
}

// countHeals counts the self-heal entries of this node's bricks of the
// volumes that self-heal, and says whether any has some. A brick whose
// count fails keeps its last count. The bricks are counted on every core:
// each is a system call or more, thousands of them on a large node.
func (r *Refresher) countHeals(ctx context.Context, ls *gluster.LocalState, rt *runtimes) bool {
	r.mu.Lock()
	last := r.healIndex // replaced, never changed: read without the lock
	r.mu.Unlock()
	type count struct {
		index gluster.HealIndex
		ok    bool
	}
	counts := make([]count, len(ls.Bricks))
	fanout.Each(len(ls.Bricks), func(i int) {
		b := &ls.Bricks[i]
		if !ls.Healed[b.Volume] {
			return
		}
		n, err := r.src.PendingHeals(ctx, b.Path, last[brickKey{b.Host, b.Path}])
		if err != nil {
			r.log.Warn("counting self-heal entries failed", "brick", b.Host+":"+b.Path, "err", err)
			return
		}
		counts[i] = count{n, true}
	})
	kept := map[brickKey]gluster.HealIndex{}
	pending := false
	for i, c := range counts {
		if !c.ok {
			continue
		}
		b := &ls.Bricks[i]
		key := brickKey{b.Host, b.Path}
		if c.index.Reusable() {
			kept[key] = c.index
		}
		rt.heal[key] = c.index.Entries
		rt.healVolumes[b.Volume] = true
		pending = pending || c.index.Entries > 0
	}
	r.mu.Lock()
	r.healIndex = kept
	r.mu.Unlock()
	rt.healAt = r.opt.Now()
	return pending
}

// stateTask is what the bus shows of a task.
func stateTask(t *gluster.Task, node string) state.Task {
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	figures := map[string]string{
		"node": node, "files": u(t.Files), "size": t.Data, "lookups": u(t.Lookups),
		"failures": u(t.Failures), "skipped": u(t.Skipped), "time_left": u(t.TimeLeft),
	}
	if t.HaveDetail {
		figures["size"] = u(t.DataBytes)
		figures["runtime"] = strconv.FormatFloat(t.RunTimeSecs, 'f', -1, 64)
	}
	return state.Task{ID: t.ID, Type: t.Type, Status: t.Status, Figures: figures}
}

// pollLocal reads this node's state again after a while: a task runs, or
// entries wait for self-heal, and their end is to be shown even where no
// event or hook tells it.
func (r *Refresher) pollLocal(after time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	due := r.opt.Now().Add(after)
	if r.taskPoll != nil {
		if !due.Before(r.taskPollDue) || !r.taskPoll.Stop() {
			return // one as soon, or firing now
		}
	}
	r.taskPollDue = due
	r.taskPoll = time.AfterFunc(after, func() {
		r.mu.Lock()
		r.taskPoll = nil
		r.mu.Unlock()
		if r.ctx.Err() == nil {
			r.start(keyLocal, 0)
		}
	})
}

// readLocal reads this node's bricks into the volumes that have them.
func (r *Refresher) readLocal(ctx context.Context) error {
	rt := r.readLocalRuntime(ctx)
	if !rt.local {
		return nil
	}
	names := map[string]bool{}
	for _, b := range rt.bricks {
		names[b.Volume] = true
	}
	for name := range rt.tasks {
		names[name] = true
	}
	for name := range rt.healVolumes {
		names[name] = true
	}
	for name := range rt.localVolumes {
		if v, ok := r.model.Volume(name); ok && len(v.Tasks) > 0 {
			names[name] = true // its task is gone (a remove-brick committed)
		}
	}
	defer r.confirmStopped()
	r.mu.Lock() // see readVolume
	defer r.mu.Unlock()
	up := connectedFunc(r.model.Glusterd().UUID, toPointers(r.model.Peers()))
	for name := range names {
		v := r.model.SharedVolume(name)
		if v == nil {
			continue
		}
		// Not marked touched: a full read ending after this one keeps its
		// own reads of every brick; this node's bricks it read too.
		if next := r.applyRuntime(v, rt, up); next != v {
			r.model.SetVolume(name, next)
		}
	}
	return nil
}

// confirmStopped reads again the volumes with a brick found stopped while
// known online: their configuration (a volume being stopped shows it), then
// this node's bricks.
func (r *Refresher) confirmStopped() {
	r.mu.Lock()
	names := slices.Collect(maps.Keys(r.unconfirmed))
	clear(r.unconfirmed)
	r.mu.Unlock()
	for _, name := range names {
		w := wantConfig | wantConfirm
		if r.opt.RemoteBrickStatus {
			w |= wantRuntime
		}
		r.start(volPrefix+name, w)
	}
}

func (r *Refresher) noteRuntime(names ...string) {
	now := r.opt.Now()
	r.mu.Lock()
	for _, n := range names {
		r.runtimeRead[n] = now
	}
	r.mu.Unlock()
}

// runtimeFailed logs a failed `volume status`; the bricks keep their last
// known runtime. A lock held by an admin command is expected now and then.
func (r *Refresher) runtimeFailed(volume string, err error) {
	if errors.Is(err, gluster.ErrLocked) || errors.Is(err, errBusy) {
		r.log.Info("volume status skipped: the volume is busy", "volume", volume)
		return
	}
	r.log.Warn("reading brick status failed", "volume", volume, "err", err)
}

// runtimes is what reads of brick runtime found.
type runtimes struct {
	bricks map[brickKey]*gluster.BrickStatus
	// volumes whose every brick on a reachable node `volume status` read:
	// a brick such a read left out is offline.
	volumes map[string]bool
	local   bool   // this node's bricks were read (get-state)
	self    string // this node's UUID, as get-state gave it
	forget  bool   // bricks not read now become unknown
	// confirmed: the read was made to confirm that bricks stopped, after
	// the volume's configuration was read again.
	confirmed bool
	// localVolumes are the volumes get-state listed, whose tasks it told
	// (none: no task).
	localVolumes map[string]bool
	tasks        map[string][]state.Task // by volume
	// heal: self-heal entries counted per brick; healVolumes, the
	// volumes whose bricks were counted, at healAt.
	heal        map[brickKey]uint64
	healVolumes map[string]bool
	healAt      time.Time
}

func newRuntimes() *runtimes {
	return &runtimes{bricks: map[brickKey]*gluster.BrickStatus{}, volumes: map[string]bool{},
		localVolumes: map[string]bool{}, tasks: map[string][]state.Task{},
		heal: map[brickKey]uint64{}, healVolumes: map[string]bool{}}
}

// add records bricks read; a brick read by `volume status` keeps what it
// has over what get-state tells (the process id, inodes, device).
func (rt *runtimes) add(st []gluster.BrickStatus) {
	for i := range st {
		b := &st[i]
		key := brickKey{b.Host, b.Path}
		if old, ok := rt.bricks[key]; ok && old.Pid > 0 {
			continue
		}
		rt.bricks[key] = b
	}
}

// brickKey names a brick in the maps of a read, without making its name.
type brickKey struct{ host, path string }

// covers says whether a read speaks for the brick, listed or not.
func (rt *runtimes) covers(volume string, b *state.Brick) bool {
	return rt.volumes[volume] || (rt.local && b.HostUUID == rt.self)
}

// readVolume reads one volume's configuration and/or runtime into the model.
func (r *Refresher) readVolume(ctx context.Context, name string, w want) error {
	began := r.opt.Now()
	prev, known := r.model.Volume(name)
	var cfg *gluster.Volume
	if w&wantConfig != 0 {
		vols, err := cli(r, ctx, func(ctx context.Context) ([]gluster.Volume, error) { return r.src.VolumeInfo(ctx, name) })
		switch {
		case errors.Is(err, gluster.ErrNoVolume):
			r.mu.Lock()
			_, known = r.model.Volume(name)
			if known {
				r.model.SetVolume(name, nil)
			}
			r.forgetLocked(name)
			r.mu.Unlock()
			if !known {
				return fmt.Errorf("volume %q: %w", name, gluster.ErrNoVolume)
			}
			return nil
		case err != nil:
			r.noteError("volume info "+name, err)
			return err
		}
		for i := range vols {
			if vols[i].Name == name {
				cfg = &vols[i]
			}
		}
		if cfg == nil {
			return fmt.Errorf("volume info %s: gluster answered without that volume", name)
		}
	} else if !known {
		return nil // gone meanwhile
	}

	started := prev.Status == "Started"
	if cfg != nil {
		started = cfg.Status == "Started"
	}
	rt := newRuntimes()
	if w&wantConfirm != 0 && started {
		rt = r.readLocalRuntime(ctx)
		rt.confirmed = true
	}
	asked := w&wantRuntime != 0 && started && r.opt.RemoteBrickStatus
	busy := asked && r.quietFor(name) > 0
	locked := false
	if asked && !busy {
		st, err := r.status(ctx, name)
		if err != nil {
			r.runtimeFailed(name, err)
			locked = errors.Is(err, gluster.ErrLocked) || errors.Is(err, errBusy)
		} else {
			rt.volumes[name] = true
			rt.add(st)
			r.noteRuntime(name)
		}
	}

	// Build on what the model holds now, not on what it held when this read
	// began: a full read or a peers read may have ended meanwhile, and what
	// they found must not be put back to what was known before them.
	r.mu.Lock()
	prev, known = r.model.Volume(name)
	if cfg == nil && !known {
		r.mu.Unlock()
		return nil // gone meanwhile
	}
	up := connectedFunc(r.model.Glusterd().UUID, toPointers(r.model.Peers()))
	var next *state.Volume
	if cfg != nil {
		next = r.buildVolume(cfg, &prev, rt, up)
	} else {
		next = r.applyRuntime(&prev, rt, up)
	}
	r.model.SetVolume(name, next)
	// A full read that began after this read did is newer than it, one that
	// began before is older, whenever each lands.
	if began.After(r.touched[name]) {
		r.touched[name] = began
	}
	r.mu.Unlock()
	r.confirmStopped()

	if cfg != nil && cfg.SnapshotCount != prev.SnapshotCount {
		r.start(keySnaps, 0) // a snapshot made, deleted or restored
	}
	if cfg != nil {
		r.TriggerQuota(name) // a limit set or removed rewrote quota.conf
	}
	if cfg != nil && started && !rt.confirmed {
		// This node's bricks, lock-free: what the trigger was about may have
		// changed them without changing the configuration (a start force
		// that restarted dead bricks, a reset-brick onto the same path).
		r.start(keyLocal, 0)
	}
	switch {
	case !r.opt.RemoteBrickStatus:
	case locked:
		r.scheduleRuntime(name, r.opt.QuietPeriod)
	case busy:
		// A runtime read asked for while the volume was quiet may get its
		// turn (behind another read of the volume, or merged with a new
		// trigger's) once it is busy again: it waits until it is quiet.
		r.scheduleRuntime(name, 0)
	case cfg != nil && started && !asked:
		// The runtime follows a configuration read once the volume is
		// quiet: what the trigger was about may have changed it without
		// changing the configuration (a start force that restarted dead
		// bricks, a reset-brick onto the same path).
		r.scheduleRuntime(name, 0)
	}
	return nil
}

// forgetLocked drops what is kept about a volume that is gone; r.mu is held.
func (r *Refresher) forgetLocked(name string) {
	delete(r.activity, name)
	delete(r.busySince, name)
	delete(r.runtimeRead, name)
	if t, ok := r.timers[name]; ok {
		t.Stop()
		delete(r.timers, name)
	}
	r.touched[name] = r.opt.Now()
}

// readPeers reads the peers; bricks on a peer that disconnected or came
// back become unknown until read, and volumes with bricks on a peer that
// came back get their runtime read where RemoteBrickStatus allows.
func (r *Refresher) readPeers(ctx context.Context) error {
	peers, err := cli(r, ctx, r.src.Peers)
	if err != nil {
		r.noteError("peer status", err)
		return err
	}
	for _, name := range r.applyPeers(peers) {
		if r.opt.RemoteBrickStatus {
			r.scheduleRuntime(name, 0)
		}
	}
	return nil
}

// applyPeers puts the peers read into the model, with the bricks of peers
// that disconnected or came back unknown, and returns the started volumes
// whose runtime to read.
func (r *Refresher) applyPeers(peers []gluster.Peer) []string {
	r.mu.Lock() // see readVolume
	defer r.mu.Unlock()
	before := r.model.Peers()
	next := map[string]*state.Peer{}
	changed := map[string]bool{} // uuid -> now connected
	for i := range peers {
		p := &peers[i]
		next[p.UUID] = &state.Peer{UUID: p.UUID, Hostname: p.Hostname, Hostnames: p.Hostnames, Connected: p.Connected, State: p.State}
		if old, ok := before[p.UUID]; ok && old.Connected != p.Connected {
			changed[p.UUID] = p.Connected
		}
	}
	r.model.SetPeers(next)
	if len(changed) == 0 {
		return nil
	}
	up := connectedFunc(r.model.Glusterd().UUID, next)
	var runtime []string
	for _, name := range r.model.VolumeNames() {
		v, ok := r.model.Volume(name)
		if !ok || !slices.ContainsFunc(v.Bricks, func(b state.Brick) bool { _, hit := changed[b.HostUUID]; return hit }) {
			continue
		}
		next := v
		next.Bricks = slices.Clone(v.Bricks)
		for i := range next.Bricks {
			if _, hit := changed[next.Bricks[i].HostUUID]; hit {
				next.Bricks[i].SetUnknown()
			}
		}
		r.model.SetVolume(name, r.applyRuntime(&next, newRuntimes(), up))
		if v.Status == "Started" {
			runtime = append(runtime, name)
		}
	}
	return runtime
}

// connectedFunc says whether the node with a UUID is reachable: this node
// always, peers as last read.
func connectedFunc(self string, peers map[string]*state.Peer) func(uuid string) bool {
	return func(uuid string) bool {
		if uuid == self {
			return true
		}
		p, ok := peers[uuid]
		return !ok || p.Connected // a brick on an unknown host: do not guess
	}
}

func toPointers(m map[string]state.Peer) map[string]*state.Peer {
	out := make(map[string]*state.Peer, len(m))
	for k, v := range m {
		out[k] = &v
	}
	return out
}

// buildVolume makes the state volume from gluster's configuration, the
// runtime read now and what was known before; r.mu is held. A volume seen
// started for the first time begins its start grace with its bricks
// unknown.
func (r *Refresher) buildVolume(v *gluster.Volume, prev *state.Volume, rt *runtimes, up func(string) bool) *state.Volume {
	// Neither the model nor the sources change a map of options once
	// made: the source's is shared (the glusterd client keeps it for the
	// volume's next unchanged answer), not copied.
	opts := v.Options
	// Built where the last one was: a volume equal to prev is prev, so a
	// quiet cluster's read allocates nothing per volume.
	out := &r.scratch
	*out = state.Volume{
		Name: v.Name, ID: v.ID, Status: v.Status, Type: v.Type, Transport: v.Transport,
		BrickCount: v.BrickCount, DistCount: v.DistCount, ReplicaCount: v.ReplicaCount,
		ArbiterCount: v.ArbiterCount, DisperseCount: v.DisperseCount, RedundancyCount: v.RedundancyCount,
		SnapshotCount: v.SnapshotCount, Options: opts,
		Bricks: slices.Grow(out.Bricks[:0], len(v.Bricks))[:len(v.Bricks)], Tasks: prev.Tasks,
		HealPendingEntries: prev.HealPendingEntries, SplitBrainEntries: prev.SplitBrainEntries,
		PossiblyHealingEntries: prev.PossiblyHealingEntries, HealInfoTime: prev.HealInfoTime,
	}
	if out.QuotaEnabled() { // turned off, its limits are gone
		out.QuotaLimits = prev.QuotaLimits
	}
	justStarted := v.Status == "Started" && prev.Status != "Started"
	// A volume found started by the daemon's first read may have run for
	// long; one found started later was started now.
	if justStarted && (prev.Name != "" || r.readOnce) {
		r.beginStartGrace(v.Name)
	}
	added := false
	for i, b := range v.Bricks {
		sb := state.Brick{Host: b.Host, Path: b.Path, HostUUID: b.HostUUID, IsArbiter: b.IsArbiter}
		if o := sameBrick(prev.Bricks, i, &sb); o != nil && !justStarted {
			copyRuntime(&sb, o)
		} else {
			sb.SetUnknown() // new, or its volume just started
			added = added || !justStarted
		}
		out.Bricks[i] = sb
	}
	if added && v.Status == "Started" && prev.Name != "" {
		// A brick added to a running volume starts now too.
		r.beginStartGrace(v.Name)
	}
	r.applyRuntimeTo(out, rt, up)
	if prev.Name == "" {
		return ownVolume(out)
	}
	return sameOrOwn(out, prev)
}

// sameBrick returns the brick of bricks with b's name, looked for at place
// i first (bricks seldom move), or nil.
func sameBrick(bricks []state.Brick, i int, b *state.Brick) *state.Brick {
	if i < len(bricks) && bricks[i].Host == b.Host && bricks[i].Path == b.Path {
		return &bricks[i]
	}
	for j := range bricks {
		if bricks[j].Host == b.Host && bricks[j].Path == b.Path {
			return &bricks[j]
		}
	}
	return nil
}

// beginStartGrace notes that a volume was seen started now, and reads this
// node's bricks again when its grace ends, to settle those still starting;
// r.mu is held.
func (r *Refresher) beginStartGrace(name string) {
	r.startedAt[name] = r.opt.Now()
	time.AfterFunc(r.opt.StartGrace, func() {
		if r.ctx.Err() == nil {
			r.start(keyLocal, 0)
			if r.opt.RemoteBrickStatus {
				r.scheduleRuntime(name, 0)
			}
		}
	})
}

// inStartGrace says whether a volume started less than StartGrace ago;
// r.mu is held.
func (r *Refresher) inStartGrace(name string) bool {
	at, ok := r.startedAt[name]
	return ok && r.opt.Now().Sub(at) < r.opt.StartGrace
}

// applyRuntime returns a copy of v with the runtime read applied; r.mu is
// held. Only what was read or told is known: a brick of a volume not
// started is offline; one read gets what was read, except that one read as
// not running while its volume is in its start grace stays as it was; one
// on an unreachable node is unknown; one a read covered without listing it
// is offline (unknown in the start grace); the others keep what was known,
// or become unknown when rt.forget says so. Unknown bricks take what
// glusterd's brick events told of them.
//
// A volume the read leaves as it was is returned itself: built in the
// scratch volume first, so that a read of this node's state, which goes
// through every volume with a brick here, allocates nothing for those.
func (r *Refresher) applyRuntime(v *state.Volume, rt *runtimes, up func(string) bool) *state.Volume {
	out := &r.scratch
	bricks := out.Bricks[:0]
	*out = *v
	out.Bricks = append(bricks, v.Bricks...)
	r.applyRuntimeTo(out, rt, up)
	return sameOrOwn(out, v)
}

// sameOrOwn returns prev when the volume built in the scratch volume equals
// it, else a copy of the built volume of its own.
func sameOrOwn(built, prev *state.Volume) *state.Volume {
	if state.VolumesEqual(built, prev) {
		return prev
	}
	return ownVolume(built)
}

// ownVolume copies a volume built in the scratch volume, bricks included.
func ownVolume(built *state.Volume) *state.Volume {
	v := *built
	v.Bricks = slices.Clone(built.Bricks)
	return &v
}

// applyRuntimeTo is applyRuntime on a volume of the caller's own, bricks
// included.
func (r *Refresher) applyRuntimeTo(out *state.Volume, rt *runtimes, up func(string) bool) {
	v := out
	if rt.localVolumes[v.Name] {
		out.Tasks = rt.tasks[v.Name]
	}
	grace := r.inStartGrace(v.Name)
	healChanged := false
	for i := range out.Bricks {
		b := &out.Bricks[i]
		key := brickKey{b.Host, b.Path}
		st, read := rt.bricks[key]
		switch {
		case out.Status != "Started":
			b.SetOffline()
		case !up(b.HostUUID):
			b.SetUnknown()
		case (read && !st.Online || !read && rt.covers(v.Name, b)) && !grace &&
			b.State() == state.BrickStateOnline && !rt.confirmed && !rt.volumes[v.Name]:
			// A brick known online that get-state finds stopped may belong
			// to a volume being stopped whose status glusterd has not
			// changed yet (get-state takes no lock, so it can see a stop
			// half done; `volume status` cannot): it stays online until the
			// volume's configuration and then its bricks are read again.
			r.unconfirmed[v.Name] = true
		case read && (st.Online || !grace):
			applyStatus(b, st)
		case read:
			// Not running yet, in the start grace: still starting.
		case rt.covers(v.Name, b) && !grace:
			b.SetOffline() // read, and not listed: not running
		case rt.covers(v.Name, b):
			// Not listed yet, in the start grace: still starting.
			if b.State() != state.BrickStateOnline {
				b.SetUnknown()
			}
		case rt.forget:
			b.SetUnknown()
		}
		if n, ok := rt.heal[key]; ok {
			healChanged = healChanged || b.HealPendingEntries != n
			b.HealPendingEntries = n
		}
		if b.RuntimeUnknown && out.Status == "Started" && len(r.hints) > 0 { // a name made per brick otherwise
			if at, ok := r.hints[b.Name()]; ok && r.opt.Now().Sub(at) < r.opt.StartGrace {
				b.RuntimeUnknown, b.Online = false, true
			}
		}
	}
	if rt.healVolumes[v.Name] {
		var sum uint64
		for i := range out.Bricks {
			sum += out.Bricks[i].HealPendingEntries
		}
		// Counts read again and found as they were keep their time: a time
		// new at every read would make every self-healing volume differ
		// from the last read, and the diff of a quiet cluster O(cluster).
		if healChanged || sum != out.HealPendingEntries || out.HealInfoTime.IsZero() {
			out.HealInfoTime = rt.healAt
		}
		out.HealPendingEntries = sum
	}
}

// maxHints bounds the bricks remembered from BRICK_CONNECTED events for
// volumes not yet seen started.
const maxHints = 4096

// NoteBrick records what glusterd's brick events (BRICK_CONNECTED,
// BRICK_DISCONNECTED) tell of a brick, named host:path: a brick of a
// started volume changes at once, and a read confirms it; a connected brick
// of a volume not yet seen started is remembered for its start.
func (r *Refresher) NoteBrick(volume, brick string, connected bool) {
	r.mu.Lock()
	v, ok := r.model.Volume(volume)
	i := -1
	if ok {
		i = slices.IndexFunc(v.Bricks, func(b state.Brick) bool { return b.Name() == brick })
	}
	if i < 0 || v.Status != "Started" {
		// Bounded: the names come from the network; full reads drop old ones.
		if _, kept := r.hints[brick]; connected && (kept || len(r.hints) < maxHints) {
			r.hints[brick] = r.opt.Now()
		}
		r.mu.Unlock()
		r.TriggerNamedVolume(volume) // its start, or a brick added, not read yet
		return
	}
	next := v
	next.Bricks = slices.Clone(v.Bricks)
	b := &next.Bricks[i]
	if connected {
		if b.State() != state.BrickStateOnline {
			b.RuntimeUnknown, b.Online = false, true
		}
	} else {
		b.SetOffline()
	}
	r.model.SetVolume(volume, &next)
	r.touched[volume] = r.opt.Now()
	r.mu.Unlock()
	r.TriggerRuntime(volume)
}

// applyStatus puts what a read found into the brick. get-state does not
// tell the process id: a brick still online on the same port keeps the one
// `volume status` read.
func applyStatus(b *state.Brick, st *gluster.BrickStatus) {
	pid := st.Pid
	if pid <= 0 && b.State() == state.BrickStateOnline && b.Port == st.Port {
		pid = b.Pid
	}
	b.RuntimeUnknown, b.Online, b.Pid, b.Port = false, st.Online, pid, st.Port
	if !st.Online {
		b.Pid, b.Port = -1, 0
	}
	// A figure a read does not carry keeps what an earlier read found.
	if st.SizeTotal > 0 {
		b.SizeTotal, b.SizeFree = st.SizeTotal, st.SizeFree
	}
	if st.InodesTotal > 0 {
		b.InodesTotal, b.InodesFree = st.InodesTotal, st.InodesFree
	}
	if st.Device != "" {
		b.Device, b.FsName, b.MountOptions = st.Device, st.FsName, st.MountOptions
	}
}

func copyRuntime(dst, src *state.Brick) {
	dst.RuntimeUnknown, dst.Online, dst.Pid, dst.Port = src.RuntimeUnknown, src.Online, src.Pid, src.Port
	dst.SizeTotal, dst.SizeFree, dst.InodesTotal, dst.InodesFree = src.SizeTotal, src.SizeFree, src.InodesTotal, src.InodesFree
	dst.Device, dst.FsName, dst.MountOptions = src.Device, src.FsName, src.MountOptions
	dst.HealPendingEntries, dst.SplitBrainEntries = src.HealPendingEntries, src.SplitBrainEntries
}

// TriggerSnapshots re-reads the volume snapshots without waiting (after a
// SNAPSHOT_* native event).
func (r *Refresher) TriggerSnapshots() { r.start(keySnaps, 0) }

// readSnapshots reads the volume snapshots into the model; a failed read
// leaves them as they were.
func (r *Refresher) readSnapshots(ctx context.Context) error {
	snaps, ok := r.snapshots(ctx)
	if !ok {
		return nil
	}
	r.mu.Lock() // see readVolume
	defer r.mu.Unlock()
	r.model.SetSnapshots(snaps)
	return nil
}

// snapshots reads the volume snapshots; ok is false when the read failed
// and what is known must stay. A node without LVM tools has none.
func (r *Refresher) snapshots(ctx context.Context) (map[string]*state.VolumeSnapshot, bool) {
	list, err := cli(r, ctx, r.src.Snapshots)
	if errors.Is(err, gluster.ErrSnapshotsUnavailable) {
		r.log.Debug("no snapshots: gluster disabled them on this node", "err", err)
		return map[string]*state.VolumeSnapshot{}, true
	}
	if err != nil {
		r.log.Warn("reading snapshots failed; the last known stay", "err", err)
		return nil, false
	}
	out := make(map[string]*state.VolumeSnapshot, len(list))
	for _, s := range list {
		out[s.Name] = &state.VolumeSnapshot{Name: s.Name, ID: s.ID, OriginVolume: s.OriginVolume,
			CreateTime: s.CreateTime, Status: s.Status, Description: s.Description}
	}
	return out, true
}
