package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// newClient returns the HTTP client of one webhook: its own connections,
// no redirects, certificates verified unless NoVerify.
func newClient(w *Webhook) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2
	var roots *x509.CertPool
	if w.CAFile != "" {
		pem, err := os.ReadFile(w.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: ca_file: %v", ErrInvalid, err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: ca_file %s holds no PEM certificate", ErrInvalid, w.CAFile)
		}
	}
	if strings.HasPrefix(strings.ToLower(w.URL), "https:") {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, InsecureSkipVerify: w.NoVerify}
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// send POSTs p once.
func send(ctx context.Context, wc *workerConfig, p *post) result {
	ctx, cancel := context.WithTimeout(ctx, wc.timeout)
	defer cancel()
	status, snippet, header, auth, err := do(ctx, wc, p)
	if err != nil {
		desc := describe(err, ctx, wc.timeout)
		if errors.Is(err, errRequest) {
			return result{outcome: failed, desc: scrub(desc, &wc.hook, auth)}
		}
		return result{outcome: retry, desc: scrub(desc, &wc.hook, auth)}
	}
	desc := "HTTP " + strconv.Itoa(status)
	if t := http.StatusText(status); t != "" {
		desc += " " + t
	}
	if loc := header.Get("Location"); status >= 300 && status < 400 && loc != "" {
		desc += " to " + redactURL(loc) + " (redirects are not followed; configure the final URL)"
	}
	if snippet != "" {
		desc += ": " + snippet
	}
	desc = scrub(desc, &wc.hook, auth)
	switch {
	case status >= 200 && status < 300:
		return result{outcome: delivered}
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return result{outcome: retry, desc: desc, retryAfter: retryAfter(header.Get("Retry-After"), time.Now())}
	}
	return result{outcome: failed, desc: desc}
}

var errRequest = errors.New("cannot build the request")

// do performs one POST and returns the status, the start of the response
// body made printable, the response header and the Authorization sent.
func do(ctx context.Context, wc *workerConfig, p *post) (int, string, http.Header, string, error) {
	req, auth, err := newRequest(ctx, &wc.hook, p, time.Now())
	if err != nil {
		return 0, "", nil, "", fmt.Errorf("%w: %v", errRequest, err)
	}
	resp, err := wc.client.Do(req)
	if err != nil {
		return 0, "", nil, auth, err
	}
	defer resp.Body.Close()
	head := make([]byte, 256)
	n, _ := io.ReadFull(resp.Body, head)
	// Read a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, printable(head[:n], 200), resp.Header, auth, nil
}

// describe says what a failed request ran into, without the URL (which
// may carry a password).
func describe(err error, ctx context.Context, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no response within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) {
		msg += " (certificate not trusted: set ca_file, or no_verify to skip verification)"
	}
	return msg
}

// scrub removes the webhook's credentials from a message.
func scrub(s string, w *Webhook, auth string) string {
	for _, c := range []string{auth, strings.TrimPrefix(auth, "Bearer "), w.Token, w.Secret} {
		if c != "" {
			s = strings.ReplaceAll(s, c, "[redacted]")
		}
	}
	if u, err := url.Parse(w.URL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			s = strings.ReplaceAll(s, p, "[redacted]")
		}
	}
	return s
}

// printable returns up to max bytes of b as one line of printable ASCII.
func printable(b []byte, max int) string {
	var sb strings.Builder
	space := false
	for _, c := range b {
		if sb.Len() >= max {
			sb.WriteString("...")
			break
		}
		if c <= ' ' || c > '~' {
			space = sb.Len() > 0
			continue
		}
		if space {
			sb.WriteByte(' ')
			space = false
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
