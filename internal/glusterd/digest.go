package glusterd

import "hash/maphash"

// digest tells whether an answer is the same as the last one: two 64-bit
// hashes of it, each with a seed of its own. It is no cryptographic hash,
// and needs none: the seeds are random per process and the digests never
// leave it, so nobody can craft an answer that collides with another, and
// it costs a fraction of SHA-256 over the megabytes a read of thousands of
// volumes brings.
type digest [2]uint64

var digestSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// digestOf is the digest of b.
func digestOf(b []byte) digest {
	return digest{maphash.Bytes(digestSeeds[0], b), maphash.Bytes(digestSeeds[1], b)}
}

// digester is an io.Writer that makes the digest of what is written to it,
// the same as digestOf of it all.
type digester struct{ h [2]maphash.Hash }

func newDigester() *digester {
	d := &digester{}
	for i := range d.h {
		d.h[i].SetSeed(digestSeeds[i])
	}
	return d
}

func (d *digester) Write(p []byte) (int, error) {
	d.h[0].Write(p)
	d.h[1].Write(p)
	return len(p), nil
}

func (d *digester) digest() digest { return digest{d.h[0].Sum64(), d.h[1].Sum64()} }
