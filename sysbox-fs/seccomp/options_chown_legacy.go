//go:build amd64 || ppc64le || s390x

package seccomp

import "golang.org/x/sys/unix"

// legacyChownOf names chown(2) and lchown(2), which this architecture has
// besides fchownat(2).
func legacyChownOf(nr int32) optCall {
	switch nr {
	case unix.SYS_CHOWN:
		return optChown
	case unix.SYS_LCHOWN:
		return optLchown
	}
	return optOther
}

// chownNr and lchownNr are the numbers of chown(2) and lchown(2).
const (
	chownNr  = unix.SYS_CHOWN
	lchownNr = unix.SYS_LCHOWN
)
