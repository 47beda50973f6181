package state

// Volume health values.
const (
	HealthUp       = "up"       // every brick online
	HealthDegraded = "degraded" // some bricks down, every replica or disperse set still has quorum
	HealthDown     = "down"     // at least one set lost quorum: some or all data is unavailable
	HealthStopped  = "stopped"  // the volume is not started
)

// OnlineBrickCount counts the bricks that are online.
func (v *Volume) OnlineBrickCount() uint32 {
	var n uint32
	for i := range v.Bricks {
		if v.Bricks[i].Online {
			n++
		}
	}
	return n
}

// Health judges the volume from its bricks. Bricks form sets of
// ReplicaCount (replicate, arbiter) or DisperseCount (disperse) consecutive
// bricks, or sets of one (pure distribute). A replica set keeps quorum as
// GlusterFS's default client quorum ("auto") does: more than half of its
// bricks up, or exactly half including the first one. A disperse set keeps
// quorum while at most RedundancyCount bricks are down.
func (v *Volume) Health() string {
	if v.Status != "Started" {
		return HealthStopped
	}
	if len(v.Bricks) == 0 {
		return HealthDown
	}
	size, disperse := 1, false
	switch {
	case v.DisperseCount > 1:
		size, disperse = int(v.DisperseCount), true
	case v.ReplicaCount > 1:
		size = int(v.ReplicaCount)
	}
	allUp := true
	for start := 0; start < len(v.Bricks); start += size {
		end := min(start+size, len(v.Bricks))
		set := v.Bricks[start:end]
		up := 0
		for i := range set {
			if set[i].Online {
				up++
			}
		}
		if up < len(set) {
			allUp = false
		}
		if !setHasQuorum(set, up, disperse, int(v.RedundancyCount)) {
			return HealthDown
		}
	}
	if allUp {
		return HealthUp
	}
	return HealthDegraded
}

func setHasQuorum(set []Brick, up int, disperse bool, redundancy int) bool {
	n := len(set)
	switch {
	case disperse:
		return n-up <= redundancy
	case n == 1:
		return up == 1
	case 2*up > n:
		return true
	default:
		return 2*up == n && set[0].Online
	}
}
