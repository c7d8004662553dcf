package rootfs

import (
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseOverlayOptions(t *testing.T) {
	for _, tc := range []struct {
		name, opts string
		merged     string
		want       overlayConfig
	}{
		{
			name:   "docker absolute short links",
			opts:   "rw,lowerdir=/var/lib/docker/overlay2/l/AB:/var/lib/docker/overlay2/l/CD,upperdir=/var/lib/docker/overlay2/x/diff,workdir=/var/lib/docker/overlay2/x/work,index=off",
			merged: "/var/lib/docker/overlay2/x/merged",
			want: overlayConfig{
				Lowers:   []string{"/var/lib/docker/overlay2/l/AB", "/var/lib/docker/overlay2/l/CD"},
				Upper:    "/var/lib/docker/overlay2/x/diff",
				Work:     "/var/lib/docker/overlay2/x/work",
				Original: "lowerdir=/var/lib/docker/overlay2/l/AB:/var/lib/docker/overlay2/l/CD,upperdir=/var/lib/docker/overlay2/x/diff,workdir=/var/lib/docker/overlay2/x/work,index=off",
				Base:     "/var/lib/docker/overlay2",
			},
		},
		{
			name:   "docker relative paths resolved against the overlay2 root",
			opts:   "rw,lowerdir=l/AB:l/CD,upperdir=x/diff,workdir=x/work,uuid=on",
			merged: "/data/docker/overlay2/x/merged",
			want: overlayConfig{
				Lowers:   []string{"/data/docker/overlay2/l/AB", "/data/docker/overlay2/l/CD"},
				Upper:    "/data/docker/overlay2/x/diff",
				Work:     "/data/docker/overlay2/x/work",
				Extra:    []string{"uuid=on"},
				Original: "lowerdir=l/AB:l/CD,upperdir=x/diff,workdir=x/work,uuid=on",
				Base:     "/data/docker/overlay2",
			},
		},
		{
			name:   "relative lowers with absolute upper use the upper's grandparent",
			opts:   "rw,lowerdir=l/AB,upperdir=/root2/x/diff,workdir=/root2/x/work",
			merged: "/elsewhere/m",
			want: overlayConfig{
				Lowers:   []string{"/root2/l/AB"},
				Upper:    "/root2/x/diff",
				Work:     "/root2/x/work",
				Original: "lowerdir=l/AB,upperdir=/root2/x/diff,workdir=/root2/x/work",
				Base:     "/root2",
			},
		},
		{
			name:   "mountinfo octal escapes and overlay backslash escapes",
			opts:   `rw,lowerdir=/a\040b:/c\134:d:/e\134\054f,upperdir=/u\040x/diff,workdir=/u\040x/work,redirect_dir=on,metacopy=on,nfs_export=on`,
			merged: "/m/merged",
			want: overlayConfig{
				Lowers:   []string{"/a b", "/c:d", "/e,f"},
				Upper:    "/u x/diff",
				Work:     "/u x/work",
				Extra:    []string{"redirect_dir=on", "metacopy=on"},
				Original: `lowerdir=/a b:/c\:d:/e\,f,upperdir=/u x/diff,workdir=/u x/work,redirect_dir=on,metacopy=on,nfs_export=on`,
				Base:     "/",
			},
		},
		{
			name:   "lowerdir+ and datadir+ as newer kernels show them",
			opts:   `ro,lowerdir+=/l\0401,lowerdir+=/l:2,datadir+=/d1,userxattr`,
			merged: "/m/merged",
			want: overlayConfig{
				Lowers:   []string{"/l 1", "/l:2"},
				Datas:    []string{"/d1"},
				Extra:    []string{"userxattr"},
				Original: "lowerdir+=/l 1,lowerdir+=/l:2,datadir+=/d1,userxattr",
				ReadOnly: true,
				Base:     "/",
			},
		},
		{
			name:   "legacy data-only layers after ::",
			opts:   "rw,lowerdir=/l1:/l2::/d1::/d2",
			merged: "/m/merged",
			want: overlayConfig{
				Lowers:   []string{"/l1", "/l2"},
				Datas:    []string{"/d1", "/d2"},
				Original: "lowerdir=/l1:/l2::/d1::/d2",
				Base:     "/",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOverlayOptions(tc.opts)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got.resolve(tc.merged)
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func TestParseOverlayOptionsRejectsIncompleteOverlays(t *testing.T) {
	for _, opts := range []string{
		"rw,upperdir=/u,workdir=/w",
		"rw,lowerdir=/l,upperdir=/u",
		"rw,lowerdir=:/l",
		"rw,lowerdir=/l:",
		// Found by FuzzParseOverlayOptions: an empty layer of the new mount API's form.
		"rw,lowerdir+=",
		"rw,lowerdir+=/l,datadir+=",
	} {
		if _, err := parseOverlayOptions(opts); err == nil {
			t.Errorf("parseOverlayOptions(%q) succeeded", opts)
		}
	}
}

func TestEscapeLayerRoundTripsThroughLegacySplit(t *testing.T) {
	for _, p := range []string{"/plain", "/with:colon", `/with\backslash`, "/with,comma"} {
		lowers, _, err := splitLegacyLowerdir(escapeLayer(p) + ":" + escapeLayer(p))
		if err != nil || len(lowers) != 2 || lowers[0] != p || lowers[1] != p {
			t.Errorf("%q: got %q, %v", p, lowers, err)
		}
	}
}

func TestMountFlagsFromMountinfoOptions(t *testing.T) {
	got := mountFlags("ro,nosuid,nodev,noexec,relatime")
	want := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME)
	if got != want {
		t.Errorf("mountFlags = %#x, want %#x", got, want)
	}
	if got := mountFlags("rw,relatime"); got != unix.MS_RELATIME {
		t.Errorf("mountFlags(rw,relatime) = %#x", got)
	}
}
