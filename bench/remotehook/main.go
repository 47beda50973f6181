// Command remotehook is the far end of bench/webhook.sh's catch-up over a
// slow link: a webhook receiver, and a TCP relay that delays what it
// forwards, for kernels without netem.
//
//	remotehook receive -listen ADDR
//	remotehook delay -listen ADDR -to ADDR -delay 20ms
//
// receive answers 200 to every POST to /hook, one event or a batch (a JSON
// array, X-Glusterbus-Sequence listing its events), and counts the events
// by their sequence numbers: GET /count prints "<events> <duplicates>
// <highest sequence>", POST /reset starts again. A sequence number not above
// the highest seen counts as a duplicate.
//
// delay forwards each connection to -to, holding every chunk read in either
// direction for half of -delay before writing it on, so that a request and
// its answer take -delay more: a link -delay of round trip away.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: remotehook receive -listen ADDR | delay -listen ADDR -to ADDR -delay D")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", "", "address to listen on")
	to := fs.String("to", "", "delay: address to forward to")
	delay := fs.Duration("delay", 20*time.Millisecond, "delay: round trip added")
	_ = fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "receive":
		log.Fatal(receive(*listen))
	case "delay":
		log.Fatal(relay(*listen, *to, *delay/2))
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}

type counter struct {
	mu                 sync.Mutex
	events, dups, last uint64
}

func receive(addr string) error {
	var c counter
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		c.mu.Lock()
		for _, s := range strings.Split(r.Header.Get("X-Glusterbus-Sequence"), ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
			if err != nil {
				continue
			}
			if n <= c.last {
				c.dups++
				continue
			}
			c.events++
			c.last = n
		}
		c.mu.Unlock()
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		fmt.Fprintf(w, "%d %d %d\n", c.events, c.dups, c.last)
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.events, c.dups, c.last = 0, 0, 0
		c.mu.Unlock()
	})
	return http.ListenAndServe(addr, mux)
}

func relay(addr, to string, oneWay time.Duration) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	for {
		in, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			out, err := net.Dial("tcp", to)
			if err != nil {
				log.Print(err)
				in.Close()
				return
			}
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); pump(out, in, oneWay) }()
			go func() { defer wg.Done(); pump(in, out, oneWay) }()
			wg.Wait()
			in.Close()
			out.Close()
		}()
	}
}

// pump copies src to dst, each chunk written d after it was read, in
// order; at src's end it closes dst for writing.
func pump(dst, src net.Conn, d time.Duration) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	ch := make(chan chunk, 1024)
	go func() {
		defer close(ch)
		for {
			b := make([]byte, 64<<10)
			n, err := src.Read(b)
			if n > 0 {
				ch <- chunk{b[:n], time.Now().Add(d)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.b); err != nil {
			src.Close() // unblocks the reader
			break
		}
	}
	for range ch { // let the reader end
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
