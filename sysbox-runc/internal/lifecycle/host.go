package lifecycle

import (
	"os"
	"strconv"
	"strings"

	"github.com/moby/sys/capability"
)

// KnownCaps lists every capability the running kernel knows, by OCI name
// ("CAP_CHOWN", ...): container root gets all of them inside its user
// namespace.
func KnownCaps() []string {
	last, err := capability.LastCap()
	var names []string
	for _, c := range capability.ListKnown() {
		if err != nil || c <= last {
			names = append(names, "CAP_"+strings.ToUpper(c.String()))
		}
	}
	return names
}

// callerOOMScoreAdj is the runtime's own oom_score_adj: host root here lacks
// CAP_SYS_RESOURCE, so the container's init cannot go below it.
func callerOOMScoreAdj() int {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return v
}
