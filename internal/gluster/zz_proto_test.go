package gluster

import (
	"bytes"
	"encoding/xml"
	"io"
	"testing"
)

func BenchmarkProtoWalk(b *testing.B) {
	info, _ := benchOutputs(b, 5000)
	b.Run("Token", func(b *testing.B) {
		for b.Loop() {
			d := xml.NewDecoder(bytes.NewReader(info))
			for {
				_, err := d.Token()
				if err == io.EOF {
					break
				}
			}
		}
	})
	b.Run("RawToken", func(b *testing.B) {
		for b.Loop() {
			d := xml.NewDecoder(bytes.NewReader(info))
			for {
				_, err := d.RawToken()
				if err == io.EOF {
					break
				}
			}
		}
	})
}
