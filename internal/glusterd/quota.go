package glusterd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
)

// QuotadSocket is where quotad listens for the CLI: GlusterFS fixes the
// path (cli-quotad-client.c, quotad-aggregator.c), whatever glusterd's run
// directory.
const QuotadSocket = "/var/run/gluster/quotad.socket"

// quotad's aggregator program (protocol-common.h) and its GETLIMIT
// procedure, the one `gluster volume quota VOL list` asks per limit.
const (
	aggregatorProgram = 29852134
	aggregatorVersion = 1
	procGetLimit      = 2
	quotaTypeList     = 5 // GF_QUOTA_OPTION_TYPE_LIST
)

// Keys of quotad's GETLIMIT answer (glusterfs.h).
const (
	quotaLimitKey = "trusted.glusterfs.quota.limit-set"
	quotaSizeKey  = "trusted.glusterfs.quota.size"
	ancestryKey   = "glusterfs.ancestry.path"
)

// Quota reads a volume's usage limits the way `gluster volume quota VOL
// list` does, less its glusterd transaction: the CLI first asks glusterd
// (a volume-lock transaction) only for the default soft limit, which is
// the volume option features.default-soft-limit; then it reads the
// limits' GFIDs from glusterd's vols/VOL/quota.conf and asks quotad for
// each limit and its usage. Quota does the last two: no glusterd call, no
// lock. quotad looks each directory up on the bricks (one nameless lookup
// per limit).
type Quota struct {
	Workdir string        // glusterd's working directory
	Socket  string        // quotad's socket; QuotadSocket when empty
	Timeout time.Duration // one read of every limit; DefaultTimeout when zero

	mu     sync.Mutex
	client *Client
}

// NewQuota returns a Quota reading workdir's quota.conf files.
func NewQuota(workdir string) *Quota { return &Quota{Workdir: workdir} }

// Close closes the connection kept to quotad.
func (q *Quota) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.client != nil {
		return q.client.Close()
	}
	return nil
}

// Limits reads a volume's usage limits, sorted by path. defaultSoft is the
// volume's features.default-soft-limit ("" for GlusterFS's default). A
// volume with no quota.conf has no limits; a limit whose directory is gone
// (quotad answers ENOENT, or refuses the call as garbage) is left out, as
// the CLI leaves it, unless every limit is.
func (q *Quota) Limits(ctx context.Context, volume, defaultSoft string) ([]gluster.QuotaLimit, error) {
	if volume == "" || volume == "." || volume == ".." || strings.ContainsAny(volume, "/\x00") {
		return nil, fmt.Errorf("quota: invalid volume name %q", volume)
	}
	if defaultSoft == "" {
		defaultSoft = gluster.DefaultQuotaSoftLimit
	}
	data, err := os.ReadFile(filepath.Join(q.Workdir, "vols", volume, "quota.conf"))
	if errors.Is(err, os.ErrNotExist) {
		return []gluster.QuotaLimit{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("quota: %w", err)
	}
	conf, err := gluster.ParseQuotaConf(data)
	if err != nil {
		return nil, err
	}
	timeout := q.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := q.quotad()
	out := make([]gluster.QuotaLimit, 0, len(conf.Usage))
	var gone error
	for _, gfid := range conf.Usage {
		l, err := limit(ctx, client, volume, gfid, defaultSoft)
		if goneLimit(err) {
			gone = err
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	// Every limit gone is more likely a quotad that does not serve the
	// volume (not yet started, or another cluster's holding the socket):
	// the CLI fails then too, and the last limits read stay.
	if len(out) == 0 && gone != nil {
		return nil, fmt.Errorf("quota: quotad answered no limit of %s: %w", volume, gone)
	}
	gluster.SortQuotaLimits(out)
	return out, nil
}

func (q *Quota) quotad() *Client {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.client == nil {
		sock := q.Socket
		if sock == "" {
			sock = QuotadSocket
		}
		q.client = &Client{Socket: sock, prog: aggregatorProgram, vers: aggregatorVersion}
	}
	return q.client
}

// goneLimit says whether err is quotad's answer for a limit whose
// directory no longer exists: ENOENT, or (10.3) a refused reply, since
// quotad fails to encode its error answer ("Failed to encode message" in
// its log) and rejects the call as garbage. The CLI passes over such a
// limit too. Errors of the connection are not: they fail the whole read.
func goneLimit(err error) bool {
	var rpcErr *RPCError
	return errors.Is(err, syscall.ENOENT) || (errors.As(err, &rpcErr) && rpcErr.Reason == "garbage arguments")
}

// limit asks quotad for one limit, as cli_quotad_getlimit does.
func limit(ctx context.Context, client *Client, volume, gfid, defaultSoft string) (gluster.QuotaLimit, error) {
	req := Dict{"gfid": gfid, "volume-uuid": volume, "type": strconv.Itoa(quotaTypeList),
		"default-soft-limit": defaultSoft}
	var w xdrWriter
	w.opaque(encodeDict(req))
	res, err := client.call(ctx, procGetLimit, w.b)
	if err != nil {
		return gluster.QuotaLimit{}, fmt.Errorf("quotad: %w", err)
	}
	return parseGetLimit(res, gfid, defaultSoft)
}

// parseGetLimit reads quotad's GETLIMIT answer (gf_cli_rsp whose dict is
// the nameless lookup's xattrs).
func parseGetLimit(res []byte, gfid, defaultSoft string) (gluster.QuotaLimit, error) {
	rsp, err := parseCLIResponse(res)
	if err != nil {
		return gluster.QuotaLimit{}, fmt.Errorf("quotad getlimit %s: %w", gfid, err)
	}
	if rsp.OpRet != 0 {
		errno := syscall.Errno(rsp.OpErrno)
		if rsp.OpErrno <= 0 {
			return gluster.QuotaLimit{}, fmt.Errorf("quotad getlimit %s: failed", gfid)
		}
		return gluster.QuotaLimit{}, fmt.Errorf("quotad getlimit %s: %w", gfid, errno)
	}
	d, err := decodeDictValues(rsp.Dict, false, nil)
	if err != nil {
		return gluster.QuotaLimit{}, fmt.Errorf("quotad getlimit %s: %w", gfid, err)
	}
	path := strings.TrimRight(d[ancestryKey], "\x00")
	if path == "" {
		return gluster.QuotaLimit{}, malformed("quotad getlimit %s: no path", gfid)
	}
	limit, ok := d[quotaLimitKey]
	if !ok {
		return gluster.QuotaLimit{}, malformed("quotad getlimit %s: no limit on %s", gfid, path)
	}
	l, err := gluster.QuotaLimitFromXattrs(path, []byte(limit), []byte(d[quotaSizeKey]), defaultSoft)
	if err != nil {
		return gluster.QuotaLimit{}, fmt.Errorf("quotad getlimit %s: %w", gfid, err)
	}
	return l, nil
}
