package refresh

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/state"
)

// healIndexSource counts real index directories, one per brick of this
// node, and records the last count each call was handed.
type healIndexSource struct {
	*fakeSource
	dir    string
	mu     sync.Mutex
	handed map[string][]gluster.HealIndex // brick path -> what each call was handed
}

func (s *healIndexSource) index(brickPath string) string {
	return filepath.Join(s.dir, strings.ReplaceAll(brickPath, "/", "_"))
}

// LocalState is the fake's, with every volume self-healing.
func (s *healIndexSource) LocalState(ctx context.Context) (*gluster.LocalState, error) {
	st, err := s.fakeSource.LocalState(ctx)
	if err != nil {
		return nil, err
	}
	st.Healed = map[string]bool{}
	for _, b := range st.Bricks {
		st.Healed[b.Volume] = true
	}
	return st, nil
}

func (s *healIndexSource) PendingHeals(ctx context.Context, brickPath string, last gluster.HealIndex) (gluster.HealIndex, error) {
	s.mu.Lock()
	s.handed[brickPath] = append(s.handed[brickPath], last)
	s.mu.Unlock()
	return gluster.CountHealIndexSince(ctx, s.index(brickPath), last)
}

// A full read hands each brick's last count back to the source, which
// returns it for an index directory that has not changed: the brick's
// entries stay what they were without a read of the directory.
func TestHealCountsAreHandedBack(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &healIndexSource{fakeSource: newFakeSource(t), dir: t.TempDir(), handed: map[string][]gluster.HealIndex{}}
	local, err := src.LocalState(ctx)
	if err != nil || len(local.Bricks) == 0 {
		t.Fatalf("local state: %d bricks, %v", len(local.Bricks), err)
	}
	brick := local.Bricks[0]
	for _, b := range local.Bricks {
		if err := os.Mkdir(src.index(b.Path), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, gfid := range []string{"00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"} {
		if err := os.WriteFile(filepath.Join(src.index(brick.Path), gfid), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A count is handed back only once its directory has been unchanged
	// for a while (gluster.HealIndex): wait until one would be.
	for {
		n, err := gluster.CountHealIndexSince(ctx, src.index(brick.Path), gluster.HealIndex{})
		if err != nil {
			t.Fatal(err)
		}
		if n.Reusable() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	model := state.NewModel(&recorder{})
	r := New(ctx, src, model, Options{Logger: slog.New(slog.DiscardHandler)})
	for range 2 {
		if err := r.All(ctx); err != nil {
			t.Fatal(err)
		}
	}
	src.mu.Lock()
	handed := src.handed[brick.Path]
	src.mu.Unlock()
	if len(handed) < 2 || handed[0] != (gluster.HealIndex{}) || !handed[len(handed)-1].Reusable() || handed[len(handed)-1].Entries != 2 {
		t.Fatalf("counts handed to the brick's reads: %+v; want none, then the first read's 2 entries", handed)
	}
	v, ok := model.Volume(brick.Volume)
	if !ok {
		t.Fatalf("volume %s not in the model", brick.Volume)
	}
	for _, b := range v.Bricks {
		if b.Host == brick.Host && b.Path == brick.Path && b.HealPendingEntries != 2 {
			t.Errorf("brick %s: %d entries pending, want 2", b.Name(), b.HealPendingEntries)
		}
	}
}
