package httpapi

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"
)

// checkExposure refuses to serve beyond this host without tokens or TLS,
// unless told to.
func checkExposure(addr string, haveTokens, haveTLS, insecure bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--http %q: want host:port, e.g. 127.0.0.1:9713: %v", addr, err)
	}
	if haveTokens || haveTLS || insecure {
		return nil
	}
	if loopback(host) {
		return nil
	}
	return fmt.Errorf("--http %q is not a loopback address: give --http-token-file or --http-cert/--http-key, "+
		"or --http-insecure to serve the cluster's state and events to anyone who can reach it", addr)
}

func hostOf(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	return host
}

// loopback reports whether host names only this machine: a loopback
// address, or a name whose every address is one.
func loopback(host string) bool {
	if host == "" {
		return false // every interface
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().IsLoopback()
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return false
	}
	for _, a := range addrs {
		if !a.Unmap().IsLoopback() {
			return false
		}
	}
	return true
}

// maxTokenFile bounds the token file read.
const maxTokenFile = 1 << 20

// tokens are the accepted bearer tokens, kept only as hashes so that
// comparing takes the same time whatever a guess has in common with one.
type tokens struct {
	sums [][sha256.Size]byte
}

// loadTokens reads a token file: one token a line, blank lines and lines
// starting with # ignored. Errors name the file, never a token.
func loadTokens(path string) (*tokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("http token file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("http token file: %w", err)
	}
	if st.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("http token file %s can be read by anyone (mode %v): make it private (chmod 600)", path, st.Mode().Perm())
	}
	t := &tokens{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), maxTokenFile)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.ContainsAny(line, " \t") {
			return nil, fmt.Errorf("http token file %s: a line holds blanks inside a token", path)
		}
		t.sums = append(t.sums, sha256.Sum256([]byte(line)))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("http token file %s: %w", path, err)
	}
	if len(t.sums) == 0 {
		return nil, fmt.Errorf("http token file %s holds no token", path)
	}
	return t, nil
}

var errNoToken = errors.New("missing or wrong bearer token")

// check accepts an Authorization header carrying one of the tokens.
func (t *tokens) check(header string) error {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return errNoToken
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	found := 0
	for i := range t.sums {
		found |= subtle.ConstantTimeCompare(sum[:], t.sums[i][:])
	}
	if found == 0 {
		return errNoToken
	}
	return nil
}

func (t *tokens) require(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := t.check(r.Header.Get("Authorization")); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="glusterbus"`)
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		}
		h.ServeHTTP(w, r)
	})
}
