package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestFindLeaksNamesEverythingAContainerStillHolds(t *testing.T) {
	cfg := config{stagingRoot: "/run/sysbox/rootfs", fuseRoot: "/var/lib/sysboxfs"}
	inv := inventory{
		leases: map[string]bool{"leased": true, "other": true},
		fsIDs:  map[string]bool{"all": true},
		mounts: map[string]bool{
			"/run/sysbox/rootfs/all":      true,
			"/var/lib/sysboxfs/fuseonly":  true,
			"/run/sysbox/rootfs/someone":  true, // not one of ours
			"/run/sysbox/rootfs/all/proc": true,
		},
		dirs: map[string]bool{"/run/sysbox/rootfs/dironly": true, "/run/sysbox/rootfs/all": true},
	}
	got := findLeaks([]string{"clean", "leased", "all", "fuseonly", "dironly"}, inv, cfg)
	want := []leak{
		{id: "all", fs: true, staging: "/run/sysbox/rootfs/all", stagingMnt: true,
			what: []string{"sysbox-fs FUSE tree /var/lib/sysboxfs/all", "rootfs staging mount /run/sysbox/rootfs/all"}},
		{id: "dironly", staging: "/run/sysbox/rootfs/dironly", what: []string{"rootfs staging dir /run/sysbox/rootfs/dironly"}},
		{id: "fuseonly", fs: true, what: []string{"sysbox-fs FUSE tree /var/lib/sysboxfs/fuseonly"}},
		{id: "leased", lease: true, what: []string{"sysbox-mgr lease"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("findLeaks:\n got %+v\nwant %+v", got, want)
	}
}

func TestMountPointsDecodesEscapedBlanks(t *testing.T) {
	mi := "36 25 0:32 / /run/a\\040b rw - tmpfs tmpfs rw\n37 25 0:33 / /plain rw - tmpfs tmpfs rw\n"
	got := mountPoints(mi)
	if !got["/run/a b"] || !got["/plain"] || len(got) != 2 {
		t.Fatalf("mountPoints = %v", got)
	}
}

func TestReadIDsDedupsAndRefusesPaths(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("a\n\nb\na\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ids, err := readIDs(good)
	if err != nil || !reflect.DeepEqual(ids, []string{"a", "b"}) {
		t.Fatalf("readIDs = %v, %v", ids, err)
	}
	for _, bad := range []string{"../etc\n", "..\n", "a/b\n"} {
		p := filepath.Join(dir, "bad")
		if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readIDs(p); err == nil {
			t.Errorf("readIDs accepted %q", bad)
		}
	}
}
