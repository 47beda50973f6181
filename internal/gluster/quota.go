package gluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// QuotaLimit is one directory's usage limit of a volume, as `gluster volume
// quota VOL list` shows it. Its fields are in the order of the
// Volume.QuotaLimits property, a(sttttbb).
type QuotaLimit struct {
	Path         string
	HardLimit    uint64 // bytes
	SoftLimit    uint64 // bytes: the soft limit percent of HardLimit
	Used         uint64 // bytes
	Available    uint64 // bytes: HardLimit - Used, 0 past it
	SoftExceeded bool
	HardExceeded bool
}

// DefaultQuotaSoftLimit is features.default-soft-limit when the volume does
// not set it.
const DefaultQuotaSoftLimit = "80%"

// QuotaConf is what a volume's quota.conf (glusterd's vols/VOL/quota.conf)
// holds: the GFIDs of the directories with a usage limit, in the file's
// order. Object-count limits are left out.
type QuotaConf struct {
	Usage []string // canonical GFIDs
}

// quota.conf's headers (libglusterfs quota-common-utils.h): v1.1 lists
// 16-byte GFIDs, v1.2 each GFID followed by its limit's type byte.
const (
	quotaConfHeader11 = "GlusterFS Quota conf | version: v1.1\n"
	quotaConfHeader12 = "GlusterFS Quota conf | version: v1.2\n"
	quotaConfUsage    = 1 // GF_QUOTA_CONF_TYPE_USAGE
	quotaConfObjects  = 2 // GF_QUOTA_CONF_TYPE_OBJECTS
)

// ParseQuotaConf reads quota.conf. An empty file has no limits; a file cut
// in the middle of an entry, or with an unknown header or type, is an
// error (glusterd rewrites it through a temporary file, so a reader never
// sees half of it).
func ParseQuotaConf(data []byte) (QuotaConf, error) {
	var conf QuotaConf
	if len(data) == 0 {
		return conf, nil
	}
	entry := 0
	switch {
	case bytes.HasPrefix(data, []byte(quotaConfHeader12)):
		data, entry = data[len(quotaConfHeader12):], 17
	case bytes.HasPrefix(data, []byte(quotaConfHeader11)):
		data, entry = data[len(quotaConfHeader11):], 16
	default:
		return conf, errors.New("gluster: quota.conf has no known header")
	}
	if len(data)%entry != 0 {
		return conf, fmt.Errorf("gluster: quota.conf: %d bytes after the header are not whole entries of %d", len(data), entry)
	}
	seen := map[string]bool{}
	for ; len(data) > 0; data = data[entry:] {
		typ := byte(quotaConfUsage)
		if entry == 17 {
			typ = data[16]
		}
		switch typ {
		case quotaConfUsage:
		case quotaConfObjects:
			continue
		default:
			return QuotaConf{}, fmt.Errorf("gluster: quota.conf: unknown limit type %d", typ)
		}
		id := formatGFID(data[:16])
		if !seen[id] {
			seen[id] = true
			conf.Usage = append(conf.Usage, id)
		}
	}
	return conf, nil
}

func formatGFID(b []byte) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&15])
	}
	return string(out)
}

// ParseQuotaPercent reads a soft limit percent as glusterd stores it
// ("80%", "80", "12.5%").
func ParseQuotaPercent(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v < 0 || v > 100 {
		return 0, fmt.Errorf("gluster: %q is not a percent", s)
	}
	return v, nil
}

// QuotaLimitFromXattrs computes a limit as the CLI does
// (print_quota_list_output in cli-rpc-ops.c) from what quotad answers for
// the directory: its trusted.glusterfs.quota.limit-set (hard limit and
// soft limit percent, big-endian int64s, the percent -1 for the volume's
// default) and trusted.glusterfs.quota.size (used bytes first, then file
// and directory counts in newer releases). A directory with no size yet
// (accounting has not reached it) uses 0 bytes.
func QuotaLimitFromXattrs(path string, limitSet, size []byte, defaultSoft string) (QuotaLimit, error) {
	l := QuotaLimit{Path: path}
	if len(limitSet) < 16 {
		return l, fmt.Errorf("gluster: quota limit of %s: %d bytes, want 16", path, len(limitSet))
	}
	hard := int64(binary.BigEndian.Uint64(limitSet))
	softPercent := float64(int64(binary.BigEndian.Uint64(limitSet[8:])))
	if hard < 0 {
		return l, fmt.Errorf("gluster: quota limit of %s is negative", path)
	}
	if softPercent > 100 {
		return l, fmt.Errorf("gluster: quota soft limit of %s is %v%%", path, softPercent)
	}
	if softPercent < 0 {
		p, err := ParseQuotaPercent(defaultSoft)
		if err != nil {
			return l, err
		}
		softPercent = p
	}
	var used int64
	if len(size) >= 8 {
		used = max(int64(binary.BigEndian.Uint64(size)), 0)
	}
	l.HardLimit, l.Used = uint64(hard), uint64(used)
	soft := softPercent * float64(hard) / 100
	l.SoftLimit = uint64(soft)
	if hard > used {
		l.Available = uint64(hard - used)
		l.SoftExceeded = float64(used) > soft
	} else {
		l.SoftExceeded, l.HardExceeded = true, true
	}
	return l, nil
}

// SortQuotaLimits sorts limits by path.
func SortQuotaLimits(limits []QuotaLimit) {
	slices.SortFunc(limits, func(a, b QuotaLimit) int { return strings.Compare(a.Path, b.Path) })
}

// ParseQuotaList parses `gluster volume quota VOL list [PATH...] --xml`
// (cli_quota_xml_output in cli-xml-output.c), sorted by path. "No quota
// configured" is an empty list. Figures that are N/A or missing are 0; a
// limit the CLI could not read (an <errstr> instead of figures, 3.7) is
// left out. 3.7 writes sizes human-readable ("10.0MB") and only the soft
// limit's percent; later releases write bytes and the soft limit's value.
func ParseQuotaList(data []byte) ([]QuotaLimit, error) {
	var doc struct {
		VolQuota *struct {
			Limits []struct {
				Path         string  `xml:"path"`
				Errstr       *string `xml:"errstr"`
				HardLimit    string  `xml:"hard_limit"`
				SoftPercent  string  `xml:"soft_limit_percent"`
				SoftOld      string  `xml:"soft_limit"`
				SoftValue    string  `xml:"soft_limit_value"`
				Used         string  `xml:"used_space"`
				UsedOld      string  `xml:"user_space"`
				Available    string  `xml:"avail_space"`
				SoftExceeded string  `xml:"sl_exceeded"`
				HardExceeded string  `xml:"hl_exceeded"`
			} `xml:"limit"`
		} `xml:"volQuota"`
	}
	if err := decode(data, &doc); err != nil {
		if cerr := (*CLIError)(nil); errors.As(err, &cerr) && strings.Contains(cerr.Message, "No quota configured") {
			return []QuotaLimit{}, nil
		}
		return nil, err
	}
	if doc.VolQuota == nil {
		return nil, errors.New("gluster: quota list output has no <volQuota>")
	}
	out := make([]QuotaLimit, 0, len(doc.VolQuota.Limits))
	for _, x := range doc.VolQuota.Limits {
		path := text(x.Path)
		if path == "" {
			return nil, errors.New("gluster: quota list output has a limit without a path")
		}
		if x.Errstr != nil {
			continue
		}
		used := x.Used
		if text(used) == "" {
			used = x.UsedOld
		}
		l := QuotaLimit{Path: path, HardLimit: quotaSize(x.HardLimit), SoftLimit: quotaSize(x.SoftValue),
			Used: quotaSize(used), Available: quotaSize(x.Available),
			SoftExceeded: text(x.SoftExceeded) == "Yes", HardExceeded: text(x.HardExceeded) == "Yes"}
		if text(x.SoftValue) == "" {
			percent := x.SoftPercent
			if text(percent) == "" {
				percent = x.SoftOld
			}
			if p, err := ParseQuotaPercent(percent); err == nil {
				l.SoftLimit = uint64(p * float64(l.HardLimit) / 100)
			}
		}
		out = append(out, l)
	}
	SortQuotaLimits(out)
	return out, nil
}

// quotaSizeUnits are gf_uint64_2human_readable's suffixes.
var quotaSizeUnits = []struct {
	suffix string
	factor float64
}{{"PB", 1 << 50}, {"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"Bytes", 1}}

// quotaSize reads a size in bytes, or human-readable as 3.7 writes it
// (rounded to a tenth of its unit there); anything else is 0.
func quotaSize(s string) uint64 {
	s = text(s)
	for _, u := range quotaSizeUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || v < 0 || v*u.factor >= 1<<63 {
				return 0
			}
			return uint64(v * u.factor)
		}
	}
	return atou64(s)
}
