package rootfs

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// mountinfoEscape encodes s as the kernel writes an option in /proc/self/mountinfo
// (seq_show_option): space, tab, newline, backslash, comma and '=' as \NNN octal.
func mountinfoEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\', ',', '=':
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// FuzzParseOverlayOptions fuzzes the super options of the container's rootfs overlay as
// read from mountinfo. Properties: no panic; an accepted overlay names at least one lower
// layer, no empty layer path, both or neither of upperdir and workdir, and carries no
// layer, index or nfs_export option over in Extra; ro is read from the first field only.
func FuzzParseOverlayOptions(f *testing.F) {
	for _, s := range []string{
		"rw,lowerdir=/a:/b,upperdir=/u,workdir=/w",
		"ro,lowerdir=l/ABC:l/DEF::l/data,index=off,redirect_dir=on,userxattr",
		"rw,lowerdir+=/a,lowerdir+=/b,datadir+=/d,upperdir=/u\\054x,workdir=/w",
		`rw,lowerdir=/with\134\072colon:/b,upperdir=/u,workdir=/w`,
		`rw,lowerdir=/bad\777`,
		"rw,lowerdir+=",
		"lowerdir=/a,ro",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, opts string) {
		cfg, err := parseOverlayOptions(opts)
		if err != nil {
			if cfg != nil {
				t.Fatalf("parseOverlayOptions(%q) returned a config with error %v", opts, err)
			}
			return
		}
		if len(cfg.Lowers) == 0 {
			t.Fatalf("parseOverlayOptions(%q) accepted an overlay without a lower layer", opts)
		}
		for _, l := range slices.Concat(cfg.Lowers, cfg.Datas) {
			if l == "" {
				t.Fatalf("parseOverlayOptions(%q) accepted an empty layer: lowers %q datas %q", opts, cfg.Lowers, cfg.Datas)
			}
		}
		if (cfg.Upper == "") != (cfg.Work == "") {
			t.Fatalf("parseOverlayOptions(%q): upper %q work %q", opts, cfg.Upper, cfg.Work)
		}
		for _, e := range cfg.Extra {
			key, _, _ := strings.Cut(e, "=")
			switch key {
			case "lowerdir", "lowerdir+", "datadir+", "upperdir", "workdir", "index", "nfs_export":
				t.Fatalf("parseOverlayOptions(%q) carries %q over in Extra", opts, e)
			}
		}
		first, _, _ := strings.Cut(opts, ",")
		if cfg.ReadOnly != (first == "ro") {
			t.Fatalf("parseOverlayOptions(%q): read-only %v", opts, cfg.ReadOnly)
		}
	})
}

// FuzzLegacyLowerdir fuzzes layer paths through escapeLayer (what the replacement mount
// writes) and splitLegacyLowerdir (what reads a lowerdir= option). Properties: no panic on
// any text; non-empty paths, escaped and joined with ":" (lowers) and "::" (data layers),
// split back to exactly themselves; no part split out is ever empty.
func FuzzLegacyLowerdir(f *testing.F) {
	f.Add("/plain", "/with:colon", `/with\backslash`)
	f.Add("/with,comma", `trailing\`, "a::b")
	f.Add(`\:`, ":", `\\`)
	f.Fuzz(func(t *testing.T, a, b, d string) {
		for _, s := range []string{a, b, d} {
			lowers, datas, err := splitLegacyLowerdir(s)
			if err != nil {
				continue
			}
			for _, p := range slices.Concat(lowers, datas) {
				if p == "" {
					t.Fatalf("splitLegacyLowerdir(%q) = %q, %q: an empty layer", s, lowers, datas)
				}
			}
		}
		if a == "" || b == "" || d == "" {
			return
		}
		s := escapeLayer(a) + ":" + escapeLayer(b) + "::" + escapeLayer(d)
		lowers, datas, err := splitLegacyLowerdir(s)
		if err != nil || !slices.Equal(lowers, []string{a, b}) || !slices.Equal(datas, []string{d}) {
			t.Fatalf("splitLegacyLowerdir(%q) = %q, %q, %v; want [%q %q], [%q]", s, lowers, datas, err, a, b, d)
		}
	})
}

// FuzzUnescapeOctal fuzzes mountinfo's octal escapes. Properties: no panic on any text;
// text the kernel's way of escaping produced decodes back to the original.
func FuzzUnescapeOctal(f *testing.F) {
	for _, s := range []string{`/a\040b`, `\134`, `\777`, `\08`, `trailing\`, `\12`, "/x,y=z w\t\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = unescapeOctal(s)
		enc := mountinfoEscape(s)
		got, err := unescapeOctal(enc)
		if err != nil || got != s {
			t.Fatalf("unescapeOctal(%q) = %q, %v; want %q", enc, got, err, s)
		}
	})
}
