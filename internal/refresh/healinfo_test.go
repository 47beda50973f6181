package refresh

import (
	"errors"
	"testing"
	"time"
)

// heal info summary runs once at a time per volume, requests meanwhile make
// one more run, a failed run keeps the last counts, and names the model
// does not know (or volumes that do not self-heal) cost nothing.
func TestHealInfo(t *testing.T) {
	e := newEnv(t, Options{SplitBrainRecheck: time.Hour})
	e.all()
	h := e.src.hold(healCall("rep3"))
	e.r.TriggerHealInfo("rep3")
	entered(t, h, "heal info rep3")
	e.r.TriggerHealInfo("rep3")
	e.r.TriggerHealInfo("rep3")
	release(t, h, "heal info rep3")
	entered(t, h, "the one more heal info rep3")
	release(t, h, "the one more heal info rep3")
	e.src.unhold(healCall("rep3"))
	idle := func() bool {
		e.r.mu.Lock()
		defer e.r.mu.Unlock()
		_, running := e.r.healInfo["rep3"]
		return !running
	}
	waitFor(t, "both runs to end", idle)
	v, _ := e.model.Volume("rep3")
	if v.SplitBrainEntries != 3 || v.PossiblyHealingEntries != 3 || v.Bricks[0].SplitBrainEntries != 1 || v.HealInfoTime.IsZero() {
		t.Errorf("rep3: possibly healing %d, brick split-brain %d, read at %v",
			v.PossiblyHealingEntries, v.Bricks[0].SplitBrainEntries, v.HealInfoTime)
	}
	if n := e.src.count(healCall("rep3")); n != 2 {
		t.Errorf("heal info rep3 ran %d times, want 2", n)
	}
	if e.src.maxRun > 4 {
		t.Errorf("%d calls at once", e.src.maxRun)
	}

	// A failed run keeps what was read, and its time.
	e.src.fail(healCall("rep3"), errors.New("glfsheal: killed after timeout"))
	e.r.TriggerHealInfo("rep3")
	waitFor(t, "the failed run", func() bool { return e.src.count(healCall("rep3")) == 3 })
	waitFor(t, "the run to end", idle)
	if after, _ := e.model.Volume("rep3"); after.SplitBrainEntries != 3 || !after.HealInfoTime.Equal(v.HealInfoTime) {
		t.Errorf("after a failed run: %d read at %v, want %d at %v", after.SplitBrainEntries, after.HealInfoTime, 3, v.HealInfoTime)
	}

	e.r.TriggerHealInfo("no-such-volume")
	e.r.TriggerHealInfo("dist") // does not self-heal
	e.r.TriggerHealInfo("stopped")
	for _, name := range []string{"no-such-volume", "dist", "stopped"} {
		if n := e.src.count(healCall(name)); n != 0 {
			t.Errorf("heal info %s ran %d times", name, n)
		}
	}
}

// A poll of this node's state due sooner (a task started) replaces one due
// later (entries waiting for self-heal).
func TestPollLocalSoonerWins(t *testing.T) {
	e := newEnv(t, Options{})
	e.all()
	before := e.src.count(localStateCall)
	e.r.pollLocal(time.Hour)
	e.r.pollLocal(time.Millisecond)
	waitFor(t, "the sooner poll", func() bool { return e.src.count(localStateCall) > before })
}
