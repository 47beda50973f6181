package refresh

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

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
	vols, err := cli(r, ctx, func(ctx context.Context) ([]gluster.Volume, error) { return r.src.VolumeInfo(ctx, "") })
	if err != nil {
		r.noteError("volume info", err)
		return err
	}
	peers, err := cli(r, ctx, r.src.Peers)
	if err != nil {
		r.noteError("peer status", err)
		return err
	}
	g, err := r.readGlusterd(ctx)
	if err != nil {
		r.noteError("glusterd identity", err)
		return err
	}
	runtime, fresh := r.readRuntimes(ctx, vols)

	snap := state.NewSnapshot()
	for i := range peers {
		p := &peers[i]
		snap.Peers[p.UUID] = &state.Peer{UUID: p.UUID, Hostname: p.Hostname, Hostnames: p.Hostnames, Connected: p.Connected, State: p.State}
	}
	up := connectedFunc(g.UUID, snap.Peers)
	for i := range vols {
		v := &vols[i]
		prev, _ := r.model.Volume(v.Name)
		snap.Volumes[v.Name] = buildVolume(v, &prev, runtime, fresh[v.Name], up)
	}
	g.Running, g.LastRefresh = true, r.opt.Now() // g.LastError is readGlusterd's
	snap.Glusterd = g

	// A targeted read that reached the model after this read began is
	// newer than what this read saw: keep it. r.mu is held until the
	// snapshot is in, so that no targeted read lands in between unseen.
	r.mu.Lock()
	defer r.mu.Unlock()
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

	// Drop what is kept of volumes gone, and triggers too old to matter.
	now := r.opt.Now()
	for name := range r.runtimeRead {
		if _, ok := snap.Volumes[name]; !ok {
			delete(r.runtimeRead, name)
		}
	}
	for name, at := range r.activity {
		if now.Sub(at) >= r.opt.QuietPeriod {
			delete(r.activity, name)
		}
	}
	return nil
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
// quiet: all at once when every volume is quiet, else one by one for a
// bounded number. fresh says which volumes' runtime was read.
func (r *Refresher) readRuntimes(ctx context.Context, vols []gluster.Volume) (map[string]gluster.BrickStatus, map[string]bool) {
	runtime := map[string]gluster.BrickStatus{}
	fresh := map[string]bool{}
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
		return runtime, fresh
	}
	if !busy {
		r.mu.Lock()
		due := r.forceRuntime || !r.opt.Now().Before(r.runtimeAllNext)
		r.forceRuntime = false
		r.mu.Unlock()
		if !due {
			return runtime, fresh // bricks keep their last known runtime
		}
		began := r.opt.Now()
		st, err := r.status(ctx, "")
		took := r.opt.Now().Sub(began)
		r.mu.Lock()
		r.runtimeAllNext = r.opt.Now().Add(4 * took)
		r.mu.Unlock()
		if err != nil {
			r.runtimeFailed("", err)
			return runtime, fresh
		}
		for _, name := range quiet {
			fresh[name] = true
		}
		indexRuntime(runtime, st)
		r.noteRuntime(quiet...)
		return runtime, fresh
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
		fresh[name] = true
		indexRuntime(runtime, st)
		r.noteRuntime(name)
	}
	return runtime, fresh
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

func indexRuntime(into map[string]gluster.BrickStatus, st []gluster.BrickStatus) {
	for _, b := range st {
		into[b.Host+":"+b.Path] = b
	}
}

// readVolume reads one volume's configuration and/or runtime into the model.
func (r *Refresher) readVolume(ctx context.Context, name string, w want) error {
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
	runtime := map[string]gluster.BrickStatus{}
	asked := w&wantRuntime != 0 && started
	busy := asked && r.quietFor(name) > 0
	fresh, locked := false, false
	if asked && !busy {
		st, err := r.status(ctx, name)
		if err != nil {
			r.runtimeFailed(name, err)
			locked = errors.Is(err, gluster.ErrLocked) || errors.Is(err, errBusy)
		} else {
			fresh = true
			indexRuntime(runtime, st)
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
		next = buildVolume(cfg, &prev, runtime, fresh, up)
	} else {
		next = withRuntime(&prev, runtime, fresh, up)
	}
	r.model.SetVolume(name, next)
	r.touched[name] = r.opt.Now()
	r.mu.Unlock()

	switch {
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
	delete(r.runtimeRead, name)
	if t, ok := r.timers[name]; ok {
		t.Stop()
		delete(r.timers, name)
	}
	r.touched[name] = r.opt.Now()
}

// readPeers reads the peers; bricks on a peer that disconnected go offline
// at once, and volumes with bricks on a peer that came back get their
// runtime read.
func (r *Refresher) readPeers(ctx context.Context) error {
	peers, err := cli(r, ctx, r.src.Peers)
	if err != nil {
		r.noteError("peer status", err)
		return err
	}
	for _, name := range r.applyPeers(peers) {
		r.scheduleRuntime(name, 0)
	}
	return nil
}

// applyPeers puts the peers read into the model, with the bricks of peers
// that disconnected offline, and returns the started volumes whose runtime
// to read because a peer of theirs disconnected or came back.
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
		r.model.SetVolume(name, withRuntime(&v, nil, false, up))
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
// runtime read now (if fresh) and what was known before.
func buildVolume(v *gluster.Volume, prev *state.Volume, runtime map[string]gluster.BrickStatus, fresh bool, up func(string) bool) *state.Volume {
	out := &state.Volume{
		Name: v.Name, ID: v.ID, Status: v.Status, Type: v.Type, Transport: v.Transport,
		BrickCount: v.BrickCount, DistCount: v.DistCount, ReplicaCount: v.ReplicaCount,
		ArbiterCount: v.ArbiterCount, DisperseCount: v.DisperseCount, RedundancyCount: v.RedundancyCount,
		SnapshotCount: v.SnapshotCount, Options: maps.Clone(v.Options),
		Bricks: make([]state.Brick, len(v.Bricks)),
	}
	old := map[string]*state.Brick{}
	for i := range prev.Bricks {
		old[prev.Bricks[i].Name()] = &prev.Bricks[i]
	}
	for i, b := range v.Bricks {
		sb := state.Brick{Host: b.Host, Path: b.Path, HostUUID: b.HostUUID, IsArbiter: b.IsArbiter, Pid: -1}
		if o, ok := old[sb.Name()]; ok {
			copyRuntime(&sb, o)
		}
		out.Bricks[i] = sb
	}
	return withRuntime(out, runtime, fresh, up)
}

// withRuntime returns a copy of v with the runtime applied: fresh status
// where read, offline where a fresh read left a brick out or its host is
// disconnected or the volume is not started, else what was known.
func withRuntime(v *state.Volume, runtime map[string]gluster.BrickStatus, fresh bool, up func(string) bool) *state.Volume {
	out := *v
	out.Bricks = slices.Clone(v.Bricks)
	for i := range out.Bricks {
		b := &out.Bricks[i]
		st, ok := runtime[b.Name()]
		switch {
		case out.Status != "Started":
			setOffline(b)
		case fresh && ok:
			applyStatus(b, &st)
		case fresh || !up(b.HostUUID):
			setOffline(b)
		}
	}
	return &out
}

func setOffline(b *state.Brick) { b.Online, b.Pid, b.Port = false, -1, 0 }

func applyStatus(b *state.Brick, st *gluster.BrickStatus) {
	b.Online, b.Pid, b.Port = st.Online, st.Pid, st.Port
	if !st.Online {
		b.Pid, b.Port = -1, 0
	}
	if st.SizeTotal > 0 {
		b.SizeTotal, b.SizeFree, b.InodesTotal, b.InodesFree = st.SizeTotal, st.SizeFree, st.InodesTotal, st.InodesFree
	}
	if st.Device != "" {
		b.Device, b.FsName, b.MountOptions = st.Device, st.FsName, st.MountOptions
	}
}

func copyRuntime(dst, src *state.Brick) {
	dst.Online, dst.Pid, dst.Port = src.Online, src.Pid, src.Port
	dst.SizeTotal, dst.SizeFree, dst.InodesTotal, dst.InodesFree = src.SizeTotal, src.SizeFree, src.InodesTotal, src.InodesFree
	dst.Device, dst.FsName, dst.MountOptions = src.Device, src.FsName, src.MountOptions
}
