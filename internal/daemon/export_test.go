package daemon

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/journal"
)

// Unhandled lists api/ methods the daemon registers no handler for.
func Unhandled(t *testing.T) []string {
	exp := exporter.New(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	j, err := journal.Open(t.TempDir()+"/j.db", journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	(&manager{}).register(exp)
	registerEventMethods(exp, j)
	return exp.Unhandled()
}
