package state

// Volume health values.
const (
	HealthUp       = "up"       // every brick online
	HealthDegraded = "degraded" // some bricks down, every replica or disperse set still has quorum
	HealthDown     = "down"     // at least one set lost quorum: some or all data is unavailable
	HealthStopped  = "stopped"  // the volume is not started
	// HealthUnknown: started, no brick known to be down, but some bricks'
	// runtime is not known yet (just started, node unreachable).
	HealthUnknown = "unknown"
)

// OnlineBrickCount counts the bricks that are known online.
func (v *Volume) OnlineBrickCount() uint32 {
	var n uint32
	for i := range v.Bricks {
		if v.Bricks[i].State() == BrickStateOnline {
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
//
// Bricks whose runtime is unknown are never counted as down: a set is down
// only if it lacks quorum even with them up, and degraded only when a brick
// is known down. With no brick known down and some unknown, the health is
// unknown.
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
	someDown, someUnknown := false, false
	for start := 0; start < len(v.Bricks); start += size {
		end := min(start+size, len(v.Bricks))
		set := v.Bricks[start:end]
		notDown := 0 // online or unknown
		for i := range set {
			switch set[i].State() {
			case BrickStateOffline:
				someDown = true
			case BrickStateUnknown:
				someUnknown = true
				notDown++
			default:
				notDown++
			}
		}
		firstUp := set[0].State() != BrickStateOffline
		if !setHasQuorum(len(set), notDown, firstUp, disperse, int(v.RedundancyCount)) {
			return HealthDown
		}
	}
	switch {
	case someDown:
		return HealthDegraded
	case someUnknown:
		return HealthUnknown
	}
	return HealthUp
}

// setHasQuorum says whether a set of n bricks with up of them up (and its
// first one up or not) keeps quorum.
func setHasQuorum(n, up int, firstUp, disperse bool, redundancy int) bool {
	switch {
	case disperse:
		return n-up <= redundancy
	case n == 1:
		return up == 1
	case 2*up > n:
		return true
	default:
		return 2*up == n && firstUp
	}
}
