// Package daemon wires the parts of `glusterbus serve` together: the gluster
// CLI as the source, the state model, the D-Bus exporter as its sink, and
// the triggers (hook calls over D-Bus, inotify, the periodic reconcile).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/glusterbus/glusterbus/internal/authz"
	"github.com/glusterbus/glusterbus/internal/bus"
	"github.com/glusterbus/glusterbus/internal/config"
	"github.com/glusterbus/glusterbus/internal/events"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/glusterd"
	"github.com/glusterbus/glusterbus/internal/httpapi"
	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/memtrim"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/natsstream"
	"github.com/glusterbus/glusterbus/internal/refresh"
	"github.com/glusterbus/glusterbus/internal/state"
	"github.com/glusterbus/glusterbus/internal/watch"
	"github.com/glusterbus/glusterbus/internal/webhook"
)

// DefaultWorkdir is glusterd's working directory when gluster cannot say.
const DefaultWorkdir = "/var/lib/glusterd"

// Config is what `glusterbus serve` is told.
type Config struct {
	Bus             string        // "system", "session" or a D-Bus address
	Gluster         []string      // the gluster command prefix
	GlusterdWorkdir string        // "" asks `gluster system:: getwd`
	StateDir        string        // our own state (the event journal)
	Interval        time.Duration // periodic reconcile
	QuietPeriod     time.Duration // see refresh.Options
	// RemoteBrickStatus reads other nodes' bricks with `volume status`,
	// which takes the volume's lock (see refresh.Options).
	RemoteBrickStatus bool
	CLITimeout        time.Duration
	Logger            *slog.Logger

	// EventsPort is the UDP port for native GlusterFS events: -1 disables
	// them, 0 picks a free port (tests).
	EventsPort  int
	EventsAllow []string // extra networks allowed to send native events
	// EventsAddrs are the addresses to listen on; empty means all.
	EventsAddrs []string
	// EventsRate is the native events accepted per second from one source
	// (0: the listener's default, negative: no limit), with EventsBurst.
	EventsRate  float64
	EventsBurst int

	JournalMaxEvents int
	JournalMaxAge    time.Duration
	// EventQueue is how many events may wait to be journaled before native
	// events are refused (state changes never are); 0 means 65536.
	EventQueue int

	// WebhooksFile is gluster-eventsapi's webhooks file; "" means
	// <glusterd workdir>/events/webhooks.json.
	WebhooksFile string

	// NoWatch turns off watching glusterd's working directory (hooks,
	// native events and the reconcile remain).
	NoWatch bool

	// HTTP serves metrics, the state and the events over HTTP when its
	// Addr is set (Logger is the daemon's).
	HTTP httpapi.Options

	// ConfigPath is the configuration file, re-read on SIGHUP ("" for none).
	ConfigPath string
	// LogLevel, if set, follows the configuration's log_level.
	LogLevel *slog.LevelVar

	// GlusterdSocket is glusterd's CLI socket, read instead of running the
	// CLI for what takes no lock; "" reads everything through the CLI.
	GlusterdSocket string

	// NATS publishes the journal to a cluster-wide stream.
	NATS NATSConfig

	// QuotaInterval is how often the quota limits of volumes with quota on
	// are read again with nothing asking (0: refresh's default, 5m).
	QuotaInterval time.Duration
}

// callTimeout bounds one D-Bus method call's work.
const callTimeout = 2 * time.Minute

const defaultEventQueue = 1 << 16

// Run serves until ctx ends, or until a part of the daemon fails.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Interval <= 0 {
		return fmt.Errorf("the reconcile interval must be positive, not %v", cfg.Interval)
	}
	// SIGHUP's default is to exit: catch it before anything slow (asking
	// glusterd, dialing the bus), and act on it once there is an authz.
	hangup := make(chan os.Signal, 1)
	signal.Notify(hangup, syscall.SIGHUP)
	defer signal.Stop(hangup)
	d, err := wire(ctx, cfg, hangup)
	if err != nil {
		return err
	}
	defer d.stopReads()
	lc := newLifecycle(ctx, d.log)
	if err := lc.start(ctx, d.components()...); err != nil {
		lc.stop()
		return err
	}
	if ctx.Err() == nil {
		d.log.Info("serving", "bus", cfg.Bus, "name", exporter.BusName, "glusterd_workdir", d.workdir,
			"volumes", len(d.model.VolumeNames()), "journal_last_seq", d.j.LastSeq(), "events", listenerAddrs(d.listener))
	}
	lc.wait(ctx)
	d.log.Info("stopping")
	err = lc.stop()
	d.logStopped()
	return err
}

// daemon is the daemon's parts, wired together; components says how they
// start and stop.
type daemon struct {
	cfg       Config
	log       *slog.Logger
	hangup    <-chan os.Signal
	workdir   string
	allow     []netip.Prefix
	settings  config.Config
	trim      *memtrim.Trimmer
	cli       *gluster.CLI
	exp       *exporter.Exporter
	model     *state.Model
	ref       *refresh.Refresher
	stopReads context.CancelFunc // ends every read of the cluster
	auth      *authz.Checker

	// Set as components start.
	j            *journal.Journal
	publishAfter uint64 // events after this one are signalled
	listener     *nativeevents.Listener
	writer       *events.Writer
	bus          *busKeeper
	initialErr   error
	deliverer    *webhook.Deliverer
	stopHTTP     func()
}

// wire checks the configuration and builds the parts that run nothing yet.
func wire(ctx context.Context, cfg Config, hangup <-chan os.Signal) (*daemon, error) {
	d := &daemon{cfg: cfg, log: cfg.Logger, hangup: hangup, trim: memtrim.New()}
	d.cli = &gluster.CLI{Command: cfg.Gluster, Timeout: cfg.CLITimeout}
	src := readSource(cfg, d.cli, d.log)
	var err error
	if d.workdir, err = resolveWorkdir(ctx, src, cfg.GlusterdWorkdir, d.log); err != nil {
		return nil, err
	}
	if d.allow, err = parsePrefixes(cfg.EventsAllow); err != nil {
		return nil, err
	}
	if d.settings, err = loadSettings(cfg); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	d.exp = exporter.New(ctx, d.log)
	d.exp.OnLargeReply(d.trim.Burst)
	d.model = state.NewModel(d.exp)
	// Reads outlive ctx until the refresh component stops them, so that
	// nothing reads the cluster, or changes the model, behind its back.
	readCtx, stopReads := context.WithCancel(context.WithoutCancel(ctx))
	d.stopReads = stopReads
	d.ref = refresh.New(readCtx, src, d.model, refresh.Options{
		QuietPeriod:       cfg.QuietPeriod,
		RemoteBrickStatus: cfg.RemoteBrickStatus,
		Logger:            d.log,
		GlusterdUnit:      glusterdUnitState,
		Quota:             glusterd.NewQuota(d.workdir),
		QuotaInterval:     cfg.QuotaInterval,
	})
	d.ref.EnableGeoRep(refresh.GeoRepOptions{Workdir: d.workdir})
	d.auth = authz.New(nil, d.settings.ManageGroup)
	return d, nil
}

// components are the daemon's parts in the order they start. They stop in
// reverse: reading native events first, then what makes events, then the
// journal writer's flush, then the signals, then the bus and the journal.
//
// A new part is one more entry, placed after the parts it uses, so that it
// stops before them: an HTTP server, for one, binds in start (a port in use
// stops the daemon at once), serves in run until ctx ends and then shuts
// down, waiting for its requests; placed after "journal writer", whatever
// it journals is flushed.
func (d *daemon) components() []component {
	cfg, log := d.cfg, d.log
	return []component{{
		name: "memory trimmer",
		run:  func(ctx context.Context) error { d.trim.Run(ctx, 2*time.Second, log); return nil },
	}, {
		name: "journal",
		start: func(context.Context) error {
			j, err := journal.Open(filepath.Join(cfg.StateDir, "journal.db"), journal.Options{
				MaxEvents: cfg.JournalMaxEvents, MaxAge: cfg.JournalMaxAge, Logger: log,
			})
			if err != nil {
				return fmt.Errorf("event journal: %w", err)
			}
			d.j = j
			// Events from here on are signalled; the ones before were at the time.
			d.publishAfter = j.LastSeq()
			if cfg.NATS.enabled() {
				// The stream is on from now, however long its server takes.
				if _, err := natsstream.StartCursor(j); err != nil {
					return err
				}
			}
			return nil
		},
		stop: func() { d.j.Close() },
	}, {
		// The native socket binds early: a port held by glustereventsd is
		// the most likely reason not to start, and should say so at once.
		name: "native events socket",
		start: func(context.Context) error {
			if cfg.EventsPort < 0 {
				return nil
			}
			l, err := nativeevents.Listen(nativeevents.Config{
				Port: cfg.EventsPort, ListenAddrs: cfg.EventsAddrs, Allow: d.allow, Logger: log,
				RatePerSource: cfg.EventsRate, Burst: cfg.EventsBurst,
			})
			d.listener = l
			return err
		},
		stop: func() {
			if d.listener != nil {
				d.listener.Close()
			}
		},
	}, {
		name: "bus",
		start: func(ctx context.Context) error {
			registerEventMethods(d.exp, d.j)
			(&manager{cli: d.cli, ref: d.ref, auth: d.auth}).register(d.exp)
			conn, err := d.exp.Dial(ctx, cfg.Bus)
			if err != nil {
				return err
			}
			if !conn.Cuttable() {
				log.Warn("the bus is not reached over a unix socket: a bus that stops reading stalls the signals until it reads again", "bus", cfg.Bus)
			}
			d.auth.SetConn(conn.Conn)
			d.bus = &busKeeper{exp: d.exp, auth: d.auth, address: cfg.Bus, log: log, conn: conn}
			return nil
		},
		stop: func() { d.bus.close() },
	}, {
		name: "bus signals",
		run:  func(ctx context.Context) error { d.exp.Run(ctx); return nil },
	}, {
		name: "event signals",
		run: func(ctx context.Context) error {
			if err := events.Publish(ctx, d.j, d.publishAfter, emitEvent(d.exp)); err != nil {
				log.Error("publishing journaled events stopped", "err", err)
			}
			return nil
		},
	}, {
		name: "journal writer",
		start: func(context.Context) error {
			queue := cfg.EventQueue
			if queue <= 0 {
				queue = defaultEventQueue
			}
			d.writer = events.NewWriter(d.j, queue, log, func(err error) {
				d.model.UpdateService(func(svc *state.Service) {
					svc.JournalError = ""
					if err != nil {
						svc.JournalError = err.Error()
					}
				})
			})
			return nil
		},
		// It writes what is queued before it returns.
		run: func(ctx context.Context) error { d.writer.Run(ctx); return nil },
	}, {
		// After the journal writer: it stops before the journal's flush,
		// and serves the journal until then.
		name: "HTTP server",
		start: func(ctx context.Context) error {
			var err error
			d.stopHTTP, err = startHTTP(context.WithoutCancel(ctx), cfg, d.model, d.j, d.listener, d.writer, log)
			return err
		},
		stop: func() { d.stopHTTP() },
	}, {
		// Read the cluster before taking the name, so the first client that
		// sees the name sees the whole tree. A failure leaves an empty tree
		// with Glusterd.LastError set; the reconcile tries again.
		name: "initial read",
		start: func(ctx context.Context) error {
			d.initialErr = d.ref.All(ctx)
			if d.initialErr != nil && ctx.Err() == nil {
				log.Warn("initial read of the cluster failed; serving what is known", "err", d.initialErr)
			}
			return nil
		},
	}, {
		name:  "bus name",
		start: func(ctx context.Context) error { return d.exp.Claim(ctx, d.bus.conn) },
		run:   func(ctx context.Context) error { d.bus.run(ctx); return nil },
	}, {
		// State changes become events from the first successful read on:
		// what exists at start was not created now.
		name: "state events",
		run: func(ctx context.Context) error {
			recorder := events.NewRecorder(d.writer, d.model.Glusterd().UUID, objectPath)
			recorder.SetVolumeVersion(events.InfoVersion(d.workdir))
			if d.initialErr == nil {
				d.model.AddSink(recorder)
				return nil
			}
			addSinkAfterFirstRead(ctx, d.ref, d.model, recorder, cfg.Interval)
			return nil
		},
	}, {
		// It reads the journal: it stops before the journal closes.
		name: "cluster stream",
		run: func(ctx context.Context) error {
			startNATS(ctx, cfg, d.j, d.model, d.workdir, log)()
			return nil
		},
	}, {
		name: "reconcile",
		run:  func(ctx context.Context) error { d.ref.Run(ctx, cfg.Interval); return nil },
		stop: d.stopReads,
	}, {
		name: "workdir watch",
		run: func(ctx context.Context) error {
			if !cfg.NoWatch {
				watchWorkdir(ctx, d.workdir, d.ref, log)
			}
			return nil
		},
	}, {
		name: "configuration reload",
		run:  func(ctx context.Context) error { reloadOnHangup(ctx, d.hangup, cfg, d.auth, log); return nil },
	}, {
		name: "webhooks",
		start: func(context.Context) error {
			hooksFile := cfg.WebhooksFile
			if hooksFile == "" {
				hooksFile = filepath.Join(d.workdir, "events", "webhooks.json")
			}
			var err error
			d.deliverer, err = webhook.New(webhook.Options{Journal: d.j, File: hooksFile, Logger: log,
				NodeID: func() string { return d.model.Glusterd().UUID }, ClusterDelivery: cfg.NATS.enabled()})
			return err
		},
		run: func(ctx context.Context) error {
			if err := d.deliverer.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("webhook delivery stopped", "err", err)
			}
			return nil
		},
	}, {
		name: "webhook status",
		run:  func(ctx context.Context) error { showWebhooks(ctx, d.deliverer, d.model); return nil },
	}, d.nativeSources(), d.nativeLossReport(), {
		name: "native events",
		run: func(ctx context.Context) error {
			if d.listener == nil {
				return nil
			}
			if err := d.listener.Run(ctx, nativeHandler(d.writer, d.ref, d.model, log)); err != nil && ctx.Err() == nil {
				log.Error("native events listener stopped", "err", err)
			}
			return nil
		},
	}}
}

// logStopped logs the one line that says what the daemon took in and kept.
func (d *daemon) logStopped() {
	if d.writer == nil {
		return
	}
	c := d.writer.Counts()
	args := []any{"native_events_accepted", c.Accepted, "native_events_journaled", c.JournaledNative,
		"native_events_refused", c.Refused, "events_journaled", c.Journaled}
	if d.listener != nil {
		args = append(args, "native_events_received", d.listener.Stats().Received)
	}
	if c.Late > 0 {
		args = append(args, "state_events_after_flush", c.Late)
	}
	d.log.Info("stopped", args...)
}

// showWebhooks copies the webhooks' delivery state to the manager about
// every second, when it changed.
func showWebhooks(ctx context.Context, d *webhook.Deliverer, model *state.Model) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last []state.WebhookState
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := webhookStates(d.Status())
		if slices.Equal(cur, last) {
			continue
		}
		last = cur
		model.UpdateService(func(svc *state.Service) { svc.Webhooks = cur })
	}
}

func webhookStates(st []webhook.WebhookStatus) []state.WebhookState {
	out := make([]state.WebhookState, len(st))
	for i, w := range st {
		out[i] = state.WebhookState{URL: w.URL, State: w.State, Cursor: w.Cursor, LastSeq: w.LastSeq, Lag: w.Lag,
			Delivered: w.Delivered, Failed: w.Failed, Lost: w.Lost, LastError: w.LastError}
		if !w.LastErrorTime.IsZero() {
			out[i].LastErrorUsec = w.LastErrorTime.UnixMicro()
		}
	}
	return out
}

func watchWorkdir(ctx context.Context, workdir string, ref *refresh.Refresher, log *slog.Logger) {
	// After lost changes, TriggerIdentity: one full read, glusterd's
	// identity included.
	err := watch.Run(ctx, workdir, watch.Triggers{Volume: ref.TriggerVolume, Peers: ref.TriggerPeers, Identity: ref.TriggerIdentity,
		All: ref.TriggerIdentity, GeoRep: ref.TriggerGeoRep}, log)
	if err != nil {
		log.Warn("not watching glusterd's directory", "err", err)
	}
}

// addSinkAfterFirstRead retries the full read until it succeeds, then adds
// the recorder.
func addSinkAfterFirstRead(ctx context.Context, ref *refresh.Refresher, model *state.Model, rec state.Sink, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ref.All(ctx) == nil {
				model.AddSink(rec)
				return
			}
		}
	}
}

func listenerAddrs(l *nativeevents.Listener) string {
	if l == nil {
		return "off"
	}
	var s []string
	for _, a := range l.LocalAddrs() {
		s = append(s, a.String())
	}
	return strings.Join(s, ",")
}

// resolveWorkdir returns the given directory, else what glusterd says, else
// the default.
func resolveWorkdir(ctx context.Context, cli interface {
	Workdir(context.Context) (string, error)
}, given string, log *slog.Logger) (string, error) {
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", fmt.Errorf("glusterd working directory: %w", err)
		}
		return given, nil
	}
	wd, err := cli.Workdir(ctx)
	if err != nil || wd == "" {
		log.Warn("cannot ask glusterd for its working directory; using the default", "default", DefaultWorkdir, "err", err)
		return DefaultWorkdir, nil
	}
	return wd, nil
}

// glusterError names a refresh error for D-Bus, keeping gluster's message.
func glusterError(err error) error {
	var named *exporter.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &named):
		return err
	case errors.Is(err, gluster.ErrNoVolume):
		return &exporter.Error{Name: exporter.ErrorNotFound, Msg: err.Error(), Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &exporter.Error{Name: exporter.ErrorTimedout, Msg: err.Error(), Err: err}
	}
	return &exporter.Error{Name: exporter.ErrorFailed, Msg: err.Error(), Err: err}
}

// loadSettings reads the configuration file and applies its log level.
func loadSettings(cfg Config) (config.Config, error) {
	if cfg.ConfigPath == "" {
		return config.Config{}, nil
	}
	c, err := config.Load(cfg.ConfigPath)
	if err != nil {
		return c, err
	}
	if cfg.LogLevel != nil {
		cfg.LogLevel.Set(c.Level(cfg.LogLevel.Level()))
	}
	return c, nil
}

// reloadOnHangup re-reads the configuration on each SIGHUP from hup. A bad
// file is logged and the running configuration kept.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, cfg Config, auth *authz.Checker, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			c, err := loadSettings(cfg)
			if err != nil {
				log.Error("configuration not reloaded; keeping the running one", "err", err)
				continue
			}
			auth.SetGroup(c.ManageGroup)
			log.Info("configuration reloaded", "path", cfg.ConfigPath, "manage_group", c.ManageGroup)
		}
	}
}

// busKeeper reconnects when the bus goes away (a restarted dbus-daemon) and
// takes the name again; the objects are the exporter's, so they are all
// there on the new connection at once.
type busKeeper struct {
	exp     *exporter.Exporter
	auth    *authz.Checker
	address string
	log     *slog.Logger
	mu      sync.Mutex
	conn    *bus.Conn
}

func (b *busKeeper) run(ctx context.Context) {
	for {
		b.mu.Lock()
		conn := b.conn
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-conn.Context().Done():
		}
		b.exp.SetConn(nil)
		b.log.Warn("lost the bus; reconnecting", "bus", b.address)
		backoff := 100 * time.Millisecond
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			c, err := b.exp.Dial(ctx, b.address)
			if err != nil {
				continue
			}
			if err := b.exp.Claim(ctx, c); err != nil {
				b.log.Warn("reconnected, but cannot take the name", "err", err)
				c.Cut()
				continue
			}
			b.auth.SetConn(c.Conn)
			b.mu.Lock()
			b.conn = c
			b.mu.Unlock()
			b.log.Info("reconnected to the bus", "bus", b.address)
			break
		}
	}
}

func (b *busKeeper) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.exp.SetConn(nil)
	b.conn.Cut()
}
