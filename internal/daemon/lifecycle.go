package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"golang.org/x/sync/errgroup"
)

// component is one part of the daemon. Components start in order and stop
// in reverse order, each stop waiting for the component's work to end, so a
// part never outlives what it uses (the journal writer outlives the
// listener that feeds it; the bus outlives the writer whose events it
// signals). Any of the functions may be nil.
type component struct {
	name string
	// start does what must succeed before the next component starts
	// (binding a socket, connecting to the bus). ctx ends when the daemon
	// is told to stop; start must not leave goroutines behind: long work
	// belongs in run.
	start func(ctx context.Context) error
	// run is the component's work, on a goroutine of its own, until ctx
	// ends; an error stops the whole daemon.
	run func(ctx context.Context) error
	// stop runs once run has returned: closing, flushing.
	stop func()
}

// lifecycle starts components and stops them in reverse order. Their runs
// form an errgroup: the first error stops the daemon and is what Run
// returns.
type lifecycle struct {
	log     *slog.Logger
	base    context.Context // the components' contexts derive from it, uncancelled
	group   *errgroup.Group
	failed  context.Context // ends when a run returns an error
	started []*started
}

type started struct {
	component
	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned
}

func newLifecycle(ctx context.Context, log *slog.Logger) *lifecycle {
	base := context.WithoutCancel(ctx)
	g, failed := errgroup.WithContext(base)
	return &lifecycle{log: log, base: base, group: g, failed: failed}
}

// start starts the components in order. When one fails to start, it
// returns its error: the caller stops those started. When ctx ends first,
// it starts no more and returns nil.
func (l *lifecycle) start(ctx context.Context, cs ...component) error {
	for _, c := range cs {
		if ctx.Err() != nil {
			return nil
		}
		if c.start != nil {
			if err := c.start(ctx); err != nil {
				return err
			}
		}
		cctx, cancel := context.WithCancel(l.base)
		s := &started{component: c, cancel: cancel, done: make(chan struct{})}
		l.started = append(l.started, s)
		if c.run == nil {
			close(s.done)
			continue
		}
		l.group.Go(func() error {
			defer close(s.done)
			if err := c.run(cctx); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			return nil
		})
	}
	return nil
}

// wait returns when ctx ends or a component's run fails.
func (l *lifecycle) wait(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-l.failed.Done():
	}
}

// stop stops the started components in reverse order, each after its run
// has returned, and returns the first error a run returned.
func (l *lifecycle) stop() error {
	for i := len(l.started) - 1; i >= 0; i-- {
		s := l.started[i]
		s.cancel()
		<-s.done
		if s.stop != nil {
			s.stop()
		}
		l.log.Debug("stopped", "component", s.name)
	}
	l.started = nil
	return l.group.Wait()
}
