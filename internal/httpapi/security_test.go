package httpapi

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/state"
)

func TestCheckExposure(t *testing.T) {
	cases := []struct {
		addr                      string
		tokens, tls, insecure, ok bool
	}{
		{"127.0.0.1:9713", false, false, false, true},
		{"[::1]:9713", false, false, false, true},
		{"localhost:9713", false, false, false, true},
		{"127.3.4.5:0", false, false, false, true},
		{":9713", false, false, false, false},
		{"0.0.0.0:9713", false, false, false, false},
		{"[::]:9713", false, false, false, false},
		{"192.0.2.7:9713", false, false, false, false},
		{"192.0.2.7:9713", true, false, false, true},
		{"192.0.2.7:9713", false, true, false, true},
		{"0.0.0.0:9713", false, false, true, true},
		{"9713", false, false, true, false},
		{"", false, false, true, false},
	}
	for _, c := range cases {
		err := checkExposure(c.addr, c.tokens, c.tls, c.insecure)
		if (err == nil) != c.ok {
			t.Errorf("%q tokens=%v tls=%v insecure=%v: %v", c.addr, c.tokens, c.tls, c.insecure, err)
		}
	}
}

func writeTokenFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBearerTokens(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const tok1, tok2 = "s3cr3t-token-one", "another-token-2"
	path := writeTokenFile(t, "# scrapers\n"+tok1+"\n\n  "+tok2+"  \n", 0o600)
	f := newFixture(t, Options{Addr: "0.0.0.0:0", TokenFile: path, Logger: log}, nil)
	for _, path := range []string{"/metrics", "/api/v1/state", "/api/v1/events?since=0"} {
		for _, auth := range []string{"", "Bearer wrong", "Basic " + tok1, "Bearer", tok1} {
			resp, body := f.get(path, "Authorization", auth)
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s with %q: %s %s", path, auth, resp.Status, body)
			}
			if strings.Contains(body, tok1) || strings.Contains(body, tok2) {
				t.Errorf("an answer shows a token: %s", body)
			}
		}
	}
	for _, auth := range []string{"Bearer " + tok1, "bearer " + tok2} {
		if resp, body := f.get("/api/v1/state", "Authorization", auth); resp.StatusCode != http.StatusOK {
			t.Errorf("with a good token: %s %s", resp.Status, body)
		}
	}
	c := f.stream("/api/v1/events?since=0", "Authorization", "Bearer "+tok2)
	f.appendEvents(1, "VOLUME_SET", "native", "gv0")
	if _, e := c.nextMessage(); e.Seq != 1 {
		t.Fatalf("stream with a token: %+v", e)
	}
	if strings.Contains(logs.String(), tok1) || strings.Contains(logs.String(), tok2) {
		t.Errorf("the log shows a token:\n%s", logs.String())
	}
}

func TestTokenFileRefused(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	src := Sources{Model: state.NewModel(), Journal: j}
	const secret = "do-not-show-me"
	for name, path := range map[string]string{
		"world-readable": writeTokenFile(t, secret+"\n", 0o644),
		"empty":          writeTokenFile(t, "# nothing\n\n", 0o600),
		"blank inside":   writeTokenFile(t, secret+" x\n", 0o600),
		"missing":        filepath.Join(t.TempDir(), "none"),
	} {
		_, err := New(Options{Addr: "127.0.0.1:0", TokenFile: path}, src)
		if err == nil {
			t.Errorf("%s token file accepted", name)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the token: %v", name, err)
		}
	}
	if _, err := New(Options{Addr: "0.0.0.0:0"}, src); err == nil {
		t.Error("a non-loopback address without tokens or TLS accepted")
	}
	if _, err := New(Options{Addr: "0.0.0.0:0", CertFile: "/x.pem"}, src); err == nil {
		t.Error("a certificate without a key accepted")
	}
}

// TestServeTLSAndStop serves over TLS on a real listener with a connection
// limit and stops with an event stream open.
func TestServeTLSAndStop(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool := writeSelfSigned(t, cert, key)
	j, err := journal.Open(filepath.Join(dir, "j.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	addrs := make(chan net.Addr, 1)
	s, err := New(Options{Addr: "0.0.0.0:0", CertFile: cert, KeyFile: key, MaxConns: 4,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnListen: func(a net.Addr) { addrs <- a }}, Sources{Model: state.NewModel(), Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	port := (<-addrs).(*net.TCPAddr).Port
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	resp, err := client.Get(base + "/api/v1/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("over TLS: %s", resp.Status)
	}
	stream, err := client.Get(base + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The stream ends with the server.
	_, _ = io.ReadAll(stream.Body)
}

func writeSelfSigned(t *testing.T, certPath, keyPath string) *x509.CertPool {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return pool
}
