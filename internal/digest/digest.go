// Package digest tells whether an output of glusterd or of the gluster
// CLI is the same as the last one, so that the same bytes are not parsed
// again.
package digest

import "hash/maphash"

// Sum is two 64-bit hashes of the bytes, each with a seed of its own. It
// is no cryptographic hash, and needs none: the seeds are random per
// process and sums never leave it, so nobody can craft an output that
// collides with another, and it costs a fraction of SHA-256 over the
// megabytes a read of thousands of volumes brings.
type Sum [2]uint64

var seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// Of is the Sum of b.
func Of(b []byte) Sum {
	return Sum{maphash.Bytes(seeds[0], b), maphash.Bytes(seeds[1], b)}
}

// Hash is an io.Writer that makes the Sum of what is written to it, the
// same as Of of it all.
type Hash struct{ h [2]maphash.Hash }

// New returns an empty Hash.
func New() *Hash {
	d := &Hash{}
	for i := range d.h {
		d.h[i].SetSeed(seeds[i])
	}
	return d
}

func (d *Hash) Write(p []byte) (int, error) {
	d.h[0].Write(p)
	d.h[1].Write(p)
	return len(p), nil
}

// Sum is the Sum of what was written.
func (d *Hash) Sum() Sum { return Sum{d.h[0].Sum64(), d.h[1].Sum64()} }
