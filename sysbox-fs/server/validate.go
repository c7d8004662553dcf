package server

import (
	"errors"
	"strings"
)

// maxIDLen keeps <mount-root>/<id> a single valid path component.
const maxIDLen = 255

var errBadID = errors.New("invalid container id")

// validateID accepts ids that name exactly one directory under the mount
// root: not empty, no '/', no "..", no NUL, at most 255 bytes.
func validateID(id string) error {
	switch {
	case id == "", id == ".":
		return errBadID
	case len(id) > maxIDLen:
		return errBadID
	case strings.ContainsAny(id, "/\x00"), strings.Contains(id, ".."):
		return errBadID
	}
	return nil
}
