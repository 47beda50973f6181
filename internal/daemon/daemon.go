// Package daemon wires the parts of `glusterbus serve` together: the gluster
// CLI as the source, the state model, the D-Bus exporter as its sink, and
// the triggers (hook calls over D-Bus, inotify, the periodic reconcile).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/authz"
	"github.com/glusterbus/glusterbus/internal/config"
	"github.com/glusterbus/glusterbus/internal/events"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/memtrim"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
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

	// ConfigPath is the configuration file, re-read on SIGHUP ("" for none).
	ConfigPath string
	// LogLevel, if set, follows the configuration's log_level.
	LogLevel *slog.LevelVar

	// NATS publishes the journal to a cluster-wide stream.
	NATS NATSConfig
}

// callTimeout bounds one D-Bus method call's work.
const callTimeout = 2 * time.Minute

const defaultEventQueue = 1 << 16

// Run serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Interval <= 0 {
		return fmt.Errorf("the reconcile interval must be positive, not %v", cfg.Interval)
	}
	log := cfg.Logger
	// SIGHUP's default is to exit: catch it before anything slow (asking
	// glusterd, dialing the bus), and act on it once there is an authz.
	hangup := make(chan os.Signal, 1)
	signal.Notify(hangup, syscall.SIGHUP)
	defer signal.Stop(hangup)
	trim := memtrim.New()
	go trim.Run(ctx, 2*time.Second, log)
	cli := &gluster.CLI{Command: cfg.Gluster, Timeout: cfg.CLITimeout}
	workdir, err := resolveWorkdir(ctx, cli, cfg.GlusterdWorkdir, log)
	if err != nil {
		return err
	}
	allow, err := parsePrefixes(cfg.EventsAllow)
	if err != nil {
		return err
	}
	settings, err := loadSettings(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	j, err := journal.Open(filepath.Join(cfg.StateDir, "journal.db"), journal.Options{
		MaxEvents: cfg.JournalMaxEvents, MaxAge: cfg.JournalMaxAge, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("event journal: %w", err)
	}
	defer j.Close()
	// Events from here on are signalled; the ones before were at the time.
	publishAfter := j.LastSeq()

	// The native listener binds first: a port held by glustereventsd is
	// the most likely reason not to start, and should say so at once.
	var listener *nativeevents.Listener
	if cfg.EventsPort >= 0 {
		listener, err = nativeevents.Listen(nativeevents.Config{
			Port: cfg.EventsPort, ListenAddrs: cfg.EventsAddrs, Allow: allow, Logger: log,
			RatePerSource: cfg.EventsRate, Burst: cfg.EventsBurst,
		})
		if err != nil {
			return err
		}
		defer listener.Close()
	}

	exp := exporter.New(ctx, log)
	exp.OnLargeReply(trim.Burst)
	model := state.NewModel(exp)
	ref := refresh.New(ctx, cli, model, refresh.Options{
		QuietPeriod:       cfg.QuietPeriod,
		RemoteBrickStatus: cfg.RemoteBrickStatus,
		Logger:            log,
		GlusterdUnit:      glusterdUnitState,
	})
	registerEventMethods(exp, j)

	// The writer outlives ctx long enough to journal what is queued.
	writerCtx, stopWriter := context.WithCancel(context.Background())
	queue := cfg.EventQueue
	if queue <= 0 {
		queue = defaultEventQueue
	}
	writer := events.NewWriter(j, queue, log, func(err error) {
		model.UpdateService(func(svc *state.Service) {
			svc.JournalError = ""
			if err != nil {
				svc.JournalError = err.Error()
			}
		})
	})
	writerDone := make(chan struct{})
	go func() { writer.Run(writerCtx); close(writerDone) }()
	defer func() { stopWriter(); <-writerDone }()

	conn, err := exp.Dial(cfg.Bus)
	if err != nil {
		return err
	}
	auth := authz.New(conn, settings.ManageGroup)
	(&manager{cli: cli, ref: ref, auth: auth}).register(exp)
	go reloadOnHangup(ctx, hangup, cfg, auth, log)

	// Read the cluster before taking the name, so the first client that sees
	// the name sees the whole tree. A failure leaves an empty tree with
	// Glusterd.LastError set; the reconcile tries again.
	initialErr := ref.All(ctx)
	if initialErr != nil {
		log.Warn("initial read of the cluster failed; serving what is known", "err", initialErr)
	}
	if err := exp.Claim(conn); err != nil {
		conn.Close()
		return err
	}
	bus := &busKeeper{exp: exp, auth: auth, address: cfg.Bus, log: log, conn: conn}
	defer bus.close()
	go bus.run(ctx)
	go func() {
		if err := events.Publish(ctx, j, publishAfter, emitEvent(exp)); err != nil {
			log.Error("publishing journaled events stopped", "err", err)
		}
	}()
	// State changes become events from the first successful read on: what
	// exists at start was not created now.
	recorder := events.NewRecorder(writer, model.Glusterd().UUID, objectPath)
	recorder.SetVolumeVersion(events.InfoVersion(workdir))
	defer startNATS(ctx, cfg, j, model, workdir, log)()
	if initialErr == nil {
		model.AddSink(recorder)
	} else {
		go addSinkAfterFirstRead(ctx, ref, model, recorder, cfg.Interval)
	}
	if listener != nil {
		model.AddSink(startNativeUpkeep(ctx, listener, writer, model, log))
		go func() {
			if err := listener.Run(ctx, nativeHandler(writer, ref, model, log)); err != nil && ctx.Err() == nil {
				log.Error("native events listener stopped", "err", err)
			}
		}()
	}
	log.Info("serving", "bus", cfg.Bus, "name", exporter.BusName, "glusterd_workdir", workdir,
		"volumes", len(model.VolumeNames()), "journal_last_seq", j.LastSeq(), "events", listenerAddrs(listener))

	go ref.Run(ctx, cfg.Interval)
	if !cfg.NoWatch {
		go watchWorkdir(ctx, workdir, ref, log)
	}

	hooksFile := cfg.WebhooksFile
	if hooksFile == "" {
		hooksFile = filepath.Join(workdir, "events", "webhooks.json")
	}
	deliverer, err := webhook.New(webhook.Options{Journal: j, File: hooksFile, Logger: log,
		NodeID: func() string { return model.Glusterd().UUID }, ClusterDelivery: cfg.NATS.enabled()})
	if err != nil {
		return err
	}
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		if err := deliverer.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("webhook delivery stopped", "err", err)
		}
	}()
	// The journal closes after delivery has stored its cursors.
	defer func() { <-delivered }()
	go showWebhooks(ctx, deliverer, model)

	<-ctx.Done()
	log.Info("stopping")
	return nil
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
	err := watch.Run(ctx, workdir, watch.Triggers{Volume: ref.TriggerVolume, Peers: ref.TriggerPeers, Identity: ref.TriggerIdentity}, log)
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
func resolveWorkdir(ctx context.Context, cli *gluster.CLI, given string, log *slog.Logger) (string, error) {
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
	conn    *dbus.Conn
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
			c, err := b.exp.Dial(b.address)
			if err != nil {
				continue
			}
			if err := b.exp.Claim(c); err != nil {
				b.log.Warn("reconnected, but cannot take the name", "err", err)
				c.Close()
				continue
			}
			b.auth.SetConn(c)
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
	b.conn.Close()
}
