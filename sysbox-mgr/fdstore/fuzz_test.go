package fdstore

import (
	"errors"
	"strings"
	"testing"
)

// FuzzCheckKey fuzzes the id and tag of KeepFd and DropFd requests. Properties: no panic;
// a refusal wraps ErrInvalidArgument; an accepted key has a non-empty id and tag of at
// most maxKey bytes each.
func FuzzCheckKey(f *testing.F) {
	f.Add("0123456789abcdef", "seccomp")
	f.Add("", "seccomp")
	f.Add("id", "")
	f.Add(strings.Repeat("i", maxKey), strings.Repeat("t", maxKey+1))
	f.Fuzz(func(t *testing.T, id, tag string) {
		err := checkKey(id, tag)
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("checkKey(%q, %q) = %v, want ErrInvalidArgument", id, tag, err)
			}
			return
		}
		if id == "" || tag == "" || len(id) > maxKey || len(tag) > maxKey {
			t.Fatalf("checkKey accepted id %q tag %q", id, tag)
		}
	})
}
