package refresh

import (
	"context"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
)

// TriggerHealInfo reads a volume's split-brain and possibly-healing counts
// with `heal info summary` (glfsheal), without waiting: after an
// AFR_SPLIT_BRAIN event names the volume, and again SplitBrainRecheck after
// a read that found entries in split-brain, until none are left. It takes
// no glusterd lock but walks every entry, so it is never run for a volume
// the model does not know (the name may come from the network), never twice
// at once for one volume (requests meanwhile make one more run after it),
// and is cut off at HealInfoTimeout; a failed run keeps the last counts and
// their time.
func (r *Refresher) TriggerHealInfo(name string) {
	v, ok := r.model.Volume(name)
	if !ok || v.Status != "Started" || (v.ReplicaCount <= 1 && v.DisperseCount == 0) {
		return
	}
	r.mu.Lock()
	if _, running := r.healInfo[name]; running {
		r.healInfo[name] = true
		r.mu.Unlock()
		return
	}
	r.healInfo[name] = false
	r.mu.Unlock()
	go r.runHealInfo(name)
}

func (r *Refresher) runHealInfo(name string) {
	for {
		split := r.readHealInfo(name)
		r.mu.Lock()
		again := r.healInfo[name]
		if !again || r.ctx.Err() != nil {
			delete(r.healInfo, name)
			r.mu.Unlock()
			if split && r.ctx.Err() == nil {
				time.AfterFunc(r.opt.SplitBrainRecheck, func() {
					if r.ctx.Err() == nil {
						r.TriggerHealInfo(name)
					}
				})
			}
			return
		}
		r.healInfo[name] = false
		r.mu.Unlock()
	}
}

// readHealInfo runs one `heal info summary` of a volume into the model and
// says whether it found entries in split-brain.
func (r *Refresher) readHealInfo(name string) bool {
	ctx, cancel := context.WithTimeout(r.ctx, r.opt.HealInfoTimeout)
	defer cancel()
	bricks, err := cli(r, ctx, func(ctx context.Context) ([]gluster.HealBrick, error) { return r.src.HealSummary(ctx, name) })
	if err != nil {
		if r.ctx.Err() == nil {
			r.log.Warn("heal info summary failed; the last split-brain counts stay", "volume", name, "err", err)
		}
		return false
	}
	byName := make(map[string]*gluster.HealBrick, len(bricks))
	for i := range bricks {
		byName[bricks[i].Host+":"+bricks[i].Path] = &bricks[i]
	}
	r.mu.Lock() // see readVolume
	defer r.mu.Unlock()
	v, ok := r.model.Volume(name)
	if !ok {
		return false
	}
	next := v
	next.Bricks = append(next.Bricks[:0:0], v.Bricks...)
	var split, healing uint64
	for i := range next.Bricks {
		b := &next.Bricks[i]
		hb, ok := byName[b.Name()]
		if !ok || !hb.Connected {
			continue // not read: its last count stays
		}
		b.SplitBrainEntries = hb.SplitBrain
		split += hb.SplitBrain
		healing += hb.PossiblyHealing
	}
	for i := range next.Bricks {
		if hb, ok := byName[next.Bricks[i].Name()]; !ok || !hb.Connected {
			split += next.Bricks[i].SplitBrainEntries
		}
	}
	next.SplitBrainEntries, next.PossiblyHealingEntries, next.HealInfoTime = split, healing, r.opt.Now()
	r.model.SetVolume(name, &next)
	r.touched[name] = r.opt.Now()
	return split > 0
}
