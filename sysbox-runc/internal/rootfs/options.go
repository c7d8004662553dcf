package rootfs

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// overlayConfig is an overlay mount as /proc/self/mountinfo describes it.
type overlayConfig struct {
	// Lowers are the lower layers, uppermost first; Datas the data-only
	// lower layers (legacy "lowerdir=a:b::d" or "datadir+=d").
	Lowers []string
	Datas  []string
	// Upper and Work are empty for a read-only overlay.
	Upper, Work string
	// Extra holds the other super options ("redirect_dir=on",
	// "userxattr", ...) to carry over to a replacement mount. Options that
	// name layers, "index" and "nfs_export" are left out: the replacement
	// always runs with index=off.
	Extra []string
	// Original is the option string as the mount was made (mountinfo's
	// octal escapes decoded, overlay's own backslash escapes kept), without
	// the leading rw/ro: enough to make the same mount again.
	Original string
	// ReadOnly is the super block's ro flag.
	ReadOnly bool
	// Base is the directory relative layer paths were resolved against
	// (the overlay2 root for Docker), set by resolve.
	Base string
}

// parseOverlayOptions parses the super options field of an overlay mount in
// /proc/self/mountinfo (e.g. "rw,lowerdir=/a:/b,upperdir=/u,workdir=/w").
func parseOverlayOptions(superOpts string) (*overlayConfig, error) {
	cfg := &overlayConfig{}
	var orig []string
	for i, raw := range strings.Split(superOpts, ",") {
		opt, err := unescapeOctal(raw)
		if err != nil {
			return nil, fmt.Errorf("overlay option %q: %w", raw, err)
		}
		if i == 0 && (opt == "rw" || opt == "ro") {
			cfg.ReadOnly = opt == "ro"
			continue
		}
		orig = append(orig, opt)
		key, value, _ := strings.Cut(opt, "=")
		switch key {
		case "lowerdir":
			lowers, datas, err := splitLegacyLowerdir(value)
			if err != nil {
				return nil, err
			}
			cfg.Lowers = append(cfg.Lowers, lowers...)
			cfg.Datas = append(cfg.Datas, datas...)
		case "lowerdir+", "datadir+":
			if value == "" {
				return nil, fmt.Errorf("overlay option %q: empty layer", opt)
			}
			if key == "lowerdir+" {
				cfg.Lowers = append(cfg.Lowers, value)
			} else {
				cfg.Datas = append(cfg.Datas, value)
			}
		case "upperdir":
			cfg.Upper = unescapeBackslash(value)
		case "workdir":
			cfg.Work = unescapeBackslash(value)
		case "index", "nfs_export":
		default:
			cfg.Extra = append(cfg.Extra, opt)
		}
	}
	cfg.Original = strings.Join(orig, ",")
	if len(cfg.Lowers) == 0 {
		return nil, errors.New("overlay options name no lower layer")
	}
	if (cfg.Upper == "") != (cfg.Work == "") {
		return nil, errors.New("overlay options have only one of upperdir and workdir")
	}
	return cfg, nil
}

// resolve makes relative layer paths absolute. Docker mounts from its
// overlay2 root with relative "l/<short id>" lowers (and "<id>/diff",
// "<id>/work") when the absolute option string would not fit a page.
// Relative paths are resolved against the parent of the upper layer dir
// (the overlay2 root) when the upper is absolute, otherwise against the
// grandparent of the merged dir (<root>/<id>/merged).
func (c *overlayConfig) resolve(merged string) {
	base := filepath.Dir(filepath.Dir(merged))
	if filepath.IsAbs(c.Upper) {
		base = filepath.Dir(filepath.Dir(c.Upper))
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	c.Base = base
	for i := range c.Lowers {
		c.Lowers[i] = abs(c.Lowers[i])
	}
	for i := range c.Datas {
		c.Datas[i] = abs(c.Datas[i])
	}
	c.Upper, c.Work = abs(c.Upper), abs(c.Work)
}

// splitLegacyLowerdir splits "a:b::d1::d2" into lowers [a b] and data
// layers [d1 d2]. A backslash escapes the next character (":" in a path
// is written "\:").
func splitLegacyLowerdir(s string) (lowers, datas []string, err error) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == ':':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	data := false
	for i, p := range parts {
		if p == "" {
			// "::" starts (and separates) data-only layers.
			if i == 0 || i == len(parts)-1 {
				return nil, nil, fmt.Errorf("lowerdir %q: empty layer", s)
			}
			data = true
			continue
		}
		if data {
			datas = append(datas, p)
		} else {
			lowers = append(lowers, p)
		}
	}
	return lowers, datas, nil
}

// unescapeBackslash drops each backslash, keeping the character it escapes.
func unescapeBackslash(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unescapeOctal decodes the \NNN escapes mountinfo uses for space, tab,
// newline, backslash, comma and other special characters.
func unescapeOctal(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			n, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
			if err != nil {
				return "", err
			}
			b.WriteByte(byte(n))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}

// escapeLayer escapes a path for overlay's comma- and colon-separated
// option syntax.
func escapeLayer(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`)
	return r.Replace(p)
}

// mountFlags converts mountinfo per-mount options to mount(2) flags.
func mountFlags(opts string) uintptr {
	var flags uintptr
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "ro":
			flags |= unix.MS_RDONLY
		case "nosuid":
			flags |= unix.MS_NOSUID
		case "nodev":
			flags |= unix.MS_NODEV
		case "noexec":
			flags |= unix.MS_NOEXEC
		case "noatime":
			flags |= unix.MS_NOATIME
		case "nodiratime":
			flags |= unix.MS_NODIRATIME
		case "relatime":
			flags |= unix.MS_RELATIME
		case "strictatime":
			flags |= unix.MS_STRICTATIME
		case "sync":
			flags |= unix.MS_SYNCHRONOUS
		case "dirsync":
			flags |= unix.MS_DIRSYNC
		case "lazytime":
			flags |= unix.MS_LAZYTIME
		}
	}
	return flags
}
