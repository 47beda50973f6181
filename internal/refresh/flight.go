package refresh

import (
	"context"
	"strings"
)

// want says what a read of a volume covers.
type want uint8

const (
	wantConfig  want = 1 << iota // `volume info`, lock-free
	wantRuntime                  // `volume status`, takes the volume's lock
	wantConfirm                  // this node's bricks again, to confirm one stopped
)

const (
	keyAll    = "all"
	keyPeers  = "peers"
	keyLocal  = "local" // this node's bricks, from get-state
	keySnaps  = "snapshots"
	volPrefix = "volume:"
)

// flight coalesces reads of one key: while a read runs, new requests wait
// for one more read after it, however many they are, and that read covers
// everything they asked for.
type flight struct {
	waiters []chan error
	want    want
}

// do requests a read of key and waits for one that starts after the request.
func (r *Refresher) do(ctx context.Context, key string, w want) error {
	ch := r.enqueue(key, w)
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start requests a read of key without waiting.
func (r *Refresher) start(key string, w want) { r.enqueue(key, w) }

func (r *Refresher) enqueue(key string, w want) chan error {
	ch := make(chan error, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.flights[key]
	if !ok {
		f = &flight{}
		r.flights[key] = f
		go r.fly(key, f)
	}
	f.waiters = append(f.waiters, ch)
	f.want |= w
	return ch
}

func (r *Refresher) fly(key string, f *flight) {
	for {
		r.mu.Lock()
		if len(f.waiters) == 0 {
			delete(r.flights, key)
			r.mu.Unlock()
			return
		}
		waiters, w := f.waiters, f.want
		f.waiters, f.want = nil, 0
		r.mu.Unlock()
		err := r.read(r.ctx, key, w)
		for _, ch := range waiters {
			ch <- err
		}
	}
}

func (r *Refresher) read(ctx context.Context, key string, w want) error {
	switch key {
	case keyAll:
		return r.readAll(ctx)
	case keyPeers:
		return r.readPeers(ctx)
	case keyLocal:
		return r.readLocal(ctx)
	case keySnaps:
		return r.readSnapshots(ctx)
	case keyGeoRep:
		return r.readGeoRep(ctx)
	}
	return r.readVolume(ctx, strings.TrimPrefix(key, volPrefix), w)
}
