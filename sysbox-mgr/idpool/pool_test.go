package idpool

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSubidFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    Range
		wantErr string
	}{
		{name: "entry among others", content: "alice:100000:65536\nsysbox:165536:268435456\n", want: Range{165536, 268435456}},
		{name: "first entry of the user wins", content: "sysbox:200000:65536\nsysbox:900000:65536\n", want: Range{200000, 65536}},
		{name: "comments and blank lines skipped", content: "# x\n\nsysbox:165536:131072\n", want: Range{165536, 131072}},
		{name: "malformed line of another user ignored", content: "bob:x:y\nsysbox:165536:65536\n", want: Range{165536, 65536}},
		{name: "missing entry", content: "alice:100000:65536\n", wantErr: "no subordinate id entry"},
		{name: "non-numeric start", content: "sysbox:abc:65536\n", wantErr: "line 1"},
		{name: "too few fields", content: "sysbox:165536\n", wantErr: "want NAME:START:COUNT"},
		{name: "too many fields", content: "sysbox:1:2:3\n", wantErr: "want NAME:START:COUNT"},
		{name: "count below one block", content: "sysbox:165536:1000\n", wantErr: "smaller than one container block"},
		{name: "starts at host root", content: "sysbox:0:65536\n", wantErr: "host root"},
		{name: "past the id space", content: "sysbox:4294901760:65536\n", wantErr: "past the largest id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "subuid")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadSubidFile(path, "sysbox")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("got %v, %v; want an error naming %s and containing %q", got, err, path, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestReadSubidFileMissingFileIsAnErrorNamingIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope")
	_, err := ReadSubidFile(path, "sysbox")
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v", err)
	}
}

func TestAllocSameIDGetsSameBlockAndFreeAllowsReuse(t *testing.T) {
	p := New(Range{100000, 4 * BlockSize}, Range{500000, 4 * BlockSize})
	a, fresh, err := p.Alloc("a", BlockSize)
	if err != nil || !fresh || a != (Block{100000, 500000, BlockSize}) {
		t.Fatalf("first alloc: %+v fresh=%v err=%v", a, fresh, err)
	}
	again, fresh, err := p.Alloc("a", BlockSize)
	if err != nil || fresh || again != a {
		t.Fatalf("second alloc of the same id: %+v fresh=%v err=%v, want %+v not fresh", again, fresh, err, a)
	}
	b, _, err := p.Alloc("b", BlockSize)
	if err != nil || b.UID != a.UID+BlockSize || b.GID != a.GID+BlockSize {
		t.Fatalf("b: %+v %v", b, err)
	}
	if !p.Free("a") || p.Free("a") {
		t.Fatal("Free should report true once, then false")
	}
	c, fresh, err := p.Alloc("c", BlockSize)
	if err != nil || !fresh || c != a {
		t.Fatalf("freed block not reused first: %+v %v", c, err)
	}
}

func TestAllocRejectsBadSizes(t *testing.T) {
	p := New(Range{100000, 2 * BlockSize}, Range{100000, 2 * BlockSize})
	for _, size := range []uint32{0, 1, BlockSize - 1, BlockSize + 1, 3 * BlockSize, 1 << 31} {
		if _, _, err := p.Alloc("x", size); !errors.Is(err, ErrInvalidSize) {
			t.Errorf("size %d: got %v, want ErrInvalidSize", size, err)
		}
	}
	if _, _, err := p.Alloc("big", 2*BlockSize); err != nil {
		t.Fatalf("a multiple of the block size that fits: %v", err)
	}
	if _, _, err := p.Alloc("big", BlockSize); !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("same id, other size: got %v, want ErrSizeMismatch", err)
	}
}

func TestAllocExhaustion(t *testing.T) {
	p := New(Range{100000, 3 * BlockSize}, Range{100000, 3 * BlockSize})
	for i := range 3 {
		if _, _, err := p.Alloc(fmt.Sprint(i), BlockSize); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := p.Alloc("x", BlockSize)
	if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "no free uid range") || !strings.Contains(err.Error(), "no free uid range (3 in use;") {
		t.Fatalf("got %v", err)
	}
	p.Free("1")
	b, _, err := p.Alloc("x", BlockSize)
	if err != nil || b.UID != 100000+BlockSize {
		t.Fatalf("hole not reused: %+v %v", b, err)
	}
}

func TestAllocDoubleBlockSkipsHoleTooSmall(t *testing.T) {
	p := New(Range{100000, 4 * BlockSize}, Range{100000, 4 * BlockSize})
	for _, id := range []string{"a", "b", "c"} {
		if _, _, err := p.Alloc(id, BlockSize); err != nil {
			t.Fatal(err)
		}
	}
	p.Free("b") // one-block hole at offset 1
	if _, _, err := p.Alloc("big", 2*BlockSize); !errors.Is(err, ErrExhausted) {
		t.Fatalf("2-block lease in a 1-block hole + 1-block tail: got %v", err)
	}
	p.Free("c")
	b, _, err := p.Alloc("big", 2*BlockSize)
	if err != nil || b.UID != 100000+BlockSize {
		t.Fatalf("got %+v %v, want offset 1 block", b, err)
	}
}

func TestAllocRespectsLoadedLeasesWithUnequalOffsets(t *testing.T) {
	// A loaded uid block at offset 0 whose gid block sits at offset 1:
	// a new block must avoid both offsets 0 and 1.
	p := New(Range{100000, 4 * BlockSize}, Range{700000, 4 * BlockSize})
	if err := p.Add("old", Block{UID: 100000, GID: 700000 + BlockSize, Size: BlockSize}); err != nil {
		t.Fatal(err)
	}
	b, _, err := p.Alloc("new", BlockSize)
	if err != nil || b.UID != 100000+2*BlockSize || b.GID != 700000+2*BlockSize {
		t.Fatalf("got %+v %v", b, err)
	}
}

func TestAddRefusesConflicts(t *testing.T) {
	pool := func() *Pool {
		p := New(Range{100000, 4 * BlockSize}, Range{100000, 4 * BlockSize})
		if err := p.Add("a", Block{100000, 100000, BlockSize}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		id   string
		b    Block
	}{
		{"overlapping uids", "b", Block{100000 + 100, 100000 + BlockSize, BlockSize}},
		{"overlapping gids", "b", Block{100000 + BlockSize, 100000 + 5, BlockSize}},
		{"below the pool", "b", Block{1000, 100000 + BlockSize, BlockSize}},
		{"past the pool end", "b", Block{100000 + 3*BlockSize + 1, 100000 + BlockSize, BlockSize}},
		{"empty block", "b", Block{100000 + BlockSize, 100000 + BlockSize, 0}},
		{"same id twice", "a", Block{100000 + BlockSize, 100000 + BlockSize, BlockSize}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := pool().Add(tt.id, tt.b); !errors.Is(err, ErrConflict) {
				t.Fatalf("got %v, want ErrConflict", err)
			}
		})
	}
	if err := pool().Add("b", Block{100000 + BlockSize, 100000 + BlockSize, BlockSize}); err != nil {
		t.Fatalf("adjacent block refused: %v", err)
	}
}

func TestAllocManyBlocksAreDisjoint(t *testing.T) {
	const n = 500
	p := New(Range{165536, n * BlockSize}, Range{165536, n * BlockSize})
	seen := map[uint32]bool{}
	for i := range n {
		b, _, err := p.Alloc(fmt.Sprint(i), BlockSize)
		if err != nil {
			t.Fatal(err)
		}
		if b.UID%BlockSize != 165536%BlockSize || seen[b.UID] {
			t.Fatalf("block %d: %+v misaligned or reused", i, b)
		}
		seen[b.UID] = true
	}
}

// The sorted-range bookkeeping must pick exactly what a brute-force scan
// for the lowest free block picks, through any mix of allocs and frees.
func TestAllocMatchesBruteForceLowestFreeBlock(t *testing.T) {
	const blocks = 64
	p := New(Range{Start: 100000, Size: blocks * BlockSize}, Range{Start: 700000, Size: blocks * BlockSize})
	used := map[uint32]string{} // block index -> id
	rnd := rand.New(rand.NewPCG(1, 2))
	for step := range 5000 {
		if len(used) > 0 && rnd.IntN(3) == 0 {
			for idx, id := range used {
				p.Free(id)
				delete(used, idx)
				break
			}
			continue
		}
		want := -1
		for i := range uint32(blocks) {
			if _, ok := used[i]; !ok {
				want = int(i)
				break
			}
		}
		id := fmt.Sprintf("s%d", step)
		b, _, err := p.Alloc(id, BlockSize)
		if want < 0 {
			if !errors.Is(err, ErrExhausted) {
				t.Fatalf("step %d: full pool gave %+v, %v", step, b, err)
			}
			continue
		}
		if err != nil || b.UID != 100000+uint32(want)*BlockSize || b.GID != 700000+uint32(want)*BlockSize {
			t.Fatalf("step %d: got %+v %v, want block %d", step, b, err, want)
		}
		used[uint32(want)] = id
	}
}
