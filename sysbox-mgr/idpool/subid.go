// Package idpool hands out exclusive blocks of host uids and gids to system
// containers. The ids come from one subordinate-id entry (/etc/subuid and
// /etc/subgid); each container id holds at most one block.
package idpool

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// BlockSize is the width of one container's id block: a full 16-bit id
// space, so every id an image may use maps to a host id of its own.
const BlockSize = 65536

// maxID bounds host ids: uid_t is 32 bits and (uid_t)-1 is never valid.
const maxID = 1<<32 - 1

// Range is a span of host ids [Start, Start+Size).
type Range struct {
	Start uint32
	Size  uint32
}

// End is one past the last id of r (it may be 2^32).
func (r Range) End() uint64 { return uint64(r.Start) + uint64(r.Size) }

// String formats r as "start-last".
func (r Range) String() string {
	if r.Size == 0 {
		return fmt.Sprintf("%d-(empty)", r.Start)
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End()-1)
}

// ErrNoEntry is wrapped when the subid file has no entry for the user.
var ErrNoEntry = errors.New("no subordinate id entry")

// ReadSubidFile returns the first range that file (in /etc/subuid format:
// "name:start:count" per line) gives to user. A missing file, a missing
// entry or a malformed entry for that user is an error naming the file.
// Lines of other users are not checked: they are not ours to judge.
func ReadSubidFile(path, user string) (Range, error) {
	f, err := os.Open(path)
	if err != nil {
		return Range{}, fmt.Errorf("read subordinate ids for %q: %w", user, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, ":")
		if name != user {
			continue
		}
		r, err := parseEntry(rest)
		if err != nil {
			return Range{}, fmt.Errorf("%s line %d (%q): %w", path, lineNo, line, err)
		}
		return r, nil
	}
	if err := sc.Err(); err != nil {
		return Range{}, fmt.Errorf("read %s: %w", path, err)
	}
	return Range{}, fmt.Errorf("%s: %w for user %q (want a line %q)", path, ErrNoEntry, user, user+":START:COUNT")
}

func parseEntry(s string) (Range, error) {
	startStr, countStr, ok := strings.Cut(s, ":")
	if !ok || strings.Contains(countStr, ":") {
		return Range{}, errors.New("want NAME:START:COUNT")
	}
	start, err := strconv.ParseUint(startStr, 10, 32)
	if err != nil {
		return Range{}, fmt.Errorf("start: %w", err)
	}
	count, err := strconv.ParseUint(countStr, 10, 32)
	if err != nil {
		return Range{}, fmt.Errorf("count: %w", err)
	}
	switch {
	case start == 0:
		// Container root would be host root.
		return Range{}, errors.New("range starts at id 0 (host root)")
	case count < BlockSize:
		return Range{}, fmt.Errorf("count %d is smaller than one container block (%d)", count, BlockSize)
	case start+count > maxID:
		return Range{}, fmt.Errorf("range %d+%d goes past the largest id %d", start, count, uint64(maxID)-1)
	}
	return Range{Start: uint32(start), Size: uint32(count)}, nil
}
