//go:build !(amd64 || ppc64le || s390x)

package seccomp

// legacyChownOf: this architecture has only fchownat(2) (chown and lchown
// are library calls over it).
func legacyChownOf(int32) optCall { return optOther }

// chownNr and lchownNr: -1, no such calls here.
const (
	chownNr  = -1
	lchownNr = -1
)
