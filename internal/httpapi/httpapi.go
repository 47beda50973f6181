// Package httpapi serves the daemon's model and event journal over HTTP:
// Prometheus metrics at /metrics, the state as JSON under /api/v1/ and the
// journaled events as Server-Sent Events at /api/v1/events.
//
// It is read-only and never runs the gluster CLI: every answer is made from
// the model and the journal the daemon already keeps, so a scrape or a
// client costs the cluster nothing.
package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/net/netutil"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/state"
)

// Options say where and how to serve.
type Options struct {
	Addr      string // host:port; "" means off
	TokenFile string // bearer tokens, one a line; "" means none asked for
	CertFile  string // TLS certificate and key (PEM); both or neither
	KeyFile   string
	// Insecure allows a non-loopback address with neither tokens nor TLS.
	Insecure bool

	MaxConns   int // open connections; 0 means DefaultMaxConns
	MaxStreams int // event streams at once; 0 means DefaultMaxStreams
	Logger     *slog.Logger
	// OnListen, if set, is told the address once listening (tests bind
	// port 0).
	OnListen func(net.Addr)
}

// Limits that apply unless Options say otherwise.
const (
	DefaultMaxConns   = 128
	DefaultMaxStreams = 64
	maxHeaderBytes    = 16 << 10
	shutdownWait      = 5 * time.Second
	maxScrapes        = 4 // answered at once; more get 503
)

// timeouts of the server; tests shorten them.
type timeouts struct {
	readHeader, read time.Duration
	// write bounds writing one answer, and one page of events to a
	// stream: a client that takes nothing for that long is cut off (it
	// resumes with Last-Event-ID).
	write time.Duration
	idle  time.Duration
	// keepAlive is how often an idle stream sends a comment, so proxies
	// and clients see it alive and a gone client is noticed.
	keepAlive time.Duration
}

var defaultTimeouts = timeouts{
	readHeader: 5 * time.Second,
	read:       10 * time.Second,
	write:      30 * time.Second,
	idle:       60 * time.Second,
	keepAlive:  25 * time.Second,
}

// NativeStats are the daemon's counts of native events since it started.
type NativeStats struct {
	Received uint64            // datagrams read
	Dropped  map[string]uint64 // by reason
	ByName   map[string]uint64 // accepted, by event name
}

// Sources are what the server reads from.
type Sources struct {
	Model   *state.Model
	Journal *journal.Journal
	// Native returns the native event counts; nil when native events are
	// off.
	Native func() NativeStats
}

// Server is the HTTP server. Its zero value is not usable; see New.
type Server struct {
	opts     Options
	src      Sources
	log      *slog.Logger
	tokens   *tokens
	cert     *tls.Certificate
	timeouts timeouts
	streams  chan struct{} // one slot per event stream
	scrapes  chan struct{} // one slot per scrape being answered
	handler  http.Handler

	registry *prometheus.Registry // the daemon's own metrics, Go's and the process's
}

// New checks the options (a non-loopback address needs tokens, TLS or
// Insecure; the token and certificate files must be readable) and returns
// a server that has not started.
func New(opts Options, src Sources) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = DefaultMaxStreams
	}
	if src.Model == nil || src.Journal == nil {
		return nil, errors.New("http: the model and the journal are needed")
	}
	s := &Server{opts: opts, src: src, log: opts.Logger, timeouts: defaultTimeouts,
		streams: make(chan struct{}, opts.MaxStreams),
		scrapes: make(chan struct{}, maxScrapes)}
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		return nil, errors.New("--http-cert and --http-key go together")
	}
	if opts.CertFile != "" {
		c, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("http TLS certificate: %w", err)
		}
		s.cert = &c
	}
	if opts.TokenFile != "" {
		t, err := loadTokens(opts.TokenFile)
		if err != nil {
			return nil, err
		}
		s.tokens = t
	}
	if err := checkExposure(opts.Addr, s.tokens != nil, s.cert != nil, opts.Insecure); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the server's handler, authentication included.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	s.registry = prometheus.NewRegistry()
	s.registry.MustRegister(newCollector(s.src, s.streamCount),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	// GET patterns also answer HEAD; every other method gets 405.
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	mux.HandleFunc("GET /api/v1/state", s.serveState)
	mux.HandleFunc("GET /api/v1/volumes/{name}", s.serveVolume)
	mux.HandleFunc("GET /api/v1/events", s.serveEvents)
	mux.HandleFunc("GET /{$}", serveIndex)
	var h http.Handler = mux
	if s.tokens != nil {
		h = s.tokens.require(h)
	}
	return securityHeaders(h)
}

// Run listens on Options.Addr and serves until ctx ends, then closes every
// connection, event streams included.
func (s *Server) Run(ctx context.Context) error {
	ln, err := s.Listen()
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Listen listens on Options.Addr, so that a port taken is known before
// serving.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("--http: %w", err)
	}
	return ln, nil
}

// Serve serves on ln until ctx ends; it closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.opts.OnListen != nil {
		s.opts.OnListen(ln.Addr())
	}
	ln = netutil.LimitListener(ln, s.opts.MaxConns)
	if s.cert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*s.cert}, MinVersion: tls.VersionTLS12})
	}
	// Requests' contexts end with ctx, so event streams stop at once.
	base, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.timeouts.readHeader,
		ReadTimeout:       s.timeouts.read,
		WriteTimeout:      s.timeouts.write,
		IdleTimeout:       s.timeouts.idle,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.log.Info("serving HTTP", "addr", ln.Addr().String(), "tls", s.cert != nil, "tokens", s.tokens != nil)
	if s.opts.Insecure && s.cert == nil && s.tokens == nil && !loopback(hostOf(s.opts.Addr)) {
		s.log.Warn("serving HTTP beyond loopback without tokens or TLS (--http-insecure): anyone who can reach it reads the cluster's state and events",
			"addr", s.opts.Addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	cancel()
	sctx, done := context.WithTimeout(context.Background(), shutdownWait)
	defer done()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

func (s *Server) streamCount() int { return len(s.streams) }

// securityHeaders marks every answer as not to be sniffed or framed.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

func serveIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, "glusterbus\n\n/metrics\n/api/v1/state\n/api/v1/volumes/{name}\n/api/v1/events\n")
}
