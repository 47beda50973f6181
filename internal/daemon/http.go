package daemon

import (
	"context"
	"log/slog"

	"github.com/glusterbus/glusterbus/internal/events"
	"github.com/glusterbus/glusterbus/internal/httpapi"
	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/state"
)

// startHTTP serves metrics, the state and the events over HTTP when
// cfg.HTTP.Addr is set, until ctx ends or stop is called. A bad address, a
// missing token or certificate file or a port taken is an error at once.
// stop ends the server and waits for it: call it before closing the
// journal.
func startHTTP(ctx context.Context, cfg Config, model *state.Model, j *journal.Journal,
	l *nativeevents.Listener, w *events.Writer, log *slog.Logger) (stop func(), err error) {
	if cfg.HTTP.Addr == "" {
		return func() {}, nil
	}
	opts := cfg.HTTP
	opts.Logger = log
	src := httpapi.Sources{Model: model, Journal: j}
	if l != nil {
		src.Native = func() httpapi.NativeStats { return nativeStats(l.Stats(), w.Refused()) }
	}
	srv, err := httpapi.New(opts, src)
	if err != nil {
		return nil, err
	}
	ln, err := srv.Listen()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, ln); err != nil {
			log.Error("HTTP server stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

// nativeStats are the native listener's counts as the metrics show them;
// queue_full counts the events the journal's queue refused.
func nativeStats(st nativeevents.Stats, refused uint64) httpapi.NativeStats {
	return httpapi.NativeStats{
		Received: st.Received,
		Dropped: map[string]uint64{
			"malformed": st.Malformed, "unknown": st.Unknown, "rejected": st.Rejected,
			"rate_limited": st.RateLimited, "queue_full": refused,
		},
		ByName: st.Events,
	}
}
