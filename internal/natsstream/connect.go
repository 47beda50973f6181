package natsstream

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnectOptions say how to reach NATS.
type ConnectOptions struct {
	URLs      []string // nats://host:port, tls://host:port ...
	CredsFile string   // a NATS credentials file (JWT and nkey seed)
	TLSCA     string   // a PEM file of the CAs to trust for the server's certificate
	Name      string   // the connection's name, seen by the server's monitoring
	// InProcess, if set, connects to a server running in this process
	// (an embedded one) without a socket; URLs are then not used.
	InProcess nats.InProcessConnProvider
	// FailFast makes Connect fail when no server answers now (a command
	// line tool), rather than keep trying (a daemon).
	FailFast bool
	Logger   *slog.Logger
}

// Connect returns a connection that keeps reconnecting for ever: unless
// FailFast, it succeeds even while no server answers yet, so a daemon
// starts before NATS does.
// Credentials are read now, so a missing file is said at once.
func Connect(o ConnectOptions) (*nats.Conn, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(!o.FailFast),
		nats.ReconnectWait(time.Second),
		nats.ReconnectBufSize(-1), // the journal is the buffer; publishes fail fast and are retried
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats: disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats: connected", "server", c.ConnectedUrlRedacted()) }),
	}
	if o.CredsFile != "" {
		if _, err := os.Stat(o.CredsFile); err != nil {
			return nil, fmt.Errorf("nats credentials: %w", err)
		}
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.TLSCA != "" {
		if _, err := os.Stat(o.TLSCA); err != nil {
			return nil, fmt.Errorf("nats TLS CA: %w", err)
		}
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	url := strings.Join(o.URLs, ",")
	if o.InProcess != nil {
		opts = append(opts, nats.InProcessServer(o.InProcess))
		url = ""
	} else if url == "" {
		return nil, errors.New("no NATS server URL")
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS: %w", err)
	}
	return nc, nil
}
