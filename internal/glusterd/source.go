package glusterd

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
)

// DefaultRetry is how long Source reads through the CLI after the socket
// failed before it tries the socket again.
const DefaultRetry = 30 * time.Second

// Source reads the cluster for the refresher: the lock-free reads (volume
// info, peers, glusterd's UUID, op-version and working directory, this
// node's state from get-state) over
// glusterd's socket, everything else, and every read the socket cannot
// answer, through the gluster CLI. It logs which way it reads, and why,
// when that changes.
type Source struct {
	RPC *Client // nil reads everything through the CLI
	CLI *gluster.CLI
	Log *slog.Logger
	// Retry is how long to read through the CLI after the socket could not
	// be reached; DefaultRetry when zero.
	Retry time.Duration
	// Now is the clock; tests replace it.
	Now func() time.Time

	mu          sync.Mutex
	logged      string    // the way last logged: "", "rpc" or "cli"
	cliUntil    time.Time // the socket failed: the CLI until then
	misreadOps  map[string]bool
	releaseOnce sync.Once
}

// VolumeInfo implements refresh.Source.
func (s *Source) VolumeInfo(ctx context.Context, volume string) ([]gluster.Volume, error) {
	return via(s, ctx, "volume info", func(ctx context.Context) ([]gluster.Volume, error) {
		return s.RPC.VolumeInfo(ctx, volume)
	}, func(ctx context.Context) ([]gluster.Volume, error) {
		return s.CLI.VolumeInfo(ctx, volume)
	})
}

// VolumeStatusDetail implements refresh.Source through the CLI: glusterd
// answers it only after asking the bricks, under the volume's lock, which
// the socket would take just the same.
func (s *Source) VolumeStatusDetail(ctx context.Context, volume string) ([]gluster.BrickStatus, error) {
	return s.CLI.VolumeStatusDetail(ctx, volume)
}

// LocalState implements refresh.Source with get-state, which takes no lock.
func (s *Source) LocalState(ctx context.Context) (*gluster.LocalState, error) {
	return via(s, ctx, "get-state", s.rpcLocalState, s.CLI.LocalState)
}

// rpcLocalState is get-state over the socket, with the tasks' details from
// glusterd's working directory as the CLI's path adds them.
func (s *Source) rpcLocalState(ctx context.Context) (*gluster.LocalState, error) {
	st, err := s.RPC.LocalState(ctx)
	if err == nil && len(st.Tasks) > 0 {
		if wd, err := s.RPC.Workdir(ctx); err == nil {
			gluster.AddTaskDetails(st, wd)
		}
	}
	return st, err
}

// PendingHeals implements refresh.Source: a count of a local brick's heal
// index, no glusterd call at all.
func (s *Source) PendingHeals(ctx context.Context, brickPath string, last gluster.HealIndex) (gluster.HealIndex, error) {
	return s.CLI.PendingHeals(ctx, brickPath, last)
}

// HealSummary implements refresh.Source through glfsheal, a client of the
// volume rather than of glusterd's CLI program.
func (s *Source) HealSummary(ctx context.Context, volume string) ([]gluster.HealBrick, error) {
	return s.CLI.HealSummary(ctx, volume)
}

// Snapshots implements refresh.Source through the CLI's `snapshot info`,
// which takes no lock; reading it over the socket is not done yet.
func (s *Source) Snapshots(ctx context.Context) ([]gluster.Snapshot, error) {
	return s.CLI.Snapshots(ctx)
}

// Peers implements refresh.Source.
func (s *Source) Peers(ctx context.Context) ([]gluster.Peer, error) {
	return via(s, ctx, "peer status", s.rpcPeers, s.CLI.Peers)
}

func (s *Source) rpcPeers(ctx context.Context) ([]gluster.Peer, error) { return s.RPC.Peers(ctx) }

// LocalUUID implements refresh.Source.
func (s *Source) LocalUUID(ctx context.Context) (string, error) {
	return via(s, ctx, "uuid get", func(ctx context.Context) (string, error) { return s.RPC.LocalUUID(ctx) }, s.CLI.LocalUUID)
}

// OpVersion implements refresh.Source.
func (s *Source) OpVersion(ctx context.Context) (uint32, error) {
	return via(s, ctx, "op-version", func(ctx context.Context) (uint32, error) { return s.RPC.OpVersion(ctx) }, s.CLI.OpVersion)
}

// Version implements refresh.Source: the release of the glusterd on the
// socket (Client.Release), else the CLI's `--version`. A release that
// cannot be read that way (no root, glusterd in another pid namespace)
// says nothing of the socket's other reads, which stay on it.
func (s *Source) Version(ctx context.Context) (string, error) {
	if s.RPC != nil && s.socketFirst() {
		v, err := s.RPC.Release(ctx)
		if err == nil {
			return v, nil
		}
		s.releaseOnce.Do(func() {
			s.log().Info("glusterd's release is read with gluster --version", "reason", err)
		})
	}
	return s.CLI.Version(ctx)
}

// Workdir returns glusterd's working directory.
func (s *Source) Workdir(ctx context.Context) (string, error) {
	return via(s, ctx, "getwd", func(ctx context.Context) (string, error) { return s.RPC.Workdir(ctx) }, s.CLI.Workdir)
}

// via asks the socket, unless it could not be reached a short while ago,
// and the CLI when the socket cannot answer. An answer glusterd gave,
// failures included (no such volume, ...), is final; so are the caller's
// context ending and glusterd not answering in time.
func via[T any](s *Source, ctx context.Context, op string, rpc, cli func(context.Context) (T, error)) (T, error) {
	if !s.socketFirst() {
		return cli(ctx)
	}
	v, err := rpc(ctx)
	if ctx.Err() != nil {
		return v, err
	}
	var answer *gluster.CLIError
	if err == nil || errors.As(err, &answer) {
		s.note("rpc", op, nil)
		return v, err
	}
	s.note("cli", op, err)
	if errors.Is(err, context.DeadlineExceeded) {
		// glusterd took the connection and did not answer in time: the
		// CLI would wait for it just the same.
		return v, err
	}
	return cli(ctx)
}

func (s *Source) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

func (s *Source) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// socketFirst reports whether to ask the socket now.
func (s *Source) socketFirst() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.RPC == nil {
		if s.logged == "" {
			s.logged = "cli"
			s.log().Info("reading glusterd through the gluster CLI: no glusterd socket is configured")
		}
		return false
	}
	return !s.now().Before(s.cliUntil)
}

// note records how a read went: way "rpc" when the socket answered, "cli"
// when the read falls back because of err.
func (s *Source) note(way, op string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if way == "rpc" {
		switch s.logged {
		case "":
			s.log().Info("reading glusterd over its socket", "socket", s.RPC.socket())
		case "cli":
			s.log().Info("reading glusterd over its socket again", "socket", s.RPC.socket())
		}
		s.logged = "rpc"
		return
	}
	if errors.Is(err, ErrNotUnderstood) {
		// The socket works; this answer was not understood. Only this read
		// falls back, and each kind of read says so once.
		if !s.misreadOps[op] {
			if s.misreadOps == nil {
				s.misreadOps = map[string]bool{}
			}
			s.misreadOps[op] = true
			s.log().Warn("an answer on glusterd's socket was not understood; reading it through the gluster CLI",
				"op", op, "socket", s.RPC.socket(), "err", err)
		}
		return
	}
	retry := s.Retry
	if retry <= 0 {
		retry = DefaultRetry
	}
	s.cliUntil = s.now().Add(retry)
	if s.logged != "cli" {
		s.log().Warn("glusterd's socket cannot be used; reading through the gluster CLI",
			"socket", s.RPC.socket(), "err", err, "retry_in", retry)
		s.logged = "cli"
	}
}

// GeoRepStatus implements refresh.GeoRepSource through the CLI's `volume
// geo-replication status` without a primary volume, which takes no volume
// lock.
func (s *Source) GeoRepStatus(ctx context.Context) ([]gluster.GeoRepSession, error) {
	return s.CLI.GeoRepStatus(ctx)
}
